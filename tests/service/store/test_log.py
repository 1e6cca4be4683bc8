"""service/store/log.py: appends are one transaction with one signed checkpoint,
and the stored tree gives roots and proofs that verify with RFC 9162's
algorithms (testimony.crypto.merkle)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine

from testimony.crypto import merkle
from testimony.crypto.errors import MalformedInput
from testimony.service.store import db
from testimony.service.store.errors import CheckpointNotFound, EntryNotFound, SizeOutOfRange
from testimony.service.store.log import LogStore
from testimony.service.store.models import Blob, PowUsed, Submission, TreeNode
from testimony.service.store.pow_ledger import PowLedger
from testimony.service.store.projections import rebuild_projections
from tests.vectors.loader import load_json

from .support import read_note, stand_in_sign, submission_entry


class RecordingSigner:
    def __init__(self) -> None:
        self.calls: list[tuple[int, bytes]] = []

    def __call__(self, size: int, root: bytes) -> str:
        self.calls.append((size, root))
        return stand_in_sign(size, root)


def test_roots_match_the_rfc9162_vectors(log: LogStore) -> None:
    vectors = load_json("rfc9162/tree.json")
    leaves = [bytes.fromhex(x) for x in vectors["leaf_inputs_hex"]]
    # root_hashes_hex_by_size[k] is the root of the first k + 1 leaves.
    roots = [hashlib.sha256(b"").digest()] + [
        bytes.fromhex(x) for x in vectors["root_hashes_hex_by_size"]
    ]
    sign = RecordingSigner()
    log.append_batch(leaves[0:3], sign)
    log.append_batch(leaves[3:4], sign)
    log.append_batch(leaves[4:8], sign)
    assert sign.calls == [(3, roots[3]), (4, roots[4]), (8, roots[8])]
    for size in range(9):
        assert log.root(size) == roots[size]


def test_append_batch_returns_indexes_ids_checkpoint_and_proofs(log: LogStore) -> None:
    sign = RecordingSigner()
    first = log.append_batch([b"a", b"b", b"c"], sign)
    second = log.append_batch([b"d", b"e"], sign)

    assert first.indexes == (0, 1, 2)
    assert second.indexes == (3, 4)
    assert second.ids == (merkle.leaf_hash(b"d"), merkle.leaf_hash(b"e"))
    assert second.appended == (True, True)
    assert second.size == 5
    assert second.root == merkle.root([merkle.leaf_hash(bytes([x])) for x in b"abcde"])
    assert second.checkpoint.size == 5
    assert read_note(second.checkpoint.note) == (5, second.root)
    assert log.latest_checkpoint() == second.checkpoint
    assert len(sign.calls) == 2
    for leaf, proof in zip(second.ids, second.inclusion, strict=True):
        assert proof.size == 5
        proof.verify(leaf, second.root)


def test_every_inclusion_and_consistency_proof_verifies(log: LogStore) -> None:
    entries = [f"entry {i}".encode() for i in range(37)]
    batches = [1, 2, 5, 8, 1, 3, 17]
    start = 0
    for count in batches:
        log.append_batch(entries[start : start + count], stand_in_sign)
        start += count
    leaves = [merkle.leaf_hash(e) for e in entries]
    roots = {n: merkle.root(leaves[:n]) for n in range(1, 38)}

    for n in range(1, 38):
        assert log.root(n) == roots[n]
        for i in range(n):
            proof = log.inclusion_proof(i, n)
            merkle.verify_inclusion(i, n, leaves[i], proof.path, roots[n])
        for m in range(1, n + 1):
            consistency = log.consistency_proof(m, n)
            merkle.verify_consistency(m, n, roots[m], roots[n], consistency.path)
    by_id = log.inclusion_proof(leaves[20], 37)
    assert by_id.index == 20
    by_id.verify(leaves[20], roots[37])


def test_entries_already_logged_are_not_appended_again(log: LogStore) -> None:
    sign = RecordingSigner()
    log.append_batch([b"a", b"b"], sign)
    again = log.append_batch([b"b", b"c", b"c", b"a"], sign)
    assert again.indexes == (1, 2, 2, 0)
    assert again.appended == (False, True, False, False)
    assert again.size == 3
    for leaf, proof in zip(again.ids, again.inclusion, strict=True):
        proof.verify(leaf, again.root)

    only_old = log.append_batch([b"a"], sign)
    assert only_old.indexes == (0,)
    assert only_old.appended == (False,)
    assert only_old.checkpoint.size == 3
    assert len(sign.calls) == 2  # nothing new, nothing signed
    assert log.size() == 3


def test_a_failed_signature_keeps_nothing(log: LogStore) -> None:
    log.append_batch([submission_entry(1)], stand_in_sign)
    before = (log.size(), log.latest_checkpoint())

    def failing(size: int, root: bytes) -> str:
        raise RuntimeError("signer unavailable")

    with pytest.raises(RuntimeError, match="signer unavailable"):
        log.append_batch([submission_entry(2), b"other"], failing)
    assert (log.size(), log.latest_checkpoint()) == before
    with log.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(TreeNode)).scalar_one() == 1
        assert connection.execute(select(func.count()).select_from(Submission)).scalar_one() == 1
    # And the log goes on from there.
    assert log.append_batch([b"next"], stand_in_sign).indexes == (1,)


def test_reads(log: LogStore) -> None:
    log.append_batch([b"a", b"b", b"c"], stand_in_sign)
    log.append_batch([b"d"], stand_in_sign)
    assert log.size() == 4
    assert log.entry(2) == b"c"
    stored = log.entry_by_id(merkle.leaf_hash(b"d"))
    assert (stored.idx, stored.entry) == (3, b"d")
    assert log.index_of(merkle.leaf_hash(b"b")) == 1
    assert log.entries(1, 3) == [b"b", b"c"]
    assert log.entries(4, 4) == []
    assert [e.entry for e in log.iter_entries(start=1, chunk=2)] == [b"b", b"c", b"d"]
    assert [c.size for c in log.iter_checkpoints(chunk=1)] == [3, 4]
    assert log.checkpoint(3).size == 3


def test_the_first_checkpoint_after_an_entry_is_its_batchs(log: LogStore) -> None:
    """What rebuilds an entry's original receipt (docs/protocol.md §10)."""
    assert log.first_checkpoint_after(0) is None
    batches = [[b"a"], [b"b", b"c", b"d"], [b"e", b"f"]]
    checkpoints = [log.append_batch(batch, stand_in_sign).checkpoint for batch in batches]
    expected = [checkpoints[0]] + [checkpoints[1]] * 3 + [checkpoints[2]] * 2
    assert [log.first_checkpoint_after(i) for i in range(6)] == expected
    assert log.first_checkpoint_after(-1) == checkpoints[0]
    assert log.first_checkpoint_after(6) is None


