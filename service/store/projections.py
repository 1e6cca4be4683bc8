"""Tables derived from the log (docs/protocol.md §9: "query tables are projections").

A :class:`Projection` turns newly appended entries into rows of its own table.
``LogStore.append_batch`` runs every projection in the append's transaction, so
a projection row exists exactly when its entry does; :func:`rebuild_projections`
empties the tables and replays the whole log through the same code, so a
projection is never a second source of truth.

- :class:`SubmissionProjection`: ``submissions`` (one row per distinct
  content, the first entry winning) and the ``referenced`` flag of every blob a
  submission names: header, body and attachments, so none of them expires.
  It is also the log's dedup index (:class:`DedupIndex`): an append item
  carrying a :class:`SubmissionKey` resolves to the entry that first logged it.
- :class:`IntakeKeyProjection`: ``intake_keys``, from ``intake-key`` entries
  (``docs/log-entries.md``).
- :class:`FollowupProjection`: ``followups`` (one row per distinct content,
  the first entry winning) from ``followup`` entries, and the ``referenced``
  flag of their header, body and attachment blobs; the dedup index of
  :class:`FollowupKey`.
- :class:`ReplyProjection`: ``replies`` from ``reply`` entries, and the
  ``referenced`` flag of each sealed reply's blob.

:class:`SubmissionTable`, :class:`IntakeKeyTable`, :class:`FollowupTable` and
:class:`ReplyTable` are the reads the domain needs from them.

Projections copy fields out of entries; they do not judge them. Which entries
are acceptable is decided by the domain before it appends.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from sqlalchemy import (
    Connection,
    Engine,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from testimony.crypto import hpke
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.errors import MalformedInput

from . import db
from .models import Blob, Followup, IntakeKey, LogEntry, Reply, Submission

__all__ = [
    "DEFAULT_DEDUP_INDEX",
    "DEFAULT_PROJECTIONS",
    "AppendedEntry",
    "DedupIndex",
    "DedupIndexes",
    "FollowupKey",
    "FollowupProjection",
    "FollowupTable",
    "IntakeKeyProjection",
    "IntakeKeyTable",
    "Projection",
    "ReplyProjection",
    "ReplyTable",
    "StoredIntakeKey",
    "StoredReply",
    "StoredSubmission",
    "SubmissionKey",
    "SubmissionProjection",
    "SubmissionTable",
    "rebuild_projections",
]

_REBUILD_CHUNK = 5_000
_IN_CHUNK = 300  # content keys per IN (...) list: 3 parameters each


@dataclass(frozen=True)
class AppendedEntry:
    """An entry as it was appended: index, leaf hash and exact bytes."""

    idx: int
    entry_id: bytes
    entry: bytes

    @functools.cached_property
    def fields(self) -> dict[str, Any] | None:
        """The entry's JSON object, or None if it is not one (parsed once for
        every projection)."""
        try:
            value = json.loads(self.entry)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        return value if isinstance(value, dict) else None


class Projection(Protocol):
    """Derives rows from log entries; must be deterministic in the entries alone."""

    def reset(self, connection: Connection) -> None:
        """Forget everything derived so far (before a replay of the whole log)."""
        ...

    def project(self, connection: Connection, entries: Sequence[AppendedEntry]) -> None:
        """Derive rows from ``entries`` (consecutive, in log order) in ``connection``'s transaction."""
        ...


class DedupIndex(Protocol):
    """Finds logged entries by a content key (``LogStore.append_batch``'s dedup hook)."""

    def find(self, connection: Connection, keys: Collection[Hashable]) -> dict[Hashable, int]:
        """The index of the entry that first logged each of ``keys`` that is logged.

        Keys of a kind this index does not know are not found.
        """
        ...


class SubmissionKey(NamedTuple):
    """What identifies a submission (docs/protocol.md §3: "identified by its content")."""

    intake_key: str
    header_sha256: str
    body_sha256: str


def _text_field(obj: dict[str, Any], name: str, idx: int, *, nullable: bool = False) -> str | None:
    value = obj.get(name)
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{obj.get('type')} entry at index {idx} has no text field {name!r}")
    return value


