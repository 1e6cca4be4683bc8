"""Benchmark of ``testimony export`` and ``testimony verify`` (issue 15;
docs/protocol.md §11, docs/bundles.md): an evidence bundle of 1,000
testimonies with 1 GiB of attachments, against ``cp -r`` and ``sha256sum``
of the very bytes the bag holds.

    python bench/bench_export.py [--testimonies N] [--mib M] [--runs R] [--quick]
                                 [--profile] [--no-cli] [--keep DIR]

Built once per run, in a temporary directory and not timed (the preparation's
time is printed, with progress): a data dir (``testimony init``'s own code)
with a real ``testimony serve`` (``testimony.service.testing``, ready once
``/healthz`` answers; proof of work off), the organisation founded with the
setup token as ``testimony org init`` does (``workstation.org.bind``,
``sync_log``, ``org.found``, export quorum 1), then ``--testimonies``
witnesses' submissions on the bundled Kordai form, each consenting to share
with a prosecutor and carrying about ``--mib``/``--testimonies`` MiB of files,
sealed with ``crypto.submission.seal_attachment``, uploaded by tus and
submitted over HTTP from a few threads. The files are a mix: mostly one JPEG
photo made with Pillow (about 1 to 5 megapixels, 0.5 to 2 MiB, every one
different), some testimonies with two smaller photos, some with random bytes
labelled ``video/mp4``. Then ``testimony sync`` (``workstation.sync.sync``)
into the founding admin's workstation, whose keyring holds the intake seed.

Then, ``--runs`` times (default 2: the page cache cannot be dropped without
root, so the second round is the warm figure that carries over), in order:

- **export**: ``workstation.export.export`` (what ``testimony export`` runs)
  of every testimony to a new folder for the ``prosecutor`` profile: the
  ciphertexts fetched through the reviewer's session (an ``access`` entry),
  the log synced, the custody replayed, every file read from the encrypted
  cache and decrypted into the bag, ``report.html``, the ``export`` entry
  logged and its receipt written. Checked: every testimony and file is in it.
  Its phases are timed from the export's own progress reports, and the peak
  resident memory of this process sampled while it runs.
- **cp -r** of that bag to a fresh folder (the same bytes: ciphertexts and
  plaintexts), and beside it the same followed by ``sync FILE...`` of every
  copied file, because the export ``fsync``\\ s each file it writes and
  ``cp`` does not.
- **verify**: ``client.bundle.verify.verify`` (what ``testimony verify``
  runs) of the bag, which must be VERIFIED.
- **sha256sum** over every file of the bag
  (``find BAG -type f -print0 | xargs -0 sha256sum > /dev/null``), and beside
  it ``openssl dgst -sha256`` the same way (coreutils may not use the CPU's
  SHA extensions; ``hashlib``, which verify uses, does).

Printed beside them, as floors of the same run: raw AES-256-GCM over the
attachments' ciphertext in 64 KiB chunks, and a raw write + fsync of the
bag's bytes to one file. With the command line (unless ``--no-cli``), the last
round also times ``testimony export`` and ``testimony verify`` as commands
(a new process: imports, the passphrase, the session) beside the library
calls. With ``--profile``, one more export and verify run under cProfile and
the 15 functions of most cumulative time, and the 15 of most time of their own, are printed.

Targets (issue 15): export under 1.5x ``cp -r``, verify under 1.5x
``sha256sum``. ``--quick``: 50 testimonies, 50 MiB. Exits 1 if a run is wrong
(not for a missed target). Not part of the test suite; ``bench/run.py`` runs it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import platform
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _server
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from testimony.client import tus
from testimony.client.bundle import layout
from testimony.client.bundle.verify import verify
from testimony.client.http import ServerClient
from testimony.crypto import hpke, keyfile, submission
from testimony.forms import bundled_forms
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings
from testimony.service.testing import clean_environment
from testimony.workstation import home as homes
from testimony.workstation import org
from testimony.workstation.cache import Cache
from testimony.workstation.export import Exported, export, load_profile
from testimony.workstation.sync import sync, sync_log

PASSPHRASE = "the export benchmark's workstation passphrase"
ORIGIN = "bench.testimony.example/log"
PROFILE = "prosecutor"
TARGET_RATIO = 1.5
MIB = 1024 * 1024
JPEG_BYTES_PER_PIXEL = 0.405
"""What Pillow's JPEG at quality 85 takes for the photos made here (measured)."""

