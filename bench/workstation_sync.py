"""Benchmark of ``testimony sync`` into a new workstation (issue 13; docs/workstation.md
"Sync"): 10,000 testimonies with 100 MiB of attachments, against a plain
batched download of the same bytes over the same HTTP API.

    python bench/workstation_sync.py [--count N] [--attachments M] [--attachment-kib K]
                                     [--runs R] [--workers W] [--quick] [--keep DIR]

Built once per run, in a temporary directory and not timed (the preparation's
time is printed): a data dir (``testimony init``'s own code) with a real
``testimony serve`` (``testimony.service.testing``, ready once ``/healthz``
answers), the organisation founded with the setup token as ``testimony org
init`` does (``workstation.org.bind``, ``sync_log``, ``org.found``),
``--attachments`` files of ``--attachment-kib`` KiB sealed with
``crypto.submission.seal_attachment`` and uploaded by tus
(``testimony.client.tus``, several threads), then ``--count`` submissions,
each a small realistic statement sealed with ``crypto.submission.seal_submission``
(the first ``--attachments`` of them naming one file each), posted over 16
keep-alive connections (``bench/_load.py``). Proof of work is off.

Then, ``--runs`` times, taking turns:

- **baseline**: a plain batched download of the same bytes over the same API:
  a session, ``POST /api/v1/ciphertext`` for the submission ids in batches of
  200 (each logs its ``access`` entry, as the sync's do), ``GET`` of every
  blob it lists, one after another on one keep-alive connection, then
  ``hpke.open`` of every header in a loop. No check, no log, no cache.
- **sync**: ``workstation.sync.sync`` (what ``testimony sync`` runs) into a
  fresh workstation directory of the founding admin's identity whose keyring
  holds the intake seed, as ``org init --intake-seed`` leaves it: the log
  fetched and its root rebuilt, the governance replayed, every header and body
  checked against its entry and opened, every attachment fetched, checked
  and kept, all in the encrypted cache. Checked afterwards: every submission
  recorded readable, every blob kept.

Printed beside them, as floors of the same run: raw AES-256-GCM over the
downloaded bytes in 64 KiB chunks, and a raw write + fsync of them to this
disk. Target (issue 13): sync under 20 s at 10,000 testimonies and 100 MiB,
and under 2x the baseline (medians of the runs). ``--quick``: 1,000
testimonies, 100 files. Exits 1 if a run is wrong (not for a missed target).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _load
import _server
import httpx
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from testimony.client import tus
from testimony.client.http import ServerClient
from testimony.crypto import hpke, keyfile, submission
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.keyring import Identity, session_signing_bytes
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings
from testimony.workstation import home as homes
from testimony.workstation import org
from testimony.workstation.cache import Cache
from testimony.workstation.sync import sync, sync_log

PASSPHRASE = "the benchmark's workstation passphrase"
ORIGIN = "bench.testimony.example/log"
TARGET_SECONDS = 20.0
TARGET_RATIO = 2.0
BATCH = 200
MIB = 1024 * 1024

PLACES = ["Masanchi", "Sortobe", "Bular Batyr", "Aukhatty", "Kordai", "the market", "the mosque"]
WHAT = [
    "At night men in masks set fire to the houses on our street in {p}.",
    "My brother was taken to the police station in {p} and beaten for two days.",
    "They were shooting from the road; everybody ran towards the river.",
    "The shop was looted and our car burnt; the police watched and did nothing.",
    "We hid in the cellar of our neighbours until the morning.",
    "An old man was beaten near {p}; he died in hospital a week later.",
]


def statement(rng: random.Random, n: int) -> dict[str, Any]:
    """A small testimony's manifest (about 500 bytes of answers)."""
    place = rng.choice(PLACES)
    what = " ".join(rng.choice(WHAT).format(p=place) for _ in range(rng.randint(2, 5)))
    return {
        "v": 1,
        "form": {"id": "kordai-2020", "version": 3, "sha256": "5e" * 32},
        "lang": rng.choice(["ru", "kk", "ky", "en"]),
        "answers": {
            "what": what,
            "where": place,
            "when": f"2020-02-{rng.randint(7, 8):02d}T{rng.randint(0, 23):02d}:00",
            "victims": rng.randint(0, 12),
            "perpetrators": rng.sample(["police", "organised_groups", "unknown_persons"], 1),
            "seen_yourself": rng.random() < 0.7,
            "ref": n,
        },
        "attachments": [],
        "consent": {"share_with": [], "contact": rng.random() < 0.3},
    }


# --- preparation (not timed) ------------------------------------------------------------


