"""Translation-review markers: which texts still need a native speaker.

The definition format of docs/protocol.md §5 has no room for extra keys, so an
uncertain translation is marked in a sidecar beside the file it belongs to
(``kordai-2020.json`` → ``kordai-2020.review.json``)::

    {"dng": {"fields.narrative.help": "needs native-speaker review: <reason>"}}

A path names one localised text:

- in a form definition: ``title``, ``fields.<field>.label``,
  ``fields.<field>.help``, ``fields.<field>.choices.<choice>``,
  ``fields.<field>.places.<place>``;
- in ``messages.json``: the message key.

A marker must name an existing text in a language of the file, and its reason
must start with ``needs native-speaker review:``. Editing a marked text does not
remove the marker: a reviewer removes it. Markers are never part of the form's
hash; the witness page may show a marked text with a notice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ReviewMarkersInvalid
from .schema import FormDefinition

__all__ = ["REVIEW_PREFIX", "ReviewMarkers", "check_review_markers", "form_texts"]

REVIEW_PREFIX = "needs native-speaker review: "

#: ``{language: {path: reason}}``
ReviewMarkers = dict[str, dict[str, str]]


def form_texts(definition: FormDefinition) -> dict[str, dict[str, str]]:
    """Every localised text of a definition: ``{path: {language: text}}``."""
    texts: dict[str, dict[str, str]] = {"title": dict(definition.title)}
    for form_field in definition.fields:
        texts[f"fields.{form_field.id}.label"] = dict(form_field.label)
        texts[f"fields.{form_field.id}.help"] = dict(form_field.help)
        for kind, options in (("choices", form_field.choices), ("places", form_field.places)):
            for option in options or []:
                texts[f"fields.{form_field.id}.{kind}.{option.id}"] = dict(option.label)
    return texts


def check_review_markers(
    source: bytes | Mapping[str, Any], *, languages: Iterable[str], paths: Iterable[str]
) -> ReviewMarkers:
    """Parse a review sidecar and check every marker names an existing text.

    ``languages`` are the file's languages and ``paths`` its localised texts
    (:func:`form_texts` or message keys). Returns the markers. Raises
    :class:`ReviewMarkersInvalid`, listing every bad marker, when the sidecar is
    not ``{language: {path: "needs native-speaker review: ..."}}`` or a marker
    names a language or path the file does not have.
    """
    try:
        data = json.loads(source) if isinstance(source, bytes | bytearray) else source
    except ValueError as exc:
        raise ReviewMarkersInvalid(f"the review file is not JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise ReviewMarkersInvalid("a review file is an object {language: {path: reason}}")
    known_languages, known_paths = set(languages), set(paths)
    problems: list[str] = []
    markers: ReviewMarkers = {}
    for language, entries in data.items():
        if language not in known_languages:
            problems.append(f"{language}: not a language of the file")
            continue
        if not isinstance(entries, Mapping):
            problems.append(f"{language}: not an object of path -> reason")
            continue
        for path, reason in entries.items():
            if path not in known_paths:
                problems.append(f"{language}: {path}: no such text")
            elif (
                not isinstance(reason, str)
                or not reason.startswith(REVIEW_PREFIX)
                or not reason[len(REVIEW_PREFIX) :].strip()
            ):
                problems.append(f"{language}: {path}: reason must be '{REVIEW_PREFIX}<why>'")
            else:
                markers.setdefault(language, {})[path] = reason
    if problems:
        raise ReviewMarkersInvalid("; ".join(problems))
    return markers
