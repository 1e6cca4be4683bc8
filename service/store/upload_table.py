"""The ``uploads`` table: pending resumable uploads (docs/protocol.md §6, tus 1.0).

A row holds only what resuming and expiry need: an opaque random id, the
declared length, the offset (0 until the upload is complete, then its
length: an unfinished upload's offset is its partial file's size), the blob
id the bytes must hash to and a floored expiry. The bytes live in the
``BlobStore``'s partial uploads.

Creating an upload checks a server-wide quota on unfinished uploads (how many,
and how many bytes they declare together). :meth:`UploadTable.insert_within_quota`
does the check and the insert in one transaction under a lock, so two
creations can never both pass the last free place: on PostgreSQL the lock is
the advisory lock :data:`db.UPLOAD_QUOTA_LOCK`, which log appends do not take,
so an upload's creation never waits for an append; on SQLite it is the
database's one write lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, insert, select, update

from . import db
from .errors import UploadQuotaExceeded
from .models import Upload

__all__ = ["StoredUpload", "UploadTable"]


@dataclass(frozen=True)
class StoredUpload:
    """A pending upload's row: id, declared length, offset reached, blob id, expiry."""

    id: str
    length: int
    offset: int
    sha256: str
    expires: int

    @property
    def finished(self) -> bool:
        """Whether every declared byte has arrived."""
        return self.offset == self.length


class UploadTable:
    """The ``uploads`` rows (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reads = db.read_engine(engine)

    def insert_within_quota(
        self, upload: StoredUpload, *, now: int, max_unfinished: int, max_unfinished_bytes: int
    ) -> None:
        """Insert ``upload`` unless the unfinished uploads would then pass the quota.

        Unfinished uploads are those with ``offset < length`` that have not
        expired at ``now``; with ``upload`` they must number at most
        ``max_unfinished`` and declare at most ``max_unfinished_bytes``.
        Raises ``UploadQuotaExceeded`` (nothing inserted) otherwise, and the
        database's errors (``IntegrityError`` for an id in use).
        """
        with db.writer_connection(self._engine, lock_key=db.UPLOAD_QUOTA_LOCK) as connection:
            count, declared = connection.execute(
                select(func.count(), func.coalesce(func.sum(Upload.length), 0)).where(
                    Upload.offset < Upload.length, Upload.expires > now
                )
            ).one()
            if count + 1 > max_unfinished or declared + upload.length > max_unfinished_bytes:
                raise UploadQuotaExceeded()
            connection.execute(
                insert(Upload).values(
                    id=upload.id,
                    length=upload.length,
                    offset=upload.offset,
                    sha256=upload.sha256,
                    expires=upload.expires,
                )
            )

    def get(self, upload_id: str) -> StoredUpload | None:
        """The row of ``upload_id``, or None."""
        with self._reads.connect() as connection:
            row = connection.execute(
                select(Upload.length, Upload.offset, Upload.sha256, Upload.expires).where(
                    Upload.id == upload_id
                )
            ).one_or_none()
        if row is None:
            return None
        return StoredUpload(
            id=upload_id,
            length=int(row.length),
            offset=int(row.offset),
            sha256=row.sha256,
            expires=int(row.expires),
        )

    def set_offset(self, upload_id: str, offset: int) -> None:
        """Record that ``upload_id`` has reached ``offset`` (a missing row is ignored)."""
        with self._engine.begin() as connection:
            connection.execute(update(Upload).where(Upload.id == upload_id).values(offset=offset))

    def delete(self, upload_id: str) -> None:
        """Delete the row of ``upload_id`` (a missing row is ignored)."""
        with self._engine.begin() as connection:
            connection.execute(delete(Upload).where(Upload.id == upload_id))

    def expired(self, now: int) -> list[StoredUpload]:
        """Every upload whose expiry is at most ``now``, finished or not."""
        with self._reads.connect() as connection:
            rows = connection.execute(
                select(Upload.id, Upload.length, Upload.offset, Upload.sha256, Upload.expires)
                .where(Upload.expires <= now)
                .order_by(Upload.id)
            ).all()
        return [
            StoredUpload(
                id=row.id,
                length=int(row.length),
                offset=int(row.offset),
                sha256=row.sha256,
                expires=int(row.expires),
            )
            for row in rows
        ]

    def is_uploading(self, blob_id: str, *, now: int) -> bool:
        """Whether an unfinished upload, not expired at ``now``, will make blob ``blob_id``."""
        with self._reads.connect() as connection:
            found = connection.execute(
                select(Upload.id)
                .where(
                    Upload.sha256 == blob_id, Upload.offset < Upload.length, Upload.expires > now
                )
                .limit(1)
            ).first()
        return found is not None
