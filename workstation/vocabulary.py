"""The controlled vocabulary of tags (docs/workstation.md, "Daily triage").

A tag id is ``<group>/<name>``. The vocabulary is seeded from the bundled
``kordai-2020`` form — its violation types (``what_happened``: group
``violation``), its villages (``where``: group ``place``) and its perpetrator
types (``perpetrators``: group ``perpetrator``) — with the form's labels in
every language it has. Admins extend it with ``vocabulary`` annotations (new
tags, other labels, a place's coordinates, a tag retired); a ``vocabulary``
annotation counts only if its actor was an admin with standing when it was
logged (:class:`~testimony.workstation.annotations.Organisation`).

The witness's own answers give tags too (:func:`witness_tags`): what the
witness ticked in ``what_happened`` and ``perpetrators`` and the village
chosen in ``where``. They are kept apart from the reviewers' tags.

The current vocabulary is a table of the cache (``ws_vocabulary``), rebuilt by
the triage fold (``triage.refresh``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from testimony.crypto.keyring import normalise
from testimony.forms import bundled_forms

from .annotations import TAG_GROUPS, Annotation, Organisation
from .cache import Cache
from .home import WorkstationError
from .search import fold_word

__all__ = [
    "SEED_FIELDS",
    "SEED_FORM",
    "Tag",
    "UnknownTag",
    "apply",
    "ensure_tables",
    "label",
    "reset",
    "resolve",
    "seed_tags",
    "tags",
    "witness_tags",
]

SEED_FORM = "kordai-2020"
SEED_FIELDS: Mapping[str, str] = {
    "what_happened": "violation",
    "where": "place",
    "perpetrators": "perpetrator",
}
"""The form's fields whose choices (or places) seed the vocabulary, and their group."""

_SCHEMA = """CREATE TABLE IF NOT EXISTS ws_vocabulary (
    tag TEXT PRIMARY KEY, grp TEXT NOT NULL, labels TEXT NOT NULL,
    lat REAL, lon REAL, retired INTEGER NOT NULL DEFAULT 0, origin TEXT NOT NULL)"""


class UnknownTag(WorkstationError):
    code = "unknown-tag"


@dataclass(frozen=True)
class Tag:
    """One tag of the vocabulary; ``origin`` is ``form`` or the id of the
    ``vocabulary`` annotation that last changed it."""

    id: str
    group: str
    labels: Mapping[str, str] = field(default_factory=dict)
    lat: float | None = None
    lon: float | None = None
    retired: bool = False
    origin: str = "form"

    def label(self, lang: str) -> str:
        return label(self.labels, lang, self.id)


def label(labels: Mapping[str, str], lang: str, fallback: str) -> str:
    """The label in ``lang``, else in English, else any, else ``fallback``."""
    for key in (lang, lang.split("-")[0], "en"):
        if key in labels:
            return labels[key]
    return next(iter(labels.values()), fallback)


@functools.cache
def seed_tags() -> tuple[Tag, ...]:
    """The tags of the latest bundled ``kordai-2020`` form, in form order."""
    form = bundled_forms().latest(SEED_FORM).definition
    seeded: list[Tag] = []
    for form_field in form.fields:
        group = SEED_FIELDS.get(form_field.id)
        if group is None:
            continue
        for option in form_field.choices or form_field.places or []:
            seeded.append(Tag(f"{group}/{option.id}", group, dict(option.label)))
    return tuple(seeded)


def ensure_tables(cache: Cache) -> None:
    cache.execute(_SCHEMA)


def _put(cache: Cache, tag: Tag) -> None:
    cache.execute(
        "INSERT INTO ws_vocabulary (tag, grp, labels, lat, lon, retired, origin) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tag) DO UPDATE SET grp = excluded.grp, "
        "labels = excluded.labels, lat = excluded.lat, lon = excluded.lon, "
        "retired = excluded.retired, origin = excluded.origin",
        (
            tag.id,
            tag.group,
            json.dumps(dict(tag.labels), ensure_ascii=False, sort_keys=True),
            tag.lat,
            tag.lon,
            int(tag.retired),
            tag.origin,
        ),
    )


