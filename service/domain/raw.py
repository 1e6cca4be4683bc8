"""``testimony raw``: a submission's exact bytes, laid out as in an evidence
bundle's ``testimonies/<id>/`` (docs/protocol.md §11)::

    entry.json        {"entry": "<b64u entry bytes as logged>", "id": "<hex>"}
    header.bin        the header ciphertext the entry hashes
    body.bin          the body ciphertext the entry hashes
    blobs/<hex>       every attachment ciphertext

Every file is checked against the hash the entry names while it is copied.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from testimony.crypto.encoding import b64u_encode, hex_decode
from testimony.crypto.errors import MalformedInput
from testimony.service.store import errors as store_errors
from testimony.service.store.blobs import BlobStore
from testimony.service.store.log import LogStore

from .errors import EntryNotFound, OutputExists, StoredBlobCorrupt, UnknownBlob

__all__ = ["write_raw_submission"]


def _copy(blobs: BlobStore, blob_id: str, target: Path) -> None:
    digest = hashlib.sha256()
    try:
        chunks = blobs.read(blob_id)
    except store_errors.BlobNotFound:
        raise UnknownBlob(f"blob {blob_id} is not stored") from None
    with target.open("xb") as handle:
        for chunk in chunks:
            digest.update(chunk)
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    if digest.hexdigest() != blob_id:
        raise StoredBlobCorrupt(f"blob {blob_id} does not hash to its id")


def write_raw_submission(log: LogStore, blobs: BlobStore, submission_id: str, out: Path) -> int:
    """Write submission ``submission_id``'s entry and ciphertexts into ``out``.

    ``out`` must not exist or be an empty folder. Returns the number of files
    written. Raises :class:`EntryNotFound` if no submission has that id,
    :class:`OutputExists` if ``out`` is not empty, :class:`UnknownBlob`
    if a ciphertext is not stored, and :class:`StoredBlobCorrupt` if one does not
    hash to what the entry names.
    """
    try:
        leaf = hex_decode(submission_id, 32)
    except MalformedInput:
        raise EntryNotFound("a submission id is 64 lowercase hex digits") from None
    try:
        stored = log.entry_by_id(leaf)
    except store_errors.EntryNotFound:
        raise EntryNotFound("no log entry has that id") from None
    entry = json.loads(stored.entry)
    if not isinstance(entry, dict) or entry.get("type") != "submission":
        raise EntryNotFound("that log entry is not a submission")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputExists(f"{out} exists and is not an empty folder")
    (out / "blobs").mkdir(parents=True, exist_ok=True)
    document = {"entry": b64u_encode(stored.entry), "id": submission_id}
    (out / "entry.json").write_text(json.dumps(document, indent=2) + "\n", encoding="ascii")
    _copy(blobs, entry["header"], out / "header.bin")
    _copy(blobs, entry["body"], out / "body.bin")
    for blob_id in entry.get("attachments", []):
        _copy(blobs, blob_id, out / "blobs" / blob_id)
    return 3 + len(entry.get("attachments", []))
