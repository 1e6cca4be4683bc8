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