@functools.lru_cache(maxsize=64)
def _select_submissions_statement(count: int) -> db.Statement:
    # An OR of equalities on the unique key rather than "(a, b, c) IN (...)":
    # SQLite answers a row-value IN list with a full scan of the table, an OR
    # with one index seek per key (PostgreSQL with a BitmapOr of index scans).
    where = " OR ".join(
        f"(intake_key = :k{n} AND header_sha256 = :h{n} AND body_sha256 = :b{n})"
        for n in range(count)
    )
    # Only integers and fixed text are interpolated; values are bound parameters.
    columns = "intake_key, header_sha256, body_sha256, idx"
    return db.Statement(f"SELECT {columns} FROM submissions WHERE {where}")  # noqa: S608


def _submission_indexes(
    connection: Connection, keys: Collection[SubmissionKey]
) -> dict[SubmissionKey, int]:
    wanted = sorted(set(keys))
    found: dict[SubmissionKey, int] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        part = wanted[start : start + _IN_CHUNK]
        params: dict[str, str] = {}
        for n, key in enumerate(part):
            params[f"k{n}"], params[f"h{n}"], params[f"b{n}"] = key
        for intake_key, header, body, idx in _select_submissions_statement(len(part)).rows(
            connection, params
        ):
            found[SubmissionKey(intake_key, header, body)] = int(idx)
    return found


# Every append runs them (db.Statement: on the driver's cursor). The first
# entry with a content key wins: a later one with the same key gets no row.
_INSERT_SUBMISSION = db.Statement(
    "INSERT INTO submissions"
    " (id, idx, intake_key, header_sha256, body_sha256, witness, witness_box_sha256)"
    " VALUES (:id, :idx, :intake_key, :header_sha256, :body_sha256, :witness,"
    " :witness_box_sha256)"
    " ON CONFLICT (intake_key, header_sha256, body_sha256) DO NOTHING"
)


@functools.lru_cache(maxsize=64)
def _mark_referenced_statement(count: int) -> db.Statement:
    marks = ", ".join(f":b{n}" for n in range(count))
    # Only integers and fixed text are interpolated; values are bound parameters.
    return db.Statement(
        f"UPDATE blobs SET referenced = :yes WHERE id IN ({marks}) AND NOT referenced"  # noqa: S608
    )


def _mark_referenced(connection: Connection, blob_ids: Collection[str]) -> None:
    ordered = sorted(blob_ids)
    for start in range(0, len(ordered), _IN_CHUNK):
        part = ordered[start : start + _IN_CHUNK]
        params: dict[str, Any] = {f"b{n}": blob_id for n, blob_id in enumerate(part)}
        params["yes"] = True
        _mark_referenced_statement(len(part)).run(connection, params)


class SubmissionProjection:
    """``submissions`` rows from ``submission`` entries; marks their blobs referenced.

    Every blob a submission entry names is marked: the header, the body and
    each attachment. The first entry with a given :class:`SubmissionKey` wins:
    a later entry with the same content (logged again in another hour, before
    appends were deduplicated by content) gets no row, so the key always leads
    back to the first receipt.
    """

    def reset(self, connection: Connection) -> None:
        """Delete every submission row and clear every blob's ``referenced`` flag."""
        connection.execute(delete(Submission))
        connection.execute(update(Blob).values(referenced=False))

    def project(self, connection: Connection, entries: Sequence[AppendedEntry]) -> None:
        """Insert the rows of the ``submission`` entries among ``entries``; mark their blobs.

        Raises ``ValueError`` if a submission entry lacks a field the table needs.
        """
        rows: list[dict[str, Any]] = []
        blob_ids: set[str] = set()
        for item in entries:
            obj = item.fields
            if obj is None or obj.get("type") != "submission":
                continue
            row: dict[str, Any] = {
                "id": item.entry_id.hex(),
                "idx": item.idx,
                "intake_key": _text_field(obj, "intake_key", item.idx),
                "header_sha256": _text_field(obj, "header", item.idx),
                "body_sha256": _text_field(obj, "body", item.idx),
                "witness": _text_field(obj, "witness", item.idx, nullable=True),
                "witness_box_sha256": _text_field(obj, "witness_box", item.idx, nullable=True),
            }
            rows.append(row)
            attachments = obj.get("attachments") or []
            if not isinstance(attachments, list):
                raise ValueError(f"submission entry at index {item.idx} has bad attachments")
            blob_ids.update((row["header_sha256"], row["body_sha256"]))
            blob_ids.update(blob for blob in attachments if isinstance(blob, str))
        if not rows:
            return
        _INSERT_SUBMISSION.execute_many(connection, rows)
        _mark_referenced(connection, blob_ids)

    def find(self, connection: Connection, keys: Collection[Hashable]) -> dict[Hashable, int]:
        """The index of the first entry of each :class:`SubmissionKey` among ``keys``.

        Other keys are not found.
        """
        wanted = [key for key in keys if isinstance(key, SubmissionKey)]
        found: dict[Hashable, int] = {}
        if wanted:
            for key, index in _submission_indexes(connection, wanted).items():
                found[key] = index
        return found


