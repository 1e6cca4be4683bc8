"""Two processes appending to one log at once leave a gapless, consistent log
(service/store/log.py: the writer lock is BEGIN IMMEDIATE on SQLite and an
advisory lock on PostgreSQL)."""

from __future__ import annotations

import multiprocessing
import queue

import pytest

from testimony.crypto import merkle
from testimony.service.store.log import LogStore

from .support import append_worker, read_note

BATCHES = 25
PER_BATCH = 8


@pytest.mark.slow
def test_two_processes_append_without_gaps_or_duplicates(log: LogStore) -> None:
    url = log.engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    results = context.Queue()
    workers = [
        context.Process(target=append_worker, args=(url, tag, BATCHES, PER_BATCH, start, results))
        for tag in ("p1", "p2")
    ]
    for worker in workers:
        worker.start()
    reported: dict[str, list[int]] = {}
    for _ in workers:
        try:
            tag, indexes, _seconds = results.get(timeout=120)
        except queue.Empty:
            raise AssertionError("a worker did not report") from None
        reported[tag] = indexes
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0

    total = 2 * BATCHES * PER_BATCH
    # No lost or duplicated index: the two processes' indexes are exactly 0..total-1.
    assert sorted(reported["p1"] + reported["p2"]) == list(range(total))
    assert log.size() == total
    entries = log.entries(0, total)
    assert len(set(entries)) == total
    for tag, indexes in reported.items():
        for index in indexes:
            assert entries[index].startswith(f'{{"tag":"{tag}"'.encode())

    # Every batch signed once, and every checkpoint extends the one before.
    leaves = [merkle.leaf_hash(entry) for entry in entries]
    checkpoints = list(log.iter_checkpoints())
    assert len(checkpoints) == 2 * BATCHES
    previous: tuple[int, bytes] | None = None
    for checkpoint in checkpoints:
        size, root = read_note(checkpoint.note)
        assert size == checkpoint.size
        assert root == merkle.root(leaves[:size]) == log.root(size)
        if previous is not None:
            proof = log.consistency_proof(previous[0], size)
            merkle.verify_consistency(previous[0], size, previous[1], root, proof.path)
        previous = (size, root)
    assert previous is not None and previous[0] == total
