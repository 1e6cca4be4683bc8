"""``signed_entries``: one row per signed reviewer entry (docs/protocol.md §12.2;
docs/log-entries.md), the log's dedup index of :class:`SignedKey`, and the
replay of governance the server reads (:class:`SignedEntryTable`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Hashable, Iterator, Sequence
from typing import NamedTuple

from sqlalchemy import Connection, delete, insert, select

from testimony.crypto.entries import SignedEntry

from ..models import LogEntry, SignedEntryRow
from .base import IN_CHUNK, AppendedEntry, entries_of

__all__ = ["SignedEntryProjection", "SignedKey", "signed_entries_after"]


class SignedKey(NamedTuple):
    """What identifies a signed entry: ``H(JCS(entry without signature and received))``."""

    signed_sha256: str

    @classmethod
    def of(cls, entry: SignedEntry) -> SignedKey:
        return cls(hashlib.sha256(entry.signed_bytes()).hexdigest())


class SignedEntryProjection:
    """``signed_entries`` rows from every signed entry; the first logging wins."""

    def reset(self, connection: Connection) -> None:
        """Delete every row."""
        connection.execute(delete(SignedEntryRow))

    def project(self, connection: Connection, entries: Sequence[AppendedEntry]) -> None:
        """Insert a row per signed entry among ``entries`` not logged before.

        Raises ``ValueError`` for a malformed entry (``AppendedEntry.parsed``).
        """
        rows: dict[SignedKey, dict[str, object]] = {}
        for item, entry in entries_of(entries, SignedEntry):
            key = SignedKey.of(entry)
            rows.setdefault(
                key,
                {
                    "idx": item.idx,
                    "type": entry.TYPE,
                    "actor": entry.actor,
                    "signed_sha256": key.signed_sha256,
                },
            )
        if not rows:
            return
        known = self.find(connection, list(rows))
        fresh = [row for key, row in rows.items() if key not in known]
        if fresh:
            connection.execute(insert(SignedEntryRow), fresh)

    def find(self, connection: Connection, keys: Collection[Hashable]) -> dict[Hashable, int]:
        """The index of the first logging of each :class:`SignedKey` among ``keys``."""
        wanted = sorted({key.signed_sha256 for key in keys if isinstance(key, SignedKey)})
        found: dict[Hashable, int] = {}
        for start in range(0, len(wanted), IN_CHUNK):
            part = wanted[start : start + IN_CHUNK]
            for digest, idx in connection.execute(
                select(SignedEntryRow.signed_sha256, SignedEntryRow.idx).where(
                    SignedEntryRow.signed_sha256.in_(part)
                )
            ):
                found[SignedKey(str(digest))] = int(idx)
        return found


def signed_entries_after(connection: Connection, after: int) -> Iterator[tuple[int, bytes]]:
    """``(index, entry bytes)`` of every signed entry logged after index ``after``, in order."""
    rows = connection.execute(
        select(LogEntry.idx, LogEntry.entry)
        .join(SignedEntryRow, SignedEntryRow.idx == LogEntry.idx)
        # Driven by the signed entries (few), not by the log's entries after them.
        .where(SignedEntryRow.idx > after)
        .order_by(SignedEntryRow.idx)
    )
    for idx, entry in rows:
        yield int(idx), bytes(entry)
