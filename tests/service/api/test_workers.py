"""``testimony serve --workers N``: several processes behind one port, appending
to one log (service/api/serving.py).

Against a real server on SQLite and PostgreSQL: every concurrent submission
gets its own verified receipt and the log grows by exactly their number; a
worker that dies takes the server down with a non-zero exit (so a supervisor
restarts it whole); SIGTERM stops every process cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from testimony.service.server import init_data_dir
from testimony.service.settings import Settings
from tests.live_server import LiveServer, start_server
from tests.service.api.witness_client import WitnessClient

ORIGIN = "workers.test/log"
pytestmark = pytest.mark.slow


@pytest.fixture
def two_workers(
    tmp_path: Path, database_url: str | None, intake_public: bytes
) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    init_data_dir(settings, intake_public, origin=ORIGIN)
    server = start_server(
        settings.require_data_dir(),
        tmp_path / "server-output.txt",
        database_url=database_url,
        workers=2,
    )
    try:
        yield server
    finally:
        server.stop()


def test_two_workers_append_concurrent_submissions_to_one_log(
    two_workers: LiveServer, intake_public: bytes
) -> None:
    assert len(two_workers.workers()) == 2
    key = two_workers.log_key()
    count, clients = 24, 8

    def submit(n: int) -> dict[str, object]:
        # One connection per witness: the kernel spreads them over the workers.
        with httpx.Client(base_url=two_workers.url, timeout=30) as http:
            me = WitnessClient(http, log_key=key, origin=ORIGIN)
            sealed = me.seal(intake_public, {}, {"n": n})
            receipt = me.submit(sealed)
            me.verify(receipt, sealed)
            return receipt

    with ThreadPoolExecutor(clients) as pool:
        receipts = list(pool.map(submit, range(count)))
    assert sorted(r["index"] for r in receipts) == list(range(1, count + 1))
    note = httpx.get(two_workers.url + "/api/v1/log/checkpoint", timeout=10).text
    assert note.split("\n")[1] == str(count + 1)
    assert two_workers.stop().count("Traceback") == 0
    assert two_workers.process.returncode == 0


def test_a_worker_that_dies_stops_the_server_with_a_failure(two_workers: LiveServer) -> None:
    first, second = two_workers.workers()
    os.kill(first, signal.SIGKILL)
    try:
        status = two_workers.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the server kept running short of a worker")
    assert status != 0
    assert not Path(f"/proc/{second}").exists() or _is_zombie(second)


def _is_zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] == "Z"
