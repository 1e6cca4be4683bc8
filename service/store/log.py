"""The append-only log over the database (docs/protocol.md §9).

Tree logic lives in ``testimony.crypto.merkle``; this module stores what it
computes. Every perfect subtree hash is a row of ``tree_nodes``, so a root, an
inclusion proof or a consistency proof costs one query for O(log n) nodes.

An append (:meth:`LogStore.append_batch`) is one transaction:

1. take the writer lock (SQLite ``BEGIN IMMEDIATE``; PostgreSQL
   ``pg_advisory_xact_lock``), read the size;
1a. run each item's ``prepare`` (the rows an item writes besides its entry:
   a submission claims and records its blobs and spends its proof of work);
   an item whose ``prepare`` refuses it is dropped from the batch, alone;
2. drop the duplicates: an entry already logged (same leaf hash), or one whose
   dedup key the dedup index (by default the ``submissions`` projection) or an
   earlier item of the batch already holds, resolves to that entry's index;
3. insert the other entries at the next indexes;
4. ``merkle.append`` reads the right frontier and returns the new nodes,
   which are inserted;
5. run the projections on the new entries;
6. ``sign(new_size, root)`` returns the checkpoint note, which is inserted;
7. commit.

Nothing of a batch is visible, and no receipt can be built, before step 7.
Step 2 runs under the writer lock, so two appends of the same content can
never both be logged, whichever process makes them. The log signing key is
not here: the caller's ``sign`` holds it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select

from testimony.crypto import merkle
from testimony.crypto.errors import TreeSizeError

from . import db
from .errors import CheckpointNotFound, EntryNotFound, SizeOutOfRange
from .models import Checkpoint, LogEntry
from .projections import (
    DEFAULT_DEDUP_INDEX,
    DEFAULT_PROJECTIONS,
    AppendedEntry,
    DedupIndex,
    Projection,
)

__all__ = [
    "AppendedBatch",
    "BatchItems",
    "Finish",
    "Gather",
    "LogStore",
    "Prepare",
    "Signer",
    "StoredCheckpoint",
    "StoredEntry",
]

Signer = Callable[[int, bytes], str]
"""``sign(tree_size, root_hash) -> signed checkpoint note`` (docs/protocol.md §9)."""

Prepare = Callable[[Connection], Exception | None]
"""``prepare(connection) -> None, or the error that refuses the item``.

Run by :meth:`LogStore.append_batch` in the append's transaction, under the
writer lock, before the entries are inserted. Returning an error refuses that
item only; raising fails the whole batch. A ``prepare`` that refuses its item
should have written nothing that matters (its writes are committed with the
batch).
"""

Finish = Callable[[Connection, Sequence[bool]], None]
"""``finish(connection, kept)``: the batch's own writes besides its entries.

Run by :meth:`LogStore.append_batch` in the append's transaction, after every
:data:`Prepare`, with ``kept[i]`` False for each item its ``prepare`` refused.
One call per batch, so that rows every item writes (a submission's header and
inline body) go to the database in one statement rather than one per item.
Raising fails the whole batch.
"""


@dataclass(frozen=True)
class BatchItems:
    """The items of one append: the arguments of :meth:`LogStore.append_batch`."""

    entries: Sequence[bytes]
    dedup_keys: Sequence[Hashable | None] | None = None
    prepare: Sequence[Prepare | None] | None = None
    finish: Finish | None = None


Gather = Callable[[], "BatchItems | None"]
"""``gather() -> the batch's items, or None``: called by
:meth:`LogStore.append_gathered` once the writer lock is held."""


# The statements of every append and proof, on the driver's cursor
# (``db.Statement``): an append of one entry runs about a dozen while it holds
# the log's writer lock, and each costs several times more through
# SQLAlchemy's execution layer than in the driver.
_SELECT_SIZE = db.Statement("SELECT coalesce(max(idx) + 1, 0) FROM log_entries")
_INSERT_ENTRY = db.Statement(
    "INSERT INTO log_entries (idx, entry_id, entry) VALUES (:idx, :entry_id, :entry)"
)
_INSERT_NODE = db.Statement(
    "INSERT INTO tree_nodes (level, idx, hash) VALUES (:level, :idx, :hash)"
)
_INSERT_CHECKPOINT = db.Statement("INSERT INTO checkpoints (size, note) VALUES (:size, :note)")
_SELECT_INDEX = db.Statement("SELECT idx FROM log_entries WHERE entry_id = :entry_id")

_IN_CHUNK = 500  # ids per IN (...) list: well under any driver's parameter limit


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint note and the tree size it commits to."""

    size: int
    note: str


