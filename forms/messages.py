"""Localised texts for validation problems and for rendering fields (docs/protocol.md §5).

``forms/messages.json`` holds ``{"languages": [...], "messages": {key: {lang: text}}}``:
one message for every message key in ``forms/rules.py`` (what a witness reads
when an answer does not validate), plus the few labels every form needs to
render its fields (``field.*``: "Other", the two ends of a range...). Its
translation-review markers are in ``forms/messages.review.json``. The browser
reads the same file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .errors import FormInvalid, Problem
from .rules import RULES
from .schema import FormDefinition, FormField, is_language_tag

__all__ = [
    "RENDERING_KEYS",
    "Messages",
    "bundled_messages",
    "describe_problems",
    "expected_shape",
    "load_messages",
    "rule_message_keys",
]

#: Labels a page needs to render any form, beside the problem messages.
RENDERING_KEYS: tuple[str, ...] = (
    "field.other",
    "field.place-text",
    "field.range-start",
    "field.range-end",
    "field.yes",
    "field.no",
    "field.optional",
)


def rule_message_keys() -> frozenset[str]:
    """Every message key the rules table can report."""
    tables = [RULES["answers"], RULES["consent"], *RULES["types"].values()]
    return frozenset(key for table in tables for key in table["codes"].values())


@dataclass(frozen=True)
class Messages:
    """A message catalogue: ``texts[key][language]``."""

    languages: tuple[str, ...]
    texts: Mapping[str, Mapping[str, str]]

    def text(self, key: str, language: str) -> str:
        """The text of ``key`` in ``language``, or in the first language of the
        catalogue when ``language`` is not one of them. Raises ``KeyError`` for
        an unknown key."""
        texts = self.texts[key]
        return texts.get(language) or texts[self.languages[0]]

    def problem(self, problem: Problem, language: str) -> str:
        """What a witness reads for ``problem`` in ``language``."""
        return self.text(problem.message_key, language)


def load_messages(source: bytes | Mapping[str, Any]) -> Messages:
    """Parse a message catalogue. Raises :class:`FormInvalid` when it is not
    ``{"languages": [BCP 47 tags], "messages": {key: {lang: non-empty text}}}``
    with every message in exactly those languages."""
    data = json.loads(source) if isinstance(source, bytes | bytearray) else source
    problems: list[str] = []
    if not isinstance(data, Mapping) or set(data) != {"languages", "messages"}:
        raise FormInvalid("a message catalogue is {'languages': [...], 'messages': {...}}")
    languages, messages = data["languages"], data["messages"]
    if (
        not isinstance(languages, list)
        or not languages
        or not all(isinstance(tag, str) and is_language_tag(tag) for tag in languages)
    ):
        raise FormInvalid("messages: 'languages' must list BCP 47 language tags")
    if not isinstance(messages, Mapping):
        raise FormInvalid("messages: 'messages' must be an object")
    for key, texts in messages.items():
        if not isinstance(texts, Mapping) or set(texts) != set(languages):
            problems.append(f"{key}: needs exactly the languages {languages}")
        elif not all(isinstance(text, str) and text.strip() for text in texts.values()):
            problems.append(f"{key}: every text must be non-empty")
    if problems:
        raise FormInvalid("the message catalogue is incomplete", problems)
    return Messages(
        languages=tuple(languages),
        texts={key: dict(texts) for key, texts in messages.items()},
    )


def bundled_messages() -> Messages:
    """The catalogue shipped in ``forms/messages.json``."""
    return load_messages(resources.files(__package__).joinpath("messages.json").read_bytes())


_SHAPES = {
    "text": "a string",
    "longtext": "a string",
    "date": 'a date: "YYYY", "YYYY-MM" or "YYYY-MM-DD"',
    "datetime_range": '{"start": a date or "YYYY-MM-DDTHH:MM", "end": the same or null}',
    "number": "a number",
    "boolean": "true or false",
    "attachments": "a list of the names of files given with --attach",
}
_MAX_IDS_SHOWN = 8


def _ids(options: list[str]) -> str:
    shown = ", ".join(options[:_MAX_IDS_SHOWN])
    return shown + (", ..." if len(options) > _MAX_IDS_SHOWN else "")


def expected_shape(form_field: FormField) -> str:
    """What an answer to ``form_field`` looks like in an answers file (§5's
    table), naming the field's choice or place ids."""
    ids = _ids([option.id for option in form_field.choices or form_field.places or []])
    other = '{"other": "<text>"}'
    if form_field.type == "choice":
        return f"one choice id ({ids})" + (f" or {other}" if form_field.other else "")
    if form_field.type == "multichoice":
        return f"a list of distinct choice ids ({ids})" + (
            f" and at most one {other}" if form_field.other else ""
        )
    if form_field.type == "place":
        return f'{{"id": a place id ({ids})}} or {{"text": "<where>"}}'
    return _SHAPES[form_field.type]


def describe_problems(
    problems: Sequence[Problem],
    form: FormDefinition,
    language: str,
    messages: Messages | None = None,
) -> str:
    """The problems of some answers as one line: each field by id and by its
    label in ``language``, what is wrong in words the witness reads (in
    ``language``), and, for an answer of the wrong shape, the shape expected.

    Names fields, codes and shapes only, never an answer.
    """
    catalogue = messages or bundled_messages()
    fields = {form_field.id: form_field for form_field in form.fields}
    parts = []
    for problem in problems:
        text = catalogue.problem(problem, language)
        form_field = fields.get(problem.field_id or "")
        if form_field is None:
            where = f"`{problem.field_id}`" if problem.field_id else "the answers"
            parts.append(f"{where}: {problem.code}: {text}")
            continue
        label = form_field.label.get(language) or next(iter(form_field.label.values()))
        part = f"`{form_field.id}` ({label}): {problem.code}: {text}"
        if problem.code == "wrong-type":
            part += f" Expected: {expected_shape(form_field)}."
        parts.append(part)
    return "; ".join(parts)
