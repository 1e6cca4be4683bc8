"""Proof of work (docs/protocol.md §8).

``GET /api/v1/pow`` hands out a challenge; the client finds a ``nonce`` such
that ``H(challenge bytes || nonce)`` has at least ``bits`` leading zero bits and
sends both with its submission. The server keeps no state for a challenge it
issues: the challenge carries its own difficulty and expiry and is MACed with a
server secret (so a client can neither forge one nor lower its difficulty). It
is one kind of ``domain.challenges``' challenges, its one byte of parameters
the difficulty::

    challenge = version (1 byte, 0x01) || bits (1 byte) || expires (8 bytes,
                Unix seconds, big-endian) || random (16 bytes) || tag (16 bytes)
    tag       = HMAC-SHA256(secret, "testimony/v1 pow" || the 26 bytes before it)[:16]

A challenge is accepted once: when it is used, ``H(challenge bytes)`` goes
into the store's spent-challenge table until it would have expired anyway
(that expiry is rounded *up* to the time granularity, §9, so the table keeps
no precise time). A challenge is checked against the difficulty written in it,
so raising ``bits`` under load does not void challenges already handed out.
``bits = 0`` turns proof of work off: nothing is asked for or checked.

A submission checks its proof with :meth:`ProofOfWork.verify`, which spends
nothing, and spends the :class:`SpendableChallenge` it returns in the log
append that logs the submission (:meth:`TransactionalSpentChallenges.spend_in`), so the
spend costs no transaction of its own; :meth:`ProofOfWork.check` does both
at once. An upload's creation spends its challenge in the transaction that
inserts the upload (``domain.uploads``); the one table serves both, so a
challenge buys one submission or one upload.

**Uploads** (§6) ask more work for more bytes and for a fuller budget
(:func:`upload_difficulty`): the base ``bits``, one more per doubling of the
upload past the budget's unit, and one more per ``1/load_bits`` of the budget
taken (with the upload). A challenge's life grows with its difficulty, so that
a slow device can solve it before it expires: at least four times the expected
solving time at :data:`REFERENCE_HASH_RATE` (a phone's browser), at least the
configured TTL, at most :data:`MAX_TTL_SECONDS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from testimony.crypto.encoding import b64u_decode, sha256
from testimony.crypto.errors import MalformedInput
from testimony.crypto.pow import MAX_BITS, MAX_NONCE_BYTES, leading_zero_bits

from .challenges import (
    ChallengeRefusals,
    Challenges,
    CheckedChallenge,
    SpentChallenges,
    StoredSpentChallenges,
    TransactionalSpentChallenges,
)
from .clock import Clock, Granularity
from .errors import (
    BadSettings,
    ProofOfWorkExpired,
    ProofOfWorkInsufficient,
    ProofOfWorkInvalid,
    ProofOfWorkRequired,
    ProofOfWorkReused,
)

__all__ = [
    "MAX_TTL_SECONDS",
    "REFERENCE_HASH_RATE",
    "SECRET_LENGTH",
    "Challenge",
    "ProofOfWork",
    "SpendableChallenge",
    "SpentChallenges",
    "StoredSpentChallenges",
    "TransactionalSpentChallenges",
    "upload_difficulty",
]

SECRET_LENGTH = 32
"""Length of the server's MAC secret."""

REFERENCE_HASH_RATE = 1 << 18
"""Hashes a second a slow client manages (a phone's browser, in a Worker;
headless Chromium on a shared server core manages 0.5-0.8 million): what a
challenge's life is measured against."""

MAX_TTL_SECONDS = 24 * 3600
"""The longest a challenge lives, however hard."""


