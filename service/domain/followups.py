"""Follow-ups from a witness, and reviewers' replies to them (docs/protocol.md §7, §9, §10).

**A follow-up needs a valid witness signature.** ``POST /api/v1/followups``
carries a new header and body sealed as in §3, ``parent`` (a submission id)
and ``signature`` (the witness key over JCS of the request without
``signature``; ``pow`` is part of what is signed). The checks, in order,
appending nothing unless every one holds:

1. the members of ``testimony.crypto.followup.FOLLOWUP_MEMBERS`` and no
   others, at most ``max_attachments`` attachments;
2. lengths and encodings, by building the entry (``followup_entry``), an
   inline body of at most 1 MiB;
3. a known intake key (as for a submission);
4. the parent is a logged submission (``unknown-parent``) that carries a
   witness key (``parent-without-witness``);
5. the signature verifies with that key (``followup-signature-invalid``);
6. seen before? A follow-up is identified by (parent, intake key, header
   hash, body hash): a repeat answers the first receipt if its entry, rebuilt
   at the first one's ``received``, differs from the first only in
   ``signature`` (a retry with a fresh proof of work signs anew), and is
   ``followup-conflict`` otherwise;
7. every named blob is stored; 8. the proof of work.

The header and an inline body are kept as blobs, so the ciphertexts the entry
hashes can be handed out later. As for a submission (``intake``), steps 2 to 8
only read: the blobs are claimed, the challenge spent and the header and body
recorded in the transaction of the batch that appends the entry. The
``followup`` entry (``docs/log-entries.md``) names the parent, the parent's
witness key and the request's signature; the ``followups`` projection marks
its blobs referenced.

**Replies.** :meth:`Followups.post_reply` logs a sealed reply to a submission
(``Seal_S1(witness_box, "testimony/v1 reply", JCS(message))``, made by the
reviewer's workstation): a ``reply`` entry names the hash of its bytes,
which are kept as an ``inline_blobs`` row committed with the entry. Reviewer
``actor`` and ``signature`` fields (§9) are not built yet: the workstation
does not exist.
"""

from __future__ import annotations

import json
from typing import Any

from testimony.crypto import followup, submission
from testimony.crypto.encoding import b64u_decode, sha256
from testimony.crypto.errors import MalformedInput, SignatureError
from testimony.crypto.rfc3339 import parse_time
from testimony.service.store import errors as store_errors
from testimony.service.store.batching import AppendBatcher
from testimony.service.store.log import LogStore
from testimony.service.store.projections import (
    FollowupKey,
    FollowupTable,
    StoredSubmission,
    SubmissionTable,
)

from .clock import Clock, Granularity
from .errors import (
    BodyTooLarge,
    FollowupConflict,
    FollowupSignatureInvalid,
    MalformedFollowup,
    ParentWithoutWitness,
    RequestTooLarge,
    Unavailable,
    UnknownIntakeKey,
    UnknownParent,
)
from .intake import Intake, Submitted
from .receipts import Receipt

__all__ = ["Followups"]

_PLACEHOLDER_WITNESS = bytes(32)
_UNCOMPARED = ("signature", "received")


def _comparable(entry: bytes) -> dict[str, Any]:
    fields = dict(json.loads(entry))
    for name in _UNCOMPARED:
        del fields[name]
    return fields


