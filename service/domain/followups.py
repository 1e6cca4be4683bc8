"""Follow-ups from a witness (docs/protocol.md §7, §9, §10).

**A follow-up needs a valid witness signature.** ``POST /api/v1/followups``
carries a new header and body sealed as in §3, ``parent`` (a submission id)
and ``signature``: the witness key's, over (v1.1)
``JCS({"type": "followup", "v": 1, "parent", "intake_key", "header": hex
H(header), "body": hex H(body), "attachments": sorted})``, the ``followup``
entry's own members, so it is checked from the entry alone
(``followup.verify_followup_entry``); ``pow`` is not signed. The checks, in
order, appending nothing unless every one holds:

1. the members of ``testimony.crypto.followup.FOLLOWUP_MEMBERS`` and no
   others, at most ``max_attachments`` attachments;
2. lengths and encodings, by building the entry once
   (``build_followup_entry``, a ``testimony.crypto.entries.FollowupEntry``,
   with a placeholder witness key until step 4 names the parent's), an inline
   body of at most 1 MiB; the shape of ``pow`` (``intake.check_pow_member``);
3. a known intake key (as for a submission);
4. the parent is a logged submission (``unknown-parent``) that carries a
   witness key (``parent-without-witness``);
5. the signature verifies with that key, over the members of the entry
   that names it (``followup-signature-invalid``);
6. seen before? A follow-up is identified by (parent, intake key, header
   hash, body hash): a repeat answers the first receipt if its entry, rebuilt
   at the first one's ``received``, is the first one (a retry with a fresh
   proof of work carries the same signature, since ``pow`` is not signed and
   Ed25519 is deterministic), and is ``followup-conflict`` otherwise (other
   attachments, or another signature of the same content);
7. every named blob is stored; 8. the proof of work.

The header and an inline body are kept as blobs, so the ciphertexts the entry
hashes can be handed out later. As for a submission (``intake``), steps 2 to 8
only read: the blobs are claimed, the challenge spent and the header and body
recorded in the transaction of the batch that appends the entry. The
``followup`` entry (``docs/log-entries.md``) names the parent, the parent's
witness key and the witness's signature, which anyone can check again from the
entry; the ``followups`` projection marks its blobs referenced.

**Replies** are not written here. A reviewer's reply is a signed entry
(``testimony.crypto.entries.SignedReplyEntry``, with the reviewer's ``actor``
and ``signature``) that the workstation sends with its sealed bytes to
``POST /api/v1/entries`` (``reviewers.Reviewers``, docs/reviewers-api.md),
which refuses a parent that is not a logged submission carrying a witness key
(``unknown-parent``, ``parent-without-witness``, as for a follow-up) and
commits the bytes with the entry. The unsigned ``reply`` entry earlier versions logged is
no longer written (an old log's still parses, ``entries.ReplyEntry``); the
witness reads replies through ``replies.Replies``.
"""

from __future__ import annotations

from dataclasses import replace

from testimony.crypto import followup, submission
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.entries import FollowupEntry
from testimony.crypto.errors import MalformedInput, SignatureError
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
    UnknownIntakeKey,
    UnknownParent,
)
from .intake import Intake, Submitted, check_pow_member
from .receipts import Receipt

__all__ = ["Followups"]

_PLACEHOLDER_WITNESS = bytes(32)


class Followups:
    """Accepts follow-ups (see the module docstring)."""

    def __init__(
        self,
        *,
        log: LogStore,
        intake: Intake,
        submissions: SubmissionTable,
        followups: FollowupTable,
        clock: Clock,
        granularity: Granularity,
        max_attachments: int,
    ) -> None:
        self._log = log
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
            built = followup.build_followup_entry(
                request, witness=_PLACEHOLDER_WITNESS, received=received
            )
        except MalformedInput as exc:
            raise MalformedFollowup(str(exc)) from None
        header = b64u_decode(request["header"])
        body = b64u_decode(request["body"]) if "body" in request else None
        if body is not None and len(body) > submission.MAX_INLINE_BODY:
            raise BodyTooLarge()
        check_pow_member(request.get("pow"))

        # 3. A known intake key.
        if not self._intake.is_intake_key(built.intake_key):
            raise UnknownIntakeKey()

        # 4. A parent with a witness key; 5. its signature, over the entry's members.
        parent = self.parent(built.parent)
        assert parent.witness is not None
        entry = replace(built, witness=b64u_decode(parent.witness))
        try:
            followup.verify_followup_entry(entry)
        except (SignatureError, MalformedInput):
            raise FollowupSignatureInvalid() from None

        # 6. Seen before?
        key = FollowupKey(entry.parent, entry.intake_key, entry.header, entry.body)
        first = self._followups.first_index(key)
        if first is not None:
            return Submitted(self._repeat(first, entry), appended=False)

        # 7. Every named blob is complete; 8. proof of work. The batch's transaction
        # claims the blobs and spends the challenge (``check_blobs_and_append``).
        appended = self._intake.append_checked(request, entry, header, body, key)
        if not appended.appended:
            return Submitted(self._repeat(appended.index, entry), appended=False)
        return Submitted(
            Receipt.proved(entry.to_json(), appended.checkpoint.note, appended.inclusion),
            appended=True,
        )

    def _repeat(self, index: int, entry: FollowupEntry) -> Receipt:
        # The first entry must say all that this one does but its `received`:
        # the signature too, as `pow` is not signed (a retry carries the same one).
        stored = FollowupEntry.parse(self._log.entry(index))
        if replace(entry, received=stored.received) != stored:
            raise FollowupConflict()
        return self._intake.receipt(index)
