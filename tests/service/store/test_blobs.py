"""service/store/blobs.py: a blob is visible only once verified, survives crashes
without leaving half-blobs, carries only the floored time, and partial uploads
resume across restarts."""

from __future__ import annotations

import errno
import hashlib
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from testimony.service.store import blobs as blobs_module
from testimony.service.store.blobs import BlobStore, FilesystemBlobStore
from testimony.service.store.errors import (
    BlobHashMismatch,
    BlobNotFound,
    UploadBusy,
    UploadExists,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
)

from .support import put_then_die

HOUR = 1_700_002_800  # a whole hour, as the domain floors times (docs/protocol.md §9)
UPLOAD = "upload-0123456789abcdef"


def _id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _visible_files(root: Path) -> list[Path]:
    """Every file outside the store's working folders (tmp/, partial/)."""
    return [
        p
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).parts[0] not in ("tmp", "partial")
    ]


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def test_filesystem_store_is_a_blob_store(store: FilesystemBlobStore) -> None:
    conforming: BlobStore = store
    assert conforming is store


def test_put_then_read_back(store: FilesystemBlobStore) -> None:
    data = os.urandom(300_000)
    blob = _id(data)
    assert not store.exists(blob)
    assert store.put([data[:1000], data[1000:]], expected_id=blob, mtime=HOUR) == blob
    assert store.exists(blob)
    assert store.size(blob) == len(data)
    assert store.path(blob) == store.root / blob[:2] / blob[2:4] / blob
    assert b"".join(store.read(blob, chunk_size=4096)) == data
    with store.open(blob) as handle:
        assert handle.read() == data
    assert _visible_files(store.root) == [store.path(blob)]
    assert list((store.root / "tmp").iterdir()) == []


def test_file_and_folder_times_are_the_given_floored_time(store: FilesystemBlobStore) -> None:
    data = b"ciphertext"
    blob = store.put([data], expected_id=_id(data), mtime=HOUR)
    path = store.path(blob)
    for p in (path, path.parent, path.parent.parent, store.root / "tmp"):
        assert int(p.stat().st_mtime) == HOUR, p
    assert int(path.stat().st_atime) == HOUR
    with store.open(blob) as handle:
        handle.read()
    assert int(path.stat().st_atime) == HOUR  # reading does not stamp the access time


def test_times_finer_than_a_minute_are_refused(store: FilesystemBlobStore) -> None:
    data = b"x"
    for bad in (HOUR + 1, HOUR + 59, -60):
        with pytest.raises(ValueError, match="floored"):
            store.put([data], expected_id=_id(data), mtime=bad)
    assert _visible_files(store.root) == []


def test_hash_mismatch_leaves_nothing(store: FilesystemBlobStore) -> None:
    claimed = _id(b"what the client said")
    with pytest.raises(BlobHashMismatch):
        store.put([b"what it sent"], expected_id=claimed, mtime=HOUR)
    assert not store.exists(claimed)
    assert _visible_files(store.root) == []
    assert list((store.root / "tmp").iterdir()) == []


def test_interrupted_write_leaves_no_blob(store: FilesystemBlobStore) -> None:
    data = b"a" * 100_000
    blob = _id(data)

    def dropped_connection() -> Iterator[bytes]:
        yield data[:50_000]
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.put(dropped_connection(), expected_id=blob, mtime=HOUR)
    assert not store.exists(blob)
    assert _visible_files(store.root) == []
    assert list((store.root / "tmp").iterdir()) == []


def test_process_killed_mid_write_leaves_no_blob(store: FilesystemBlobStore) -> None:
    blob = _id(b"never finished")
    process = multiprocessing.get_context("spawn").Process(
        target=put_then_die, args=(str(store.root), blob, HOUR)
    )
    process.start()
    process.join(60)
    assert process.exitcode == 3
    assert not store.exists(blob)
    assert _visible_files(store.root) == []
    assert len(list((store.root / "tmp").iterdir())) == 1  # the crash's leftover
    assert store.sweep_temporary() == 1
    assert list((store.root / "tmp").iterdir()) == []