class Followups:
    """Accepts follow-ups and logs replies (see the module docstring)."""

    def __init__(
        self,
        *,
        log: LogStore,
        batcher: AppendBatcher,
        intake: Intake,
        submissions: SubmissionTable,
        followups: FollowupTable,
        clock: Clock,
        granularity: Granularity,
        max_attachments: int,
    ) -> None:
        self._log = log
        self._batcher = batcher
        self._intake = intake
        self._submissions = submissions
        self._followups = followups
        self._clock = clock
        self._granularity = granularity
        self._max_attachments = max_attachments

    def parent(self, parent_id: object) -> StoredSubmission:
        """The logged submission ``parent_id`` names, which must carry a witness key.

        Raises :class:`UnknownParent` or :class:`ParentWithoutWitness`.
        """
        if not isinstance(parent_id, str):
            raise UnknownParent()
        parent = self._submissions.by_id(parent_id)
        if parent is None:
            raise UnknownParent()
        if parent.witness is None:
            raise ParentWithoutWitness()
        return parent

    def submit(self, request: object) -> Submitted:
        """Check a follow-up request, append its entry, and return its receipt.

        Raises :class:`MalformedFollowup`, :class:`BodyTooLarge`,
        :class:`RequestTooLarge`, :class:`UnknownIntakeKey`,
        :class:`UnknownParent`, :class:`ParentWithoutWitness`,
        :class:`FollowupSignatureInvalid`, :class:`FollowupConflict`,
        :class:`UnknownBlob`, :class:`IncompleteBlob`, a
        :class:`ProofOfWorkError` subclass, and :class:`Unavailable`.
        """
        # 1. Members.
        if not isinstance(request, dict):
            raise MalformedFollowup("a follow-up is a JSON object")
        unknown = sorted(set(request) - followup.FOLLOWUP_MEMBERS)
        if unknown:
            raise MalformedFollowup(f"a follow-up has no member `{unknown[0]}`")
        attachments = request.get("attachments", [])
        if isinstance(attachments, list) and len(attachments) > self._max_attachments:
            raise RequestTooLarge(f"a follow-up names at most {self._max_attachments} attachments")

        # 2. Lengths and encodings.
        received = self._granularity.floor(self._clock.now())
        try:
            followup.followup_entry(request, witness=_PLACEHOLDER_WITNESS, received=received)
        except MalformedInput as exc:
            raise MalformedFollowup(str(exc)) from None
        header = b64u_decode(request["header"])
        body = b64u_decode(request["body"]) if "body" in request else None
        if body is not None and len(body) > submission.MAX_INLINE_BODY:
            raise BodyTooLarge()

        # 3. A known intake key.
        if not self._intake.is_intake_key(request["intake_key"]):
            raise UnknownIntakeKey()

        # 4. A parent with a witness key; 5. its signature.
        parent = self.parent(request["parent"])
        assert parent.witness is not None
        witness = b64u_decode(parent.witness)
        try:
            followup.verify_followup(witness, request)
        except (SignatureError, MalformedInput):
            raise FollowupSignatureInvalid() from None
        entry = followup.followup_entry(request, witness=witness, received=received)
        fields = json.loads(entry)

        # 6. Seen before?
        key = FollowupKey(fields["parent"], fields["intake_key"], fields["header"], fields["body"])
        first = self._followups.first_index(key)
        if first is not None:
            return Submitted(self._repeat(first, request, witness), appended=False)

        # 7. Every named blob is complete; 8. proof of work. The batch's transaction
        # claims the blobs and spends the challenge (``check_blobs_and_append``).
        appended = self._intake.append_checked(request, fields, header, body, entry, key)
        if not appended.appended:
            return Submitted(self._repeat(appended.index, request, witness), appended=False)
        return Submitted(
            Receipt.proved(entry, appended.checkpoint.note, appended.inclusion), appended=True
        )

    def _repeat(self, index: int, request: dict[str, Any], witness: bytes) -> Receipt:
        stored = self._log.entry(index)
        received = parse_time(json.loads(stored)["received"])
        rebuilt = followup.followup_entry(request, witness=witness, received=received)
        if _comparable(rebuilt) != _comparable(stored):
            raise FollowupConflict()
        return self._intake.receipt(index)

    def post_reply(self, parent_id: str, sealed: bytes) -> Receipt:
        """Log a reviewer's sealed reply to submission ``parent_id``; return its receipt.

        ``sealed`` is ``Seal_S1(witness_box, "testimony/v1 reply", JCS(message))``;
        the server cannot and does not open it. Raises :class:`UnknownParent`,
        :class:`ParentWithoutWitness`, ``MalformedInput`` for bytes too short to
        be sealed, and :class:`Unavailable`.
        """
        parent = self.parent(parent_id)
        received = self._granularity.floor(self._clock.now())
        entry = followup.reply_entry(parent.id, sealed, received)
        try:
            # The sealed reply is kept like a header: a row committed with its entry.
            appended = self._batcher.submit(entry, blobs={sha256(sealed).hex(): sealed})
        except store_errors.BatcherClosed:
            raise Unavailable("the server is shutting down") from None
        if not appended.appended:
            return self._intake.receipt(appended.index)
        return Receipt.proved(entry, appended.checkpoint.note, appended.inclusion)
