"""Helpers for benchmarks that run a real ``testimony serve`` process.

Not a benchmark itself (``bench/run.py`` runs only ``bench_*.py``). It drives
the server through its command line only (``testimony intake-key new``,
``testimony init``, ``testimony serve``), waits for ``/healthz`` with a
deadline (never a fixed sleep), reads the server's CPU time and peak RSS from
``/proc``, and makes a throw-away PostgreSQL database for a run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = [
    "STARTUP_DEADLINE",
    "LiveServer",
    "Machine",
    "cpu_model",
    "free_port",
    "init_data_dir",
    "load_average",
    "postgres_database",
    "start_server",
    "testimony_command",
]

STARTUP_DEADLINE = 60.0
"""Seconds a server gets to answer ``/healthz`` before the benchmark gives up."""

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def testimony_command() -> list[str]:
    """The ``testimony`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "testimony"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from testimony.service.cli import main; main()"]


def _clean_env() -> dict[str, str]:
    """This process's environment without any ``TESTIMONY_*`` setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TESTIMONY_")}


def _run(args: list[str]) -> str:
    done = subprocess.run(
        [*testimony_command(), *args], capture_output=True, text=True, env=_clean_env(), check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"testimony {args[0]} failed: {done.stderr.strip()}")
    return done.stdout


def init_data_dir(
    data_dir: Path, *, origin: str, database_url: str | None = None
) -> tuple[bytes, str]:
    """``testimony intake-key new`` and ``testimony init`` into ``data_dir``.

    Returns the intake public key (S1, 1216 bytes) and the log verifier key.
    """
    from testimony.crypto.encoding import b64u_decode

    keys = data_dir.parent / f"{data_dir.name}-intake"
    keys.mkdir(mode=0o700)
    _run(
        [
            "intake-key",
            "new",
            "--private",
            str(keys / "intake.seed"),
            "--public",
            str(keys / "intake.pub"),
        ]
    )
    args = [
        "init",
        "--data-dir",
        str(data_dir),
        "--intake-public-key",
        str(keys / "intake.pub"),
        "--origin",
        origin,
    ]
    if database_url:
        args += ["--database-url", database_url]
    printed = _run(args)
    log_key = next(
        line.split(":", 1)[1].strip() for line in printed.splitlines() if line.startswith("log key")
    )
    public = b64u_decode((keys / "intake.pub").read_text(encoding="ascii").strip())
    return public, log_key


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
    output: Path

    @property
    def pid(self) -> int:
        return self.process.pid

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

    def processes(self) -> list[int]:
        """The server's process and its worker processes (``--workers``)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            found = [int(pid) for pid in children.read_text().split()]
        except FileNotFoundError:
            found = []
        return [self.pid, *found]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server (all its threads and workers), in seconds."""
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


def start_server(
    data_dir: Path,
    output: Path,
    *,
    database_url: str | None = None,
    pow_bits: int = 0,
    workers: int = 1,
) -> LiveServer:
    """``testimony serve`` on a free port; returns once ``/healthz`` answers 200.

    Raises ``RuntimeError`` if the process exits or does not answer within
    :data:`STARTUP_DEADLINE` seconds (the process is stopped then).
    """
    port = free_port()
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
    ]
    if database_url:
        command += ["--database-url", database_url]
    with output.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=_clean_env())
    server = LiveServer(f"http://127.0.0.1:{port}", process, output)
    deadline = time.monotonic() + STARTUP_DEADLINE
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited during startup:\n{server.stop()[-2000:]}")
        try:
            if httpx.get(server.url + "/healthz", timeout=1.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("the server did not answer /healthz in time")
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.05)  # returns early only if the server died


@contextlib.contextmanager
def postgres_database(server_url: str, prefix: str = "bench") -> Iterator[str]:
    """A fresh PostgreSQL database on the server of ``server_url``, dropped afterwards.

    Yields its SQLAlchemy URL (same user, host and driver as ``server_url``).
    Raises ``psycopg.OperationalError`` if the server cannot be reached.
    """
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_reachable(server_url: str) -> str | None:
    """None if the PostgreSQL server answers, else a one-line reason."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(admin, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Machine:
    """Busy CPU time of the whole machine (every process), from ``/proc/stat``."""

    @staticmethod
    def busy_seconds() -> float:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return (sum(fields[:8]) - idle) / _CLOCK_TICKS


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything under it, if it exists."""
    shutil.rmtree(path, ignore_errors=True)