def test_stored_nodes_answers_those_stored(log: LogStore) -> None:
    leaves = log.append_batch([bytes([n]) for n in range(5)], stand_in_sign).ids
    found = log.stored_nodes([(0, 4), (1, 0), (2, 0), (0, 5), (1, 2), (2, 0)])
    assert found == {
        (0, 4): leaves[4],
        (1, 0): merkle.node_hash(leaves[0], leaves[1]),
        (2, 0): merkle.root(list(leaves[:4])),
    }
    assert log.stored_nodes([]) == {}


def test_reads_of_what_is_not_there(log: LogStore) -> None:
    assert log.size() == 0
    assert log.latest_checkpoint() is None
    log.append_batch([b"a", b"b"], stand_in_sign)
    with pytest.raises(EntryNotFound):
        log.entry(2)
    with pytest.raises(EntryNotFound):
        log.entry_by_id(merkle.leaf_hash(b"c"))
    with pytest.raises(EntryNotFound):
        log.inclusion_proof(merkle.leaf_hash(b"c"), 2)
    with pytest.raises(SizeOutOfRange):
        log.entries(0, 3)
    with pytest.raises(ValueError):
        log.entries(2, 1)
    with pytest.raises(CheckpointNotFound):
        log.checkpoint(1)
    for index, size in [(0, 3), (2, 2), (5, 9), (-1, 2)]:
        with pytest.raises(SizeOutOfRange):
            log.inclusion_proof(index, size)
    for first, second in [(1, 3), (3, 3), (0, 2), (2, 1)]:
        with pytest.raises(SizeOutOfRange):
            log.consistency_proof(first, second)
    with pytest.raises(SizeOutOfRange):
        log.root(3)


def test_bad_batches_are_refused(log: LogStore) -> None:
    with pytest.raises(ValueError):
        log.append_batch([], stand_in_sign)
    with pytest.raises(MalformedInput):
        log.append_batch(["text"], stand_in_sign)  # type: ignore[list-item]
    assert log.size() == 0


def test_submissions_are_projected_in_the_append_transaction(log: LogStore) -> None:
    blob = "c" * 64
    with log.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO blobs (id, size, created, referenced) VALUES (:id, 3, 0, false)"),
            {"id": blob},
        )
    first = submission_entry(1, attachments=[blob], witness="w" * 43, witness_box="d" * 64)
    # The same submission logged again in another hour: same content key.
    later = submission_entry(1, received="2024-01-01T11:00:00Z")
    result = log.append_batch(
        [b'{"type":"other"}', first, later, submission_entry(7)], stand_in_sign
    )
    assert result.indexes == (0, 1, 2, 3)

    session_factory = db.session_factory(log.engine)
    with session_factory() as session:
        rows = session.scalars(select(Submission).order_by(Submission.idx)).all()
        assert [(r.idx, r.id) for r in rows] == [(1, result.ids[1].hex()), (3, result.ids[3].hex())]
        assert (rows[0].intake_key, rows[0].header_sha256, rows[0].body_sha256) == (
            "ab" * 16,
            f"{2:064x}",
            f"{1:064x}",
        )
        assert (rows[0].witness, rows[0].witness_box_sha256) == ("w" * 43, "d" * 64)
        assert rows[1].witness is None
        assert session.get(Blob, blob).referenced is True  # type: ignore[union-attr]


