"""Stateless, MACed challenges, each accepted once: the proof of work's (§8),
the replies exchange's (§7) and the reviewers' sessions' (§12.8).

A challenge carries its own expiry (and, for a kind that has them, its
parameters: a proof of work's difficulty) and is MACed with the server's
secret under a label of its kind, so that a challenge of one kind never
passes for another, and no server keeps a table of the challenges it handed
out::

    challenge = version (0x01) || params (the kind's fixed length, often none)
                || expires (8 bytes, Unix seconds, big-endian) || random (16) || tag (16)
    tag       = HMAC-SHA256(secret, label || every byte before it)[:16]

When one is used, its hash goes into the spent-challenge table until it
would have expired anyway (the expiry rounded up to the time granularity,
§9, so the table keeps no precise time), so it is accepted once. The one
table serves every kind (their hashes differ, for their labels do).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.engine import Connection, Engine

from testimony.crypto.encoding import b64u_decode, b64u_encode, sha256
from testimony.crypto.errors import MalformedInput
from testimony.service.store.pow_ledger import PowLedger

from .clock import Clock, Granularity, unix_seconds
from .errors import DomainError

__all__ = [
    "ChallengeRefusals",
    "Challenges",
    "CheckedChallenge",
    "SpentChallenges",
    "StoredSpentChallenges",
    "TransactionalSpentChallenges",
]

_VERSION = 1
_EXPIRES = struct.Struct(">Q")
_RANDOM_BYTES = 16
_TAG_BYTES = 16


class SpentChallenges(Protocol):
    """The store's table of spent challenges."""

    def spend(self, digest: bytes, expires: int) -> bool:
        """Record ``digest`` as spent until ``expires`` (Unix seconds).

        Returns ``False`` if it was already recorded, ``True`` otherwise.
        """
        ...


class TransactionalSpentChallenges(SpentChallenges, Protocol):
    """:class:`SpentChallenges` that can also spend within a store transaction."""

    def spend_in(self, connection: Connection, digest: bytes, expires: int) -> bool:
        """:meth:`spend` within the caller's transaction on ``connection``."""
        ...


class StoredSpentChallenges:
    """:class:`SpentChallenges` in the store's ``pow_used`` table (``store.PowLedger``).

    Rows are removed once past their (rounded-up) expiry; a challenge past its
    expiry is refused as expired before this table is asked, so forgetting it
    then is safe.
    """

    def __init__(self, engine: Engine, *, clock: Clock) -> None:
        self._ledger = PowLedger(engine)
        self._clock = clock

    def spend(self, digest: bytes, expires: int) -> bool:
        """Record ``digest`` as spent; ``False`` if it already was."""
        return self._ledger.spend(digest, expires=expires, now=unix_seconds(self._clock.now()))

    def spend_in(self, connection: Connection, digest: bytes, expires: int) -> bool:
        """:meth:`spend` within the caller's transaction on ``connection``."""
        return self._ledger.spend_in(
            connection, digest, expires=expires, now=unix_seconds(self._clock.now())
        )


@dataclass(frozen=True)
class ChallengeRefusals:
    """The errors of one kind of challenge: not ours, expired, used before."""

    invalid: type[DomainError]
    expired: type[DomainError]
    reused: type[DomainError]


@dataclass(frozen=True)
class CheckedChallenge:
    """A challenge that is ours and unexpired, to be spent once all else holds:
    ``digest = H(challenge bytes)``, its ``expires`` (Unix seconds) and the
    ``params`` it was issued with."""

    digest: bytes
    expires: int
    params: bytes = b""


class Challenges:
    """Issues and checks the challenges of one kind (``label``), with
    ``params_length`` bytes of parameters (none by default).

    ``spent`` is the table :meth:`spend` spends in unless it is given
    another; None for a kind whose callers spend in their own transactions
    (:meth:`spent_until`).
    """

    def __init__(
        self,
        *,
        secret: bytes,
        label: bytes,
        refusals: ChallengeRefusals,
        spent: SpentChallenges | None,
        clock: Clock,
        granularity: Granularity,
        ttl_seconds: int,
        params_length: int = 0,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._secret = secret
        self._label = label
        self._refusals = refusals
        self._spent = spent
        self._clock = clock
        self._granularity = granularity
        self._ttl = ttl_seconds
        self._params_length = params_length
        self._random_bytes = random_bytes
        self._body_length = 1 + params_length + _EXPIRES.size + _RANDOM_BYTES
        self.length = self._body_length + _TAG_BYTES
        """The length of a challenge of this kind, in bytes."""

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._secret, self._label + body, hashlib.sha256).digest()[:_TAG_BYTES]

    def mint(self, params: bytes = b"", *, ttl_seconds: int | None = None) -> tuple[str, int]:
        """A fresh challenge of ``params``, living ``ttl_seconds`` (default:
        the kind's): its b64u text and its expiry (Unix seconds)."""
        if len(params) != self._params_length:
            raise ValueError("the challenge's parameters have the wrong length")
        expires = unix_seconds(self._clock.now()) + (
            self._ttl if ttl_seconds is None else ttl_seconds
        )
        body = (
            bytes([_VERSION]) + params + _EXPIRES.pack(expires) + self._random_bytes(_RANDOM_BYTES)
        )
        if len(body) != self._body_length:
            raise ValueError("the random source returned the wrong length")
        return b64u_encode(body + self._tag(body)), expires

    def issue(self) -> dict[str, str]:
        """A fresh challenge: ``{"challenge": <b64u>, "expires": <RFC 3339>}``."""
        challenge, expires = self.mint()
        return {
            "challenge": challenge,
            "expires": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def check(self, text: object) -> CheckedChallenge:
        """Raise the kind's ``invalid`` for a challenge this server did not
        issue (of this kind), ``expired`` for one past its expiry."""
        if not isinstance(text, str):
            raise self._refusals.invalid()
        try:
            challenge = b64u_decode(text)
        except MalformedInput:
            raise self._refusals.invalid() from None
        return self.open(challenge)

    def open(self, challenge: bytes) -> CheckedChallenge:
        """:meth:`check` of a challenge's bytes (decoded from its b64u)."""
        if len(challenge) != self.length:
            raise self._refusals.invalid()
        body, tag = challenge[: self._body_length], challenge[self._body_length :]
        if body[0] != _VERSION or not hmac.compare_digest(tag, self._tag(body)):
            raise self._refusals.invalid()
        params_end = 1 + self._params_length
        (expires,) = _EXPIRES.unpack_from(body, params_end)
        if unix_seconds(self._clock.now()) >= expires:
            raise self._refusals.expired()
        return CheckedChallenge(sha256(challenge), expires, body[1:params_end])

    def spent_until(self, checked: CheckedChallenge) -> int:
        """The expiry the spent table keeps for ``checked``: its own, rounded up
        to the time granularity (Unix seconds)."""
        return self._granularity.ceil_seconds(checked.expires)

    def spend(self, checked: CheckedChallenge, spent: SpentChallenges | None = None) -> None:
        """Accept the challenge once (in ``spent``, default: the kind's table);
        raise the kind's ``reused`` the second time."""
        table = self._spent if spent is None else spent
        if table is None:
            raise ValueError("these challenges have no table of spent challenges")
        if not table.spend(checked.digest, self.spent_until(checked)):
            raise self._refusals.reused()
