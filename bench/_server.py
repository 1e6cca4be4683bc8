"""Helpers for benchmarks that run a real ``testimony serve`` process.

Not a benchmark itself (``bench/run.py`` runs only ``bench_*.py``). It drives
the server through its command line only (``testimony intake-key new``,
``testimony init``; ``testimony serve`` through ``testimony.service.testing``,
the launcher the tests use too), reads the machine's load and CPU time, and
makes a throw-away PostgreSQL database for a run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from testimony.service.testing import (
    STARTUP_DEADLINE,
    LiveServer,
    clean_environment,
    free_port,
    start_server,
    testimony_command,
)

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

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _run(args: list[str]) -> str:
    done = subprocess.run(
        [*testimony_command(), *args],
        capture_output=True,
        text=True,
        env=clean_environment(),
        check=False,
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