def test_rebuild_projections_reproduces_them(engine: Engine, log: LogStore) -> None:
    blob = "e" * 64
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO blobs (id, size, created, referenced) VALUES (:id, 3, 0, false)"),
            {"id": blob},
        )
    entries = [submission_entry(n, attachments=[blob] if n == 3 else []) for n in range(0, 40, 3)]
    for start in range(0, len(entries), 4):
        log.append_batch(entries[start : start + 4], stand_in_sign)

    def snapshot() -> tuple[list[tuple[object, ...]], bool]:
        with engine.connect() as connection:
            rows = connection.execute(select(Submission.__table__).order_by(Submission.idx)).all()
            referenced = connection.execute(
                select(Blob.referenced).where(Blob.id == blob)
            ).scalar_one()
        return [tuple(r) for r in rows], referenced

    before = snapshot()
    assert len(before[0]) == len(entries) and before[1] is True
    with engine.begin() as connection:  # damage the projections (they are not append-only)
        connection.execute(text("DELETE FROM submissions WHERE idx > 2"))
        connection.execute(text("UPDATE blobs SET referenced = false"))
        connection.execute(text("UPDATE submissions SET witness = 'forged'"))
    assert snapshot() != before
    with db.writer_session(engine) as session:
        assert rebuild_projections(session) == len(entries)
    assert snapshot() == before


def _spending(digest: bytes) -> Callable[[Connection], Exception | None]:
    """A ``prepare`` that spends ``digest`` in the append, refusing its item if spent before."""

    def prepare(connection: Connection) -> Exception | None:
        if PowLedger.spend_in(connection, digest, expires=10**10, now=0):
            return None
        return LookupError("spent before")

    return prepare


def _spent_digests(engine: Engine) -> list[bytes]:
    with engine.connect() as connection:
        return list(connection.execute(select(PowUsed.digest).order_by(PowUsed.digest)).scalars())


def test_a_prepare_writes_in_the_append_and_a_refusal_drops_only_its_entry(
    engine: Engine, log: LogStore
) -> None:
    a, b = b"a" * 32, b"b" * 32
    result = log.append_batch(
        [b"one", b"two", b"three", b"four"],
        stand_in_sign,
        prepare=[_spending(a), _spending(a), None, _spending(b)],
    )
    assert [type(e) if e else None for e in result.refused] == [None, LookupError, None, None]
    assert result.indexes == (0, 1, 2)
    assert result.ids == tuple(merkle.leaf_hash(e) for e in (b"one", b"three", b"four"))
    assert log.entries(0, 3) == [b"one", b"three", b"four"]
    assert _spent_digests(engine) == [a, b]
    _size, root = read_note(result.checkpoint.note)
    for entry_id, proof in zip(result.ids, result.inclusion, strict=True):
        proof.verify(entry_id, root)
    # Spent by a batch committed before: refused in a later one.
    again = log.append_batch([b"five"], stand_in_sign, prepare=[_spending(b)])
    assert isinstance(again.refused[0], LookupError)
    assert (again.indexes, again.checkpoint.size) == ((), 3)


def test_a_batch_whose_items_are_all_refused_on_an_empty_log_appends_nothing(
    engine: Engine, log: LogStore
) -> None:
    digest = b"c" * 32
    assert PowLedger(engine).spend(digest, expires=10**10, now=0)
    result = log.append_batch([b"x", b"y"], stand_in_sign, prepare=[_spending(digest)] * 2)
    assert all(isinstance(e, LookupError) for e in result.refused)
    assert (result.indexes, result.checkpoint.size, log.size()) == ((), 0, 0)
    assert log.latest_checkpoint() is None


def test_a_prepare_that_raises_keeps_nothing_of_the_batch(engine: Engine, log: LogStore) -> None:
    def failing(_connection: Connection) -> Exception | None:
        raise RuntimeError("database trouble")

    with pytest.raises(RuntimeError):
        log.append_batch([b"one", b"two"], stand_in_sign, prepare=[_spending(b"a" * 32), failing])
    assert log.size() == 0
    assert _spent_digests(engine) == []
    with pytest.raises(ValueError):
        log.append_batch([b"one", b"two"], stand_in_sign, prepare=[None])