class IntakeKeyProjection:
    """``intake_keys`` rows from ``intake-key`` entries (``docs/log-entries.md``).

    The first entry naming a key id wins; a later one naming it again adds no row.
    """

    def reset(self, connection: Connection) -> None:
        """Delete every intake-key row."""
        connection.execute(delete(IntakeKey))

    def project(self, connection: Connection, entries: Sequence[AppendedEntry]) -> None:
        """Insert a row for each key an ``intake-key`` entry among ``entries`` names first.

        Raises ``ValueError`` for an intake-key entry whose ``key`` is not the
        b64u S1 public key that ``key_id`` names (docs/protocol.md §1).
        """
        rows: dict[str, dict[str, Any]] = {}
        for item in entries:
            obj = item.fields
            if obj is None or obj.get("type") != "intake-key":
                continue
            key_text = _text_field(obj, "key", item.idx)
            key_id = _text_field(obj, "key_id", item.idx)
            try:
                public = b64u_decode(key_text or "")
                matches = hpke.key_id(public) == key_id
            except MalformedInput:
                matches = False
            if not matches or key_id is None:
                raise ValueError(
                    f"intake-key entry at index {item.idx}: `key` is not the S1 key `key_id` names"
                )
            rows.setdefault(key_id, {"key_id": key_id, "public_key": public, "idx": item.idx})
        if not rows:
            return
        known = set(
            connection.execute(
                select(IntakeKey.key_id).where(IntakeKey.key_id.in_(sorted(rows)))
            ).scalars()
        )
        fresh = [row for key_id, row in rows.items() if key_id not in known]
        if fresh:
            connection.execute(insert(IntakeKey), fresh)


class FollowupKey(NamedTuple):
    """What identifies a follow-up: its parent and the content a submission is known by."""

    parent: str
    intake_key: str
    header_sha256: str
    body_sha256: str


def _followup_indexes(
    connection: Connection, keys: Collection[FollowupKey]
) -> dict[FollowupKey, int]:
    found: dict[FollowupKey, int] = {}
    # Follow-ups are few per request; one indexed lookup per key.
    for key in sorted(set(keys)):
        idx = connection.execute(
            select(Followup.idx).where(
                Followup.parent == key.parent,
                Followup.intake_key == key.intake_key,
                Followup.header_sha256 == key.header_sha256,
                Followup.body_sha256 == key.body_sha256,
            )
        ).scalar_one_or_none()
        if idx is not None:
            found[key] = int(idx)
    return found


class FollowupProjection:
    """``followups`` rows from ``followup`` entries; marks their blobs referenced.

    The first entry with a given :class:`FollowupKey` wins, as for submissions.
    """

    def reset(self, connection: Connection) -> None:
        """Delete every follow-up row (``SubmissionProjection.reset`` clears the flags)."""
        connection.execute(delete(Followup))

    def project(self, connection: Connection, entries: Sequence[AppendedEntry]) -> None:
        """Insert the rows of the ``followup`` entries among ``entries``; mark their blobs.

        Raises ``ValueError`` if a follow-up entry lacks a field the table needs.
        """
        rows: dict[FollowupKey, dict[str, Any]] = {}
        blob_ids: set[str] = set()
        for item in entries:
            obj = item.fields
            if obj is None or obj.get("type") != "followup":
                continue
            key = FollowupKey(
                str(_text_field(obj, "parent", item.idx)),
                str(_text_field(obj, "intake_key", item.idx)),
                str(_text_field(obj, "header", item.idx)),
                str(_text_field(obj, "body", item.idx)),
            )
            rows.setdefault(key, {"id": item.entry_id.hex(), "idx": item.idx, **key._asdict()})
            attachments = obj.get("attachments") or []
            if not isinstance(attachments, list):
                raise ValueError(f"followup entry at index {item.idx} has bad attachments")
            blob_ids.update((key.header_sha256, key.body_sha256))
            blob_ids.update(blob for blob in attachments if isinstance(blob, str))
        if not rows:
            return
        known = _followup_indexes(connection, list(rows))
        fresh = [row for key, row in rows.items() if key not in known]
        if fresh:
            connection.execute(insert(Followup), fresh)
        _mark_referenced(connection, blob_ids)

    def find(self, connection: Connection, keys: Collection[Hashable]) -> dict[Hashable, int]:
        """The index of the first entry of each :class:`FollowupKey` among ``keys``."""
        wanted = [key for key in keys if isinstance(key, FollowupKey)]
        found: dict[Hashable, int] = {}
        if wanted:
            for key, index in _followup_indexes(connection, wanted).items():
                found[key] = index
        return found