def upload_difficulty(base_bits: int, *, units: int, used: int, budget: int, load_bits: int) -> int:
    """The bits of work an upload of ``units`` budget units costs when ``used``
    of the ``budget`` bytes would be taken with it (§6).

    ``base_bits + ceil(log2(units)) + min(load_bits, floor(load_bits * used / budget))``,
    at most :data:`~testimony.crypto.pow.MAX_BITS`; 0 when ``base_bits`` is 0
    (proof of work off). The work (``2**bits`` hashes) thus grows in proportion
    to the bytes claimed, rounded up to a power of two, and doubles with each
    ``1/load_bits`` of the budget taken: a flood pays more and more for the
    same bytes, while a witness pays at most ``2**load_bits`` times the price
    of an empty server.

    >>> upload_difficulty(16, units=1, used=1 << 20, budget=64 << 30, load_bits=10)
    16
    >>> upload_difficulty(16, units=100, used=32 << 30, budget=64 << 30, load_bits=10)
    28
    """
    if base_bits == 0:
        return 0
    size_bits = (max(units, 1) - 1).bit_length()
    load = min(load_bits, load_bits * max(used, 0) // max(budget, 1))
    return min(MAX_BITS, base_bits + size_bits + load)


_LABEL = b"testimony/v1 pow"
_REFUSALS = ChallengeRefusals(
    invalid=ProofOfWorkInvalid, expired=ProofOfWorkExpired, reused=ProofOfWorkReused
)


@dataclass(frozen=True)
class SpendableChallenge:
    """A checked challenge, to be spent: ``digest = H(challenge bytes)``,
    ``expires``, its expiry rounded up to the granularity (Unix seconds), and
    ``bits``, the difficulty it was issued with (and solved to)."""

    digest: bytes
    expires: int
    bits: int = 0


@dataclass(frozen=True)
class Challenge:
    """A challenge as handed to a client: ``{"challenge", "bits", "expires"}``."""

    challenge: str
    bits: int
    expires: datetime

    def to_json(self) -> dict[str, Any]:
        """The §8 JSON object (``expires`` as RFC 3339)."""
        return {
            "challenge": self.challenge,
            "bits": self.bits,
            "expires": self.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


class ProofOfWork:
    """Issues and checks §8 challenges.

    ``secret`` is the server's 32-byte MAC secret (shared by every API process
    of one server), ``bits`` the difficulty of new challenges (0 = off),
    ``ttl_seconds`` how long a challenge stays valid. Raises
    :class:`BadSettings` for a secret that is not 32 bytes, bits outside
    0..64, or a TTL under one second.
    """

    def __init__(
        self,
        *,
        secret: bytes,
        bits: int,
        ttl_seconds: int,
        clock: Clock,
        granularity: Granularity,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if not isinstance(secret, bytes) or len(secret) != SECRET_LENGTH:
            raise BadSettings("the proof-of-work secret is 32 bytes")
        if not isinstance(bits, int) or isinstance(bits, bool) or not 0 <= bits <= MAX_BITS:
            raise BadSettings(f"proof-of-work bits are 0 (off) to {MAX_BITS}")
        if not isinstance(ttl_seconds, int) or ttl_seconds < 1:
            raise BadSettings("a proof-of-work challenge lives at least one second")
        self._ttl = ttl_seconds
        # Spent by the caller, in the transaction that logs what it buys.
        self._challenges = Challenges(
            secret=secret,
            label=_LABEL,
            refusals=_REFUSALS,
            spent=None,
            clock=clock,
            granularity=granularity,
            ttl_seconds=ttl_seconds,
            params_length=1,
            random_bytes=random_bytes,
        )
        self.bits = bits

    @property
    def enabled(self) -> bool:
        """Whether submissions must carry a proof of work."""
        return self.bits > 0

    def ttl_for(self, bits: int) -> int:
        """How long a challenge of ``bits`` lives (seconds): four times its
        expected solving time at :data:`REFERENCE_HASH_RATE`, at least the
        configured TTL, at most :data:`MAX_TTL_SECONDS`."""
        solving = 4 * (1 << bits) // REFERENCE_HASH_RATE
        return max(self._ttl, min(solving, MAX_TTL_SECONDS))

    def issue(self, bits: int | None = None) -> Challenge:
        """A fresh challenge at ``bits`` (default: the current difficulty);
        none is asked (0 bits) while proof of work is off."""
        bits = self.bits if bits is None or not self.enabled else bits
        if not 0 <= bits <= MAX_BITS:
            raise ValueError(f"proof-of-work bits are 0 to {MAX_BITS}")
        challenge, expires = self._challenges.mint(bytes([bits]), ttl_seconds=self.ttl_for(bits))
        return Challenge(
            challenge=challenge, bits=bits, expires=datetime.fromtimestamp(expires, UTC)
        )

    def check(self, proof: object, spent: SpentChallenges) -> None:
        """Check a submission's ``pow`` member and spend its challenge.

        Does nothing when proof of work is off. Raises what :meth:`verify`
        raises, and :class:`ProofOfWorkReused` if the challenge was spent
        before. The challenge is spent only when everything else holds.
        """
        checked = self._checked(proof)
        if checked is not None:
            self._challenges.spend(checked, spent)

    def verify(self, proof: object) -> SpendableChallenge | None:
        """Check a submission's ``pow`` member; return its challenge to spend.

        Spends nothing: the caller spends the answer (``ProofOfWorkReused``
        if that fails). Returns None when proof of work is off. Raises
        :class:`ProofOfWorkRequired` if ``proof`` is missing,
        :class:`ProofOfWorkInvalid` if it is malformed or the challenge was
        not issued by this server, :class:`ProofOfWorkExpired` if the
        challenge has expired, :class:`ProofOfWorkInsufficient` if the nonce
        falls short of the challenge's bits.
        """
        checked = self._checked(proof)
        if checked is None:
            return None
        return SpendableChallenge(
            checked.digest, self._challenges.spent_until(checked), checked.params[0]
        )

    def _checked(self, proof: object) -> CheckedChallenge | None:
        """The challenge of a proof that holds (see :meth:`verify`)."""
        if not self.enabled:
            return None
        if proof is None:
            raise ProofOfWorkRequired()
        challenge, nonce = self._parse(proof)
        checked = self._challenges.open(challenge)
        if leading_zero_bits(sha256(challenge + nonce)) < checked.params[0]:
            raise ProofOfWorkInsufficient()
        return checked

    @staticmethod
    def _parse(proof: object) -> tuple[bytes, bytes]:
        if not isinstance(proof, Mapping):
            raise ProofOfWorkInvalid("the proof of work is a `challenge` and a `nonce`")
        challenge_text, nonce_text = proof.get("challenge"), proof.get("nonce")
        if not isinstance(challenge_text, str) or not isinstance(nonce_text, str):
            raise ProofOfWorkInvalid("the proof of work is a `challenge` and a `nonce`, in b64u")
        try:
            challenge, nonce = b64u_decode(challenge_text), b64u_decode(nonce_text)
        except MalformedInput:
            raise ProofOfWorkInvalid("`challenge` and `nonce` are b64u strings") from None
        if len(nonce) > MAX_NONCE_BYTES:
            raise ProofOfWorkInvalid()
        return challenge, nonce  # its length is the challenges' to check
