"""Crash safety (issue 12): SIGKILL the whole server — every process of its
group at once, as a power cut or the OOM killer would — in the middle of work,
restart it on the same data directory, and prove what a witness relies on:

- the server starts again, and ``audit`` finds nothing wrong;
- every receipt a client was given before the kill is still proved by the
  log: its entry at its index, an inclusion proof at the new checkpoint, and a
  consistency proof from the receipt's checkpoint to the latest;
- a submission whose answer never came can simply be sent again: it is
  answered its first receipt if it had been logged, a fresh one if not, never
  a conflict, and it is never logged twice;
- no temporary file is left in the blob store, and no file there is a blob
  its bytes do not hash to;
- an upload cut by the kill resumes with ``HEAD`` and ``PATCH`` from the
  bytes the server had;
- a ``rebuild-projections`` killed in its transaction leaves the projections
  as they were (the repeat of a submission still finds its first entry).

The kill moments are drawn from a seeded generator, so a failure replays.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from testimony.client import tus
from testimony.client.errors import ConnectionFailed, ServerRefused
from testimony.client.http import ServerClient
from testimony.crypto import entries as log_entries
from testimony.service import testing as launcher
from testimony.service.testing import LiveServer
from tests.security.live_log import (
    LogClient,
    Sealed,
    audit_findings,
    blob_store_problems,
    kill_group,
    kill_server,
    run_testimony,
    seal,
    start_in_group,
    submit,
)
from tests.service.courier.support import init_data

SEED = 20261125
ROUNDS = 3
"""Kills during bursts of submissions, each followed by a restart."""
PER_ROUND = 24
THREADS = 8
DEADLINE = 30.0


def _until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """Poll ``condition`` until it holds (a deadline, never a fixed wait)."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.005)


def _port(server: LiveServer) -> int:
    """The server's port: it restarts where its clients know it."""
    return int(server.url.rsplit(":", 1)[1])


def _logged_submissions(entries: list[bytes]) -> dict[str, int]:
    """header hash -> index of every submission entry; asserts none is logged twice."""
    headers = Counter()
    first: dict[str, int] = {}
    for index, data in enumerate(entries):
        entry = log_entries.parse_entry(data)
        if isinstance(entry, log_entries.SubmissionEntry):
            headers[entry.header] += 1
            first.setdefault(entry.header, index)
    twice = [header for header, count in headers.items() if count > 1]
    assert not twice, f"submissions logged twice: {twice}"
    return first


def _burst(
    server: LiveServer, batch: list[Sealed], kill_after: int
) -> tuple[list[tuple[Sealed, dict[str, Any]]], list[Sealed]]:
    """Send ``batch`` from THREADS clients at once; SIGKILL the server once
    ``kill_after`` receipts have come back. Returns what was answered and what
    was not (in flight or not yet sent when the server died)."""
    lock = threading.Lock()
    answered = 0
    enough = threading.Event()

    def one(sealed: Sealed) -> dict[str, Any] | None:
        nonlocal answered
        try:
            receipt = submit(server.url, sealed)
        except ConnectionFailed:
            return None
        with lock:
            answered += 1
            if answered >= kill_after:
                enough.set()
        return receipt

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(one, sealed) for sealed in batch]
        assert enough.wait(DEADLINE), "the burst was not answered"
        kill_server(server)
        results = [future.result() for future in futures]
    acknowledged = [(s, r) for s, r in zip(batch, results, strict=True) if r is not None]
    unanswered = [s for s, r in zip(batch, results, strict=True) if r is None]
    return acknowledged, unanswered


