"""Files that survive a crash: :func:`write_atomic` (a temporary file in the
same folder, fsync, rename, fsync of the folder) and :func:`lock_folder` (one
process at a time per state folder).

A reader finds either the old file or the new one, whole, never a mix; and
once :func:`write_atomic` returns, the new file is on disk. The witness
relies on this to never answer a cosignature for a checkpoint it could lose
in a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FolderBusy", "lock_folder", "private_folder", "write_atomic"]


class FolderBusy(Exception):
    """Another process holds the state folder."""

    code = "state-folder-busy"


def private_folder(path: Path) -> Path:
    """``path`` as a folder (made, mode 0700, if missing); returns it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data``, durably: written to a temporary file
    beside it, fsynced, renamed over it, and the folder fsynced. Raises
    ``OSError`` (the old file is then untouched)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def lock_folder(folder: Path) -> Iterator[None]:
    """Hold ``folder/lock`` (an exclusive ``flock``) for the block; raises
    :class:`FolderBusy` at once if another process holds it."""
    descriptor = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusy(f"another process uses the state folder {folder}") from None
        yield
    finally:
        os.close(descriptor)
