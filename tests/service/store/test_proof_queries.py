"""Proofs come from stored subtree hashes: one query for O(log n) nodes, at any
size (service/store/log.py)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from testimony.crypto import merkle
from testimony.service.store.log import LogStore

from .support import stand_in_sign


@contextlib.contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement ``engine`` sends while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _node_queries(seen: list[str]) -> list[str]:
    return [s for s in seen if "tree_nodes" in s]


def _fill(log: LogStore, count: int, batch: int) -> list[bytes]:
    leaves: list[bytes] = []
    for start in range(0, count, batch):
        entries = [f"entry {i}".encode() for i in range(start, min(count, start + batch))]
        leaves.extend(log.append_batch(entries, stand_in_sign).ids)
    return leaves


def _check_single_query_proofs(log: LogStore, leaves: list[bytes], samples: int) -> None:
    size = len(leaves)
    root = log.root(size)
    rng = random.Random(size)
    for _ in range(samples):
        index = rng.randrange(size)
        with statements(log.engine) as seen:
            proof = log.inclusion_proof(index, size)
        assert len(_node_queries(seen)) == 1
        # By index nothing else is asked either (SQLite's own BEGIN aside).
        assert [s for s in seen if s != "BEGIN"] == _node_queries(seen)
        proof.verify(leaves[index], root)

        with statements(log.engine) as seen:
            by_id = log.inclusion_proof(leaves[index], size)
        assert len(_node_queries(seen)) == 1
        assert by_id.path == proof.path

        first = rng.randrange(1, size)
        with statements(log.engine) as seen:
            consistency = log.consistency_proof(first, size)
        assert len(_node_queries(seen)) == 1
        consistency.verify(merkle.root(leaves[:first]), root)


def test_proofs_read_nodes_in_one_query(log: LogStore) -> None:
    leaves = _fill(log, 1_000, 97)
    _check_single_query_proofs(log, leaves, samples=50)


def test_receipts_of_a_batch_need_no_node_query_beyond_the_frontier(log: LogStore) -> None:
    _fill(log, 1_000, 250)
    with statements(log.engine) as seen:
        result = log.append_batch([f"new {i}".encode() for i in range(64)], stand_in_sign)
    # One read of the right frontier by merkle.append, one insert of new nodes.
    assert [s.split()[0] for s in _node_queries(seen)] == ["SELECT", "INSERT"]
    for leaf, proof in zip(result.ids, result.inclusion, strict=True):
        proof.verify(leaf, result.root)


@pytest.mark.slow
def test_proofs_at_a_hundred_thousand_entries_read_nodes_in_one_query(log: LogStore) -> None:
    leaves = _fill(log, 100_000, 5_000)
    _check_single_query_proofs(log, leaves, samples=100)