class ReplyProjection:
    """``replies`` rows from ``reply`` entries; marks each sealed reply's blob referenced."""

    def reset(self, connection: Connection) -> None:
        """Delete every reply row (``SubmissionProjection.reset`` clears the flags)."""
        connection.execute(delete(Reply))

    def project(self, connection: Connection, entries: Sequence[AppendedEntry]) -> None:
        """Insert a row per ``reply`` entry among ``entries``; mark its blob.

        Raises ``ValueError`` if a reply entry lacks ``parent`` or ``sealed``.
        """
        rows: list[dict[str, Any]] = []
        for item in entries:
            obj = item.fields
            if obj is None or obj.get("type") != "reply":
                continue
            rows.append(
                {
                    "id": item.entry_id.hex(),
                    "idx": item.idx,
                    "parent": _text_field(obj, "parent", item.idx),
                    "sealed_sha256": _text_field(obj, "sealed", item.idx),
                }
            )
        if rows:
            connection.execute(insert(Reply), rows)
            _mark_referenced(connection, {str(row["sealed_sha256"]) for row in rows})


class DedupIndexes:
    """Several dedup indexes as one: each finds the keys of its own kind."""

    def __init__(self, *indexes: DedupIndex) -> None:
        self._indexes = indexes

    def find(self, connection: Connection, keys: Collection[Hashable]) -> dict[Hashable, int]:
        """The union of what each index finds."""
        found: dict[Hashable, int] = {}
        for index in self._indexes:
            found.update(index.find(connection, keys))
        return found


_SUBMISSIONS = SubmissionProjection()
_FOLLOWUPS = FollowupProjection()

DEFAULT_PROJECTIONS: tuple[Projection, ...] = (
    _SUBMISSIONS,
    IntakeKeyProjection(),
    _FOLLOWUPS,
    ReplyProjection(),
)
"""The projections ``LogStore`` maintains unless told otherwise."""

DEFAULT_DEDUP_INDEX: DedupIndex = DedupIndexes(_SUBMISSIONS, _FOLLOWUPS)
"""The dedup index ``LogStore`` asks unless told otherwise: submissions and follow-ups."""


# --- reads ---------------------------------------------------------------------------


class SubmissionTable:
    """Reads of the ``submissions`` projection."""

    def __init__(self, engine: Engine) -> None:
        self._reads = db.read_engine(engine)

    def first_index(self, key: SubmissionKey) -> int | None:
        """The index of the entry that first logged a submission with ``key``, or None."""
        with self._reads.connect() as connection:
            return _submission_indexes(connection, [key]).get(key)

    def by_id(self, submission_id: str) -> StoredSubmission | None:
        """The submission whose entry id is ``submission_id`` (hex), or None."""
        with self._reads.connect() as connection:
            row = connection.execute(
                select(Submission.idx, Submission.witness).where(Submission.id == submission_id)
            ).one_or_none()
        if row is None:
            return None
        return StoredSubmission(id=submission_id, idx=int(row.idx), witness=row.witness)

    def ids_of_witness(self, witness: str) -> list[str]:
        """The ids of the submissions carrying witness key ``witness`` (b64u), in log order."""
        with self._reads.connect() as connection:
            return list(
                connection.execute(
                    select(Submission.id)
                    .where(Submission.witness == witness)
                    .order_by(Submission.idx)
                ).scalars()
            )


