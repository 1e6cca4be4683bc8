"""``testimony sync``: the server's log into the workstation's cache, verified,
and everything in it this reviewer may read, opened (docs/workstation.md
"Sync"; docs/protocol.md §9, §10, §12; docs/reviewers-api.md).

One sync, in order, each step committed to the cache as it goes, so that an
interrupted sync is taken up by the next with nothing lost or kept twice:

1. **The log** (:func:`sync_log`). The checkpoint, its signature verified
   with the pinned log key; against the last checkpoint this workstation
   verified, a consistency proof (``GET /api/v1/log/proof/consistency``)
   — or, for a tree no larger, the workstation's own entries. Two trees that
   cannot both be true are a **fork**: both signed checkpoints are kept in
   the cache's ``forks`` table as evidence, nothing else changes, and the
   sync stops with ``log-fork``. Then the new entries, in pages of 1000
   (``GET /api/v1/log/entries``), kept aside until their leaf hashes rebuild
   the checkpoint's root, then stored with it; each is read with
   :func:`testimony.crypto.entries.parse_entry`.
2. **Standing and grants**: the governance entries replayed
   (:func:`testimony.workstation.org.replay`); every ``grant`` addressed to
   this reviewer is opened with its box key and its group secrets and intake
   seeds join the cache's keyring; every new ``annotation`` is judged at its
   place in the log (its actor's standing and signature then).
3. **Ciphertext** (a reviewer or an admin with standing): the submissions and
   follow-ups not yet read whose intake key this workstation holds, in
   requests of 200 (``POST /api/v1/ciphertext``, which logs an ``access``
   entry first); each header and body checked against its entry's hashes,
   opened with the intake seed (:func:`testimony.crypto.submission.open_submission`)
   and kept as a record; bodies not sent inline fetched as blobs.
4. **Annotations**, opened with the group secret of their epoch.
5. **Attachments**: each blob fetched (``GET /api/v1/blobs/<id>``, checked to
   hash to its id) and kept sealed, as served; the attachment's descriptor
   (its key) is in the record, to open it on demand with
   :func:`testimony.crypto.submission.open_attachment`. The fetches start as
   soon as step 3 has kept the records naming them, a few at a time on
   threads of their own (:class:`_Fetcher`), and go on while step 3 opens the
   next testimonies; only this thread writes to the cache.

Records (``Cache.put_record``), read by the other parts of the workstation::

    submission  <id>  {"index", "received", "intake_key", "witness": b64u | null,
                       "witness_box": hex of the S1 key | null, "statement": <the opened manifest>,
                       "attachments": [{"blob", "descriptor"}], "followups": [ids]}
    followup    <id>  {"index", "parent", "received", "manifest", "attachments"}
    annotation  <id>  {"index", "actor", "received", "epoch", "payload"}
    grant       <id>  {"index", "actor", "epoch", "received"}     (grants to this reviewer)

An item that cannot be read is recorded as ``{"index", "unreadable": <code>}``
(``no-intake-key``, ``no-group-key``, ``ciphertext-mismatch``, ``unopenable``,
``body-missing``, ``not-authorised``, ``payload-open-failed``,
``grant-unopenable``) and tried again by the first sync after the keyring
has changed. Nothing but the server's own log key is trusted: a server that
lies is caught by the checks above, or cannot read what it serves.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from testimony.client.console import Progress
from testimony.client.errors import ServerRefused, UnexpectedAnswer
from testimony.crypto import checkpoint as checkpoints
from testimony.crypto import merkle
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.entries import (
    AnnotationEntry,
    FollowupEntry,
    GrantEntry,
    SubmissionEntry,
    parse_entry,
)
from testimony.crypto.errors import CryptoError, ProofError
from testimony.crypto.governance import Governance
from testimony.crypto.keyring import Identity, group_key, open_grant, open_payload
from testimony.crypto.rfc3339 import format_time
from testimony.crypto.submission import open_submission

from .cache import Cache
from .home import WorkstationError
from .org import Row, replay
from .session import MAX_CIPHERTEXT_SUBJECTS, MAX_LOG_PAGE, ReviewerClient, VerifiedCheckpoint

__all__ = ["LogForked", "LogReport", "SyncReport", "sync", "sync_log"]

_READERS = ("reviewer", "admin")
"""The roles the server hands ciphertext to (docs/reviewers-api.md)."""
_BATCH = 500
BLOB_THREADS = 4
"""Blobs fetched at once: each request costs the server a few milliseconds
before its first byte (the session's and the access entry's checks)."""
_BLOB_WINDOW_BYTES = 64 << 20
"""Bytes of blobs (by their descriptors' sizes) fetched at once, at most."""
_BLOB_COMMIT_BYTES = 32 << 20
"""Bytes of fetched blobs kept per transaction."""
Fetched = bytes | ServerRefused | UnexpectedAnswer


class LogForked(WorkstationError):
    """The server has shown two histories that cannot both be true."""

    code = "log-fork"


def _nothing(_phase: str, _done: int, _total: int) -> None:
    pass


# --- 1. the log ------------------------------------------------------------------------


@dataclass(frozen=True)
class LogReport:
    """The cached log after :func:`sync_log`."""

    size: int
    new: int
    malformed: int = 0
    """New entries that are no entry of the protocol (kept, read by nothing)."""


def _fork(cache: Cache, ours: str, theirs: VerifiedCheckpoint, reason: str) -> LogForked:
    if (ours, theirs.note, reason) not in cache.forks():
        with cache.transaction():
            cache.add_fork(ours, theirs.note, reason)
    return LogForked(
        f"LOG FORK: {reason}. The server has signed two histories that cannot both be true; "
        "both checkpoints are kept in this workstation's cache as evidence and nothing else "
        "changed. Tell the organisation's admins; do not trust this server until it is explained",
        "log-fork",
    )


def _check_consistent(
    cache: Cache, client: ReviewerClient, ours: str, served: VerifiedCheckpoint
) -> None:
    """Raise :class:`LogForked` unless the served tree extends the one verified
    before (``ours``); raise ``log-rollback`` for an honest but older tree."""
    last = checkpoints.verify(ours, client.log_key)
    if served.size < last.size:
        if merkle.root(cache.entry_ids(served.size)) != served.root:
            raise _fork(
                cache,
                ours,
                served,
                f"its tree of {served.size} entries is not the start of the tree of "
                f"{last.size} it signed before",
            )
        raise WorkstationError(
            f"the server shows a tree of {served.size} entries, older than the {last.size} "
            "this workstation verified (a rollback, or a stale copy); nothing changed",
            "log-rollback",
        )
    if served.size == last.size:
        if served.root != last.root:
            raise _fork(cache, ours, served, f"two different trees of {served.size} entries")
        return
    if last.size == 0:
        return  # nothing to be consistent with
    path = client.consistency(last.size, served.size)
    try:
        merkle.verify_consistency(last.size, served.size, last.root, served.root, path)
    except ProofError:
        raise _fork(
            cache,
            ours,
            served,
            f"its tree of {served.size} entries does not extend the tree of {last.size} "
            "it signed before (the consistency proof fails)",
        ) from None


def _entry_type(data: bytes) -> str:
    try:
        return parse_entry(data).TYPE
    except CryptoError:
        return "malformed"


def sync_log(cache: Cache, client: ReviewerClient, progress: Progress = _nothing) -> LogReport:
    """Step 1 of the module docstring: the log, verified, into the cache.

    Raises :class:`LogForked` (``log-fork``), :class:`WorkstationError`
    (``log-rollback``, ``log-entries-mismatch``), ``LogKeyMismatch`` for a
    server serving another log key, a ``CheckpointError`` for a checkpoint
    the pinned key did not sign, and the client's errors.
    """
    client.check_log_key()
    served = client.checkpoint()
    ours = cache.latest_checkpoint()
    if ours is not None:
        _check_consistent(cache, client, ours, served)
    size = cache.log_size()
    if served.size <= size:
        if served.size == size and ours is not None:
            with cache.transaction():
                cache.add_checkpoint(served.size, served.note)  # the same tree, seen later
        return LogReport(size, 0)

    staged_end = cache.staged_end()
    first_staged = next(cache.staged_entries(), (size, b""))[0]
    if staged_end is None or first_staged != size or staged_end > served.size:
        with cache.transaction():
            cache.clear_staged()  # nothing usable from an earlier attempt
        staged_end = size
    total = served.size - size
    for start in range(staged_end, served.size, MAX_LOG_PAGE):
        end = min(start + MAX_LOG_PAGE, served.size)
        page = client.log_entries(start, end)
        with cache.transaction():
            cache.stage_entries(start, page)
        progress("log entries", end - size, total)

    leaves = cache.entry_ids()
    leaves += [merkle.leaf_hash(data) for _index, data in cache.staged_entries()]
    if merkle.root(leaves) != served.root:
        with cache.transaction():
            cache.clear_staged()
        raise WorkstationError(
            f"the {total} entries the server serves do not rebuild the tree its checkpoint "
            "signs; nothing of them was kept",
            "log-entries-mismatch",
        )
    malformed = 0
    with cache.transaction():
        rows: list[tuple[int, str, str, bytes]] = []
        for index, data in cache.staged_entries():
            kind = _entry_type(data)
            malformed += kind == "malformed"
            rows.append((index, leaves[index].hex(), kind, data))
            if len(rows) == MAX_LOG_PAGE:
                cache.add_entries(rows)
                rows = []
        cache.add_entries(rows)
        cache.add_checkpoint(served.size, served.note)
        cache.clear_staged()
    return LogReport(served.size, total, malformed)


# --- 2 to 5 -----------------------------------------------------------------------------


@dataclass
class SyncReport:
    """What one sync did."""

    log: LogReport
    role: str | None
    """This reviewer's role with standing, or None (not enrolled yet, or revoked)."""
    grants: int = 0
    submissions: int = 0
    followups: int = 0
    annotations: int = 0
    blobs: int = 0
    unreadable: dict[str, int] = field(default_factory=dict)
    """Items recorded unreadable in this sync, by reason."""
    blob_failures: int = 0
    """Blobs the server would not serve, or served wrong (tried again next time)."""
    ignored: list[int] = field(default_factory=list)
    """Log indexes of entries §12's rules refuse (an honest server logs none)."""


def _keyring_mark(cache: Cache) -> str:
    epochs = ",".join(str(e) for e in sorted(cache.groups()))
    return epochs + "/" + ",".join(sorted(cache.intake_seeds()))


class _Sync:
    def __init__(
        self, cache: Cache, client: ReviewerClient, identity: Identity, progress: Progress
    ) -> None:
        self.cache, self.client, self.identity, self.progress = cache, client, identity, progress
        self.retry = False
        """The keyring changed since the last sync: what could not be read is asked for again."""
        self.report = SyncReport(LogReport(0, 0), None)
        self.fetcher = _Fetcher(client)

    def unreadable(self, kind: str, entry_id: str, index: int, reason: str) -> None:
        value = {"index": index, "unreadable": reason}
        if self.cache.record(kind, entry_id) != value:
            self.cache.put_record(kind, entry_id, value)
        self.report.unreadable[reason] = self.report.unreadable.get(reason, 0) + 1

    def _unread(self, kind: str, entry_id: str) -> str | None:
        """Why the item was not read before (None: never tried)."""
        record = self.cache.record(kind, entry_id)
        return str(record.get("unreadable")) if isinstance(record, dict) else None

    def worth_asking(self, kind: str, entry_id: str) -> bool:
        """Whether to ask the server again for an item whose intake key is held:
        each request logs an ``access`` entry, so an item the keyring already
        failed to open waits until the keyring changes."""
        return self._worth(self._unread(kind, entry_id))

    def _worth(self, before: object) -> bool:
        """:meth:`worth_asking`, given why the item was not read before (None: never tried)."""
        return before is None or before == "no-intake-key" or self.retry

    # 2. standing, grants, and the annotations' authors

    def governance(self) -> tuple[Governance, dict[str, str | None], list[Row]]:
        me = self.identity.id
        # What is not read yet, and what could not be: opening it again costs no request.
        annotations: list[Row] = [
            (index, entry_id, "annotation", data)
            for index, entry_id, data in self.cache.pending(
                "annotation", "annotation", retry_unreadable=True
            )
        ]
        grants = {
            entry_id
            for _index, entry_id, _data in self.cache.pending(
                "grant", "grant", retry_unreadable=True
            )
        }
        judged: dict[str, str | None] = {}
        mine: list[tuple[int, str, GrantEntry]] = []

        def visit(governance: Governance, row: Row, applied: bool) -> None:
            index, entry_id, kind, data = row
            if kind == "annotation":
                try:
                    governance.check(data)
                    judged[entry_id] = None
                except CryptoError:
                    judged[entry_id] = "not-authorised"
            elif kind == "grant" and applied and entry_id in grants:
                entry = parse_entry(data)
                if isinstance(entry, GrantEntry) and entry.subject == me:
                    mine.append((index, entry_id, entry))

        replayed = replay(self.cache, also=annotations, visit=visit)
        self.report.ignored = replayed.ignored
        for index, entry_id, entry in mine:
            try:
                opened = open_grant(self.identity.box_seed, b64u_encode(entry.sealed))
            except CryptoError:
                with self.cache.transaction():
                    self.unreadable("grant", entry_id, index, "grant-unopenable")
                continue
            with self.cache.transaction():
                for epoch, secret in opened.groups.items():
                    self.cache.add_group(epoch, secret)
                for key_id, seed in opened.intake.items():
                    self.cache.add_intake_seed(key_id, seed)
                self.cache.put_record(
                    "grant",
                    entry_id,
                    {
                        "index": index,
                        "actor": entry.actor,
                        "epoch": entry.epoch,
                        "received": _time(entry.received),
                    },
                )
            self.report.grants += 1
        self.retry = self.cache.get("keyring_mark") != _keyring_mark(self.cache)
        return replayed.governance, judged, annotations

    # 3. ciphertext

    def ciphertext(self) -> None:
        seeds = self.cache.intake_seeds()
        submissions: dict[str, tuple[int, SubmissionEntry]] = {}
        followups: dict[str, tuple[int, FollowupEntry]] = {}
        wanted: dict[str, int] = {}  # submission id -> log index, to ask for
        with self.cache.transaction():
            for index, entry_id, data, before in self.cache.pending_reasons(
                "submission", "submission"
            ):
                entry = parse_entry(data)
                if not isinstance(entry, SubmissionEntry):
                    continue
                if entry.intake_key not in seeds:
                    self.unreadable("submission", entry_id, index, "no-intake-key")
                    continue
                if not self._worth(before):
                    continue
                submissions[entry_id] = (index, entry)
                wanted[entry_id] = index
            for index, entry_id, data, before in self.cache.pending_reasons("followup", "followup"):
                entry = parse_entry(data)
                if not isinstance(entry, FollowupEntry):
                    continue
                if entry.intake_key not in seeds:
                    self.unreadable("followup", entry_id, index, "no-intake-key")
                    continue
                if not self._worth(before):
                    continue
                logged = self.cache.entry_by_id(entry.parent)
                if logged is None or logged[1] != "submission":
                    continue  # an honest log names a logged submission
                followups[entry_id] = (index, entry)
                wanted.setdefault(entry.parent, logged[0])
        order = sorted(wanted, key=wanted.__getitem__)
        done = 0
        for start in range(0, len(order), MAX_CIPHERTEXT_SUBJECTS):
            batch = order[start : start + MAX_CIPHERTEXT_SUBJECTS]
            answer = self.client.ciphertext(batch)
            opened = [
                self.open_item(item, submissions, followups, seeds) for item in answer["items"]
            ]
            with self.cache.transaction():
                blobs = self.keep(opened, batch)
            self.want(blobs)  # fetched while the next batches are opened
            self.take(wait=False)
            done += len(batch)
            self.progress("testimonies", done, len(order))

    def open_item(
        self,
        item: dict[str, Any],
        submissions: dict[str, tuple[int, SubmissionEntry]],
        followups: dict[str, tuple[int, FollowupEntry]],
        seeds: dict[str, bytes],
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """The records of one item of a ciphertext answer (network: bodies not inline)."""
        records: list[tuple[str, str, dict[str, Any]]] = []
        if item["id"] in submissions:
            index, entry = submissions[item["id"]]
            manifest = self.open_sealed(item["id"], entry, item["header"], item["body"], seeds)
            if isinstance(manifest, str):
                records.append(("submission", item["id"], {"index": index, "unreadable": manifest}))
            else:
                records.append(
                    (
                        "submission",
                        item["id"],
                        {
                            "index": index,
                            "received": _time(entry.received),
                            "intake_key": entry.intake_key,
                            "witness": None
                            if entry.witness is None
                            else b64u_encode(entry.witness),
                            "witness_box": _box_key(item.get("witness_box"), entry.witness_box),
                            "statement": manifest,
                            "attachments": _attachments(entry.attachments, manifest),
                            "followups": [],
                        },
                    )
                )
        for sent in item["followups"]:
            if sent["id"] not in followups:
                continue  # read already, or logged after this sync's checkpoint
            index, followup = followups[sent["id"]]
            if followup.parent != item["id"]:
                continue
            manifest = self.open_sealed(item["id"], followup, sent["header"], sent["body"], seeds)
            if isinstance(manifest, str):
                records.append(("followup", sent["id"], {"index": index, "unreadable": manifest}))
                continue
            records.append(
                (
                    "followup",
                    sent["id"],
                    {
                        "index": index,
                        "parent": followup.parent,
                        "received": _time(followup.received),
                        "manifest": manifest,
                        "attachments": _attachments(followup.attachments, manifest),
                    },
                )
            )
        return records

    def open_sealed(
        self,
        submission_id: str,
        entry: SubmissionEntry | FollowupEntry,
        header: bytes,
        body: bytes | None,
        seeds: dict[str, bytes],
    ) -> dict[str, Any] | str:
        """The opened manifest, or the reason it cannot be read."""
        if hashlib.sha256(header).hexdigest() != entry.header:
            return "ciphertext-mismatch"
        if body is None:
            subject = entry.parent if isinstance(entry, FollowupEntry) else submission_id
            try:
                body = self.client.blob(entry.body, subject=subject)  # hashes to entry.body
            except ServerRefused as refused:
                if refused.status in (403, 404):
                    return "body-missing"
                raise
        elif hashlib.sha256(body).hexdigest() != entry.body:
            return "ciphertext-mismatch"
        seed = seeds.get(entry.intake_key)
        if seed is None:
            return "no-intake-key"
        try:
            return open_submission(seed, header, body).manifest
        except CryptoError:
            return "unopenable"

    def keep(
        self, opened: Iterable[list[tuple[str, str, dict[str, Any]]]], batch: Sequence[str]
    ) -> list[tuple[str, str, int | None]]:
        """Keep the records of one ciphertext answer (inside the caller's
        transaction): one statement for the records, one for the blobs to
        fetch. Returns those blobs: ``(id, subject, size hint)``."""
        fresh: dict[tuple[str, str], dict[str, Any]] = {}
        blobs: list[tuple[str, str, int | None]] = []
        for records in opened:
            for kind, record_id, value in records:
                if "unreadable" in value:
                    self.unreadable(kind, record_id, value["index"], value["unreadable"])
                    continue
                fresh[(kind, record_id)] = value
                subject = record_id if kind == "submission" else value["parent"]
                sizes = _sizes(value)
                blobs += [(a["blob"], subject, sizes.get(a["blob"])) for a in value["attachments"]]
                if kind == "submission":
                    self.report.submissions += 1
                else:
                    self.report.followups += 1
        self.link_followups(batch, fresh)
        self.cache.put_records((kind, i, value) for (kind, i), value in fresh.items())
        self.cache.want_blobs((blob_id, subject) for blob_id, subject, _size in blobs)
        return blobs

    def link_followups(self, parents: Sequence[str], fresh: dict[tuple[str, str], Any]) -> None:
        """List in each readable submission of ``parents`` the ids of its read
        follow-ups, in log order: those kept before and those in ``fresh``, the
        records about to be kept (whose submissions' records are updated there)."""
        linked: dict[str, dict[str, int]] = {parent: {} for parent in parents}
        for followup_id, value in self.cache.records_in("followup", "parent", list(parents)):
            linked[value["parent"]][followup_id] = value["index"]
        for (kind, record_id), value in fresh.items():
            if kind == "followup" and value["parent"] in linked:
                linked[value["parent"]][record_id] = value["index"]
        for parent, followups in linked.items():
            ids = sorted(followups, key=followups.__getitem__)
            record = fresh.get(("submission", parent))
            if record is not None:
                record["followups"] = ids
                continue
            record = self.cache.record("submission", parent)
            if not isinstance(record, dict) or "unreadable" in record:
                continue
            if record.get("followups") != ids:
                fresh[("submission", parent)] = {**record, "followups": ids}

    # 4. annotations

    def annotations(self, judged: dict[str, str | None], rows: Sequence[Row]) -> None:
        groups = self.cache.groups()
        for start in range(0, len(rows), _BATCH):
            with self.cache.transaction():
                for index, entry_id, _kind, data in rows[start : start + _BATCH]:
                    entry = parse_entry(data)
                    if not isinstance(entry, AnnotationEntry):
                        continue
                    reason = judged.get(entry_id, "not-authorised")
                    if reason is None and entry.epoch not in groups:
                        reason = "no-group-key"
                    if reason is None:
                        try:
                            key = group_key(groups[entry.epoch], entry.nonce)
                            payload = open_payload(key, b64u_encode(entry.sealed))
                        except CryptoError:
                            reason = "payload-open-failed"
                    if reason is not None:
                        self.unreadable("annotation", entry_id, index, reason)
                        continue
                    self.cache.put_record(
                        "annotation",
                        entry_id,
                        {
                            "index": index,
                            "actor": entry.actor,
                            "received": _time(entry.received),
                            "epoch": entry.epoch,
                            "payload": payload,
                        },
                    )
                    self.report.annotations += 1
            self.progress("annotations", min(start + _BATCH, len(rows)), len(rows))

    # 5. attachments

    def want(self, blobs: Iterable[tuple[str, str, int | None]]) -> None:
        """Start fetching ``(blob id, subject, size hint)``: the fetches run while
        the sync goes on (the server serves blobs while this thread opens
        testimonies); :meth:`take` keeps what has arrived."""
        for blob_id, subject, size in blobs:
            self.fetcher.add(blob_id, subject, size)

    def take(self, *, wait: bool) -> None:
        """Keep the blobs fetched so far (``wait``: every one wanted), a
        transaction every :data:`_BLOB_COMMIT_BYTES` or :data:`_BATCH` blobs."""
        fetched: list[tuple[str, bytes]] = []
        missing: list[tuple[str, str]] = []
        size = 0

        def keep() -> None:
            if fetched or missing:
                with self.cache.transaction():
                    for blob_id, data in fetched:
                        self.cache.put_blob(blob_id, data)
                    for blob_id, problem in missing:
                        self.cache.blob_missing(blob_id, problem)
                self.report.blobs += len(fetched)
                fetched.clear()
                missing.clear()

        try:
            for blob_id, result in self.fetcher.done(wait=wait):
                if isinstance(result, ServerRefused):
                    if result.status == 404:
                        missing.append((blob_id, result.problem))
                    elif result.status == 403:
                        self.report.blob_failures += 1
                    else:
                        raise result
                elif isinstance(result, UnexpectedAnswer):
                    self.report.blob_failures += 1  # bytes that are not the blob: kept nowhere
                else:
                    fetched.append((blob_id, result))
                    size += len(result)
                if size >= _BLOB_COMMIT_BYTES or len(fetched) + len(missing) >= _BATCH:
                    keep()
                    size = 0
                self.progress("attachments", self.fetcher.finished, self.fetcher.added)
        finally:
            keep()  # what was fetched is kept, whatever stops the sync

    def blobs(self) -> None:
        """Fetch every blob still wanted (those of earlier syncs too) and keep them."""
        wanted = [pair for pair in self.cache.wanted_blobs() if not self.fetcher.knows(pair[0])]
        hints = self._size_hints({subject for _blob, subject in wanted})
        self.want((blob_id, subject, hints.get(blob_id)) for blob_id, subject in wanted)
        self.take(wait=True)

    def _size_hints(self, subjects: Iterable[str]) -> dict[str, int]:
        """The sizes the records' descriptors give the blobs of ``subjects``."""
        hints: dict[str, int] = {}
        for subject in subjects:
            record = self.cache.record("submission", subject)
            if not isinstance(record, dict):
                continue
            values = [record]
            for followup_id in record.get("followups") or []:
                values.append(self.cache.record("followup", followup_id))
            for value in values:
                hints.update(_sizes(value))
        return hints


class _Fetcher:
    """Blobs fetched on :data:`BLOB_THREADS` threads sharing the client, in
    the order they were added: a fetch that ends starts the next, so they go
    on while the sync's thread works. At most :data:`_BLOB_WINDOW_BYTES` (by
    the descriptors' sizes; a blob of unknown size counts as the whole window)
    are fetched and not yet taken, besides one larger blob fetched alone.
    Only the sync's thread touches the cache: it takes the results with :meth:`done`."""

    def __init__(self, client: ReviewerClient) -> None:
        self._client = client
        self._lock = threading.RLock()  # a fetch already ended runs its callback at once
        self._pool: ThreadPoolExecutor | None = None
        self._queued: deque[tuple[str, str, int]] = deque()
        self._started: deque[tuple[str, int, Future[Fetched]]] = deque()  # not taken yet
        self._running = 0
        self._held = 0  # bytes started and not taken
        self._closed = False
        self._seen: set[str] = set()
        self.added = 0
        self.finished = 0

    def knows(self, blob_id: str) -> bool:
        """Whether ``blob_id`` was added (fetched or not) in this sync."""
        return blob_id in self._seen

    def add(self, blob_id: str, subject: str, size: int | None) -> None:
        if blob_id in self._seen:
            return
        self._seen.add(blob_id)
        self.added += 1
        with self._lock:
            self._queued.append((blob_id, subject, _BLOB_WINDOW_BYTES if size is None else size))
            self._start()

    def _fetch(self, blob_id: str, subject: str) -> Fetched:
        try:
            return self._client.blob(blob_id, subject=subject)
        except (ServerRefused, UnexpectedAnswer) as refused:
            return refused

    def _start(self) -> None:
        with self._lock:
            while not self._closed and self._queued and self._running < BLOB_THREADS:
                blob_id, subject, cost = self._queued[0]
                if self._held and self._held + cost > _BLOB_WINDOW_BYTES:
                    return
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        BLOB_THREADS, thread_name_prefix="testimony-blob"
                    )
                self._queued.popleft()
                self._running += 1
                self._held += cost
                future = self._pool.submit(self._fetch, blob_id, subject)
                self._started.append((blob_id, cost, future))
                future.add_done_callback(self._ended)

    def _ended(self, _future: Future[Fetched]) -> None:
        with self._lock:
            self._running -= 1
            self._start()

    def done(self, *, wait: bool) -> Iterator[tuple[str, Fetched]]:
        """``(blob id, bytes or the refusal)`` of the fetches finished (``wait``:
        of all of them), in order; a broken connection is raised."""
        while True:
            with self._lock:
                if not self._started or not (wait or self._started[0][2].done()):
                    return
                blob_id, cost, future = self._started[0]
            result = future.result()  # waits, or raises what the fetch raised
            with self._lock:
                self._started.popleft()
                self._held -= cost
                self.finished += 1
                self._start()
            yield blob_id, result

    def close(self) -> None:
        """Stop: the fetches not started are not, the running ones are left to end."""
        with self._lock:
            self._closed = True
            self._queued.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _sizes(value: Any) -> dict[str, int]:
    """The sizes the attachments' descriptors of a record give, by blob id."""
    sizes: dict[str, int] = {}
    attachments = value.get("attachments") if isinstance(value, dict) else None
    for attachment in attachments if isinstance(attachments, list) else []:
        descriptor = attachment.get("descriptor") if isinstance(attachment, dict) else None
        size = descriptor.get("size") if isinstance(descriptor, dict) else None
        if type(size) is int and size >= 0:
            sizes[attachment["blob"]] = size
    return sizes


def _time(moment: Any) -> str | None:
    return None if moment is None else format_time(moment)


def _attachments(named: Iterable[str], manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Each blob the entry names, with the manifest's descriptor of it (None if
    the manifest describes none): in the manifest's order, then the rest."""
    described: dict[str, dict[str, Any]] = {}
    listed = manifest.get("attachments")
    for descriptor in listed if isinstance(listed, list) else []:
        if isinstance(descriptor, dict) and isinstance(descriptor.get("blob"), str):
            described.setdefault(descriptor["blob"], descriptor)
    blobs = set(named)
    ordered = [blob for blob in described if blob in blobs]
    ordered += sorted(blobs - set(ordered))
    return [{"blob": blob, "descriptor": described.get(blob)} for blob in ordered]


def sync(
    cache: Cache,
    client: ReviewerClient,
    identity: Identity,
    *,
    progress: Progress | None = None,
) -> SyncReport:
    """One whole sync (the module docstring's five steps)."""
    step = _Sync(cache, client, identity, progress or _nothing)
    step.report.log = sync_log(cache, client, step.progress)
    governance, judged, annotations = step.governance()
    role = governance.standing().get(identity.id)
    step.report.role = role
    try:
        if role in _READERS:
            step.ciphertext()  # the attachments start to arrive meanwhile
        step.annotations(judged, annotations)
        if role in _READERS:
            step.blobs()
    finally:
        step.fetcher.close()
    with cache.transaction():
        cache.put("keyring_mark", _keyring_mark(cache))
    return step.report


def _box_key(served: object, named: str | None) -> str | None:
    """The witness's box key as hex, if the server served the key the entry
    names (its SHA-256 is the entry's ``witness_box``); else None."""
    if named is None or not isinstance(served, str):
        return None
    try:
        key = b64u_decode(served)
    except CryptoError:
        return None
    return key.hex() if hashlib.sha256(key).hexdigest() == named else None
