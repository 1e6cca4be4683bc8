"""``replies``: one row per ``reply`` entry (docs/protocol.md §7, §12.7;
docs/log-entries.md), and the ``referenced`` flag of each sealed reply's blob.

Both forms are read: the unsigned one the server logs today and the signed one
of §12.7 a reviewer's workstation will send.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select

from testimony.crypto.entries import ReplyEntry, SignedReplyEntry

from .. import db
from ..models import Reply
from .base import IN_CHUNK, AppendedEntry, mark_referenced

__all__ = ["ReplyProjection", "ReplyTable", "StoredReply"]


class ReplyProjection:
    """``replies`` rows from ``reply`` entries; marks each sealed reply's blob referenced."""

    def reset(self, connection: Connection) -> None:
        """Delete every reply row (``SubmissionProjection.reset`` clears the flags)."""
        connection.execute(delete(Reply))

    def project(self, connection: Connection, entries: Sequence[AppendedEntry]) -> None:
        """Insert a row per ``reply`` entry among ``entries``; mark its blob.

        Raises ``ValueError`` for a malformed entry (``AppendedEntry.parsed``).
        """
        rows: list[dict[str, Any]] = []
        for item in entries:
            entry = item.parsed
            if isinstance(entry, ReplyEntry | SignedReplyEntry):
                rows.append(
                    {
                        "id": item.entry_id.hex(),
                        "idx": item.idx,
                        "parent": entry.parent,
                        "sealed_sha256": entry.sealed,
                    }
                )
        if rows:
            connection.execute(insert(Reply), rows)
            mark_referenced(connection, {str(row["sealed_sha256"]) for row in rows})


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
            for start in range(0, len(parents), IN_CHUNK):
                rows = connection.execute(
                    select(Reply.idx, Reply.id, Reply.parent, Reply.sealed_sha256).where(
                        Reply.parent.in_(list(parents[start : start + IN_CHUNK]))
                    )
                )
                found.extend(
                    (int(row.idx), StoredReply(row.id, row.parent, row.sealed_sha256))
                    for row in rows
                )
        return [reply for _, reply in sorted(found, key=lambda pair: pair[0])]
