"""The server as a witness client (docs/protocol.md §13, C2SP ``tlog-witness``):
a served server sends its settled checkpoints to the log witnesses it is
configured with and serves their cosignatures on ``GET /api/v1/log/checkpoint``.

The server is the application of ``create_app`` served by uvicorn on a
loopback port, in this process, so that its clock (a ``FixedClock``) can be
moved past the end of a time granule; its witness client runs on its own
thread as under ``testimony serve``. The witnesses are :class:`FakeWitness`,
an ``http.server`` that checks each ``add-checkpoint`` request as C2SP says
(the old size, the consistency proof with ``crypto.merkle``, the log's
signature) and answers a real cosignature made with ``crypto.cosignature``.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from testimony.crypto import checkpoint, cosignature, hpke, merkle, signing
from testimony.crypto.encoding import b64_decode, b64_encode
from testimony.service.domain.clock import FixedClock
from testimony.service.domain.errors import BadSettings
from testimony.service.domain.log_witnesses import PushLock, parse_log_witness
from testimony.service.server import Server, init_data_dir
from testimony.service.settings import Settings, load_settings
from testimony.service.testing import free_port
from tests.service.store.support import submission_entry

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import uvicorn

ORIGIN = "test.invalid/log"
START = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)
"""The server's clock at start: 30 s into the granule of 12:00 (hourly)."""
DEADLINE = 10.0
LOGGER = "testimony.service.domain.log_witnesses"


# --- a fake tlog-witness ---------------------------------------------------------------


