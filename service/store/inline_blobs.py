"""Small ciphertexts kept in the database, in the transaction of the entry
that names them (docs/protocol.md §3 step 6, §9).

Every submission and follow-up carries a 1168-byte header and, usually, an
inline body of at most 1 MiB; a reviewer's reply is a few kilobytes sealed.
Written as blob files, each would cost a temporary file, an fsync, a rename
and directory fsyncs per request, outside the group commit — most of the
server's time under load. Kept as rows of ``inline_blobs`` instead, they are
written by the batch that logs their entry, in one statement for the batch
(``AppendBatcher`` ``store_blobs``, a ``log.Finish``), and become durable
with its one commit: an entry and the ciphertexts it hashes are committed together or not
at all, so no crash can leave an entry whose header is missing.

``inline_blobs`` is append-only like the log tables (the migration installs
triggers refusing UPDATE and DELETE, and TRUNCATE on PostgreSQL): a row is
written only in the transaction that logs an entry naming it, so it is never
unreferenced and never expires. Its ``blobs`` row (size, referenced) is
written beside it, as for any blob.

:class:`LayeredBlobStore` is the :class:`~.blobs.BlobStore` readers use
(``testimony raw``, ``testimony audit``, replies): a blob is read from the
files first, then from these rows; writes, partial uploads and deletion go to
the files.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from sqlalchemy import Connection, Engine, func, select

from . import db
from .blobs import FilesystemBlobStore, check_blob_id
from .errors import BlobNotFound
from .models import InlineBlob

__all__ = ["InlineBlobs", "LayeredBlobStore"]

# Every append runs it (db.Statement: on the driver's cursor). A row stored
# already is skipped by the statement itself, so the append-only triggers
# (which refuse even an insert that would be ignored) never see it. The CAST
# gives PostgreSQL one type for ``:id`` in both places.
_INSERT_NEW = db.Statement(
    "INSERT INTO inline_blobs (id, data) SELECT CAST(:id AS VARCHAR(64)), :data"
    " WHERE NOT EXISTS (SELECT 1 FROM inline_blobs WHERE id = :id)"
)


class InlineBlobs:
    """The ``inline_blobs`` rows (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self._reads = db.read_engine(engine)

    @staticmethod
    def put_in(connection: Connection, blobs: Mapping[str, bytes]) -> None:
        """Store ``blobs`` (id -> bytes) within the caller's transaction.

        The caller has checked that each id is the SHA-256 of its bytes (the
        entry it logs hashes them) and holds the log's writer lock. A blob
        stored already is left as it is. One driver call for all of ``blobs``.
        """
        if not blobs:
            return
        _INSERT_NEW.execute_many(
            connection, [{"id": check_blob_id(k), "data": blobs[k]} for k in sorted(blobs)]
        )

    def iter_ids(self, *, chunk: int = 2_000) -> Iterator[str]:
        """Every row's id, in order (for ``testimony audit``)."""
        after = ""
        while True:
            with self._reads.connect() as connection:
                ids = list(
                    connection.execute(
                        select(InlineBlob.id)
                        .where(InlineBlob.id > after)
                        .order_by(InlineBlob.id)
                        .limit(chunk)
                    ).scalars()
                )
            if not ids:
                return
            yield from ids
            after = ids[-1]

    def get(self, blob_id: str) -> bytes | None:
        """The bytes of ``blob_id``, or None if no row holds it."""
        with self._reads.connect() as connection:
            data = connection.execute(
                select(InlineBlob.data).where(InlineBlob.id == blob_id)
            ).scalar_one_or_none()
        return None if data is None else bytes(data)

    def size(self, blob_id: str) -> int | None:
        """The size of ``blob_id`` in bytes, or None if no row holds it."""
        with self._reads.connect() as connection:
            size = connection.execute(
                select(func.length(InlineBlob.data)).where(InlineBlob.id == blob_id)
            ).scalar_one_or_none()
        return None if size is None else int(size)


class LayeredBlobStore(FilesystemBlobStore):
    """A :class:`~.blobs.FilesystemBlobStore` that also reads ``inline_blobs`` rows.

    :meth:`exists`, :meth:`size` and :meth:`open` (and so :meth:`read`) look
    in the files first, then in the rows; writes, partial uploads and
    :meth:`delete` are the files' alone (rows are never deleted).
    """

    def __init__(self, root: str | os.PathLike[str], inline: InlineBlobs) -> None:
        super().__init__(root)
        self.inline = inline

    def exists(self, blob_id: str) -> bool:
        """Whether verified blob ``blob_id`` is stored. Raises ``ValueError`` for a bad id."""
        return super().exists(blob_id) or self.inline.size(blob_id) is not None

    def size(self, blob_id: str) -> int:
        """The size of blob ``blob_id`` in bytes. Raises ``BlobNotFound``."""
        try:
            return super().size(blob_id)
        except BlobNotFound:
            size = self.inline.size(check_blob_id(blob_id))
        if size is None:
            raise BlobNotFound()
        return size

    def open(self, blob_id: str) -> BinaryIO:
        """A binary file object reading blob ``blob_id``. Raises ``BlobNotFound``."""
        try:
            return super().open(blob_id)
        except BlobNotFound:
            data = self.inline.get(check_blob_id(blob_id))
        if data is None:
            raise BlobNotFound()
        return io.BytesIO(data)
