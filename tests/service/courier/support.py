"""A real ``testimony serve`` for the courier's tests, with proof of work on."""

from __future__ import annotations

import contextlib
import os
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
from testimony.crypto.encoding import b64u_encode
from testimony.service.domain.setup import init_data_dir
from testimony.service.settings import Settings
from tests.vectors.loader import load_json

ORIGIN = "courier.test/log"
POW_BITS = 8
STARTUP_DEADLINE = 30.0
VECTOR = load_json("testimony/submission.json")
INTAKE_SEED = bytes.fromhex(VECTOR["intake_seed"])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    output: Path

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        return self.output.read_text(encoding="utf-8", errors="replace")

    def log_key(self) -> str:
        return httpx.get(self.url + "/api/v1/log/key", timeout=10).text.strip()


def intake_key_file(folder: Path) -> Path:
    """The vector's intake public key as a b64u file (what a courier saves)."""
    path = folder / "intake.pub"
    path.write_text(b64u_encode(hpke.public_key(INTAKE_SEED)) + "\n", encoding="ascii")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(data_dir: Path, output: Path, port: int | None = None) -> LiveServer:
    """Start ``testimony serve`` on ``data_dir`` and wait for /healthz with a deadline."""
    port = port or free_port()
    command = [
        str(Path(sys.executable).parent / "testimony"),
        "serve",
        "--data-dir",
        str(data_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--pow-bits",
        str(POW_BITS),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTIMONY_")}
    with output.open("ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    server = LiveServer(f"http://127.0.0.1:{port}", process, data_dir, output)
    deadline = time.monotonic() + STARTUP_DEADLINE
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {server.stop()}")
        try:
            if httpx.get(server.url + "/healthz", timeout=1.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise AssertionError("the server did not answer /healthz in time")
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.05)


def init_data(folder: Path) -> Path:
    data_dir = folder / "data"
    init_data_dir(Settings(data_dir=data_dir), hpke.public_key(INTAKE_SEED), origin=ORIGIN)
    return data_dir


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    """A fresh server with the vector's intake key and proof of work at 8 bits."""
    server = start_server(init_data(tmp_path), tmp_path / "server-output.txt")
    try:
        yield server
    finally:
        output = server.stop()
        assert "Traceback" not in output