PLACES = ["Masanchi", "Sortobe", "Bular Batyr", "Aukhatty", "Kordai", "the market", "the mosque"]
WHAT = [
    "At night men in masks set fire to the houses on our street in {p}.",
    "My brother was taken to the police station in {p} and beaten for two days.",
    "They were shooting from the road; everybody ran towards the river.",
    "The shop was looted and our car burnt; the police watched and did nothing.",
    "We hid in the cellar of our neighbours until the morning.",
    "An old man was beaten near {p}; he died in hospital a week later.",
]


# --- the witnesses' files -----------------------------------------------------------------


def photo(rng: random.Random, target: int) -> bytes:
    """A JPEG of about ``target`` bytes: a blurred colour field under sensor-like
    noise, 4:3, every one different (what a phone's photo costs to encode and
    to hold, not what it shows)."""
    from PIL import Image

    pixels = max(target / JPEG_BYTES_PER_PIXEL, 64 * 48)
    width = int(math.sqrt(pixels * 4 / 3)) // 8 * 8
    height = width * 3 // 4
    small = (width // 16, height // 16)
    field_ = Image.frombytes("RGB", small, rng.randbytes(small[0] * small[1] * 3))
    field_ = field_.resize((width, height), Image.Resampling.BILINEAR)
    noise = Image.effect_noise((width, height), 40).convert("RGB")
    out = io.BytesIO()
    Image.blend(field_, noise, 0.35).save(out, "JPEG", quality=85)
    return out.getvalue()


def files_of(rng: random.Random, n: int, budget: int) -> list[tuple[str, str, bytes]]:
    """Testimony ``n``'s files, about ``budget`` bytes in all: ``(name, type, bytes)``."""
    roll = rng.random()
    if budget <= 0:
        return []
    if roll < 0.72:
        return [(f"IMG_{n:04d}.jpg", "image/jpeg", photo(rng, budget))]
    if roll < 0.85:
        return [(f"IMG_{n:04d}_{k}.jpg", "image/jpeg", photo(rng, budget // 2)) for k in range(2)]
    return [(f"VID_{n:04d}.mp4", "video/mp4", os.urandom(budget))]


def statement(rng: random.Random, n: int, attachments: list[dict[str, Any]]) -> dict[str, Any]:
    """A testimony's manifest on the bundled Kordai form, shared with a prosecutor."""
    form = bundled_forms().get_version("kordai-2020", 1)
    place = rng.choice(PLACES)
    what = " ".join(rng.choice(WHAT).format(p=place) for _ in range(rng.randint(2, 6)))
    return {
        "v": 1,
        "form": {"id": "kordai-2020", "version": 1, "sha256": form.sha256},
        "lang": rng.choice(["ru", "kk", "ky", "en"]),
        "answers": {
            "narrative": what,
            "victims": f"{rng.randint(0, 12)} people were hurt; reference {n}.",
            "other_witnesses": "My neighbours saw it too." if rng.random() < 0.5 else "",
        },
        "attachments": attachments,
        "consent": {"share_with": ["prosecutor", "un_treaty_body"], "contact": rng.random() < 0.3},
    }


# --- preparation (not timed) ----------------------------------------------------------------


@dataclass
class Prepared:
    server: _server.LiveServer
    home: Path
    ids: list[str]
    files: int
    plain_bytes: int
    """Bytes of the attachments before sealing."""
    sealed_bytes: int
    """Their ciphertexts' bytes."""
    seconds: dict[str, float]


def _reader(data: bytes) -> tus.Reader:
    return lambda offset, n: [data[offset : offset + n]]


@dataclass
class _Submitted:
    ids: list[str]
    files: int
    plain_bytes: int
    sealed_bytes: int


def _submit_all(url: str, public: bytes, count: int, mib: int, threads: int) -> _Submitted:
    """Make, seal, upload and submit ``count`` testimonies from ``threads`` threads."""
    average = mib * MIB // count if count else 0
    local = threading.local()
    lock = threading.Lock()
    opened: list[ServerClient] = []
    done = {"count": 0, "files": 0, "plain": 0, "sealed": 0}
    started = time.perf_counter()

    def client() -> ServerClient:
        if not hasattr(local, "client"):
            local.client = ServerClient(url)
            with lock:
                opened.append(local.client)
        return local.client  # type: ignore[no-any-return]

    def one(n: int) -> str:
        rng = random.Random(15_000 + n)
        budget = int(average * rng.uniform(0.5, 1.5))
        sealed_files = [
            submission.seal_attachment(data, name=name, media_type=kind)
            for name, kind, data in files_of(rng, n, budget)
        ]
        http = client()
        for f in sealed_files:
            tus.upload(http, f.blob, len(f.ciphertext), _reader(f.ciphertext))
        manifest = statement(rng, n, [f.descriptor for f in sealed_files])
        sealed = submission.seal_submission(public, manifest)
        request = sealed.request(attachments=[f.blob for f in sealed_files])
        receipt = http.post_json("/api/v1/submissions", request, what="submitting")
        with lock:
            done["count"] += 1
            done["files"] += len(sealed_files)
            done["plain"] += sum(int(f.descriptor["size"]) for f in sealed_files)
            done["sealed"] += sum(len(f.ciphertext) for f in sealed_files)
            if done["count"] % max(1, count // 20) == 0 or done["count"] == count:
                print(
                    f"  submitted {done['count']:,} of {count:,} "
                    f"({done['plain'] / MIB:,.0f} MiB of files, "
                    f"{time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
        return str(receipt["id"])

    try:
        with ThreadPoolExecutor(threads) as pool:
            ids = list(pool.map(one, range(count)))
    finally:
        for each in opened:
            each.close()
    return _Submitted(ids, done["files"], done["plain"], done["sealed"])


def prepare(folder: Path, count: int, mib: int, threads: int) -> Prepared:
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    seed = os.urandom(32)
    data_dir = folder / "data"
    made = init_data_dir(Settings(data_dir=data_dir), hpke.public_key(seed), origin=ORIGIN)
    server = _server.start_server(data_dir, folder / "server-output.txt")
    home = folder / "founder"
    try:
        homes.create_identity(home, PASSPHRASE, cost=keyfile.FAST_FOR_TESTS)
        identity = homes.unlock_identity(home, PASSPHRASE)
        with Cache(home, identity) as cache:
            org.bind(cache, server.url, server.log_key())
            with org.bound_client(cache, identity) as client:
                sync_log(cache, client)
                org.found(
                    cache,
                    client,
                    identity,
                    setup_token=made.setup_token,
                    quorum=1,
                    intake_seed=seed,
                )
        seconds["server and organisation"] = time.perf_counter() - started

        started = time.perf_counter()
        print(f"making, sealing and uploading {count:,} testimonies ({mib:,} MiB of files)...")
        submitted = _submit_all(server.url, hpke.public_key(seed), count, mib, threads)
        seconds["files made, sealed, uploaded, submitted"] = time.perf_counter() - started

        started = time.perf_counter()
        with Cache(home, identity) as cache, org.bound_client(cache, identity) as client:
            report = sync(cache, client, identity)
        if report.submissions != count or report.blobs != submitted.files or report.unreadable:
            raise RuntimeError(
                f"the sync read {report.submissions} submissions and {report.blobs} blobs "
                f"of {count} and {submitted.files}"
            )
        seconds["testimony sync"] = time.perf_counter() - started
    except BaseException:
        print(server.stop()[-3000:])
        raise
    os.sync()  # the preparation's writeback is not the first round's
    return Prepared(
        server=server,
        home=home,
        ids=submitted.ids,
        files=submitted.files,
        plain_bytes=submitted.plain_bytes,
        sealed_bytes=submitted.sealed_bytes,
        seconds=seconds,
    )


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Timed:
    wall: float
    cpu: float = 0.0
    """This process's CPU seconds (or the command's, for a command)."""
    server_cpu: float = 0.0


@dataclass
class Round:
    export: Timed
    cp: Timed
    cp_fsync: Timed
    verify: Timed
    sha256sum: Timed
    openssl: Timed
    """``openssl dgst -sha256`` of the same files: coreutils' ``sha256sum`` may
    not use the CPU's SHA extensions, which Python's ``hashlib`` (OpenSSL) does."""
    phases: dict[str, float]
    peak_rss: int
    """Peak resident bytes of this process during the export."""
    bag_files: int
    bag_bytes: int
    report_bytes: int
    exported: Exported
    cli: dict[str, Timed] = field(default_factory=dict)


class _Phases:
    """The export's progress reports as phases: each from the end of the one
    before to its last report; the rest (writing the custody, the report,
    the manifests, the export entry) as "after the files"."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.last = self.started
        self.seen: dict[str, float] = {}

    def __call__(self, phase: str, _done: int, _total: int) -> None:
        now = time.perf_counter()
        if phase not in self.seen:
            self.seen[phase] = 0.0
        self.seen[phase] += now - self.last
        self.last = now

    def finished(self) -> dict[str, float]:
        now = time.perf_counter()
        return {**self.seen, "after the files": now - self.last}


class _PeakRss:
    """Samples this process's resident memory every 20 ms while in use."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> _PeakRss:
        self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def _bag_files(root: Path) -> Iterator[Path]:
    for folder, _dirs, names in os.walk(root):
        for name in names:
            yield Path(folder) / name


def _shell(command: Sequence[str], shell: bool = False) -> Timed:
    """Run ``command``; its wall time and its (children's) CPU time."""
    before = os.times()
    started = time.perf_counter()
    subprocess.run(" ".join(command) if shell else list(command), shell=shell, check=True)
    wall = time.perf_counter() - started
    after = os.times()
    return Timed(wall, (after.children_user - before.children_user)
                 + (after.children_system - before.children_system))  # fmt: skip


def _quoted(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


def run_export(
    prepared: Prepared, out: Path, progress: Callable[[str, int, int], None]
) -> Exported:
    identity = homes.unlock_identity(prepared.home, PASSPHRASE)
    with Cache(prepared.home, identity) as cache, org.bound_client(cache, identity) as client:
        return export(
            cache,
            identity,
            client,
            profile=load_profile(PROFILE),
            out=out,
            testimonies=prepared.ids,
            progress=progress,
        )


def one_round(prepared: Prepared, folder: Path, n: int, cli: bool) -> Round:
    out = folder / f"bundle-{n}"
    phases = _Phases()
    os.sync()  # each step starts with nothing of the one before left to write back
    server_cpu, cpu = prepared.server.cpu_seconds(), time.process_time()
    with _PeakRss() as rss:
        phases.started = phases.last = started = time.perf_counter()
        exported = run_export(prepared, out, phases)
        wall = time.perf_counter() - started
        export_phases = phases.finished()
    timed_export = Timed(
        wall, time.process_time() - cpu, prepared.server.cpu_seconds() - server_cpu
    )
    if len(exported.testimonies) != len(prepared.ids) or exported.files != prepared.files:
        raise RuntimeError(
            f"the export holds {len(exported.testimonies)} testimonies and {exported.files} "
            f"files of {len(prepared.ids)} and {prepared.files}"
        )
    paths = list(_bag_files(out))
    bag_bytes = sum(p.stat().st_size for p in paths)

    copy = folder / f"copy-{n}"
    os.sync()
    cp = _shell(["cp", "-r", str(out), str(copy)])
    shutil.rmtree(copy)
    os.sync()
    started = time.perf_counter()
    cp_fsync = _shell(
        [f"cp -r {_quoted(out)} {_quoted(copy)} && find {_quoted(copy)} -type f -print0 "
         "| xargs -0 sync --"],
        shell=True,
    )  # fmt: skip
    cp_fsync.wall = time.perf_counter() - started
    shutil.rmtree(copy)

    os.sync()
    cpu = time.process_time()
    started = time.perf_counter()
    verdict = verify(out)
    timed_verify = Timed(time.perf_counter() - started, time.process_time() - cpu)
    if not verdict.ok:
        raise RuntimeError(f"the bundle does not verify: {verdict.failures[:3]}")
    sha = _shell(
        [f"find {_quoted(out)} -type f -print0 | xargs -0 sha256sum > /dev/null"], shell=True
    )
    openssl = _shell(
        [f"find {_quoted(out)} -type f -print0 | xargs -0 openssl dgst -sha256 > /dev/null"],
        shell=True,
    )

    done = Round(
        export=timed_export,
        cp=cp,
        cp_fsync=cp_fsync,
        verify=timed_verify,
        sha256sum=sha,
        openssl=openssl,
        phases=export_phases,
        peak_rss=rss.peak,
        bag_files=len(paths),
        bag_bytes=bag_bytes,
        report_bytes=(out / layout.DATA / layout.REPORT).stat().st_size,
        exported=exported,
    )
    if cli:
        done.cli = commands(prepared, folder, n)
    return done


def commands(prepared: Prepared, folder: Path, n: int) -> dict[str, Timed]:
    """``testimony export`` and ``testimony verify`` as commands, timed."""
    env = {**clean_environment(), "TESTIMONY_PASSPHRASE": PASSPHRASE}
    out = folder / f"bundle-{n}-cli"
    chosen = [arg for tid in prepared.ids for arg in ("--testimony", tid)]
    timed: dict[str, Timed] = {}
    for name, args in (
        ("export", ["export", "--workstation", str(prepared.home), "--profile", PROFILE,
                    "--out", str(out), *chosen]),
        ("verify", ["verify", str(out)]),
    ):  # fmt: skip
        before = os.times()
        started = time.perf_counter()
        done = subprocess.run(
            [*_server.testimony_command(), *args], env=env, capture_output=True, text=True
        )
        wall = time.perf_counter() - started
        after = os.times()
        if done.returncode != 0:
            raise RuntimeError(f"testimony {name} failed: {done.stderr.strip()[-500:]}")
        timed[name] = Timed(
            wall,
            (after.children_user - before.children_user)
            + (after.children_system - before.children_system),
        )
    shutil.rmtree(out)
    return timed


def floors(bag: Path, folder: Path) -> tuple[float, float, int]:
    """Raw AES-256-GCM over the attachments' ciphertext (64 KiB chunks) and a raw
    write + fsync of every byte of the bag to one file; and the bytes encrypted."""
    aead, nonce = AESGCM(os.urandom(32)), os.urandom(12)
    chunk = 64 * 1024
    aes = 0.0
    encrypted = 0
    for path in _bag_files(bag / layout.DATA):
        if path.parent.name != layout.BLOBS:
            continue
        data = path.read_bytes()
        started = time.perf_counter()
        for offset in range(0, len(data), chunk):
            aead.encrypt(nonce, data[offset : offset + chunk], None)
        aes += time.perf_counter() - started
        encrypted += len(data)
    target = folder / "raw-write"
    started = time.perf_counter()
    with target.open("wb") as sink:
        for path in _bag_files(bag):
            sink.write(path.read_bytes())
        sink.flush()
        os.fsync(sink.fileno())
    write = time.perf_counter() - started
    target.unlink()
    return aes, write, encrypted


def profiled(prepared: Prepared, folder: Path) -> None:
    """One more export and verify under cProfile; the top 15 by cumulative time."""
    out = folder / "bundle-profiled"
    for name, call in (
        ("export", lambda: run_export(prepared, out, lambda *_: None)),
        ("verify", lambda: verify(out)),
    ):
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.runcall(call)
        print(
            f"\n### cProfile of {name} ({time.perf_counter() - started:.1f} s under the profiler)"
        )
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text)
        stats.sort_stats("cumulative").print_stats(15)
        stats.sort_stats("tottime").print_stats(15)
        print("\n".join(line for line in text.getvalue().splitlines() if line.strip())[-4000:])
    shutil.rmtree(out)


# --- the run --------------------------------------------------------------------------------


def _row(name: str, each: Sequence[Timed], server: bool = False) -> str:
    last = each[-1]
    runs = ", ".join(f"{t.wall:.2f}" for t in each)
    return (
        f"| {name} | {last.wall:.2f} (runs: {runs}) | {last.cpu:.2f} | "
        f"{f'{last.server_cpu:.2f}' if server else '-'} |"
    )


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="50 testimonies, 50 MiB")
    parser.add_argument("--testimonies", type=int, default=None, help="default 1,000")
    parser.add_argument("--mib", type=int, default=None, help="MiB of files (default 1,024)")
    parser.add_argument("--runs", type=int, default=2, help="rounds (default 2; the last is warm)")
    parser.add_argument("--threads", type=int, default=3, help="threads submitting")
    parser.add_argument("--profile", action="store_true", help="cProfile one more export")
    parser.add_argument("--no-cli", action="store_true", help="do not time the commands")
    parser.add_argument("--keep", type=Path, default=None, help="build in DIR and keep it")
    args = parser.parse_args(argv)
    count = args.testimonies or (50 if args.quick else 1_000)
    mib = args.mib if args.mib is not None else (50 if args.quick else 1_024)
    if count < 1 or mib < 0 or args.runs < 1:
        parser.error("--testimonies and --runs are at least 1, --mib at least 0")

    print(
        f"# {platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"{_server.cpu_model()}, Python {platform.python_version()}; load {_server.load_average()}"
    )
    print(f"# {count:,} testimonies, about {mib:,} MiB of files, {args.runs} round(s)")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        folder = args.keep
    else:
        folder = Path(tempfile.mkdtemp(prefix="bench-export-"))
    prepared = None
    try:
        prepared = prepare(folder, count, mib, args.threads)
        print(
            "preparation (not timed): "
            + ", ".join(f"{name} {s:.1f} s" for name, s in prepared.seconds.items())
        )
        rounds: list[Round] = []
        for n in range(args.runs):
            last = n == args.runs - 1
            done = one_round(prepared, folder, n, cli=last and not args.no_cli)
            rounds.append(done)
            print(
                f"round {n + 1}: export {done.export.wall:.2f} s, cp -r {done.cp.wall:.2f} s "
                f"({done.export.wall / done.cp.wall:.2f}x); verify {done.verify.wall:.2f} s, "
                f"sha256sum {done.sha256sum.wall:.2f} s "
                f"({done.verify.wall / done.sha256sum.wall:.2f}x); load {_server.load_average()}",
                flush=True,
            )
            if not last:
                shutil.rmtree(folder / f"bundle-{n}")
        warm = rounds[-1]
        bag = folder / f"bundle-{args.runs - 1}"
        aes, write, encrypted = floors(bag, folder)

        print()
        print(
            f"bag: {warm.bag_files:,} files, {warm.bag_bytes / MIB:,.1f} MiB "
            f"({prepared.files:,} attachments: {prepared.plain_bytes / MIB:,.1f} MiB plaintext, "
            f"{prepared.sealed_bytes / MIB:,.1f} MiB ciphertext); report.html "
            f"{warm.report_bytes / MIB:,.1f} MiB; peak RSS during the export "
            f"{warm.peak_rss / MIB:,.0f} MiB"
        )
        print()
        print(f"| what ({count:,} testimonies, bag {warm.bag_bytes / MIB:,.0f} MiB) "
              "| wall s, last round | CPU s | server CPU s |")  # fmt: skip
        print("| --- | --- | --- | --- |")
        print(f"| raw AES-256-GCM over the {encrypted / MIB:,.0f} MiB of ciphertext (floor) "
              f"| {aes:.2f} | {aes:.2f} | - |")  # fmt: skip
        print(f"| raw write + fsync of the bag's bytes to one file (floor) | {write:.2f} | - | - |")
        print(_row("`cp -r` of the bag", [r.cp for r in rounds]))
        print(_row("`cp -r`, then `sync` of every copied file", [r.cp_fsync for r in rounds]))
        print(_row("**export** (library call)", [r.export for r in rounds], server=True))
        print(_row("`sha256sum` of every file of the bag", [r.sha256sum for r in rounds]))
        print(_row("`openssl dgst -sha256` of every file of the bag", [r.openssl for r in rounds]))
        print(_row("**verify** (library call)", [r.verify for r in rounds]))
        for name, timed in warm.cli.items():
            print(_row(f"`testimony {name}` (the command, last round)", [timed]))
        print()
        print(
            "export phases, last round: "
            + ", ".join(f"{phase} {s:.2f} s" for phase, s in warm.phases.items())
        )
        export_ratio = warm.export.wall / warm.cp.wall
        verify_ratio = warm.verify.wall / warm.sha256sum.wall
        print(
            f"export {export_ratio:.2f}x cp -r (target < {TARGET_RATIO}x: "
            f"{'met' if export_ratio < TARGET_RATIO else 'MISSED'}; "
            f"{warm.export.wall / warm.cp_fsync.wall:.2f}x cp -r with the fsyncs); "
            f"verify {verify_ratio:.2f}x sha256sum (target < {TARGET_RATIO}x: "
            f"{'met' if verify_ratio < TARGET_RATIO else 'MISSED'}; "
            f"{warm.verify.wall / warm.openssl.wall:.2f}x openssl dgst)"
        )
        if args.profile:
            profiled(prepared, folder)
    except Exception as exc:  # a wrong run: say so, exit 1
        print(f"FAILED: {type(exc).__name__}: {exc}")
        return 1
    finally:
        if prepared is not None:
            output = prepared.server.stop()
            if "Traceback" in output:
                print(output[-3000:])
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