def test_existing_blob_is_kept_and_delete_removes_it(store: FilesystemBlobStore) -> None:
    data = b"same bytes"
    blob = store.put([data], expected_id=_id(data), mtime=HOUR)
    assert store.put([data], expected_id=blob, mtime=HOUR + 3600) == blob
    assert int(store.path(blob).stat().st_mtime) == HOUR
    assert store.delete(blob) is True
    assert store.delete(blob) is False
    assert not store.exists(blob)
    with pytest.raises(BlobNotFound):
        store.size(blob)
    with pytest.raises(BlobNotFound):
        store.open(blob)
    with pytest.raises(BlobNotFound):
        store.read(blob)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 64, "ab" * 31, "", "0" * 65])
def test_malformed_blob_ids_are_refused(store: FilesystemBlobStore, bad: str) -> None:
    with pytest.raises(ValueError):
        store.exists(bad)
    with pytest.raises(ValueError):
        store.put([b""], expected_id=bad, mtime=HOUR)


@pytest.mark.parametrize("bad", ["../escape-0123456789", "short", "x" * 65, "has/slash/0123456789"])
def test_malformed_upload_ids_are_refused(store: FilesystemBlobStore, bad: str) -> None:
    with pytest.raises(ValueError):
        store.begin_partial(bad, mtime=HOUR)


# --- partial uploads ------------------------------------------------------------------


def test_partial_upload_resumes_after_reopening_the_store(tmp_path: Path) -> None:
    data = os.urandom(200_000)
    blob = _id(data)
    first = FilesystemBlobStore(tmp_path / "blobs")
    first.begin_partial(UPLOAD, mtime=HOUR)
    assert first.append_partial(UPLOAD, 0, [data[:70_000]], mtime=HOUR) == 70_000

    def dropped() -> Iterator[bytes]:
        yield data[70_000:90_000]
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        first.append_partial(UPLOAD, 70_000, dropped(), mtime=HOUR)
    assert not first.exists(blob)

    # "Restart": a new object, no running hash; the offset comes from the file.
    second = FilesystemBlobStore(tmp_path / "blobs")
    offset = second.partial_size(UPLOAD)
    assert offset == 90_000
    assert second.append_partial(UPLOAD, offset, [data[offset:]], mtime=HOUR) == len(data)
    assert not second.exists(blob)  # not visible before it is finished
    assert second.finish_partial(UPLOAD, blob, mtime=HOUR) == blob
    assert b"".join(second.read(blob)) == data
    assert int(second.path(blob).stat().st_mtime) == HOUR
    with pytest.raises(UploadNotFound):
        second.partial_size(UPLOAD)


def test_partial_upload_finished_by_the_same_object_uses_its_running_hash(
    store: FilesystemBlobStore,
) -> None:
    data = os.urandom(50_000)
    store.begin_partial(UPLOAD, mtime=HOUR)
    store.append_partial(UPLOAD, 0, [data[:10], data[10:]], mtime=HOUR)
    assert store.finish_partial(UPLOAD, _id(data), mtime=HOUR) == _id(data)
    assert store.exists(_id(data))


