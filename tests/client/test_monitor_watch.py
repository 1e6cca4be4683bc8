"""``testimony monitor watch`` against a real ``testimony serve`` (docs/protocol.md
§9, §12, §13; docs/monitor.md): a first pass and a second after the log grew
(an organisation founded, an enrolment waiting for its approval) check
consistency, rebuild the root from the entries and replay §12; then a server
showing another history signed with the same log key (a tiny fake server
holding the real log key) is reported as a fork, exit status 3, and both
checkpoints are kept as evidence."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from testimony.client.monitor.command import app
from testimony.crypto import checkpoint, codes, hpke, note
from testimony.crypto.entries import InviteEntry, ReviewerEntry
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings
from tests.live_server import LiveServer, start_server
from tests.reviewers_support import Person, admin_session, post

ORIGIN = "monitor.test/log"


def watch(server: str, log_key: str, state: Path) -> Result:
    """``testimony monitor watch --once``, run in this process."""
    args = ["watch", "--server", server, "--log-key", log_key, "--state", str(state), "--once"]
    return CliRunner().invoke(app, args)


class Forger(BaseHTTPRequestHandler):
    """Serves one checkpoint and a consistency proof that proves nothing."""

    note = ""

    def do_GET(self) -> None:
        if self.path.startswith("/api/v1/log/checkpoint"):
            data, kind = self.note.encode(), "text/plain; charset=utf-8"
        elif self.path.startswith("/api/v1/log/proof/consistency"):
            query = dict(p.split("=") for p in self.path.split("?", 1)[1].split("&"))
            proof = {"from": int(query["from"]), "to": int(query["to"]), "path": ["00" * 32]}
            data, kind = json.dumps(proof).encode(), "application/json"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def forger() -> Iterator[tuple[str, type[Forger]]]:
    handler = type("OneForger", (Forger,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_the_monitor_follows_the_log_and_reports_a_fork(
    tmp_path: Path, forger: tuple[str, type[Forger]]
) -> None:
    data_dir = tmp_path / "data"
    made = init_data_dir(
        Settings(data_dir=data_dir), hpke.public_key(os.urandom(32)), origin=ORIGIN
    )
    live: LiveServer = start_server(data_dir, tmp_path / "server.txt")
    state = tmp_path / "monitor"
    try:
        log_key = live.log_key()
        first = watch(live.url, log_key, state)
        assert first.exit_code == 0, first.stderr
        assert f"checkpoint {ORIGIN} size 1 " in first.stdout
        assert "the first this monitor has seen" in first.stdout
        assert "entries 1: they rebuild the checkpoint's root" in first.stdout
        assert "standing none" in first.stdout

        # The log grows: an organisation, an invite, a candidate not yet approved.
        with httpx.Client(base_url=live.url, timeout=10) as client:
            admin, token = admin_session(client, made.setup_token)
            code = codes.code_hash(codes.new_code())
            assert post(client, admin.entry(InviteEntry, code=code), token).status_code == 201
            person = Person.new()
            candidate = person.entry(
                ReviewerEntry,
                sign_key=person.sign_public,
                box_key=person.box_public,
                role="reviewer",
                invite=code,
            )
            assert post(client, candidate).status_code == 201
        second = watch(live.url, log_key, state)
        assert second.exit_code == 0, second.stderr
        assert "consistent with every checkpoint seen before (the latest of size 1)" in (
            second.stdout
        )
        assert f"standing 1: {admin.id} (admin)" in second.stdout
        assert f"pending enrol of {person.id} at 3: 0 of 1 approvals" in second.stdout
        latest = (state / "latest.txt").read_text()
        size = checkpoint.verify(latest, log_key).size
        assert size == 4 and len((state / "entries.txt").read_text().split()) == 4
        assert len(list((state / "checkpoints").iterdir())) == 2

        # Another history under the same key: a tree of the same size, another root.
        signer = note.parse_signer_key((data_dir / "log-key").read_text().strip())
        at = datetime.now(UTC).replace(microsecond=0)
        url, handler = forger
        handler.note = checkpoint.sign(ORIGIN, size, bytes(32), signer.private_key, ORIGIN, at)
        forked = watch(url, log_key, state)
        assert forked.exit_code == 3
        assert forked.stderr.startswith("testimony: FORK: the log monitor.test/log")
        assert forked.stderr.rstrip().endswith("(log-fork)") and "Traceback" not in forked.stderr
        (kept,) = (state / "forks").iterdir()
        evidence = json.loads(kept.read_text())
        assert (evidence["earlier"], evidence["later"]) == (latest, handler.note)
        assert str(kept) in forked.stderr

        # A larger tree whose proof from the one seen does not verify: a fork too.
        handler.note = checkpoint.sign(ORIGIN, size + 2, bytes(32), signer.private_key, ORIGIN, at)
        grown = watch(url, log_key, state)
        assert grown.exit_code == 3 and "consistency proof does not verify" in grown.stderr
        assert len(list((state / "forks").iterdir())) == 2
        # The monitor's latest stays the real log's, which still passes.
        assert (state / "latest.txt").read_text() == latest
        assert watch(live.url, log_key, state).exit_code == 0
    finally:
        assert "Traceback" not in live.stop()


def test_a_checkpoint_not_signed_by_the_pinned_key_is_an_error(
    tmp_path: Path, forger: tuple[str, type[Forger]]
) -> None:
    url, handler = forger
    pinned = note.verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    at = datetime.now(UTC).replace(microsecond=0)
    handler.note = checkpoint.sign(ORIGIN, 1, bytes(32), Ed25519PrivateKey.generate(), ORIGIN, at)
    refused = watch(url, pinned, tmp_path / "monitor")
    assert refused.exit_code == 1
    assert refused.stderr.strip().endswith("(monitor-error)")
    assert "does not verify with the log key" in refused.stderr
    assert not (tmp_path / "monitor" / "latest.txt").exists()
