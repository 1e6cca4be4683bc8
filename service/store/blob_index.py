"""The ``blobs`` table: which verified blobs exist and whether the log names them
(docs/protocol.md §6: "unreferenced blobs expire"; times as §9 says).

A row is written once a blob's bytes are stored and verified (``BlobStore``);
its ``referenced`` flag is set by ``projections.SubmissionProjection`` when a
submission entry names the blob, and never cleared except by a rebuild of the
projections, which sets it again from the log. ``created`` is a floored time
(whole Unix seconds) from which an unreferenced blob's expiry is counted;
recording or claiming a blob again moves it forward, so a blob a submission
is about to name cannot expire under it.

The race between a submission naming a blob and expiry deleting it is settled
row by row: :meth:`BlobIndex.claim` moves ``created`` forward only if the row
exists, and :meth:`BlobIndex.delete_unreferenced` deletes only a row that is
still unreferenced *and* still older than the cutoff. Whichever commits first
wins; a blob claimed is not deleted, and a blob deleted is not claimed.

A submission's writes to this table run in the log append that logs it
(``LogStore.append_batch`` ``prepare``): :meth:`BlobIndex.claim_in` and
:meth:`BlobIndex.record_in` take the append's connection, so they cost no
transaction of their own. :meth:`BlobIndex.recorded` only reads, for the
checks a submission makes before it queues its entry.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping

from sqlalchemy import Connection, Engine, delete, select, update

from . import db
from .models import Blob

__all__ = ["BlobIndex"]

_IN_CHUNK = 500


# Every append runs it (db.Statement: on the driver's cursor): INSERT a row,
# or move an unreferenced row's ``created`` forward (never back).
_UPSERT = db.Statement(
    "INSERT INTO blobs (id, size, created, referenced) VALUES (:id, :size, :created, :no)"
    " ON CONFLICT (id) DO UPDATE SET created = excluded.created"
    " WHERE NOT blobs.referenced AND blobs.created < excluded.created"
)


class BlobIndex:
    """The ``blobs`` rows: record, claim, expire, list (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reads = db.read_engine(engine)

    def record(self, sizes: Mapping[str, int], *, created: int) -> None:
        """Record verified blobs (id -> size in bytes), unreferenced, at floored ``created``.

        One transaction. A blob recorded already keeps its row, except that an
        unreferenced row's ``created`` moves forward to ``created`` (never back).
        """
        if not sizes:
            return
        with self._engine.begin() as connection:
            self.record_in(connection, sizes, created=created)

    @staticmethod
    def record_in(connection: Connection, sizes: Mapping[str, int], *, created: int) -> None:
        """:meth:`record` within the caller's transaction on ``connection``
        (one statement for all of ``sizes``)."""
        if not sizes:
            return
        rows = [
            {"id": blob_id, "size": size, "created": created, "no": False}
            for blob_id, size in sorted(sizes.items())
        ]
        _UPSERT.execute_many(connection, rows)

    def recorded(self, blob_ids: Collection[str]) -> set[str]:
        """Which of ``blob_ids`` are recorded (a read: nothing is claimed)."""
        wanted = sorted(set(blob_ids))
        found: set[str] = set()
        with self._reads.connect() as connection:
            for start in range(0, len(wanted), _IN_CHUNK):
                part = wanted[start : start + _IN_CHUNK]
                found.update(connection.execute(select(Blob.id).where(Blob.id.in_(part))).scalars())
        return found

    def claim(self, blob_ids: Collection[str], *, now: int) -> set[str]:
        """Which of ``blob_ids`` are recorded; unreferenced ones get ``created = now``.

        A submission claims the blobs it names before it appends, so that
        expiry leaves them alone until the append has marked them referenced.
        ``now`` is a floored time.
        """
        if not blob_ids:
            return set()
        with self._engine.begin() as connection:
            return self.claim_in(connection, blob_ids, now=now)

    @staticmethod
    def claim_in(connection: Connection, blob_ids: Collection[str], *, now: int) -> set[str]:
        """:meth:`claim` within the caller's transaction on ``connection``.

        The claim and the read of the rows are one transaction, so a blob
        reported recorded is claimed, and expiry can no longer delete it.
        """
        wanted = sorted(set(blob_ids))
        recorded: set[str] = set()
        for start in range(0, len(wanted), _IN_CHUNK):
            part = wanted[start : start + _IN_CHUNK]
            connection.execute(
                update(Blob)
                .where(Blob.id.in_(part), Blob.referenced.is_(False), Blob.created < now)
                .values(created=now)
            )
            recorded.update(connection.execute(select(Blob.id).where(Blob.id.in_(part))).scalars())
        return recorded

    def is_referenced(self, blob_id: str) -> bool | None:
        """Whether a log entry names recorded blob ``blob_id``; None if it is not recorded."""
        with self._reads.connect() as connection:
            referenced = connection.execute(
                select(Blob.referenced).where(Blob.id == blob_id)
            ).scalar_one_or_none()
        return None if referenced is None else bool(referenced)

    def unreferenced_since(self, cutoff: int) -> list[str]:
        """Ids of the unreferenced blobs whose ``created`` is at most ``cutoff``."""
        with self._reads.connect() as connection:
            return list(
                connection.execute(
                    select(Blob.id)
                    .where(Blob.referenced.is_(False), Blob.created <= cutoff)
                    .order_by(Blob.id)
                ).scalars()
            )

    def delete_unreferenced(self, blob_id: str, *, cutoff: int) -> bool:
        """Delete the row of ``blob_id`` if it is still unreferenced and created by ``cutoff``.

        Returns whether a row was deleted; only then may the caller delete the
        blob's bytes.
        """
        with self._engine.begin() as connection:
            result = connection.execute(
                delete(Blob).where(
                    Blob.id == blob_id, Blob.referenced.is_(False), Blob.created <= cutoff
                )
            )
        return bool(getattr(result, "rowcount", 0))

    def iter_ids(self, *, chunk: int = 2_000) -> Iterator[str]:
        """Every recorded blob id, in order (for ``testimony audit``)."""
        after = ""
        while True:
            with self._reads.connect() as connection:
                ids = list(
                    connection.execute(
                        select(Blob.id).where(Blob.id > after).order_by(Blob.id).limit(chunk)
                    ).scalars()
                )
            if not ids:
                return
            yield from ids
            after = ids[-1]
