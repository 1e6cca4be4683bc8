"""The server bounds what one client can hold, on its own (issue 12, item 1):
a header deadline, a header-size cap, an idle deadline between body bytes and
between answer bytes, a keep-alive deadline and a connection cap; and it
answers a request it cannot parse with a problem document (item 8).

Each test runs a real ``testimony serve`` on 127.0.0.1 with low limits from
its ``--config`` file, talks to it over plain sockets (so that it can send
what no HTTP client would), and stops by itself: every loop is bounded in
count and in time. The server is awaited on ``/healthz``; nothing sleeps to
wait for it (the uploads below pace themselves: that is what they test).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from testimony.crypto import hpke
from testimony.service.api import serving
from testimony.service.domain.errors import BadSettings
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings, load_settings
from tests.live_server import LiveServer, start_server

STARTUP_DEADLINE = 30.0
PROBLEM = "application/problem+json"
HEADER_TIMEOUT = 2
BODY_TIMEOUT = 1
KEEPALIVE_TIMEOUT = 1
SLACK = 3.0
"""How much later than its deadline a close may be seen (a loaded CI machine)."""

LIMITS = {
    "max_header_bytes": 16384,
    "header_timeout_seconds": HEADER_TIMEOUT,
    "body_timeout_seconds": BODY_TIMEOUT,
    "keepalive_timeout_seconds": KEEPALIVE_TIMEOUT,
    "max_connections": 200,
}


# --- a server with its limits from a config file ------------------------------------


def _start(folder: Path, limits: dict[str, int], *, nofile: int | None = None) -> LiveServer:
    folder.mkdir()
    data_dir = folder / "data"
    init_data_dir(Settings(data_dir=data_dir), hpke.public_key(os.urandom(32)), origin="s.test/log")
    config = folder / "testimony.toml"
    config.write_text("".join(f"{name} = {value}\n" for name, value in limits.items()))
    # As a supervisor's LimitNOFILE would set it.
    wrapper = ["sh", "-c", f'ulimit -n {nofile} && exec "$@"', "sh"] if nofile is not None else []
    return start_server(
        data_dir,
        folder / "server-output.txt",
        extra_args=["--config", str(config)],
        wrapper=wrapper,
        deadline_seconds=STARTUP_DEADLINE,
    )


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = _start(tmp_path_factory.mktemp("bounded") / "server", LIMITS)
    try:
        yield live
    finally:
        output = live.stop()
        assert "Traceback" not in output, output


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    limits = {**LIMITS, "max_connections": 8, "header_timeout_seconds": 20}
    limits["body_timeout_seconds"] = 20
    live = _start(tmp_path_factory.mktemp("capped") / "server", limits)
    try:
        yield live
    finally:
        output = live.stop()
        assert "Traceback" not in output, output


def _port(live: LiveServer) -> int:
    return int(live.url.rsplit(":", 1)[1])


def _connect(live: LiveServer, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", _port(live)), timeout=timeout)
    sock.settimeout(timeout)
    return sock


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool
    """The server closed the connection after this answer."""

    def problem(self) -> dict[str, object]:
        assert self.headers.get("content-type") == PROBLEM, self.headers
        document = json.loads(self.body)
        assert isinstance(document, dict)
        assert set(document) >= {"type", "title", "status", "code", "detail"}, document
        assert document["status"] == self.status
        assert document["type"] == f"urn:testimony:problem:{document['code']}"
        return document


def read_answer(sock: socket.socket, deadline: float = 10.0, close_within: float = 2.0) -> Answer:
    """One HTTP/1.1 answer with a Content-Length, then whether the server
    closes the connection within ``close_within`` seconds."""
    end = time.monotonic() + deadline
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, end - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed without an answer: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        sock.settimeout(max(0.01, end - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Answer(status, headers, rest[:length], closed_within(sock, close_within))


def closed_within(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` within ``within`` seconds (EOF or reset)."""
    end = time.monotonic() + max(within, 0.01)
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except OSError:  # a reset
            return True
    return False


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


# --- the header ---------------------------------------------------------------------


