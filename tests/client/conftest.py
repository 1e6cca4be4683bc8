"""Fixtures of the client's tests: the courier's live server (proof of work on)."""

from __future__ import annotations

from tests.service.courier.support import live  # noqa: F401 - a fixture