def test_every_receipt_survives_sigkill_in_bursts_and_unanswered_work_is_retried(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    rng = random.Random(SEED)
    data_dir = init_data(tmp_path)
    output = tmp_path / "server-output.txt"
    server = start_in_group(data_dir, output, workers=2)
    log_key = server.log_key()
    held: list[tuple[Sealed, dict[str, Any]]] = []  # every receipt a client holds
    everything: list[Sealed] = []
    kills = retried_first = retried_fresh = unanswered_count = 0
    try:
        for round_number in range(ROUNDS):
            batch = [
                seal(
                    round_number * PER_ROUND + n,
                    rng.randbytes(rng.randint(1, 4096)) if n % 3 == 0 else None,
                )
                for n in range(PER_ROUND)
            ]
            everything += batch
            kill_after = rng.randint(3, PER_ROUND // 2)
            acknowledged, unanswered = _burst(server, batch, kill_after)
            kills += 1
            unanswered_count += len(unanswered)
            assert len(acknowledged) >= kill_after and unanswered

            server = start_in_group(data_dir, output, workers=2, port=_port(server))
            assert blob_store_problems(data_dir) == []
            assert audit_findings(data_dir) == []  # before anything is sent again
            with LogClient(server.url, log_key) as log:
                _, served = log.served_checkpoint()
                logged = log.entries(0, served.size)
                for sealed, receipt in [*held, *acknowledged]:
                    log.check_receipt(receipt, sealed.request, served=served, entries=logged)
                first = _logged_submissions(logged)
                # What was never answered is sent again, as a client would.
                for sealed in unanswered:
                    receipt = submit(server.url, sealed)
                    log.check_receipt(receipt, sealed.request)
                    if sealed.header_sha256 in first:
                        # logged before the kill: its first entry, not a second one
                        assert receipt["index"] == first[sealed.header_sha256]
                        retried_first += 1
                    else:
                        assert receipt["index"] >= served.size
                        retried_fresh += 1
                    acknowledged.append((sealed, receipt))
                # A repeat after the restart answers the same receipt, byte for byte.
                for sealed, receipt in acknowledged[:3]:
                    assert submit(server.url, sealed) == receipt
            held += acknowledged

        with LogClient(server.url, log_key) as log:
            logged = log.all_entries()
            first = _logged_submissions(logged)
            assert sorted(first) == sorted(s.header_sha256 for s in everything)
            assert len(logged) == 1 + len(everything)  # the intake-key entry, then each once
            _, served = log.served_checkpoint()
            for sealed, receipt in held:
                log.check_receipt(receipt, sealed.request, served=served, entries=logged)
    finally:
        printed = server.stop()
    assert "Traceback" not in printed
    assert audit_findings(data_dir) == []
    assert kills == ROUNDS and len(held) == ROUNDS * PER_ROUND
    record_property("kills_survived", kills)
    record_property("receipts_checked", len(held))
    record_property("retried_after_logging", retried_first)
    assert retried_fresh > 0  # some work was cut off before it was logged
    assert retried_first + retried_fresh == unanswered_count


def test_an_upload_cut_by_sigkill_resumes_with_head_and_patch(tmp_path: Path) -> None:
    data_dir = init_data(tmp_path)
    output = tmp_path / "server-output.txt"
    server = start_in_group(data_dir, output)
    log_key = server.log_key()
    sealed = seal(1, random.Random(SEED).randbytes(3 << 20))
    ((blob, data),) = sealed.blobs.items()
    first, cut = 1 << 20, (1 << 20) + (256 << 10)
    release = threading.Event()
    cut_off: list[BaseException] = []

    def stalling(offset: int, length: int) -> Iterator[bytes]:
        # The second PATCH: 256 KiB, then nothing until the server is dead.
        yield data[offset:cut]
        release.wait(DEADLINE)
        yield data[cut : offset + length]

    def second_patch(url: str) -> None:
        with ServerClient(server.url, timeout=DEADLINE) as client:
            try:
                tus.send(client, url, len(data), stalling, offset=first)
            except ConnectionFailed as exc:
                cut_off.append(exc)

    try:
        with ServerClient(server.url) as client:
            url = tus.create(client, blob, len(data))
            tus.send(client, url, first, lambda o, n: [data[o : o + n]])
            patching = threading.Thread(target=second_patch, args=(url,))
            patching.start()
            try:
                # The server has written the cut bytes (HEAD reports the file's size).
                _until(lambda: tus.head(client, url).offset == cut, "the cut bytes")
                kill_server(server)
            finally:
                release.set()
                patching.join(DEADLINE)
        assert cut_off, "the cut PATCH did not fail"
        # What a blob write cut by a kill leaves (put() writes under tmp/ first).
        (data_dir / "blobs" / "tmp" / "put-cut-by-a-kill").write_bytes(data[:1000])

        server = start_in_group(data_dir, output, port=_port(server))
        assert blob_store_problems(data_dir) == []  # the leftover is swept at startup
        with ServerClient(server.url) as client:
            state = tus.head(client, url)
            assert state is not None and (state.offset, state.length) == (cut, len(data))
            # The half-uploaded blob cannot be named yet.
            with pytest.raises(ServerRefused) as refused:
                client.post_json("/api/v1/submissions", sealed.request, what="submitting")
            assert refused.value.problem == "incomplete-blob"
            offsets: list[int] = []
            uploaded = tus.upload(
                client,
                blob,
                len(data),
                lambda o, n: [data[o : o + n]],
                resume=url,
                progress=lambda _url, offset: offsets.append(offset),
            )
            assert uploaded.resumed and uploaded.url == url
            assert offsets[0] == cut and offsets[-1] == len(data)
            receipt = client.post_json(
                "/api/v1/submissions", sealed.request, what="submitting", expect=(201,)
            )
        with LogClient(server.url, log_key) as log:
            log.check_receipt(receipt, sealed.request)
    finally:
        printed = server.stop()
    assert "Traceback" not in printed
    assert audit_findings(data_dir) == []
    stored = data_dir / "blobs" / blob[:2] / blob[2:4] / blob
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == blob


# --- rebuild-projections ------------------------------------------------------------------


def _flock_holders(path: Path) -> tuple[set[int], set[int]]:
    """The process ids holding, and waiting for, a ``flock`` on ``path`` (``/proc/locks``)."""
    inode = os.stat(path).st_ino
    holding: set[int] = set()
    waiting: set[int] = set()
    with open("/proc/locks", encoding="ascii") as locks:
        for line in locks:
            fields = line.split()
            blocked = len(fields) > 1 and fields[1] == "->"
            if blocked:
                fields = fields[1:]
            if len(fields) < 6 or fields[1] != "FLOCK":
                continue
            if int(fields[5].rsplit(":", 1)[1]) == inode:
                (waiting if blocked else holding).add(int(fields[4]))
    return holding, waiting


def _projections(data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the tables derived from the log (read-only)."""
    import sqlite3

    database = data_dir / "testimony.sqlite3"
    queries = {
        "submissions": "SELECT * FROM submissions ORDER BY idx",
        "intake_keys": "SELECT * FROM intake_keys ORDER BY idx",
        "followups": "SELECT * FROM followups ORDER BY idx",
        "replies": "SELECT * FROM replies ORDER BY idx",
        "referenced": "SELECT id, referenced FROM blobs ORDER BY id",
    }
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return {name: db.execute(query).fetchall() for name, query in queries.items()}


ATTEMPTS = 6
"""Rebuilds started to catch one inside its transaction (a small log's rebuild is quick)."""


def _stop_a_rebuild_in_its_transaction(
    data_dir: Path, writer: Path, rng: random.Random
) -> subprocess.Popen[bytes] | None:
    """Start ``testimony rebuild-projections`` in its own process group and
    freeze it (SIGSTOP) at a random moment while it holds the log's writer
    lock; None if it finished first."""
    rebuild = subprocess.Popen(
        [*launcher.testimony_command(), "rebuild-projections", "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=launcher.clean_environment(),
        start_new_session=True,
    )
    end = time.monotonic() + DEADLINE
    while rebuild.poll() is None and time.monotonic() < end:
        if rebuild.pid in _flock_holders(writer)[0]:
            for _ in range(rng.randrange(50)):  # a little further into it, or not
                _flock_holders(writer)
            os.killpg(rebuild.pid, signal.SIGSTOP)
            if rebuild.pid in _flock_holders(writer)[0]:
                return rebuild
            os.killpg(rebuild.pid, signal.SIGCONT)  # it let go just before: let it end
    assert rebuild.wait(DEADLINE) == 0
    return None


def test_a_rebuild_of_the_projections_killed_in_its_transaction_changes_nothing(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    data_dir = init_data(tmp_path)
    output = tmp_path / "server-output.txt"
    server = start_in_group(data_dir, output)
    log_key = server.log_key()
    writer = data_dir / "testimony.sqlite3.writer"
    held = [
        (sealed, submit(server.url, sealed))
        for sealed in (seal(n, rng.randbytes(2000) if n % 4 == 0 else None) for n in range(30))
    ]
    before = _projections(data_dir)
    rebuild = None
    try:
        for _ in range(ATTEMPTS):
            rebuild = _stop_a_rebuild_in_its_transaction(data_dir, writer, rng)
            if rebuild is not None:
                break
        else:
            pytest.fail(f"no rebuild of {ATTEMPTS} was caught inside its transaction")
        # Witnesses submit meanwhile: the server's appends wait for the lock.
        waiting = [seal(100 + n) for n in range(4)]
        with ThreadPoolExecutor(len(waiting)) as pool:
            futures = [pool.submit(submit, server.url, sealed) for sealed in waiting]
            _until(lambda: server.pid in _flock_holders(writer)[1], "an append waiting")
            # The server first: killed first, the rebuild would hand it the lock.
            kill_server(server)
            kill_group(rebuild.pid)
            rebuild.wait(DEADLINE)
            for future in futures:
                with pytest.raises(ConnectionFailed):
                    future.result()
        assert rebuild.returncode == -signal.SIGKILL

        assert _projections(data_dir) == before
        server = start_in_group(data_dir, output, port=_port(server))
        with LogClient(server.url, log_key) as log:
            for sealed, receipt in held:
                log.check_receipt(receipt, sealed.request)
            # The projection still finds each first entry: a repeat is not logged again.
            for sealed, receipt in held[::5]:
                assert submit(server.url, sealed) == receipt
            for sealed in waiting:
                log.check_receipt(submit(server.url, sealed), sealed.request)
            _logged_submissions(log.all_entries())
    finally:
        if rebuild is not None and rebuild.poll() is None:  # a failure left it stopped
            kill_group(rebuild.pid)
            rebuild.wait(DEADLINE)
        printed = server.stop()
    assert "Traceback" not in printed
    assert audit_findings(data_dir) == []
    # The projections are what the log says: a whole rebuild changes nothing.
    settled = _projections(data_dir)
    rebuilt = run_testimony("rebuild-projections", "--data-dir", data_dir)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert _projections(data_dir) == settled