@pytest.mark.slow
def test_slowloris_sockets_are_closed_at_the_header_deadline(bounded: LiveServer) -> None:
    """20 sockets trickling a header byte every 0.25 s are each answered 408 and
    closed once ``header_timeout_seconds`` have passed, not held open."""
    count = 20
    socks = [_connect(bounded) for _ in range(count)]
    started = time.monotonic()
    for sock in socks:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
    received = {sock: b"" for sock in socks}
    closed_after: dict[socket.socket, float] = {}
    selector = selectors.DefaultSelector()
    for sock in socks:
        selector.register(sock, selectors.EVENT_READ)
    give_up = started + HEADER_TIMEOUT + SLACK + 2
    try:
        while len(closed_after) < count and time.monotonic() < give_up:
            for key, _ in selector.select(timeout=0.25):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    chunk = b""
                received[sock] += chunk
                if not chunk:
                    closed_after[sock] = time.monotonic() - started
                    selector.unregister(sock)
            for sock in socks:
                if sock not in closed_after:
                    with contextlib.suppress(OSError):
                        sock.send(b"a")
    finally:
        selector.close()
        for sock in socks:
            sock.close()
    assert len(closed_after) == count, f"{count - len(closed_after)} slow sockets still open"
    assert max(closed_after.values()) < HEADER_TIMEOUT + SLACK, sorted(closed_after.values())
    assert min(closed_after.values()) >= HEADER_TIMEOUT - 0.5, sorted(closed_after.values())
    answered = [data for data in received.values() if data]
    assert answered, "no slow socket was told why"
    for data in answered:
        assert data.startswith(b"HTTP/1.1 408 "), data[:100]
        body = data.partition(b"\r\n\r\n")[2]
        assert json.loads(body)["code"] == "request-timeout"


@pytest.mark.slow
def test_an_oversized_header_is_refused_with_431_and_the_connectionclosed_within(
    bounded: LiveServer,
) -> None:
    with _connect(bounded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 65536 + b"\r\n\r\n")
        answer = read_answer(sock)
    assert answer.status == 431
    assert answer.problem()["code"] == "header-too-large"
    assert answer.headers["connection"] == "close"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.closed
    # A large header under the cap still goes through, on a kept-alive connection.
    with _connect(bounded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 12000 + b"\r\n\r\n")
        answer = read_answer(sock, close_within=0)
        assert answer.status == 200
        assert json.loads(answer.body) == {"status": "ok"}


@pytest.mark.slow
def test_unfinished_headers_of_megabytes_do_not_grow_the_server(bounded: LiveServer) -> None:
    """Six connections each pushing 16 MiB of a header that never ends: the
    server keeps at most the cap of each, and its memory stays where it was."""
    pid = bounded.process.pid

    def attack(count: int) -> list[socket.socket]:
        socks = []
        for _ in range(count):
            sock = _connect(bounded, timeout=2.0)
            socks.append(sock)
            with contextlib.suppress(OSError):
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: ")
                for _ in range(16):
                    sock.sendall(b"a" * (1 << 20))
        return socks

    for sock in attack(1):  # the code paths warmed up once
        sock.close()
    assert httpx.get(bounded.url + "/healthz", timeout=5).status_code == 200
    before = _rss_kib(pid)
    socks = attack(6)
    try:
        assert httpx.get(bounded.url + "/healthz", timeout=5).status_code == 200
        grown = _rss_kib(pid) - before
    finally:
        for sock in socks:
            sock.close()
    assert grown < 8 * 1024, f"the server grew by {grown} KiB"


# --- the body, the answer and keep-alive ---------------------------------------------------


def _create_upload(live: LiveServer, blob: bytes) -> str:
    digest = hashlib.sha256(blob).hexdigest().encode()
    created = httpx.post(
        live.url + "/api/v1/uploads/",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(blob)),
            "Upload-Metadata": "sha256 " + base64.b64encode(digest).decode(),
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    return created.headers["location"]


@pytest.mark.slow
def test_a_slow_but_steady_upload_succeeds(bounded: LiveServer) -> None:
    """64 KiB at about 32 KiB/s: two seconds in all, longer than the header
    and body deadlines, with no pause between bytes near the body deadline."""
    blob = os.urandom(64 << 10)
    location = _create_upload(bounded, blob)
    head = (
        f"PATCH {location} HTTP/1.1\r\nHost: t\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {len(blob)}\r\n\r\n"
    ).encode()
    piece = 2048
    started = time.monotonic()
    with _connect(bounded, timeout=10) as sock:
        sock.sendall(head)
        for offset in range(0, len(blob), piece):
            sock.sendall(blob[offset : offset + piece])
            time.sleep(piece / (32 << 10))  # the client's pace, not a wait for the server
        answer = read_answer(sock)
    assert time.monotonic() - started > HEADER_TIMEOUT
    assert answer.status == 204, answer.body
    assert answer.headers["upload-offset"] == str(len(blob))


