"""``followups``: one row per distinct follow-up, from ``followup`` entries
(docs/protocol.md §7; docs/log-entries.md), and the ``referenced`` flag of the
blobs they name; the log's dedup index of :class:`FollowupKey`.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, delete, insert, select

from testimony.crypto.entries import FollowupEntry

from .. import db
from ..models import Followup
from .base import IN_CHUNK, AppendedEntry, entries_of, mark_referenced

__all__ = ["FollowupKey", "FollowupProjection", "FollowupTable"]


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

        Raises ``ValueError`` for a malformed entry (``AppendedEntry.parsed``).
        """
        rows: dict[FollowupKey, dict[str, Any]] = {}
        blob_ids: set[str] = set()
        for item, entry in entries_of(entries, FollowupEntry):
            key = FollowupKey(entry.parent, entry.intake_key, entry.header, entry.body)
            rows.setdefault(key, {"id": item.entry_id.hex(), "idx": item.idx, **key._asdict()})
            blob_ids.update(entry.kept_blobs())
        if not rows:
            return
        known = _followup_indexes(connection, list(rows))
        fresh = [row for key, row in rows.items() if key not in known]
        if fresh:
            connection.execute(insert(Followup), fresh)
        mark_referenced(connection, blob_ids)

    def find(self, connection: Connection, keys: Collection[Hashable]) -> dict[Hashable, int]:
        """The index of the first entry of each :class:`FollowupKey` among ``keys``."""
        wanted = [key for key in keys if isinstance(key, FollowupKey)]
        found: dict[Hashable, int] = {}
        if wanted:
            for key, index in _followup_indexes(connection, wanted).items():
                found[key] = index
        return found


class FollowupTable:
    """Reads of the ``followups`` projection."""

    def __init__(self, engine: Engine) -> None:
        self._reads = db.read_engine(engine)

    def of_parents(self, parents: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
        """For each of ``parents`` with follow-ups, their ``(id, index)`` in log order."""
        found: dict[str, list[tuple[str, int]]] = {}
        wanted = sorted(set(parents))
        with self._reads.connect() as connection:
            for start in range(0, len(wanted), IN_CHUNK):
                for parent, followup_id, idx in connection.execute(
                    select(Followup.parent, Followup.id, Followup.idx)
                    .where(Followup.parent.in_(wanted[start : start + IN_CHUNK]))
                    .order_by(Followup.idx)
                ):
                    found.setdefault(str(parent), []).append((str(followup_id), int(idx)))
        return found

    def first_index(self, key: FollowupKey) -> int | None:
        """The index of the entry that first logged a follow-up with ``key``, or None."""
        with self._reads.connect() as connection:
            return _followup_indexes(connection, [key]).get(key)
