"""Accepting a submission (docs/protocol.md §3 step 6, its entry of §9, its receipt of §10).

The server checks structure only, in this order, and appends nothing unless
every check holds:

1. the request is a JSON object with the members of §3 step 6 and no others;
2. lengths and encodings, by building the entry once
   (``testimony.crypto.submission.build_submission_entry``, a
   ``testimony.crypto.entries.SubmissionEntry``: a 1168-byte header, exactly
   one of ``body`` and ``body_blob``, hex blob ids, a 32-byte witness key with
   a 1216-byte ``witness_box``), an inline body of at most 1 MiB, at most
   ``max_attachments`` attachments; the witness key is an Ed25519 point,
   canonical and not of small order (``testimony.crypto.ed25519``); ``pow``,
   if not null, is exactly ``{"challenge", "nonce"}`` of b64u strings, even
   when no work is asked for (:func:`check_pow_member`; ``pow-invalid``);
3. the intake key is one an ``intake-key`` entry of the log names (the
   store's ``intake_keys`` projection; ``docs/log-entries.md``);
4. the same request seen before? Then its first receipt is answered again
   (below) — before the proof of work, which the first request spent;
5. every named blob (attachments, ``body_blob``) is stored and verified;
6. the proof of work (§8), when work is asked for.

Then the entry is built with ``received`` floored to the granularity and
appended through the group-commit batcher; the receipt is answered once its
batch is committed. Steps 3 to 6 only read: every row the submission writes
is written in its batch's transaction, before its entry (``prepare`` of
``LogStore.append_batch``), so concurrent submissions share one commit. There
the named blobs are claimed (a blob expired since step 5 refuses the
submission with :class:`UnknownBlob`, as step 5 would have), the challenge is
spent (a challenge spent since, by another submission of this batch or an
earlier one, refuses it with :class:`ProofOfWorkReused`), and the header and
inline body are stored as database rows (``store.inline_blobs``: committed
with the entry, so ``testimony raw`` and evidence bundles can hand out the
exact ciphertexts it hashes, at no fsync of their own); the log's
``submissions`` projection then marks the header, body and attachment blobs
referenced.

**Idempotency.** ``received`` is in the entry, so the entry's bytes change
from one hour to the next: a submission is identified by its content, its
``SubmissionKey`` (intake key, header hash, body hash), unique in the
``submissions`` projection. A repeat finds its first entry there (step 4), is
rebuilt with that entry's ``received``, and must give the same entry (else
:class:`SubmissionConflict`: the same ciphertext named with other attachments
or witness keys). Its receipt is the first one, byte for byte: the checkpoint
of the batch that appended it (``LogStore.first_checkpoint_after``) and the
inclusion proof at that size.

Two identical requests racing past step 4 (in any process, even across an
hour boundary so that their entries differ in ``received``) are caught by the
append itself: the entry carries its key as a dedup key, which
``LogStore.append_batch`` checks under the log's writer lock against the
``submissions`` projection and the earlier items of its batch. The later
request appends nothing and answers the first receipt (or
:class:`SubmissionConflict`, as a repeat would).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from testimony.crypto import ed25519, submission
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.entries import FollowupEntry, SubmissionEntry
from testimony.crypto.errors import MalformedInput
from testimony.crypto.pow import MAX_NONCE_BYTES
from testimony.service.store.batching import AppendBatcher, AppendReceipt
from testimony.service.store.log import LogStore
from testimony.service.store.projections import IntakeKeyTable, SubmissionKey, SubmissionTable

from .clock import Clock, Granularity
from .errors import (
    BodyTooLarge,
    IncompleteBlob,
    MalformedSubmission,
    ProofOfWorkInvalid,
    ProofOfWorkReused,
    RequestTooLarge,
    SubmissionConflict,
    Unavailable,
    UnknownBlob,
    UnknownIntakeKey,
    from_store,
)
from .pow import ProofOfWork, TransactionalSpentChallenges
from .receipts import Receipt
from .uploads import BlobState, Uploads

__all__ = [
    "POW_MEMBERS",
    "REQUEST_MEMBERS",
    "Intake",
    "Submitted",
    "check_blobs_and_append",
    "check_pow_member",
]

REQUEST_MEMBERS = submission.REQUEST_MEMBERS | {"pow"}
"""The members a submission request may carry (§3 step 6)."""

POW_MEMBERS = frozenset({"challenge", "nonce"})
"""The members of a request's ``pow`` (§8), and no others."""


