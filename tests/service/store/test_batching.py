"""service/store/batching.py: concurrent callers are grouped into batches, and
every waiter gets a receipt whose proof verifies against its checkpoint; a
lone request is committed at once (group commit), and after a batch of n the
worker lingers for n."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pytest
from sqlalchemy import Connection

from testimony.crypto import merkle
from testimony.service.store.batching import AppendBatcher, AppendReceipt
from testimony.service.store.errors import BatcherClosed
from testimony.service.store.log import AppendedBatch, Gather, LogStore, Prepare, Signer

from .support import read_note, stand_in_sign

DEADLINE = 60.0


class GatedSigner:
    """Signs like ``stand_in_sign``, but its first call waits until ``release()``.

    While the worker is held inside the first batch, later submissions queue
    up, so the next batch's contents are known to the test without sleeping.
    ``fail_first`` makes the first call raise once released.
    """

    def __init__(self, *, fail_first: bool = False) -> None:
        self.entered = threading.Event()
        self._released = threading.Event()
        self._fail_first = fail_first
        self.calls = 0

    def release(self) -> None:
        self._released.set()

    def __call__(self, size: int, root: bytes) -> str:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            assert self._released.wait(DEADLINE)
            if self._fail_first:
                raise RuntimeError("first batch fails")
        return stand_in_sign(size, root)


def _check_receipt(receipt: AppendReceipt, entry: bytes) -> None:
    assert receipt.entry_id == merkle.leaf_hash(entry)
    size, root = read_note(receipt.checkpoint.note)
    assert size == receipt.checkpoint.size == receipt.inclusion.size
    assert receipt.index < size
    receipt.inclusion.verify(receipt.entry_id, root)


def test_sixteen_threads_get_verifiable_receipts_in_fewer_batches(log: LogStore) -> None:
    threads_count, per_thread = 16, 8
    sign = GatedSigner()
    receipts: dict[bytes, AppendReceipt] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()
    enqueued = threading.Semaphore(0)

    with AppendBatcher(log, sign, max_batch=256, max_delay=0.005) as batcher:

        def client(n: int) -> None:
            try:
                for i in range(per_thread):
                    entry = f"thread {n} entry {i}".encode()
                    future = batcher.submit_future(entry)
                    if i == 0:
                        enqueued.release()
                    receipt = future.result(DEADLINE)
                    with lock:
                        receipts[entry] = receipt
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(threads_count)]
        for thread in threads:
            thread.start()
        # Hold the first batch until every thread has queued its first entry.
        for _ in range(threads_count):
            assert enqueued.acquire(timeout=DEADLINE)
        assert sign.entered.wait(DEADLINE)
        sign.release()
        for thread in threads:
            thread.join(DEADLINE)
        batches = batcher.batches

    assert errors == []
    total = threads_count * per_thread
    assert len(receipts) == total
    for entry, receipt in receipts.items():
        assert receipt.appended
        _check_receipt(receipt, entry)
    assert sorted(r.index for r in receipts.values()) == list(range(total))
    assert batches < total
    assert log.size() == total


def test_a_failing_batch_fails_only_its_own_waiters(log: LogStore) -> None:
    sign = GatedSigner(fail_first=True)
    with AppendBatcher(log, sign) as batcher:
        doomed = batcher.submit_future(b"first")
        assert sign.entered.wait(DEADLINE)
        queued = [batcher.submit_future(f"later {i}".encode()) for i in range(5)]
        sign.release()
        with pytest.raises(RuntimeError, match="first batch fails"):
            doomed.result(DEADLINE)
        receipts = [future.result(DEADLINE) for future in queued]
    for i, receipt in enumerate(receipts):
        _check_receipt(receipt, f"later {i}".encode())
    assert {r.checkpoint.size for r in receipts} == {5}  # one batch, after the failed one
    assert log.entries(0, 5) == [f"later {i}".encode() for i in range(5)]


def test_an_entry_its_prepare_refuses_fails_alone(log: LogStore) -> None:
    written: list[bytes] = []

    def prepare(name: bytes, refuse: bool) -> Prepare:
        def run(_connection: Connection) -> Exception | None:
            written.append(name)
            return LookupError(name.decode()) if refuse else None

        return run

    sign = GatedSigner()
    with AppendBatcher(log, sign) as batcher:
        first = batcher.submit_future(b"first")
        assert sign.entered.wait(DEADLINE)
        # One batch, queued while the first is held: its middle entry is refused.
        queued = [
            batcher.submit_future(f"e{i}".encode(), prepare=prepare(f"e{i}".encode(), i == 1))
            for i in range(3)
        ]
        sign.release()
        assert first.result(DEADLINE).index == 0
        with pytest.raises(LookupError, match="e1"):
            queued[1].result(DEADLINE)
        kept = [queued[0].result(DEADLINE), queued[2].result(DEADLINE)]
    for receipt, entry in zip(kept, [b"e0", b"e2"], strict=True):
        _check_receipt(receipt, entry)
    assert [r.index for r in kept] == [1, 2]
    assert {r.checkpoint.size for r in kept} == {3}
    assert written == [b"e0", b"e1", b"e2"]  # in queue order, in the one batch
    assert log.entries(0, log.size()) == [b"first", b"e0", b"e2"]


def test_a_cancelled_waiter_is_not_appended(log: LogStore) -> None:
    sign = GatedSigner()
    with AppendBatcher(log, sign) as batcher:
        first = batcher.submit_future(b"first")
        assert sign.entered.wait(DEADLINE)
        withdrawn = batcher.submit_future(b"withdrawn")
        kept = batcher.submit_future(b"kept")
        assert withdrawn.cancel()
        sign.release()
        assert first.result(DEADLINE).index == 0
        assert kept.result(DEADLINE).index == 1
    assert log.entries(0, log.size()) == [b"first", b"kept"]


def test_close_commits_what_is_queued_then_refuses(log: LogStore) -> None:
    batcher = AppendBatcher(log, stand_in_sign, max_delay=0.05)
    futures = [batcher.submit_future(f"e{i}".encode()) for i in range(10)]
    batcher.close(DEADLINE)
    assert all(future.done() for future in futures)
    assert sorted(future.result().index for future in futures) == list(range(10))
    with pytest.raises(BatcherClosed):
        batcher.submit(b"late")
    batcher.close()  # idempotent


def test_duplicates_in_flight_get_the_same_index(log: LogStore) -> None:
    with AppendBatcher(log, stand_in_sign, max_delay=0.05) as batcher:
        futures = [batcher.submit_future(b"same") for _ in range(4)]
        receipts = [future.result(DEADLINE) for future in futures]
    assert {r.index for r in receipts} == {0}
    assert sum(r.appended for r in receipts) == 1
    assert log.size() == 1


def _held_first_batch(batcher: AppendBatcher, sign: GatedSigner, later: int) -> None:
    """Commit a batch of one entry, then one of ``later`` entries queued meanwhile."""
    first = batcher.submit_future(b"first")
    assert sign.entered.wait(DEADLINE)
    queued = [batcher.submit_future(f"queued {i}".encode()) for i in range(later)]
    sign.release()
    assert first.result(DEADLINE).checkpoint.size == 1
    assert {f.result(DEADLINE).checkpoint.size for f in queued} == {1 + later}


def test_a_lone_request_is_committed_without_waiting_for_company(log: LogStore) -> None:
    # Were max_delay waited out, these would time out.
    with AppendBatcher(log, stand_in_sign, max_delay=3600) as batcher:
        for i in range(3):
            receipt = batcher.submit(f"alone {i}".encode(), timeout=DEADLINE)
            assert (receipt.index, receipt.checkpoint.size) == (i, i + 1)
        assert batcher.batches == 3


def test_requests_arriving_during_a_commit_form_the_next_batch(log: LogStore) -> None:
    sign = GatedSigner()
    with AppendBatcher(log, sign, max_delay=0) as batcher:
        _held_first_batch(batcher, sign, later=5)
        assert batcher.batches == 2


def test_after_a_batch_of_n_the_worker_lingers_for_n(log: LogStore) -> None:
    sign = GatedSigner()
    with AppendBatcher(log, sign, max_delay=3600) as batcher:
        _held_first_batch(batcher, sign, later=3)
        lone = batcher.submit_future(b"lone")
        second = batcher.submit_future(b"second")
        assert not lone.done()  # the worker waits for a third (the last batch had 3)
        third = batcher.submit_future(b"third")
        receipts = [f.result(DEADLINE) for f in (lone, second, third)]
        assert {r.checkpoint.size for r in receipts} == {7}
        assert batcher.batches == 3


class WatchedLog(LogStore):
    """A ``LogStore`` that says when a batch starts waiting for the writer lock."""

    def __init__(self, log: LogStore) -> None:
        super().__init__(log.engine)
        self.waiting = threading.Event()

    def append_gathered(self, gather: Gather, sign: Signer) -> AppendedBatch | None:
        self.waiting.set()
        return super().append_gathered(gather, sign)


def test_requests_queued_while_another_appender_holds_the_lock_join_the_waiting_batch(
    log: LogStore,
) -> None:
    """Two appenders (as two server processes): while one holds the writer
    lock, what reaches the other joins the batch it is waiting to commit."""
    sign = GatedSigner()
    watched = WatchedLog(log)
    with AppendBatcher(log, sign) as holder, AppendBatcher(watched, stand_in_sign) as other:
        held = holder.submit_future(b"held")
        assert sign.entered.wait(DEADLINE)  # `holder` holds the writer lock
        first = other.submit_future(b"first")
        assert watched.waiting.wait(DEADLINE)  # `other` took it, and waits for the lock
        later = [other.submit_future(f"later {i}".encode()) for i in range(3)]
        sign.release()
        assert held.result(DEADLINE).checkpoint.size == 1
        receipts = [f.result(DEADLINE) for f in (first, *later)]
        assert {r.checkpoint.size for r in receipts} == {5}  # one checkpoint for all four
        assert other.batches == 1
        for receipt, entry in zip(
            receipts, [b"first", b"later 0", b"later 1", b"later 2"], strict=True
        ):
            _check_receipt(receipt, entry)


def test_close_ends_a_linger_and_commits_what_it_holds(log: LogStore) -> None:
    sign = GatedSigner()
    batcher = AppendBatcher(log, sign, max_delay=3600)
    _held_first_batch(batcher, sign, later=3)
    lone = batcher.submit_future(b"lone")
    batcher.close(DEADLINE)
    assert lone.result(0).index == 4


def test_blobs_of_a_batch_are_stored_in_one_call_without_those_of_refused_entries(
    log: LogStore,
) -> None:
    calls: list[dict[str, bytes]] = []

    def store_blobs(_connection: Connection, blobs: Mapping[str, bytes]) -> None:
        calls.append(dict(blobs))

    def refuse(_connection: Connection) -> Exception | None:
        return LookupError("refused")

    sign = GatedSigner()
    with AppendBatcher(log, sign, store_blobs=store_blobs) as batcher:
        first = batcher.submit_future(b"first", blobs={"h0": b"header 0"})
        assert sign.entered.wait(DEADLINE)
        queued = [
            batcher.submit_future(b"e1", blobs={"h1": b"header 1", "b1": b"body 1"}),
            batcher.submit_future(b"e2", blobs={"h2": b"header 2"}, prepare=refuse),
            batcher.submit_future(b"e3", blobs={"h3": b"header 3"}),
        ]
        sign.release()
        first.result(DEADLINE)
        with pytest.raises(LookupError):
            queued[1].result(DEADLINE)
        assert [queued[0].result(DEADLINE).index, queued[2].result(DEADLINE).index] == [1, 2]
    assert calls == [
        {"h0": b"header 0"},
        {"h1": b"header 1", "b1": b"body 1", "h3": b"header 3"},  # one call for the batch
    ]


def test_blobs_need_a_batcher_that_stores_them(log: LogStore) -> None:
    with AppendBatcher(log, stand_in_sign) as batcher, pytest.raises(ValueError, match="blobs"):
        batcher.submit(b"entry", blobs={"h": b"header"})
    assert log.size() == 0
