"""A monitor of a Testimony log (docs/protocol.md §9, §12, §13; docs/monitor.md).

One pass (:func:`watch_once`):

1. ``GET /api/v1/log/checkpoint``, verified with the pinned log key; every
   checkpoint seen is kept.
2. Checked against the latest checkpoint seen before: of the same size, the
   same root; larger, ``GET /api/v1/log/proof/consistency?from=&to=`` from
   the old size verifies; smaller (a stale view), the proof from it to the
   latest verifies. The latest is by induction consistent with every
   checkpoint seen before it, so the new one is too. Two signed checkpoints
   that are not shown consistent are a fork: both notes and the proof are
   kept in ``forks/`` and :class:`Fork` is raised (the command exits 3).
3. ``GET /api/v1/log/entries`` up to the checkpoint (only the entries not
   held already), and the root rebuilt from them must be the checkpoint's.
4. §12's governance entries replayed with
   :class:`~testimony.crypto.governance.Governance`: who has standing, the
   proposals waiting for approvals, revocations, shreds, and any entry the
   rules refuse (which the server should never have logged).

State folder (one log per folder)::

    lock               held during a pass
    log.json           {"log_key"}: the log this folder watches
    latest.txt         the latest checkpoint, consistent with all seen before it
    checkpoints/<size>-<hex SHA-256 of the note text, 16>.txt
                       every checkpoint seen, as served (cosignatures too)
    entries.txt        the log's entries up to latest.txt, one b64u a line
    forks/<time>-<size>-<size>.json
                       {"why", "log_key", "server", "seen_at", "earlier", "later",
                        "proof": {"from", "to", "path"}}

Everything in it is public: the log's checkpoints and entries.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from testimony.crypto import checkpoint as checkpoints
from testimony.crypto import cosignature, merkle
from testimony.crypto.encoding import b64u_decode, b64u_encode, sha256
from testimony.crypto.entries import ReviewerEntry, ShredEntry, parse_entry
from testimony.crypto.errors import CryptoError, ProofError
from testimony.crypto.governance import Governance
from testimony.crypto.rfc3339 import format_time

from ..bundle.verify import GOVERNANCE_TYPES
from ..console import first_line
from ..errors import UnexpectedAnswer
from ..http import ServerClient
from .files import lock_folder, private_folder, write_atomic

__all__ = ["PAGE", "Fork", "MonitorError", "Pass", "governance_lines", "watch_once"]

PAGE = 1000
"""Entries ``GET /api/v1/log/entries`` answers at most (§9)."""


class MonitorError(Exception):
    """A pass could not be completed (the message says why)."""

    code = "monitor-error"


class Fork(Exception):
    """Two checkpoints signed by the log's key that are not consistent: the
    evidence is kept in :attr:`path`."""

    code = "log-fork"

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


@dataclass
class Pass:
    """What one pass found: the checkpoint, and the lines to print."""

    checkpoint: checkpoints.Checkpoint
    lines: list[str] = field(default_factory=list)


def watch_once(
    server: str,
    log_key: str,
    state: Path,
    *,
    witnesses: Sequence[cosignature.CosignerKey] = (),
    transport: httpx.BaseTransport | None = None,
) -> Pass:
    """One pass of the monitor over ``server`` (see the module docstring).

    Raises :class:`Fork` for two checkpoints that are not consistent,
    :class:`MonitorError` for a checkpoint that does not verify, entries
    that do not rebuild it or a state folder of another log, and the shared
    client's errors for a server that cannot be reached or refuses.
    """
    private_folder(state)
    with lock_folder(state), ServerClient(server, transport=transport) as client:
        _claim(state, log_key)
        note = client.request("GET", "/api/v1/log/checkpoint", what="the log's checkpoint").text
        try:
            now = checkpoints.verify(note, log_key)
        except CryptoError as error:
            raise MonitorError(
                f"the server's checkpoint does not verify with the log key ({error.code})"
            ) from None
        _keep_seen(state, note, now)
        done = Pass(now)
        latest_note = _read_latest(state, log_key)
        latest = checkpoints.verify(latest_note, log_key) if latest_note is not None else None
        seen_at = format_time(datetime.now(UTC).replace(microsecond=0))

        def fork(
            why: str, earlier: str, later: str, first: int, second: int, path: list[bytes]
        ) -> Fork:
            record = {
                "why": why,
                "log_key": log_key,
                "server": server,
                "seen_at": seen_at,
                "earlier": earlier,
                "later": later,
                "proof": {"from": first, "to": second, "path": [node.hex() for node in path]},
            }
            folder = private_folder(state / "forks")
            stamp = seen_at.replace("-", "").replace(":", "")
            target = folder / f"{stamp}-{first}-{second}.json"
            write_atomic(
                target, json.dumps(record, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"
            )
            return Fork(
                f"FORK: the log {now.origin} signed checkpoints of sizes {first} and {second} "
                f"that are not consistent ({why}); the evidence is kept in {target}",
                target,
            )

        head, head_note = now, note
        if latest is None or latest_note is None:
            done.lines.append(f"checkpoint {_describe(now)}: the first this monitor has seen")
        elif now.size == latest.size:
            if now.root != latest.root:
                raise fork("two roots at one size", latest_note, note, now.size, now.size, [])
            done.lines.append(f"checkpoint {_describe(now)}: the same tree as seen before")
        elif now.size > latest.size:
            path = _consistency(client, latest.size, now.size) if latest.size else []
            try:
                if latest.size:
                    merkle.verify_consistency(latest.size, now.size, latest.root, now.root, path)
            except ProofError:
                raise fork(
                    "the consistency proof does not verify",
                    latest_note,
                    note,
                    latest.size,
                    now.size,
                    path,
                ) from None
            done.lines.append(
                f"checkpoint {_describe(now)}: consistent with every checkpoint seen before "
                f"(the latest of size {latest.size})"
            )
        else:
            path = _consistency(client, now.size, latest.size) if now.size else []
            try:
                if now.size:
                    merkle.verify_consistency(now.size, latest.size, now.root, latest.root, path)
            except ProofError:
                raise fork(
                    "the consistency proof does not verify",
                    note,
                    latest_note,
                    now.size,
                    latest.size,
                    path,
                ) from None
            head, head_note = latest, latest_note
            done.lines.append(
                f"checkpoint {_describe(now)}: STALE, older than the size {latest.size} seen "
                "before (consistent with it)"
            )
        if witnesses:
            done.lines.append(_cosigned(note, witnesses))
        entries = _entries(state, client, latest, head)
        done.lines.append(f"entries {len(entries)}: they rebuild the checkpoint's root")
        done.lines.extend(governance_lines(entries))
        write_atomic(
            state / "entries.txt", "".join(b64u_encode(e) + "\n" for e in entries).encode()
        )
        write_atomic(state / "latest.txt", head_note.encode("utf-8"))
        return done


def _describe(checkpoint: checkpoints.Checkpoint) -> str:
    return f"{checkpoint.origin} size {checkpoint.size} at {format_time(checkpoint.time)}"


def _claim(state: Path, log_key: str) -> None:
    """Record the log this folder watches, or refuse a folder of another log."""
    path = state / "log.json"
    if path.exists():
        try:
            watched = json.loads(path.read_bytes()).get("log_key")
        except (ValueError, AttributeError):
            watched = None
        if watched != log_key.strip():
            raise MonitorError(f"{state} watches another log (another log key)")
        return
    write_atomic(path, json.dumps({"log_key": log_key.strip()}).encode("utf-8") + b"\n")


def _keep_seen(state: Path, note: str, checkpoint: checkpoints.Checkpoint) -> None:
    folder = private_folder(state / "checkpoints")
    digest = sha256(checkpoint.note_text().encode("utf-8")).hex()[:16]
    path = folder / f"{checkpoint.size}-{digest}.txt"
    if not path.exists():
        write_atomic(path, note.encode("utf-8"))


def _read_latest(state: Path, log_key: str) -> str | None:
    path = state / "latest.txt"
    if not path.exists():
        return None
    note = path.read_text(encoding="utf-8")
    try:
        checkpoints.verify(note, log_key)
    except CryptoError:
        raise MonitorError(f"{path} is not a checkpoint of this log") from None
    return note


def _consistency(client: ServerClient, first: int, second: int) -> list[bytes]:
    """The server's consistency proof from ``first`` to ``second`` (§9)."""
    what = "the consistency proof"
    proof = client.get_json(
        "/api/v1/log/proof/consistency", what=what, params={"from": first, "to": second}
    )
    path = proof.get("path") if isinstance(proof, dict) else None
    if (
        not isinstance(proof, dict)
        or proof.get("from") != first
        or proof.get("to") != second
        or not isinstance(path, list)
        or not all(isinstance(node, str) and len(node) == 64 for node in path)
    ):
        raise UnexpectedAnswer(f"{what}: not a proof from {first} to {second}")
    try:
        return [bytes.fromhex(node) for node in path]
    except ValueError:
        raise UnexpectedAnswer(f"{what}: a hash is not hex") from None