@pytest.mark.slow
def test_a_stalled_body_is_answered_408_at_the_body_deadline(bounded: LiveServer) -> None:
    with _connect(bounded) as sock:
        sock.sendall(
            b"POST /api/v1/submissions HTTP/1.1\r\nHost: t\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"v": 1, '
        )
        started = time.monotonic()
        answer = read_answer(sock, deadline=BODY_TIMEOUT + SLACK)
        waited = time.monotonic() - started
    assert answer.status == 408
    assert answer.problem()["code"] == "request-timeout"
    assert answer.closed
    assert BODY_TIMEOUT - 0.5 <= waited < BODY_TIMEOUT + SLACK


@pytest.mark.slow
def test_a_client_that_never_reads_its_answer_is_cut_off(bounded: LiveServer) -> None:
    """Twenty pipelined requests for a 400 KB page, none of it read: once the
    kernel's buffers are full the server waits to write, and it drops the
    connection when no byte has been taken for the body deadline, rather than
    hold the request (its task, its buffers) for as long as the client likes."""
    path, size = _large_answer(bounded)
    count = 20  # 8 MB: more than the loopback socket buffers take
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(5)
        sock.connect(("127.0.0.1", _port(bounded)))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode() * count)
        time.sleep(BODY_TIMEOUT + SLACK)  # the client's stall: it reads nothing for this long
        total = 0
        give_up = time.monotonic() + 20
        while time.monotonic() < give_up:
            sock.settimeout(2)
            try:
                chunk = sock.recv(1 << 20)
            except OSError:  # reset, or nothing more within 2 s
                break
            if not chunk:
                break
            total += len(chunk)
    assert total < count * size, "every answer waited for the client"


def _large_answer(live: LiveServer) -> tuple[str, int]:
    """A path whose answer is larger than the socket buffers (an offline page),
    and the size of that answer."""
    path = "/en/offline/kordai-2020.html"
    answer = httpx.get(live.url + path, timeout=10)
    assert answer.status_code == 200
    assert len(answer.content) > (256 << 10), len(answer.content)
    return path, len(answer.content)


@pytest.mark.slow
def test_an_idle_keep_alive_connection_is_closed_at_its_deadline(bounded: LiveServer) -> None:
    with _connect(bounded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = read_answer(sock, close_within=KEEPALIVE_TIMEOUT / 4)
        assert answer.status == 200
        assert not answer.closed
        started = time.monotonic()
        assert closed_within(sock, KEEPALIVE_TIMEOUT + SLACK)
        assert time.monotonic() - started < KEEPALIVE_TIMEOUT + SLACK


# --- requests the parser refuses -----------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"GARBAGE\r\n\r\n", id="bad-request-line"),
        pytest.param(b"GET / HTTP/9.9\r\nHost: t\r\n\r\n", id="bad-version"),
        pytest.param(
            b"POST /api/v1/submissions HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
            b"Content-Length: 2\r\n\r\n{}",
            id="duplicate-content-length",
        ),
        pytest.param(
            b"POST /api/v1/submissions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
            b"\r\nzz\r\n{}\r\n0\r\n\r\n",
            id="bad-chunk-size",
        ),
        pytest.param(
            b"POST /api/v1/submissions HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            id="content-length-and-chunked",
        ),
        pytest.param(b"GET /\xff HTTP/1.1\r\nHost: t\r\n\r\n", id="bad-path"),
    ],
)
@pytest.mark.slow
def test_a_request_the_parser_refuses_gets_a_problem_document(
    bounded: LiveServer, request_bytes: bytes
) -> None:
    with _connect(bounded) as sock:
        sock.sendall(request_bytes)
        answer = read_answer(sock)
    assert answer.status == 400
    document = answer.problem()
    assert document["code"] == "malformed-http"
    assert answer.headers["connection"] == "close"
    assert answer.closed


# --- the connection cap ----------------------------------------------------------------------


