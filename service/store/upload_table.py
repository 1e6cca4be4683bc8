"""The ``uploads`` table: pending resumable uploads (docs/protocol.md §6, tus 1.0).

A row holds only what resuming and expiry need: an opaque random id, the
declared length, the offset (0 until the upload is complete, then its
length: an unfinished upload's offset is its partial file's size), the blob
id the bytes must hash to and a floored expiry, the end of its first idle
time (the domain extends an active upload's life from its partial file;
the row is never rewritten for it). The bytes live in the ``BlobStore``'s
partial uploads.

Creating an upload checks the server-wide upload budget: the bytes that
unfinished uploads declare and that finished blobs no entry names (the
``blobs`` rows not ``referenced``) take together, each at least a ``unit``
(:meth:`UploadTable.budget_used`). :meth:`UploadTable.insert_within_budget`
does the check, the caller's own check (``admit``: the proof of work) and the
insert in one transaction under a lock, so two creations can never both pass
the last free place: on PostgreSQL the lock is the advisory lock
:data:`db.UPLOAD_QUOTA_LOCK`, which log appends do not take, so an upload's
creation never waits for an append; on SQLite it is the database's one write
lock (``BEGIN IMMEDIATE``). Unfinished uploads count until they are deleted
(the domain sweeps the expired ones before it creates one), whatever their
row's expiry says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Row, case, delete, func, insert, select, update

from . import db
from .errors import UploadQuotaExceeded
from .models import Blob, Upload

__all__ = ["StoredUpload", "UploadTable"]


def _used(connection: Connection, unit: int) -> int:
    """Budget bytes taken: unfinished uploads' declared lengths and unreferenced
    blobs' sizes, each at least ``unit``."""
    uploads = connection.execute(
        select(
            func.coalesce(func.sum(case((Upload.length < unit, unit), else_=Upload.length)), 0)
        ).where(Upload.offset < Upload.length)
    ).scalar_one()
    blobs = connection.execute(
        select(func.coalesce(func.sum(case((Blob.size < unit, unit), else_=Blob.size)), 0)).where(
            Blob.referenced.is_(False)
        )
    ).scalar_one()
    return int(uploads) + int(blobs)


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

    def budget_used(self, *, unit: int) -> int:
        """The budget bytes taken now (see the module docstring), each upload
        and blob counted as at least ``unit`` bytes."""
        with self._reads.connect() as connection:
            return _used(connection, unit)

    def insert_within_budget(
        self,
        upload: StoredUpload,
        *,
        unit: int,
        budget: int,
        admit: Callable[[Connection, int], None] | None = None,
    ) -> None:
        """Insert ``upload`` unless the budget would then be passed.

        With ``upload`` (counted as at least ``unit`` bytes) the bytes taken
        must be at most ``budget``; else ``UploadQuotaExceeded`` (nothing
        inserted). Then ``admit(connection, used)`` is called with the bytes
        taken with ``upload``, in the same transaction: whatever it raises
        rolls back its own writes and the insert. Raises the database's errors
        too (``IntegrityError`` for an id in use).
        """
        with db.writer_connection(self._engine, lock_key=db.UPLOAD_QUOTA_LOCK) as connection:
            used = _used(connection, unit) + max(upload.length, unit)
            if used > budget:
                raise UploadQuotaExceeded()
            if admit is not None:
                admit(connection, used)
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

    def set_offset(self, upload_id: str, offset: int, *, expires: int | None = None) -> None:
        """Record that ``upload_id`` has reached ``offset`` (and, if given, its
        new floored ``expires``); a missing row is ignored."""
        values: dict[str, int] = {"offset": offset}
        if expires is not None:
            values["expires"] = expires
        with self._engine.begin() as connection:
            connection.execute(update(Upload).where(Upload.id == upload_id).values(**values))

    def delete(self, upload_id: str) -> None:
        """Delete the row of ``upload_id`` (a missing row is ignored)."""
        with self._engine.begin() as connection:
            connection.execute(delete(Upload).where(Upload.id == upload_id))

    def expired(self, now: int) -> list[StoredUpload]:
        """Every upload whose row's expiry is at most ``now``, finished or not
        (for an unfinished one, the end of its first idle time: the domain
        decides whether it is still alive)."""
        with self._reads.connect() as connection:
            rows = connection.execute(
                select(Upload.id, Upload.length, Upload.offset, Upload.sha256, Upload.expires)
                .where(Upload.expires <= now)
                .order_by(Upload.id)
            ).all()
        return [_stored(row) for row in rows]

    def unfinished_of(self, blob_id: str) -> list[StoredUpload]:
        """The unfinished uploads that will make blob ``blob_id``, expired or not."""
        with self._reads.connect() as connection:
            rows = connection.execute(
                select(Upload.id, Upload.length, Upload.offset, Upload.sha256, Upload.expires)
                .where(Upload.sha256 == blob_id, Upload.offset < Upload.length)
                .order_by(Upload.id)
            ).all()
        return [_stored(row) for row in rows]


def _stored(row: Row[str, int, int, str, int]) -> StoredUpload:
    return StoredUpload(
        id=row.id,
        length=int(row.length),
        offset=int(row.offset),
        sha256=row.sha256,
        expires=int(row.expires),
    )
