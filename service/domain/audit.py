"""``testimony audit``: check that the log was never rewritten (docs/protocol.md §9).

The triggers of the migrations refuse UPDATE and DELETE on the log tables, but
whoever owns the database can drop them. The audit therefore trusts nothing
stored but the entries' bytes and the signed checkpoints, and rebuilds the rest:

1. every entry, in index order: no index missing; its leaf hash recomputed
   from its bytes equals its stored id; its bytes are canonical JSON (JCS);
   its times are floored to the granularity;
2. the tree, rebuilt from the entries alone (``merkle.append`` over the
   recomputed leaf hashes, keeping only the right frontier in memory); every
   stored subtree hash is compared with the rebuilt one, since proofs are
   served from them;
3. every checkpoint ever signed, in order of size: its signature with the log
   key and the origin; the size in its note equals its row's; its root equals
   the rebuilt root at its size; its time is floored and not earlier than the
   previous one's; it is consistent with the previous checkpoint (an RFC 9162
   consistency proof from the stored nodes verifies between the two signed
   roots); the latest covers the whole log;
4. every blob an entry names that the server keeps (a submission's or a
   follow-up's header, body and attachments, a reply's sealed bytes; read by
   ``testimony.crypto.entries``, ``kept_blobs``) is stored and hashes to its
   id, and so does every other blob the store records;
5. every witness's cosignature kept (§13): it is of a checkpoint the log
   signed, and, for a witness the settings name, it verifies with that
   witness's key over that checkpoint (a line replaced in the database would
   be served to clients as a forgery).

It never stops at the first finding: it returns all of them (at most
:data:`MAX_PER_CODE` of one kind, then one line saying how many more), each
naming the entry index, checkpoint size or blob id concerned.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from testimony.crypto import canonical, cosignature, entries, merkle
from testimony.crypto import checkpoint as checkpoints
from testimony.crypto.errors import CryptoError, EntryMalformed
from testimony.crypto.rfc3339 import parse_time
from testimony.service.store import errors as store_errors
from testimony.service.store.blob_index import BlobIndex
from testimony.service.store.blobs import BlobStore
from testimony.service.store.cosignatures import CosignatureTable
from testimony.service.store.inline_blobs import InlineBlobs
from testimony.service.store.log import LogStore, StoredCheckpoint

from .clock import Granularity, unix_seconds

__all__ = ["MAX_PER_CODE", "AuditProgress", "Finding", "audit"]

MAX_PER_CODE = 100
"""Findings of one kind reported one by one; beyond that, one summary line."""

_CHUNK = 2_000


@dataclass(frozen=True)
class Finding:
    """One thing that does not hold. ``code`` is stable; ``message`` names the item."""

    code: str
    message: str
    index: int | None = None
    size: int | None = None
    blob: str | None = None

    def line(self) -> str:
        """The one-line report: ``<message> (<code>)``."""
        return f"{self.message} ({self.code})"


@dataclass
class _Findings:
    items: list[Finding] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, finding: Finding) -> None:
        self.counts[finding.code] += 1
        if self.counts[finding.code] <= MAX_PER_CODE:
            self.items.append(finding)

    def result(self) -> list[Finding]:
        extra = [
            Finding(code, f"... and {count - MAX_PER_CODE} more findings of this kind")
            for code, count in sorted(self.counts.items())
            if count > MAX_PER_CODE
        ]
        return [*self.items, *extra]


class _Frontier:
    """A ``merkle.HashReader`` holding only the right frontier of the rebuilt tree."""

    def __init__(self) -> None:
        self.nodes: dict[merkle.NodeId, bytes] = {}

    def read_nodes(self, ids: Sequence[merkle.NodeId]) -> list[bytes]:
        return [self.nodes[node_id] for node_id in ids]

    def keep(self, size: int, new: Mapping[merkle.NodeId, bytes]) -> None:
        merged = {**self.nodes, **new}
        frontier: dict[merkle.NodeId, bytes] = {}
        start, width = 0, size
        while width:
            level = width.bit_length() - 1
            node_id = (level, start >> level)
            frontier[node_id] = merged[node_id]
            start += 1 << level
            width -= 1 << level
        self.nodes = frontier


def _entry_json(entry: bytes) -> Any:
    try:
        return json.loads(entry)
    except (UnicodeDecodeError, ValueError):
        return None


def _is_floored(text: object, granularity: Granularity) -> bool:
    if not isinstance(text, str):
        return False
    try:
        seconds = unix_seconds(parse_time(text))
    except (CryptoError, ValueError):
        return False
    return seconds % granularity.seconds == 0


def _parsed(entry: bytes) -> entries.Entry | None:
    """``entry`` read by ``testimony.crypto.entries``, or None if it is not an
    entry of a known type or does not parse (what is wrong with its bytes, its
    form or its id are findings of their own)."""
    try:
        return entries.parse_known_entry(entry)
    except EntryMalformed:
        return None


def _hex_ids(value: Any) -> Iterator[bytes]:
    """Every 64-hex string in a parsed JSON value, as bytes."""
    if isinstance(value, str):
        if len(value) == 64:
            try:
                yield bytes.fromhex(value)
            except ValueError:
                return
    elif isinstance(value, dict):
        for item in value.values():
            yield from _hex_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _hex_ids(item)


class _Auditor:
    def __init__(
        self,
        *,
        log: LogStore,
        engine: Engine,
        blobs: BlobStore | None,
        verifier_key: str | None,
        origin: str | None,
        granularity: Granularity | None,
        progress: AuditProgress | None = None,
        witnesses: Mapping[str, cosignature.CosignerKey] | None = None,
    ) -> None:
        self.log = log
        self.witnesses = witnesses or {}
        self.progress = progress
        self.engine = engine
        self.blobs = blobs
        self.verifier_key = verifier_key
        self.origin = origin
        self.granularity = granularity
        self.findings = _Findings()
        self.checked_blobs: set[bytes] = set()
        self.named_blobs: set[bytes] = set()
        # the rebuilt tree
        self.size = 0
        self.frontier = _Frontier()
        # checkpoints, consumed in order of size while the tree grows
        self.checkpoints: Iterator[StoredCheckpoint] = log.iter_checkpoints()
        self.next_checkpoint: StoredCheckpoint | None = next(self.checkpoints, None)
        self.previous: tuple[int, bytes, Any] | None = None  # size, signed root, time
        self.checkpoint_count = 0
        self._log_size: int | None = None

    # --- 1 and 2: entries and the tree -------------------------------------------------

    def run(self) -> list[Finding]:
        if self.verifier_key is None:
            self.findings.add(
                Finding(
                    "no-log-key",
                    "checkpoint signatures not checked: no log key (give --log-key or --data-dir)",
                )
            )
        total = self.log_size if self.progress is not None else 0
        # Checkpoints at size 0 precede every entry.
        self._checkpoints_up_to(0)
        pending: list[bytes] = []
        expected = 0
        for stored in self.log.iter_entries(chunk=_CHUNK):
            if stored.idx != expected:
                missing = (
                    f"entry {expected} is missing"
                    if stored.idx == expected + 1
                    else f"entries {expected} to {stored.idx - 1} are missing"
                )
                self.findings.add(Finding("entry-missing", missing, index=expected))
            expected = stored.idx + 1
            leaf = merkle.leaf_hash(stored.entry)
            self._check_entry(stored.idx, stored.entry, stored.entry_id, leaf)
            pending.append(leaf)
            # Fold in when a checkpoint's size is reached, or a chunk is full.
            boundary = self.next_checkpoint.size if self.next_checkpoint else None
            if len(pending) >= _CHUNK or (
                boundary is not None and self.size + len(pending) >= boundary
            ):
                self._grow(pending)
                pending = []
                self._report(total)
        if pending:
            self._grow(pending)
        self._report(total)
        self._checkpoints_up_to(None)
        if self.checkpoint_count == 0 and self.size:
            self.findings.add(Finding("no-checkpoint", "no checkpoint was ever signed"))
        elif self.previous is not None and self.previous[0] < self.size:
            self.findings.add(
                Finding(
                    "log-unsigned-tail",
                    f"entries {self.previous[0]} to {self.size - 1} are covered by no checkpoint",
                    index=self.previous[0],
                )
            )
        self._check_recorded_blobs()
        self._check_inline_rows()
        self._check_cosignatures()
        return self.findings.result()

    def _check_cosignatures(self) -> None:
        """5: each kept cosignature is of a signed checkpoint and, for a
        configured witness, verifies with its key over that note."""
        for size, witness, line in CosignatureTable(self.engine).rows():
            try:
                note = self.log.checkpoint(size).note
            except store_errors.CheckpointNotFound:
                self.findings.add(
                    Finding(
                        "cosignature-orphan",
                        f"a cosignature of {witness} names no checkpoint of size {size}",
                        size=size,
                    )
                )
                continue
            key = self.witnesses.get(witness)
            if key is None:
                continue  # a witness no longer configured: its key is not known here
            try:
                found = cosignature.cosignatures(cosignature.add(note, [line]), [key])
            except CryptoError:
                found = []
            if not found:
                self.findings.add(
                    Finding(
                        "cosignature-bad",
                        f"the cosignature of {witness} kept for the checkpoint of size {size} "
                        "does not verify with its key",
                        size=size,
                    )
                )

    def _report(self, total: int) -> None:
        # Entries appended while the audit runs are checked too: total grows.
        if self.progress is not None:
            self.progress(self.size, max(total, self.size))

    def _check_entry(self, idx: int, entry: bytes, stored_id: bytes, leaf: bytes) -> None:
        if leaf != stored_id:
            self.findings.add(
                Finding(
                    "entry-id-mismatch",
                    f"entry {idx}: its bytes do not hash to its stored id {stored_id.hex()}",
                    index=idx,
                )
            )
        value = _entry_json(entry)
        if not isinstance(value, dict):
            self.findings.add(
                Finding("entry-not-json", f"entry {idx} is not a JSON object", index=idx)
            )
            return
        parsed = _parsed(entry)
        if parsed is None:
            # What it names still counts as named: its rows outlive no entry
            # (the entry itself is reported for what is wrong with it).
            self.named_blobs.update(_hex_ids(value))
            # An entry that parses is canonical JSON; for any other, check that alone.
            try:
                canonical_bytes = canonical.dumps(value)
            except (CryptoError, TypeError, ValueError):
                canonical_bytes = b""
            if canonical_bytes != entry:
                self.findings.add(
                    Finding("entry-not-canonical", f"entry {idx} is not canonical JSON", index=idx)
                )
        if (
            self.granularity is not None
            and "received" in value
            and not _is_floored(value["received"], self.granularity)
        ):
            self.findings.add(
                Finding(
                    "entry-time-too-fine",
                    f"entry {idx}: `received` is not floored to the time granularity",
                    index=idx,
                )
            )
        for blob_id in parsed.kept_blobs() if parsed is not None else ():
            self.named_blobs.add(bytes.fromhex(blob_id))
            self._check_blob(blob_id, f"entry {idx} names blob {blob_id}", index=idx)

    def _grow(self, leaves: list[bytes]) -> None:
        start = self.size
        while leaves:
            boundary = self.next_checkpoint.size if self.next_checkpoint else None
            take = len(leaves)
            if boundary is not None and start < boundary < start + take:
                take = boundary - start
            result = merkle.append(start, leaves[:take], self.frontier)
            self._compare_nodes(result.nodes)
            self.frontier.keep(result.size, result.nodes)
            start = self.size = result.size
            leaves = leaves[take:]
            self._checkpoints_up_to(self.size, root=result.root)

    def _compare_nodes(self, rebuilt: Mapping[merkle.NodeId, bytes]) -> None:
        ids = sorted(rebuilt)
        stored = self.log.stored_nodes(ids)
        for node_id in ids:
            level, idx = node_id
            if node_id not in stored:
                self.findings.add(
                    Finding(
                        "tree-node-missing",
                        f"tree node (level {level}, index {idx}) is not stored",
                        index=idx << level,
                    )
                )
            elif stored[node_id] != rebuilt[node_id]:
                self.findings.add(
                    Finding(
                        "tree-node-mismatch",
                        f"tree node (level {level}, index {idx}) differs from the one the "
                        "entries give",
                        index=idx << level,
                    )
                )

    # --- 3: checkpoints ----------------------------------------------------------------

    def _checkpoints_up_to(self, size: int | None, *, root: bytes | None = None) -> None:
        """Check every checkpoint of size <= ``size`` (None: all that remain)."""
        while self.next_checkpoint is not None and (
            size is None or self.next_checkpoint.size <= size
        ):
            stored = self.next_checkpoint
            self.next_checkpoint = next(self.checkpoints, None)
            rebuilt = root if stored.size == self.size else None
            if stored.size == 0:
                rebuilt = merkle.root([])
            self._check_checkpoint(stored, rebuilt)

    def _check_checkpoint(self, stored: StoredCheckpoint, rebuilt_root: bytes | None) -> None:
        self.checkpoint_count += 1
        size = stored.size
        where = f"checkpoint at size {size}"
        try:
            if self.verifier_key is not None:
                signed = checkpoints.verify(stored.note, self.verifier_key, origin=self.origin)
            else:
                signed = checkpoints.parse(stored.note)
        except CryptoError as exc:
            self.findings.add(Finding("checkpoint-" + exc.code, f"{where}: {exc}", size=size))
            return
        if signed.size != size:
            self.findings.add(
                Finding(
                    "checkpoint-size-mismatch",
                    f"{where}: its note states size {signed.size}",
                    size=size,
                )
            )
        if size > self.size:
            self.findings.add(
                Finding(
                    "checkpoint-beyond-log",
                    f"{where}: the log has only {self.size} entries",
                    size=size,
                )
            )
        elif rebuilt_root is not None and signed.root != rebuilt_root:
            self.findings.add(
                Finding(
                    "checkpoint-root-mismatch",
                    f"{where}: its root is not the root of the entries",
                    size=size,
                )
            )
        if self.granularity is not None and (unix_seconds(signed.time) % self.granularity.seconds):
            self.findings.add(
                Finding(
                    "checkpoint-time-too-fine",
                    f"{where}: its time is not floored to the time granularity",
                    size=size,
                )
            )
        if self.previous is not None:
            self._check_consistency(self.previous, (size, signed.root, signed.time))
        self.previous = (size, signed.root, signed.time)

    def _check_consistency(
        self, previous: tuple[int, bytes, Any], current: tuple[int, bytes, Any]
    ) -> None:
        (first, first_root, first_time), (second, second_root, second_time) = previous, current
        where = f"checkpoint at size {second}"
        if second_time < first_time:
            self.findings.add(
                Finding(
                    "checkpoint-time-backwards",
                    f"{where}: its time is earlier than the previous checkpoint's",
                    size=second,
                )
            )
        if first == 0 or second > self.log_size:
            return
        try:
            proof = self.log.consistency_proof(first, second)
            proof.verify(first_root, second_root)
        except (CryptoError, store_errors.StoreError):
            self.findings.add(
                Finding(
                    "checkpoint-not-consistent",
                    f"{where}: not consistent with the checkpoint at size {first}",
                    size=second,
                )
            )

    @property
    def log_size(self) -> int:
        if self._log_size is None:
            self._log_size = self.log.size()
        return self._log_size

    # --- 4: blobs ------------------------------------------------------------------------

    def _check_blob(self, blob_id: str, where: str, *, index: int | None = None) -> None:
        if self.blobs is None:
            return
        try:
            key = bytes.fromhex(blob_id)
        except ValueError:
            return
        if key in self.checked_blobs:
            return
        self.checked_blobs.add(key)
        try:
            exists = self.blobs.exists(blob_id)
        except ValueError:
            return
        if not exists:
            self.findings.add(
                Finding("blob-missing", f"{where}, which is not stored", index=index, blob=blob_id)
            )
            return
        digest = hashlib.sha256()
        try:
            for chunk in self.blobs.read(blob_id):
                digest.update(chunk)
        except store_errors.BlobNotFound:
            self.findings.add(
                Finding("blob-missing", f"{where}, which is not stored", index=index, blob=blob_id)
            )
            return
        if digest.hexdigest() != blob_id:
            self.findings.add(
                Finding(
                    "blob-hash-mismatch",
                    f"blob {blob_id}: its bytes do not hash to its id",
                    index=index,
                    blob=blob_id,
                )
            )

    def _check_recorded_blobs(self) -> None:
        if self.blobs is None:
            return
        for blob_id in BlobIndex(self.engine).iter_ids(chunk=_CHUNK):
            self._check_blob(blob_id, f"blob {blob_id} is recorded")

    def _check_inline_rows(self) -> None:
        # A header or inline body row is written only in the transaction that
        # logs the entry naming it: a row no entry names outlived its entry.
        for blob_id in InlineBlobs(self.engine).iter_ids(chunk=_CHUNK):
            if bytes.fromhex(blob_id) not in self.named_blobs:
                self.findings.add(
                    Finding(
                        "inline-blob-unnamed",
                        f"stored header or body {blob_id} is named by no entry: "
                        "entries it was logged with are gone",
                        blob=blob_id,
                    )
                )


AuditProgress = Callable[[int, int], None]
"""``progress(entries_checked, entries_in_the_log)``, called as the audit advances."""


def audit(
    *,
    log: LogStore,
    engine: Engine,
    blobs: BlobStore | None,
    verifier_key: str | None,
    origin: str | None = None,
    granularity: Granularity | None = None,
    progress: AuditProgress | None = None,
    witnesses: Mapping[str, cosignature.CosignerKey] | None = None,
) -> list[Finding]:
    """Audit the log in ``engine`` (and the blobs in ``blobs``); return every finding.

    ``verifier_key`` is the pinned log key (None: signatures are not checked,
    which is itself a finding); ``origin`` the expected origin (None: the key's
    name); ``granularity`` the time granularity to check times against (None:
    not checked); ``blobs`` None skips the blob checks; ``progress`` is told
    how many entries (with their blobs) have been checked; ``witnesses``
    the configured log witnesses' keys by ``<name>+<hex key ID>``, whose kept
    cosignatures are verified. An empty list means everything holds. Raises
    only what the database raises.
    """
    return _Auditor(
        log=log,
        engine=engine,
        blobs=blobs,
        verifier_key=verifier_key,
        origin=origin,
        granularity=granularity,
        progress=progress,
        witnesses=witnesses,
    ).run()
