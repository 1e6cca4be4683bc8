"""``GET /api/v1/forms``, ``/forms/{id}``, ``/forms/{id}/{version}`` (docs/protocol.md §5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from testimony.forms.schema import FORM_ID_PATTERN
from testimony.service.domain.forms import FormsCatalogue

from .openapi import FORMS_LINKS, problems
from .schemas import Form, FormSummary

router = APIRouter(prefix="/api/v1/forms", tags=["forms"])


def get_forms(request: Request) -> FormsCatalogue:
    """The catalogue this application was created with."""
    forms: FormsCatalogue = request.app.state.forms
    return forms


FormsDep = Annotated[FormsCatalogue, Depends(get_forms)]
# Schema only: any other id is `404 form-not-found`, not a validation error.
FormId = Annotated[
    str,
    Path(
        description="a form id",
        json_schema_extra={"pattern": FORM_ID_PATTERN, "maxLength": 64},
    ),
]
Version = Annotated[
    int, Path(description="a version of the form", json_schema_extra={"minimum": 1})
]


@router.get(
    "",
    response_model=list[FormSummary],
    responses={200: {"description": "the forms", "links": FORMS_LINKS}, **problems()},
)
def list_forms(forms: FormsDep) -> list[dict[str, Any]]:
    """The latest version of every published form."""
    return forms.summaries()


@router.get("/{form_id}", response_model=Form, responses=problems("form-not-found"))
def latest_form(form_id: FormId, forms: FormsDep) -> dict[str, Any]:
    """The latest version of a form, with the intake key to seal its answers to."""
    return forms.latest(form_id)


@router.get(
    "/{form_id}/{version}",
    response_model=Form,
    responses=problems("invalid-request", "form-not-found"),
)
def form_version(form_id: FormId, version: Version, forms: FormsDep) -> dict[str, Any]:
    """A given version of a form, with the intake key to seal its answers to."""
    return forms.version(form_id, version)
