"""The log's Merkle tree: docs/protocol.md §9, RFC 9162 §2.1.

Hashes (RFC 9162 §2.1.1)::

    leaf_hash(entry)        = H(0x00 || entry)
    node_hash(left, right)  = H(0x01 || left || right)
    root([])                = H("")

Inclusion proofs (§2.1.3) and consistency proofs (§2.1.4) are generated from
stored nodes and verified with the RFC's algorithms. A verifier raises
``ProofError`` (or its subclass ``TreeSizeError`` for an out-of-range index or
size); it never returns ``False``.

Storage. A :data:`NodeId` ``(level, index)`` names the *perfect* subtree of
``2**level`` leaves covering leaves ``[index << level, (index + 1) << level)``;
level 0 holds the leaf hashes. Only perfect subtrees are stored, and they never
change once the tree has grown over them. :func:`append` is the pure
"integrate" step (as in transparency-dev/tessera): it reads the right frontier
of the current tree in one batch and returns every newly completed node for the
caller to write. Proof generation works out which nodes it needs, reads them in
one :meth:`HashReader.read_nodes` call and folds the right edge of the tree (the
only proof element that is not a perfect subtree) from them; it never rebuilds
the tree.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Protocol, TypeAlias

from .errors import MalformedInput, ProofError, TreeSizeError

__all__ = [
    "AppendResult",
    "ConsistencyProof",
    "HashReader",
    "InclusionProof",
    "MemoryHashStore",
    "NodeId",
    "append",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_at",
    "verify_consistency",
    "verify_inclusion",
]

NodeId: TypeAlias = tuple[int, int]
"""``(level, index)``: the perfect subtree over leaves ``[index << level, (index+1) << level)``."""

_HASH_SIZE = 32
_MAX_TREE_SIZE = 2**64 - 1  # RFC 9162 carries tree sizes as uint64
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


# --- hashing -----------------------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    """``H(0x00 || entry)``, the leaf hash of a log entry (its id is the hex of this).

    >>> leaf_hash(b"").hex()[:16]
    '6e340b9cffb37a98'

    Raises ``MalformedInput`` if ``entry`` is not ``bytes``.
    """
    if not isinstance(entry, bytes):
        raise MalformedInput("a log entry must be bytes")
    return _sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``H(0x01 || left || right)``, the hash of an interior node.

    Raises ``MalformedInput`` if either child is not a 32-byte hash.
    """
    _check_input_hash(left)
    _check_input_hash(right)
    return _sha256(_NODE_PREFIX + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash (RFC 9162 §2.1.1) over ``leaf_hashes``, in order.

    The empty tree's root is ``H("")``. Raises ``MalformedInput`` if a leaf
    hash is not 32 bytes.
    """
    row = list(leaf_hashes)
    for item in row:
        _check_input_hash(item)
    if not row:
        return _sha256(b"").digest()
    # Hashing level by level, an unpaired last node moves up unchanged: this is
    # exactly the RFC's split at the largest power of two below the size.
    while len(row) > 1:
        paired = _hash_pairs(row)
        if len(row) & 1:
            paired.append(row[-1])
        row = paired
    return row[0]


# --- storage -----------------------------------------------------------------


class HashReader(Protocol):
    """Where stored perfect-subtree hashes are read from (a database, a dict)."""

    def read_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """The hashes of ``ids``, in the same order, in one read.

        Raises ``KeyError`` if a node is not stored.
        """
        ...


class MemoryHashStore:
    """A :class:`HashReader` in memory, for tests, tools and benchmarks.

    Holds one list of hashes per level: the perfect subtrees of a tree of
    ``size`` leaves are, at each level, the indices ``0 .. (size >> level) - 1``
    with no gaps, and a list read is several times faster than a dict keyed by
    ``NodeId`` at a million leaves.
    """

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = []

    def read_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """The hashes of ``ids``, in order. Raises ``KeyError`` for a node not stored."""
        levels = self._levels
        try:
            return [
                levels[level][index] if level >= 0 and index >= 0 else _not_stored()
                for level, index in ids
            ]
        except IndexError:
            raise KeyError("node not stored") from None

    def write_nodes(self, nodes: Mapping[NodeId, bytes]) -> None:
        """Store ``nodes``, typically :attr:`AppendResult.nodes`.

        Raises ``MalformedInput``, storing nothing, if a hash is not 32 bytes,
        a node id is negative, the nodes would leave a gap at some level (each
        level is filled in order), or a stored node would change.
        """
        by_level: dict[int, dict[int, bytes]] = {}
        for (level, index), value in nodes.items():
            by_level.setdefault(level, {})[index] = value
        additions: list[tuple[int, list[bytes]]] = []
        for level, row in sorted(by_level.items()):
            if not all(
                isinstance(value, bytes) and len(value) == _HASH_SIZE for value in row.values()
            ):
                raise MalformedInput("a node hash must be 32 bytes")
            first, end = min(row), max(row) + 1
            if level < 0 or first < 0:
                raise MalformedInput("not a node id")
            stored = self._levels[level] if level < len(self._levels) else []
            if end - first != len(row) or first > len(stored):
                raise MalformedInput("the nodes would leave a gap in the tree")
            if any(stored[index] != row[index] for index in range(first, min(end, len(stored)))):
                raise MalformedInput("a stored node cannot change")
            additions.append((level, [row[index] for index in range(len(stored), end)]))
        for level, added in additions:
            while len(self._levels) <= level:
                self._levels.append([])
            self._levels[level].extend(added)

    def __len__(self) -> int:
        """How many nodes are stored."""
        return sum(map(len, self._levels))


@dataclass(frozen=True)
class AppendResult:
    """What :func:`append` computed: the new size and root, and the nodes to write."""

    size: int
    root: bytes
    nodes: Mapping[NodeId, bytes]


def append(size: int, leaf_hashes: Sequence[bytes], store: HashReader) -> AppendResult:
    """Integrate ``leaf_hashes`` into the tree of ``size`` leaves held by ``store``.

    Reads the right frontier of the current tree (at most one ``read_nodes``
    call of O(log size) nodes) and returns the new size, the new root, and every
    perfect subtree the batch completes, the new leaves included (level 0). The
    store is not written: the caller writes ``nodes``. Costs one hash per new
    node, so a batch of ``k`` leaves needs about ``k`` hashes.

    Raises ``TreeSizeError`` if ``size`` is not a valid tree size or the result
    would exceed 2**64 - 1 leaves, ``MalformedInput`` if a leaf hash is not 32
    bytes, and ``KeyError`` (from the store) if the store does not hold the tree
    of ``size`` leaves.
    """
    _check_size(size)
    new_leaves = list(leaf_hashes)
    for item in new_leaves:
        _check_input_hash(item)
    new_size = size + len(new_leaves)
    if new_size > _MAX_TREE_SIZE:
        raise TreeSizeError("the tree would exceed the largest size")

    frontier_ids = _range_ids(0, size)
    frontier: dict[NodeId, bytes] = {}
    if frontier_ids:
        frontier = dict(zip(frontier_ids, store.read_nodes(frontier_ids), strict=True))

    # Level by level: `row` holds the new nodes of `level`, starting at index
    # `first`. When `first` is odd its left sibling is the frontier node there.
    nodes: dict[NodeId, bytes] = {}
    level, first, row = 0, size, new_leaves
    while row:
        ids = zip(repeat(level), range(first, first + len(row)))
        nodes.update(zip(ids, row, strict=False))  # `ids` is as long as `row`
        if first & 1:
            first -= 1
            row = [frontier[(level, first)], *row]
        row = _hash_pairs(row)
        first >>= 1
        level += 1

    new_root = _fold(
        [nodes.get(node_id) or frontier[node_id] for node_id in _range_ids(0, new_size)]
    )
    return AppendResult(size=new_size, root=new_root, nodes=nodes)


def root_at(size: int, store: HashReader) -> bytes:
    """The root of the tree of ``size`` leaves, from at most one read of O(log size) nodes.

    Raises ``TreeSizeError`` for an invalid size and ``KeyError`` (from the
    store) if the store does not hold the tree of ``size`` leaves.
    """
    _check_size(size)
    ids = _range_ids(0, size)
    return _fold(store.read_nodes(ids) if ids else [])


# --- proofs ------------------------------------------------------------------


def inclusion_proof(index: int, size: int, store: HashReader) -> list[bytes]:
    """The RFC 9162 §2.1.3.1 inclusion proof of leaf ``index`` in the tree of ``size``.

    Reads the nodes it needs in one ``read_nodes`` call (none for a one-leaf
    tree). Raises ``TreeSizeError`` unless ``0 <= index < size``, and
    ``KeyError`` (from the store) if the store does not hold the tree of
    ``size`` leaves.
    """
    _check_index(index, size)
    return _read_path(*_path_ids(0, index, size), store)


def consistency_proof(m: int, n: int, store: HashReader) -> list[bytes]:
    """The RFC 9162 §2.1.4.1 consistency proof between the trees of ``m`` and ``n`` leaves.

    Reads the nodes it needs in one ``read_nodes`` call (none if ``m == n``,
    whose proof is empty). Raises ``TreeSizeError`` unless ``0 < m <= n``
    (a proof from the empty tree proves nothing and is refused), and
    ``KeyError`` (from the store) if the store does not hold the tree of ``n``
    leaves.
    """
    _check_size_pair(m, n)
    if m == n:
        return []
    # The largest perfect subtree ending at leaf m - 1, then its path to the
    # root of the tree of n. If it is the whole tree of m, the verifier already
    # has its hash (root_m), so it is left out.
    level = (m & -m).bit_length() - 1
    index = (m >> level) - 1
    ids, edge, edge_end = _path_ids(level, index, n)
    if index:
        return _read_path([(level, index), *ids], edge + 1, edge_end + 1, store)
    return _read_path(ids, edge, edge_end, store)


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, path: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` whose root is ``root``.

    The algorithm of RFC 9162 §2.1.3.2. Returns ``None`` on success. Raises
    ``TreeSizeError`` unless ``0 <= index < size <= 2**64 - 1``, and
    ``ProofError`` if a hash is not 32 bytes or the proof does not lead to
    ``root``.
    """
    # 1. leaf_index < tree_size, both in range.
    _check_index(index, size)
    _check_proof_hash(leaf_hash)
    _check_proof_hash(root)
    path = _check_path(path)
    # 2. fn = leaf_index, sn = tree_size - 1.  3. r = hash.
    fn, sn, r = index, size - 1, leaf_hash
    # 4. Fold in each path element.
    for p in path:
        # 4a. A proof longer than the tree is high fails.
        if sn == 0:
            raise ProofError("inclusion proof does not verify")
        # 4b. p is a left sibling (or the right border's) ...
        if fn & 1 or fn == sn:
            r = _sha256(_NODE_PREFIX + p + r).digest()
            # If LSB(fn) is not set, shift until it is or fn is 0.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        # ... or a right sibling.
        else:
            r = _sha256(_NODE_PREFIX + r + p).digest()
        # 4c.
        fn >>= 1
        sn >>= 1
    # 5. The whole height was covered and the result is the root.
    if sn != 0 or not hmac.compare_digest(r, root):
        raise ProofError("inclusion proof does not verify")


def verify_consistency(m: int, n: int, root_m: bytes, root_n: bytes, path: Sequence[bytes]) -> None:
    """Check that the tree of ``n`` leaves (``root_n``) extends the tree of ``m`` (``root_m``).

    The algorithm of RFC 9162 §2.1.4.2. Equal sizes are consistent exactly when
    the proof is empty and the roots are equal. Returns ``None`` on success.
    Raises ``TreeSizeError`` unless ``0 < m <= n <= 2**64 - 1`` (a proof from
    the empty tree proves nothing and is refused, even from 0 to 0), and
    ``ProofError`` if a hash is not 32 bytes or the proof does not verify.
    """
    _check_size_pair(m, n)
    path = _check_path(path)
    if m == n:
        # RFC 9162 §2.1.4.2 presumes m < n. Equal sizes: an empty proof, equal roots.
        if path or not isinstance(root_m, bytes) or not isinstance(root_n, bytes):
            raise ProofError("consistency proof does not verify")
        if not hmac.compare_digest(root_m, root_n):
            raise ProofError("consistency proof does not verify")
        return
    _check_proof_hash(root_m)
    _check_proof_hash(root_n)
    # 1. An empty path fails.
    if not path:
        raise ProofError("consistency proof does not verify")
    # 2. If m is a power of two, the path starts with root_m.
    if m & (m - 1) == 0:
        path = [root_m, *path]
    # 3.
    fn, sn = m - 1, n - 1
    # 4. Skip the levels where the old tree's last node is a right child.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof does not verify")
        if fn & 1 or fn == sn:
            fr = _sha256(_NODE_PREFIX + c + fr).digest()
            sr = _sha256(_NODE_PREFIX + c + sr).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = _sha256(_NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    # 7. Both roots are reproduced and the whole height was covered.
    if sn != 0 or not (hmac.compare_digest(fr, root_m) & hmac.compare_digest(sr, root_n)):
        raise ProofError("consistency proof does not verify")


@dataclass(frozen=True)
class InclusionProof:
    """An inclusion proof of leaf ``index`` in the tree of ``size`` leaves.

    Checked when built: raises ``TreeSizeError`` unless ``0 <= index < size``
    and ``ProofError`` if a path element is not 32 bytes. ``path`` is kept as a
    tuple.
    """

    index: int
    size: int
    path: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_index(self.index, self.size)
        object.__setattr__(self, "path", tuple(_check_path(self.path)))

    def verify(self, leaf_hash: bytes, root: bytes) -> None:
        """:func:`verify_inclusion` of this proof; raises as it does."""
        verify_inclusion(self.index, self.size, leaf_hash, self.path, root)


@dataclass(frozen=True)
class ConsistencyProof:
    """A consistency proof from the tree of ``first`` leaves to the tree of ``second``.

    Checked when built: raises ``TreeSizeError`` unless ``0 < first <= second``
    and ``ProofError`` if a path element is not 32 bytes. ``path`` is kept as a
    tuple.
    """

    first: int
    second: int
    path: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_size_pair(self.first, self.second)
        object.__setattr__(self, "path", tuple(_check_path(self.path)))

    def verify(self, first_root: bytes, second_root: bytes) -> None:
        """:func:`verify_consistency` of this proof; raises as it does."""
        verify_consistency(self.first, self.second, first_root, second_root, self.path)


# --- internals ---------------------------------------------------------------


def _hash_pairs(row: list[bytes]) -> list[bytes]:
    """``node_hash`` of (row[0], row[1]), (row[2], row[3]), ...; an unpaired last is dropped."""
    prefix, sha256 = _NODE_PREFIX, _sha256
    lefts, rights = row[0 : len(row) & ~1 : 2], row[1::2]
    return [
        sha256(prefix + left + right).digest() for left, right in zip(lefts, rights, strict=True)
    ]


def _fold(hashes: Sequence[bytes], start: int = 0, end: int | None = None) -> bytes:
    """The node over adjacent perfect subtrees ``hashes[start:end]``, given left to right.

    ``H("")`` if there are none (the empty tree).
    """
    end = len(hashes) if end is None else end
    if start >= end:
        return _sha256(b"").digest()
    prefix, sha256 = _NODE_PREFIX, _sha256
    acc = hashes[end - 1]
    for position in range(end - 2, start - 1, -1):
        acc = sha256(prefix + hashes[position] + acc).digest()
    return acc


def _range_ids(start: int, end: int) -> list[NodeId]:
    """The perfect subtrees that make up leaves ``[start, end)``, left to right.

    ``start`` must be a multiple of a power of two of at least ``end - start``
    (true of 0 and of every right-edge node), so that the pieces are the set
    bits of the width, largest first.
    """
    ids: list[NodeId] = []
    width = end - start
    while width:
        level = width.bit_length() - 1
        ids.append((level, start >> level))
        start += 1 << level
        width -= 1 << level
    return ids


def _path_ids(level: int, index: int, size: int) -> tuple[list[NodeId], int, int]:
    """The nodes that make up the proof path of ``(level, index)`` in the tree of ``size``.

    Returns ``(ids, edge, edge_end)``: the path is ``ids`` read in order, leaf
    side first (the order of RFC 9162 §2.1.3.1 and §2.1.4.1), except that
    ``ids[edge:edge_end]`` fold into one element, the tree's right edge, which
    is not a perfect subtree. The node must be complete in the tree.
    """
    # The node and the tree's last leaf meet at height `inner` above the node.
    # Below it every sibling is a complete subtree; at height inner - 1 the
    # sibling is the tree's right edge, made of one or more perfect subtrees;
    # above, the node lies on the right border and has a (left, complete)
    # sibling exactly where the index has a 1 bit.
    inner = (index ^ ((size - 1) >> level)).bit_length()
    if inner:
        ids = [(level + height, (index >> height) ^ 1) for height in range(inner - 1)]
        edge = inner - 1
        ids += _range_ids(((index >> edge) | 1) << (level + edge), size)
        edge_end = len(ids)
    else:
        ids, edge, edge_end = [], 0, 0
    ids += [
        (level + height, (index >> height) ^ 1)
        for height in range(inner, index.bit_length())
        if (index >> height) & 1
    ]
    return ids, edge, edge_end


def _read_path(ids: list[NodeId], edge: int, edge_end: int, store: HashReader) -> list[bytes]:
    """Read ``ids`` in one call and fold the right edge (see :func:`_path_ids`)."""
    if not ids:
        return []
    hashes = store.read_nodes(ids)
    if len(hashes) != len(ids):
        raise KeyError("the store returned a different number of nodes than asked for")
    if edge_end - edge < 2:
        return hashes
    return [*hashes[:edge], _fold(hashes, edge, edge_end), *hashes[edge_end:]]


def _not_stored() -> bytes:
    raise KeyError("node not stored")


# Sizes and indices must be of type int exactly (not bool, not a subclass).


def _check_size(size: int) -> None:
    if type(size) is not int or not 0 <= size <= _MAX_TREE_SIZE:
        raise TreeSizeError("not a valid tree size")


def _check_index(index: int, size: int) -> None:
    if type(index) is not int or type(size) is not int or not 0 <= index < size <= _MAX_TREE_SIZE:
        raise TreeSizeError("leaf index out of range for the tree size")


def _check_size_pair(m: int, n: int) -> None:
    if type(m) is not int or type(n) is not int or not 0 < m <= n <= _MAX_TREE_SIZE:
        raise TreeSizeError("tree sizes out of range for a consistency proof")


def _check_proof_hash(value: object) -> None:
    if type(value) is not bytes or len(value) != _HASH_SIZE:
        raise ProofError("a proof hash is not 32 bytes")


def _check_input_hash(value: object) -> None:
    if not isinstance(value, bytes) or len(value) != _HASH_SIZE:
        raise MalformedInput("a node hash must be 32 bytes")


def _check_path(path: Sequence[bytes]) -> list[bytes]:
    if type(path) not in (list, tuple) and (
        isinstance(path, (bytes, bytearray, str)) or not isinstance(path, Sequence)
    ):
        raise ProofError("a proof path must be a sequence of hashes")
    items = list(path)
    if len(items) > 2 * 64:
        # No valid proof of a uint64-sized tree is this long (RFC 9162 needs at most 64 + 1).
        raise ProofError("proof path too long")
    for item in items:
        if type(item) is not bytes or len(item) != _HASH_SIZE:
            raise ProofError("a proof hash is not 32 bytes")
    return items
