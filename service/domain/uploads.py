"""Blobs and resumable uploads (docs/protocol.md §6), the rules without HTTP.

An upload is created with its length, the hex SHA-256 its bytes must have
and, while proof of work is on, a solved challenge (the API reads these plain
values from tus, ``api.tus``); it is appended to at its current offset only;
when the last byte arrives the bytes are hashed and, only if they match,
become the blob of that id, which a submission may then name. Limits, each
answered with a :class:`TooLarge` error (HTTP 413):

- per blob: a declared length above ``max_blob_bytes``;
- per unfinished upload: data past the upload's declared length;
- server-wide, **one budget** (``budget_bytes``): the declared lengths of the
  unfinished uploads and the sizes of the finished blobs no log entry names,
  each counted as at least ``unit_bytes``. A creation that would pass it is
  refused (:class:`UploadQuotaExceeded`).

**Proof of work** (§6, §8). A creation pays a challenge of
:func:`~testimony.service.domain.pow.upload_difficulty` bits: the base
difficulty, one more per doubling of the upload past the unit, one more per
``1/pow_load_bits`` of the budget taken with it. :meth:`Uploads.challenge`
(``GET /api/v1/pow?length=``) issues one at that price; the creation checks
the challenge's own bits against the price *then*, with
:data:`PRICE_SLACK_BITS` of slack (the budget may have filled a step while
the client solved), and spends it in the transaction that inserts the
upload, so a refused creation spends nothing and a challenge buys one upload
or one submission, never two. A flood thus pays more for each upload as the
budget fills, and challenges stockpiled at an empty server's price are
refused once the price has risen two steps.

**Expiry.** An unfinished upload's row holds the end of its first idle time
(``idle_seconds`` after its creation). After that it lives while it receives
bytes, at a pace: it expires at ``max(first idle end, min(idle end, paced
end))``, where the idle end is ``idle_seconds`` after the end of the granule
its partial file was last written in, and the paced end is ``first idle end
+ lifetime_seconds * offset / length``. So an idle upload expires within
hours, an upload keeping pace with its declared length over
``lifetime_seconds`` does not, a trickle of bytes holds no large claim, and
no upload lives longer than ``idle_seconds + lifetime_seconds``. Expired, it
answers :class:`UploadExpired` until :meth:`Uploads.expire` removes it (each
creation sweeps first). A finished blob that no log entry names expires
after ``unreferenced_blob_expiry_seconds``, counted from when it was last
recorded or claimed; a blob a submission entry names (header, body,
attachment) is marked referenced by the log's ``submissions`` projection and
never expires. A submission reads the state of the blobs it names
(:meth:`Uploads.blob_states`) and claims them inside the append that logs it
(:meth:`Uploads.claim_in`), so that expiry cannot delete one between the
check and the append (``store.blob_index`` settles that race). A finished
upload answers ``HEAD`` as long as its blob would stay unreferenced. Expiries are
rounded up to the time granularity, so no precise time is kept (§9).

Upload ids are random tokens; nothing about the client is kept.

The tables are reached through ``store.UploadTable`` and ``store.BlobIndex``;
the budget check of :meth:`Uploads.create` runs under a lock of its own (on
PostgreSQL not the log's, so uploads and appends never wait for each other).
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection

from testimony.service.store import errors as store_errors
from testimony.service.store.blob_index import BlobIndex
from testimony.service.store.blobs import BlobStore
from testimony.service.store.inline_blobs import InlineBlobs
from testimony.service.store.upload_table import StoredUpload, UploadTable

from .clock import Clock, Granularity, unix_seconds
from .errors import (
    BlobTooLarge,
    MalformedUpload,
    ProofOfWorkInsufficient,
    ProofOfWorkReused,
    UploadExpired,
    UploadHashMismatch,
    UploadLengthExceeded,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadQuotaExceeded,
    from_store,
)
from .pow import Challenge, ProofOfWork, TransactionalSpentChallenges, upload_difficulty

__all__ = ["PRICE_SLACK_BITS", "BlobState", "UploadLimits", "UploadState", "Uploads"]

_HEX_ID = re.compile(r"[0-9a-f]{64}")
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")

PRICE_SLACK_BITS = 1
"""A creation accepts a challenge issued for at most this many bits under its price."""


@dataclass(frozen=True)
class UploadLimits:
    """The limits of §6 (see the module docstring)."""

    max_blob_bytes: int
    budget_bytes: int
    unit_bytes: int
    idle_seconds: int
    lifetime_seconds: int
    unreferenced_blob_expiry_seconds: int
    pow_load_bits: int


@dataclass(frozen=True)
class UploadState:
    """An upload as tus reports it."""

    id: str
    length: int
    offset: int
    expires: datetime

    @property
    def finished(self) -> bool:
        """Whether every byte has arrived and the blob is stored."""
        return self.offset == self.length


class BlobState:
    """Whether a blob can be named by a submission."""

    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    UNKNOWN = "unknown"


def _check_upload_id(upload_id: str) -> None:
    if not isinstance(upload_id, str) or _UPLOAD_ID.fullmatch(upload_id) is None:
        raise UploadNotFound()


class Uploads:
    """Resumable uploads into a :class:`BlobStore`, with their rows in the store.

    ``proof_of_work`` prices and checks creations (its ``bits`` the base
    difficulty, 0 for none); ``spent`` is the spent-challenge table the
    submissions use too. Every method is synchronous (call it from a worker
    thread in an async server). Several processes may share one database and
    blob directory.
    """

    def __init__(
        self,
        *,
        blobs: BlobStore,
        blob_index: BlobIndex,
        upload_table: UploadTable,
        clock: Clock,
        granularity: Granularity,
        limits: UploadLimits,
        proof_of_work: ProofOfWork,
        spent: TransactionalSpentChallenges,
    ) -> None:
        self._blobs = blobs
        self._index = blob_index
        self._table = upload_table
        self._clock = clock
        self._granularity = granularity
        self._limits = limits
        self._pow = proof_of_work
        self._spent = spent

    @property
    def limits(self) -> UploadLimits:
        """The limits in force."""
        return self._limits

    def _now(self) -> int:
        return unix_seconds(self._clock.now())

    def _floored_now(self) -> int:
        return self._granularity.floor_seconds(self._now())

    # --- the budget and its price -----------------------------------------------------

    def budget_used(self) -> int:
        """Budget bytes taken now, by unfinished uploads and unreferenced blobs."""
        return self._table.budget_used(unit=self._limits.unit_bytes)

    def price(self, length: int, used: int) -> int:
        """Bits of work an upload of ``length`` bytes costs when ``used`` bytes
        of the budget are taken with it (0 while proof of work is off)."""
        unit = self._limits.unit_bytes
        return upload_difficulty(
            self._pow.bits,
            units=max(1, -(-length // unit)),
            used=used,
            budget=self._limits.budget_bytes,
            load_bits=self._limits.pow_load_bits,
        )

    def _check_length(self, length: int) -> None:
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise MalformedUpload("Upload-Length is a whole number of bytes")
        if length > self._limits.max_blob_bytes:
            raise BlobTooLarge(f"a blob is at most {self._limits.max_blob_bytes} bytes")

    def challenge(self, length: int) -> Challenge:
        """A challenge priced for creating an upload of ``length`` bytes now
        (``GET /api/v1/pow?length=``; 0 bits while proof of work is off).

        Raises :class:`MalformedUpload` for a negative length,
        :class:`BlobTooLarge` above the per-blob limit and
        :class:`UploadQuotaExceeded` if such an upload does not fit the
        budget now (no work is worth solving for it then).
        """
        self._check_length(length)
        used = self.budget_used() + max(length, self._limits.unit_bytes)
        if used > self._limits.budget_bytes:
            raise UploadQuotaExceeded()
        return self._pow.issue(self.price(length, used))

    # --- tus ------------------------------------------------------------------------

    def create(self, length: int, blob_id: str, proof: object = None) -> UploadState:
        """Start an upload of ``length`` bytes that must hash to ``blob_id``,
        paid with ``proof`` (``{"challenge", "nonce"}``, §8) while proof of
        work is on (ignored while it is off).

        An upload of 0 bytes finishes at once. Raises :class:`MalformedUpload`
        for a negative length or bad id, :class:`BlobTooLarge` above the
        per-blob limit, the errors of :meth:`ProofOfWork.verify`,
        :class:`UploadQuotaExceeded` when the upload does not fit the budget,
        :class:`ProofOfWorkInsufficient` when the challenge was issued for
        more than :data:`PRICE_SLACK_BITS` under what the upload costs now,
        :class:`ProofOfWorkReused` when it was spent before, and
        :class:`UploadHashMismatch` for an empty upload whose id is not the
        hash of nothing. The challenge is spent only if the upload is created.
        """
        self._check_length(length)
        if not isinstance(blob_id, str) or _HEX_ID.fullmatch(blob_id) is None:
            raise MalformedUpload("the sha256 metadata is not 64 lowercase hex digits")
        spendable = self._pow.verify(proof)
        self.expire()
        now = self._now()
        floored = self._granularity.floor_seconds(now)
        expires = self._granularity.ceil_seconds(now + self._limits.idle_seconds)
        upload = StoredUpload(
            id=secrets.token_urlsafe(24), length=length, offset=0, sha256=blob_id, expires=expires
        )

        def admit(connection: Connection, used: int) -> None:
            if spendable is None:
                return
            price = self.price(length, used)
            if spendable.bits < price - PRICE_SLACK_BITS:
                raise ProofOfWorkInsufficient(
                    f"this upload costs {price} bits now; fetch a new challenge"
                )
            if not self._spent.spend_in(connection, spendable.digest, spendable.expires):
                raise ProofOfWorkReused()

        # The row first, under the budget lock and with the spend; the file
        # after, so no fsync runs while the lock is held. Nobody knows the id
        # before this returns.
        with from_store():
            self._table.insert_within_budget(
                upload, unit=self._limits.unit_bytes, budget=self._limits.budget_bytes, admit=admit
            )
        try:
            self._blobs.begin_partial(upload.id, mtime=floored)
        except BaseException:
            self._table.delete(upload.id)
            raise
        if length == 0:
            return self._finish(upload, floored)
        return self._state(upload)

    def _row(self, upload_id: str) -> StoredUpload:
        _check_upload_id(upload_id)
        row = self._table.get(upload_id)
        if row is None:
            raise UploadNotFound()
        return row

    def _state(
        self, row: StoredUpload, offset: int | None = None, expires: int | None = None
    ) -> UploadState:
        return UploadState(
            row.id,
            row.length,
            row.offset if offset is None else offset,
            datetime.fromtimestamp(row.expires if expires is None else expires, UTC),
        )

    def _expiry(self, row: StoredUpload, size: int, written: int) -> int:
        """When unfinished upload ``row`` expires, holding ``size`` bytes, its
        file last written at ``written`` (see the module docstring)."""
        granularity, limits = self._granularity, self._limits
        idle_end = granularity.ceil_seconds(
            granularity.floor_seconds(written) + granularity.seconds + limits.idle_seconds
        )
        paced_end = granularity.ceil_seconds(
            row.expires + size * limits.lifetime_seconds // max(row.length, 1)
        )
        return max(row.expires, min(idle_end, paced_end))

    def _live(self, row: StoredUpload) -> tuple[int, int]:
        """The offset and expiry of unfinished upload ``row``. Raises
        :class:`UploadExpired` if it has expired and :class:`UploadNotFound`
        if its file is gone."""
        with from_store():
            size, written = self._blobs.partial_stat(row.id)
        expires = self._expiry(row, size, written)
        if expires <= self._now():
            raise UploadExpired()
        return size, expires

    def _alive(self, row: StoredUpload) -> bool:
        try:
            self._live(row)
        except (UploadExpired, UploadNotFound):
            return False
        return True

    def status(self, upload_id: str) -> UploadState:
        """The upload's length, offset and expiry (tus HEAD).

        Raises :class:`UploadNotFound` for an unknown id and
        :class:`UploadExpired` for an unfinished upload past its expiry.
        """
        row = self._row(upload_id)
        if row.finished:
            return self._state(row)
        return self._state(row, *self._live(row))

    def append(
        self,
        upload_id: str,
        offset: int,
        chunks: Iterable[bytes],
        *,
        declared_length: int | None = None,
    ) -> UploadState:
        """Append ``chunks`` at ``offset`` (tus PATCH); finish the blob when complete.

        ``declared_length`` is the request's ``Content-Length``, if it has
        one: a request at the upload's offset that declares more bytes than
        the upload has left is refused before any is written. Bytes received
        before ``chunks`` fails (a dropped connection) are kept,
        and the iterator's exception is re-raised. Raises
        :class:`UploadNotFound`, :class:`UploadExpired`,
        :class:`UploadOffsetMismatch` if ``offset`` is not the upload's
        offset, :class:`UploadLengthExceeded` for data past the declared length
        (the bytes up to it are kept and, being complete, finish the blob if
        they hash right), :class:`UploadBusy` if another request
        is writing to it, and :class:`UploadHashMismatch` if the complete
        bytes do not hash to the declared id (the upload is then removed).
        """
        row = self._row(upload_id)
        if row.finished:
            if offset != row.length:
                raise UploadOffsetMismatch(f"the upload is complete at offset {row.length}")
            for chunk in chunks:
                if chunk:
                    raise UploadLengthExceeded()
            return self._state(row)
        size, _ = self._live(row)
        if offset != size:
            # Refused before the store's lock is asked for, so that a request
            # at the wrong offset never holds the upload even for a moment:
            # the writer at the right one takes the lock again to finish the
            # blob, and would find it busy (a PATCH waiting for a stalled
            # writer asks again and again, api.uploads).
            raise UploadOffsetMismatch(f"the upload is at offset {size}")
        if declared_length is not None and offset + declared_length > row.length:
            raise UploadLengthExceeded()
        floored = self._floored_now()
        new_offset = offset
        try:
            with from_store():
                new_offset = self._blobs.append_partial(
                    upload_id, offset, chunks, mtime=floored, max_size=row.length
                )
        except store_errors.UploadTooLarge:
            # The store kept exactly the declared length: finish the blob with
            # those bytes (or drop them if they do not hash right), then refuse.
            with contextlib.suppress(UploadHashMismatch):
                self._finish(row, floored)
            raise UploadLengthExceeded() from None
        if new_offset < row.length:
            # The offset of an unfinished upload is its file's size (status),
            # and its file's time says when it last received bytes; the row
            # records the offset only once the upload is complete. Recording
            # it per PATCH cost a commit, whose fsync waits behind the
            # upload's own writeback: 3.5-6 ms of a 20 ms PATCH of 8 MiB.
            return self._state(row, new_offset, self._expiry(row, new_offset, floored))
        return self._finish(row, floored)

    def _finish(self, row: StoredUpload, floored: int) -> UploadState:
        try:
            with from_store():
                self._blobs.finish_partial(row.id, row.sha256, mtime=floored)
        except store_errors.BlobHashMismatch:
            self._table.delete(row.id)
            raise UploadHashMismatch() from None
        # Recorded before the row says finished: for a moment the bytes count
        # twice against the budget, never not at all. The finished row stays
        # as long as an unreferenced blob would, so that a client that lost
        # the last answer finds the upload complete (and does not upload the
        # whole blob again).
        self._index.record({row.sha256: row.length}, created=floored)
        expires = self._granularity.ceil_seconds(
            floored + self._granularity.seconds + self._limits.unreferenced_blob_expiry_seconds
        )
        self._table.set_offset(row.id, row.length, expires=expires)
        return self._state(row, row.length, expires)

    def terminate(self, upload_id: str) -> None:
        """Remove an upload (tus termination). Raises :class:`UploadNotFound`."""
        row = self._row(upload_id)
        self._table.delete(row.id)
        if not row.finished:
            self._blobs.discard_partial(upload_id)

    # --- blobs ---------------------------------------------------------------------

    def blob_states(self, blob_ids: Sequence[str]) -> dict[str, str]:
        """:class:`BlobState` of each of ``blob_ids``: complete if recorded and
        on disk, incomplete if still uploading, else unknown.

        A read: it claims nothing. A submission claims its blobs afterwards,
        in the append that logs it (:meth:`claim_in`), and refuses those gone
        since this read."""
        recorded = self._index.recorded(blob_ids)
        states: dict[str, str] = {}
        for blob_id in blob_ids:
            if blob_id in recorded and self._blobs.exists(blob_id):
                states[blob_id] = BlobState.COMPLETE
            elif any(self._alive(row) for row in self._table.unfinished_of(blob_id)):
                states[blob_id] = BlobState.INCOMPLETE
            else:
                states[blob_id] = BlobState.UNKNOWN
        return states

    def claim_in(self, connection: Connection, blob_ids: Sequence[str]) -> list[str]:
        """Claim ``blob_ids`` within the caller's transaction on ``connection``
        (the append that logs the submission naming them): each recorded one
        that no entry names yet counts its expiry from now, so expiry leaves it
        alone until the append has marked it referenced. Returns those no
        longer recorded (expired since :meth:`blob_states` saw them), in the
        order given."""
        claimed = self._index.claim_in(connection, blob_ids, now=self._floored_now())
        return [blob_id for blob_id in blob_ids if blob_id not in claimed]

    def store_in(self, connection: Connection, ciphertexts: Mapping[str, bytes]) -> None:
        """Store a header and an inline body (id -> bytes) as database rows and
        record them, within the caller's transaction: the append that logs the
        entry naming them (``store.inline_blobs``). The caller has checked
        that each id is the SHA-256 of its bytes."""
        InlineBlobs.put_in(connection, ciphertexts)
        self._index.record_in(
            connection, {k: len(v) for k, v in ciphertexts.items()}, created=self._floored_now()
        )

    # --- expiry ----------------------------------------------------------------------

    def expire(self) -> int:
        """Remove expired uploads and unreferenced blobs past their time; returns how many."""
        now = self._now()
        removed = 0
        # Rows past their first idle time: a finished one goes; an unfinished
        # one goes unless its bytes keep it alive (asked of its file).
        for upload in self._table.expired(now):
            if not upload.finished:
                if self._alive(upload):
                    continue
                self._blobs.discard_partial(upload.id)
            self._table.delete(upload.id)
            removed += 1
        # `created` is floored: count it from the end of its granule.
        cutoff = now - self._limits.unreferenced_blob_expiry_seconds - self._granularity.seconds
        for blob_id in self._index.unreferenced_since(cutoff):
            # Only the row's deleter deletes the bytes: a blob claimed or
            # referenced meanwhile keeps its row, and so its bytes.
            if self._index.delete_unreferenced(blob_id, cutoff=cutoff):
                self._blobs.delete(blob_id)
                removed += 1
        return removed
