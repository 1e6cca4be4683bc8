"""Fixtures of the wiring tests (testimony.service.server), shared with the domain tests."""

from __future__ import annotations

from tests.service.intake_support import (  # noqa: F401 - fixtures
    clock,
    database_url,
    initialised,
    intake_public,
    settings,
    vector,
)
