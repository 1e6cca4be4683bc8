"""``access``: the submissions each ``access`` entry names, by reviewer
(docs/protocol.md §12.7: committed before the server sends a reviewer any
ciphertext of those submissions).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine, delete, insert, select

from testimony.crypto.entries import AccessEntry

from .. import db
from ..models import AccessGrant
from .base import AppendedEntry, entries_of

__all__ = ["AccessProjection", "AccessTable"]


class AccessProjection:
    """One ``access`` row per (reviewer, subject) of each ``access`` entry."""

    def reset(self, connection: Connection) -> None:
        """Delete every row."""
        connection.execute(delete(AccessGrant))

    def project(self, connection: Connection, entries: Sequence[AppendedEntry]) -> None:
        """Insert the rows of the ``access`` entries among ``entries``."""
        rows = [
            {"reviewer": entry.reviewer, "subject": subject, "idx": item.idx}
            for item, entry in entries_of(entries, AccessEntry)
            for subject in entry.subjects
        ]
        if rows:
            connection.execute(insert(AccessGrant), rows)


class AccessTable:
    """Reads of the ``access`` projection."""

    def __init__(self, engine: Engine) -> None:
        self._reads = db.read_engine(engine)

    def logged(self, reviewer: str, subjects: Sequence[str]) -> bool:
        """Whether an access entry of ``reviewer`` names any of ``subjects``."""
        if not subjects:
            return False
        with self._reads.connect() as connection:
            row = connection.execute(
                select(AccessGrant.idx)
                .where(AccessGrant.reviewer == reviewer, AccessGrant.subject.in_(list(subjects)))
                .limit(1)
            ).first()
        return row is not None
