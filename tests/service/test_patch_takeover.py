"""A stalled PATCH lets go of its upload, and the client's next request takes
it over (issue 12): a witness on Tor whose link died without closing the
server's side used to get ``423 upload-busy`` until the server's body timeout
(60 s) had ended the stalled request.

Against a real ``testimony serve`` with two workers, on SQLite and on
PostgreSQL, ``upload_stall_seconds = 1`` (the default is 5: only the waits
shrink). The stalled PATCH is a raw socket that sends its head and part of
its body, then nothing, and stays open. The requests that follow go over
connections chosen by the worker that serves them (read from ``/proc``: the
kernel spreads connections over the workers' ``SO_REUSEPORT`` sockets), so the
takeover is shown within one process and across two:

- ``HEAD`` reports every byte the stalled PATCH received, and a ``PATCH``
  from there completes the upload long before the body timeout; the blob is
  the bytes sent; the stalled PATCH is answered ``409 upload-offset-mismatch``;
- a PATCH still receiving bytes, slowly, keeps its upload: another request
  for it gets ``423 upload-busy``, and the slow one completes;
- a stalled PATCH whose bytes come again goes on where it stopped, even after
  another request used the free upload without moving it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from testimony.crypto import hpke
from testimony.service.api.uploads import TAKEOVER_MARGIN_SECONDS
from testimony.service.domain.errors import BadSettings
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings, load_settings
from tests.live_server import LiveServer, start_server
from tests.service.intake_support import TUS, PostgresSchema, postgres_url_or_skip

STALL = 1
"""The server's ``upload_stall_seconds`` here."""
SLACK = 3.0
"""How much later than its bound an answer may come (a loaded machine)."""
BODY_TIMEOUT = 60
"""The server's ``body_timeout_seconds`` (the default), which a stalled PATCH
used to hold its upload for."""
KIB = 1024
LENGTH = 256 * KIB
SENT = 100 * KIB
"""What the stalled PATCH sends of its body before it stops."""
DEADLINE = 20.0
OFFSET_PATCH = {"Content-Type": "application/offset+octet-stream"}


@dataclass
class Served:
    """The server of this module's tests, its port, and a client of it."""

    server: LiveServer
    port: int
    http: httpx.Client

    def check_alive(self) -> None:
        assert self.server.process.poll() is None, "the server died"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp(f"takeover-{request.param}")
    schema = PostgresSchema(postgres_url_or_skip()) if request.param == "postgres" else None
    database_url = schema.url if schema is not None else None
    try:
        data_dir = folder / "data"
        settings = Settings(data_dir=data_dir, database_url=database_url)
        init_data_dir(settings, hpke.public_key(os.urandom(32)), origin="takeover.test/log")
        config = folder / "testimony.toml"
        config.write_text(f"upload_stall_seconds = {STALL}\n")
        server = start_server(
            data_dir,
            folder / "server-output.txt",
            database_url=database_url,
            workers=2,
            extra_args=["--config", str(config)],
        )
        try:
            with httpx.Client(base_url=server.url, timeout=DEADLINE) as client:
                yield Served(server, int(server.url.rsplit(":", 1)[1]), client)
        finally:
            output = server.stop()
        assert "Traceback" not in output, output
    finally:
        if schema is not None:
            schema.drop()


# --- which worker serves a connection ------------------------------------------------


def _hex_address(port: int) -> str:
    return f"0100007F:{port:04X}"  # 127.0.0.1, as /proc/net/tcp writes it


