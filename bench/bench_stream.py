"""STREAM (docs/protocol.md §2) throughput and memory: ``python bench/bench_stream.py [--quick]``.

1. In memory: ``stream.encrypt`` / ``decrypt`` / ``encrypt_file`` on 256 MiB
   against raw AES-256-GCM over the same 64 KiB chunks with a plain counter
   nonce, in the same run, runs interleaved; the median of several runs.
   Target: STREAM at least 90% of raw.
2. Disk to disk: ``encrypt_file`` and ``decrypt_file`` of a 1 GiB file in a
   fresh child process each (so this process's memory does not count),
   reporting wall time and the child's peak RSS (VmHWM); a raw 1 GiB write and
   a plain copy, each with fsync, are the baselines. The source is dropped
   from the page cache first (posix_fadvise), so it is read from disk.
   Target: peak RSS under 64 MiB.

Not part of the test suite. ``--quick`` uses 32 MiB and 64 MiB.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cryptography
import run  # bench/run.py, beside this file
from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from testimony.crypto import stream

MIB = 1024 * 1024
KEY = bytes(range(32))
CHUNK = stream.CHUNK
SEALED = stream.CIPHERTEXT_CHUNK


# --- raw AES-GCM baselines: same chunks, nonce = 12-byte counter, no final flag ----------


def counter_nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def raw_encrypt(data: bytes) -> list[bytes]:
    aead, view = AESGCM(KEY), memoryview(data)
    return [
        aead.encrypt(counter_nonce(i), view[start : start + CHUNK], None)
        for i, start in enumerate(range(0, len(data), CHUNK))
    ]


def raw_encrypt_lazily(data: bytes) -> Iterator[bytes]:
    aead, view = AESGCM(KEY), memoryview(data)
    for i, start in enumerate(range(0, len(data), CHUNK)):
        yield aead.encrypt(counter_nonce(i), view[start : start + CHUNK], None)


def raw_decrypt(ciphertext: bytes) -> list[bytes]:
    aead, view = AESGCM(KEY), memoryview(ciphertext)
    return [
        aead.decrypt(counter_nonce(i), view[start : start + SEALED], None)
        for i, start in enumerate(range(0, len(ciphertext), SEALED))
    ]


class NullSink:
    def write(self, data: memoryview) -> int:
        return len(data)


def raw_encrypt_file(src: io.BufferedIOBase | io.BytesIO, dst: NullSink) -> int:
    """What encrypt_file does, minus STREAM: readinto, encrypt_into, write."""
    aead = AESGCM(KEY)
    plain, sealed = memoryview(bytearray(CHUNK)), memoryview(bytearray(SEALED))
    written, index = 0, 0
    while count := src.readinto(plain):
        written += dst.write(
            sealed[
                : aead.encrypt_into(counter_nonce(index), plain[:count], None, sealed[: count + 16])
            ]
        )
        index += 1
    return written


# --- 1. in memory ---------------------------------------------------------------------------


CLOCKS = {"wall": time.perf_counter, "CPU": time.process_time}


def median_seconds(
    runs: int, contenders: dict[str, Callable[[], object]]
) -> dict[tuple[str, str], float]:
    """The median wall and CPU time of each contender, runs interleaved so that
    drift and other load hit all alike. CPU time leaves out the time this
    process waited for the CPU, so it is the steadier figure on a busy machine."""
    times: dict[tuple[str, str], list[float]] = {
        (name, clock): [] for name in contenders for clock in CLOCKS
    }
    for _ in range(runs):
        for name, action in contenders.items():
            start = {clock: read() for clock, read in CLOCKS.items()}
            result = action()
            for clock, read in CLOCKS.items():
                times[name, clock].append(read() - start[clock])
            del result
    return {key: statistics.median(seconds) for key, seconds in times.items()}


def in_memory(size: int, runs: int) -> None:
    data = os.urandom(size)
    sealed = stream.encrypt(KEY, data)
    raw_sealed = b"".join(raw_encrypt(data))
    assert stream.decrypt(KEY, sealed) == data
    pairs = [
        ("encrypt", lambda: stream.encrypt(KEY, data), lambda: raw_encrypt(data)),
        ("decrypt", lambda: stream.decrypt(KEY, sealed), lambda: raw_decrypt(raw_sealed)),
        (
            "encrypt_file (BytesIO to a null sink)",
            lambda: stream.encrypt_file(KEY, io.BytesIO(data), NullSink()),
            lambda: raw_encrypt_file(io.BytesIO(data), NullSink()),
        ),
        (
            "encrypt_chunks (consumed one by one)",
            lambda: sum(map(len, stream.encrypt_chunks(KEY, [data]))),
            lambda: sum(map(len, raw_encrypt_lazily(data))),
        ),
    ]
    contenders: dict[str, Callable[[], object]] = {}
    for name, with_stream, with_raw_aesgcm in pairs:
        contenders[f"stream {name}"] = with_stream
        contenders[f"raw {name}"] = with_raw_aesgcm
    medians = median_seconds(runs, contenders)
    mib = size / MIB
    print(f"\n1. In memory, {mib:.0f} MiB, median of {runs} interleaved runs; MiB/s")
    print(f"   {'operation':40} {'clock':>5} {'STREAM':>7} {'raw':>7} {'ratio':>6}")
    for name, _, _ in pairs:
        for clock in CLOCKS:
            ours = mib / medians[f"stream {name}", clock]
            raw = mib / medians[f"raw {name}", clock]
            verdict = "ok" if ours >= 0.9 * raw else "below the 90% target"
            print(f"   {name:40} {clock:>5} {ours:7.0f} {raw:7.0f} {ours / raw:6.0%}  {verdict}")
    print(
        "   raw = AESGCM over the same 64 KiB chunks with a 12-byte counter nonce; raw"
        " encrypt/decrypt return a list of chunks, STREAM one bytes object."
    )


# --- 2. disk to disk, each in a child process -------------------------------------------------


def child(operation: str, src: str, dst: str, size: int) -> None:
    """Run one operation and print its wall time and this process's peak RSS as JSON."""
    start = time.perf_counter()
    if operation == "write":
        block = os.urandom(MIB)
        with open(dst, "wb") as out:
            for _ in range(size // MIB):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    else:
        with open(src, "rb") as source, open(dst, "wb") as out:
            if operation == "copy":
                buffer = memoryview(bytearray(CHUNK))
                while count := source.readinto(buffer):
                    out.write(buffer[:count])
            elif operation == "encrypt_file":
                stream.encrypt_file(KEY, source, out)
            elif operation == "decrypt_file":
                stream.decrypt_file(KEY, source, out)
            out.flush()
            os.fsync(out.fileno())
    seconds = time.perf_counter() - start
    status = Path("/proc/self/status").read_text()
    peak_kib = int(
        next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]
    )
    print(json.dumps({"seconds": seconds, "peak_rss_kib": peak_kib}))


