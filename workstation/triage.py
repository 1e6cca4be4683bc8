"""The state of every testimony, folded from the annotations in log order
(docs/workstation.md, "Daily triage").

For each submission the cache holds (and each one an annotation names) the
fold keeps: the **state** (``new`` until a ``state`` annotation; the last
one in log order wins), whose duplicate it is, the **assignee**, the
reviewers' **tags** (``tag`` adds, ``untag`` removes; the witness's own
answers give tags of their own, kept apart), **notes**, **translations** (the
latest per language), the **replies** recorded (a ``reply`` annotation keeps
the text the witness was sent; the signed ``reply`` entry in the log, found
by the sealed bytes' hash, says it was sent), the follow-ups, and the history
of all of it. Incidents (``incidents.apply``), the vocabulary
(``vocabulary.apply``) and the search index (``search.Indexer``) are folded
in the same pass.

Everything is kept in indexed tables of the cache (``ws_testimonies``,
``ws_testimony_tags``, ``ws_events`` ...), so that :func:`testimonies` answers
a filtered list with one indexed query rather than by reading JSON.
:func:`refresh` brings them up to date with what sync has added: new
submissions and follow-ups, new reply entries, new annotations. Annotations
are folded incrementally while they arrive in log order; one that arrives
behind an annotation already folded (an annotation sent from here is folded
at once, and a sync may then bring older ones) makes the fold start again
from the first annotation, which gives the same state as folding in order.

An annotation whose payload is not one docs/log-entries.md defines, or of a
kind this workstation does not know, is skipped and counted
(:attr:`Refreshed.skipped`); a ``vocabulary`` annotation of a non-admin is
skipped the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import incidents as incident_records
from . import reading, search, vocabulary
from .annotations import (
    Annotation,
    AnnotationInvalid,
    Organisation,
    check_payload,
    from_record,
    logged_annotations,
)
from .annotations import ensure_tables as ensure_annotation_tables
from .cache import Cache
from .home import WorkstationError
from .search import insert_many

__all__ = [
    "Event",
    "Refreshed",
    "Testimony",
    "UnknownTestimony",
    "ensure_tables",
    "events",
    "find",
    "refresh",
    "statement_text",
    "testimonies",
    "testimony",
]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS ws_testimonies (
        id TEXT PRIMARY KEY, idx INTEGER, received TEXT, lang TEXT, form TEXT, witness TEXT,
        summary TEXT NOT NULL DEFAULT '', cached INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'new', state_idx INTEGER, duplicate_of TEXT,
        assignee TEXT, followups INTEGER NOT NULL DEFAULT 0, notes INTEGER NOT NULL DEFAULT 0,
        replies INTEGER NOT NULL DEFAULT 0, updated_idx INTEGER,
        said_start TEXT, said_end TEXT, place TEXT, files INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS ws_testimonies_idx ON ws_testimonies (idx)",
    "CREATE INDEX IF NOT EXISTS ws_testimonies_state ON ws_testimonies (state, idx)",
    "CREATE INDEX IF NOT EXISTS ws_testimonies_lang ON ws_testimonies (lang, idx)",
    "CREATE INDEX IF NOT EXISTS ws_testimonies_received ON ws_testimonies (received)",
    "CREATE INDEX IF NOT EXISTS ws_testimonies_assignee ON ws_testimonies (assignee, idx)",
    """CREATE TABLE IF NOT EXISTS ws_testimony_tags (
        testimony TEXT NOT NULL, tag TEXT NOT NULL, source TEXT NOT NULL,
        PRIMARY KEY (testimony, tag, source)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS ws_testimony_tags_tag ON ws_testimony_tags (tag, testimony)",
    """CREATE TABLE IF NOT EXISTS ws_followups (
        id TEXT PRIMARY KEY, parent TEXT NOT NULL, idx INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS ws_followups_parent ON ws_followups (parent, idx)",
    """CREATE TABLE IF NOT EXISTS ws_replies_logged (
        idx INTEGER PRIMARY KEY, testimony TEXT NOT NULL, sealed TEXT NOT NULL, actor TEXT)""",
    "CREATE INDEX IF NOT EXISTS ws_replies_logged_testimony ON ws_replies_logged (testimony)",
    """CREATE TABLE IF NOT EXISTS ws_events (
        idx INTEGER PRIMARY KEY, entry_id TEXT NOT NULL, testimony TEXT NOT NULL,
        kind TEXT NOT NULL, actor TEXT NOT NULL, received TEXT NOT NULL, payload TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS ws_events_testimony ON ws_events (testimony, idx)",
    """CREATE TABLE IF NOT EXISTS ws_folded (
        kind TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (kind, id)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS ws_triage_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)""",
)

TESTIMONY_KINDS = frozenset({"state", "assign", "tag", "untag", "note", "translation", "reply"})
INCIDENT_KINDS = frozenset({"incident", "link", "unlink", "merge"})


class UnknownTestimony(WorkstationError):
    code = "unknown-testimony"


_ADDED_COLUMNS = (
    ("said_start", "TEXT"),
    ("said_end", "TEXT"),
    ("place", "TEXT"),
    ("files", "INTEGER NOT NULL DEFAULT 0"),
)
"""Columns a cache of an earlier release lacks: added, and the submissions folded again."""


def ensure_tables(cache: Cache) -> None:
    for statement in _SCHEMA:
        cache.execute(statement)
    present = {str(row[1]) for row in cache.query("PRAGMA table_info(ws_testimonies)")}
    missing = [(name, kind) for name, kind in _ADDED_COLUMNS if name not in present]
    for name, kind in missing:
        cache.execute(f"ALTER TABLE ws_testimonies ADD COLUMN {name} {kind}")
    if missing:
        cache.execute("DELETE FROM ws_folded WHERE kind = 'submission'")
    ensure_annotation_tables(cache)
    incident_records.ensure_tables(cache)
    vocabulary.ensure_tables(cache)
    search.ensure_tables(cache)
    if not cache.query("SELECT 1 FROM ws_vocabulary LIMIT 1"):
        vocabulary.reset(cache)


def _meta(cache: Cache, name: str, default: int = -1) -> int:
    rows = cache.query("SELECT value FROM ws_triage_meta WHERE name = ?", (name,))
    return int(rows[0][0]) if rows else default


def _set_meta(cache: Cache, name: str, value: int) -> None:
    cache.execute(
        "INSERT INTO ws_triage_meta (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (name, value),
    )


# --- what search and list read of a statement --------------------------------------------


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key in ("text", "other"):
            if isinstance(value.get(key), str):
                yield value[key]


def statement_text(statement: Mapping[str, Any]) -> str:
    """The witness's words: every text answer (and the text of a place or an
    "other" choice), in the order the statement gives them."""
    answers = statement.get("answers")
    if not isinstance(answers, dict):
        return ""
    return "\n".join(s for value in answers.values() for s in _strings(value) if s.strip())


def _summary(statement: Mapping[str, Any]) -> str:
    answers = statement.get("answers")
    narrative = answers.get("narrative") if isinstance(answers, dict) else None
    text = narrative if isinstance(narrative, str) else statement_text(statement)
    line = " ".join(text.split())
    return line if len(line) <= 80 else line[:79] + "…"


# --- refreshing ------------------------------------------------------------------------------


@dataclass
class Refreshed:
    """What one :func:`refresh` folded."""

    submissions: int = 0
    followups: int = 0
    replies: int = 0
    annotations: int = 0
    skipped: int = 0
    rebuilt: bool = False
    reindexed: int = 0


@dataclass
class _State:
    """What the annotations say of one testimony (the columns of
    ``ws_testimonies`` they set, and the reviewers' tags)."""

    state: str = "new"
    state_idx: int | None = None
    duplicate_of: str | None = None
    assignee: str | None = None
    notes: int = 0
    updated_idx: int | None = None
    tags: set[str] = field(default_factory=set)


_STATE_COLUMNS = ("state", "state_idx", "duplicate_of", "assignee", "notes", "updated_idx")


@dataclass
class _Fold:
    """One refresh: the states of the testimonies it touches are read once,
    changed in memory in log order, and written back in batches."""

    cache: Cache
    organisation: Organisation | None = None
    testimonies: set[str] = field(default_factory=set)
    """Testimonies whose searchable text may have changed."""
    incidents: set[str] = field(default_factory=set)
    statements: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    folded: list[tuple[str, str]] = field(default_factory=list)
    """Records folded, to be marked so in ``ws_folded`` at the end."""
    states: dict[str, _State] = field(default_factory=dict)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    replies: set[str] = field(default_factory=set)
    """Testimonies whose count of replies is to be made again."""

    def org(self) -> Organisation:
        if self.organisation is None:
            self.organisation = Organisation.from_cache(self.cache)
        return self.organisation

    def load(self, ids: Iterable[str]) -> None:
        """Read the current states of ``ids`` (those not read yet)."""
        wanted = sorted(set(ids) - self.states.keys())
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" for _ in chunk)
            for testimony_id, *values in self.cache.query(
                f"SELECT id, {', '.join(_STATE_COLUMNS)} FROM ws_testimonies "  # noqa: S608
                f"WHERE id IN ({marks})",
                chunk,
            ):
                self.states[str(testimony_id)] = _State(*values)
            tags = f"SELECT testimony, tag FROM ws_testimony_tags WHERE testimony IN ({marks})"  # noqa: S608
            for testimony_id, tag in self.cache.query(tags + " AND source = 'reviewer'", chunk):
                self.states[str(testimony_id)].tags.add(str(tag))
            for testimony_id in chunk:
                self.states.setdefault(testimony_id, _State())

    def write(self) -> None:
        """Write the states changed, the events and the replies' counts."""
        cache = self.cache
        ids = sorted(self.states)
        rows = [(i, *(getattr(self.states[i], c) for c in _STATE_COLUMNS)) for i in ids]
        columns = ", ".join(_STATE_COLUMNS)
        insert_many(
            cache,
            f"INTO ws_testimonies (id, {columns})",
            rows,
            "ON CONFLICT (id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in _STATE_COLUMNS),
        )
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" for _ in chunk)
            sql = f"DELETE FROM ws_testimony_tags WHERE testimony IN ({marks})"  # noqa: S608
            cache.execute(sql + " AND source = 'reviewer'", chunk)
        tags = [(i, tag, "reviewer") for i in ids for tag in sorted(self.states[i].tags)]
        insert_many(cache, "INTO ws_testimony_tags (testimony, tag, source)", tags)
        insert_many(
            cache,
            "OR REPLACE INTO ws_events (entry_id, idx, testimony, kind, actor, received, payload)",
            self.events,
        )
        for testimony_id in sorted(self.replies):
            _count_replies(cache, testimony_id)
        self.states, self.events, self.replies = {}, [], set()


_CHUNK = 500


def _new_records(cache: Cache, kind: str) -> list[tuple[str, Any]]:
    """The records of ``kind`` not folded yet (their ids found on the records'
    index alone, then only those read)."""
    ids = [
        str(row[0])
        for row in cache.query(
            "SELECT r.id FROM records r WHERE r.kind = ? AND NOT EXISTS "
            "(SELECT 1 FROM ws_folded f WHERE f.kind = r.kind AND f.id = r.id)",
            (kind,),
        )
    ]
    found: list[tuple[str, Any]] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" for _ in chunk)
        found.extend(
            (str(record_id), json.loads(value))
            for record_id, value in cache.query(
                f"SELECT id, value FROM records WHERE kind = ? AND id IN ({marks})",  # noqa: S608
                (kind, *chunk),
            )
        )
    return found


def _row(cache: Cache, testimony_id: str) -> None:
    cache.execute(
        "INSERT INTO ws_testimonies (id) VALUES (?) ON CONFLICT (id) DO NOTHING", (testimony_id,)
    )


_SUBMISSION_COLUMNS = (
    "idx",
    "received",
    "lang",
    "form",
    "witness",
    "summary",
    "cached",
    "said_start",
    "said_end",
    "place",
    "files",
)


def _place(statement: Mapping[str, Any]) -> str | None:
    """The first place the witness named: ``place/<id>`` for a village of the
    form, else the free text."""
    for item in reading.where(statement):
        if isinstance(item.get("id"), str):
            return f"place/{item['id']}"
        if isinstance(item.get("text"), str):
            return str(item["text"])
    return None


def _fold_submissions(fold: _Fold, records: Sequence[tuple[str, Any]]) -> int:
    rows: list[tuple[Any, ...]] = []
    tags: list[tuple[str, str, str]] = []
    for record_id, value in records:
        if not isinstance(value, dict) or not isinstance(value.get("statement"), dict):
            continue  # a submission the sync could not read (yet)
        statement = value["statement"]
        form = statement.get("form")
        lang = statement.get("lang")
        said_start, said_end = reading.when(statement)
        files = value.get("attachments")
        rows.append(
            (
                record_id,
                value.get("index"),
                value.get("received"),
                lang if isinstance(lang, str) else None,
                f"{form.get('id')}@{form.get('version')}" if isinstance(form, dict) else None,
                value.get("witness"),
                _summary(statement),
                1,
                said_start,
                said_end,
                _place(statement),
                len(files) if isinstance(files, list) else 0,
            )
        )
        tags.extend((record_id, tag, "witness") for tag in vocabulary.witness_tags(statement))
        fold.testimonies.add(record_id)
        fold.statements[record_id] = statement
        fold.folded.append(("submission", record_id))
    columns = ", ".join(_SUBMISSION_COLUMNS)
    insert_many(
        fold.cache,
        f"INTO ws_testimonies (id, {columns})",
        rows,
        "ON CONFLICT (id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in _SUBMISSION_COLUMNS),
    )
    insert_many(fold.cache, "OR IGNORE INTO ws_testimony_tags (testimony, tag, source)", tags)
    return len(rows)


def _fold_followups(fold: _Fold, records: Sequence[tuple[str, Any]]) -> int:
    cache = fold.cache
    rows = []
    for record_id, value in records:
        if not isinstance(value, dict) or not isinstance(value.get("parent"), str):
            continue
        rows.append((record_id, value["parent"], int(value.get("index") or 0)))
        fold.folded.append(("followup", record_id))
    insert_many(cache, "OR IGNORE INTO ws_followups (id, parent, idx)", rows)
    for parent in sorted({row[1] for row in rows}):
        _row(cache, parent)
        cache.execute(
            "UPDATE ws_testimonies SET followups = "
            "(SELECT count(*) FROM ws_followups WHERE parent = ?) WHERE id = ?",
            (parent, parent),
        )
        fold.testimonies.add(parent)
    return len(rows)


def _fold_reply_entries(fold: _Fold) -> int:
    cache = fold.cache
    after = _meta(cache, "entries")
    count = 0
    for idx, _entry_id, _type, data in cache.entries(["reply"], start=after + 1):
        try:
            entry = json.loads(data)
            parent, sealed = str(entry["parent"]), str(entry["sealed"])
        except (ValueError, KeyError, TypeError):
            continue
        _logged_reply(cache, idx, parent, sealed, entry.get("actor"))
        count += 1
    size = cache.log_size()
    if size:
        _set_meta(cache, "entries", size - 1)
    return count


def _logged_reply(cache: Cache, idx: int, parent: str, sealed: str, actor: str | None) -> None:
    cache.execute(
        "INSERT OR IGNORE INTO ws_replies_logged (idx, testimony, sealed, actor) VALUES (?, ?, ?, ?)",
        (idx, parent, sealed, actor),
    )
    _row(cache, parent)
    _count_replies(cache, parent)


def record_sent_reply(
    cache: Cache, receipt: Mapping[str, Any], parent: str, sealed: str, actor: str
) -> None:
    """Keep a signed ``reply`` entry the server has logged (its receipt) until
    sync brings it back from the log."""
    ensure_tables(cache)
    index = receipt.get("index")
    if type(index) is not int:
        raise WorkstationError("the server's receipt is malformed", "receipt-malformed")
    with cache.transaction():
        _logged_reply(cache, index, parent, sealed, actor)


def _count_replies(cache: Cache, testimony_id: str) -> None:
    cache.execute(
        "UPDATE ws_testimonies SET replies = (SELECT count(*) FROM ("
        " SELECT sealed FROM ws_replies_logged WHERE testimony = ?1 UNION"
        " SELECT json_extract(payload, '$.sealed') FROM ws_events"
        "  WHERE testimony = ?1 AND kind = 'reply')) WHERE id = ?1",
        (testimony_id,),
    )


def _fold_testimony_annotation(fold: _Fold, annotation: Annotation) -> None:
    payload = annotation.payload
    kind = payload["kind"]
    testimony_id = payload["testimony"]
    fold.events.append(
        (
            annotation.entry_id,
            annotation.index,
            testimony_id,
            kind,
            annotation.actor,
            annotation.received,
            json.dumps(payload, ensure_ascii=False, sort_keys=True),
        )
    )
    state = fold.states[testimony_id]
    state.updated_idx = annotation.index
    if kind == "state":
        state.state = payload["state"]
        state.state_idx = annotation.index
        state.duplicate_of = payload.get("duplicate_of")
        return
    if kind == "assign":
        state.assignee = payload["reviewer"]
        return
    fold.testimonies.add(testimony_id)
    if kind == "tag":
        state.tags.update(payload["tags"])
    elif kind == "untag":
        state.tags.difference_update(payload["tags"])
    elif kind == "note":
        state.notes += 1
    elif kind == "reply":
        fold.replies.add(testimony_id)


def _fold_annotation(fold: _Fold, annotation: Annotation) -> bool:
    try:
        payload = check_payload(annotation.payload)
    except AnnotationInvalid:
        return False
    kind = payload["kind"]
    if kind in TESTIMONY_KINDS:
        _fold_testimony_annotation(fold, annotation)
    elif kind in INCIDENT_KINDS:
        fold.incidents |= incident_records.apply(fold.cache, annotation)
    elif kind == "vocabulary":
        if not vocabulary.apply(fold.cache, annotation, fold.org()):
            return False
        # a new label is found by search: the documents tagged with it are indexed again
        fold.testimonies |= {
            str(r[0])
            for r in fold.cache.query(
                "SELECT testimony FROM ws_testimony_tags WHERE tag = ?", (payload["tag"],)
            )
        }
        fold.testimonies |= {i for i, s in fold.states.items() if payload["tag"] in s.tags}
    return True


def _reset_annotation_state(fold: _Fold) -> None:
    cache = fold.cache
    fold.testimonies |= {str(r[0]) for r in cache.query("SELECT DISTINCT testimony FROM ws_events")}
    fold.incidents |= {str(r[0]) for r in cache.query("SELECT id FROM ws_incidents")}
    cache.execute(
        "UPDATE ws_testimonies SET state = 'new', state_idx = NULL, duplicate_of = NULL, "
        "assignee = NULL, notes = 0, updated_idx = NULL"
    )
    cache.execute("DELETE FROM ws_testimony_tags WHERE source = 'reviewer'")
    cache.execute("DELETE FROM ws_events")
    cache.execute("DELETE FROM ws_folded WHERE kind = 'annotation'")
    incident_records.reset(cache)
    vocabulary.reset(cache)
    for (testimony_id,) in cache.query("SELECT id FROM ws_testimonies WHERE replies > 0"):
        _count_replies(cache, str(testimony_id))


_BULK = 200
"""Beyond this many documents to index again, their parts are read table by table."""


def _grouped(rows: Iterable[tuple[Any, ...]]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for key, value in rows:
        found.setdefault(str(key), []).append(value)
    return found


def _reindex(fold: _Fold, indexer: search.Indexer) -> int:
    cache = fold.cache
    labels = {t.id: list(t.labels.values()) for t in vocabulary.tags(cache)}
    dirty = sorted(fold.testimonies)
    tables = {
        "tags": "SELECT testimony, tag FROM ws_testimony_tags",
        "texts": "SELECT testimony, json_extract(payload, '$.text') FROM ws_events "
        "WHERE kind IN ('note', 'translation', 'reply')",
        "followups": "SELECT parent, id FROM ws_followups",
    }
    order = {"tags": "", "texts": " ORDER BY idx", "followups": " ORDER BY idx"}
    where = {
        "tags": " WHERE testimony = ?",
        "texts": " AND testimony = ?",
        "followups": " WHERE parent = ?",
    }
    everything = (
        {name: _grouped(cache.query(sql + order[name])) for name, sql in tables.items()}
        if len(dirty) > _BULK
        else None
    )

    def part(name: str, testimony_id: str) -> list[Any]:
        if everything is not None:
            return everything[name].get(testimony_id, [])
        sql = tables[name] + where[name] + order[name]
        return [row[1] for row in cache.query(sql, (testimony_id,))]

    count = 0
    for testimony_id in dirty:
        statement = fold.statements.get(testimony_id)
        if statement is None:
            record = cache.record("submission", testimony_id)
            statement = record.get("statement") if isinstance(record, dict) else None
        parts = [statement_text(statement)] if isinstance(statement, dict) else []
        for tag in sorted(set(part("tags", testimony_id))):
            parts.extend(labels.get(str(tag), []))
        for followup_id in part("followups", testimony_id):
            followup = cache.record("followup", str(followup_id))
            manifest = followup.get("manifest") if isinstance(followup, dict) else None
            if isinstance(manifest, dict) and isinstance(manifest.get("text"), str):
                parts.append(manifest["text"])
        parts.extend(str(text) for text in part("texts", testimony_id))
        indexer.index_document("testimony", testimony_id, "\n".join(parts))
        count += 1
    for incident_id in sorted(fold.incidents):
        try:
            record = incident_records.get(cache, incident_id)
        except incident_records.UnknownIncident:
            indexer.remove_document("incident", incident_id)
            continue
        indexer.index_document(
            "incident", incident_id, incident_records.search_text(record, labels)
        )
        count += 1
    indexer.flush()
    return count


def _new_annotations(cache: Cache) -> list[Annotation]:
    """Annotations not folded yet: synced records and those sent from here."""
    found: dict[str, Annotation] = {}
    for entry_id, value in _new_records(cache, "annotation"):
        annotation = from_record(entry_id, value)
        if annotation is not None:
            found[entry_id] = annotation
    for entry_id, value in cache.query(
        "SELECT p.entry_id, p.value FROM ws_pending_annotations p WHERE NOT EXISTS "
        "(SELECT 1 FROM ws_folded f WHERE f.kind = 'annotation' AND f.id = p.entry_id)"
    ):
        annotation = from_record(str(entry_id), json.loads(value))
        if annotation is not None:
            found.setdefault(str(entry_id), annotation)
    return sorted(found.values(), key=lambda a: a.index)


def refresh(cache: Cache) -> Refreshed:
    """Fold what sync (or this workstation) has added since the last refresh."""
    ensure_tables(cache)
    done = Refreshed()
    with cache.transaction():
        fold = _Fold(cache)
        done.submissions = _fold_submissions(fold, _new_records(cache, "submission"))
        done.followups = _fold_followups(fold, _new_records(cache, "followup"))
        done.replies = _fold_reply_entries(fold)
        new = _new_annotations(cache)
        if new:
            last = _meta(cache, "annotations")
            if new[0].index <= last:
                _reset_annotation_state(fold)
                new = logged_annotations(cache)
                done.rebuilt = True
            fold.load(
                a.payload["testimony"]
                for a in new
                if isinstance(a.payload, dict)
                and a.payload.get("kind") in TESTIMONY_KINDS
                and isinstance(a.payload.get("testimony"), str)
            )
            for annotation in new:
                if _fold_annotation(fold, annotation):
                    done.annotations += 1
                else:
                    done.skipped += 1
                fold.folded.append(("annotation", annotation.entry_id))
            fold.write()
            _set_meta(cache, "annotations", max(last, new[-1].index))
        # What sync has brought back from the log is kept there, not here.
        cache.execute(
            "DELETE FROM ws_pending_annotations WHERE EXISTS (SELECT 1 FROM records r "
            "WHERE r.kind = 'annotation' AND r.id = ws_pending_annotations.entry_id)"
        )
        insert_many(cache, "OR IGNORE INTO ws_folded (kind, id)", fold.folded)
        if fold.testimonies or fold.incidents:
            done.reindexed = _reindex(fold, search.Indexer(cache))
    return done


def rebuild(cache: Cache) -> Refreshed:
    """Forget every derived table and fold everything again (after an upgrade,
    or to check that the incremental fold agrees)."""
    ensure_tables(cache)
    with cache.transaction():
        for table in (
            "ws_testimonies",
            "ws_testimony_tags",
            "ws_followups",
            "ws_replies_logged",
            "ws_events",
            "ws_folded",
            "ws_triage_meta",
        ):
            cache.execute(f"DELETE FROM {table}")  # noqa: S608 - our own names
        incident_records.reset(cache)
        vocabulary.reset(cache)
        search.Indexer(cache).clear()
    return refresh(cache)


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Testimony:
    """One row of the triage list."""

    id: str
    index: int | None
    received: str | None
    lang: str | None
    form: str | None
    witness: str | None
    summary: str
    cached: bool
    state: str
    duplicate_of: str | None
    assignee: str | None
    followups: int
    notes: int
    replies: int
    tags: tuple[str, ...] = ()
    witness_tags: tuple[str, ...] = ()
    said_start: str | None = None
    """When the witness says it happened, as they gave it (a partial date or a range's start)."""
    said_end: str | None = None
    place: str | None = None
    """The first place the witness named: ``place/<id>`` or their own words."""
    files: int = 0
    """Attachments of the submission."""


_COLUMNS = (
    "t.id, t.idx, t.received, t.lang, t.form, t.witness, t.summary, t.cached, t.state, "
    "t.duplicate_of, t.assignee, t.followups, t.notes, t.replies, t.said_start, t.said_end, "
    "t.place, t.files"
)


def _testimony(row: Sequence[Any], tags: Mapping[str, list[tuple[str, str]]]) -> Testimony:
    found = tags.get(str(row[0]), [])
    return Testimony(
        id=str(row[0]),
        index=row[1],
        received=row[2],
        lang=row[3],
        form=row[4],
        witness=row[5],
        summary=str(row[6]),
        cached=bool(row[7]),
        state=str(row[8]),
        duplicate_of=row[9],
        assignee=row[10],
        followups=int(row[11]),
        notes=int(row[12]),
        replies=int(row[13]),
        tags=tuple(sorted(t for t, s in found if s == "reviewer")),
        witness_tags=tuple(sorted(t for t, s in found if s == "witness")),
        said_start=row[14],
        said_end=row[15],
        place=row[16],
        files=int(row[17] or 0),
    )


def _tags_of(cache: Cache, ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        for testimony_id, tag, source in cache.query(
            f"SELECT testimony, tag, source FROM ws_testimony_tags WHERE testimony IN ({marks})",  # noqa: S608
            chunk,
        ):
            found.setdefault(str(testimony_id), []).append((str(tag), str(source)))
    return found


@dataclass(frozen=True)
class Filters:
    """``review list``'s filters; every one given must hold (AND)."""

    states: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    """Tag ids: the reviewers' tags or the witness's own (a place tag matches the village chosen)."""
    incident: str | None = None
    """A canonical incident id: testimonies linked to it."""
    places: tuple[str, ...] = ()
    language: str | None = None
    since: str | None = None
    """``received`` on or after this date (YYYY-MM-DD)."""
    until: str | None = None
    """``received`` on or before this date."""
    assignee: str | None = None
    unassigned: bool = False
    """Only those assigned to nobody."""
    ids: tuple[str, ...] | None = None
    """Only these (a search's hits)."""


SORTS: Mapping[str, str] = {
    "newest": "t.idx IS NULL, t.idx DESC",
    "oldest": "t.idx IS NULL, t.idx ASC",
    "said": "t.said_start IS NULL, t.said_start ASC, t.said_end ASC, t.idx DESC",
    "state": (
        "CASE t.state WHEN 'new' THEN 0 WHEN 'in-review' THEN 1 WHEN 'needs-follow-up' THEN 2 "
        "WHEN 'corroborated' THEN 3 WHEN 'duplicate' THEN 4 WHEN 'rejected' THEN 5 ELSE 6 END, "
        "t.idx IS NULL, t.idx DESC"
    ),
}
"""The orders of :func:`testimonies`: newest received first (the default),
oldest first, by when the witness says it happened (earliest first, the
undated last) and by state (in the order of ``STATES``, newest first within)."""


def testimonies(
    cache: Cache,
    filters: Filters = Filters(),
    *,
    limit: int | None = None,
    offset: int = 0,
    sort: str = "newest",
) -> tuple[list[Testimony], int]:
    """The testimonies that pass ``filters`` in the order ``sort`` (one of
    :data:`SORTS`; newest first by default), at most ``limit`` after skipping
    ``offset``, and how many pass in all.

    The page is chosen on the indexes alone (the rowids of the rows that pass,
    in order: a covering index for the default order), and only its rows are
    then read from the table: a row read at random costs a page decrypted, so
    reading every row that passes to sort them would cost far more than the
    page. Lists of ids go in as one JSON parameter (``json_each``): binding
    thousands of parameters is slower than the query."""
    if sort not in SORTS:
        raise WorkstationError(f"an order is one of {', '.join(SORTS)}", "unknown-sort")
    where: list[str] = []
    params: list[Any] = []
    if filters.states:
        where.append(f"t.state IN ({','.join('?' for _ in filters.states)})")
        params.extend(filters.states)
    for tag in (*filters.tags, *filters.places):
        where.append("t.id IN (SELECT testimony FROM ws_testimony_tags WHERE tag = ?)")
        params.append(tag)
    if filters.incident is not None:
        where.append("t.id IN (SELECT testimony FROM ws_links WHERE incident = ?)")
        params.append(filters.incident)
    if filters.language is not None:
        where.append("t.lang = ?")
        params.append(filters.language)
    if filters.since is not None:
        where.append("t.received >= ?")
        params.append(filters.since)
    if filters.until is not None:
        where.append("t.received <= ?")
        params.append(filters.until + "\uffff")
    if filters.assignee is not None:
        where.append("t.assignee = ?")
        params.append(filters.assignee)
    if filters.unassigned:
        where.append("t.assignee IS NULL")
    if filters.ids is not None:
        if not filters.ids:
            return [], 0
        where.append("t.id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(filters.ids)))
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    total = int(cache.query(f"SELECT count(*) FROM ws_testimonies t{clause}", params)[0][0])  # noqa: S608
    page = "" if limit is None else f" LIMIT {min(int(limit), 1 << 62)}"
    offset = min(int(offset), 1 << 62)  # beyond every table, within SQLite's integers
    if offset > 0:
        page = (page or " LIMIT -1") + f" OFFSET {int(offset)}"
    chosen = [
        int(r[0])
        for r in cache.query(
            f"SELECT t.rowid FROM ws_testimonies t{clause} ORDER BY {SORTS[sort]}{page}",  # noqa: S608
            params,
        )
    ]
    read = {
        int(r[0]): r[1:]
        for r in cache.query(
            f"SELECT t.rowid, {_COLUMNS} FROM ws_testimonies t "  # noqa: S608
            "WHERE t.rowid IN (SELECT value FROM json_each(?))",
            (json.dumps(chosen),),
        )
    }
    rows = [read[rowid] for rowid in chosen if rowid in read]
    tags = _tags_of(cache, [str(r[0]) for r in rows])
    return [_testimony(row, tags) for row in rows], total


def find(cache: Cache, text: str) -> str:
    """The testimony a reviewer means: a submission id or a unique prefix of at least 6 digits."""
    return cache.id_with_prefix(
        "ws_testimonies", text, digits=64, minimum=6, what="testimony", error=UnknownTestimony
    )


def testimony(cache: Cache, testimony_id: str) -> Testimony:
    rows = cache.query(f"SELECT {_COLUMNS} FROM ws_testimonies t WHERE t.id = ?", (testimony_id,))  # noqa: S608
    if not rows:
        raise UnknownTestimony(f"no testimony {testimony_id} in this workstation's cache")
    return _testimony(rows[0], _tags_of(cache, [testimony_id]))


@dataclass(frozen=True)
class Event:
    """Something that happened to a testimony, in log order: an annotation
    (``kind`` its payload's), a follow-up (``followup``) or a reply entry
    logged without a recorded text (``reply-entry``)."""

    index: int
    kind: str
    actor: str | None
    received: str | None
    payload: dict[str, Any]
    sent: bool | None = None
    """For a ``reply``: whether the log holds its signed ``reply`` entry."""


def events(cache: Cache, testimony_id: str) -> list[Event]:
    """The testimony's history in log order: annotations, follow-ups, replies."""
    found: list[Event] = []
    logged = {
        str(sealed): (int(idx), actor)
        for idx, sealed, actor in cache.query(
            "SELECT idx, sealed, actor FROM ws_replies_logged WHERE testimony = ?", (testimony_id,)
        )
    }
    recorded = set()
    for idx, kind, actor, received, payload in cache.query(
        "SELECT idx, kind, actor, received, payload FROM ws_events WHERE testimony = ? ORDER BY idx",
        (testimony_id,),
    ):
        body = json.loads(payload)
        sent = None
        if kind == "reply":
            sent = body["sealed"] in logged
            recorded.add(body["sealed"])
        found.append(Event(int(idx), str(kind), str(actor), str(received), body, sent))
    for sealed, (idx, actor) in logged.items():
        if sealed not in recorded:
            found.append(Event(idx, "reply-entry", actor, None, {"sealed": sealed}, True))
    for followup_id, idx in cache.query(
        "SELECT id, idx FROM ws_followups WHERE parent = ?", (testimony_id,)
    ):
        record = cache.record("followup", str(followup_id))
        if isinstance(record, dict):
            found.append(
                Event(
                    int(idx),
                    "followup",
                    None,
                    record.get("received"),
                    {"id": followup_id, **record},
                )
            )
    return sorted(found, key=lambda e: e.index)
