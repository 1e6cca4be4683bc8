"""Blobs put and claimed as the tests need them, through the server's public
pieces (``server.blobs``, the ``blobs`` table's ``BlobIndex``, ``server.uploads``):
what no production code does, so ``domain.uploads`` does not carry it."""

from __future__ import annotations

from collections.abc import Sequence

from testimony.service.domain.clock import Granularity, unix_seconds
from testimony.service.server import Server
from testimony.service.store.blob_index import BlobIndex

__all__ = ["claim_blobs", "put_blob"]


def _floored_now(server: Server) -> int:
    granularity = Granularity(server.settings.time_granularity_minutes)
    return granularity.floor_seconds(unix_seconds(server.settings.clock.now()))


def put_blob(server: Server, data: bytes, blob_id: str) -> None:
    """Store ``data`` as verified blob file ``blob_id`` and record it,
    unreferenced, as a finished upload leaves a blob (without the upload).

    Raises ``BlobHashMismatch`` from the store if ``data`` does not hash to
    ``blob_id``.
    """
    floored = _floored_now(server)
    if not server.blobs.exists(blob_id):
        server.blobs.put([data], expected_id=blob_id, mtime=floored)
    BlobIndex(server.engine).record({blob_id: len(data)}, created=floored)


def claim_blobs(server: Server, blob_ids: Sequence[str]) -> dict[str, str]:
    """Claim ``blob_ids`` now, as a submission's append does (their expiry
    counts from now), in a transaction of its own; then their ``BlobState``."""
    BlobIndex(server.engine).claim(blob_ids, now=_floored_now(server))
    return server.uploads.blob_states(blob_ids)
