"""A real ``testimony serve`` process, for the end-to-end tests and the
benchmarks alike.

:func:`start_server` starts it on a free loopback port through the command
line only and returns once ``/healthz`` answers, within a deadline — it never
sleeps a fixed time. The server's environment drops every ``TESTIMONY_*``
variable, so only the flags given here configure it. :class:`LiveServer`
stops it and reads its CPU time and memory from ``/proc`` (Linux).

Nothing of the server is imported: this module talks to it as a client would.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = [
    "STARTUP_DEADLINE",
    "LiveServer",
    "ServerDidNotStart",
    "clean_environment",
    "free_port",
    "start_server",
    "testimony_command",
]

STARTUP_DEADLINE = 60.0
"""Seconds a server gets to answer ``/healthz``."""

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServerDidNotStart(RuntimeError):
    """The server exited during start-up or did not answer ``/healthz`` in time."""


def testimony_command() -> list[str]:
    """The ``testimony`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "testimony"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from testimony.service.cli import main; main()"]


def clean_environment() -> dict[str, str]:
    """This process's environment without any ``TESTIMONY_*`` setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TESTIMONY_")}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveServer:
    """A running ``testimony serve`` process."""

    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    output: Path
    database_url: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> str:
        """Stop the server (SIGTERM, then SIGKILL after 30 s); return what it printed."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        return self.output.read_text(encoding="utf-8", errors="replace")

    def workers(self) -> list[int]:
        """The process ids of the server's worker processes (``--workers``)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            return [int(child) for child in children.read_text().split()]
        except FileNotFoundError:
            return []

    def processes(self) -> list[int]:
        """The server's process and its worker processes."""
        return [self.pid, *self.workers()]

    def log_key(self) -> str:
        """The log verifier key the server publishes."""
        return httpx.get(self.url + "/api/v1/log/key", timeout=10).text.strip()

    def _status(self, field: str) -> int:
        """A ``kB`` field of ``/proc/<pid>/status``, in bytes."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(field)

    def peak_rss(self) -> int:
        """The server's peak resident set size so far (``VmHWM``), in bytes."""
        return self._status("VmHWM")

    def rss(self) -> int:
        """The server's resident set size now (``VmRSS``), in bytes."""
        return self._status("VmRSS")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and its workers, in seconds."""
        total = 0
        for pid in self.processes():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except FileNotFoundError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
            total += int(fields[11]) + int(fields[12])
        return total / _CLOCK_TICKS


def start_server(
    data_dir: Path,
    output: Path,
    *,
    pow_bits: int = 0,
    database_url: str | None = None,
    port: int | None = None,
    workers: int = 1,
    extra_args: Sequence[str] = (),
    wrapper: Sequence[str] = (),
    deadline_seconds: float = STARTUP_DEADLINE,
) -> LiveServer:
    """Start ``testimony serve`` on an initialised ``data_dir`` (``extra_args``
    are more flags of ``serve``; ``wrapper`` a command that ``exec``s the rest,
    such as a shell setting ``ulimit -n`` as a supervisor would); its output is
    appended to ``output``.

    Returns once ``/healthz`` answers 200. Raises :class:`ServerDidNotStart`
    if the process exits or does not answer within ``deadline_seconds`` (it
    is stopped then).
    """
    port = port or free_port()
    command = [
        *testimony_command(),
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
        *extra_args,
    ]
    if database_url:
        command += ["--database-url", database_url]
    command = [*wrapper, *command]
    with output.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own console script, arguments as a list
            command, stdout=sink, stderr=subprocess.STDOUT, env=clean_environment()
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, data_dir, output, database_url)
    deadline = time.monotonic() + deadline_seconds
    while True:
        if process.poll() is not None:
            raise ServerDidNotStart(f"the server exited during start-up:\n{server.stop()[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(server.url + "/healthz", timeout=1.0).status_code == 200:
                return server
        if time.monotonic() > deadline:
            server.stop()
            raise ServerDidNotStart("the server did not answer /healthz in time")
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.05)  # returns early only if the server died