@dataclass(frozen=True)
class StoredEntry:
    """A log entry: its index, leaf hash (the entry id) and exact bytes."""

    idx: int
    entry_id: bytes
    entry: bytes


@dataclass(frozen=True)
class AppendedBatch:
    """The outcome of :meth:`LogStore.append_batch`, one item per entry given.

    ``indexes[i]`` and ``ids[i]`` belong to ``entries[i]``; ``appended[i]`` is
    False when that entry, or one with its dedup key, was already in the log
    (or earlier in the batch): ``indexes[i]`` and ``ids[i]`` then name that
    first entry, whose bytes may differ from ``entries[i]``. ``checkpoint`` is
    the note signed over ``(size, root)``, and ``inclusion[i]`` proves
    ``ids[i]`` at ``size``.

    With ``prepare``, ``refused[i]`` is the error ``entries[i]``'s ``prepare``
    refused it with, or None (``refused`` is empty without ``prepare``). A
    refused entry is not appended and has no item in the other tuples: they
    list the entries not refused, in order. If every entry is refused and the
    log is empty, ``checkpoint`` is size 0 with an empty note.
    """

    indexes: tuple[int, ...]
    ids: tuple[bytes, ...]
    appended: tuple[bool, ...]
    size: int
    root: bytes
    checkpoint: StoredCheckpoint
    inclusion: tuple[merkle.InclusionProof, ...]
    refused: tuple[Exception | None, ...] = ()