@dataclass
class FakeWitness:
    """A C2SP tlog-witness for one log, on a loopback port.

    ``mode`` "cosign" answers a real cosignature; "garbage" a 200 that is no
    signature line; "forged" a line with this witness's name and key ID whose
    signature is by another key. Every request is recorded as ``(old, proof
    length, size)``; a request that breaks C2SP is recorded in ``problems``.
    """

    log_key: str
    name: str
    mode: str = "cosign"
    latest_size: int = 0
    latest_root: bytes = b""
    requests: list[tuple[int, int, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    signer: cosignature.CosignerSigner = field(init=False)
    httpd: ThreadingHTTPServer = field(init=False)

    def __post_init__(self) -> None:
        self.signer = cosignature.CosignerSigner(
            self.name, signing.private_key_from_seed(bytes([len(self.name)]) * 32)
        )
        self._lock = threading.Lock()
        witness = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, media_type, answer = witness.add_checkpoint(self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/witness"

    @property
    def setting(self) -> str:
        return f"{self.url}={self.signer.key}"

    def add_checkpoint(self, path: str, body: bytes) -> tuple[int, str, bytes]:
        """The witness's answer to ``POST <path>`` with ``body``, checked as C2SP says."""
        with self._lock:
            try:
                return self._add_checkpoint(path, body)
            except Exception as exc:  # a malformed request: recorded, answered 400
                self.problems.append(f"{type(exc).__name__}: {exc}")
                return 400, "text/plain", b"bad request\n"

    def _add_checkpoint(self, path: str, body: bytes) -> tuple[int, str, bytes]:
        assert path == "/witness/add-checkpoint", path
        text = body.decode("utf-8")
        head, blank, note = text.partition("\n\n")
        assert blank, "no empty line before the checkpoint"
        lines = head.split("\n")
        assert lines[0].startswith("old "), lines[0]
        old_text = lines[0][4:]
        assert old_text == str(int(old_text)), "the old size has leading zeros"
        old = int(old_text)
        proof = [b64_decode(line) for line in lines[1:]]
        assert len(proof) <= 63
        tree = checkpoint.verify(note, self.log_key, origin=ORIGIN)  # the log's signature
        self.requests.append((old, len(proof), tree.size))
        if old > tree.size:
            return 400, "text/plain", b"old is beyond the checkpoint\n"
        if old != self.latest_size:
            return 409, "text/x.tlog.size", f"{self.latest_size}\n".encode()
        if old == 0:
            assert proof == [], "a proof from size 0"
        elif old == tree.size:
            assert proof == []
            if tree.root != self.latest_root:
                return 409, "text/x.tlog.size", f"{self.latest_size}\n".encode()
        else:
            merkle.verify_consistency(old, tree.size, self.latest_root, tree.root, proof)
        self.latest_size, self.latest_root = tree.size, tree.root
        if self.mode == "garbage":
            return 200, "text/plain", b"<html>hello</html>\n"
        if self.mode == "forged":
            other = signing.private_key_from_seed(b"\x07" * 32)
            stamp = int(time.time())
            message = cosignature.signed_message(checkpoint.parse(note).note_text(), stamp)
            raw = self.signer.key.key_id + struct.pack(">Q", stamp) + other.sign(message)
            return 200, "text/plain", f"— {self.name} {b64_encode(raw)}\n".encode()
        return 200, "text/plain", cosignature.cosign(note, self.signer, int(time.time())).encode()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- a served server -------------------------------------------------------------------


@dataclass
class Served:
    """``create_app`` under uvicorn on a loopback port, in this process."""

    url: str
    server: Server
    clock: FixedClock
    uvicorn_server: uvicorn.Server
    thread: threading.Thread

    def checkpoint(self) -> str:
        answer = httpx.get(self.url + "/api/v1/log/checkpoint", timeout=5)
        assert answer.status_code == 200, answer.text
        return answer.text

    def append(self, count: int) -> int:
        """Log ``count`` new entries (one batch, one checkpoint); the new size."""
        size = self.server.log.size()
        entries = [submission_entry(size * 100 + k) for k in range(count)]
        self.server.log.append_batch(entries, self.server.signer.sign)
        return self.server.log.size()

    def stop(self) -> None:
        self.uvicorn_server.should_exit = True
        self.thread.join(timeout=30)


@contextlib.contextmanager
def served(data_dir: Path, clock: FixedClock, witnesses: list[str]) -> Iterator[Served]:
    from testimony.service.api.app import create_app

    settings = Settings(
        data_dir=data_dir,
        pow_bits=0,
        clock=clock,
        log_witnesses=tuple(witnesses),
        log_witness_interval_seconds=1,
        log_witness_timeout_seconds=2,
    )
    app = create_app(settings)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    live = Served(f"http://127.0.0.1:{port}", app.state.server, clock, runner, thread)
    try:
        poll(lambda: _healthy(live.url), "the server to answer /healthz")
        yield live
    finally:
        live.stop()


def _healthy(url: str) -> bool:
    with contextlib.suppress(httpx.TransportError):
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    return False


def poll(ready: Callable[[], object], what: str) -> Any:
    """``ready()``'s first true value, asked every 20 ms for DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while True:
        value = ready()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {DEADLINE} s for {what}")
        threading.Event().wait(0.02)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory after ``testimony init`` (its checkpoint at 12:00)."""
    path = tmp_path / "data"
    settings = Settings(data_dir=path, clock=FixedClock(START))
    init_data_dir(settings, hpke.public_key(b"\x01" * 32), origin=ORIGIN)
    return path


@pytest.fixture
def log_key(data_dir: Path) -> str:
    from testimony.service.server import load_signer

    return load_signer(Settings(data_dir=data_dir)).verifier_key


@pytest.fixture
def witnesses(log_key: str) -> Iterator[Callable[..., FakeWitness]]:
    made: list[FakeWitness] = []

    def make(name: str, **fields: Any) -> FakeWitness:
        witness = FakeWitness(log_key, name, **fields)
        made.append(witness)
        return witness

    yield make
    for witness in made:
        witness.close()


def _lines(note: str) -> list[str]:
    return note.split("\n\n", 1)[1].splitlines()


# --- tests -----------------------------------------------------------------------------


def test_a_settled_checkpoint_is_cosigned_and_served_with_its_cosignature_only(
    data_dir: Path, log_key: str, witnesses: Callable[..., FakeWitness]
) -> None:
    witness = witnesses("witness.test/w1")
    clock = FixedClock(START)
    with served(data_dir, clock, [witness.setting]) as live:
        assert live.append(2) == 3
        newest = live.server.log.latest_checkpoint()
        assert newest is not None
        # Its granule has not ended: nothing is sent, the note is served as signed.
        assert live.server.log_witnesses is not None
        assert live.server.log_witnesses.push_once(wait=True)
        assert witness.requests == []
        assert live.checkpoint() == newest.note

        clock.set(START + timedelta(hours=1))
        note = poll(lambda: (n := live.checkpoint()) != newest.note and n, "a cosignature")
        assert checkpoint.verify(note, log_key, origin=ORIGIN).size == 3
        assert cosignature.require(note, [witness.signer.key], 1)[0].name == witness.name
        assert note.startswith(newest.note)  # the same note, one line more
        assert witness.requests == [(0, 0, 3)]

        # A newer checkpoint is served at once, without the older one's line.
        assert live.append(2) == 5
        newer = live.checkpoint()
        assert checkpoint.verify(newer, log_key, origin=ORIGIN).size == 5
        assert len(_lines(newer)) == 1  # the log's own signature only
        assert cosignature.cosignatures(newer, [witness.signer.key]) == []

        # Once its granule ends it is sent with old 3 and a consistency proof.
        clock.set(START + timedelta(hours=2))
        poll(lambda: cosignature.cosignatures(live.checkpoint(), [witness.signer.key]), "5")
        assert witness.requests[-1][0] == 3 and witness.requests[-1][1] > 0
        assert witness.problems == []
        served_note = live.checkpoint()

    # The cosignature is in the store: a restarted server serves it at once.
    with served(data_dir, clock, [witness.setting]) as live:
        assert live.checkpoint() == served_note
    assert len(witness.requests) == 2


def test_a_409_with_the_witness_size_is_followed(
    data_dir: Path, witnesses: Callable[..., FakeWitness]
) -> None:
    witness = witnesses("witness.test/w2")
    clock = FixedClock(START)
    with served(data_dir, clock, [witness.setting]) as live:
        live.append(1)
        # The witness has cosigned size 2 already (another client sent it).
        witness.latest_size, witness.latest_root = 2, live.server.log.root(2)
        live.append(3)
        clock.set(START + timedelta(hours=1))
        poll(lambda: cosignature.cosignatures(live.checkpoint(), [witness.signer.key]), "w2")
    assert witness.requests == [(0, 0, 5), (2, witness.requests[1][1], 5)]
    assert witness.requests[1][1] > 0
    assert witness.problems == []


def test_a_witness_down_or_answering_garbage_is_logged_and_harms_nothing(
    data_dir: Path,
    log_key: str,
    witnesses: Callable[..., FakeWitness],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    good = witnesses("witness.test/good")
    garbage = witnesses("witness.test/garbage", mode="garbage")
    forged = witnesses("witness.test/forged", mode="forged")
    down = f"http://127.0.0.1:{free_port()}/nobody"
    down_key = cosignature.CosignerSigner(
        "witness.test/down", signing.private_key_from_seed(b"\x09" * 32)
    ).key
    configured = [f"{down}={down_key}", garbage.setting, forged.setting, good.setting]
    clock = FixedClock(START)
    with served(data_dir, clock, configured) as live:
        live.append(2)
        clock.set(START + timedelta(hours=1))
        note = poll(
            lambda: (
                cosignature.cosignatures(live.checkpoint(), [good.signer.key]) and live.checkpoint()
            ),
            "the good witness's cosignature",
        )

        def warned() -> bool:
            text = " ".join(r.getMessage() for r in caplog.records)
            return all(url in text for url in (down, garbage.url, forged.url))

        poll(warned, "a warning for each failing witness")
        keys = [down_key, garbage.signer.key, forged.signer.key, good.signer.key]
        assert [c.name for c in cosignature.cosignatures(note, keys)] == [good.name]
        assert checkpoint.verify(note, log_key, origin=ORIGIN).size == 3
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert messages and all(
        r.levelno == logging.WARNING for r in caplog.records if r.name == LOGGER
    )
    root_line = note.split("\n")[2]
    for message in messages:  # the witness's URL and the reason, no note, no answer
        assert root_line not in message and "—" not in message and "hello" not in message
    assert good.url not in " ".join(messages)


def test_only_the_process_holding_the_lock_sends(
    data_dir: Path, witnesses: Callable[..., FakeWitness]
) -> None:
    witness = witnesses("witness.test/w3")
    other_process = PushLock(data_dir / "log-witnesses.lock")
    assert other_process.acquire()
    clock = FixedClock(START + timedelta(hours=1))
    try:
        with served(data_dir, clock, [witness.setting]) as live:
            assert live.server.log_witnesses is not None
            assert not live.server.log_witnesses.push_once(wait=True)
            assert witness.requests == []
            other_process.release()
            poll(lambda: cosignature.cosignatures(live.checkpoint(), [witness.signer.key]), "w3")
    finally:
        other_process.release()
    assert witness.requests == [(0, 0, 1)]


def test_log_witness_settings() -> None:
    key = cosignature.CosignerSigner("w.example/1", signing.private_key_from_seed(b"\x02" * 32)).key
    witness = parse_log_witness(f"https://w.example/sub/={key}")
    assert (witness.url, witness.endpoint) == (
        "https://w.example/sub",
        "https://w.example/sub/add-checkpoint",
    )
    other = cosignature.CosignerSigner(
        "w.example/2", signing.private_key_from_seed(b"\x03" * 32)
    ).key
    settings = load_settings(
        {},
        environ={"TESTIMONY_LOG_WITNESSES": f"https://a.example={key} https://b.example={other}"},
    )
    assert [w.url for w in settings.parsed_log_witnesses] == [
        "https://a.example",
        "https://b.example",
    ]
    assert load_settings({}, environ={}).log_witnesses == ()
    bad = [
        "https://w.example",  # no key
        f"ftp://w.example={key}",
        f"https://w.example/?x=1={key}",
        f"https://user@w.example={key}",
        "https://w.example=" + str(key).replace("+", "-"),
    ]
    for text in bad:
        with pytest.raises(BadSettings):
            parse_log_witness(text)
    with pytest.raises(BadSettings, match="same key"):
        Settings(log_witnesses=(f"https://a.example={key}", f"https://b.example={key}"))


def test_serve_refuses_a_bad_log_witness_in_one_line(data_dir: Path) -> None:
    from typer.testing import CliRunner

    from testimony.service.cli import app

    result = CliRunner().invoke(
        app, ["serve", "--data-dir", str(data_dir), "--log-witness", "https://w.example=nokey"]
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1 and "log witness's key" in result.stderr
