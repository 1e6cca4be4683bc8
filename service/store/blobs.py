"""Content-addressed ciphertext storage (docs/protocol.md §6, times as §9 says).

A blob is named by ``hex(H(ciphertext))`` and is visible only once its bytes
have been hashed and found to match that name. :class:`BlobStore` is the
interface (an S3-compatible store can implement it later);
:class:`FilesystemBlobStore` keeps blobs under a directory::

    root/ab/cd/abcd...      verified blobs (sharded by the first two bytes of the id)
    root/tmp/               files being written by put(); never visible as blobs
    root/partial/<upload>   partial uploads (tus), appended to until finished

Writes go to a file in the same filesystem, are hashed while written, fsynced,
verified, given the caller's floored time, renamed into place, and the
directory is fsynced. The store reads no clock: every time comes from the
caller, in whole Unix seconds, a multiple of 60 at least (§9: never finer than
a minute). File and directory modification and access times are set to it;
the kernel's inode change time (ctime) cannot be set by a process and still
records when the file was last changed.

Partial uploads survive a restart: their offset is the file's size, and the
file's time says when it last received bytes (floored). While one
process serves an upload, a running SHA-256 follows the appended bytes and
``finish_partial`` uses it; when that state is missing (the server restarted,
or another process served earlier chunks) ``finish_partial`` hashes the file
by reading it once. The state is not persisted: hashlib cannot serialise it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import fcntl
import hashlib
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from .errors import (
    BlobHashMismatch,
    BlobNotFound,
    UploadBusy,
    UploadExists,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
)

__all__ = ["BlobStore", "FilesystemBlobStore"]

_BLOB_ID = re.compile(r"[0-9a-f]{64}")
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_READ_CHUNK = 1 << 20
_MAX_RUNNING_HASHES = 1024
_NOATIME = getattr(os, "O_NOATIME", 0)


class BlobStore(Protocol):
    """Where blobs live. Ids are lowercase hex SHA-256; times are floored Unix seconds."""

    def put(self, chunks: Iterable[bytes], *, expected_id: str, mtime: int) -> str:
        """Store the concatenated ``chunks`` as blob ``expected_id``; returns the id.

        Raises ``BlobHashMismatch`` (nothing kept) if the bytes hash otherwise.
        """
        ...

    def exists(self, blob_id: str) -> bool:
        """Whether a verified blob ``blob_id`` is stored."""
        ...

    def size(self, blob_id: str) -> int:
        """The size in bytes of blob ``blob_id``. Raises ``BlobNotFound``."""
        ...

    def open(self, blob_id: str) -> BinaryIO:
        """A binary file object reading blob ``blob_id``. Raises ``BlobNotFound``."""
        ...

    def read(self, blob_id: str, chunk_size: int = _READ_CHUNK) -> Iterator[bytes]:
        """The bytes of blob ``blob_id`` in chunks. Raises ``BlobNotFound``."""
        ...

    def delete(self, blob_id: str) -> bool:
        """Remove blob ``blob_id``; returns whether it existed."""
        ...

    def begin_partial(self, upload_id: str, *, mtime: int) -> None:
        """Create an empty partial upload. Raises ``UploadExists``."""
        ...

    def append_partial(
        self,
        upload_id: str,
        offset: int,
        chunks: Iterable[bytes],
        *,
        mtime: int,
        max_size: int | None = None,
    ) -> int:
        """Append ``chunks`` at ``offset`` (the current size); returns the new size."""
        ...

    def partial_size(self, upload_id: str) -> int:
        """How many bytes the partial upload holds. Raises ``UploadNotFound``."""
        ...

    def partial_stat(self, upload_id: str) -> tuple[int, int]:
        """The partial upload's size and the (floored) time it last received bytes.

        Raises ``UploadNotFound``.
        """
        ...

    def finish_partial(self, upload_id: str, expected_id: str, *, mtime: int) -> str:
        """Verify the partial upload's hash and make it blob ``expected_id``."""
        ...

    def discard_partial(self, upload_id: str) -> bool:
        """Remove a partial upload; returns whether it existed."""
        ...


def check_blob_id(blob_id: str) -> str:
    """Return ``blob_id`` if it is 64 lowercase hex digits; else raise ``ValueError``."""
    if not isinstance(blob_id, str) or _BLOB_ID.fullmatch(blob_id) is None:
        raise ValueError("a blob id is 64 lowercase hex digits")
    return blob_id