def _worker_of(served: Served, client: socket.socket) -> int:
    """The pid of the worker that accepted ``client``'s connection: the one
    holding the socket of the connection's server side (``/proc/net/tcp``)."""
    local, remote = _hex_address(served.port), _hex_address(client.getsockname()[1])
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        inodes = [
            fields[9]
            for fields in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines())
            if fields[1:3] == [local, remote]
        ]
        if inodes and inodes[0] != "0":  # 0: not accepted yet
            wanted = f"socket:[{inodes[0]}]"
            for pid in served.server.workers():
                with contextlib.suppress(FileNotFoundError):
                    for fd in Path(f"/proc/{pid}/fd").iterdir():
                        with contextlib.suppress(FileNotFoundError):
                            if os.readlink(fd) == wanted:
                                return pid
        served.check_alive()
        time.sleep(0.01)  # the worker's event loop accepts in a moment
    raise AssertionError("no worker accepted the connection")


def _connection(
    served: Served, on: Callable[[int], bool]
) -> tuple[http.client.HTTPConnection, int]:
    """A connection that a worker ``on(pid)`` approves of serves; and that pid."""
    for _ in range(64):  # each lands on either worker about half the time
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=DEADLINE)
        connection.connect()
        assert connection.sock is not None
        worker = _worker_of(served, connection.sock)
        if on(worker):
            return connection, worker
        connection.close()
    raise AssertionError("the kernel kept every connection on one worker")


# --- tus over those connections --------------------------------------------------------


def _create(served: Served, data: bytes) -> str:
    blob = hashlib.sha256(data).hexdigest()
    created = served.http.post(
        "/api/v1/uploads/",
        headers={
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": "sha256 " + base64.b64encode(blob.encode()).decode(),
        },
    )
    assert created.status_code == 201, created.text
    return str(created.headers["location"])


def _head(connection: http.client.HTTPConnection, location: str) -> int:
    connection.request("HEAD", location, headers=TUS)
    answer = connection.getresponse()
    answer.read()
    assert answer.status == 200
    return int(answer.headers["Upload-Offset"])


def _patch(
    connection: http.client.HTTPConnection, location: str, offset: int, body: bytes
) -> tuple[int, http.client.HTTPResponse, bytes]:
    headers = {**TUS, **OFFSET_PATCH, "Upload-Offset": str(offset)}
    connection.request("PATCH", location, body=body, headers=headers)
    answer = connection.getresponse()
    return answer.status, answer, answer.read()


def _start_patch(served: Served, location: str, head_of: bytes, length: int) -> socket.socket:
    """A raw connection with a PATCH head for ``length`` bytes at offset 0, and ``head_of``."""
    raw = socket.create_connection(("127.0.0.1", served.port), timeout=DEADLINE)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw.sendall(
        (
            f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            "Content-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {length}\r\n\r\n"
        ).encode()
        + head_of
    )
    return raw


def _answer(raw: socket.socket) -> tuple[int, http.client.HTTPMessage, bytes]:
    answer = http.client.HTTPResponse(raw)
    answer.begin()
    return answer.status, answer.headers, answer.read()


