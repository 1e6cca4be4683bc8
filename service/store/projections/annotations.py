"""``annotation_index``: the blind indexes of ``annotation`` entries
(docs/protocol.md §12.6), for ``GET /api/v1/entries?index=``.

The server never knows what an index stands for: a tag, a place or an
incident, hashed under the organisation's key and truncated so that many
values share each one. It only answers which entries list a number.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine, delete, insert, select

from testimony.crypto.entries import AnnotationEntry

from .. import db
from ..models import AnnotationIndex
from .base import AppendedEntry, entries_of

__all__ = ["AnnotationIndexProjection", "AnnotationIndexTable"]


class AnnotationIndexProjection:
    """One ``annotation_index`` row per blind index each ``annotation`` entry lists."""

    def reset(self, connection: Connection) -> None:
        """Delete every row."""
        connection.execute(delete(AnnotationIndex))

    def project(self, connection: Connection, entries: Sequence[AppendedEntry]) -> None:
        """Insert the rows of the ``annotation`` entries among ``entries``."""
        rows = [
            {"value": value, "idx": item.idx}
            for item, entry in entries_of(entries, AnnotationEntry)
            for value in entry.index
        ]
        if rows:
            connection.execute(insert(AnnotationIndex), rows)


class AnnotationIndexTable:
    """Reads of the ``annotation_index`` projection."""

    def __init__(self, engine: Engine) -> None:
        self._reads = db.read_engine(engine)

    def indexes(self, value: int, *, after: int, limit: int) -> list[int]:
        """The log indexes above ``after`` of the annotations listing ``value``,
        ascending, at most ``limit``."""
        with self._reads.connect() as connection:
            return [
                int(idx)
                for (idx,) in connection.execute(
                    select(AnnotationIndex.idx)
                    .where(AnnotationIndex.value == value, AnnotationIndex.idx > after)
                    .order_by(AnnotationIndex.idx)
                    .limit(limit)
                )
            ]
