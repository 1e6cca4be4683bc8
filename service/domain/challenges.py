"""Stateless, MACed challenges, each accepted once: the replies exchange's
(§7) and the reviewers' sessions' (§12.8).

A challenge carries its own expiry and is MACed with the server's secret
under a label of its kind, so that a challenge of one kind never passes for
another, and no server keeps a table of the challenges it handed out::

    challenge = version (0x01) || expires (8 bytes, Unix seconds) || random (16) || tag (16)
    tag       = HMAC-SHA256(secret, label || the 25 bytes before it)[:16]

When one is used, its hash goes into the spent-challenge table until it
would have expired anyway (the expiry rounded up to the time granularity,
§9), so it is accepted once.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from testimony.crypto.encoding import b64u_decode, b64u_encode, sha256
from testimony.crypto.errors import MalformedInput

from .clock import Clock, Granularity, unix_seconds
from .errors import DomainError
from .pow import SpentChallenges

__all__ = ["ChallengeRefusals", "Challenges", "CheckedChallenge"]

_VERSION = 1
_HEAD = struct.Struct(">BQ")
_RANDOM_BYTES = 16
_TAG_BYTES = 16
_BODY_BYTES = _HEAD.size + _RANDOM_BYTES
_CHALLENGE_BYTES = _BODY_BYTES + _TAG_BYTES


@dataclass(frozen=True)
class ChallengeRefusals:
    """The errors of one kind of challenge: not ours, expired, used before."""

    invalid: type[DomainError]
    expired: type[DomainError]
    reused: type[DomainError]


@dataclass(frozen=True)
class CheckedChallenge:
    """A challenge that is ours and unexpired, to be spent once all else holds."""

    digest: bytes
    expires: int


class Challenges:
    """Issues and checks the challenges of one kind (``label``)."""

    def __init__(
        self,
        *,
        secret: bytes,
        label: bytes,
        refusals: ChallengeRefusals,
        spent: SpentChallenges,
        clock: Clock,
        granularity: Granularity,
        ttl_seconds: int,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._secret = secret
        self._label = label
        self._refusals = refusals
        self._spent = spent
        self._clock = clock
        self._granularity = granularity
        self._ttl = ttl_seconds
        self._random_bytes = random_bytes

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._secret, self._label + body, hashlib.sha256).digest()[:_TAG_BYTES]

    def issue(self) -> dict[str, str]:
        """A fresh challenge: ``{"challenge": <b64u>, "expires": <RFC 3339>}``."""
        expires = unix_seconds(self._clock.now()) + self._ttl
        body = _HEAD.pack(_VERSION, expires) + self._random_bytes(_RANDOM_BYTES)
        if len(body) != _BODY_BYTES:
            raise ValueError("the random source returned the wrong length")
        return {
            "challenge": b64u_encode(body + self._tag(body)),
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
        if len(challenge) != _CHALLENGE_BYTES:
            raise self._refusals.invalid()
        version, expires = _HEAD.unpack_from(challenge)
        body, tag = challenge[:_BODY_BYTES], challenge[_BODY_BYTES:]
        if version != _VERSION or not hmac.compare_digest(tag, self._tag(body)):
            raise self._refusals.invalid()
        if unix_seconds(self._clock.now()) >= expires:
            raise self._refusals.expired()
        return CheckedChallenge(sha256(challenge), expires)

    def spend(self, checked: CheckedChallenge) -> None:
        """Accept the challenge once; raise the kind's ``reused`` the second time."""
        if not self._spent.spend(checked.digest, self._granularity.ceil_seconds(checked.expires)):
            raise self._refusals.reused()