def run_child(operation: str, src: Path, dst: Path, size: int) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", operation, str(src), str(dst), str(size)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout)


def evict(path: Path) -> None:
    """Drop one file from the page cache, so the next read comes from the disk."""
    with open(path, "rb") as file:
        os.fsync(file.fileno())
        os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def disk_to_disk(size: int) -> None:
    base = "/var/tmp" if os.path.isdir("/var/tmp") else None
    with tempfile.TemporaryDirectory(prefix="bench-stream-", dir=base) as folder:
        plain, sealed, opened, raw = (
            Path(folder) / n for n in ("plain", "sealed", "opened", "raw")
        )
        with open(plain, "wb") as out:
            for _ in range(size // MIB):
                out.write(os.urandom(MIB))
        evict(plain)
        results = {"raw write (write+fsync)": run_child("write", plain, raw, size)}
        raw.unlink()
        evict(plain)
        results["plain copy (readinto+write+fsync)"] = run_child("copy", plain, raw, size)
        raw.unlink()
        evict(plain)
        results["encrypt_file (+fsync)"] = run_child("encrypt_file", plain, sealed, size)
        evict(sealed)
        results["decrypt_file (+fsync)"] = run_child("decrypt_file", sealed, opened, size)
        assert sealed.stat().st_size == stream.ciphertext_length(size)
        assert file_digest(opened) == file_digest(plain), "decrypt_file changed the data"
        print(f"\n2. Disk to disk, {size / MIB:.0f} MiB, in {folder} (each in a fresh child)")
        print(f"   {'operation':36} {'seconds':>8} {'MiB/s':>7} {'peak RSS MiB':>13}")
        for name, figures in results.items():
            rate = size / MIB / figures["seconds"]
            peak = figures["peak_rss_kib"] / 1024
            print(f"   {name:36} {figures['seconds']:8.2f} {rate:7.0f} {peak:13.1f}")
        worst = max(results[n]["peak_rss_kib"] for n in results if "_file" in n) / 1024
        print(f"   peak RSS of encrypt_file/decrypt_file: {worst:.1f} MiB (target < 64 MiB)")
    print(f"   temporary files removed: {not Path(folder).exists()}")


def machine() -> str:
    """The machine as bench/run.py describes it, and the crypto library versions."""
    return (
        f"{run.machine()}, cryptography {cryptography.__version__},"
        f" {openssl_backend.openssl_version_text()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 MiB in memory, 64 MiB on disk")
    parser.add_argument("--memory-only", action="store_true", help="skip the disk part")
    parser.add_argument("--runs", type=int, default=None, help="runs per measurement")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        operation, src, dst, size = arguments.child
        child(operation, src, dst, int(size))
        return
    print(f"Machine: {machine()}")
    runs = arguments.runs or (3 if arguments.quick else 7)
    in_memory((32 if arguments.quick else 256) * MIB, runs)
    if not arguments.memory_only:
        disk_to_disk((64 if arguments.quick else 1024) * MIB)


if __name__ == "__main__":
    main()