class _NodeReader:
    """``merkle.HashReader`` over one connection, remembering what it has read.

    Every ``read_nodes`` call is at most one query, for the ids it does not
    hold yet.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._known: dict[merkle.NodeId, bytes] = {}

    def remember(self, nodes: Mapping[merkle.NodeId, bytes]) -> None:
        self._known.update(nodes)

    def rebind(self, connection: Connection) -> None:
        """Read further nodes through ``connection``, keeping those already read."""
        self._connection = connection

    def read_nodes(self, ids: Sequence[merkle.NodeId]) -> list[bytes]:
        known = self._known
        missing = sorted({node_id for node_id in ids if node_id not in known})
        if missing:
            for level, idx, node in _select_nodes(self._connection, missing):
                known[(level, idx)] = node
        return [known[node_id] for node_id in ids]  # KeyError for a node not stored


class LogStore:
    """The append-only log, its tree nodes and its checkpoints in one database.

    Safe to share between threads and processes: every method opens its own
    connection, and appends serialise on the database's writer lock.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        projections: Sequence[Projection] = DEFAULT_PROJECTIONS,
        dedup_index: DedupIndex | None = DEFAULT_DEDUP_INDEX,
    ) -> None:
        self._engine = engine
        self._reads = db.read_engine(engine)
        self._projections = tuple(projections)
        self._dedup_index = dedup_index

    @property
    def engine(self) -> Engine:
        """The engine this log lives in."""
        return self._engine

    # --- append -----------------------------------------------------------------

    def append_batch(
        self,
        entries: Sequence[bytes],
        sign: Signer,
        *,
        dedup_keys: Sequence[Hashable | None] | None = None,
        prepare: Sequence[Prepare | None] | None = None,
        finish: Finish | None = None,
    ) -> AppendedBatch:
        """Append ``entries`` in one transaction and sign one checkpoint over them.

        Entries already in the log (same leaf hash) are not appended again; they
        get their existing index. ``dedup_keys[i]``, if given and not None, is
        a content key of ``entries[i]`` (for a submission, its
        ``projections.SubmissionKey``): if the dedup index finds it logged, or
        an earlier item of this batch has it, the entry is not appended and
        gets the index of that first entry. The check runs under the writer
        lock, in the append's transaction. If no entry is new, no checkpoint
        is signed and the latest one is returned. ``sign(size, root)`` is
        called once, inside the transaction, with the writer lock held.
        ``prepare[i]``, if given and not None, runs first, in the same
        transaction (see :data:`Prepare`); the item is dropped if it returns an
        error, which ``refused[i]`` of the answer holds. ``finish``, if given,
        runs after them, once (see :data:`Finish`).

        Raises ``ValueError`` for an empty batch, for ``dedup_keys`` or
        ``prepare`` of another length than ``entries``, or for dedup keys on a log without a dedup
        index; ``MalformedInput`` if an entry is not ``bytes``, whatever
        ``sign`` or a projection raises, and the database's errors; in every
        case nothing of the batch is kept.
        """
        items = BatchItems(entries, dedup_keys, prepare, finish)
        self._check(items)  # before taking the lock
        appended = self.append_gathered(lambda: items, sign)
        if appended is None:  # pragma: no cover - the items above are never None
            raise AssertionError("append_gathered appended nothing")
        return appended

    def _check(self, items: BatchItems) -> Sequence[Hashable | None]:
        """The dedup key of each entry (None for none). Raises ``ValueError``
        as :meth:`append_batch` says."""
        entries, dedup_keys = items.entries, items.dedup_keys
        if not entries:
            raise ValueError("an append batch needs at least one entry")
        if dedup_keys is None:
            keys: Sequence[Hashable | None] = [None] * len(entries)
        elif len(dedup_keys) != len(entries):
            raise ValueError("one dedup key (or None) per entry")
        else:
            keys = dedup_keys
        if items.prepare is not None and len(items.prepare) != len(entries):
            raise ValueError("one prepare (or None) per entry")
        if self._dedup_index is None and any(key is not None for key in keys):
            raise ValueError("this log has no dedup index for dedup keys")
        return keys

    def append_gathered(self, gather: Gather, sign: Signer) -> AppendedBatch | None:
        """:meth:`append_batch` of the items ``gather()`` returns once the
        writer lock is held; None, without a checkpoint, if it returns None.

        For group commit (``batching.AppendBatcher``): while one process
        holds the lock, the requests that reach another one queue there, and
        this lets them join that process's batch when its turn comes, rather
        than wait for the next. ``gather`` runs in the append's transaction;
        raising fails the batch. Raises what :meth:`append_batch` raises.
        """
        with db.writer_connection(self._engine) as connection:
            gathered = gather()
            if gathered is None:
                return None
            keys = self._check(gathered)
            entries, prepare, finish = gathered.entries, gathered.prepare, gathered.finish
            wanted_keys = {key for key in keys if key is not None}
            ids = [merkle.leaf_hash(entry) for entry in entries]
            size = _size(connection)
            refused: list[Exception | None] = []
            if prepare is not None:
                refused = [None if p is None else p(connection) for p in prepare]
            if finish is not None:
                finish(connection, [e is None for e in refused] or [True] * len(entries))
            first_index = _indexes_of(connection, ids)
            by_key: dict[Hashable, int] = {}
            if wanted_keys and self._dedup_index is not None:
                by_key.update(self._dedup_index.find(connection, wanted_keys))
            new_entries: list[AppendedEntry] = []
            indexes: list[int] = []
            appended: list[bool] = []
            for position, (entry, entry_id, key) in enumerate(zip(entries, ids, keys, strict=True)):
                if refused and refused[position] is not None:
                    continue
                existing = first_index.get(entry_id)
                if existing is None and key is not None:
                    existing = by_key.get(key)
                    if existing is not None:
                        # A duplicate by content: name the first entry by its own id.
                        ids[position] = _id_at(connection, existing, new_entries, size)
                if existing is not None:
                    indexes.append(existing)
                    appended.append(False)
                    continue
                index = size + len(new_entries)
                first_index[entry_id] = index
                if key is not None:
                    by_key[key] = index
                new_entries.append(AppendedEntry(idx=index, entry_id=entry_id, entry=entry))
                indexes.append(index)
                appended.append(True)

            reader = _NodeReader(connection)
            if new_entries:
                _INSERT_ENTRY.execute_many(
                    connection,
                    [{"idx": e.idx, "entry_id": e.entry_id, "entry": e.entry} for e in new_entries],
                )
                result = merkle.append(size, [e.entry_id for e in new_entries], reader)
                reader.remember(result.nodes)
                _INSERT_NODE.execute_many(
                    connection,
                    [
                        {"level": level, "idx": idx, "hash": node}
                        for (level, idx), node in result.nodes.items()
                    ],
                )
                for projection in self._projections:
                    projection.project(connection, new_entries)
                new_size, root = result.size, result.root
                note = sign(new_size, root)
                _INSERT_CHECKPOINT.run(connection, {"size": new_size, "note": note})
                checkpoint = StoredCheckpoint(size=new_size, note=note)
            else:
                # Nothing new: nothing is signed; the latest checkpoint covers
                # every entry (each append commits its own checkpoint).
                latest = _latest_checkpoint(connection)
                if latest is None and size == 0 and refused and all(e is not None for e in refused):
                    latest = StoredCheckpoint(size=0, note="")  # every item refused
                if latest is None:
                    raise SizeOutOfRange("the log has entries but no checkpoint")
                checkpoint = latest
                new_size, root = latest.size, merkle.root_at(latest.size, reader)

        # After the commit, so the writer lock is not held for it. The new
        # leaves' paths need only the frontier merkle.append read and the nodes
        # it returned; only an entry logged earlier may need a query.
        with self._reads.connect() as connection:
            reader.rebind(connection)
            inclusion = tuple(
                merkle.InclusionProof(
                    index=index,
                    size=new_size,
                    path=tuple(merkle.inclusion_proof(index, new_size, reader)),
                )
                for index in indexes
            )
        return AppendedBatch(
            indexes=tuple(indexes),
            ids=tuple(i for n, i in enumerate(ids) if not refused or refused[n] is None),
            appended=tuple(appended),
            size=new_size,
            root=root,
            checkpoint=checkpoint,
            inclusion=inclusion,
            refused=tuple(refused),
        )

    # --- reads -----------------------------------------------------------------

    def size(self) -> int:
        """The number of entries in the log."""
        with self._reads.connect() as connection:
            return _size(connection)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint of the largest size, or None before the first append."""
        with self._reads.connect() as connection:
            return _latest_checkpoint(connection)

    def checkpoint(self, size: int) -> StoredCheckpoint:
        """The checkpoint signed at ``size``. Raises ``CheckpointNotFound`` if none was."""
        with self._reads.connect() as connection:
            note = connection.execute(
                select(Checkpoint.note).where(Checkpoint.size == size)
            ).scalar_one_or_none()
        if note is None:
            raise CheckpointNotFound(f"no checkpoint at size {size}")
        return StoredCheckpoint(size=size, note=note)

    def first_checkpoint_after(self, index: int) -> StoredCheckpoint | None:
        """The first checkpoint that covers entry ``index`` (the smallest size above it).

        That is the checkpoint of the batch that appended the entry, so with
        an inclusion proof at its size it rebuilds the entry's original
        receipt (docs/protocol.md §10). None if no checkpoint covers ``index``.
        """
        with self._reads.connect() as connection:
            row = connection.execute(
                select(Checkpoint.size, Checkpoint.note)
                .where(Checkpoint.size > index)
                .order_by(Checkpoint.size)
                .limit(1)
            ).one_or_none()
        return None if row is None else StoredCheckpoint(size=int(row.size), note=row.note)

    def iter_checkpoints(self, *, chunk: int = 1_000) -> Iterator[StoredCheckpoint]:
        """Every checkpoint ever signed, in increasing size (for ``testimony audit``)."""
        after = -1
        while True:
            with self._reads.connect() as connection:
                rows = connection.execute(
                    select(Checkpoint.size, Checkpoint.note)
                    .where(Checkpoint.size > after)
                    .order_by(Checkpoint.size)
                    .limit(chunk)
                ).all()
            if not rows:
                return
            for size, note in rows:
                yield StoredCheckpoint(size=size, note=note)
            after = rows[-1][0]

    def entry(self, idx: int) -> bytes:
        """The exact bytes of entry ``idx``. Raises ``EntryNotFound`` if there is none."""
        with self._reads.connect() as connection:
            entry = connection.execute(
                select(LogEntry.entry).where(LogEntry.idx == idx)
            ).scalar_one_or_none()
        if entry is None:
            raise EntryNotFound(f"no log entry at index {idx}")
        return bytes(entry)

    def entry_by_id(self, entry_id: bytes) -> StoredEntry:
        """The entry whose leaf hash is ``entry_id``. Raises ``EntryNotFound``."""
        with self._reads.connect() as connection:
            row = connection.execute(
                select(LogEntry.idx, LogEntry.entry).where(LogEntry.entry_id == entry_id)
            ).one_or_none()
        if row is None:
            raise EntryNotFound("no log entry with that id")
        return StoredEntry(idx=row.idx, entry_id=bytes(entry_id), entry=bytes(row.entry))

    def index_of(self, entry_id: bytes) -> int:
        """The index of the entry whose leaf hash is ``entry_id``. Raises ``EntryNotFound``."""
        with self._reads.connect() as connection:
            return _index_of(connection, entry_id)

    def entries(self, start: int, end: int) -> list[bytes]:
        """The entries ``[start, end)``, in order.

        Raises ``ValueError`` unless ``0 <= start <= end`` and ``SizeOutOfRange``
        if ``end`` exceeds the log's size.
        """
        if not 0 <= start <= end:
            raise ValueError("need 0 <= start <= end")
        with self._reads.connect() as connection:
            rows = connection.execute(
                select(LogEntry.entry)
                .where(LogEntry.idx >= start, LogEntry.idx < end)
                .order_by(LogEntry.idx)
            ).scalars()
            entries = [bytes(entry) for entry in rows]
        if len(entries) != end - start:
            raise SizeOutOfRange(f"the log has fewer than {end} entries")
        return entries

    def iter_entries(self, *, start: int = 0, chunk: int = 5_000) -> Iterator[StoredEntry]:
        """Every entry from ``start`` on, in order, read ``chunk`` at a time (for audits)."""
        after = start - 1
        while True:
            with self._reads.connect() as connection:
                rows = connection.execute(
                    select(LogEntry.idx, LogEntry.entry_id, LogEntry.entry)
                    .where(LogEntry.idx > after)
                    .order_by(LogEntry.idx)
                    .limit(chunk)
                ).all()
            if not rows:
                return
            for idx, entry_id, entry in rows:
                yield StoredEntry(idx=idx, entry_id=bytes(entry_id), entry=bytes(entry))
            after = rows[-1][0]

    def stored_nodes(self, ids: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
        """The stored subtree hashes among ``ids`` (for ``testimony audit``).

        A node that is not stored is absent from the answer.
        """
        wanted = sorted(set(ids))
        found: dict[merkle.NodeId, bytes] = {}
        with self._reads.connect() as connection:
            for start in range(0, len(wanted), _IN_CHUNK):
                for level, idx, node in _select_nodes(
                    connection, wanted[start : start + _IN_CHUNK]
                ):
                    found[(level, idx)] = node
        return found

    def root(self, size: int) -> bytes:
        """The root of the tree of the first ``size`` entries, from the stored nodes.

        Raises ``SizeOutOfRange`` if ``size`` is negative or beyond the log.
        """
        with self._reads.connect() as connection:
            reader = _NodeReader(connection)
            try:
                return merkle.root_at(size, reader)
            except (KeyError, TreeSizeError) as exc:
                raise SizeOutOfRange(f"no tree of size {size} in the log") from exc

    def inclusion_proof(self, id_or_index: bytes | int, size: int) -> merkle.InclusionProof:
        """The inclusion proof of an entry (by leaf hash or index) in the tree of ``size``.

        One query for the nodes (plus one to find the index of an id). Raises
        ``EntryNotFound`` for an unknown id, ``SizeOutOfRange`` unless
        ``0 <= index < size <= log size``.
        """
        with self._reads.connect() as connection:
            if isinstance(id_or_index, bytes):
                index = _index_of(connection, id_or_index)
            elif isinstance(id_or_index, int) and not isinstance(id_or_index, bool):
                index = id_or_index
            else:
                raise TypeError("an entry is named by its leaf hash (bytes) or index (int)")
            reader = _NodeReader(connection)
            try:
                path = merkle.inclusion_proof(index, size, reader)
            except (KeyError, TreeSizeError) as exc:
                # A node is missing exactly when `size` exceeds the stored log:
                # the proof's nodes cover leaves [0, size).
                raise SizeOutOfRange(f"no leaf {index} in a tree of size {size}") from exc
        return merkle.InclusionProof(index=index, size=size, path=tuple(path))

    def consistency_proof(self, first: int, second: int) -> merkle.ConsistencyProof:
        """The consistency proof from the tree of ``first`` entries to that of ``second``.

        One query for the nodes. Raises ``SizeOutOfRange`` unless
        ``0 < first <= second <= log size``.
        """
        with self._reads.connect() as connection:
            reader = _NodeReader(connection)
            try:
                path = merkle.consistency_proof(first, second, reader)
            except (KeyError, TreeSizeError) as exc:
                raise SizeOutOfRange(f"no consistency proof from {first} to {second}") from exc
            if first == second and second > _size(connection):
                raise SizeOutOfRange(f"no tree of size {second} in the log")
        return merkle.ConsistencyProof(first=first, second=second, path=tuple(path))


@functools.lru_cache(maxsize=256)
def _select_nodes_statement(count: int) -> db.Statement:
    # An OR of primary-key equalities rather than "(level, idx) IN (...)":
    # SQLite answers a row-value IN list with a full scan, an OR with one seek
    # per node (PostgreSQL with a BitmapOr of index scans). One statement per
    # count of nodes.
    where = " OR ".join(f"(level = :l{k} AND idx = :i{k})" for k in range(count))
    # Only integers and fixed text are interpolated; values are bound parameters.
    return db.Statement(f"SELECT level, idx, hash FROM tree_nodes WHERE {where}")  # noqa: S608


def _select_nodes(
    connection: Connection, ids: Sequence[merkle.NodeId]
) -> Iterator[tuple[int, int, bytes]]:
    params: dict[str, int] = {}
    for k, (level, idx) in enumerate(ids):
        params[f"l{k}"] = level
        params[f"i{k}"] = idx
    for level, idx, node in _select_nodes_statement(len(ids)).rows(connection, params):
        yield int(level), int(idx), bytes(node)


def _size(connection: Connection) -> int:
    return int(_SELECT_SIZE.rows(connection)[0][0])


def _latest_checkpoint(connection: Connection) -> StoredCheckpoint | None:
    row = connection.execute(
        select(Checkpoint.size, Checkpoint.note).order_by(Checkpoint.size.desc()).limit(1)
    ).one_or_none()
    return None if row is None else StoredCheckpoint(size=row.size, note=row.note)


def _index_of(connection: Connection, entry_id: bytes) -> int:
    rows = _SELECT_INDEX.rows(connection, {"entry_id": entry_id})
    if not rows:
        raise EntryNotFound("no log entry with that id")
    return int(rows[0][0])


def _id_at(connection: Connection, index: int, batch: Sequence[AppendedEntry], size: int) -> bytes:
    """The leaf hash of the entry at ``index``: logged before (< ``size``) or in ``batch``."""
    if index >= size:
        return batch[index - size].entry_id
    entry_id = connection.execute(
        select(LogEntry.entry_id).where(LogEntry.idx == index)
    ).scalar_one()
    return bytes(entry_id)


@functools.lru_cache(maxsize=64)
def _select_indexes_statement(count: int) -> db.Statement:
    marks = ", ".join(f":e{k}" for k in range(count))
    # Only integers and fixed text are interpolated; values are bound parameters.
    return db.Statement(f"SELECT entry_id, idx FROM log_entries WHERE entry_id IN ({marks})")  # noqa: S608


def _indexes_of(connection: Connection, ids: Sequence[bytes]) -> dict[bytes, int]:
    wanted = sorted(set(ids))
    found: dict[bytes, int] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        part = wanted[start : start + _IN_CHUNK]
        params = {f"e{k}": entry_id for k, entry_id in enumerate(part)}
        for entry_id, idx in _select_indexes_statement(len(part)).rows(connection, params):
            found[bytes(entry_id)] = int(idx)
    return found
