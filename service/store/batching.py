"""Group commit for log appends (docs/protocol.md §9, §10).

A receipt carries a signed checkpoint and an inclusion proof, so each append
costs a transaction, a tree update, a signature and (SQLite) an fsync. The
:class:`AppendBatcher` spreads that cost: callers — request handlers on
threads or on an asyncio loop — hand it one entry each and wait; one worker
thread appends them with ``LogStore.append_gathered`` (one transaction, one
checkpoint) and answers every waiter once the batch is committed. If the
append fails, that batch's waiters get the exception and the worker moves on.

Batches form as in classic group commit: the worker takes everything queued
at that moment (up to ``max_batch``) and commits it at once, so a request
that arrives alone is committed without waiting for company; requests that
arrive while a commit runs form the next batch. One refinement: after a batch
of ``n > 1`` entries, the worker lingers up to ``max_delay`` until ``n``
entries are queued. Without it, ``k`` clients that each wait for their
receipt split into two alternating half batches (those answered by one commit
queue again only after the worker has taken the others), which halves the
entries per commit; with it, they come back together. A lone client (``n =
1``) never waits, and when clients leave, the worker waits ``max_delay``
once and then expects the smaller batch.

The batch is closed only once the log's writer lock is held
(``LogStore.append_gathered``): when several server processes append, each
waits its turn for the lock, and the requests that reach it meanwhile join
the batch it is about to commit instead of waiting for the next one. With
two processes this doubles the entries per commit.

An entry may carry a dedup key (``LogStore.append_batch``): a duplicate by
content, in the same batch or logged before, resolves to the first entry. It
may also carry a ``prepare`` (``log.Prepare``): the rows it writes besides its
entry, run in the batch's transaction, so that a submission costs no
transaction of its own. An entry its ``prepare`` refuses fails alone: its
waiter gets that error, and the rest of the batch is committed. And it may
carry ``blobs`` (id -> bytes: a header, an inline body) that the batch
stores with one call of ``store_blobs`` for all its kept entries (a
``log.Finish``), so they are committed with their entry at no statement of
their own.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from testimony.crypto import merkle

from .errors import BatcherClosed
from .log import BatchItems, Finish, LogStore, Prepare, Signer, StoredCheckpoint

BlobWriter = Callable[[Connection, Mapping[str, bytes]], None]
"""``store_blobs(connection, blobs)``: writes id -> bytes within the batch's transaction."""

__all__ = ["AppendBatcher", "AppendReceipt"]


@dataclass(frozen=True)
class AppendReceipt:
    """What a waiter gets once its entry is committed.

    ``index`` and ``entry_id`` name the entry (its first occurrence if it, or
    an entry with its dedup key, was already logged: then ``appended`` is
    False and the entry named may differ from the one submitted);
    ``inclusion`` proves it in the tree of ``checkpoint.size`` entries.
    """

    index: int
    entry_id: bytes
    appended: bool
    checkpoint: StoredCheckpoint
    inclusion: merkle.InclusionProof


@dataclass
class _Request:
    entry: bytes
    dedup_key: Hashable | None
    prepare: Prepare | None
    blobs: Mapping[str, bytes] | None
    future: concurrent.futures.Future[AppendReceipt]


_STOP: None = None
"""Queued by :meth:`AppendBatcher.close`: the worker commits what precedes it and stops."""


