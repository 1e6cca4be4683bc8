"""Intake server benchmarks (issue 4, item 7), each against its baseline in the same run.

    python bench/bench_intake.py [--quick] [--only PART]... [--postgres-url URL]
                                 [--workdir DIR] [--upload-piece-mib N] [--py-spy DIR]

PART is ``sqlite`` or ``postgres`` (part 1 on that database), ``upload``
(part 2), ``log`` (part 3 on both; ``log-sqlite``, ``log-postgres`` for one).
Without ``--only`` every part runs.

1. **Durable submissions per second** (docs/protocol.md §3 step 6, §10) against a
   real ``testimony serve`` process, on SQLite and on PostgreSQL, with 1 and
   16 concurrent clients (``_load``: keep-alive connections from one asyncio loop), proof
   of work off. Submissions are sealed with ``testimony.crypto.submission``
   before the clock starts; only the POSTs are timed. Every answer must be a
   201 with a receipt, each at its own index, and the log must grow by
   exactly the number sent; a sample of receipts is checked with
   ``testimony.crypto.receipts.verify_receipt`` afterwards. Baselines: the
   same number of ``GET /healthz`` (the HTTP floor), and a raw insert + commit
   loop on the same disk (SQLite, WAL, ``synchronous=FULL``) or the same
   server (PostgreSQL): the durability floor of one commit per submission;
   and a loop of durable small-file writes (write, fsync, rename, fsync the
   directory) of the size of a header or body, as the blob store keeps them.
   Targets: >= 1,000/s on SQLite with 16 clients, >= 500/s on PostgreSQL.
2. **Upload of a 1 GiB attachment over tus** (§6: creation, PATCH in 8 MiB
   pieces, completion with the hash check) against writing the same number
   of bytes to a file on the same filesystem and fsyncing it, with the
   server's peak RSS (``VmHWM``). The raw write of a virtual disk varies by
   a factor of four from one run to the next, so three uploads (of three
   blobs) and four raw writes take turns, a raw write on either side of
   every upload, and the medians are compared (the table also gives the
   upload against the fastest raw write). A submission naming the uploaded
   blobs must then get a receipt. Targets: >= 50% of the raw write speed,
   RSS < 128 MiB.
3. **Log append and proof latency at 10^6 entries** (§9) from
   ``testimony.service.store.log.LogStore`` directly, on SQLite and on
   PostgreSQL: build time (submission-shaped entries, batches of 5,000),
   inclusion proofs by index and by id, consistency proofs, ``append_batch``
   of 1 and of 64 entries at that size; baselines: one primary-key read of a
   tree node and one insert + commit in the same database. On PostgreSQL the
   benchmark runs ``ANALYZE`` as autovacuum would (the test server has
   autovacuum off). Target: an inclusion proof under 2 ms.

``--quick`` shrinks every part (fewer requests, two 128 MiB uploads, 10^5
entries). The client and the server share this machine's CPUs: the tables
give the CPU time each used (in cores: CPU seconds per wall second) and the
whole machine's, which includes anything else running. PostgreSQL runs in a
fresh database (``CREATE DATABASE bench_<random>``) dropped afterwards.
``--py-spy DIR`` samples the server during the timed parts and prints where
it spent its time (it slows the server down: not for the figures). Nothing
from ``tests/`` is imported. Exits 1 if a part fails (a wrong answer, a
receipt that does not verify), not for a missed target.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import hashlib
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _load
import _server
import httpx

from testimony.crypto import checkpoint, merkle, receipts, signing, submission

ORIGIN = "bench.testimony.invalid/log"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TUS = {"Tus-Resumable": "1.0.0"}
MiB = 1 << 20
PARTS = ("sqlite", "postgres", "upload", "log", "log-sqlite", "log-postgres")


@dataclass(frozen=True)
class Sizes:
    """How much each part does (``FULL`` or ``QUICK``)."""

    warmup: int
    one_client: int
    many_clients: int
    clients: int
    verify_sample: int
    upload_bytes: int
    upload_piece: int
    upload_rounds: int
    log_entries: int
    log_build_batch: int
    proof_queries: int
    appends_of_1: int
    appends_of_64: int


FULL = Sizes(
    warmup=64,
    one_client=500,
    many_clients=3_000,
    clients=16,
    verify_sample=200,
    upload_bytes=1 << 30,
    upload_piece=8 * MiB,
    upload_rounds=3,
    log_entries=1_000_000,
    log_build_batch=5_000,
    proof_queries=1_000,
    appends_of_1=200,
    appends_of_64=100,
)
QUICK = Sizes(
    warmup=32,
    one_client=100,
    many_clients=400,
    clients=16,
    verify_sample=50,
    upload_bytes=128 * MiB,
    upload_piece=8 * MiB,
    upload_rounds=2,
    log_entries=100_000,
    log_build_batch=5_000,
    proof_queries=300,
    appends_of_1=50,
    appends_of_64=30,
)


# --- measuring ---------------------------------------------------------------------


def client_cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Resources:
    """CPU used during one measurement: by the client, the server, the whole machine."""

    wall: float
    client: float
    server: float | None
    machine: float

    def cores(self, seconds: float | None) -> str:
        return "-" if seconds is None else f"{seconds / self.wall:.2f}"


class Meter:
    """Wall, client CPU, server CPU and machine CPU between ``start`` and ``stop``."""

    def __init__(self, server: _server.LiveServer | None) -> None:
        self._server = server

    def start(self) -> None:
        self._wall = time.perf_counter()
        self._client = client_cpu_seconds()
        self._server_cpu = self._server.cpu_seconds() if self._server else 0.0
        self._machine = _server.Machine.busy_seconds()

    def stop(self) -> Resources:
        wall = time.perf_counter() - self._wall
        return Resources(
            wall=wall,
            client=client_cpu_seconds() - self._client,
            server=(self._server.cpu_seconds() - self._server_cpu) if self._server else None,
            machine=_server.Machine.busy_seconds() - self._machine,
        )


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


@dataclass
class Row:
    """One line of a throughput table."""

    what: str
    clients: int
    count: int
    latencies: list[float]
    used: Resources

    def cells(self) -> list[str]:
        return [
            self.what,
            str(self.clients),
            f"{self.count:,}",
            f"{self.used.wall:.2f}",
            f"{self.count / self.used.wall:,.0f}",
            ms(statistics.median(self.latencies)),
            ms(percentile(self.latencies, 0.99)),
            self.used.cores(self.used.client),
            self.used.cores(self.used.server),
            self.used.cores(self.used.machine),
        ]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w)
        for i, (h, w) in enumerate(zip(headers, widths, strict=True))
    )
    print(line)
    print("-" * len(line))
    for row in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


THROUGHPUT_HEADERS = [
    "what",
    "clients",
    "requests",
    "wall s",
    "per s",
    "p50 ms",
    "p99 ms",
    "client cores",
    "server cores",
    "machine cores",
]


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


# --- HTTP load ---------------------------------------------------------------------


def run_clients(
    url: str,
    clients: int,
    requests: Sequence[bytes],
    server: _server.LiveServer,
) -> tuple[list[_load.Answer], list[float], Resources]:
    """Send ``requests`` (encoded by ``_load``) over ``clients`` keep-alive
    connections; time them (connection ``k`` sends requests ``k, k + clients,
    ...``). Returns the answers in request order, each request's latency, and
    the resources used."""
    meter = Meter(server)
    meter.start()
    answers, latencies = _load.run(url, requests, clients)
    return answers, latencies, meter.stop()


# --- part 1: submissions -------------------------------------------------------------


@dataclass(frozen=True)
class PreSealed:
    request: dict[str, Any]
    payload: bytes


def pre_seal(intake_public: bytes, count: int, tag: str) -> list[PreSealed]:
    """``count`` distinct sealed submissions (small manifest, no attachments)."""
    sealed = []
    for i in range(count):
        manifest = {
            "v": 1,
            "form": {"id": "bench", "version": 1, "sha256": "00" * 32},
            "lang": "en",
            "answers": {"what": f"benchmark submission {tag}-{i}"},
            "attachments": [],
            "consent": {"share_with": [], "contact": False},
        }
        request = submission.seal_submission(intake_public, manifest).request(attachments=[])
        sealed.append(PreSealed(request, json.dumps(request, separators=(",", ":")).encode()))
    return sealed


def post_submissions(url: str, items: Sequence[PreSealed]) -> list[bytes]:
    return [_load.post_json(url, "/api/v1/submissions", item.payload) for item in items]


def checkpoint_size(note: str) -> int:
    return int(note.split("\n", 2)[1])


def check_receipts(
    answers: Sequence[_load.Answer],
    sealed: Sequence[PreSealed],
    log_key: str,
    sample: int,
    rng: random.Random,
) -> tuple[int, int]:
    """Every answer is a 201 with a receipt, each index distinct; a sample verifies.

    Returns (batches seen, receipts verified). Raises ``RuntimeError`` otherwise.
    """
    indexes: set[int] = set()
    batch_sizes: set[int] = set()
    parsed = []
    for answer in answers:
        if answer.status != 201:
            raise RuntimeError(
                f"a submission was answered {answer.status}: {answer.content[:300]!r}"
            )
        receipt = json.loads(answer.content)
        if set(receipt) != {"id", "index", "entry", "checkpoint", "inclusion"}:
            raise RuntimeError("a 201 answer is not a receipt")
        indexes.add(receipt["index"])
        batch_sizes.add(checkpoint_size(receipt["checkpoint"]))
        parsed.append(receipt)
    if len(indexes) != len(answers):
        raise RuntimeError("two receipts name the same index")
    chosen = rng.sample(range(len(parsed)), min(sample, len(parsed)))
    for i in chosen:
        receipts.verify_receipt(parsed[i], log_key, origin=ORIGIN, request=sealed[i].request)
    return len(batch_sizes), len(chosen)


def raw_sqlite_commits(directory: Path, count: int, entry_size: int) -> Row:
    """``count`` single-row insert + commit transactions, WAL, ``synchronous=FULL``."""
    import sqlite3

    path = directory / "raw-floor.sqlite3"
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("CREATE TABLE floor (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL)")
        payloads = [os.urandom(entry_size) for _ in range(count)]
        latencies = []
        meter = Meter(None)
        meter.start()
        clock = time.perf_counter
        for i, payload in enumerate(payloads):
            started = clock()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO floor VALUES (?, ?)", (i, payload))
            connection.execute("COMMIT")
            latencies.append(clock() - started)
        used = meter.stop()
    finally:
        connection.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return Row("raw SQLite insert+commit (FULL)", 1, count, latencies, used)


def raw_file_puts(directory: Path, count: int, size: int) -> Row:
    """``count`` durable small-file writes, as a blob store keeps a header or body:
    write a temporary file, fsync it, rename it into place, fsync the directory."""
    folder = directory / "raw-files"
    folder.mkdir()
    payloads = [os.urandom(size) for _ in range(count)]
    latencies = []
    meter = Meter(None)
    meter.start()
    clock = time.perf_counter
    for i, payload in enumerate(payloads):
        started = clock()
        temporary = folder / f"tmp-{i}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, folder / f"blob-{i}")
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        latencies.append(clock() - started)
    used = meter.stop()
    _server.remove_tree(folder)
    return Row("raw file write+fsync+rename+dir fsync", 1, count, latencies, used)


def raw_postgres_commits(url: str, count: int, entry_size: int) -> Row:
    """``count`` single-row insert + commit transactions on one connection."""
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection:
        connection.execute(
            "CREATE TABLE bench_floor (idx BIGINT PRIMARY KEY, entry BYTEA NOT NULL)"
        )
        connection.commit()
        payloads = [os.urandom(entry_size) for _ in range(count)]
        latencies = []
        meter = Meter(None)
        meter.start()
        clock = time.perf_counter
        for i, payload in enumerate(payloads):
            started = clock()
            connection.execute("INSERT INTO bench_floor VALUES (%s, %s)", (i, payload))
            connection.commit()
            latencies.append(clock() - started)
        used = meter.stop()
        connection.execute("DROP TABLE bench_floor")
        connection.commit()
    return Row("raw PostgreSQL insert+commit", 1, count, latencies, used)


def bench_submissions(
    database: str,
    sizes: Sizes,
    workdir: Path,
    postgres_url: str,
    profile: Path | None,
    workers: int,
) -> bool:
    """Part 1 on one database; prints its table. Returns whether the target was met."""
    title = {"sqlite": "SQLite (WAL, synchronous=FULL)", "postgres": "PostgreSQL"}[database]
    print(
        f"\n### 1. Durable submissions per second: {title}, proof of work off, "
        f"{workers} server process(es)"
    )
    print(f"load average before: {_server.load_average()}")
    run_dir = Path(tempfile.mkdtemp(prefix=f"submissions-{database}-", dir=workdir))
    with database_for(database, postgres_url) as database_url:
        data_dir = run_dir / "data"
        intake_public, log_key = _server.init_data_dir(
            data_dir, origin=ORIGIN, database_url=database_url
        )
        started = time.perf_counter()
        warmup = pre_seal(intake_public, sizes.warmup, "warmup")
        one = pre_seal(intake_public, sizes.one_client, "one")
        many = pre_seal(intake_public, sizes.many_clients, "many")
        sealing = time.perf_counter() - started
        print(
            f"pre-sealed {len(warmup) + len(one) + len(many):,} submissions in {sealing:.1f} s "
            f"(not timed); request body {len(many[0].payload)} bytes"
        )
        server = _server.start_server(
            data_dir,
            run_dir / "server-output.txt",
            database_url=database_url,
            pow_bits=0,
            workers=workers,
        )
        rows: list[Row] = []
        batches: dict[int, tuple[int, int]] = {}
        rng = random.Random(4)
        try:
            url = server.url
            with httpx.Client(base_url=url) as http:
                size_before = checkpoint_size(http.get("/api/v1/log/checkpoint").text)
            # Warm-up: connections, thread pool, caches. Not timed.
            answers, _, _ = run_clients(url, sizes.clients, post_submissions(url, warmup), server)
            check_receipts(answers, warmup, log_key, 0, rng)
            for clients, sealed in ((1, one), (sizes.clients, many)):
                spy = start_py_spy(server, profile, f"{database}-{clients}")
                answers, latencies, used = run_clients(
                    url, clients, post_submissions(url, sealed), server
                )
                stop_py_spy(spy)
                batches[clients] = check_receipts(
                    answers, sealed, log_key, sizes.verify_sample, rng
                )
                rows.append(Row("POST /api/v1/submissions", clients, len(sealed), latencies, used))
            with httpx.Client(base_url=url) as http:
                size_after = checkpoint_size(http.get("/api/v1/log/checkpoint").text)
            expected = size_before + len(warmup) + len(one) + len(many)
            if size_after != expected:
                raise RuntimeError(f"the log has {size_after} entries, expected {expected}")
            for clients, count in ((1, len(one)), (sizes.clients, len(many))):
                health = [_load.get(url, "/healthz")] * count
                _, latencies, used = run_clients(url, clients, health, server)
                rows.append(Row("GET /healthz (HTTP floor)", clients, count, latencies, used))
        finally:
            output = server.stop()
        if "Traceback" in output:
            print("the server printed a traceback:\n" + output[-3000:])
        if database == "sqlite":
            rows.append(raw_sqlite_commits(run_dir, len(many), 400))
        else:
            assert database_url is not None
            rows.append(raw_postgres_commits(database_url, len(many), 400))
        rows.append(raw_file_puts(run_dir, len(many), len(many[0].payload) // 2))
    _server.remove_tree(run_dir)

    print_table(THROUGHPUT_HEADERS, [row.cells() for row in rows])
    for clients, (count, verified) in batches.items():
        sent = len(one) if clients == 1 else len(many)
        print(
            f"{clients} client(s): {count:,} checkpoints for {sent:,} submissions "
            f"({sent / count:.1f} per group commit); {verified} receipts verified with "
            "verify_receipt, every answer a 201 with a receipt"
        )
    many_row = rows[1]
    rate = many_row.count / many_row.used.wall
    target = 1_000 if database == "sqlite" else 500
    met = rate >= target
    print(
        f"target >= {target:,}/s with {sizes.clients} clients: {rate:,.0f}/s, {verdict(met)}; "
        f"load average after: {_server.load_average()}"
    )
    return met


@contextlib.contextmanager
def database_for(database: str, postgres_url: str) -> Iterator[str | None]:
    """SQLite: None (the data dir's own file). PostgreSQL: a fresh database's URL."""
    if database == "sqlite":
        yield None
        return
    with _server.postgres_database(postgres_url) as url:
        yield url


# --- optional profiling of the server -------------------------------------------------------


def start_py_spy(server: _server.LiveServer, profile: Path | None, name: str) -> Any:
    """Sample the server with ``py-spy record`` into ``profile/<name>.txt`` (collapsed stacks)."""
    if profile is None:
        return None
    import shutil
    import subprocess

    executable = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    profile.mkdir(parents=True, exist_ok=True)
    out = profile / f"{name}.txt"
    process = subprocess.Popen(
        [
            executable,
            "record",
            "--pid",
            str(server.pid),
            "--format",
            "raw",
            "--threads",
            "--rate",
            "200",
            "--output",
            str(out),
            "--nonblocking",
            "--subprocesses",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, out


def stop_py_spy(spy: Any) -> None:
    if spy is None:
        return
    import signal

    process, out = spy
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    summarise_profile(out)


def summarise_profile(path: Path, top: int = 15) -> None:
    """Print where the server's sampled stacks spent their time.

    "own" is the innermost frame of each sample (where the time is spent);
    "in project code" is the share of samples passing through each function of
    ``service/`` or ``crypto/`` (inclusive). Samples of every thread count,
    including threads waiting on a lock, a condition or the event loop.
    """
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    if not path.exists():
        print(f"(no profile at {path})")
        return
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        for frame in set(frames):
            if "(service/" in frame or "(crypto/" in frame:
                inclusive[frame] = inclusive.get(frame, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    if not total:
        print(f"(no samples in {path})")
        return
    print(f"py-spy {path.name}: {total:,} samples of all server threads")
    for label, table in (("own", own), ("in project code", inclusive)):
        print(f"  top {label}:")
        for frame, count in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {100 * count / total:5.1f}%  {frame[:140]}")


# --- part 2: upload ----------------------------------------------------------------------


def pieces(total: int, piece: int, base: bytes) -> Iterator[bytes]:
    """The upload's bytes in pieces: ``base`` with the piece number in its first 8 bytes."""
    offset = 0
    number = 0
    while offset < total:
        length = min(piece, total - offset)
        yield (number.to_bytes(8, "big") + base[8:length]) if length > 8 else base[:length]
        offset += length
        number += 1


def raw_disk_write(path: Path, total: int, piece: int, base: bytes) -> float:
    """Seconds to write ``total`` bytes in pieces to a new file and fsync it."""
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for chunk in pieces(total, piece, base):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - started


def upload_once(
    http: httpx.Client, total: int, piece: int, base: bytes, blob_id: str
) -> tuple[int, int]:
    """Upload ``total`` bytes over tus in ``piece``-sized PATCHes; returns (PATCHes, offset)."""
    created = http.post(
        "/api/v1/uploads/",
        headers={
            **TUS,
            "Upload-Length": str(total),
            "Upload-Metadata": "sha256 " + _b64(blob_id.encode()),
        },
    )
    if created.status_code != 201:
        raise RuntimeError(f"upload creation answered {created.status_code}")
    location = created.headers["location"]
    offset = 0
    patches = 0
    for chunk in pieces(total, piece, base):
        answer = http.patch(
            location,
            content=chunk,
            headers={
                **TUS,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            },
        )
        if answer.status_code != 204:
            raise RuntimeError(f"PATCH answered {answer.status_code}: {answer.text[:300]}")
        offset = int(answer.headers["upload-offset"])
        patches += 1
    return patches, offset


def bench_upload(sizes: Sizes, workdir: Path, profile: Path | None) -> bool:
    """Part 2; prints its table. Returns whether both targets were met.

    The raw write of this machine's virtual disk varies by a factor of four
    from one run to the next (the host's cache), so the upload and the raw
    write take turns, ``upload_rounds`` times, with a raw write before the
    first and after every upload; the target compares their medians.
    """
    total, piece, rounds = sizes.upload_bytes, sizes.upload_piece, sizes.upload_rounds
    print(
        f"\n### 2. Upload of a {total / MiB:,.0f} MiB attachment over tus, {piece // MiB} MiB "
        f"pieces, {rounds} rounds between raw writes"
    )
    print(f"load average before: {_server.load_average()}")
    run_dir = Path(tempfile.mkdtemp(prefix="upload-", dir=workdir))
    bases = [os.urandom(piece) for _ in range(rounds)]  # one blob per round
    blob_ids = []
    for base in bases:
        digest = hashlib.sha256()
        for chunk in pieces(total, piece, base):
            digest.update(chunk)
        blob_ids.append(digest.hexdigest())

    raw_path = run_dir / "raw-write.bin"

    def raw_write() -> float:
        seconds = raw_disk_write(raw_path, total, piece, bases[0])
        raw_path.unlink()
        return seconds

    data_dir = run_dir / "data"
    intake_public, log_key = _server.init_data_dir(data_dir, origin=ORIGIN)
    server = _server.start_server(data_dir, run_dir / "server-output.txt", pow_bits=0)
    raws: list[float] = []
    uploads: list[Resources] = []
    patches = 0
    try:
        with httpx.Client(base_url=server.url, timeout=300.0) as http:
            http.get("/healthz")
            rss_before, hwm_before = server.rss(), server.peak_rss()
            spy = start_py_spy(server, profile, "upload")
            for base, blob_id in zip(bases, blob_ids, strict=True):
                raws.append(raw_write())
                meter = Meter(server)
                meter.start()
                patches, offset = upload_once(http, total, piece, base, blob_id)
                uploads.append(meter.stop())
                if offset != total:
                    raise RuntimeError(f"the upload ended at offset {offset}, not {total}")
            stop_py_spy(spy)
            raws.append(raw_write())
            hwm_after = server.peak_rss()
            # A blob is referable only after its hash checked: a submission may name it.
            sealed = submission.seal_submission(
                intake_public,
                {
                    "v": 1,
                    "form": {"id": "bench", "version": 1, "sha256": "00" * 32},
                    "lang": "en",
                    "answers": {},
                    "attachments": [],
                    "consent": {"share_with": [], "contact": False},
                },
            )
            request = sealed.request(attachments=blob_ids)
            answer = http.post("/api/v1/submissions", json=request)
            if answer.status_code != 201:
                raise RuntimeError(
                    f"the submission naming the uploads answered {answer.status_code}"
                )
            receipts.verify_receipt(answer.json(), log_key, origin=ORIGIN, request=request)
    finally:
        output = server.stop()
    if "Traceback" in output:
        print("the server printed a traceback:\n" + output[-3000:])
    stored = sum(p.stat().st_size for p in (data_dir / "blobs").rglob("*") if p.is_file())
    _server.remove_tree(run_dir)

    raw_speeds = [total / MiB / seconds for seconds in raws]
    upload_speeds = [total / MiB / used.wall for used in uploads]
    raw_median = statistics.median(raw_speeds)
    upload_median = statistics.median(upload_speeds)
    rows: list[list[str]] = []
    for n, seconds in enumerate(raws):
        rows.append(
            [
                f"raw write + fsync, same filesystem ({n + 1})",
                f"{total / MiB:,.0f}",
                f"{seconds:.2f}",
                f"{raw_speeds[n]:,.0f}",
                f"{100 * raw_speeds[n] / raw_median:.0f}",
                "-",
                "-",
                "-",
            ]
        )
        if n < len(uploads):
            used = uploads[n]
            rows.append(
                [
                    f"tus ({n + 1}): create, {patches} PATCH, hash check",
                    f"{total / MiB:,.0f}",
                    f"{used.wall:.2f}",
                    f"{upload_speeds[n]:,.0f}",
                    f"{100 * upload_speeds[n] / raw_median:.0f}",
                    used.cores(used.client),
                    used.cores(used.server),
                    used.cores(used.machine),
                ]
            )
    print_table(
        ["what", "MiB", "s", "MiB/s", "% of raw", "client cores", "server cores", "machine cores"],
        rows,
    )
    ratio = upload_median / raw_median
    print(
        f"median: raw {raw_median:,.0f} MiB/s, upload {upload_median:,.0f} MiB/s = "
        f"{100 * ratio:.0f}% of raw (% of raw is of the raw median; against the fastest raw "
        f"write, {max(raw_speeds):,.0f} MiB/s, the upload median is "
        f"{100 * upload_median / max(raw_speeds):.0f}%)"
    )
    print(
        f"server RSS: {rss_before / MiB:.1f} MiB before the uploads (peak {hwm_before / MiB:.1f} "
        f"MiB), peak {hwm_after / MiB:.1f} MiB after them (VmHWM); blobs on disk "
        f"{stored / MiB:,.1f} MiB; a submission naming the blobs got a receipt that verifies"
    )
    speed_met = ratio >= 0.5
    rss_met = hwm_after < 128 * MiB
    print(
        f"targets: >= 50% of raw write speed: {verdict(speed_met)}; "
        f"peak RSS < 128 MiB: {verdict(rss_met)}; load average after: {_server.load_average()}"
    )
    return speed_met and rss_met


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


# --- part 3: the log store ---------------------------------------------------------------

LOG_TIME = datetime(2026, 1, 1, tzinfo=UTC)


LOG_INTAKE_KEY = "ab" * 16


def log_hashes(i: int) -> tuple[str, str]:
    """The header and body hashes named by the ``i``-th benchmark entry."""
    seed = i.to_bytes(8, "big")
    return hashlib.sha256(b"header" + seed).hexdigest(), hashlib.sha256(b"body" + seed).hexdigest()


def log_entry(i: int) -> bytes:
    """A submission-shaped §9 entry (JCS: keys sorted), distinct for each ``i``."""
    header, body = log_hashes(i)
    return (
        f'{{"attachments":[],"body":"{body}","header":"{header}","intake_key":"{LOG_INTAKE_KEY}",'
        '"received":"2026-01-01T00:00:00Z","type":"submission","v":1,'
        '"witness":null,"witness_box":null}'
    ).encode("ascii")


def batch_maker(log: Any) -> Callable[[int, int], tuple[list[bytes], dict[str, Any]]]:
    """``make(first, count)``: entries ``first .. first + count - 1`` and the keyword
    arguments ``append_batch`` gets with them, as the server calls it.

    The server hands ``append_batch`` each submission's content key
    (``projections.SubmissionKey``) for its dedup check; where the store
    takes such keys, so does the benchmark.
    """
    import inspect

    from testimony.service.store import projections

    key_type = getattr(projections, "SubmissionKey", None)
    takes_keys = "dedup_keys" in inspect.signature(log.append_batch).parameters

    def make(first: int, count: int) -> tuple[list[bytes], dict[str, Any]]:
        entries = [log_entry(i) for i in range(first, first + count)]
        if key_type is None or not takes_keys:
            return entries, {}
        keys = [key_type(LOG_INTAKE_KEY, *log_hashes(i)) for i in range(first, first + count)]
        return entries, {"dedup_keys": keys}

    return make


def timed(calls: Sequence[Callable[[], object]], warmup: int = 20) -> list[float]:
    for call in calls[:warmup]:
        call()
    clock = time.perf_counter
    samples = []
    for call in calls:
        started = clock()
        call()
        samples.append(clock() - started)
    return samples


AUTOANALYZE_THRESHOLD = 50
"""PostgreSQL's default ``autovacuum_analyze_threshold``; its scale factor is 0.1."""


def postgres_analyze(engine: Any) -> float:
    """``ANALYZE`` the database; returns the seconds it took.

    What autovacuum would do as the tables grow (threshold 50 rows + 10%).
    The test server runs with ``autovacuum = off``; without statistics the
    planner picks plans for empty tables, which no production server keeps.
    """
    started = time.perf_counter()
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def bench_log(database: str, sizes: Sizes, workdir: Path, postgres_url: str) -> bool:
    """Part 3 on one database; prints its table. Returns whether the target was met."""
    from sqlalchemy import text

    from testimony.service.store import db
    from testimony.service.store.log import LogStore

    title = {"sqlite": "SQLite (WAL, synchronous=FULL)", "postgres": "PostgreSQL"}[database]
    n = sizes.log_entries
    print(f"\n### 3. Log store at {n:,} entries: {title}")
    print(f"load average before: {_server.load_average()}")
    run_dir = Path(tempfile.mkdtemp(prefix=f"log-{database}-", dir=workdir))
    key = signing.private_key_from_seed(os.urandom(32))

    def sign(size: int, root: bytes) -> str:
        return checkpoint.sign(ORIGIN, size, root, key, ORIGIN, LOG_TIME)

    rng = random.Random(9162)
    with database_for(database, postgres_url) as database_url:
        url = database_url or f"sqlite:///{run_dir / 'log.sqlite3'}"
        engine = db.create_engine(url)
        try:
            db.upgrade(engine)
            log = LogStore(engine)

            # Build (entry generation not timed; leaf hashing, tree, projections,
            # signing, commit and the batch's receipts' proofs are).
            build = 0.0
            analyzing = 0.0
            analyzed_at = 0
            last_report = time.monotonic()
            make_batch = batch_maker(log)
            for first in range(0, n, sizes.log_build_batch):
                count = min(n, first + sizes.log_build_batch) - first
                entries, keywords = make_batch(first, count)
                started = time.perf_counter()
                log.append_batch(entries, sign, **keywords)
                build += time.perf_counter() - started
                done = first + count
                if database == "postgres" and done >= AUTOANALYZE_THRESHOLD + 1.1 * analyzed_at:
                    analyzing += postgres_analyze(engine)
                    analyzed_at = done
                if time.monotonic() - last_report > 30:
                    print(
                        f"  built {done:,} entries, {build:.0f} s so far",
                        flush=True,
                    )
                    last_report = time.monotonic()
            size = log.size()
            if size != n:
                raise RuntimeError(f"the log has {size} entries after the build, not {n}")
            if database == "postgres":
                analyzing += postgres_analyze(engine)
            root = log.root(size)

            indices = [rng.randrange(size) for _ in range(sizes.proof_queries)]
            ids = [merkle.leaf_hash(log_entry(i)) for i in indices]
            firsts = [rng.randrange(1, size + 1) for _ in range(sizes.proof_queries)]
            nodes = [(0, rng.randrange(size)) for _ in range(sizes.proof_queries)]

            # Correctness of what is timed: a few proofs verify against the root.
            for i in indices[:20]:
                proof = log.inclusion_proof(i, size)
                merkle.verify_inclusion(
                    i, size, merkle.leaf_hash(log_entry(i)), list(proof.path), root
                )
            for m in firsts[:20]:
                proof = log.consistency_proof(m, size)
                merkle.verify_consistency(m, size, log.root(m), root, list(proof.path))

            gc.collect()
            node_sql = text("SELECT hash FROM tree_nodes WHERE level = :l AND idx = :i")
            reads = db.read_engine(engine)

            def read_node(level: int, idx: int) -> None:
                with reads.connect() as connection:
                    connection.execute(node_sql, {"l": level, "i": idx}).scalar_one()

            results: list[tuple[str, list[float]]] = [
                (
                    "floor: one tree node by primary key",
                    timed([lambda k=k: read_node(*k) for k in nodes]),
                ),
                (
                    "inclusion proof by index",
                    timed([lambda i=i: log.inclusion_proof(i, size) for i in indices]),
                ),
                (
                    "inclusion proof by id",
                    timed([lambda e=e: log.inclusion_proof(e, size) for e in ids]),
                ),
                (
                    "consistency proof (random m, n = size)",
                    timed([lambda m=m: log.consistency_proof(m, size) for m in firsts]),
                ),
            ]

            # Appends at that size. The floor: one row inserted and committed in
            # the same database (a table of the benchmark's own).
            with engine.begin() as connection:
                connection.execute(
                    text(
                        "CREATE TABLE bench_floor (idx BIGINT PRIMARY KEY, entry BLOB)"
                        if database == "sqlite"
                        else "CREATE TABLE bench_floor (idx BIGINT PRIMARY KEY, entry BYTEA)"
                    )
                )
            floor_payload = os.urandom(len(log_entry(0)))

            def floor_commit(i: int) -> None:
                with engine.begin() as connection:
                    connection.execute(
                        text("INSERT INTO bench_floor VALUES (:i, :e)"),
                        {"i": i, "e": floor_payload},
                    )

            results.append(
                (
                    "floor: insert + commit, one row",
                    timed(
                        [lambda i=i: floor_commit(i) for i in range(sizes.appends_of_1)], warmup=0
                    ),
                )
            )
            next_entry = n

            def append(count: int) -> None:
                # Making the batch is timed too: a few microseconds per entry.
                nonlocal next_entry
                entries, keywords = make_batch(next_entry, count)
                next_entry += count
                log.append_batch(entries, sign, **keywords)

            results.append(
                ("append_batch of 1", timed([lambda: append(1)] * sizes.appends_of_1, warmup=5))
            )
            results.append(
                ("append_batch of 64", timed([lambda: append(64)] * sizes.appends_of_64, warmup=5))
            )
            final = log.size()
            if final != next_entry:
                raise RuntimeError(f"the log has {final} entries, expected {next_entry}")

            if database == "sqlite":
                stored = sum(p.stat().st_size for p in run_dir.glob("log.sqlite3*"))
            else:
                with engine.connect() as connection:
                    stored = int(
                        connection.execute(
                            text("SELECT pg_database_size(current_database())")
                        ).scalar_one()
                    )
        finally:
            engine.dispose()
    _server.remove_tree(run_dir)

    print_table(
        ["operation", "samples", "p50 ms", "p99 ms", "mean ms"],
        [
            [
                name,
                f"{len(s):,}",
                f"{statistics.median(s) * 1e3:.3f}",
                f"{percentile(s, 0.99) * 1e3:.3f}",
                f"{statistics.fmean(s) * 1e3:.3f}",
            ]
            for name, s in results
        ],
    )
    print(
        f"build: {n:,} entries in batches of {sizes.log_build_batch:,}: {build:.1f} s "
        f"({n / build:,.0f} entries/s); database {stored / MiB:,.0f} MiB; proofs verified"
    )
    if database == "postgres":
        print(
            f"ANALYZE after every 10% of growth, as autovacuum would (this server runs with "
            f"autovacuum off): {analyzing:.1f} s, not in the build time"
        )
    by_index, by_id = statistics.median(results[1][1]), statistics.median(results[2][1])
    met = max(by_index, by_id) < 0.002
    print(
        f"target: inclusion proof at {n:,} under 2 ms (p50): by index {by_index * 1e3:.3f} ms, "
        f"by id (as GET /api/v1/log/proof/inclusion asks) {by_id * 1e3:.3f} ms, {verdict(met)}; "
        f"load average after: {_server.load_average()}"
    )
    return met


# --- main ------------------------------------------------------------------------------


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only this part (may repeat); log = log-sqlite and log-postgres",
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="server processes in part 1 (testimony serve --workers; default: one per CPU)",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where temporary data dirs go (default: TMPDIR)"
    )
    parser.add_argument(
        "--upload-piece-mib",
        type=int,
        default=None,
        metavar="N",
        help="bytes per tus PATCH in part 2, in MiB (default 8)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="DIR",
        help="record the server with py-spy during the timed submissions and upload into DIR",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.upload_piece_mib is not None:
        if args.upload_piece_mib < 1:
            parser.error("--upload-piece-mib is at least 1")
        sizes = dataclasses.replace(sizes, upload_piece=args.upload_piece_mib * MiB)
    parts = set(args.only or ["sqlite", "postgres", "upload", "log"])
    if "log" in parts:
        parts |= {"log-sqlite", "log-postgres"}
    print(
        f"machine: {os.cpu_count()} CPUs, {_server.cpu_model()}, Python {sys.version.split()[0]}; "
        f"load average at start: {_server.load_average()} (other work may run on this machine)"
    )
    postgres_problem = None
    if parts & {"postgres", "log-postgres"}:
        postgres_problem = _server.postgres_reachable(args.postgres_url)
        if postgres_problem:
            print(f"PostgreSQL parts skipped: the server does not answer ({postgres_problem})")
    postgres_ok = postgres_problem is None
    runs: list[tuple[str, Callable[[], bool]]] = []
    workdir = Path(tempfile.mkdtemp(prefix="testimony-bench-", dir=args.workdir))
    url, spy = args.postgres_url, args.py_spy
    if "sqlite" in parts:
        runs.append(
            (
                "submissions, SQLite",
                lambda: bench_submissions("sqlite", sizes, workdir, url, spy, args.workers),
            )
        )
    if "postgres" in parts and postgres_ok:
        runs.append(
            (
                "submissions, PostgreSQL",
                lambda: bench_submissions("postgres", sizes, workdir, url, spy, args.workers),
            )
        )
    if "upload" in parts:
        runs.append(("upload", lambda: bench_upload(sizes, workdir, spy)))
    if "log-sqlite" in parts:
        runs.append(("log, SQLite", lambda: bench_log("sqlite", sizes, workdir, url)))
    if "log-postgres" in parts and postgres_ok:
        runs.append(("log, PostgreSQL", lambda: bench_log("postgres", sizes, workdir, url)))
    outcomes: dict[str, str] = {}
    try:
        for name, run in runs:
            try:
                outcomes[name] = verdict(run())
            except Exception as exc:  # one part failing does not hide the others
                reason = str(exc).splitlines()[0][:300] if str(exc) else ""
                print(f"\n{name} FAILED: {type(exc).__name__}: {reason}", flush=True)
                outcomes[name] = "FAILED"
    finally:
        _server.remove_tree(workdir)
    print("\n### targets")
    for name, outcome in outcomes.items():
        print(f"{name}: {outcome}")
    print(f"load average at end: {_server.load_average()}")
    return 1 if "FAILED" in outcomes.values() else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
