"""A client that leaves mid-request is not an error (issue 12, item 6).

Anyone could write an ``ERROR ... internal error: ClientDisconnect`` line at
will by dropping a connection mid-body, each line stamped with the exact time
under journald. An expected end of a request (the client left; the request
was cancelled because the server is stopping) now logs nothing.

The application runs under a real uvicorn on a loopback socket bound before
the server starts (so nothing waits for it to come up); the test cuts a real
TCP connection after the request reached the application, then stops the
server, which waits for the request to end, before looking at the log.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn

from testimony.service.api.app import create_app
from testimony.service.api.middleware import CatchUnexpected
from testimony.service.settings import Settings
from tests.service.intake_support import TUS, TestClient

DEADLINE = 30.0


@pytest.fixture
def database_url() -> None:
    """SQLite in the data dir."""
    return None


@dataclass
class Served:
    address: tuple[str, int]
    entered: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)


@contextmanager
def served(app: Any, *, graceful_seconds: float = 10.0) -> Iterator[Served]:
    """Serve ``app`` with uvicorn (configured as ``testimony serve`` does) in a
    thread; on exit, stop it and wait until it has stopped."""
    listener = socket.create_server(("127.0.0.1", 0))
    info = Served(address=listener.getsockname()[:2])

    async def observed(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        info.entered.set()
        try:
            await app(scope, receive, send)
        finally:
            info.ended.set()

    config = uvicorn.Config(
        observed,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        ws="none",
        log_config=None,
        timeout_graceful_shutdown=graceful_seconds,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield info
    finally:
        server.should_exit = True
        thread.join(DEADLINE)
        listener.close()
        assert not thread.is_alive(), "the server did not stop"


def _cut(info: Served, head: bytes, *, reset: bool) -> None:
    """Send ``head`` (a request line, headers and the start of a body), wait
    until the application has the request, then drop the connection (a FIN,
    or a TCP reset)."""
    with socket.create_connection(info.address, timeout=DEADLINE) as connection:
        connection.sendall(head)
        assert info.entered.wait(DEADLINE), "the request did not reach the application"
        if reset:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert info.ended.wait(DEADLINE), "the request did not end"


def _noise(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What an expected disconnect must not log: anything at WARNING or above,
    and anything at all that names the disconnect or comes from the API."""
    return [
        f"{record.name} {record.levelname} {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.WARNING
        or "isconnect" in record.getMessage()
        or record.name.startswith("testimony")
    ]


def _json_head(path: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n"
        '{"intake_key": "'
    ).encode()


@pytest.mark.parametrize("path", ["/api/v1/submissions", "/api/v1/followups", "/api/v1/replies"])
@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_json_body_cut_mid_way_logs_nothing(
    initialised: Settings, caplog: pytest.LogCaptureFixture, path: str, reset: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    with served(create_app(initialised)) as info:
        _cut(info, _json_head(path), reset=reset)
    assert _noise(caplog) == []


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_an_upload_cut_mid_patch_logs_nothing_and_keeps_its_bytes(
    initialised: Settings, caplog: pytest.LogCaptureFixture, reset: bool
) -> None:
    app = create_app(initialised)
    with TestClient(app) as client:
        created = client.post(
            "/api/v1/uploads/",
            headers={
                **TUS,
                "Upload-Length": "100000",
                "Upload-Metadata": "sha256 " + "YWJj" * 21 + "YQ==",
            },
        )
        assert created.status_code == 201, created.text
        location = created.headers["location"]
    caplog.set_level(logging.DEBUG)
    head = (
        f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
        "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
        "Content-Length: 100000\r\n\r\n"
    ).encode() + bytes(5000)
    with served(create_app(initialised)) as info:
        _cut(info, head, reset=reset)
    assert _noise(caplog) == []


def test_a_request_cancelled_when_the_server_stops_logs_nothing_of_its_own(
    initialised: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # A request whose body never ends, still open when the server stops: uvicorn
    # waits `graceful_seconds`, then cancels it. The client still connected is
    # told to try again; the only line is uvicorn's own about stopping.
    caplog.set_level(logging.DEBUG)
    with served(create_app(initialised), graceful_seconds=0.2) as info:
        connection = socket.create_connection(info.address, timeout=DEADLINE)
        connection.sendall(_json_head("/api/v1/submissions"))
        assert info.entered.wait(DEADLINE)
    try:
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    finally:
        connection.close()
    assert answer.startswith(b"HTTP/1.1 503 "), answer[:200]
    assert b"application/problem+json" in answer and b'"code":"unavailable"' in answer
    noise = [line for line in _noise(caplog) if "timeout graceful shutdown exceeded" not in line]
    assert noise == []


def test_catch_unexpected_answers_a_cancelled_request_without_logging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def cancelled(scope: Any, receive: Any, send: Any) -> None:
        raise asyncio.CancelledError

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    caplog.set_level(logging.DEBUG)
    scope = {"type": "http", "method": "GET", "path": "/api/v1/pow", "headers": []}
    asyncio.run(CatchUnexpected(cancelled)(scope, receive, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 503
    assert _noise(caplog) == []
