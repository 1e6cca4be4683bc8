"""A real ``testimony serve`` process for end-to-end tests.

Started on a free loopback port and awaited on ``/healthz`` with a deadline;
nothing sleeps. The server's environment drops every ``TESTIMONY_*``
variable so that only the flags given here configure it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

STARTUP_DEADLINE = 30.0


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    output: Path
    database_url: str | None = None

    def stop(self) -> str:
        """Stop the server gracefully; return everything it printed."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        return self.output.read_text(encoding="utf-8", errors="replace")

    def workers(self) -> list[int]:
        """The process ids of the server's worker processes (``--workers``)."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(child) for child in children.split()]

    def log_key(self) -> str:
        return httpx.get(self.url + "/api/v1/log/key", timeout=10).text.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(
    data_dir: Path,
    output: Path,
    *,
    pow_bits: int = 0,
    database_url: str | None = None,
    port: int | None = None,
    workers: int = 1,
) -> LiveServer:
    """Start ``testimony serve`` on an initialised ``data_dir``; its output is
    appended to ``output``."""
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
        str(pow_bits),
        "--workers",
        str(workers),
    ]
    if database_url:
        command += ["--database-url", database_url]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTIMONY_")}
    with output.open("ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    server = LiveServer(f"http://127.0.0.1:{port}", process, data_dir, output, database_url)
    deadline = time.monotonic() + STARTUP_DEADLINE
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {server.stop()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(server.url + "/healthz", timeout=1.0).status_code == 200:
                return server
        if time.monotonic() > deadline:
            server.stop()
            raise AssertionError("the server did not answer /healthz in time")
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.05)  # returns early only if the server died
