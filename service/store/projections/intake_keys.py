"""``intake_keys``: every intake key the log names, from ``intake-key`` entries
(docs/log-entries.md; docs/protocol.md §9).

Only entry 0's form, without an actor, is read: a rotation (§12.5) is a
proposal that takes effect at its quorum, which the server does not replay
yet (it accepts no rotation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select

from testimony.crypto.entries import IntakeKeyEntry

from .. import db
from ..models import IntakeKey
from .base import AppendedEntry, entries_of

__all__ = ["IntakeKeyProjection", "IntakeKeyTable", "StoredIntakeKey"]


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
        b64u S1 public key that ``key_id`` names (docs/protocol.md §1), or that
        is malformed otherwise (``AppendedEntry.parsed``).
        """
        rows: dict[str, dict[str, Any]] = {}
        for item, entry in entries_of(entries, IntakeKeyEntry):
            rows.setdefault(
                entry.key_id, {"key_id": entry.key_id, "public_key": entry.key, "idx": item.idx}
            )
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
