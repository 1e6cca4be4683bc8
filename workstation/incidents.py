"""Canonical incident records (docs/workstation.md, "Incidents").

Modelled on HURIDOCS' Events Standard Formats — "who did what to whom": an
**incident** (the event) has a title, a time range (``start``, ``end``: a
year, a month, a day or a minute), the places where it happened (a village
of the vocabulary, or a name, each with coordinates when known), its
**acts** — each a violation type, its victims and its perpetrators, each as a
count and/or pseudonymous persons (``V-017``; never a real name) —, a
description and a status (``alleged``, ``corroborated``, ``verified``).

Testimonies are **linked** to it, each with the role of the witness (an
``eyewitness``, a ``victim``, a ``relative``, ``hearsay``) and two separate
ratings, as the OHCHR monitoring manual asks: the source's reliability and the
information's validity.

**Corroboration** (:func:`corroboration`) counts independent sources, not
testimonies: every distinct witness key is one source (a follow-up is its
submission's witness; two submissions made with one receipt code are one
person), and a submission without a witness key is one source of its own.
A source is first-hand if any of its linked testimonies is an eyewitness's or
a victim's account, relayed otherwise (a relative, hearsay). Testimonies
triaged ``duplicate`` or ``rejected`` do not count.

**Merging** keeps one canonical record: every link of the merged incidents
moves to it (a testimony linked to both keeps the canonical record's link),
later links, unlinks and merges naming a merged incident reach the canonical
one, and the merged records stay readable, marked as merged, with their
history. Every change is an annotation entry; :func:`history` gives all of
them, the merged records' included, in log order.

The fold (:func:`apply`, called in log order by ``triage.refresh``) keeps the
current state in the cache's tables ``ws_incidents``, ``ws_incident_places``,
``ws_links`` and ``ws_incident_history``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .annotations import FIRST_HAND, Annotation
from .cache import Cache
from .home import WorkstationError

__all__ = [
    "Corroboration",
    "Incident",
    "Link",
    "apply",
    "canonical",
    "corroboration",
    "ensure_tables",
    "find",
    "get",
    "history",
    "incidents",
    "reset",
    "search_text",
]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS ws_incidents (
        id TEXT PRIMARY KEY, merged_into TEXT, recorded INTEGER NOT NULL DEFAULT 0,
        title TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'alleged',
        start TEXT, "end" TEXT, description TEXT NOT NULL DEFAULT '',
        places TEXT NOT NULL DEFAULT '[]', acts TEXT NOT NULL DEFAULT '[]',
        created_idx INTEGER, created_by TEXT, updated_idx INTEGER)""",
    "CREATE INDEX IF NOT EXISTS ws_incidents_status ON ws_incidents (status)",
    """CREATE TABLE IF NOT EXISTS ws_incident_places (
        incident TEXT NOT NULL, place TEXT NOT NULL, PRIMARY KEY (place, incident)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS ws_links (
        incident TEXT NOT NULL, testimony TEXT NOT NULL, role TEXT NOT NULL,
        reliability TEXT NOT NULL, validity TEXT NOT NULL, idx INTEGER NOT NULL,
        actor TEXT NOT NULL, PRIMARY KEY (incident, testimony)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS ws_links_testimony ON ws_links (testimony)",
    """CREATE TABLE IF NOT EXISTS ws_incident_history (
        entry_id TEXT NOT NULL, idx INTEGER NOT NULL, incident TEXT NOT NULL,
        actor TEXT NOT NULL, received TEXT NOT NULL, kind TEXT NOT NULL,
        payload TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (incident, idx, entry_id)) WITHOUT ROWID""",
)
_TABLES = ("ws_incidents", "ws_incident_places", "ws_links", "ws_incident_history")


class UnknownIncident(WorkstationError):
    code = "unknown-incident"


@dataclass(frozen=True)
class Link:
    """A testimony linked to an incident."""

    testimony: str
    role: str
    reliability: str
    validity: str
    index: int
    actor: str


@dataclass(frozen=True)
class Corroboration:
    """Independent sources of an incident (see the module docstring)."""

    sources: int
    first_hand: int
    relayed: int
    testimonies: int
    """Linked testimonies that count (not ``duplicate`` or ``rejected``)."""
    excluded: int
    """Linked testimonies that do not count (``duplicate`` or ``rejected``)."""


@dataclass(frozen=True)
class Incident:
    """An incident record as folded; ``merged_into`` names the canonical record
    if this one was merged, ``merged`` the records merged into this one."""

    id: str
    recorded: bool
    title: str
    status: str
    start: str | None
    end: str | None
    description: str
    places: list[dict[str, Any]]
    acts: list[dict[str, Any]]
    created_index: int | None
    created_by: str | None
    updated_index: int | None
    merged_into: str | None = None
    merged: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    def victims(self) -> tuple[int, list[str]]:
        """The victims' count over all acts (counts, plus persons not counted) and the persons."""
        persons: list[str] = []
        total = 0
        for act in self.acts:
            named = act["victims"]["persons"]
            persons.extend(p for p in named if p not in persons)
            count = act["victims"]["count"]
            total += count if count is not None and count >= len(named) else len(named)
        return total, persons

    def perpetrator_types(self) -> list[str]:
        return sorted({group["type"] for act in self.acts for group in act["perpetrators"]})

    def violations(self) -> list[str]:
        return sorted({act["violation"] for act in self.acts})


