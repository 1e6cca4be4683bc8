"""Tables derived from the log (PROTOCOL.md §9: "query tables are projections").

A :class:`Projection` turns newly appended entries into rows of its own table.
``LogStore.append_batch`` runs every projection in the append's transaction, so
a projection row exists exactly when its entry does; :func:`rebuild_projections`
empties the tables and replays the whole log through the same code, so a
projection is never a second source of truth.

Projections copy fields out of entries; they do not judge them. Which entries
are acceptable is decided by the domain before it appends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, delete, insert, select, tuple_, update
from sqlalchemy.orm import Session

from . import db
from .models import Blob, LogEntry, Submission

__all__ = [
    "DEFAULT_PROJECTIONS",
    "AppendedEntry",
    "Projection",
    "SubmissionProjection",
    "rebuild_projections",
]

_REBUILD_CHUNK = 5_000


@dataclass(frozen=True)
class AppendedEntry:
    """An entry as it was appended: index, leaf hash and exact bytes."""

    idx: int
    entry_id: bytes
    entry: bytes


class Projection(Protocol):
    """Derives rows from log entries; must be deterministic in the entries alone."""

    def reset(self, connection: Connection) -> None:
        """Forget everything derived so far (before a replay of the whole log)."""
        ...

    def project(self, connection: Connection, entries: Sequence[AppendedEntry]) -> None:
        """Derive rows from ``entries`` (consecutive, in log order) in ``connection``'s transaction."""
        ...


def _parse(entry: AppendedEntry) -> dict[str, Any] | None:
    try:
        value = json.loads(entry.entry)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _text_field(obj: dict[str, Any], name: str, idx: int, *, nullable: bool = False) -> str | None:
    value = obj.get(name)
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise ValueError(f"submission entry at index {idx} has no text field {name!r}")
    return value


class SubmissionProjection:
    """``submissions`` rows from ``submission`` entries; marks their blobs referenced.

    The first entry with a given (intake_key, header, body) wins: a later entry
    with the same content (the same request logged again in another hour) gets
    no row, so the unique key always leads back to the first receipt.
    """

    def reset(self, connection: Connection) -> None:
        """Delete every submission row and clear every blob's ``referenced`` flag."""
        connection.execute(delete(Submission))
        connection.execute(update(Blob).values(referenced=False))

    def project(self, connection: Connection, entries: Sequence[AppendedEntry]) -> None:
        """Insert the rows of the ``submission`` entries among ``entries``.

        Raises ``ValueError`` if a submission entry lacks a field the table needs.
        """
        rows: list[dict[str, Any]] = []
        blob_ids: set[str] = set()
        for item in entries:
            obj = _parse(item)
            if obj is None or obj.get("type") != "submission":
                continue
            rows.append(
                {
                    "id": item.entry_id.hex(),
                    "idx": item.idx,
                    "intake_key": _text_field(obj, "intake_key", item.idx),
                    "header_sha256": _text_field(obj, "header", item.idx),
                    "body_sha256": _text_field(obj, "body", item.idx),
                    "witness": _text_field(obj, "witness", item.idx, nullable=True),
                    "witness_box_sha256": _text_field(obj, "witness_box", item.idx, nullable=True),
                }
            )
            attachments = obj.get("attachments") or []
            if not isinstance(attachments, list):
                raise ValueError(f"submission entry at index {item.idx} has bad attachments")
            blob_ids.update(blob for blob in attachments if isinstance(blob, str))
        if not rows:
            return

        def content_key(row: dict[str, Any]) -> tuple[str, str, str]:
            return (row["intake_key"], row["header_sha256"], row["body_sha256"])

        columns = (Submission.intake_key, Submission.header_sha256, Submission.body_sha256)
        wanted = sorted({content_key(row) for row in rows})
        seen = {
            (key[0], key[1], key[2])
            for key in connection.execute(select(*columns).where(tuple_(*columns).in_(wanted)))
        }
        fresh: list[dict[str, Any]] = []
        for row in rows:
            key = content_key(row)
            if key not in seen:
                seen.add(key)
                fresh.append(row)
        if fresh:
            connection.execute(insert(Submission), fresh)
        if blob_ids:
            connection.execute(
                update(Blob).where(Blob.id.in_(sorted(blob_ids))).values(referenced=True)
            )


DEFAULT_PROJECTIONS: tuple[Projection, ...] = (SubmissionProjection(),)
"""The projections ``LogStore`` maintains unless told otherwise."""


def rebuild_projections(
    session: Session, projections: Sequence[Projection] = DEFAULT_PROJECTIONS
) -> int:
    """Empty every projection and replay the whole log through it; returns the entries read.

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