def _entries(
    state: Path,
    client: ServerClient,
    latest: checkpoints.Checkpoint | None,
    head: checkpoints.Checkpoint,
) -> list[bytes]:
    """The log's first ``head.size`` entries: those held (if they rebuild the
    latest checkpoint), then the rest from the server; they must rebuild
    ``head``'s root."""
    held: list[bytes] = []
    path = state / "entries.txt"
    if latest is not None and path.exists():
        with contextlib.suppress(CryptoError, UnicodeDecodeError):
            held = [b64u_decode(line) for line in path.read_text("ascii").split()]
        held = held[: latest.size]
        if merkle.root([merkle.leaf_hash(e) for e in held]) != latest.root or (
            len(held) != latest.size
        ):
            held = []  # not the entries of the latest checkpoint: read them again
    held = held[: head.size]
    what = "the log's entries"
    for start in range(len(held), head.size, PAGE):
        end = min(head.size, start + PAGE)
        page = client.get_json(
            "/api/v1/log/entries", what=what, params={"start": start, "end": end}
        )
        listed = page.get("entries") if isinstance(page, dict) else None
        if not isinstance(listed, list) or len(listed) != end - start:
            raise UnexpectedAnswer(f"{what}: not the {end - start} entries asked for")
        try:
            held.extend(b64u_decode(item) for item in listed)
        except (CryptoError, TypeError):
            raise UnexpectedAnswer(f"{what}: an entry is not b64u") from None
    if merkle.root([merkle.leaf_hash(e) for e in held]) != head.root:
        raise MonitorError(
            f"the log's {head.size} entries the server gives do not rebuild its checkpoint"
        )
    return held


