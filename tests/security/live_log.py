"""Helpers of the crash and tamper suites (tests/security/test_crash.py,
test_tamper.py): a real ``testimony serve`` in a process group of its own, so
that a test can SIGKILL all of it at once as a power cut or the OOM killer
would; the witnesses' sealing; and what a client holding receipts checks
against the log afterwards, with the protocol's own verification
(``testimony.crypto``) over plain HTTP (``testimony.client``).

Nothing here reads the server's database: the client side sees the server
only as a witness does. Judging the data directory is ``audit_settings`` /
``testimony audit``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testimony.client import tus
from testimony.client.http import ServerClient
from testimony.crypto import checkpoint, hpke, merkle, receipts, submission
from testimony.crypto.encoding import b64u_decode
from testimony.service.server import audit_settings
from testimony.service.settings import Settings
from testimony.service.testing import LiveServer, start_server, testimony_command
from tests.service.courier.support import INTAKE_SEED, ORIGIN

__all__ = [
    "INTAKE_PUBLIC",
    "ORIGIN",
    "LogClient",
    "Sealed",
    "audit_findings",
    "blob_store_problems",
    "kill_group",
    "kill_server",
    "run_testimony",
    "seal",
    "start_in_group",
    "submit",
]

INTAKE_PUBLIC = hpke.public_key(INTAKE_SEED)
GONE_DEADLINE = 30.0
"""Seconds a killed process group gets to disappear."""

# Runs the rest of its arguments as the leader of a new process group.
_OWN_GROUP = [
    sys.executable,
    "-c",
    "import os, sys; os.setpgid(0, 0); os.execv(sys.argv[1], sys.argv[1:])",
]


# --- the server's process group --------------------------------------------------------


def start_in_group(
    data_dir: Path, output: Path, *, workers: int = 1, port: int | None = None
) -> LiveServer:
    """``testimony serve`` on ``data_dir`` (no proof of work), leading its own
    process group: its workers, forked from it, are in that group too. Give
    ``port`` to restart a server where its clients know it."""
    server = start_server(data_dir, output, workers=workers, port=port, wrapper=_OWN_GROUP)
    assert os.getpgid(server.pid) == server.pid != os.getpgrp()
    return server


def _pidfds(pids: Iterable[int]) -> list[int]:
    fds = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            fds.append(os.pidfd_open(pid))
    return fds


def kill_group(pgid: int, *, members: Iterable[int] = ()) -> None:
    """SIGKILL the whole process group ``pgid`` and return once ``pgid`` and
    ``members`` (its known processes) have all exited: no process of it still
    holds a socket, a file lock or a database transaction."""
    fds = _pidfds({pgid, *members})
    try:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        deadline = time.monotonic() + GONE_DEADLINE
        waiting = list(fds)
        while waiting:
            left = deadline - time.monotonic()
            assert left > 0, "a killed server process did not exit"
            ready, _, _ = select.select(waiting, [], [], left)  # readable once it has exited
            waiting = [fd for fd in waiting if fd not in ready]
    finally:
        for fd in fds:
            os.close(fd)


def kill_server(server: LiveServer) -> None:
    """SIGKILL every process of ``server`` at once (see :func:`start_in_group`)."""
    kill_group(server.pid, members=server.processes())
    server.process.wait(timeout=GONE_DEADLINE)
    assert server.process.returncode == -signal.SIGKILL


def run_testimony(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``testimony <args>`` to completion (no ``TESTIMONY_*`` settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTIMONY_")}
    return subprocess.run(
        [*testimony_command(), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


# --- judging the data directory ------------------------------------------------------


def audit_findings(data_dir: Path) -> list[str]:
    """The lines ``testimony audit`` would print for ``data_dir`` (none: it holds)."""
    notes, findings = audit_settings(Settings(data_dir=data_dir))
    assert notes == []
    return [finding.line() for finding in findings]


def blob_store_problems(data_dir: Path) -> list[str]:
    """What is wrong in the blob store's files: a leftover temporary file, or a
    file stored under a blob id its bytes do not hash to (a half-written blob
    that could be referred to). Partial uploads (``partial/``) are resumable
    state, not leftovers."""
    root = data_dir / "blobs"
    problems = [f"temporary file {p.name}" for p in (root / "tmp").iterdir()]
    for path in root.rglob("*"):
        if not path.is_file() or path.parent.name in ("tmp", "partial"):
            continue
        if hashlib.sha256(path.read_bytes()).hexdigest() != path.name:
            problems.append(f"blob file {path.name} does not hash to its name")
    return problems


# --- the witness's side --------------------------------------------------------------


@dataclass(frozen=True)
class Sealed:
    """A sealed submission: the request to send and the attachments to upload first."""

    request: dict[str, Any]
    blobs: dict[str, bytes]

    @property
    def header_sha256(self) -> str:
        """What its log entry names as ``header``: the submission's identity."""
        return hashlib.sha256(b64u_decode(self.request["header"])).hexdigest()