class AppendBatcher:
    """Collects single appends into batches committed by one worker thread.

    Use as a context manager, or call :meth:`close`. ``max_batch`` bounds the
    entries per transaction; ``max_delay`` (seconds) is the longest the worker
    lingers for a batch as large as the previous one (see the module
    docstring); ``max_delay = 0`` never lingers. ``store_blobs`` writes the
    ``blobs`` that entries carry (see the module docstring).
    """

    def __init__(
        self,
        log: LogStore,
        sign: Signer,
        *,
        max_batch: int = 256,
        max_delay: float = 0.002,
        store_blobs: BlobWriter | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if max_delay < 0:
            raise ValueError("max_delay must not be negative")
        self._log = log
        self._sign = sign
        self._store_blobs = store_blobs
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._stopping = False  # the worker has taken close()'s marker
        self._batches = 0
        self._worker = threading.Thread(target=self._run, name="log-append-batcher", daemon=True)
        self._worker.start()

    @property
    def batches(self) -> int:
        """How many batches the worker has handed to the log so far."""
        return self._batches

    def submit_future(
        self,
        entry: bytes,
        *,
        dedup_key: Hashable | None = None,
        prepare: Prepare | None = None,
        blobs: Mapping[str, bytes] | None = None,
    ) -> concurrent.futures.Future[AppendReceipt]:
        """Queue ``entry`` (with its optional dedup key, ``prepare`` and
        ``blobs``) and return the future of its receipt.

        The future holds the error ``prepare`` refused the entry with, if it did.

        Raises ``BatcherClosed`` once :meth:`close` has been called,
        ``TypeError`` if ``entry`` is not ``bytes`` and ``ValueError`` for
        ``blobs`` on a batcher without ``store_blobs``. Cancelling the future
        before its batch is taken withdraws the entry.
        """
        if not isinstance(entry, bytes):
            raise TypeError("a log entry must be bytes")
        if blobs and self._store_blobs is None:
            raise ValueError("this batcher stores no blobs")
        future: concurrent.futures.Future[AppendReceipt] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise BatcherClosed()
            self._queue.put(_Request(entry, dedup_key, prepare, blobs, future))
        return future

    def submit(
        self,
        entry: bytes,
        timeout: float | None = None,
        *,
        dedup_key: Hashable | None = None,
        prepare: Prepare | None = None,
        blobs: Mapping[str, bytes] | None = None,
    ) -> AppendReceipt:
        """Append ``entry`` with the next batch and block until it is committed.

        ``dedup_key`` and ``prepare`` go to the log's append; ``blobs`` are
        stored with the batch. Raises ``BatcherClosed`` if the batcher is
        closed, the error ``prepare`` refused the entry with, whatever the
        batch's append raised, and ``TimeoutError`` after ``timeout`` seconds
        (the entry may still be appended later).
        """
        future = self.submit_future(entry, dedup_key=dedup_key, prepare=prepare, blobs=blobs)
        return future.result(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Stop taking entries, commit every entry already queued, stop the worker.

        Idempotent. Raises ``TimeoutError`` if the worker has not finished
        within ``timeout`` seconds.
        """
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        self._worker.join(timeout)
        if self._worker.is_alive():
            raise TimeoutError("the append batcher did not stop in time")

    def __enter__(self) -> AppendBatcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- worker -------------------------------------------------------------------

    def _run(self) -> None:
        expected = 1  # entries in the previous batch
        while not self._stopping:
            first = self._queue.get()
            if first is None:  # close()
                return
            batch = [first]
            linger = expected > 1 and self._max_delay > 0
            deadline = time.monotonic() + self._max_delay
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if not linger or len(batch) >= expected or remaining <= 0:
                        break
                    try:
                        item = self._queue.get(timeout=remaining)
                    except queue.Empty:
                        break
                if item is None:  # close(): commit what came before it, then stop
                    self._stopping = True
                    break
                batch.append(item)
            expected = self._commit(batch)

    def _take_queued(self, batch: list[_Request]) -> None:
        """Add what is queued now to ``batch``, up to ``max_batch`` (never waits)."""
        while not self._stopping and len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is None:  # close(): commit what came before it, then stop
                self._stopping = True
                return
            batch.append(item)

    def _finish(self, live: Sequence[_Request]) -> Finish | None:
        """The batch's ``finish``: one ``store_blobs`` for every kept entry's blobs."""
        store = self._store_blobs
        if store is None or not any(r.blobs for r in live):
            return None

        def finish(connection: Connection, kept: Sequence[bool]) -> None:
            blobs: dict[str, bytes] = {}
            for request, keep in zip(live, kept, strict=True):
                if keep and request.blobs:
                    blobs.update(request.blobs)
            if blobs:
                store(connection, blobs)

        return finish

    def _commit(self, requests: list[_Request]) -> int:
        """Append ``requests`` and the requests queued by the time the log's
        writer lock is held; answer each. Returns how many were appended."""
        live: list[_Request] = []

        def gather() -> BatchItems | None:
            # Under the writer lock: what queued while it was awaited joins.
            self._take_queued(requests)
            # A future cancelled while queued is dropped; the others can no longer be.
            live.extend(r for r in requests if r.future.set_running_or_notify_cancel())
            if not live:
                return None
            self._batches += 1
            prepare = [r.prepare for r in live]
            return BatchItems(
                [r.entry for r in live],
                dedup_keys=[r.dedup_key for r in live],
                prepare=prepare if any(p is not None for p in prepare) else None,
                finish=self._finish(live),
            )

        try:
            result = self._log.append_gathered(gather, self._sign)
        except BaseException as exc:  # every waiter of this batch learns why
            for request in live or requests:
                if not request.future.done():
                    request.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return len(live)
        if result is None:
            return 0
        i = 0  # the request's item in `result` (refused requests have none)
        for position, request in enumerate(live):
            refusal = result.refused[position] if result.refused else None
            if refusal is not None:
                request.future.set_exception(refusal)
                continue
            request.future.set_result(
                AppendReceipt(
                    index=result.indexes[i],
                    entry_id=result.ids[i],
                    appended=result.appended[i],
                    checkpoint=result.checkpoint,
                    inclusion=result.inclusion[i],
                )
            )
            i += 1
        return len(live)