@dataclass(frozen=True)
class StoredSubmission:
    """A logged submission: its id, index and witness key (b64u, or None)."""

    id: str
    idx: int
    witness: str | None


class FollowupTable:
    """Reads of the ``followups`` projection."""

    def __init__(self, engine: Engine) -> None:
        self._reads = db.read_engine(engine)

    def first_index(self, key: FollowupKey) -> int | None:
        """The index of the entry that first logged a follow-up with ``key``, or None."""
        with self._reads.connect() as connection:
            return _followup_indexes(connection, [key]).get(key)


@dataclass(frozen=True)
class StoredReply:
    """A logged reply: its entry id, its parent submission and the blob of its sealed bytes."""

    id: str
    parent: str
    sealed_sha256: str


class ReplyTable:
    """Reads of the ``replies`` projection."""

    def __init__(self, engine: Engine) -> None:
        self._reads = db.read_engine(engine)

    def of_parents(self, parents: Sequence[str]) -> list[StoredReply]:
        """The replies to any of ``parents`` (submission ids), in log order."""
        found: list[tuple[int, StoredReply]] = []
        with self._reads.connect() as connection:
            for start in range(0, len(parents), _IN_CHUNK):
                rows = connection.execute(
                    select(Reply.idx, Reply.id, Reply.parent, Reply.sealed_sha256).where(
                        Reply.parent.in_(list(parents[start : start + _IN_CHUNK]))
                    )
                )
                found.extend(
                    (int(row.idx), StoredReply(row.id, row.parent, row.sealed_sha256))
                    for row in rows
                )
        return [reply for _, reply in sorted(found, key=lambda pair: pair[0])]


@dataclass(frozen=True)
class StoredIntakeKey:
    """An intake key the log names: key id, S1 public key, index of its entry."""

    key_id: str
    public_key: bytes
    idx: int


class IntakeKeyTable:
    """Reads of the ``intake_keys`` projection."""

    def __init__(self, engine: Engine) -> None:
        self._reads = db.read_engine(engine)

    def get(self, key_id: str) -> StoredIntakeKey | None:
        """The intake key with id ``key_id``, or None if no entry names it."""
        with self._reads.connect() as connection:
            row = connection.execute(
                select(IntakeKey.public_key, IntakeKey.idx).where(IntakeKey.key_id == key_id)
            ).one_or_none()
        if row is None:
            return None
        return StoredIntakeKey(key_id=key_id, public_key=bytes(row.public_key), idx=int(row.idx))

    def all(self) -> list[StoredIntakeKey]:
        """Every intake key, in the order the log introduced them."""
        with self._reads.connect() as connection:
            rows = connection.execute(
                select(IntakeKey.key_id, IntakeKey.public_key, IntakeKey.idx).order_by(
                    IntakeKey.idx
                )
            ).all()
        return [
            StoredIntakeKey(key_id=row.key_id, public_key=bytes(row.public_key), idx=int(row.idx))
            for row in rows
        ]


def rebuild_projections(
    session: Session,
    projections: Sequence[Projection] = DEFAULT_PROJECTIONS,
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Empty every projection and replay the whole log through it; returns the entries read.

    ``progress``, if given, is called with the entries replayed so far after
    each chunk.

    Runs in ``session``'s transaction (the caller commits). Appends must not
    interleave: on PostgreSQL this takes the log's writer lock itself; on
    SQLite pass a session from ``db.writer_session`` (``BEGIN IMMEDIATE``).
    Raises ``ValueError`` as a projection does for an entry it cannot read.
    """
    connection = session.connection()
    db.lock_log_writer(connection)
    for projection in projections:
        projection.reset(connection)
    count = 0
    after = -1
    while True:
        chunk = [
            AppendedEntry(idx=row.idx, entry_id=row.entry_id, entry=row.entry)
            for row in connection.execute(
                select(LogEntry.idx, LogEntry.entry_id, LogEntry.entry)
                .where(LogEntry.idx > after)
                .order_by(LogEntry.idx)
                .limit(_REBUILD_CHUNK)
            )
        ]
        if not chunk:
            return count
        for projection in projections:
            projection.project(connection, chunk)
        count += len(chunk)
        after = chunk[-1].idx
        if progress is not None:
            progress(count)
