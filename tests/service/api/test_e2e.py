"""End to end against a real ``testimony serve`` (uvicorn) process, on SQLite and
on PostgreSQL: a witness client written from docs/protocol.md submits, uploads and
verifies; no client address reaches the database, the blobs or the logs; a
large upload streams through in bounded memory.

The server is awaited on ``/healthz`` with a deadline; nothing sleeps.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testimony.service.server import audit_settings, init_data_dir
from testimony.service.settings import Settings
from tests.live_server import LiveServer, start_server
from tests.service.api.witness_client import TUS, WitnessClient
from tests.service.intake_support import VECTOR

ORIGIN = "e2e.test/log"
CLIENT_ADDRESS = "127.0.0.2"


@pytest.fixture
def live(tmp_path: Path, database_url: str | None, intake_public: bytes) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    init_data_dir(settings, intake_public, origin=ORIGIN)
    server = start_server(
        settings.require_data_dir(), tmp_path / "server-output.txt", database_url=database_url
    )
    try:
        yield server
    finally:
        server.stop()


def _settings(live: LiveServer) -> Settings:
    return Settings(data_dir=live.data_dir, database_url=live.database_url)


def witness_over(http: httpx.Client) -> WitnessClient:
    key = http.get("/api/v1/log/key").text.strip()
    return WitnessClient(http, log_key=key, origin=ORIGIN)


@pytest.mark.slow
def test_a_witness_submits_uploads_and_verifies_against_a_real_server(
    live: LiveServer, intake_public: bytes
) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        me = witness_over(http)
        first_checkpoint = http.get("/api/v1/log/checkpoint").text
        sealed = me.seal(intake_public, {"photo.jpg": os.urandom(300_000)}, {"what": "fire"})
        receipt = me.submit(sealed)
        again = http.post("/api/v1/submissions", json=sealed.request)
        assert again.status_code == 201 and again.json() == receipt
        me.submit(me.seal(intake_public, {}, {"what": "more"}))
        me.check_consistency(first_checkpoint, http.get("/api/v1/log/checkpoint").text)
        headers = http.get("/healthz").headers
        assert "server" not in headers and headers["referrer-policy"] == "no-referrer"
    output = live.stop()
    assert "Traceback" not in output
    notes, findings = audit_settings(_settings(live))
    assert findings == [] and notes == []


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_client_address_reaches_the_database_blobs_or_logs(
    live: LiveServer, intake_public: bytes, tmp_path: Path
) -> None:
    # The client really connects from another loopback address.
    with socket.create_connection(
        ("127.0.0.1", int(live.url.rsplit(":", 1)[1])), source_address=(CLIENT_ADDRESS, 0)
    ) as probe:
        assert probe.getsockname()[0] == CLIENT_ADDRESS

    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    with httpx.Client(base_url=live.url, transport=transport, timeout=30) as http:
        me = witness_over(http)
        me.submit(me.seal(intake_public, {"a.bin": os.urandom(200_000)}, {"q": 1}))
        # Errors of every kind, a header that names the address, a forwarded header.
        named = {
            "X-Forwarded-For": CLIENT_ADDRESS,
            "X-Real-IP": CLIENT_ADDRESS,
            "Forwarded": f"for={CLIENT_ADDRESS}",
            "User-Agent": f"agent {CLIENT_ADDRESS}",
        }
        assert http.get("/nowhere", headers=named).status_code == 404
        assert (
            http.post(
                "/api/v1/submissions",
                content=b"{",
                headers={**named, "Content-Type": "application/json"},
            ).status_code
            == 400
        )
        assert (
            http.post("/api/v1/submissions", json=VECTOR["request"], headers=named).status_code
            == 422
        )
        assert http.head("/api/v1/uploads/nosuchuploadnosuchupload", headers=TUS).status_code == 404
        unfinished = http.post(
            "/api/v1/uploads/",
            headers={
                **TUS,
                **named,
                "Upload-Length": "100",
                "Upload-Metadata": "sha256 " + "YWJj" * 21 + "YWI=",
            },
        )
        assert unfinished.status_code in (201, 400)
    output = live.stop()

    needle = CLIENT_ADDRESS.encode()
    assert needle not in output.encode()
    searched = set()
    for path in live.data_dir.rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), path
            searched.add(path.relative_to(live.data_dir).parts[0])
    # The database (headers and inline bodies too), the keys, the attachment blobs.
    assert {"log-key", "blobs"} <= searched
    assert live.database_url or "testimony.sqlite3" in searched


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_large_upload_streams_in_bounded_memory(live: LiveServer) -> None:
    import hashlib

    size, piece = 256 << 20, 1 << 20
    block = os.urandom(piece)
    digest = hashlib.sha256()
    for _ in range(size // piece):
        digest.update(block)
    blob_id = digest.hexdigest()
    import base64

    with httpx.Client(base_url=live.url, timeout=120) as http:
        baseline = peak_rss_kib(live.process.pid)
        created = http.post(
            "/api/v1/uploads/",
            headers={
                **TUS,
                "Upload-Length": str(size),
                "Upload-Metadata": "sha256 " + base64.b64encode(blob_id.encode()).decode(),
            },
        )
        assert created.status_code == 201

        def body() -> Iterator[bytes]:
            for _ in range(size // piece):
                yield block

        answer = http.patch(
            created.headers["location"],
            content=body(),
            headers={
                **TUS,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert answer.status_code == 204, answer.text
        peak = peak_rss_kib(live.process.pid)
    print(f"server peak RSS: {baseline} KiB before, {peak} KiB after a {size >> 20} MiB upload")
    assert peak - baseline < 64 * 1024, (baseline, peak)
    assert peak < 128 * 1024, peak