def _check_upload_id(upload_id: str) -> str:
    if not isinstance(upload_id, str) or _UPLOAD_ID.fullmatch(upload_id) is None:
        raise ValueError("an upload id is 16 to 64 characters of [A-Za-z0-9_-]")
    return upload_id


def _check_time(mtime: int) -> int:
    if not isinstance(mtime, int) or isinstance(mtime, bool) or mtime < 0 or mtime % 60:
        raise ValueError("a stored time is whole Unix seconds floored to at least the minute")
    return mtime


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes at ``offset`` to disk, without waiting.

    On Linux, ``POSIX_FADV_DONTNEED`` starts the writeback of the range's dirty
    pages (and drops the pages already clean), so the disk writes an upload
    while the next pieces arrive, and the fsync that completes it waits only
    for the last ones. Where the call is missing it is skipped: it changes
    when bytes reach the disk, never what is written.
    """
    if length > 0 and hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def _set_times(path: Path | int, mtime: int) -> None:
    os.utime(path, (mtime, mtime))


def _open_for_read(path: Path) -> int:
    """Open without updating the access time where the kernel allows it."""
    try:
        return os.open(path, os.O_RDONLY | _NOATIME)
    except PermissionError:  # O_NOATIME needs ownership of the file
        return os.open(path, os.O_RDONLY)


class FilesystemBlobStore:
    """A :class:`BlobStore` in a directory (see the module docstring for the layout).

    Safe for several threads and processes on one directory: blobs appear by
    atomic rename, and a partial upload is locked (``flock``) while it is
    appended to or finished.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root)
        self._tmp = self._root / "tmp"
        self._partial = self._root / "partial"
        for directory in (self._root, self._tmp, self._partial):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._hashes: OrderedDict[str, tuple[int, hashlib._Hash]] = OrderedDict()
        self._hashes_lock = threading.Lock()

    @property
    def root(self) -> Path:
        """The directory holding the store."""
        return self._root

    def path(self, blob_id: str) -> Path:
        """Where blob ``blob_id`` is (or would be) stored. Raises ``ValueError`` for a bad id."""
        check_blob_id(blob_id)
        return self._root / blob_id[0:2] / blob_id[2:4] / blob_id

    # --- blobs ------------------------------------------------------------------

    def put(self, chunks: Iterable[bytes], *, expected_id: str, mtime: int) -> str:
        """Store the concatenated ``chunks`` as blob ``expected_id`` and return the id.

        The bytes go to a temporary file, hashed as they are written; only if
        the hash matches is the file fsynced, given ``mtime`` and renamed into
        place. If the blob exists already, the copy is dropped. Raises
        ``BlobHashMismatch`` if the bytes hash otherwise, ``ValueError`` for a
        bad id or time, ``OSError`` from the filesystem; whatever the iterator
        raises is re-raised. In every failure nothing becomes visible and the
        temporary file is removed.
        """
        check_blob_id(expected_id)
        _check_time(mtime)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        tmp_path = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                if digest.hexdigest() != expected_id:
                    raise BlobHashMismatch()
                os.fsync(handle.fileno())
                _set_times(handle.fileno(), mtime)
            self._install(tmp_path, expected_id, mtime)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()
            _set_times(self._tmp, mtime)
        return expected_id

    def _install(self, verified: Path, blob_id: str, mtime: int) -> None:
        """Rename a verified, fsynced file into place and make the rename durable."""
        final = self.path(blob_id)
        if final.exists():
            return
        shard = final.parent
        created = self._make_dirs(shard, mtime)
        os.replace(verified, final)
        _fsync_dir(shard)
        for directory in (shard, *created):
            _set_times(directory, mtime)

    def _make_dirs(self, shard: Path, mtime: int) -> list[Path]:
        """Create ``root/ab/cd`` as needed, durably; returns the parents whose entries changed."""
        changed: list[Path] = []
        for directory in (shard.parent, shard):
            try:
                directory.mkdir(mode=0o700)
            except FileExistsError:
                continue
            _fsync_dir(directory.parent)
            changed.append(directory.parent)
        return changed

    def exists(self, blob_id: str) -> bool:
        """Whether verified blob ``blob_id`` is stored. Raises ``ValueError`` for a bad id."""
        return self.path(blob_id).is_file()

    def size(self, blob_id: str) -> int:
        """The size of blob ``blob_id`` in bytes. Raises ``BlobNotFound``."""
        try:
            return self.path(blob_id).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound() from None

    def open(self, blob_id: str) -> BinaryIO:
        """A binary file object reading blob ``blob_id`` (the caller closes it).

        Opened with ``O_NOATIME`` where allowed, so reading leaves the access
        time alone. Raises ``BlobNotFound``.
        """
        try:
            fd = _open_for_read(self.path(blob_id))
        except FileNotFoundError:
            raise BlobNotFound() from None
        return os.fdopen(fd, "rb")

    def read(self, blob_id: str, chunk_size: int = _READ_CHUNK) -> Iterator[bytes]:
        """The bytes of blob ``blob_id``, ``chunk_size`` at a time. Raises ``BlobNotFound``
        (when called, not when first iterated)."""
        handle = self.open(blob_id)

        def chunks() -> Iterator[bytes]:
            with handle:
                while block := handle.read(chunk_size):
                    yield block

        return chunks()

    def delete(self, blob_id: str) -> bool:
        """Remove blob ``blob_id`` durably; returns whether it existed.

        Deleting is not shredding: the domain's shred also removes key material.
        """
        path = self.path(blob_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True

    def sweep_temporary(self) -> int:
        """Remove leftovers of ``put`` calls that never finished (a crash); returns how many.

        Call it when no ``put`` is running, at startup.
        """
        removed = 0
        for leftover in self._tmp.iterdir():
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
                removed += 1
        return removed

    # --- partial uploads ----------------------------------------------------------

    def _partial_path(self, upload_id: str) -> Path:
        return self._partial / _check_upload_id(upload_id)

    def begin_partial(self, upload_id: str, *, mtime: int) -> None:
        """Create the empty partial upload ``upload_id``.

        Raises ``UploadExists`` if it exists, ``ValueError`` for a bad id or time.
        """
        path = self._partial_path(upload_id)
        _check_time(mtime)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise UploadExists() from None
        try:
            os.fsync(fd)
            _set_times(fd, mtime)
        finally:
            os.close(fd)
        _fsync_dir(self._partial)
        _set_times(self._partial, mtime)
        self._remember_hash(upload_id, 0, hashlib.sha256())

    def append_partial(
        self,
        upload_id: str,
        offset: int,
        chunks: Iterable[bytes],
        *,
        mtime: int,
        max_size: int | None = None,
    ) -> int:
        """Append ``chunks`` to partial upload ``upload_id`` at ``offset``; returns the new size.

        ``offset`` must equal the current size. Bytes received before the
        iterator fails (a dropped connection) are kept, so the client can
        resume from the size :meth:`partial_size` reports; the iterator's
        exception is then re-raised. The file's times are set to ``mtime``.

        The bytes are not fsynced here: a client waits for each PATCH's answer
        before it sends the next, so an fsync per PATCH would stop the upload
        for the time the disk takes to write the piece. Nothing depends on an
        unfinished upload surviving a crash of the machine: the offset a client
        resumes from is the file's size as it is then, and :meth:`finish_partial`
        hashes and fsyncs the whole file before it becomes a blob.

        Raises ``UploadNotFound``, ``UploadBusy`` if another writer holds the
        upload, ``UploadOffsetMismatch`` if ``offset`` is not the current size,
        ``UploadTooLarge`` if the bytes would pass ``max_size`` (those up to it
        are kept), ``ValueError`` for a bad id or time.
        """
        path = self._partial_path(upload_id)
        _check_time(mtime)
        with self._locked(path, os.O_WRONLY) as fd:
            size = os.fstat(fd).st_size
            if offset != size:
                raise UploadOffsetMismatch(f"the upload is at offset {size}")
            running = self._take_hash(upload_id, size)
            os.lseek(fd, size, os.SEEK_SET)
            written = size
            hasher = _HashBeside(running)
            try:
                # A chunk is hashed once it is written (a failed write leaves the
                # hash at the bytes on disk), while the next one is written.
                for chunk in chunks:
                    if max_size is not None and written + len(chunk) > max_size:
                        chunk = chunk[: max_size - written]
                        _write_all(fd, chunk)
                        written += len(chunk)
                        hasher.update(chunk)
                        raise UploadTooLarge()
                    _write_all(fd, chunk)
                    written += len(chunk)
                    hasher.update(chunk)
            finally:
                hashed = hasher.close()
                _start_writeback(fd, size, written - size)
                _set_times(fd, mtime)
                if running is not None and hashed and os.fstat(fd).st_size == written:
                    self._remember_hash(upload_id, written, running)
            return written

    def partial_size(self, upload_id: str) -> int:
        """The number of bytes partial upload ``upload_id`` holds. Raises ``UploadNotFound``."""
        return self.partial_stat(upload_id)[0]

    def partial_stat(self, upload_id: str) -> tuple[int, int]:
        """The size of partial upload ``upload_id`` and its file's modification
        time, whole Unix seconds: the ``mtime`` of its creation or its last
        append (while an append runs, the kernel's time of its last write).
        Raises ``UploadNotFound``."""
        try:
            stat = self._partial_path(upload_id).stat()
        except FileNotFoundError:
            raise UploadNotFound() from None
        return stat.st_size, int(stat.st_mtime)

    def finish_partial(self, upload_id: str, expected_id: str, *, mtime: int) -> str:
        """Turn partial upload ``upload_id`` into blob ``expected_id`` if its bytes hash to it.

        Uses the running hash when this object saw every byte; otherwise reads
        the file once. On a match the file is fsynced, given ``mtime`` and
        renamed into place (dropped if the blob exists already). On a mismatch
        the partial upload is removed and ``BlobHashMismatch`` raised: nothing
        becomes visible. Raises ``UploadNotFound``, ``UploadBusy``, ``ValueError``.
        """
        path = self._partial_path(upload_id)
        check_blob_id(expected_id)
        _check_time(mtime)
        with self._locked(path, os.O_RDONLY | _NOATIME) as fd:
            size = os.fstat(fd).st_size
            running = self._take_hash(upload_id, size)
            if running is None:
                running = hashlib.sha256()
                while block := os.read(fd, _READ_CHUNK):
                    running.update(block)
            if running.hexdigest() != expected_id:
                path.unlink()
                _fsync_dir(self._partial)
                _set_times(self._partial, mtime)
                raise BlobHashMismatch()
            os.fsync(fd)
            _set_times(fd, mtime)
            self._install(path, expected_id, mtime)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # the blob existed already
            _fsync_dir(self._partial)
            _set_times(self._partial, mtime)
        return expected_id

    def discard_partial(self, upload_id: str) -> bool:
        """Remove partial upload ``upload_id``; returns whether it existed."""
        path = self._partial_path(upload_id)
        self._take_hash(upload_id, -1)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(self._partial)
        return True

    @contextlib.contextmanager
    def _locked(self, path: Path, flags: int) -> Iterator[int]:
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            raise UploadNotFound() from None
        except PermissionError:
            if not flags & _NOATIME:
                raise
            fd = os.open(path, flags & ~_NOATIME)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise UploadBusy() from None
                raise
            # Finished (renamed into a blob) or discarded since we opened it?
            opened = os.fstat(fd)
            try:
                current = path.stat()
            except FileNotFoundError:
                raise UploadNotFound() from None
            if (current.st_dev, current.st_ino) != (opened.st_dev, opened.st_ino):
                raise UploadNotFound()
            yield fd
        finally:
            os.close(fd)

    def _take_hash(self, upload_id: str, size: int) -> hashlib._Hash | None:
        """Remove and return the running hash of ``upload_id`` if it covers exactly ``size`` bytes."""
        with self._hashes_lock:
            state = self._hashes.pop(upload_id, None)
        if state is None or state[0] != size:
            return None
        return state[1]

    def _remember_hash(self, upload_id: str, size: int, running: hashlib._Hash) -> None:
        with self._hashes_lock:
            self._hashes[upload_id] = (size, running)
            self._hashes.move_to_end(upload_id)
            while len(self._hashes) > _MAX_RUNNING_HASHES:
                self._hashes.popitem(last=False)


class _HashBeside:
    """Feeds a running hash on a thread of its own while the caller writes.

    SHA-256 and ``os.write`` both release the GIL, so a chunk is hashed while
    the next is written: an upload costs the longer of the two per chunk
    rather than their sum. Chunks are hashed one at a time, in order.
    ``running`` None hashes nothing.
    """

    def __init__(self, running: hashlib._Hash | None) -> None:
        self._running = running
        self._pool = (
            None
            if running is None
            else concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="upload-hash")
        )
        self._pending: concurrent.futures.Future[None] | None = None

    def update(self, chunk: bytes) -> None:
        """Hash ``chunk`` after the chunks before it (waits for the one before)."""
        if self._pool is None or self._running is None:
            return
        if self._pending is not None:
            self._pending.result()
        self._pending = self._pool.submit(self._running.update, chunk)

    def close(self) -> bool:
        """Wait for the last chunk; True if every chunk given was hashed."""
        if self._pool is None:
            return False
        try:
            if self._pending is not None:
                self._pending.result()
            return True
        except Exception:  # pragma: no cover - hashlib does not fail on bytes
            return False
        finally:
            self._pool.shutdown(wait=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
