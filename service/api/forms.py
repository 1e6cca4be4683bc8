"""``GET /api/v1/forms``, ``/forms/{id}``, ``/forms/{id}/{version}`` (docs/protocol.md §5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from testimony.service.domain.forms import FormsCatalogue

from .schemas import Form, FormSummary, Problem

router = APIRouter(prefix="/api/v1/forms", tags=["forms"])


def get_forms(request: Request) -> FormsCatalogue:
    """The catalogue this application was created with."""
    forms: FormsCatalogue = request.app.state.forms
    return forms


FormsDep = Annotated[FormsCatalogue, Depends(get_forms)]


@router.get("", response_model=list[FormSummary])
def list_forms(forms: FormsDep) -> list[dict[str, Any]]:
    """The latest version of every published form."""
    return forms.summaries()


@router.get("/{form_id}", response_model=Form, responses={404: {"model": Problem}})
def latest_form(form_id: str, forms: FormsDep) -> dict[str, Any]:
    """The latest version of a form, with the intake key to seal its answers to."""
    return forms.latest(form_id)


@router.get("/{form_id}/{version}", response_model=Form, responses={404: {"model": Problem}})
def form_version(form_id: str, version: int, forms: FormsDep) -> dict[str, Any]:
    """A given version of a form, with the intake key to seal its answers to."""
    return forms.version(form_id, version)