@dataclass
class Prepared:
    server: _server.LiveServer
    log_key: str
    intake_seed: bytes
    founder_home: Path
    identity: Identity
    ids: list[str]
    blob_bytes: int
    """Ciphertext bytes of the attachments."""
    plain_bytes: int
    """Their plaintext bytes."""
    seconds: dict[str, float]


def _upload_all(url: str, files: Sequence[bytes], threads: int) -> None:
    def reader(data: bytes) -> tus.Reader:
        return lambda offset, n: [data[offset : offset + n]]

    def one(chunk: Sequence[bytes]) -> None:
        with ServerClient(url) as client:
            for data in chunk:
                tus.upload(client, hashlib.sha256(data).hexdigest(), len(data), reader(data))

    parts = [files[k::threads] for k in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, parts))


def prepare(folder: Path, count: int, attachments: int, kib: int, workers: int) -> Prepared:
    rng = random.Random(13)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    seed = os.urandom(32)
    data_dir = folder / "data"
    made = init_data_dir(Settings(data_dir=data_dir), hpke.public_key(seed), origin=ORIGIN)
    server = _server.start_server(data_dir, folder / "server-output.txt", workers=workers)
    log_key = server.log_key()

    founder_home = folder / "founder"
    homes.create_identity(founder_home, PASSPHRASE, cost=keyfile.FAST_FOR_TESTS)
    identity = homes.unlock_identity(founder_home, PASSPHRASE)
    with Cache(founder_home, identity) as cache:
        org.bind(cache, server.url, log_key)
        with org.bound_client(cache, identity) as client:
            sync_log(cache, client)
            org.found(
                cache, client, identity, setup_token=made.setup_token, quorum=1, intake_seed=seed
            )
    seconds["server and organisation"] = time.perf_counter() - started

    started = time.perf_counter()
    public = hpke.public_key(seed)
    sealed_files = [
        submission.seal_attachment(
            rng.randbytes(kib * 1024), name=f"photo-{n}.jpg", media_type="image/jpeg"
        )
        for n in range(attachments)
    ]
    manifests = []
    for n in range(count):
        manifest = statement(rng, n)
        if n < attachments:
            manifest["attachments"] = [sealed_files[n].descriptor]
        manifests.append(manifest)
    requests = []
    for n, manifest in enumerate(manifests):
        sealed = submission.seal_submission(public, manifest)
        blobs = [sealed_files[n].blob] if n < attachments else []
        body = json.dumps(sealed.request(attachments=blobs), separators=(",", ":")).encode()
        requests.append(_load.post_json(server.url, "/api/v1/submissions", body))
    seconds["sealing"] = time.perf_counter() - started

    started = time.perf_counter()
    _upload_all(server.url, [f.ciphertext for f in sealed_files], threads=4)
    seconds["tus uploads"] = time.perf_counter() - started

    started = time.perf_counter()
    answers, _latencies = _load.run(server.url, requests, 16)
    ids = []
    for answer in answers:
        if answer.status != 201:
            raise RuntimeError(
                f"a submission was answered {answer.status}: {answer.content[:300]!r}"
            )
        ids.append(str(json.loads(answer.content)["id"]))
    if len(set(ids)) != count:
        raise RuntimeError("the receipts do not name one entry per submission")
    seconds["submissions"] = time.perf_counter() - started
    os.sync()  # the uploads' writeback is the preparation's, not the first run's
    return Prepared(
        server=server,
        log_key=log_key,
        intake_seed=seed,
        founder_home=founder_home,
        identity=identity,
        ids=ids,
        blob_bytes=sum(len(f.ciphertext) for f in sealed_files),
        plain_bytes=attachments * kib * 1024,
        seconds=seconds,
    )


# --- the baseline -------------------------------------------------------------------------


@dataclass
class Timed:
    wall: float
    cpu: float
    """This process's CPU seconds."""
    server_cpu: float
    downloaded: int
    """Bytes of headers, bodies and blobs received."""


def _session(http: httpx.Client, identity: Identity) -> str:
    challenge = http.get("/api/v1/session/challenge").json()["challenge"]
    signature = identity.sign(session_signing_bytes(challenge, identity.id))
    opened = http.post(
        "/api/v1/session",
        json={"reviewer": identity.id, "challenge": challenge, "signature": b64u_encode(signature)},
    )
    opened.raise_for_status()
    return str(opened.json()["token"])