def check_pow_member(proof: object) -> None:
    """The shape of a request's ``pow``, checked whether or not work is asked for.

    Absent or null, or exactly ``{"challenge", "nonce"}``: b64u strings, the
    nonce at most 64 bytes (§8). Whether the challenge is this server's, fresh,
    unspent and solved is :meth:`ProofOfWork.verify`'s, when work is asked for.
    Raises :class:`ProofOfWorkInvalid`.
    """
    if proof is None:
        return
    if not isinstance(proof, dict) or set(proof) != POW_MEMBERS:
        raise ProofOfWorkInvalid("`pow` is an object with exactly `challenge` and `nonce`")
    try:
        b64u_decode(proof["challenge"])
        nonce = b64u_decode(proof["nonce"])
    except MalformedInput:
        raise ProofOfWorkInvalid("`challenge` and `nonce` are b64u strings") from None
    if len(nonce) > MAX_NONCE_BYTES:
        raise ProofOfWorkInvalid(f"a nonce is at most {MAX_NONCE_BYTES} bytes")


@dataclass(frozen=True)
class Submitted:
    """A receipt, and whether this request appended its entry (False for a repeat)."""

    receipt: Receipt
    appended: bool


def check_blobs_and_append(
    *,
    uploads: Uploads,
    proof_of_work: ProofOfWork,
    spent: TransactionalSpentChallenges,
    batcher: AppendBatcher,
    request: Mapping[str, Any],
    entry: SubmissionEntry | FollowupEntry,
    header: bytes,
    body: bytes | None,
    dedup_key: Hashable,
) -> AppendReceipt:
    """The last checks of a submission or a follow-up, then the append of ``entry``.

    ``entry`` is the entry built from ``request``, ``header`` and ``body`` the
    decoded ciphertexts of ``request`` (``body`` None when it names a ``body_blob``).
    Checks that every blob the entry names (its attachments, and its body
    unless inline) is complete and checks ``request["pow"]`` (reads only),
    and appends ``entry`` with ``dedup_key`` through ``batcher``. In the
    append's transaction, before the entry, the named blobs are claimed, the
    challenge spent and the header and inline body stored (the exact
    ciphertexts the entry hashes; see the module docstring). The answer's ``appended`` is False
    when an entry with ``dedup_key`` was logged first.

    Raises :class:`IncompleteBlob` for a named blob still uploading,
    :class:`UnknownBlob` for one that was never uploaded (or expired before
    the append), a :class:`ProofOfWorkError` subclass, and
    :class:`Unavailable` if the batcher is closed.
    """
    named = list(entry.attachments)
    if body is None:
        named.append(entry.body)
    states = uploads.blob_states(named)
    for blob_id in named:
        if states[blob_id] == BlobState.INCOMPLETE:
            raise IncompleteBlob(f"blob {blob_id} is not completely uploaded")
        if states[blob_id] != BlobState.COMPLETE:
            raise UnknownBlob(f"blob {blob_id} was not uploaded")

    spendable = proof_of_work.verify(request.get("pow"))

    ciphertexts = {entry.header: header}
    if body is not None:
        ciphertexts[entry.body] = body
    if isinstance(entry, SubmissionEntry) and entry.witness_box is not None:
        # The witness's S1 key, which reviewers seal replies to (§7: the server
        # keeps it as a pseudonym); the entry names its hash.
        ciphertexts[entry.witness_box] = b64u_decode(request["witness_box"])

    def prepare(connection: Connection) -> Exception | None:
        # In the batch's transaction: a refusal fails this submission alone.
        gone = uploads.claim_in(connection, named)
        if gone:
            return UnknownBlob(f"blob {gone[0]} was not uploaded")
        if spendable is not None and not spent.spend_in(
            connection, spendable.digest, spendable.expires
        ):
            return ProofOfWorkReused()
        return None

    with from_store():
        return batcher.submit(
            entry.to_json(),
            dedup_key=dedup_key,
            prepare=prepare if named or spendable is not None else None,
            blobs=ciphertexts,
        )


