"""The log's Merkle tree (docs/protocol.md §9, RFC 9162 §2.1): vectors, proofs, storage reads."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from itertools import combinations, pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testimony.crypto import merkle
from testimony.crypto.encoding import b64_decode
from testimony.crypto.errors import MalformedInput, ProofError, TreeSizeError
from testimony.crypto.merkle import (
    ConsistencyProof,
    InclusionProof,
    MemoryHashStore,
    NodeId,
    append,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_at,
    verify_consistency,
    verify_inclusion,
)
from tests.vectors.loader import load_json, path

TREE = load_json("rfc9162/tree.json")
TREE_LEAVES = [leaf_hash(bytes.fromhex(entry)) for entry in TREE["leaf_inputs_hex"]]
TREE_ROOTS = [bytes.fromhex(h) for h in TREE["root_hashes_hex_by_size"]]  # size 1 .. 8
TREE_NODES = {
    (level, index): bytes.fromhex(h)
    for level, row in enumerate(TREE["node_hashes_hex_by_level"])
    for index, h in enumerate(row)
}
EMPTY_ROOT = hashlib.sha256(b"").digest()

RFC9162 = path("rfc9162")
PROBES = sorted(
    p.relative_to(RFC9162).as_posix()
    for folder in ("inclusion", "consistency")
    for p in (RFC9162 / folder).rglob("*.json")
)
HAPPY_PATHS = [p for p in PROBES if p.endswith("/happy-path.json")]

BIG = 300  # the exhaustive tests cover every size up to this


# --- an independent reference: RFC 9162 §2.1 as written, recursively ---------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class Reference:
    """MTH, PATH and PROOF of RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1, over fixed leaves."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = list(leaves)
        self.mth = cache(self._mth)

    def _mth(self, lo: int, hi: int) -> bytes:
        if hi == lo:
            return _h(b"")
        if hi - lo == 1:
            return self.leaves[lo]
        k = _split(hi - lo)
        return _h(b"\x01" + self.mth(lo, lo + k) + self.mth(lo + k, hi))

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = _split(hi - lo)
        if m < k:
            return [*self.path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self.path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        return self._subproof(m, 0, n, True)

    def _subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        if m == hi - lo:
            return [] if whole else [self.mth(lo, hi)]
        k = _split(hi - lo)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, whole), self.mth(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]


# --- helpers -----------------------------------------------------------------


def entry_leaf(i: int) -> bytes:
    return leaf_hash(b"entry %d" % i)


def build(leaves: Sequence[bytes], batch_sizes: Sequence[int]) -> MemoryHashStore:
    """A store holding ``leaves``, appended in batches of the given sizes."""
    store = MemoryHashStore()
    size = 0
    for batch_size in batch_sizes:
        result = append(size, leaves[size : size + batch_size], store)
        store.write_nodes(result.nodes)
        size = result.size
    assert size == len(leaves)
    return store


def compositions(n: int) -> Iterator[list[int]]:
    """Every way to cut n leaves into consecutive non-empty batches (2**(n-1) of them)."""
    for k in range(n):
        for cuts in combinations(range(1, n), k):
            bounds = [0, *cuts, n]
            yield [b - a for a, b in pairwise(bounds)]


def random_batches(n: int, rng: random.Random) -> list[int]:
    sizes = []
    while n:
        size = min(n, rng.choice([1, 1, 2, 3, rng.randrange(1, 70)]))
        sizes.append(size)
        n -= size
    return sizes


def perfect_ids(size: int) -> set[NodeId]:
    """Every perfect subtree of the tree of ``size`` leaves."""
    return {(level, index) for level in range(size.bit_length()) for index in range(size >> level)}


