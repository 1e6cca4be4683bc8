"""A witness fetching reviewers' replies (docs/protocol.md §7: "fetched after a
challenge-response signature by the witness key").

The protocol leaves the exchange open; Testimony's (``docs/followups.md``)::

    GET  /api/v1/replies/challenge  ->  {"challenge": "<b64u>", "expires": "<RFC 3339>"}
    POST /api/v1/replies  {"witness": "<b64u Ed25519 key>", "challenge": "<b64u>",
                           "signature": "<b64u Ed25519 over JCS({"challenge", "witness"})>"}
                          ->  {"replies": [{"id", "parent", "sealed": "<b64u>"}, ...]}

The challenge is stateless and MACed like a proof-of-work challenge, under
its own label (so neither kind passes for the other)::

    challenge = version (0x01) || expires (8 bytes, Unix seconds) || random (16) || tag (16)
    tag       = HMAC-SHA256(secret, "testimony/v1 replies" || the 25 bytes before it)[:16]

Each challenge is accepted once: its hash goes into the spent-challenge table
(the proof-of-work's, with the expiry rounded up to the time granularity).
The answer lists the replies to every submission that carries the witness
key, in log order, and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from testimony.crypto import followup
from testimony.crypto.encoding import b64u_decode, b64u_encode, sha256
from testimony.crypto.errors import MalformedInput, SignatureError
from testimony.service.store.blobs import BlobStore
from testimony.service.store.projections import ReplyTable, SubmissionTable

from .clock import Clock, Granularity, unix_seconds
from .errors import (
    MalformedRepliesRequest,
    RepliesSignatureInvalid,
    ReplyChallengeExpired,
    ReplyChallengeInvalid,
    ReplyChallengeReused,
)
from .pow import SpentChallenges

__all__ = ["CHALLENGE_TTL_SECONDS", "Replies"]

CHALLENGE_TTL_SECONDS = 300
"""How long a replies challenge stays valid."""

_VERSION = 1
_LABEL = b"testimony/v1 replies"
_HEAD = struct.Struct(">BQ")
_RANDOM_BYTES = 16
_TAG_BYTES = 16
_BODY_BYTES = _HEAD.size + _RANDOM_BYTES
_CHALLENGE_BYTES = _BODY_BYTES + _TAG_BYTES


class Replies:
    """Issues replies challenges and answers signed replies requests."""

    def __init__(
        self,
        *,
        secret: bytes,
        spent: SpentChallenges,
        submissions: SubmissionTable,
        replies: ReplyTable,
        blobs: BlobStore,
        clock: Clock,
        granularity: Granularity,
        ttl_seconds: int = CHALLENGE_TTL_SECONDS,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._secret = secret
        self._spent = spent
        self._submissions = submissions
        self._replies = replies
        self._blobs = blobs
        self._clock = clock
        self._granularity = granularity
        self._ttl = ttl_seconds
        self._random_bytes = random_bytes

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._secret, _LABEL + body, hashlib.sha256).digest()[:_TAG_BYTES]

    def challenge(self) -> dict[str, str]:
        """A fresh challenge: ``{"challenge": <b64u>, "expires": <RFC 3339>}``."""
        expires = unix_seconds(self._clock.now()) + self._ttl
        body = _HEAD.pack(_VERSION, expires) + self._random_bytes(_RANDOM_BYTES)
        if len(body) != _BODY_BYTES:
            raise ValueError("the random source returned the wrong length")
        return {
            "challenge": b64u_encode(body + self._tag(body)),
            "expires": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def _check_challenge(self, text: str) -> tuple[bytes, int]:
        try:
            challenge = b64u_decode(text)
        except MalformedInput:
            raise ReplyChallengeInvalid() from None
        if len(challenge) != _CHALLENGE_BYTES:
            raise ReplyChallengeInvalid()
        version, expires = _HEAD.unpack_from(challenge)
        body, tag = challenge[:_BODY_BYTES], challenge[_BODY_BYTES:]
        if version != _VERSION or not hmac.compare_digest(tag, self._tag(body)):
            raise ReplyChallengeInvalid()
        if unix_seconds(self._clock.now()) >= expires:
            raise ReplyChallengeExpired()
        return challenge, expires

    def fetch(self, request: object) -> dict[str, list[Any]]:
        """The witness's submissions and the replies to them, for the key that
        signed ``request``: ``{"submissions": [id, ...], "replies": [{"id",
        "parent", "sealed"}, ...]}``, both in log order.

        ``submissions`` goes beyond docs/protocol.md §7, which names only the
        replies: a witness in a browser keeps the receipt code, not the
        submission id a follow-up needs as its ``parent``
        (``docs/protocol-notes.md``). It tells the signer nothing the public
        log does not: every submission entry carries its witness key.

        Raises :class:`MalformedRepliesRequest` for a request of the wrong
        shape, :class:`ReplyChallengeInvalid` or :class:`ReplyChallengeExpired`
        for a challenge this server did not issue or that has expired,
        :class:`RepliesSignatureInvalid` if the signature does not verify with
        the named key, and :class:`ReplyChallengeReused` for a challenge
        accepted before. The challenge is spent only when all else holds.
        """
        if not isinstance(request, dict) or set(request) != {"witness", "challenge", "signature"}:
            raise MalformedRepliesRequest("a replies request is {witness, challenge, signature}")
        if not isinstance(request["challenge"], str):
            raise MalformedRepliesRequest("`challenge` is a b64u string")
        challenge, expires = self._check_challenge(request["challenge"])
        try:
            witness = followup.verify_replies_request(request)
        except MalformedInput as exc:
            raise MalformedRepliesRequest(str(exc)) from None
        except SignatureError:
            raise RepliesSignatureInvalid() from None
        if not self._spent.spend(sha256(challenge), self._granularity.ceil_seconds(expires)):
            raise ReplyChallengeReused()
        parents = self._submissions.ids_of_witness(b64u_encode(witness))
        replies = []
        for reply in self._replies.of_parents(parents):
            sealed = b"".join(self._blobs.read(reply.sealed_sha256))
            replies.append({"id": reply.id, "parent": reply.parent, "sealed": b64u_encode(sealed)})
        return {"submissions": parents, "replies": replies}