def baseline(prepared: Prepared) -> tuple[Timed, list[bytes]]:
    """The plain batched download and ``hpke.open`` loop; the ciphertext downloaded."""
    server_cpu, cpu = prepared.server.cpu_seconds(), time.process_time()
    started = time.perf_counter()
    headers: list[bytes] = []
    downloaded: list[bytes] = []
    with httpx.Client(base_url=prepared.server.url, timeout=60) as http:
        auth = {"Authorization": f"Bearer {_session(http, prepared.identity)}"}
        ids = prepared.ids
        for start in range(0, len(ids), BATCH):
            answer = http.post(
                "/api/v1/ciphertext", json={"subjects": ids[start : start + BATCH]}, headers=auth
            )
            answer.raise_for_status()
            found = answer.json()
            for item in found["items"]:
                header = b64u_decode(item["header"])
                headers.append(header)
                downloaded.append(header)
                downloaded.append(b64u_decode(item["body"]))
            for blob in found["blobs"]:
                got = http.get(
                    f"/api/v1/blobs/{blob['id']}?subject={blob['subject']}", headers=auth
                )
                got.raise_for_status()
                downloaded.append(got.content)
    for header in headers:
        hpke.open(prepared.intake_seed, hpke.INFO_CEK, header)
    wall = time.perf_counter() - started
    timed = Timed(
        wall,
        time.process_time() - cpu,
        prepared.server.cpu_seconds() - server_cpu,
        sum(map(len, downloaded)),
    )
    return timed, downloaded


# --- the sync -----------------------------------------------------------------------------


def fresh_workstation(prepared: Prepared, folder: Path) -> tuple[Cache, Identity]:
    """A new workstation directory of the founder's identity; its keyring holds
    the intake seed (as ``org init --intake-seed`` leaves it), its log nothing."""
    folder.mkdir(mode=0o700)
    shutil.copy2(prepared.founder_home / homes.IDENTITY_FILE, folder / homes.IDENTITY_FILE)
    identity = homes.unlock_identity(folder, PASSPHRASE)
    cache = Cache(folder, identity)
    org.bind(cache, prepared.server.url, prepared.log_key)
    with cache.transaction():
        cache.add_intake_seed(
            hpke.key_id(hpke.public_key(prepared.intake_seed)), prepared.intake_seed
        )
    return cache, identity


def run_sync(prepared: Prepared, folder: Path, attachments: int) -> tuple[Timed, dict[str, Any]]:
    cache, identity = fresh_workstation(prepared, folder)
    with cache:
        server_cpu, cpu = prepared.server.cpu_seconds(), time.process_time()
        started = time.perf_counter()
        with org.bound_client(cache, identity) as client:
            report = sync(cache, client, identity)
        wall = time.perf_counter() - started
        timed = Timed(
            wall, time.process_time() - cpu, prepared.server.cpu_seconds() - server_cpu, 0
        )
        readable = sum("unreadable" not in value for _id, value in cache.records("submission"))
        kept = cache.query("SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM blobs")[0]
    problems = []
    if report.role != "admin":
        problems.append(f"role {report.role}")
    if report.submissions != len(prepared.ids) or readable != len(prepared.ids):
        problems.append(f"{report.submissions} submissions read, {readable} readable")
    if report.blobs != attachments or kept[0] != attachments or report.blob_failures:
        problems.append(
            f"{report.blobs} blobs fetched, {kept[0]} kept, {report.blob_failures} failed"
        )
    if report.unreadable:
        problems.append(f"unreadable: {report.unreadable}")
    if problems:
        raise RuntimeError("the sync is wrong: " + "; ".join(problems))
    db = folder / "cache.db"
    size = sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith(db.name))
    return timed, {"log": report.log.size, "blob_bytes": int(kept[1]), "cache_bytes": size}


# --- floors -------------------------------------------------------------------------------


def raw_aes_gcm(data: Sequence[bytes]) -> float:
    """Seconds to decrypt-sized AES-256-GCM over ``data`` in 64 KiB chunks."""
    aead, nonce = AESGCM(os.urandom(32)), os.urandom(12)
    chunk = 64 * 1024
    started = time.perf_counter()
    for piece in data:
        for offset in range(0, len(piece), chunk):
            aead.encrypt(nonce, piece[offset : offset + chunk], None)
    return time.perf_counter() - started


def raw_write(folder: Path, data: Sequence[bytes]) -> float:
    """Seconds to write ``data`` to one file on this disk and fsync it."""
    path = folder / "raw-write"
    started = time.perf_counter()
    with path.open("wb") as sink:
        for piece in data:
            sink.write(piece)
        sink.flush()
        os.fsync(sink.fileno())
    seconds = time.perf_counter() - started
    path.unlink()
    return seconds


