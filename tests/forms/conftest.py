"""Shared fixtures for the forms tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from testimony.forms.schema import FormDefinition, load_form

from .cases import FORMS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def case_forms() -> dict[str, FormDefinition]:
    return {name: load_form(definition) for name, definition in FORMS.items()}