def test_a_write_that_fails_leaves_the_running_hash_at_the_bytes_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk refuses a chunk: the client resumes from the file's size, and
    the running hash (hashing beside the writes) must not include that chunk."""
    store = FilesystemBlobStore(tmp_path / "blobs")
    store.begin_partial(UPLOAD, mtime=HOUR)
    data = bytes(range(256)) * 1_000
    real_write = blobs_module._write_all
    calls = 0

    def disk_full_on_the_third(fd: int, chunk: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(fd, chunk)

    monkeypatch.setattr(blobs_module, "_write_all", disk_full_on_the_third)
    pieces = [data[:50_000], data[50_000:100_000], data[100_000:150_000]]
    with pytest.raises(OSError):
        store.append_partial(UPLOAD, 0, pieces, mtime=HOUR)
    monkeypatch.undo()
    offset = store.partial_size(UPLOAD)
    assert offset == 100_000
    assert store.append_partial(UPLOAD, offset, [data[offset:]], mtime=HOUR) == len(data)
    assert store.finish_partial(UPLOAD, _id(data), mtime=HOUR) == _id(data)


def test_partial_upload_with_the_wrong_hash_leaves_nothing(tmp_path: Path) -> None:
    for reopen in (False, True):
        store = FilesystemBlobStore(tmp_path / "blobs")
        store.begin_partial(UPLOAD, mtime=HOUR)
        store.append_partial(UPLOAD, 0, [b"actual bytes"], mtime=HOUR)
        if reopen:
            store = FilesystemBlobStore(tmp_path / "blobs")
        claimed = _id(b"claimed bytes")
        with pytest.raises(BlobHashMismatch):
            store.finish_partial(UPLOAD, claimed, mtime=HOUR)
        assert not store.exists(claimed)
        assert _visible_files(store.root) == []
        with pytest.raises(UploadNotFound):
            store.partial_size(UPLOAD)


def test_partial_upload_refuses_the_wrong_offset(store: FilesystemBlobStore) -> None:
    store.begin_partial(UPLOAD, mtime=HOUR)
    store.append_partial(UPLOAD, 0, [b"12345"], mtime=HOUR)
    for wrong in (0, 4, 6):
        with pytest.raises(UploadOffsetMismatch):
            store.append_partial(UPLOAD, wrong, [b"x"], mtime=HOUR)
    assert store.partial_size(UPLOAD) == 5


def test_partial_upload_stops_at_its_limit(store: FilesystemBlobStore) -> None:
    store.begin_partial(UPLOAD, mtime=HOUR)
    with pytest.raises(UploadTooLarge):
        store.append_partial(UPLOAD, 0, [b"1234", b"5678"], mtime=HOUR, max_size=6)
    assert store.partial_size(UPLOAD) == 6
    assert store.finish_partial(UPLOAD, _id(b"123456"), mtime=HOUR) == _id(b"123456")


def test_partial_upload_is_locked_while_written(store: FilesystemBlobStore) -> None:
    store.begin_partial(UPLOAD, mtime=HOUR)
    outcome: list[BaseException] = []

    def chunks() -> Iterator[bytes]:
        yield b"first"
        try:
            store.append_partial(UPLOAD, 5, [b"second"], mtime=HOUR)
        except UploadBusy as exc:
            outcome.append(exc)
        yield b"more"

    assert store.append_partial(UPLOAD, 0, chunks(), mtime=HOUR) == 9
    assert len(outcome) == 1


def test_partial_upload_lifecycle_errors(store: FilesystemBlobStore) -> None:
    with pytest.raises(UploadNotFound):
        store.append_partial(UPLOAD, 0, [b"x"], mtime=HOUR)
    with pytest.raises(UploadNotFound):
        store.finish_partial(UPLOAD, _id(b""), mtime=HOUR)
    store.begin_partial(UPLOAD, mtime=HOUR)
    with pytest.raises(UploadExists):
        store.begin_partial(UPLOAD, mtime=HOUR)
    assert int((store.root / "partial" / UPLOAD).stat().st_mtime) == HOUR
    assert store.discard_partial(UPLOAD) is True
    assert store.discard_partial(UPLOAD) is False


def test_finishing_an_upload_of_a_blob_that_exists_keeps_one_copy(
    store: FilesystemBlobStore,
) -> None:
    data = b"uploaded twice"
    store.put([data], expected_id=_id(data), mtime=HOUR)
    store.begin_partial(UPLOAD, mtime=HOUR + 3600)
    store.append_partial(UPLOAD, 0, [data], mtime=HOUR + 3600)
    assert store.finish_partial(UPLOAD, _id(data), mtime=HOUR + 3600) == _id(data)
    assert _visible_files(store.root) == [store.path(_id(data))]
    assert list((store.root / "partial").iterdir()) == []


def test_a_partial_uploads_size_and_time_say_when_it_last_received_bytes(
    store: FilesystemBlobStore,
) -> None:
    """The domain counts an upload's idle time from its file's (floored) time."""
    store.begin_partial(UPLOAD, mtime=HOUR)
    assert store.partial_stat(UPLOAD) == (0, HOUR)
    store.append_partial(UPLOAD, 0, [b"12345"], mtime=HOUR + 7200)
    assert store.partial_stat(UPLOAD) == (5, HOUR + 7200)
    assert store.partial_size(UPLOAD) == 5
    store.discard_partial(UPLOAD)
    with pytest.raises(UploadNotFound):
        store.partial_stat(UPLOAD)