def ensure_tables(cache: Cache) -> None:
    for statement in _SCHEMA:
        cache.execute(statement)


def reset(cache: Cache) -> None:
    ensure_tables(cache)
    for table in _TABLES:
        cache.execute(f"DELETE FROM {table}")  # noqa: S608 - our own names


def canonical(cache: Cache, incident_id: str) -> str:
    """The canonical record an incident id leads to (itself, unless merged)."""
    seen = {incident_id}
    current = incident_id
    while True:
        rows = cache.query("SELECT merged_into FROM ws_incidents WHERE id = ?", (current,))
        if not rows or rows[0][0] is None:
            return current
        current = str(rows[0][0])
        if current in seen:  # never: merges keep no cycle
            return current
        seen.add(current)


def _stub(cache: Cache, incident_id: str) -> None:
    cache.execute(
        "INSERT INTO ws_incidents (id) VALUES (?) ON CONFLICT (id) DO NOTHING", (incident_id,)
    )


def _history(cache: Cache, annotation: Annotation, incident_id: str, note: str = "") -> None:
    cache.execute(
        "INSERT OR REPLACE INTO ws_incident_history "
        "(entry_id, idx, incident, actor, received, kind, payload, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            annotation.entry_id,
            annotation.index,
            incident_id,
            annotation.actor,
            annotation.received,
            annotation.payload["kind"],
            json.dumps(annotation.payload, ensure_ascii=False, sort_keys=True),
            note,
        ),
    )


_COLUMNS = {
    "title": "title",
    "status": "status",
    "start": "start",
    "end": '"end"',
    "description": "description",
}