def reset(cache: Cache) -> None:
    """The vocabulary as the form seeds it (before any annotation is folded)."""
    ensure_tables(cache)
    cache.execute("DELETE FROM ws_vocabulary")
    for tag in seed_tags():
        _put(cache, tag)


def apply(cache: Cache, annotation: Annotation, organisation: Organisation) -> bool:
    """Fold one checked ``vocabulary`` annotation; False if its actor was no admin."""
    if organisation.role_at(annotation.actor, annotation.index) != "admin":
        return False
    payload = annotation.payload
    tag_id = payload["tag"]
    existing = tag(cache, tag_id)
    labels = dict(existing.labels) if existing else {}
    labels.update(payload["labels"])
    lat, lon = (existing.lat, existing.lon) if existing else (None, None)
    if "lat" in payload:
        lat, lon = payload["lat"], payload["lon"]
    _put(
        cache,
        Tag(
            tag_id,
            tag_id.split("/", 1)[0],
            labels,
            lat,
            lon,
            bool(payload.get("retired", False)),
            annotation.entry_id,
        ),
    )
    return True


def _row(row: tuple[Any, ...]) -> Tag:
    tag_id, group, labels, lat, lon, retired, origin = row
    return Tag(tag_id, group, json.loads(labels), lat, lon, bool(retired), origin)


def tags(cache: Cache, *, group: str | None = None) -> list[Tag]:
    """The vocabulary, by group then id."""
    ensure_tables(cache)
    rows = cache.query(
        "SELECT tag, grp, labels, lat, lon, retired, origin FROM ws_vocabulary ORDER BY grp, tag"
    )
    found = [_row(row) for row in rows]
    return [t for t in found if group is None or t.group == group]


def tag(cache: Cache, tag_id: str) -> Tag | None:
    ensure_tables(cache)
    rows = cache.query(
        "SELECT tag, grp, labels, lat, lon, retired, origin FROM ws_vocabulary WHERE tag = ?",
        (tag_id,),
    )
    return _row(rows[0]) if rows else None


def _key(text: str) -> str:
    return " ".join(fold_word(word) for word in normalise(text).replace("_", " ").split())


def resolve(cache: Cache, text: str, *, group: str | None = None) -> str:
    """The tag id a reviewer means by ``text``: an id (``violation/arson``), a
    name (``arson``), or a label in any language and script (``Поджог…``,
    ``Masanchi``, ``Масанчи``). Raises :class:`UnknownTag` for none or several."""
    candidates = [t for t in tags(cache) if group is None or t.group == group]
    wanted = normalise(text)
    for matches in (
        [t for t in candidates if t.id == wanted],
        [t for t in candidates if t.id.split("/", 1)[1] == wanted],
        [t for t in candidates if any(normalise(v) == wanted for v in t.labels.values())],
        [t for t in candidates if any(_key(v) == _key(text) for v in t.labels.values())],
    ):
        if len(matches) == 1:
            return matches[0].id
        if len(matches) > 1:
            names = ", ".join(sorted(t.id for t in matches))
            raise UnknownTag(f"{text!r} could be any of {names}: name one", "ambiguous-tag")
    known = "" if group is None else f" of the group {group}"
    raise UnknownTag(
        f"no tag{known} is called {text!r} (see `testimony review vocab list`; an admin adds "
        "tags with `testimony review vocab add`)"
    )


def new_tag_id(group: str, name: str) -> str:
    """``<group>/<name>`` for a new tag, checked."""
    if group not in TAG_GROUPS:
        raise UnknownTag(f"a tag's group is one of {', '.join(TAG_GROUPS)}", "unknown-group")
    return f"{group}/{name}"


def witness_tags(statement: Mapping[str, Any]) -> list[str]:
    """The tags the witness's own answers give (see the module docstring)."""
    answers = statement.get("answers")
    if not isinstance(answers, dict):
        return []
    found: set[str] = set()
    for field_id, group in SEED_FIELDS.items():
        value = answers.get(field_id)
        items: Iterable[Any] = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                item = item.get("id")
            if isinstance(item, str) and item:
                found.add(f"{group}/{item}")
    return sorted(found)
