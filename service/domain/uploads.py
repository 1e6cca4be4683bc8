"""Blobs and resumable uploads (docs/protocol.md §6), the rules without HTTP.

An upload is created with its length and the hex SHA-256 its bytes must have;
it is appended to at its current offset only; when the last byte arrives the
bytes are hashed and, only if they match, become the blob of that id, which a
submission may then name. Limits, each answered with a :class:`TooLarge`
error (HTTP 413):

- per blob: a declared length above ``max_blob_bytes``;
- per unfinished upload: data past the upload's declared length;
- server-wide: more than ``max_unfinished_uploads`` unfinished uploads, or
  more than ``max_unfinished_bytes`` declared by them together.

An unfinished upload expires ``upload_expiry_seconds`` after it was created
(rounded up to the time granularity, so no precise time is kept, §9); then it
answers :class:`UploadExpired` until :meth:`Uploads.expire` removes it. A
finished blob that no log entry names expires after
``unreferenced_blob_expiry_seconds``, counted from when it was last recorded
or claimed; a blob a submission entry names (header, body, attachment) is
marked referenced by the log's ``submissions`` projection and never expires.
A submission *claims* the blobs it names before it appends
(:meth:`Uploads.claim_blobs`), so that expiry cannot delete one between the
check and the append (``store.blob_index`` settles that race). Upload ids are
random tokens; nothing about the client is kept, and only the ``sha256``
member of the tus metadata is read (any other member is ignored, never stored).

The tables are reached through ``store.UploadTable`` and ``store.BlobIndex``;
the quota check of :meth:`Uploads.create` runs under a lock of its own (on
PostgreSQL not the log's, so uploads and appends never wait for each other).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
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
    UploadBusy,
    UploadExpired,
    UploadHashMismatch,
    UploadLengthExceeded,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadQuotaExceeded,
)

__all__ = ["BlobState", "UploadLimits", "UploadState", "Uploads", "parse_metadata"]

_HEX_ID = re.compile(r"[0-9a-f]{64}")
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_METADATA_KEY = re.compile(r"[!-+\--~]+")  # printable ASCII without space and comma


@dataclass(frozen=True)
class UploadLimits:
    """The limits of §6 (see the module docstring)."""

    max_blob_bytes: int
    max_unfinished_uploads: int
    max_unfinished_bytes: int
    upload_expiry_seconds: int
    unreferenced_blob_expiry_seconds: int


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


def parse_metadata(header: str | None) -> str:
    """The blob id declared in a tus ``Upload-Metadata`` header (``sha256 <base64 of hex>``).

    Raises :class:`MalformedUpload` if the header is missing or malformed,
    has no ``sha256`` member, or that member is not the base64 of 64
    lowercase hex digits.
    """
    if header is None or header.strip() == "":
        raise MalformedUpload("Upload-Metadata must carry `sha256 <base64 of the hex SHA-256>`")
    members: dict[str, str] = {}
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        if not 1 <= len(parts) <= 2 or _METADATA_KEY.fullmatch(parts[0]) is None:
            raise MalformedUpload("Upload-Metadata is `key base64value` pairs, comma-separated")
        if parts[0] in members:
            raise MalformedUpload("Upload-Metadata names a key twice")
        members[parts[0]] = parts[1] if len(parts) == 2 else ""
    encoded = members.get("sha256")
    if not encoded:
        raise MalformedUpload("Upload-Metadata must carry `sha256 <base64 of the hex SHA-256>`")
    try:
        blob_id = base64.b64decode(encoded, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise MalformedUpload("the sha256 metadata is not base64") from None
    if _HEX_ID.fullmatch(blob_id) is None:
        raise MalformedUpload("the sha256 metadata is not 64 lowercase hex digits")
    return blob_id


def _check_upload_id(upload_id: str) -> None:
    if not isinstance(upload_id, str) or _UPLOAD_ID.fullmatch(upload_id) is None:
        raise UploadNotFound()


class Uploads:
    """Resumable uploads into a :class:`BlobStore`, with their rows in the store.

    Every method is synchronous (call it from a worker thread in an async
    server). Several processes may share one database and blob directory.
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
    ) -> None:
        self._blobs = blobs
        self._index = blob_index
        self._table = upload_table
        self._clock = clock
        self._granularity = granularity
        self._limits = limits

    @property
    def limits(self) -> UploadLimits:
        """The limits in force."""
        return self._limits

    def _now(self) -> int:
        return unix_seconds(self._clock.now())

    def _floored_now(self) -> int:
        return self._granularity.floor_seconds(self._now())

    # --- tus ------------------------------------------------------------------------

    def create(self, length: int, blob_id: str) -> UploadState:
        """Start an upload of ``length`` bytes that must hash to ``blob_id``.

        An upload of 0 bytes finishes at once. Raises :class:`BlobTooLarge`
        above the per-blob limit, :class:`UploadQuotaExceeded` when the
        server's unfinished uploads are at their limit, :class:`MalformedUpload`
        for a negative length or bad id, and :class:`UploadHashMismatch` for an
        empty upload whose id is not the hash of nothing.
        """
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise MalformedUpload("Upload-Length is a whole number of bytes")
        if _HEX_ID.fullmatch(blob_id) is None:
            raise MalformedUpload("the sha256 metadata is not 64 lowercase hex digits")
        if length > self._limits.max_blob_bytes:
            raise BlobTooLarge(f"a blob is at most {self._limits.max_blob_bytes} bytes")
        self.expire()
        now = self._now()
        floored = self._granularity.floor_seconds(now)
        expires = self._granularity.ceil_seconds(now + self._limits.upload_expiry_seconds)
        upload = StoredUpload(
            id=secrets.token_urlsafe(24), length=length, offset=0, sha256=blob_id, expires=expires
        )
        # The row first, under the quota lock; the file after, so no fsync
        # runs while the lock is held. Nobody knows the id before this returns.
        try:
            self._table.insert_within_quota(
                upload,
                now=now,
                max_unfinished=self._limits.max_unfinished_uploads,
                max_unfinished_bytes=self._limits.max_unfinished_bytes,
            )
        except store_errors.UploadQuotaExceeded:
            raise UploadQuotaExceeded() from None
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

    def _state(self, row: StoredUpload, offset: int | None = None) -> UploadState:
        return UploadState(
            row.id,
            row.length,
            row.offset if offset is None else offset,
            datetime.fromtimestamp(row.expires, UTC),
        )

    def status(self, upload_id: str) -> UploadState:
        """The upload's length and offset (tus HEAD).

        Raises :class:`UploadNotFound` for an unknown id and
        :class:`UploadExpired` for an unfinished upload past its expiry.
        """
        row = self._row(upload_id)
        if row.finished:
            return self._state(row)
        if row.expires <= self._now():
            raise UploadExpired()
        return self._state(row, self._partial_size(upload_id))

    def _partial_size(self, upload_id: str) -> int:
        try:
            return self._blobs.partial_size(upload_id)
        except store_errors.UploadNotFound:
            raise UploadNotFound() from None

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
        if row.expires <= self._now():
            raise UploadExpired()
        if (
            declared_length is not None
            and offset + declared_length > row.length
            and offset == self._partial_size(upload_id)
        ):
            raise UploadLengthExceeded()
        floored = self._floored_now()
        new_offset = offset
        try:
            new_offset = self._blobs.append_partial(
                upload_id, offset, chunks, mtime=floored, max_size=row.length
            )
        except store_errors.UploadNotFound:
            raise UploadNotFound() from None
        except store_errors.UploadBusy:
            raise UploadBusy() from None
        except store_errors.UploadOffsetMismatch:
            raise UploadOffsetMismatch() from None
        except store_errors.UploadTooLarge:
            # The store kept exactly the declared length: finish the blob with
            # those bytes (or drop them if they do not hash right), then refuse.
            with contextlib.suppress(UploadHashMismatch):
                self._finish(row, floored)
            raise UploadLengthExceeded() from None
        if new_offset < row.length:
            # The offset of an unfinished upload is its file's size (status);
            # the row records it only once the upload is complete. Recording
            # it per PATCH cost a commit, whose fsync waits behind the
            # upload's own writeback: 3.5-6 ms of a 20 ms PATCH of 8 MiB.
            return self._state(row, new_offset)
        return self._finish(row, floored)

    def _finish(self, row: StoredUpload, floored: int) -> UploadState:
        try:
            self._blobs.finish_partial(row.id, row.sha256, mtime=floored)
        except store_errors.BlobHashMismatch:
            self._table.delete(row.id)
            raise UploadHashMismatch() from None
        except store_errors.UploadBusy:
            raise UploadBusy() from None
        except store_errors.UploadNotFound:
            raise UploadNotFound() from None
        self._index.record({row.sha256: row.length}, created=floored)
        self._table.set_offset(row.id, row.length)
        return self._state(row, row.length)

    def terminate(self, upload_id: str) -> None:
        """Remove an upload (tus termination). Raises :class:`UploadNotFound`."""
        row = self._row(upload_id)
        self._table.delete(row.id)
        if not row.finished:
            self._blobs.discard_partial(upload_id)

    # --- blobs ---------------------------------------------------------------------

    def put_blob(self, data: bytes, blob_id: str) -> None:
        """Store ``data`` as verified blob file ``blob_id`` and record it,
        unreferenced, as a finished upload leaves a blob (without the upload).

        Raises ``BlobHashMismatch`` from the store if ``data`` does not hash to
        ``blob_id``.
        """
        floored = self._floored_now()
        if not self._blobs.exists(blob_id):
            self._blobs.put([data], expected_id=blob_id, mtime=floored)
        self._index.record({blob_id: len(data)}, created=floored)

    def claim_blobs(self, blob_ids: Sequence[str]) -> dict[str, str]:
        """:class:`BlobState` of each of ``blob_ids``: complete, still uploading, or unknown.

        A complete blob is recorded and stored; it is claimed, so it does not
        expire before the submission naming it is appended (its expiry starts
        again now).
        """
        return self._states(blob_ids, self._index.claim(blob_ids, now=self._floored_now()))

    def blob_states(self, blob_ids: Sequence[str]) -> dict[str, str]:
        """:class:`BlobState` of each of ``blob_ids``, as :meth:`claim_blobs`
        reports it, but claiming nothing (a read): the caller claims them in
        its append with :meth:`claim_in`."""
        return self._states(blob_ids, self._index.recorded(blob_ids))

    def _states(self, blob_ids: Sequence[str], recorded: Collection[str]) -> dict[str, str]:
        """Complete if recorded and on disk, incomplete if still uploading, else unknown."""
        now = self._now()
        states: dict[str, str] = {}
        for blob_id in blob_ids:
            if blob_id in recorded and self._blobs.exists(blob_id):
                states[blob_id] = BlobState.COMPLETE
            elif self._table.is_uploading(blob_id, now=now):
                states[blob_id] = BlobState.INCOMPLETE
            else:
                states[blob_id] = BlobState.UNKNOWN
        return states

    def claim_in(self, connection: Connection, blob_ids: Sequence[str]) -> list[str]:
        """Claim ``blob_ids`` within the caller's transaction on ``connection``
        (as :meth:`claim_blobs` does); returns those no longer recorded (expired
        since :meth:`blob_states` saw them), in the order given."""
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

    def blob_state(self, blob_id: str) -> str:
        """:meth:`claim_blobs` of one blob."""
        return self.claim_blobs([blob_id])[blob_id]

    # --- expiry ----------------------------------------------------------------------

    def expire(self) -> int:
        """Remove expired uploads and unreferenced blobs past their time; returns how many."""
        now = self._now()
        removed = 0
        for upload in self._table.expired(now):
            if not upload.finished:
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
