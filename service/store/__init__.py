"""Storage of the intake server: the append-only log, its tree and checkpoints,
blobs, and the working and projection tables (PROTOCOL.md §6, §8, §9).

No HTTP and no domain rules here: the domain decides what an entry says and
signs checkpoints with a key this package never holds; nothing stored here
identifies a client.

- ``db``: engines (SQLite in WAL with synchronous=FULL; PostgreSQL), ``upgrade``.
- ``models``: the tables. ``migrations/`` creates them with the append-only triggers.
- ``log``: :class:`LogStore`, appends in one transaction and O(log n) proofs.
- ``batching``: :class:`AppendBatcher`, group commit of single appends.
- ``blobs``: :class:`BlobStore` and :class:`FilesystemBlobStore`.
- ``projections``: tables derived from the log, and ``rebuild_projections``.
"""

from __future__ import annotations

from .batching import AppendBatcher, AppendReceipt
from .blobs import BlobStore, FilesystemBlobStore
from .db import create_engine, session_factory, upgrade, writer_session
from .errors import (
    BatcherClosed,
    BlobHashMismatch,
    BlobNotFound,
    CheckpointNotFound,
    EntryNotFound,
    NotFound,
    SizeOutOfRange,
    StoreError,
    UploadBusy,
    UploadExists,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
)
from .log import AppendedBatch, LogStore, Signer, StoredCheckpoint, StoredEntry
from .projections import rebuild_projections

__all__ = [
    "AppendBatcher",
    "AppendReceipt",
    "AppendedBatch",
    "BatcherClosed",
    "BlobHashMismatch",
    "BlobNotFound",
    "BlobStore",
    "CheckpointNotFound",
    "EntryNotFound",
    "FilesystemBlobStore",
    "LogStore",
    "NotFound",
    "Signer",
    "SizeOutOfRange",
    "StoreError",
    "StoredCheckpoint",
    "StoredEntry",
    "UploadBusy",
    "UploadExists",
    "UploadNotFound",
    "UploadOffsetMismatch",
    "UploadTooLarge",
    "create_engine",
    "rebuild_projections",
    "session_factory",
    "upgrade",
    "writer_session",
]
