"""Helpers for the store tests: a stand-in checkpoint signer and process workers.

The store treats a checkpoint note as opaque text from the domain's ``sign``;
these tests sign with a stand-in that writes the size and root in the
checkpoint's layout (docs/protocol.md §9) so they can be read back and checked.
Workers live here, not in a test module, so ``multiprocessing`` (spawn) can
import them.
"""

from __future__ import annotations

import base64
import multiprocessing.synchronize
import time
from typing import Any

from testimony.crypto import canonical

ORIGIN = "store-test.invalid/log"


def stand_in_sign(size: int, root: bytes) -> str:
    """A note with the checkpoint body of §9; the signature line is a placeholder."""
    return f"{ORIGIN}\n{size}\n{base64.b64encode(root).decode()}\n\n— {ORIGIN} AAAA\n"


def read_note(note: str) -> tuple[int, bytes]:
    """The (size, root) a stand-in note commits to."""
    lines = note.split("\n")
    assert lines[0] == ORIGIN
    return int(lines[1]), base64.b64decode(lines[2], validate=True)


def submission_entry(n: int, *, received: str = "2024-01-01T10:00:00Z", **fields: Any) -> bytes:
    """A JCS-shaped submission entry (§9) whose hashes are derived from ``n``."""
    entry: dict[str, Any] = {
        "attachments": [],
        "body": f"{n:064x}",
        "header": f"{n + 1:064x}",
        "intake_key": "ab" * 16,
        "received": received,
        "type": "submission",
        "v": 1,
        "witness": None,
        "witness_box": None,
    }
    entry.update(fields)
    return canonical.dumps(entry)


def append_worker(
    url: str,
    tag: str,
    batches: int,
    per_batch: int,
    start: multiprocessing.synchronize.Barrier,
    results: Any,
) -> None:
    """Append ``batches`` batches of distinct entries tagged ``tag``; report their indexes.

    Waits at ``start`` until every worker is connected, so the appends overlap.
    """
    from testimony.service.store import db
    from testimony.service.store.log import LogStore

    engine = db.create_engine(url)
    try:
        log = LogStore(engine)
        log.size()  # connected
        start.wait(60)
        began = time.perf_counter()
        indexes: list[int] = []
        for b in range(batches):
            entries = [f'{{"tag":"{tag}","batch":{b},"n":{i}}}'.encode() for i in range(per_batch)]
            result = log.append_batch(entries, stand_in_sign)
            assert all(result.appended)
            indexes.extend(result.indexes)
        results.put((tag, indexes, time.perf_counter() - began))
    finally:
        engine.dispose()


def put_then_die(root: str, blob_id: str, mtime: int) -> None:
    """Start writing a blob and kill the process halfway (a crash mid-write)."""
    import os

    from testimony.service.store.blobs import FilesystemBlobStore

    store = FilesystemBlobStore(root)

    def chunks() -> Any:
        yield b"x" * 65536
        os._exit(3)

    store.put(chunks(), expected_id=blob_id, mtime=mtime)