def seal(number: int, attachment: bytes | None = None) -> Sealed:
    """A submission sealed to the vector's intake key with the project's own
    sealing (``testimony.crypto.submission``), with one attachment if given."""
    attachments = []
    if attachment is not None:
        attachments.append(
            submission.seal_attachment(
                attachment, name=f"file-{number}.bin", media_type="application/octet-stream"
            )
        )
    manifest = {
        "v": 1,
        "form": {"id": "crash-form", "version": 1, "sha256": "00" * 32},
        "lang": "en",
        "answers": {"n": number},
        "attachments": [a.descriptor for a in attachments],
        "consent": {"share_with": [], "contact": False},
    }
    sealed = submission.seal_submission(INTAKE_PUBLIC, manifest)
    return Sealed(
        request=sealed.request(attachments=[a.blob for a in attachments]),
        blobs={a.blob: a.ciphertext for a in attachments},
    )


def _reader(data: bytes) -> tus.Reader:
    return lambda offset, length: [data[offset : offset + length]]


def submit(url: str, sealed: Sealed, *, timeout: float = 30) -> dict[str, Any]:
    """Upload the attachments (tus) and submit, as a witness's client does; the
    receipt. Raises what ``testimony.client`` raises (``ConnectionFailed`` when
    the server goes away mid-request)."""
    with ServerClient(url, timeout=timeout) as client:
        for blob, data in sealed.blobs.items():
            tus.upload(client, blob, len(data), _reader(data))
        receipt: dict[str, Any] = client.post_json(
            "/api/v1/submissions", sealed.request, what="submitting", expect=(201,)
        )
    return receipt


# --- a client holding receipts and checkpoints ---------------------------------------


class LogClient:
    """The log as a client that pinned its key sees it, over HTTP only.

    Every check raises (``testimony.crypto``'s errors, or ``AssertionError``)
    when what the server serves does not prove what the client holds.
    """

    def __init__(self, url: str, log_key: str, origin: str = ORIGIN) -> None:
        self.client = ServerClient(url, timeout=30)
        self.log_key = log_key
        self.origin = origin

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> LogClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def served_checkpoint(self) -> tuple[str, checkpoint.Checkpoint]:
        """The latest checkpoint, verified with the pinned key and origin."""
        note = self.client.request("GET", "/api/v1/log/checkpoint", what="the checkpoint").text
        return note, checkpoint.verify(note, self.log_key, origin=self.origin)

    def entries(self, start: int, end: int) -> list[bytes]:
        """Entries ``start`` to ``end - 1``, a page at a time."""
        found: list[bytes] = []
        while start < end:
            page = self.client.get_json(
                "/api/v1/log/entries",
                what="the entries",
                params={"start": start, "end": min(end, start + 1000)},
            )["entries"]
            assert page, "the server served no entry"
            found += [b64u_decode(entry) for entry in page]
            start += len(page)
        return found

    def all_entries(self) -> list[bytes]:
        """Every entry up to the served checkpoint's size."""
        return self.entries(0, self.served_checkpoint()[1].size)

    def check_grew_from(self, held: checkpoint.Checkpoint, served: checkpoint.Checkpoint) -> None:
        """The served tree extends the held one: not smaller, and an RFC 9162
        consistency proof from the held root to the served root verifies
        (equal sizes: equal roots). Raises ``ProofError``/``AssertionError``."""
        assert served.size >= held.size, (
            f"the log shrank from {held.size} to {served.size} entries (rolled back)"
        )
        if served.size == held.size:
            merkle.verify_consistency(held.size, served.size, held.root, served.root, [])
            return
        proof = self.client.get_json(
            "/api/v1/log/proof/consistency",
            what="a consistency proof",
            params={"from": held.size, "to": served.size},
        )
        merkle.verify_consistency(
            held.size,
            served.size,
            held.root,
            served.root,
            [bytes.fromhex(h) for h in proof["path"]],
        )

    def check_receipt(
        self,
        receipt: dict[str, Any],
        request: dict[str, Any] | None = None,
        *,
        served: checkpoint.Checkpoint | None = None,
        entries: list[bytes] | None = None,
    ) -> None:
        """A receipt the client got is still proved by the log as served now:
        it verifies (§10); its entry is at its index; an inclusion proof at the
        served checkpoint leads to that checkpoint's root; and the served
        checkpoint is consistent with the receipt's."""
        verified = receipts.verify_receipt(
            receipt, self.log_key, origin=self.origin, request=request
        )
        if served is None:
            served = self.served_checkpoint()[1]
        assert verified.index < served.size, "the receipt's entry is beyond the served log"
        at_index = entries[verified.index] if entries is not None else None
        if at_index is None:
            (at_index,) = self.entries(verified.index, verified.index + 1)
        assert at_index == verified.entry, f"entry {verified.index} is not the receipt's"
        proof = self.client.get_json(
            "/api/v1/log/proof/inclusion",
            what="an inclusion proof",
            params={"id": receipt["id"], "size": served.size},
        )
        assert proof["index"] == verified.index
        merkle.verify_inclusion(
            verified.index,
            served.size,
            bytes.fromhex(receipt["id"]),
            [bytes.fromhex(h) for h in proof["path"]],
            served.root,
        )
        self.check_grew_from(verified.checkpoint, served)
