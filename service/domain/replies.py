"""A witness fetching reviewers' replies (docs/protocol.md §7: "fetched after a
challenge-response signature by the witness key").

The protocol leaves the exchange open; Testimony's (``docs/followups.md``)::

    GET  /api/v1/replies/challenge  ->  {"challenge": "<b64u>", "expires": "<RFC 3339>"}
    POST /api/v1/replies  {"witness": "<b64u Ed25519 key>", "challenge": "<b64u>",
                           "signature": "<b64u Ed25519 over JCS({"challenge", "witness"})>"}
                          ->  {"replies": [{"id", "parent", "sealed": "<b64u>"}, ...]}

The challenge is stateless and MACed (``challenges.Challenges``) under the
label ``"testimony/v1 replies"``, so no other kind of challenge passes for it,
and is accepted once.
The answer lists the replies to every submission that carries the witness
key, in log order, and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from testimony.crypto import followup
from testimony.crypto.encoding import b64u_encode
from testimony.crypto.errors import MalformedInput, SignatureError
from testimony.service.store.blobs import BlobStore
from testimony.service.store.projections import ReplyTable, SubmissionTable

from .challenges import ChallengeRefusals, Challenges
from .clock import Clock, Granularity
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

_LABEL = b"testimony/v1 replies"
_REFUSALS = ChallengeRefusals(
    invalid=ReplyChallengeInvalid, expired=ReplyChallengeExpired, reused=ReplyChallengeReused
)


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
        self._challenges = Challenges(
            secret=secret,
            label=_LABEL,
            refusals=_REFUSALS,
            spent=spent,
            clock=clock,
            granularity=granularity,
            ttl_seconds=ttl_seconds,
            random_bytes=random_bytes,
        )
        self._submissions = submissions
        self._replies = replies
        self._blobs = blobs

    def challenge(self) -> dict[str, str]:
        """A fresh challenge: ``{"challenge": <b64u>, "expires": <RFC 3339>}``."""
        return self._challenges.issue()

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
        checked = self._challenges.check(request["challenge"])
        try:
            witness = followup.verify_replies_request(request)
        except MalformedInput as exc:
            raise MalformedRepliesRequest(str(exc)) from None
        except SignatureError:
            raise RepliesSignatureInvalid() from None
        self._challenges.spend(checked)
        parents = self._submissions.ids_of_witness(b64u_encode(witness))
        replies = []
        for reply in self._replies.of_parents(parents):
            sealed = b"".join(self._blobs.read(reply.sealed_sha256))
            replies.append({"id": reply.id, "parent": reply.parent, "sealed": b64u_encode(sealed)})
        return {"submissions": parents, "replies": replies}
