"""The ``pow_used`` table: proof-of-work challenges already spent (PROTOCOL.md §8:
"each challenge is accepted once").

A row holds ``H(challenge bytes)`` and the (rounded-up) time after which the
challenge would be refused as expired anyway; rows past it are purged as new
ones are spent. Spending is one transaction, and the digest is the primary
key, so two processes spending one challenge at once cannot both succeed.
"""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert
from sqlalchemy.exc import IntegrityError

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
        try:
            with self._engine.begin() as connection:
                connection.execute(delete(PowUsed).where(PowUsed.expires <= now))
                connection.execute(insert(PowUsed).values(digest=digest, expires=expires))
        except IntegrityError:
            return False
        return True
