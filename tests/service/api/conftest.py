"""Fixtures of the API tests: an initialised data dir and a TestClient on it."""

from __future__ import annotations

from tests.service.intake_support import (  # noqa: F401 - fixtures
    client,
    clock,
    database_url,
    initialised,
    intake_public,
    settings,
    vector,
)
