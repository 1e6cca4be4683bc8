"""Accepting a submission (PROTOCOL.md §3 step 6, its entry of §9, its receipt of §10).

The server checks structure only, in this order, and appends nothing unless
every check holds:

1. the request is a JSON object with the members of §3 step 6 and no others;
2. lengths and encodings (``testimony.crypto.submission.submission_entry``:
   a 1168-byte header, exactly one of ``body`` and ``body_blob``, hex blob
   ids, a 32-byte witness key with a 1216-byte ``witness_box``), an inline
   body of at most 1 MiB, at most ``max_attachments`` attachments;
3. the intake key is one the log names;
4. the same request seen before? Then its first receipt is answered again
   (below) — before the proof of work, which the first request spent;
5. every named blob (attachments, ``body_blob``) is stored and verified;
6. the proof of work (§8), which is then spent.

Then the header and an inline body are stored as blobs (so ``testimony raw``
and evidence bundles can hand out the exact ciphertexts the entry hashes), the
entry is built with ``received`` floored to the granularity, and appended
through the group-commit batcher; the receipt is answered once its batch is
committed.

**Idempotency.** ``received`` is in the entry, so the entry's bytes change
from one hour to the next: a submission is identified by its content, the
``submissions`` projection's unique (intake key, header hash, body hash). A
repeat finds its first entry there, is rebuilt with that entry's
``received``, and must give the same bytes (else :class:`SubmissionConflict`:
the same ciphertext named with other attachments or witness keys). Its
receipt is the first one, byte for byte: the checkpoint of the batch that
appended it (the first checkpoint above its index) and the inclusion proof at
that size. Two identical requests racing within one hour are one entry (the
log deduplicates equal bytes); racing across an hour boundary, both may be
appended, and both answer the first entry's receipt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.engine import Engine

from testimony.crypto import submission
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.errors import MalformedInput
from testimony.crypto.rfc3339 import parse_time
from testimony.service.store import errors as store_errors
from testimony.service.store.batching import AppendBatcher
from testimony.service.store.log import LogStore
from testimony.service.store.models import Blob, Checkpoint, Submission
from testimony.service.store.projections import AppendedEntry

from .clock import Clock, Granularity
from .errors import (
    BodyTooLarge,
    IncompleteBlob,
    MalformedSubmission,
    RequestTooLarge,
    SubmissionConflict,
    Unavailable,
    UnknownBlob,
    UnknownIntakeKey,
)
from .pow import ProofOfWork, SpentChallenges
from .receipts import Receipt
from .uploads import BlobState, Uploads

__all__ = [
    "MAX_INLINE_BODY",
    "REQUEST_MEMBERS",
    "CiphertextBlobsProjection",
    "Intake",
    "Submitted",
]

MAX_INLINE_BODY = 1 << 20
"""A body larger than 1 MiB is uploaded as a blob and named by ``body_blob`` (§3)."""

REQUEST_MEMBERS = frozenset(
    {"intake_key", "header", "body", "body_blob", "attachments", "witness", "witness_box", "pow"}
)


@dataclass(frozen=True)
class Submitted:
    """A receipt, and whether this request appended its entry (False for a repeat)."""

    receipt: Receipt
    appended: bool


class CiphertextBlobsProjection:
    """Marks a submission's header and body blobs referenced, so they never expire.

    (``SubmissionProjection`` marks the attachments.) Deterministic in the
    entries alone, like every projection.
    """

    def reset(self, connection: Connection) -> None:
        """Nothing of its own to forget (``SubmissionProjection`` clears the flags)."""

    def project(self, connection: Connection, entries: Sequence[AppendedEntry]) -> None:
        """Set ``referenced`` on the header and body blobs of submission entries."""
        ids: set[str] = set()
        for item in entries:
            try:
                value = json.loads(item.entry)
            except (UnicodeDecodeError, ValueError):
                continue
            if isinstance(value, dict) and value.get("type") == "submission":
                ids.update(
                    v for v in (value.get("header"), value.get("body")) if isinstance(v, str)
                )
        if ids:
            connection.execute(update(Blob).where(Blob.id.in_(sorted(ids))).values(referenced=True))


class Intake:
    """Accepts submissions and answers their receipts (see the module docstring)."""

    def __init__(
        self,
        *,
        engine: Engine,
        log: LogStore,
        batcher: AppendBatcher,
        uploads: Uploads,
        proof_of_work: ProofOfWork,
        spent: SpentChallenges,
        intake_keys: Mapping[str, bytes],
        clock: Clock,
        granularity: Granularity,
        max_attachments: int,
    ) -> None:
        self._engine = engine
        self._log = log
        self._batcher = batcher
        self._uploads = uploads
        self._pow = proof_of_work
        self._spent = spent
        self._intake_keys = dict(intake_keys)
        self._clock = clock
        self._granularity = granularity
        self._max_attachments = max_attachments

    @property
    def intake_keys(self) -> Mapping[str, bytes]:
        """The intake keys submissions may be sealed to: key id -> S1 public key."""
        return dict(self._intake_keys)

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

        # 2. Lengths and encodings (the entry is built again below, at append time).
        received = self._granularity.floor(self._clock.now())
        try:
            entry = submission.submission_entry(content, received)
        except MalformedInput as exc:
            raise MalformedSubmission(str(exc)) from None
        fields = json.loads(entry)
        header = b64u_decode(content["header"])
        body = b64u_decode(content["body"]) if "body" in content else None
        if body is not None and len(body) > MAX_INLINE_BODY:
            raise BodyTooLarge()

        # 3. A known intake key.
        if fields["intake_key"] not in self._intake_keys:
            raise UnknownIntakeKey()

        # 4. Seen before?
        first = self._find(fields["intake_key"], fields["header"], fields["body"])
        if first is not None:
            return Submitted(self._repeat(first, content), appended=False)

        # 5. Every named blob is complete.
        named = list(fields["attachments"])
        if body is None:
            named.append(fields["body"])
        for blob_id in named:
            state = self._uploads.blob_state(blob_id)
            if state == BlobState.INCOMPLETE:
                raise IncompleteBlob(f"blob {blob_id} is not completely uploaded")
            if state != BlobState.COMPLETE:
                raise UnknownBlob(f"blob {blob_id} was not uploaded")

        # 6. Proof of work, spent last.
        self._pow.check(request.get("pow"), self._spent)

        # Keep the exact ciphertexts the entry hashes.
        self._uploads.put_blob(header, fields["header"])
        if body is not None:
            self._uploads.put_blob(body, fields["body"])

        try:
            appended = self._batcher.submit(entry)
        except store_errors.BatcherClosed:
            raise Unavailable("the server is shutting down") from None
        first = self._find(fields["intake_key"], fields["header"], fields["body"])
        if not appended.appended or (first is not None and first != appended.index):
            # Logged meanwhile by an identical request: answer the first receipt.
            return Submitted(self.receipt(first if first is not None else appended.index), False)
        return Submitted(
            Receipt(
                entry=entry,
                index=appended.index,
                checkpoint=appended.checkpoint.note,
                size=appended.inclusion.size,
                path=tuple(appended.inclusion.path),
            ),
            appended=True,
        )

    def _find(self, intake_key: str, header_hash: str, body_hash: str) -> int | None:
        with self._engine.connect() as connection:
            index = connection.execute(
                select(Submission.idx).where(
                    Submission.intake_key == intake_key,
                    Submission.header_sha256 == header_hash,
                    Submission.body_sha256 == body_hash,
                )
            ).scalar_one_or_none()
        return None if index is None else int(index)

    def _repeat(self, index: int, content: Mapping[str, Any]) -> Receipt:
        stored = self._log.entry(index)
        received = parse_time(json.loads(stored)["received"])
        if submission.submission_entry(content, received) != stored:
            raise SubmissionConflict()
        return self.receipt(index)

    def receipt(self, index: int) -> Receipt:
        """The receipt of entry ``index`` as first answered: proved at the
        checkpoint of the batch that appended it.

        Raises :class:`Unavailable` if no checkpoint covers it (it cannot
        happen in an honest store: a batch commits with its checkpoint).
        """
        entry = self._log.entry(index)
        with self._engine.connect() as connection:
            size = connection.execute(
                select(Checkpoint.size)
                .where(Checkpoint.size > index)
                .order_by(Checkpoint.size)
                .limit(1)
            ).scalar_one_or_none()
        if size is None:
            raise Unavailable("no checkpoint covers this entry yet")
        checkpoint = self._log.checkpoint(int(size))
        proof = self._log.inclusion_proof(index, int(size))
        return Receipt(
            entry=entry,
            index=index,
            checkpoint=checkpoint.note,
            size=proof.size,
            path=tuple(proof.path),
        )