def _cosigned(note: str, witnesses: Sequence[cosignature.CosignerKey]) -> str:
    try:
        found = cosignature.cosignatures(note, witnesses)
    except CryptoError as error:
        raise MonitorError(f"the checkpoint's cosignatures: {first_line(error)}") from None
    names = ", ".join(c.name for c in found) or "none"
    return f"cosignatures {len(found)} of {len(witnesses)} pinned witnesses: {names}"


def governance_lines(entries: Sequence[bytes]) -> list[str]:
    """§12's replay of ``entries`` (the whole log from entry 0), as lines:
    standing, pending proposals, revocations, shreds, refused entries."""
    governance = Governance()
    index_of: dict[str, int] = {}
    effective: dict[str, int] = {}
    refused: list[str] = []
    for index, data in enumerate(entries):
        entry_id = merkle.leaf_hash(data).hex()
        index_of[entry_id] = index
        try:
            entry = parse_entry(data)
        except CryptoError:
            refused.append(f"refused entry {index}: not an entry of the protocol")
            continue
        if entry.TYPE not in GOVERNANCE_TYPES:
            continue
        try:
            for proposal_id in governance.apply(data):
                effective[proposal_id] = index
        except CryptoError as error:
            refused.append(f"refused {entry.TYPE} at {index}: {first_line(error)}")
    lines: list[str] = []
    if governance.policy is None:
        lines.append("standing none: no organisation has been founded in this log")
    else:
        standing = governance.standing()
        held = ", ".join(f"{member} ({role})" for member, role in sorted(standing.items()))
        lines.append(f"standing {len(standing)}: {held}")
    admins = max(1, len(governance.admins()))
    for proposal in governance.proposals.values():
        at = index_of.get(proposal.id, proposal.index)
        if proposal.effective_at is None:
            needed = max(1, min(proposal.quorum, admins))
            subject = (
                f" of {proposal.entry.actor}" if isinstance(proposal.entry, ReviewerEntry) else ""
            )
            lines.append(
                f"pending {proposal.kind}{subject} at {at}: "
                f"{len(proposal.approvals)} of {needed} approvals"
            )
    for member in sorted(governance.members.values(), key=lambda m: m.id):
        if member.revoked:
            when = [
                effective[p.id]
                for p in governance.proposals.values()
                if p.kind == "revoke"
                and getattr(p.entry, "subject", None) == member.id
                and p.id in effective
            ]
            lines.append(f"revoked {member.id} ({member.role}) at {min(when, default='?')}")
    for proposal in governance.proposals.values():
        if isinstance(proposal.entry, ShredEntry):
            state = (
                f"in effect at {effective[proposal.id]}"
                if proposal.id in effective
                else "waiting for approvals"
            )
            lines.append(
                f"shred at {index_of.get(proposal.id, proposal.index)}: "
                f"{len(proposal.entry.blobs)} blobs, {state}"
            )
    lines.extend(refused)
    return lines
