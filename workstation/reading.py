"""A testimony as a reviewer reads it, shared by ``review show`` and the web UI:
the form's labels in the reviewer's language beside the witness's answers in
the witness's own, the files by number, the consent, and what the witness
said of when and where (for the queue, the timeline and the map).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from testimony.forms import FormError, bundled_forms
from testimony.forms.schema import FormDefinition

from . import vocabulary

__all__ = [
    "Answer",
    "answer_text",
    "answers",
    "consent",
    "form_of",
    "when",
    "where",
]


def form_of(statement: Mapping[str, Any]) -> FormDefinition | None:
    """The bundled form version the statement was written on, if this workstation has it."""
    form = statement.get("form")
    if not isinstance(form, dict):
        return None
    try:
        return (
            bundled_forms().get_version(str(form.get("id")), int(form.get("version", 0))).definition
        )
    except (FormError, TypeError, ValueError):
        return None


def answer_text(value: Any, form_field: Any, lang: str, numbers: Mapping[str, int]) -> str:
    """One answer as text: a choice by its label in ``lang``, a file by its
    number (``attachment 2``), a range as ``start to end``."""
    options = {
        o.id: vocabulary.label(o.label, lang, o.id)
        for o in (getattr(form_field, "choices", None) or getattr(form_field, "places", None) or [])
    }
    if isinstance(value, str):
        if value in numbers:
            return f"attachment {numbers[value]}"
        return options.get(value, value)
    if isinstance(value, list):
        return "; ".join(answer_text(v, form_field, lang, numbers) for v in value)
    if isinstance(value, dict):
        if "other" in value:
            return f"other: {value['other']}"
        if "start" in value or "end" in value:
            start, end = value.get("start") or "?", value.get("end")
            return f"{start} to {end}" if end else str(start)
        text = (
            options.get(str(value["id"]), str(value["id"]))
            if "id" in value
            else str(value.get("text", ""))
        )
        if "lat" in value and "lon" in value:
            text += f" ({value['lat']}, {value['lon']})"
        return text
    return str(value)


@dataclass(frozen=True)
class Answer:
    field: str
    label: str
    """The form's label in the reviewer's language (the field id if unknown)."""
    kind: str
    """The field's type (``longtext``, ``datetime_range``, ...; ``""`` if unknown)."""
    text: str
    attachments: tuple[int, ...] = ()
    """The numbers of the files this answer names."""


def answers(
    statement: Mapping[str, Any], lang: str, numbers: Mapping[str, int] | None = None
) -> list[Answer]:
    """The statement's answers in the witness's order, labelled in ``lang``."""
    numbers = numbers or {}
    form = form_of(statement)
    given = statement.get("answers")
    found: list[Answer] = []
    for field_id, value in given.items() if isinstance(given, dict) else []:
        form_field = None
        label = str(field_id)
        if form is not None:
            try:
                form_field = form.field(field_id)
                label = vocabulary.label(form_field.label, lang, field_id)
            except KeyError:
                pass
        files = value if isinstance(value, list) else [value]
        found.append(
            Answer(
                field=str(field_id),
                label=label,
                kind=str(getattr(form_field, "type", "") or ""),
                text=answer_text(value, form_field, lang, numbers),
                attachments=tuple(numbers[v] for v in files if isinstance(v, str) and v in numbers),
            )
        )
    return found


def consent(statement: Mapping[str, Any]) -> tuple[list[str], bool] | None:
    """Whom the witness agreed to share with, and whether they may be contacted."""
    given = statement.get("consent")
    if not isinstance(given, dict):
        return None
    shares = given.get("share_with")
    return (
        [str(s) for s in shares] if isinstance(shares, list) else [],
        bool(given.get("contact")),
    )


def _typed(statement: Mapping[str, Any], kind: str) -> list[Any]:
    form = form_of(statement)
    given = statement.get("answers")
    if form is None or not isinstance(given, dict):
        return []
    values = []
    for form_field in form.fields:
        if getattr(form_field, "type", None) == kind and form_field.id in given:
            values.append(given[form_field.id])
    return values


def when(statement: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """What the witness said of when it happened: the first ``datetime_range``
    answer's start and end as given (partial dates kept partial), or nothing."""
    for value in _typed(statement, "datetime_range"):
        if isinstance(value, dict) and (value.get("start") or value.get("end")):
            start, end = value.get("start"), value.get("end")
            return (str(start) if start else None, str(end) if end else None)
        if isinstance(value, str) and value:
            return value, None
    return None, None


def where(statement: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The places the witness named: ``{"id" or "text", "lat"?, "lon"?}`` each."""
    found = []
    for value in _typed(statement, "place"):
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and ("id" in item or "text" in item):
                found.append(dict(item))
    return found