def apply(cache: Cache, annotation: Annotation) -> set[str]:
    """Fold one checked ``incident``, ``link``, ``unlink`` or ``merge``
    annotation; returns the incidents whose searchable text may have changed."""
    payload = annotation.payload
    kind = payload["kind"]
    if kind == "incident":
        incident_id = payload["incident"]
        _stub(cache, incident_id)
        fields: Mapping[str, Any] = payload["fields"]
        for name, column in _COLUMNS.items():
            if name in fields:
                cache.execute(
                    f"UPDATE ws_incidents SET {column} = ? WHERE id = ?",  # noqa: S608
                    (fields[name], incident_id),
                )
        for name in ("places", "acts"):
            if name in fields:
                cache.execute(
                    f"UPDATE ws_incidents SET {name} = ? WHERE id = ?",  # noqa: S608
                    (json.dumps(fields[name], ensure_ascii=False), incident_id),
                )
        if "places" in fields:
            cache.execute("DELETE FROM ws_incident_places WHERE incident = ?", (incident_id,))
            for place in fields["places"]:
                if place["place"] is not None:
                    cache.execute(
                        "INSERT OR IGNORE INTO ws_incident_places (incident, place) VALUES (?, ?)",
                        (incident_id, place["place"]),
                    )
        cache.execute(
            "UPDATE ws_incidents SET recorded = 1, updated_idx = ?, "
            "created_idx = coalesce(created_idx, ?), created_by = coalesce(created_by, ?) "
            "WHERE id = ?",
            (annotation.index, annotation.index, annotation.actor, incident_id),
        )
        merged_into = canonical(cache, incident_id)
        note = "" if merged_into == incident_id else f"made to a record merged into {merged_into}"
        _history(cache, annotation, incident_id, note)
        return {incident_id}
    if kind in ("link", "unlink"):
        target = canonical(cache, payload["incident"])
        _stub(cache, target)
        note = "" if target == payload["incident"] else f"redirected from {payload['incident']}"
        if kind == "link":
            cache.execute(
                "INSERT INTO ws_links (incident, testimony, role, reliability, validity, idx, actor) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (incident, testimony) DO UPDATE SET "
                "role = excluded.role, reliability = excluded.reliability, "
                "validity = excluded.validity, idx = excluded.idx, actor = excluded.actor",
                (
                    target,
                    payload["testimony"],
                    payload["role"],
                    payload["reliability"],
                    payload["validity"],
                    annotation.index,
                    annotation.actor,
                ),
            )
        else:
            cache.execute(
                "DELETE FROM ws_links WHERE incident = ? AND testimony = ?",
                (target, payload["testimony"]),
            )
        _history(cache, annotation, target, note)
        return set()
    if kind == "merge":
        kept = canonical(cache, payload["incident"])
        _stub(cache, kept)
        moved = []
        for other in payload["merged"]:
            source = canonical(cache, other)
            if source == kept:
                continue
            _stub(cache, source)
            cache.execute(
                "UPDATE ws_incidents SET merged_into = ? WHERE id = ? OR merged_into = ?",
                (kept, source, source),
            )
            cache.execute(
                "DELETE FROM ws_links WHERE incident = ? AND testimony IN "
                "(SELECT testimony FROM ws_links WHERE incident = ?)",
                (source, kept),
            )
            cache.execute("UPDATE ws_links SET incident = ? WHERE incident = ?", (kept, source))
            _history(cache, annotation, source, f"merged into {kept}")
            moved.append(source)
        _history(
            cache,
            annotation,
            kept,
            f"merged {', '.join(moved)} into this record" if moved else "nothing left to merge",
        )
        return {kept, *moved}
    raise AssertionError(kind)


def find(cache: Cache, text: str) -> str:
    """The incident id a reviewer means: a whole id or a unique prefix (at least 4 digits)."""
    ensure_tables(cache)
    return cache.id_with_prefix(
        "ws_incidents", text, digits=32, minimum=4, what="incident", error=UnknownIncident
    )


_SELECT = (
    'SELECT id, merged_into, recorded, title, status, start, "end", description, places, acts, '
    "created_idx, created_by, updated_idx FROM ws_incidents"
)


def _incident(cache: Cache, row: tuple[Any, ...], *, details: bool) -> Incident:
    (
        iid,
        merged_into,
        recorded,
        title,
        status,
        start,
        end,
        description,
        places,
        acts,
        ci,
        cb,
        ui,
    ) = row
    merged: list[str] = []
    links: list[Link] = []
    if details:
        merged = [
            str(r[0])
            for r in cache.query(
                "SELECT id FROM ws_incidents WHERE merged_into = ? ORDER BY id", (iid,)
            )
        ]
        links = [
            Link(str(t), str(r), str(rel), str(val), int(i), str(a))
            for t, r, rel, val, i, a in cache.query(
                "SELECT testimony, role, reliability, validity, idx, actor FROM ws_links "
                "WHERE incident = ? ORDER BY idx",
                (iid,),
            )
        ]
    return Incident(
        id=str(iid),
        recorded=bool(recorded),
        title=str(title),
        status=str(status),
        start=start,
        end=end,
        description=str(description),
        places=json.loads(places),
        acts=json.loads(acts),
        created_index=ci,
        created_by=cb,
        updated_index=ui,
        merged_into=merged_into,
        merged=merged,
        links=links,
    )


def get(cache: Cache, incident_id: str) -> Incident:
    """The record of ``incident_id`` itself (not redirected), with its links."""
    ensure_tables(cache)
    rows = cache.query(_SELECT + " WHERE id = ?", (incident_id,))
    if not rows:
        raise UnknownIncident(f"no incident {incident_id} in this workstation's cache")
    return _incident(cache, rows[0], details=True)


