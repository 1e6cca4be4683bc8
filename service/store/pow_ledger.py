"""The ``pow_used`` table: proof-of-work challenges already spent (docs/protocol.md §8:
"each challenge is accepted once").

A row holds ``H(challenge bytes)`` and the (rounded-up) time after which the
challenge would be refused as expired anyway; rows past it are purged as new
ones are spent. Spending is one transaction, and the digest is the primary
key, so two processes spending one challenge at once cannot both succeed.
:meth:`PowLedger.spend_in` spends within the caller's transaction (a
submission spends in the log append that logs it); it inserts with ``ON
CONFLICT DO NOTHING``, so a challenge spent before, or earlier in the same
transaction, is refused without aborting the transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, delete
from sqlalchemy.dialects import postgresql, sqlite

from . import db
from .models import PowUsed

__all__ = ["PowLedger"]


class PowLedger:
    """Spent proof-of-work challenges (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def spend(self, digest: bytes, *, expires: int, now: int) -> bool:
        """Record challenge digest ``digest`` as spent until ``expires`` (Unix seconds).

        Rows whose expiry is at most ``now`` are forgotten first. Returns
        False, recording nothing, if ``digest`` was already spent.
        """
        with self._engine.begin() as connection:
            return self.spend_in(connection, digest, expires=expires, now=now)

    @staticmethod
    def spend_in(connection: Connection, digest: bytes, *, expires: int, now: int) -> bool:
        """:meth:`spend` within the caller's transaction on ``connection``.

        Returns False, recording nothing, if ``digest`` was already spent
        (committed, or earlier in this transaction).
        """
        connection.execute(delete(PowUsed).where(PowUsed.expires <= now))
        values = {"digest": digest, "expires": expires}
        dialect: Any = sqlite if db.is_sqlite(connection) else postgresql
        statement = (
            dialect.insert(PowUsed)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(PowUsed.digest)  # a row only if inserted (rowcount is not reliable)
        )
        return connection.execute(statement).first() is not None
