"""What every projection shares: the appended entry, read once, the protocols, and
the ``referenced`` flag of the blobs entries name (docs/protocol.md §6, §9).

An :class:`AppendedEntry` is an entry as ``LogStore.append_batch`` (or
:func:`~testimony.service.store.projections.rebuild_projections`) hands it to
the projections. Its :attr:`AppendedEntry.parsed` is the entry read by
``testimony.crypto.entries`` — once per batch, whichever projections look at
it — so projections read typed members instead of picking fields out of JSON.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from sqlalchemy import Connection

from testimony.crypto import entries
from testimony.crypto.errors import EntryMalformed

from .. import db

__all__ = [
    "IN_CHUNK",
    "AppendedEntry",
    "DedupIndex",
    "DedupIndexes",
    "Projection",
    "entries_of",
    "mark_referenced",
]

IN_CHUNK = 300
"""Values per ``IN (...)`` list (content keys take 3 parameters each)."""

_E = TypeVar("_E")


@dataclass(frozen=True)
class AppendedEntry:
    """An entry as it was appended: index, leaf hash and exact bytes."""

    idx: int
    entry_id: bytes
    entry: bytes

    @functools.cached_property
    def parsed(self) -> entries.Entry | None:
        """The entry as ``testimony.crypto.entries`` reads it (once, for every
        projection), or None if it is not an entry of a type the protocol knows.

        Raises ``ValueError`` naming the type and index for an entry of a known
        type that is malformed (a projection never derives rows from one).
        """
        try:
            return entries.parse_known_entry(self.entry)
        except EntryMalformed as exc:
            kind = exc.entry_type or "an"
            raise ValueError(f"{kind} entry at index {self.idx}: {exc.detail}") from None


def entries_of(
    items: Sequence[AppendedEntry], kind: type[_E]
) -> Iterator[tuple[AppendedEntry, _E]]:
    """The appended entries among ``items`` of entry class ``kind`` (a class of
    ``testimony.crypto.entries``), each with its parsed entry, in log order."""
    for item in items:
        parsed = item.parsed
        if isinstance(parsed, kind):
            yield item, parsed


class Projection(Protocol):
    """Derives rows from log entries; must be deterministic in the entries alone."""

    def reset(self, connection: Connection) -> None:
        """Forget everything derived so far (before a replay of the whole log)."""
        ...

    def project(self, connection: Connection, entries: Sequence[AppendedEntry]) -> None:
        """Derive rows from ``entries`` (consecutive, in log order) in ``connection``'s transaction."""
        ...


@runtime_checkable
class DedupIndex(Protocol):
    """Finds logged entries by a content key (``LogStore.append_batch``'s dedup hook)."""

    def find(self, connection: Connection, keys: Collection[Hashable]) -> dict[Hashable, int]:
        """The index of the entry that first logged each of ``keys`` that is logged.

        Keys of a kind this index does not know are not found.
        """
        ...


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


@functools.lru_cache(maxsize=64)
def _mark_referenced_statement(count: int) -> db.Statement:
    marks = ", ".join(f":b{n}" for n in range(count))
    # Only integers and fixed text are interpolated; values are bound parameters.
    return db.Statement(
        f"UPDATE blobs SET referenced = :yes WHERE id IN ({marks}) AND NOT referenced"  # noqa: S608
    )


def mark_referenced(connection: Connection, blob_ids: Collection[str]) -> None:
    """Set the ``referenced`` flag of every blob of ``blob_ids`` that is recorded
    (so that none of them expires)."""
    ordered = sorted(blob_ids)
    for start in range(0, len(ordered), IN_CHUNK):
        part = ordered[start : start + IN_CHUNK]
        params: dict[str, Any] = {f"b{n}": blob_id for n, blob_id in enumerate(part)}
        params["yes"] = True
        _mark_referenced_statement(len(part)).run(connection, params)