def flip(hash_: bytes, bit: int) -> bytes:
    data = bytearray(hash_)
    data[bit // 8 % len(data)] ^= 1 << (bit % 8)
    return bytes(data)


class CountingReader:
    """A HashReader that records every read_nodes call."""

    def __init__(self, inner: merkle.HashReader) -> None:
        self.inner = inner
        self.calls: list[list[NodeId]] = []

    def read_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        self.calls.append(list(ids))
        return self.inner.read_nodes(ids)


class VirtualTree:
    """A HashReader for a tree of any size: only checks that what is read is stored.

    Every perfect subtree of the tree of ``size`` leaves reads as a made-up hash;
    anything else is a KeyError, as from a real store. Proofs from it do not
    verify, but it shows which nodes a proof reads, at sizes no test could build.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.calls: list[list[NodeId]] = []

    def read_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        self.calls.append(list(ids))
        for level, index in ids:
            if level < 0 or index < 0 or (index + 1) << level > self.size:
                raise KeyError((level, index))
        return [_h(b"%d/%d" % node_id) for node_id in ids]


def read_bound(n: int) -> int:
    return 2 * math.ceil(math.log2(n)) + 2 if n > 1 else 2


@dataclasses.dataclass(frozen=True)
class BigTree:
    """BIG + 1 leaves, appended in random batches, and the root of every size."""

    leaves: list[bytes]
    store: MemoryHashStore
    reference: Reference
    roots: list[bytes]  # roots[n] is the root of the first n leaves

    def __repr__(self) -> str:  # hypothesis prints it with a failing example
        return f"<BigTree of {len(self.leaves)} leaves>"


@pytest.fixture(scope="module")
def big_tree() -> BigTree:
    leaves = [entry_leaf(i) for i in range(BIG + 1)]
    store = build(leaves, random_batches(len(leaves), random.Random(9162)))
    reference = Reference(leaves)
    roots = [reference.mth(0, n) for n in range(len(leaves) + 1)]
    return BigTree(leaves, store, reference, roots)


# --- RFC 9162 probes ---------------------------------------------------------


def test_every_probe_is_collected() -> None:
    assert len(PROBES) == 196
    assert len(HAPPY_PATHS) == 10


def _run_probe(probe: dict[str, object]) -> None:
    def decode(value: object) -> bytes:
        assert isinstance(value, str)
        return b64_decode(value)

    proof = probe["proof"] or []
    assert isinstance(proof, list)
    path_ = [decode(item) for item in proof]
    if "leafIdx" in probe:
        verify_inclusion(
            probe["leafIdx"],  # type: ignore[arg-type]
            probe["treeSize"],  # type: ignore[arg-type]
            decode(probe["leafHash"]),
            path_,
            decode(probe["root"]),
        )
    else:
        verify_consistency(
            probe["size1"],  # type: ignore[arg-type]
            probe["size2"],  # type: ignore[arg-type]
            decode(probe["root1"]),
            decode(probe["root2"]),
            path_,
        )


@pytest.mark.parametrize("name", PROBES)
def test_rfc9162_probe(name: str) -> None:
    probe = load_json(f"rfc9162/{name}")
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            _run_probe(probe)
    else:
        assert _run_probe(probe) is None


@pytest.mark.parametrize("name", HAPPY_PATHS)
def test_generated_proofs_equal_the_probes_happy_paths(name: str) -> None:
    probe = load_json(f"rfc9162/{name}")
    store = build(TREE_LEAVES, [8])
    expected = [b64_decode(item) for item in probe["proof"] or []]
    if "leafIdx" in probe:
        index, size = probe["leafIdx"], probe["treeSize"]
        assert b64_decode(probe["leafHash"]) == TREE_LEAVES[index]
        assert b64_decode(probe["root"]) == root_at(size, store)
        assert inclusion_proof(index, size, store) == expected
    else:
        m, n = probe["size1"], probe["size2"]
        assert b64_decode(probe["root1"]) == root_at(m, store)
        assert b64_decode(probe["root2"]) == root_at(n, store)
        assert consistency_proof(m, n, store) == expected


# --- hashes and the tree of tree.json ----------------------------------------


def test_leaf_and_node_hashes_follow_rfc9162() -> None:
    assert [h.hex() for h in TREE_LEAVES] == TREE["node_hashes_hex_by_level"][0]
    assert leaf_hash(b"abc") == _h(b"\x00abc")
    assert node_hash(TREE_LEAVES[0], TREE_LEAVES[1]) == TREE_NODES[(1, 0)]
    assert node_hash(TREE_LEAVES[1], TREE_LEAVES[0]) != TREE_NODES[(1, 0)]


def test_root_of_every_size() -> None:
    assert root([]) == EMPTY_ROOT
    for size in range(1, 9):
        assert root(TREE_LEAVES[:size]) == TREE_ROOTS[size - 1]


def test_every_node_hash() -> None:
    for (level, index), expected in TREE_NODES.items():
        leaves = TREE_LEAVES[index << level : (index + 1) << level]
        assert root(leaves) == expected


@pytest.mark.parametrize(
    "batch_sizes", list(compositions(8)), ids=lambda sizes: "+".join(map(str, sizes))
)
def test_append_in_batches_of_every_shape(batch_sizes: list[int]) -> None:
    store = MemoryHashStore()
    size = 0
    for batch_size in batch_sizes:
        result = append(size, TREE_LEAVES[size : size + batch_size], store)
        # Exactly the perfect subtrees the batch completes, with their hashes.
        assert set(result.nodes) == perfect_ids(result.size) - perfect_ids(size)
        assert all(TREE_NODES[node_id] == h for node_id, h in result.nodes.items())
        assert result.size == size + batch_size
        assert result.root == TREE_ROOTS[result.size - 1]
        store.write_nodes(result.nodes)
        size = result.size
    assert len(store) == len(TREE_NODES)
    assert store.read_nodes(list(TREE_NODES)) == list(TREE_NODES.values())
    assert root_at(0, store) == EMPTY_ROOT
    for n in range(1, 9):
        assert root_at(n, store) == TREE_ROOTS[n - 1]


def test_append_of_nothing_keeps_the_tree() -> None:
    store = MemoryHashStore()
    assert append(0, [], store) == merkle.AppendResult(size=0, root=EMPTY_ROOT, nodes={})
    store.write_nodes(append(0, TREE_LEAVES[:5], store).nodes)
    assert append(5, [], store) == merkle.AppendResult(size=5, root=TREE_ROOTS[4], nodes={})


@pytest.mark.parametrize("seed", range(5))
def test_append_in_random_batches_matches_the_rfc_definition(seed: int) -> None:
    rng = random.Random(seed)
    leaves = [entry_leaf(i) for i in range(1000)]
    reference = Reference(leaves)
    store = MemoryHashStore()
    size = 0
    for batch_size in random_batches(len(leaves), rng):
        result = append(size, leaves[size : size + batch_size], store)
        assert result.root == reference.mth(0, result.size)
        store.write_nodes(result.nodes)
        size = result.size
    assert len(store) == len(perfect_ids(1000))
    for n in [*range(1, 70), *rng.sample(range(70, 1001), 30)]:
        assert root_at(n, store) == reference.mth(0, n) == root(leaves[:n])


def test_append_of_thousands_of_leaves_at_once() -> None:
    leaves = [entry_leaf(i) for i in range(5000)]
    store = MemoryHashStore()
    first = append(0, leaves[:1234], store)
    store.write_nodes(first.nodes)
    second = append(1234, leaves[1234:], store)
    store.write_nodes(second.nodes)
    assert second.root == root(leaves) == root_at(5000, store)
    assert first.root == root(leaves[:1234]) == root_at(1234, store)


# --- every proof of a 300-leaf tree ------------------------------------------


def test_root_at_every_size(big_tree: BigTree) -> None:
    for n in range(BIG + 2):
        assert root_at(n, big_tree.store) == big_tree.roots[n]
    assert root(big_tree.leaves) == big_tree.roots[BIG + 1]


def test_every_inclusion_proof_is_the_rfc_path_and_verifies(big_tree: BigTree) -> None:
    leaves, store, reference, roots = (
        big_tree.leaves,
        big_tree.store,
        big_tree.reference,
        big_tree.roots,
    )
    for size in range(1, BIG + 1):
        for index in range(size):
            proof = inclusion_proof(index, size, store)
            assert proof == reference.path(index, 0, size)
            assert verify_inclusion(index, size, leaves[index], proof, roots[size]) is None


def test_every_consistency_proof_is_the_rfc_proof_and_verifies(big_tree: BigTree) -> None:
    store, reference, roots = big_tree.store, big_tree.reference, big_tree.roots
    for n in range(1, BIG + 1):
        for m in range(1, n + 1):
            proof = consistency_proof(m, n, store)
            assert proof == reference.proof(m, n)
            assert verify_consistency(m, n, roots[m], roots[n], proof) is None


def _inclusion_alterations(
    tree: BigTree, index: int, size: int
) -> Iterator[tuple[int, int, bytes, list[bytes], bytes]]:
    """A valid inclusion proof altered in every way the tests try; none may verify.

    A proof presented for another tree size is checked against that tree's
    root: the RFC 9162 verifier binds the root, and the signed checkpoint binds
    the root to its size (see test_the_root_stands_for_its_size).
    """
    leaf, root_ = tree.leaves[index], tree.roots[size]
    proof = inclusion_proof(index, size, tree.store)
    for position, node in enumerate(proof):
        altered = list(proof)
        altered[position] = flip(node, 37 * position + index)
        yield index, size, leaf, altered, root_
    for other_index in (index - 1, index + 1, index ^ 2):
        if other_index != index:
            yield other_index, size, leaf, proof, root_
    for other_size in (size - 1, size + 1):
        yield index, other_size, leaf, proof, tree.roots[other_size]
    yield index, size, flip(leaf, index), proof, root_
    yield index, size, leaf, proof, flip(root_, size)
    yield index, size, leaf, [*proof, proof[-1] if proof else root_], root_
    if proof:
        yield index, size, leaf, proof[:-1], root_


def _consistency_alterations(
    tree: BigTree, m: int, n: int
) -> Iterator[tuple[int, int, bytes, bytes, list[bytes]]]:
    """A valid consistency proof altered in every way the tests try; none may verify."""
    roots = tree.roots
    proof = consistency_proof(m, n, tree.store)
    for position, node in enumerate(proof):
        altered = list(proof)
        altered[position] = flip(node, 37 * position + m)
        yield m, n, roots[m], roots[n], altered
    for other_m, other_n in ((m - 1, n), (m + 1, n), (m, n - 1), (m, n + 1)):
        yield other_m, other_n, roots[max(other_m, 0)], roots[other_n], proof
    yield m, n, flip(roots[m], m), roots[n], proof
    yield m, n, roots[m], flip(roots[n], n), proof
    yield m, n, roots[m], roots[n], [*proof, roots[m]]
    if proof:
        yield m, n, roots[m], roots[n], proof[:-1]


def _assert_inclusion_alterations_fail(tree: BigTree, index: int, size: int) -> None:
    for altered in _inclusion_alterations(tree, index, size):
        with pytest.raises(ProofError):
            verify_inclusion(*altered)


def _assert_consistency_alterations_fail(tree: BigTree, m: int, n: int) -> None:
    for altered in _consistency_alterations(tree, m, n):
        with pytest.raises(ProofError):
            verify_consistency(*altered)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, BIG).flatmap(lambda size: st.tuples(st.integers(0, size - 1), st.just(size))))
def test_altered_inclusion_proofs_fail(big_tree: BigTree, index_and_size: tuple[int, int]) -> None:
    _assert_inclusion_alterations_fail(big_tree, *index_and_size)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, BIG).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_altered_consistency_proofs_fail(big_tree: BigTree, m_and_n: tuple[int, int]) -> None:
    _assert_consistency_alterations_fail(big_tree, *m_and_n)


def _accepted(verify: Callable[..., None], args: tuple[object, ...]) -> bool:
    try:
        verify(*args)
    except ProofError:
        return False
    return True


@pytest.mark.slow
def test_every_altered_proof_fails(big_tree: BigTree) -> None:
    accepted = []
    for size in range(1, BIG + 1):
        for index in range(size):
            accepted += [
                altered
                for altered in _inclusion_alterations(big_tree, index, size)
                if _accepted(verify_inclusion, altered)
            ]
        for m in range(1, size + 1):
            accepted += [
                altered
                for altered in _consistency_alterations(big_tree, m, size)
                if _accepted(verify_consistency, altered)
            ]
    assert accepted == []


def test_the_root_stands_for_its_size(big_tree: BigTree) -> None:
    # RFC 9162's verifiers check a proof against a root; the size only shapes
    # the path. Leaf 0's path in the tree of 3, [leaf 1, leaf 2], has the same
    # shape in a tree of 4, so it verifies as (0, 4) against the root of 3:
    # sizes are only meaningful with the root they are signed with (§9).
    leaves, roots = big_tree.leaves, big_tree.roots
    proof = inclusion_proof(0, 3, big_tree.store)
    assert verify_inclusion(0, 4, leaves[0], proof, roots[3]) is None
    with pytest.raises(ProofError):
        verify_inclusion(0, 4, leaves[0], proof, roots[4])


def test_failures_say_nothing_about_why(big_tree: BigTree) -> None:
    messages = set()
    for altered in _inclusion_alterations(big_tree, 5, 77):
        with pytest.raises(ProofError) as failure:
            verify_inclusion(*altered)
        if type(failure.value) is ProofError:
            messages.add(str(failure.value))
    assert messages == {"inclusion proof does not verify"}


# --- what proof generation reads ---------------------------------------------


def _check_reads(calls: list[list[NodeId]], n: int) -> None:
    assert len(calls) == 1, "one read_nodes call"
    (ids,) = calls
    assert len(ids) <= read_bound(n)
    assert len(set(ids)) == len(ids)
    assert all((index + 1) << level <= n for level, index in ids)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(2, 2**64 - 1).flatmap(
        lambda n: st.tuples(st.integers(0, n - 1), st.integers(1, n - 1), st.just(n))
    )
)
def test_a_proof_is_one_read_of_few_perfect_subtrees(args: tuple[int, int, int]) -> None:
    index, m, n = args
    tree = VirtualTree(n)
    inclusion_proof(index, n, tree)
    _check_reads(tree.calls, n)
    tree.calls.clear()
    consistency_proof(m, n, tree)
    _check_reads(tree.calls, n)


def test_reads_of_trivial_proofs() -> None:
    tree = VirtualTree(1)
    assert inclusion_proof(0, 1, tree) == []
    assert consistency_proof(1, 1, tree) == []
    assert consistency_proof(7, 7, VirtualTree(7)) == []
    assert tree.calls == []


def test_append_and_root_at_read_only_the_frontier() -> None:
    for size in [0, 1, 2, 3, 7, 8, 1000, 2**40 + 2**20 + 5, 2**64 - 2]:
        tree = VirtualTree(size)
        append(size, [entry_leaf(0)], tree)
        root_at(size, tree)
        expected = [
            [(level, (size >> level) - 1) for level in reversed(range(65)) if size >> level & 1]
        ]
        assert tree.calls == ([] if size == 0 else expected * 2)


@pytest.mark.slow
def test_proofs_at_a_million_leaves_are_one_small_read() -> None:
    n = 1_000_000
    store = MemoryHashStore()
    size = 0
    for first in range(0, n, 50_000):
        result = append(size, [entry_leaf(i) for i in range(first, first + 50_000)], store)
        store.write_nodes(result.nodes)
        size = result.size
    assert len(store) == 2 * n - bin(n).count("1")
    rng = random.Random(1)
    full_root = root_at(n, store)
    for index in [0, 1, n // 2, n - 2, n - 1, *rng.sample(range(n), 100)]:
        reader = CountingReader(store)
        proof = inclusion_proof(index, n, reader)
        _check_reads(reader.calls, n)
        verify_inclusion(index, n, entry_leaf(index), proof, full_root)
    for m in [1, 2, 3, n // 2, n - 1, *rng.sample(range(1, n), 100)]:
        reader = CountingReader(store)
        proof = consistency_proof(m, n, reader)
        _check_reads(reader.calls, n)
        verify_consistency(m, n, root_at(m, store), full_root, proof)


def test_a_store_without_the_tree_is_a_key_error() -> None:
    store = build(TREE_LEAVES, [8])
    with pytest.raises(KeyError):
        inclusion_proof(0, 9, store)
    with pytest.raises(KeyError):
        consistency_proof(3, 12, store)
    with pytest.raises(KeyError):
        root_at(10, store)
    with pytest.raises(KeyError):
        append(9, [entry_leaf(0)], store)


# --- input checks ------------------------------------------------------------

GOOD = TREE_LEAVES[0]
BAD_SIZES: list[object] = [-1, 2**64, True, 1.0, "1", None]


@pytest.mark.parametrize(
    ("index", "size"),
    [(0, 0), (1, 1), (5, 3), (-1, 3), (2**64 - 1, 2**64 - 1), (0, 2**64), (True, 2), (0.0, 2)],
)
def test_inclusion_index_out_of_range(index: object, size: object) -> None:
    with pytest.raises(TreeSizeError):
        verify_inclusion(index, size, GOOD, [], GOOD)  # type: ignore[arg-type]
    with pytest.raises(TreeSizeError):
        inclusion_proof(index, size, VirtualTree(8))  # type: ignore[arg-type]
    with pytest.raises(TreeSizeError):
        InclusionProof(index, size, ())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("m", "n"), [(0, 0), (0, 1), (2, 1), (-1, 4), (1, 2**64), (True, 2), (1, 2.0), ("1", 2)]
)
def test_consistency_sizes_out_of_range(m: object, n: object) -> None:
    with pytest.raises(TreeSizeError):
        verify_consistency(m, n, GOOD, GOOD, [])  # type: ignore[arg-type]
    with pytest.raises(TreeSizeError):
        consistency_proof(m, n, VirtualTree(8))  # type: ignore[arg-type]
    with pytest.raises(TreeSizeError):
        ConsistencyProof(m, n, ())  # type: ignore[arg-type]


def test_tree_size_errors_are_proof_errors() -> None:
    assert issubclass(TreeSizeError, ProofError)


BAD_HASHES: list[object] = [b"", GOOD[:31], GOOD + b"\x00", bytearray(GOOD), GOOD.hex(), None]


@pytest.mark.parametrize("bad", BAD_HASHES, ids=repr)
def test_hashes_must_be_32_bytes_to_verify(bad: object) -> None:
    store = build(TREE_LEAVES, [8])
    leaf, proof, root_ = TREE_LEAVES[2], inclusion_proof(2, 8, store), TREE_ROOTS[7]
    for args in [
        (bad, proof, root_),
        (leaf, proof, bad),
        (leaf, [proof[0], bad, proof[2]], root_),
    ]:
        with pytest.raises(ProofError):
            verify_inclusion(2, 8, *args)  # type: ignore[arg-type]
    c_proof, root_3 = consistency_proof(3, 8, store), TREE_ROOTS[2]
    for args in [(bad, root_, c_proof), (root_3, bad, c_proof), (root_3, root_, [bad, *c_proof])]:
        with pytest.raises(ProofError):
            verify_consistency(3, 8, *args)  # type: ignore[arg-type]
    with pytest.raises(ProofError):
        InclusionProof(2, 8, (bad,))  # type: ignore[arg-type]


def test_a_path_must_be_a_short_sequence() -> None:
    for bad_path in [GOOD, GOOD.hex(), iter([GOOD]), None, [GOOD] * 129]:
        with pytest.raises(ProofError):
            verify_inclusion(0, 2, GOOD, bad_path, GOOD)  # type: ignore[arg-type]
        with pytest.raises(ProofError):
            verify_consistency(1, 2, GOOD, GOOD, bad_path)  # type: ignore[arg-type]


def test_equal_sizes() -> None:
    assert verify_consistency(8, 8, TREE_ROOTS[7], TREE_ROOTS[7], []) is None
    with pytest.raises(ProofError):
        verify_consistency(8, 8, TREE_ROOTS[7], TREE_ROOTS[6], [])
    with pytest.raises(ProofError):
        verify_consistency(8, 8, TREE_ROOTS[7], TREE_ROOTS[7], [TREE_ROOTS[7]])
    with pytest.raises(ProofError):
        verify_consistency(8, 8, TREE_ROOTS[7], TREE_ROOTS[7].hex(), [])  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", BAD_HASHES, ids=repr)
def test_tree_inputs_must_be_32_byte_hashes(bad: object) -> None:
    store = MemoryHashStore()
    with pytest.raises(MalformedInput):
        node_hash(GOOD, bad)  # type: ignore[arg-type]
    with pytest.raises(MalformedInput):
        node_hash(bad, GOOD)  # type: ignore[arg-type]
    with pytest.raises(MalformedInput):
        root([GOOD, bad])  # type: ignore[list-item]
    with pytest.raises(MalformedInput):
        append(0, [GOOD, bad], store)  # type: ignore[list-item]
    with pytest.raises(MalformedInput):
        store.write_nodes({(0, 0): bad})  # type: ignore[dict-item]
    assert len(store) == 0


def test_leaf_hash_takes_bytes() -> None:
    with pytest.raises(MalformedInput):
        leaf_hash("entry")  # type: ignore[arg-type]


@pytest.mark.parametrize("size", BAD_SIZES, ids=repr)
def test_append_and_root_at_need_a_tree_size(size: object) -> None:
    with pytest.raises(TreeSizeError):
        append(size, [GOOD], MemoryHashStore())  # type: ignore[arg-type]
    with pytest.raises(TreeSizeError):
        root_at(size, MemoryHashStore())  # type: ignore[arg-type]


def test_append_past_the_largest_tree() -> None:
    tree = VirtualTree(2**64 - 1)
    with pytest.raises(TreeSizeError):
        append(2**64 - 1, [GOOD], tree)
    assert tree.calls == []


# --- MemoryHashStore ---------------------------------------------------------


def test_memory_store_writes_in_any_order_but_without_gaps() -> None:
    nodes = append(0, TREE_LEAVES[:5], MemoryHashStore()).nodes
    store = MemoryHashStore()
    store.write_nodes(dict(reversed(list(nodes.items()))))
    assert store.read_nodes(list(nodes)) == list(nodes.values())
    store.write_nodes(nodes)  # the same again: nothing changes
    assert len(store) == len(nodes)

    with pytest.raises(MalformedInput):
        store.write_nodes({(0, 6): GOOD})  # leaf 5 is missing
    with pytest.raises(MalformedInput):
        store.write_nodes({(0, 5): GOOD, (0, 7): GOOD})
    with pytest.raises(MalformedInput):
        store.write_nodes({(0, 4): TREE_LEAVES[3]})  # stored nodes never change
    with pytest.raises(MalformedInput):
        store.write_nodes({(0, -1): GOOD})
    with pytest.raises(MalformedInput):
        store.write_nodes({(-1, 0): GOOD})
    with pytest.raises(MalformedInput):
        store.write_nodes({(0, 5): TREE_LEAVES[5], (2, 2): GOOD})  # nothing half-written
    assert len(store) == len(nodes)


def test_memory_store_reads_only_what_it_holds() -> None:
    store = build(TREE_LEAVES, [8])
    assert store.read_nodes([]) == []
    assert store.read_nodes([(3, 0), (0, 7)]) == [TREE_NODES[(3, 0)], TREE_LEAVES[7]]
    for missing in [(0, 8), (1, 4), (4, 0), (0, -1), (-1, 0)]:
        with pytest.raises(KeyError):
            store.read_nodes([(0, 0), missing])


# --- the proof values ----------------------------------------------------------


def test_proof_values() -> None:
    store = build(TREE_LEAVES, [3, 5])
    inclusion = InclusionProof(index=5, size=7, path=inclusion_proof(5, 7, store))  # type: ignore[arg-type]
    assert isinstance(inclusion.path, tuple)
    assert inclusion.verify(TREE_LEAVES[5], TREE_ROOTS[6]) is None
    with pytest.raises(ProofError):
        inclusion.verify(TREE_LEAVES[4], TREE_ROOTS[6])
    with pytest.raises(dataclasses.FrozenInstanceError):
        inclusion.index = 4  # type: ignore[misc]

    consistency = ConsistencyProof(first=3, second=7, path=tuple(consistency_proof(3, 7, store)))
    assert consistency.verify(TREE_ROOTS[2], TREE_ROOTS[6]) is None
    with pytest.raises(ProofError):
        consistency.verify(TREE_ROOTS[3], TREE_ROOTS[6])
    assert consistency == ConsistencyProof(3, 7, consistency.path)


def test_public_names() -> None:
    public = {
        name
        for name, value in vars(merkle).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == merkle.__name__
    }
    assert public | {"NodeId"} == set(merkle.__all__)
    assert all(hasattr(merkle, name) for name in merkle.__all__)