class Intake:
    """Accepts submissions and answers their receipts (see the module docstring)."""

    def __init__(
        self,
        *,
        log: LogStore,
        batcher: AppendBatcher,
        uploads: Uploads,
        proof_of_work: ProofOfWork,
        spent: TransactionalSpentChallenges,
        intake_keys: IntakeKeyTable,
        submissions: SubmissionTable,
        clock: Clock,
        granularity: Granularity,
        max_attachments: int,
        rotated_keys: Callable[[], Mapping[str, bytes]] | None = None,
    ) -> None:
        self._log = log
        self._rotated_keys = rotated_keys
        self._batcher = batcher
        self._uploads = uploads
        self._pow = proof_of_work
        self._spent = spent
        self._intake_keys = intake_keys
        self._known_keys: set[str] = set()
        self._submissions = submissions
        self._clock = clock
        self._granularity = granularity
        self._max_attachments = max_attachments

    @property
    def intake_keys(self) -> Mapping[str, bytes]:
        """The intake keys submissions may be sealed to: key id -> S1 public key,
        in the order the log introduced them (the newest last): entry 0's, then
        every rotation (§12.5) once its quorum is reached."""
        keys = {key.key_id: key.public_key for key in self._intake_keys.all()}
        if self._rotated_keys is not None:
            keys.update(self._rotated_keys())
        return keys

    def _is_intake_key(self, key_id: str) -> bool:
        # Keys are only ever added to the log, so a key once found stays known;
        # a key added by another process is found on its first use here.
        if key_id in self._known_keys:
            return True
        if self._intake_keys.get(key_id) is None and (
            self._rotated_keys is None or key_id not in self._rotated_keys()
        ):
            return False
        self._known_keys.add(key_id)
        return True

    def is_intake_key(self, key_id: object) -> bool:
        """Whether ``key_id`` names an intake key of the log (submissions and follow-ups)."""
        return isinstance(key_id, str) and self._is_intake_key(key_id)

    def submit(self, request: object) -> Submitted:
        """Check a §3 step 6 request, append its entry, and return its receipt.

        Raises :class:`MalformedSubmission` for a request of the wrong
        structure, :class:`BodyTooLarge` for an inline body above 1 MiB,
        :class:`RequestTooLarge` for too many attachments,
        :class:`UnknownIntakeKey`, :class:`SubmissionConflict` (see the module
        docstring), :class:`UnknownBlob` or :class:`IncompleteBlob` for a named
        blob that is not stored, a :class:`ProofOfWorkError` subclass, and
        :class:`Unavailable` if the log cannot take the entry now.
        """
        # 1. Members.
        if not isinstance(request, dict):
            raise MalformedSubmission("a submission is a JSON object")
        unknown = sorted(set(request) - REQUEST_MEMBERS)
        if unknown:
            raise MalformedSubmission(f"a submission has no member `{unknown[0]}`")
        content = {k: v for k, v in request.items() if k != "pow"}
        attachments = content.get("attachments", [])
        if isinstance(attachments, list) and len(attachments) > self._max_attachments:
            raise RequestTooLarge(f"a submission names at most {self._max_attachments} attachments")

        # 2. Lengths and encodings, by building the entry (once).
        received = self._granularity.floor(self._clock.now())
        try:
            entry = submission.build_submission_entry(content, received)
        except MalformedInput as exc:
            raise MalformedSubmission(str(exc)) from None
        if content.get("witness") is not None:
            try:
                ed25519.check_public_key(b64u_decode(content["witness"]))
            except MalformedInput as exc:
                raise MalformedSubmission(f"`witness`: {exc}") from None
        header = b64u_decode(content["header"])
        body = b64u_decode(content["body"]) if "body" in content else None
        if body is not None and len(body) > submission.MAX_INLINE_BODY:
            raise BodyTooLarge()
        check_pow_member(request.get("pow"))

        # 3. A known intake key.
        if not self._is_intake_key(entry.intake_key):
            raise UnknownIntakeKey()

        # 4. Seen before?
        key = SubmissionKey(entry.intake_key, entry.header, entry.body)
        first = self._submissions.first_index(key)
        if first is not None:
            return Submitted(self._repeat(first, entry), appended=False)

        # 5. Every named blob is complete; 6. proof of work. The batch's transaction
        # claims the blobs and spends the challenge (``check_blobs_and_append``).
        appended = self.append_checked(request, entry, header, body, key)
        if not appended.appended:
            # Logged meanwhile by an identical request: answer the first receipt.
            return Submitted(self._repeat(appended.index, entry), appended=False)
        return Submitted(
            Receipt.proved(entry.to_json(), appended.checkpoint.note, appended.inclusion),
            appended=True,
        )

    def append_checked(
        self,
        request: Mapping[str, Any],
        entry: SubmissionEntry | FollowupEntry,
        header: bytes,
        body: bytes | None,
        dedup_key: Hashable,
    ) -> AppendReceipt:
        """:func:`check_blobs_and_append` with this intake's uploads, proof of
        work and batcher; follow-ups end the same way."""
        return check_blobs_and_append(
            uploads=self._uploads,
            proof_of_work=self._pow,
            spent=self._spent,
            batcher=self._batcher,
            request=request,
            entry=entry,
            header=header,
            body=body,
            dedup_key=dedup_key,
        )

    def _repeat(self, index: int, entry: SubmissionEntry) -> Receipt:
        # The entry logged first has the same content key; it must say all
        # the rest alike too (attachments, witness keys), ``received`` aside.
        stored = SubmissionEntry.parse(self._log.entry(index))
        if replace(entry, received=stored.received) != stored:
            raise SubmissionConflict()
        return self.receipt(index)

    def receipt(self, index: int) -> Receipt:
        """The receipt of entry ``index`` as first answered: proved at the
        checkpoint of the batch that appended it.

        Raises :class:`Unavailable` if no checkpoint covers it (it cannot
        happen in an honest store: a batch commits with its checkpoint).
        """
        entry = self._log.entry(index)
        checkpoint = self._log.first_checkpoint_after(index)
        if checkpoint is None:
            raise Unavailable("no checkpoint covers this entry yet")
        return Receipt.proved(
            entry, checkpoint.note, self._log.inclusion_proof(index, checkpoint.size)
        )