@pytest.mark.slow
def test_idle_sockets_beyond_the_cap_do_not_shut_out_a_new_client(capped: LiveServer) -> None:
    """``max_connections`` 8: twelve idle sockets (some trickling a header) make
    the server close the oldest idle ones, and ``/healthz`` answers at once."""
    idle = [_connect(capped) for _ in range(12)]
    try:
        for sock in idle[8:]:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        with _connect(capped) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            answer = read_answer(sock, deadline=5, close_within=0)
        assert answer.status == 200
        # The oldest idle connections made room: closed, without an answer
        # (they had sent nothing); the newest are still open.
        closed = [sock for sock in idle if closed_within(sock, 0.2)]
        assert idle[0] in closed and idle[4] in closed, len(closed)
        assert idle[-1] not in closed
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.slow
def test_when_every_slot_holds_a_request_a_new_client_gets_503(capped: LiveServer) -> None:
    busy = [_connect(capped) for _ in range(8)]
    try:
        for sock in busy:
            sock.sendall(
                b"POST /api/v1/submissions HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            )
            # The 100 Continue says the request is in flight: the application reads its body.
            assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
            sock.sendall(b"{")
        with _connect(capped) as sock:
            answer = read_answer(sock, deadline=5)
        assert answer.status == 503
        assert answer.problem()["code"] == "unavailable"
        assert answer.headers["retry-after"]
        assert answer.closed
        # None of the requests in flight was dropped to make room.
        assert not [sock for sock in busy if closed_within(sock, 0.05)]
    finally:
        for sock in busy:
            sock.close()
    # Once they are gone, new clients are served again.
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(capped.url + "/healthz", timeout=5).status_code == 200:
                break
        assert time.monotonic() < deadline, "the slots were never given back"


@pytest.mark.slow
def test_a_file_descriptor_limit_of_128_and_150_idle_sockets_leave_healthz_up(
    tmp_path: Path,
) -> None:
    """The issue's case: with ``ulimit -n 128`` the default cap is computed from
    that limit, so idle sockets past it close the oldest instead of leaving
    the server unable to accept anyone."""
    live = _start(tmp_path / "starved", {}, nofile=128)
    idle: list[socket.socket] = []
    try:
        for _ in range(150):
            idle.append(_connect(live))
        answer = httpx.get(live.url + "/healthz", timeout=5)
        assert answer.status_code == 200
    finally:
        for sock in idle:
            sock.close()
        output = live.stop()
    assert "Too many open files" not in output, output


# --- the settings --------------------------------------------------------------------------


def test_the_limits_come_from_the_settings_with_defaults_for_tor() -> None:
    settings = Settings()
    assert settings.max_header_bytes == 16 * 1024
    assert settings.header_timeout_seconds == 20
    assert settings.body_timeout_seconds == 60
    assert settings.keepalive_timeout_seconds == 15
    assert settings.max_connections == 0  # computed from the file-descriptor limit
    loaded = load_settings(
        {}, environ={"TESTIMONY_MAX_HEADER_BYTES": "8192", "TESTIMONY_MAX_CONNECTIONS": "100"}
    )
    assert (loaded.max_header_bytes, loaded.max_connections) == (8192, 100)


@pytest.mark.parametrize(
    "changes",
    [
        {"max_header_bytes": 1000},
        {"max_header_bytes": 2 << 20},
        {"header_timeout_seconds": 0},
        {"body_timeout_seconds": 0},
        {"keepalive_timeout_seconds": 0},
        {"header_timeout_seconds": 100_000},
        {"max_connections": -1},
    ],
)
def test_limits_out_of_range_are_refused(changes: dict[str, int]) -> None:
    with pytest.raises(BadSettings):
        Settings(**changes)  # type: ignore[arg-type]


@pytest.mark.slow
def test_the_default_connection_cap_stays_under_the_file_descriptor_limit() -> None:
    settings = Settings()
    assert serving.Limits.of(settings, nofile=128).max_connections == 32
    assert serving.Limits.of(settings, nofile=1024).max_connections == 480
    assert serving.Limits.of(settings, nofile=1 << 20).max_connections == 4096
    postgres = Settings(database_url="postgresql+psycopg://x@/y", workers=2)
    # Each worker's 40 PostgreSQL connections are file descriptors too.
    assert serving.Limits.of(postgres, nofile=1024).max_connections == 460
    assert serving.Limits.of(settings.replace(max_connections=10), nofile=128).max_connections == 10
    with pytest.raises(BadSettings):
        serving.Limits.of(settings, nofile=64)


def test_serve_refuses_a_file_descriptor_limit_that_leaves_no_room(tmp_path: Path) -> None:
    command = [str(Path(sys.executable).parent / "testimony"), "serve", "--data-dir", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTIMONY_")}
    done = subprocess.run(
        ["sh", "-c", 'ulimit -n 64 && exec "$@"', "sh", *command],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "testimony: the file-descriptor limit (64) leaves fewer than 8 connections; "
        "raise it (LimitNOFILE=) (bad-settings)"
    )