# --- the run ------------------------------------------------------------------------------


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1,000 testimonies, 100 files")
    parser.add_argument("--count", type=int, default=None, help="testimonies (default 10,000)")
    parser.add_argument("--attachments", type=int, default=None, help="files (default count/10)")
    parser.add_argument("--attachment-kib", type=int, default=100, help="KiB per file")
    parser.add_argument("--runs", type=int, default=None, help="runs of each (default 3; quick 1)")
    parser.add_argument("--workers", type=int, default=1, help="testimony serve --workers")
    parser.add_argument("--keep", type=Path, default=None, help="build in DIR and keep it")
    args = parser.parse_args(argv)
    count = args.count or (1_000 if args.quick else 10_000)
    attachments = count // 10 if args.attachments is None else args.attachments
    runs = args.runs or (1 if args.quick else 3)
    if attachments > count:
        parser.error("--attachments is at most --count")

    print(
        f"# {platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"{_server.cpu_model()}, Python {platform.python_version()}; load {_server.load_average()}"
    )
    print(
        f"# {count:,} testimonies, {attachments:,} attachments of {args.attachment_kib} KiB "
        f"({attachments * args.attachment_kib / 1024:.1f} MiB), serve --workers {args.workers}, "
        f"{runs} run(s) of each"
    )
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        folder = args.keep
    else:
        folder = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    prepared = None
    try:
        prepared = prepare(folder, count, attachments, args.attachment_kib, args.workers)
        print(
            "preparation (not timed): "
            + ", ".join(f"{name} {s:.1f} s" for name, s in prepared.seconds.items())
        )
        bases: list[Timed] = []
        syncs: list[Timed] = []
        facts: dict[str, Any] = {}
        downloaded: list[bytes] = []
        for n in range(runs):
            base, downloaded = baseline(prepared)
            bases.append(base)
            timed, facts = run_sync(prepared, folder / f"workstation-{n}", attachments)
            syncs.append(timed)
            print(
                f"run {n + 1}: baseline {base.wall:.2f} s, sync {timed.wall:.2f} s "
                f"({timed.wall / base.wall:.2f}x); load {_server.load_average()}",
                flush=True,
            )
        total = bases[-1].downloaded
        aes = raw_aes_gcm(downloaded)
        write = raw_write(folder, downloaded)
        del downloaded
        base_wall = statistics.median(t.wall for t in bases)
        sync_wall = statistics.median(t.wall for t in syncs)
        ratio = sync_wall / base_wall
        print()
        print(f"| what ({count:,} testimonies, {total / MIB:.1f} MiB downloaded) | wall s | "
              "client CPU s | server CPU s |")  # fmt: skip
        print("| --- | --- | --- | --- |")
        print(f"| raw AES-256-GCM over the same bytes (floor) | {aes:.3f} | {aes:.3f} | - |")
        print(f"| raw write + fsync of the same bytes (floor) | {write:.3f} | - | - |")
        for name, each in (("baseline: batched download + hpke.open loop", bases),
                           ("**testimony sync** into a new workstation", syncs)):  # fmt: skip
            middle = sorted(each, key=lambda t: t.wall)[len(each) // 2]
            print(
                f"| {name} | {middle.wall:.2f} (runs: {', '.join(f'{t.wall:.2f}' for t in each)}) "
                f"| {middle.cpu:.2f} | {middle.server_cpu:.2f} |"
            )
        print(
            f"log {facts['log']:,} entries; cache {facts['cache_bytes'] / MIB:.1f} MiB "
            f"({facts['blob_bytes'] / MIB:.1f} MiB of attachments, "
            f"{prepared.plain_bytes / MIB:.1f} MiB before sealing)"
        )
        full = count == 10_000 and attachments * args.attachment_kib >= 100_000  # 1,000 x 100 KiB
        verdict = "met" if sync_wall < TARGET_SECONDS else "MISSED"
        print(
            f"sync {sync_wall:.2f} s (target < {TARGET_SECONDS:.0f} s at 10,000 and 1,000 x 100 KiB: "
            f"{verdict if full else 'not judged at this size'}); "
            f"{ratio:.2f}x the baseline (target < {TARGET_RATIO:.0f}x: "
            f"{'met' if ratio < TARGET_RATIO else 'MISSED'})"
        )
    except Exception as exc:  # a wrong run: say so, exit 1
        print(f"FAILED: {type(exc).__name__}: {exc}")
        if prepared is not None:
            print(prepared.server.stop()[-3000:])
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
