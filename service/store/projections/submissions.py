"""``submissions``: one row per distinct submission, from ``submission`` entries
(docs/protocol.md §3, §9), and the ``referenced`` flag of the blobs they name.

It is also the log's dedup index of :class:`SubmissionKey`: an append item
carrying one resolves to the entry that first logged that content.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, delete, select, update

from testimony.crypto.encoding import b64u_encode
from testimony.crypto.entries import SubmissionEntry

from .. import db
from ..models import Blob, Submission
from .base import IN_CHUNK, AppendedEntry, entries_of, mark_referenced

__all__ = [
    "SealedRow",
    "StoredSubmission",
    "SubmissionKey",
    "SubmissionProjection",
    "SubmissionTable",
]


class SubmissionKey(NamedTuple):
    """What identifies a submission (docs/protocol.md §3: "identified by its content")."""

    intake_key: str
    header_sha256: str
    body_sha256: str


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
    for start in range(0, len(wanted), IN_CHUNK):
        part = wanted[start : start + IN_CHUNK]
        params: dict[str, str] = {}
        for n, key in enumerate(part):
            params[f"k{n}"], params[f"h{n}"], params[f"b{n}"] = key
        for intake_key, header, body, idx in _select_submissions_statement(len(part)).rows(
            connection, params
        ):
            found[SubmissionKey(intake_key, header, body)] = int(idx)
    return found


# Every append runs it (db.Statement: on the driver's cursor). The first
# entry with a content key wins: a later one with the same key gets no row.
_INSERT_SUBMISSION = db.Statement(
    "INSERT INTO submissions"
    " (id, idx, intake_key, header_sha256, body_sha256, witness, witness_box_sha256)"
    " VALUES (:id, :idx, :intake_key, :header_sha256, :body_sha256, :witness,"
    " :witness_box_sha256)"
    " ON CONFLICT (intake_key, header_sha256, body_sha256) DO NOTHING"
)


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

        Raises ``ValueError`` for a malformed entry (``AppendedEntry.parsed``).
        """
        rows: list[dict[str, Any]] = []
        blob_ids: set[str] = set()
        for item, entry in entries_of(entries, SubmissionEntry):
            witness = entry.witness
            rows.append(
                {
                    "id": item.entry_id.hex(),
                    "idx": item.idx,
                    "intake_key": entry.intake_key,
                    "header_sha256": entry.header,
                    "body_sha256": entry.body,
                    "witness": None if witness is None else b64u_encode(witness),
                    "witness_box_sha256": entry.witness_box,
                }
            )
            blob_ids.update(entry.kept_blobs())
        if not rows:
            return
        _INSERT_SUBMISSION.execute_many(connection, rows)
        mark_referenced(connection, blob_ids)

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


@dataclass(frozen=True)
class StoredSubmission:
    """A logged submission: its id, index and witness key (b64u, or None)."""

    id: str
    idx: int
    witness: str | None


@dataclass(frozen=True)
class SealedRow:
    """A logged submission as a ciphertext answer reads it: its entry's bytes,
    and the ciphertexts kept inline (``inline_blobs``) that the entry names."""

    id: str
    idx: int
    entry: bytes
    header: bytes | None
    """The header's bytes, None when no inline row holds them (a blob file)."""
    body_size: int | None
    """The body's size, None when no inline row holds it (a blob file)."""
    witness_box: bytes | None
    """The witness's box key, None without one or when no inline row holds it."""


@functools.lru_cache(maxsize=16)
def _select_sealed_statement(count: int) -> db.Statement:
    # One query for a whole ciphertext request: the submissions' rows, their
    # entries and the inline rows of their headers, bodies (only the size:
    # SQLite's length() of a blob column does not read it) and witness box keys.
    ids = ", ".join(f":i{n}" for n in range(count))
    # Only integers and fixed text are interpolated; values are bound parameters.
    return db.Statement(
        "SELECT s.id, s.idx, l.entry, h.data, length(b.data), w.data"  # noqa: S608
        " FROM submissions s JOIN log_entries l ON l.idx = s.idx"
        " LEFT JOIN inline_blobs h ON h.id = s.header_sha256"
        " LEFT JOIN inline_blobs b ON b.id = s.body_sha256"
        " LEFT JOIN inline_blobs w ON w.id = s.witness_box_sha256"
        f" WHERE s.id IN ({ids})"
    )


@functools.lru_cache(maxsize=16)
def _select_bodies_statement(count: int) -> db.Statement:
    ids = ", ".join(f":i{n}" for n in range(count))
    # Only integers and fixed text are interpolated; values are bound parameters.
    return db.Statement(
        "SELECT s.id, b.data FROM submissions s"  # noqa: S608
        f" JOIN inline_blobs b ON b.id = s.body_sha256 WHERE s.id IN ({ids})"
    )


def _chunks(ids: Collection[str]) -> list[dict[str, str]]:
    wanted = sorted(set(ids))
    return [
        {f"i{n}": value for n, value in enumerate(wanted[start : start + IN_CHUNK])}
        for start in range(0, len(wanted), IN_CHUNK)
    ]


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

    def sealed(self, submission_ids: Collection[str]) -> dict[str, SealedRow]:
        """The submissions among ``submission_ids`` (hex entry ids), each with
        its entry and the inline ciphertexts it names (:class:`SealedRow`),
        in one query for up to ``IN_CHUNK`` ids; ids of no submission are absent."""
        found: dict[str, SealedRow] = {}
        with self._reads.connect() as connection:
            for params in _chunks(submission_ids):
                for row in _select_sealed_statement(len(params)).rows(connection, params):
                    found[str(row[0])] = SealedRow(
                        id=str(row[0]),
                        idx=int(row[1]),
                        entry=bytes(row[2]),
                        header=None if row[3] is None else bytes(row[3]),
                        body_size=None if row[4] is None else int(row[4]),
                        witness_box=None if row[5] is None else bytes(row[5]),
                    )
        return found

    def inline_bodies(self, submission_ids: Collection[str]) -> dict[str, bytes]:
        """The bodies kept inline of the submissions among ``submission_ids``,
        by submission id (those kept as blob files, or of no submission, are absent)."""
        found: dict[str, bytes] = {}
        with self._reads.connect() as connection:
            for params in _chunks(submission_ids):
                for submission_id, data in _select_bodies_statement(len(params)).rows(
                    connection, params
                ):
                    found[str(submission_id)] = bytes(data)
        return found

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