def _wait_for_offset(served: Served, location: str, expected: int, *, exact: bool = True) -> None:
    """``HEAD`` until the upload holds ``expected`` bytes, or more unless
    ``exact`` (a deadline, never a sleep)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        offset = int(served.http.head(location, headers=TUS).headers["upload-offset"])
        if offset >= expected:
            assert offset == expected or not exact
            return
        assert time.monotonic() < deadline, f"only {offset} bytes reached the upload"
        served.check_alive()


def _stored(served: Served, data: bytes) -> bytes:
    blob = hashlib.sha256(data).hexdigest()
    return (served.server.data_dir / "blobs" / blob[:2] / blob[2:4] / blob).read_bytes()


# --- the tests -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("where", ["same worker", "other worker"])
def test_the_next_request_takes_a_stalled_patch_over(
    served: Served, where: str, record_property: Callable[[str, object], None]
) -> None:
    data = os.urandom(LENGTH)
    location = _create(served, data)
    stalled = _start_patch(served, location, data[:SENT], LENGTH)
    with stalled:
        worker = _worker_of(served, stalled)
        # The link dies without a FIN: the server's side stays open, silent.
        _wait_for_offset(served, location, SENT)
        same = where == "same worker"
        connection, other = _connection(served, lambda pid: (pid == worker) == same)
        with contextlib.closing(connection):
            assert _head(connection, location) == SENT  # every byte received is kept
            began = time.monotonic()
            status, answer, body = _patch(connection, location, SENT, data[SENT:])
            took = time.monotonic() - began
        record_property(f"takeover_seconds_{where.replace(' ', '_')}", round(took, 2))
        assert status == 204, body
        assert int(answer.headers["Upload-Offset"]) == LENGTH
        assert took < STALL + TAKEOVER_MARGIN_SECONDS + SLACK < BODY_TIMEOUT
        assert (other == worker) == same
        assert _stored(served, data) == data
        assert served.http.head(location, headers=TUS).headers["upload-offset"] == str(LENGTH)
        # The stalled request is ended: it is told the upload moved on without it.
        status, headers, document = _answer(stalled)
        assert status == 409
        assert headers["content-type"] == "application/problem+json"
        assert json.loads(document)["code"] == "upload-offset-mismatch"


@pytest.mark.slow
def test_a_patch_still_receiving_keeps_its_upload(served: Served) -> None:
    data = os.urandom(64 * KIB)
    location = _create(served, data)
    step, pace = 2 * KIB, 0.1  # 20 KB/s: slow, and never quiet for the stall interval
    slow = _start_patch(served, location, data[:step], len(data))
    trickled: list[BaseException] = []

    def trickle() -> None:
        try:
            for start in range(step, len(data), step):
                time.sleep(pace)  # the client's pace, not a wait for the server
                slow.sendall(data[start : start + step])
        except BaseException as exc:
            trickled.append(exc)

    sender = threading.Thread(target=trickle, daemon=True)
    with slow:
        sender.start()
        _wait_for_offset(served, location, step, exact=False)
        connection, _ = _connection(served, lambda pid: True)
        with contextlib.closing(connection):
            # A client resumes as tus does: HEAD, then PATCH from there; again on 409
            # (the slow request moved the upload on meanwhile).
            deadline = time.monotonic() + DEADLINE
            while True:
                offset = _head(connection, location)
                assert offset < len(data), "the slow PATCH ended before the other was refused"
                status, _, body = _patch(connection, location, offset, data[offset : offset + step])
                if status != 409:
                    break
                assert time.monotonic() < deadline
            assert status == 423, body
            assert json.loads(body)["code"] == "upload-busy"
        sender.join(DEADLINE)
        assert not trickled, trickled
        status, headers, body = _answer(slow)
    assert status == 204, body
    assert int(headers["Upload-Offset"]) == len(data)
    assert _stored(served, data) == data


@pytest.mark.slow
def test_a_stalled_patch_whose_bytes_come_again_goes_on(served: Served) -> None:
    data = os.urandom(LENGTH)
    location = _create(served, data)
    paused = _start_patch(served, location, data[:SENT], LENGTH)
    with paused:
        _wait_for_offset(served, location, SENT)
        # While it is quiet, the upload is free: an empty PATCH at its offset
        # takes it (waiting at most the stall interval) and leaves it there.
        connection, _ = _connection(served, lambda pid: True)
        with contextlib.closing(connection):
            status, answer, body = _patch(connection, location, SENT, b"")
        assert status == 204, body
        assert int(answer.headers["Upload-Offset"]) == SENT
        paused.sendall(data[SENT:])  # the link comes back
        status, headers, body = _answer(paused)
    assert status == 204, body
    assert int(headers["Upload-Offset"]) == LENGTH
    assert _stored(served, data) == data


def test_the_stall_interval_is_whole_seconds_from_one() -> None:
    assert Settings().upload_stall_seconds == 5
    assert load_settings(environ={"TESTIMONY_UPLOAD_STALL_SECONDS": "2"}).upload_stall_seconds == 2
    for wrong in (0, 3601):
        with pytest.raises(BadSettings, match="upload_stall_seconds"):
            Settings(upload_stall_seconds=wrong)
