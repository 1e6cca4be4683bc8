"""Fixtures of the domain tests (shared with the API tests)."""

from __future__ import annotations

from tests.service.intake_support import (  # noqa: F401 - fixtures
    clock,
    database_url,
    initialised,
    intake_public,
    settings,
    vector,
)