def incidents(
    cache: Cache,
    *,
    status: str | None = None,
    place: str | None = None,
    violation: str | None = None,
    merged: bool = False,
) -> list[Incident]:
    """The canonical records (and the merged ones with ``merged``), newest change first."""
    ensure_tables(cache)
    where, params = ["recorded = 1"], []
    if not merged:
        where.append("merged_into IS NULL")
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if place is not None:
        where.append("id IN (SELECT incident FROM ws_incident_places WHERE place = ?)")
        params.append(place)
    rows = cache.query(
        _SELECT + " WHERE " + " AND ".join(where) + " ORDER BY updated_idx DESC", params
    )
    found = [_incident(cache, row, details=False) for row in rows]
    if violation is not None:
        found = [i for i in found if violation in i.violations()]
    return found


def linked_incidents(cache: Cache, testimony: str) -> list[tuple[str, Link]]:
    """``(incident, link)`` pairs of the incidents a testimony is linked to."""
    ensure_tables(cache)
    return [
        (str(i), Link(testimony, str(r), str(rel), str(val), int(x), str(a)))
        for i, r, rel, val, x, a in cache.query(
            "SELECT incident, role, reliability, validity, idx, actor FROM ws_links "
            "WHERE testimony = ? ORDER BY idx",
            (testimony,),
        )
    ]


def corroboration(cache: Cache, incident_id: str) -> Corroboration:
    """The independent sources of the canonical record ``incident_id`` leads to.

    Reads the triage table ``ws_testimonies`` (a testimony's witness key and
    state); a linked testimony not in the cache counts as a source of its own.
    """
    target = canonical(cache, incident_id)
    rows = cache.query(
        "SELECT l.testimony, l.role, t.witness, t.state FROM ws_links l "
        "LEFT JOIN ws_testimonies t ON t.id = l.testimony WHERE l.incident = ?",
        (target,),
    )
    first: dict[str, bool] = {}
    counted = excluded = 0
    for testimony, role, witness, state in rows:
        if state in ("duplicate", "rejected"):
            excluded += 1
            continue
        counted += 1
        source = f"witness:{witness}" if witness else f"submission:{testimony}"
        first[source] = first.get(source, False) or role in FIRST_HAND
    first_hand = sum(first.values())
    return Corroboration(
        sources=len(first),
        first_hand=first_hand,
        relayed=len(first) - first_hand,
        testimonies=counted,
        excluded=excluded,
    )


@dataclass(frozen=True)
class Change:
    """One entry of an incident's history."""

    index: int
    entry_id: str
    incident: str
    actor: str
    received: str
    kind: str
    payload: dict[str, Any]
    note: str


def history(cache: Cache, incident_id: str) -> list[Change]:
    """Every change of the record and of the records merged into it, in log order."""
    ensure_tables(cache)
    ids = [incident_id] + [
        str(r[0])
        for r in cache.query("SELECT id FROM ws_incidents WHERE merged_into = ?", (incident_id,))
    ]
    marks = ",".join("?" for _ in ids)
    columns = "idx, entry_id, incident, actor, received, kind, payload, note"
    sql = f"SELECT {columns} FROM ws_incident_history WHERE incident IN ({marks})"  # noqa: S608
    rows = cache.query(sql + " ORDER BY idx, incident", ids)
    seen: dict[tuple[str, str], Change] = {}
    for idx, entry_id, incident, actor, received, kind, payload, note in rows:
        seen[(entry_id, incident)] = Change(
            int(idx),
            str(entry_id),
            str(incident),
            str(actor),
            str(received),
            str(kind),
            json.loads(payload),
            str(note),
        )
    return list(seen.values())


def search_text(incident: Incident, labels: Mapping[str, list[str]]) -> str:
    """What search reads of an incident: title, description, places (names
    and every label of their tags), acts' violation and perpetrator labels and
    persons. ``labels`` maps tag ids to their labels."""
    parts = [incident.title, incident.description]
    for place in incident.places:
        parts.append(place["name"])
        if place["place"]:
            parts.extend(labels.get(place["place"], []))
    for act in incident.acts:
        parts.extend(labels.get(act["violation"], []))
        parts.extend(act["victims"]["persons"])
        for group in act["perpetrators"]:
            parts.extend(labels.get(group["type"], []))
            parts.extend(group["persons"])
    return "\n".join(parts)
