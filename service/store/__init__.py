"""Storage of the intake server: the append-only log, its tree and checkpoints,
blobs, and the working and projection tables (docs/protocol.md §6, §8, §9).

No HTTP and no domain rules here: the domain decides what an entry says and
signs checkpoints with a key this package never holds; nothing stored here
identifies a client.

The domain reaches the tables only through the classes here; it imports no
model.

- ``db``: engines (SQLite in WAL with synchronous=FULL; PostgreSQL), ``upgrade``,
  writer transactions and their locks.
- ``models``: the tables. ``migrations/`` creates them with the append-only triggers.
- ``log``: :class:`LogStore`, appends in one transaction (deduplicated by leaf
  hash and by content key) and O(log n) proofs.
- ``batching``: :class:`AppendBatcher`, group commit of single appends.
- ``blobs``: :class:`BlobStore` and :class:`FilesystemBlobStore`.
- ``blob_index``: :class:`BlobIndex`, the ``blobs`` rows (recorded, referenced, expiry).
- ``upload_table``: :class:`UploadTable`, pending uploads and their quota.
- ``pow_ledger``: :class:`PowLedger`, spent proof-of-work challenges.
- ``projections``: tables derived from the log (``submissions``,
  ``intake_keys``), their reads, and ``rebuild_projections``.
"""

from __future__ import annotations

from .batching import AppendBatcher, AppendReceipt
from .blob_index import BlobIndex
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
    UploadQuotaExceeded,
    UploadTooLarge,
)
from .log import AppendedBatch, LogStore, Signer, StoredCheckpoint, StoredEntry
from .pow_ledger import PowLedger
from .projections import (
    IntakeKeyTable,
    StoredIntakeKey,
    SubmissionKey,
    SubmissionTable,
    rebuild_projections,
)
from .upload_table import StoredUpload, UploadTable

__all__ = [
    "AppendBatcher",
    "AppendReceipt",
    "AppendedBatch",
    "BatcherClosed",
    "BlobHashMismatch",
    "BlobIndex",
    "BlobNotFound",
    "BlobStore",
    "CheckpointNotFound",
    "EntryNotFound",
    "FilesystemBlobStore",
    "IntakeKeyTable",
    "LogStore",
    "NotFound",
    "PowLedger",
    "Signer",
    "SizeOutOfRange",
    "StoreError",
    "StoredCheckpoint",
    "StoredEntry",
    "StoredIntakeKey",
    "StoredUpload",
    "SubmissionKey",
    "SubmissionTable",
    "UploadBusy",
    "UploadExists",
    "UploadNotFound",
    "UploadOffsetMismatch",
    "UploadQuotaExceeded",
    "UploadTable",
    "UploadTooLarge",
    "create_engine",
    "rebuild_projections",
    "session_factory",
    "upgrade",
    "writer_session",
]
