"""Benchmark of testimony.crypto.merkle against pymerkle 7 (docs/protocol.md §9).

Builds a tree of --size leaves (default 1,000,000) in a MemoryHashStore with
``append`` in batches, and the same tree in pymerkle's ``InmemoryTree``; checks
both give the same root and proofs; then times inclusion and consistency proof
generation for --samples random challenges and prints median and p99 of each.

    python bench/bench_merkle.py [--size N] [--samples K] [--batch B] [--seed S]

Target (issue): our inclusion proof at 1,000,000 leaves under 1 ms and at least
10x faster than pymerkle's. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Sequence

from pymerkle import InmemoryTree

from testimony.crypto.merkle import (
    MemoryHashStore,
    append,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_at,
    verify_consistency,
    verify_inclusion,
)


def entry(i: int) -> bytes:
    """The benchmark's i-th log entry."""
    return b"entry-%d" % i


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed(calls: Sequence[Callable[[], object]]) -> list[float]:
    """Seconds each call took, after a few untimed warm-up calls."""
    for call in calls[:20]:
        call()
    seconds = []
    clock = time.perf_counter_ns
    for call in calls:
        start = clock()
        call()
        seconds.append((clock() - start) / 1e9)
    return seconds


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def us(seconds: float) -> str:
    return f"{seconds * 1e6:10.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=10_000, help="leaves per append call")
    parser.add_argument("--seed", type=int, default=9162)
    parser.add_argument("--quick", action="store_true", help="100,000 leaves, 200 samples")
    args = parser.parse_args()
    if args.quick:
        args.size, args.samples = 100_000, 200
    size: int = args.size
    rng = random.Random(args.seed)

    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}")
    print(f"tree: {size:,} leaves, {args.samples:,} samples, batches of {args.batch:,}")

    # Build ours: leaf hashing included, as the log does it.
    store = MemoryHashStore()
    start = time.perf_counter()
    current = 0
    for first in range(0, size, args.batch):
        batch = [leaf_hash(entry(i)) for i in range(first, min(size, first + args.batch))]
        result = append(current, batch, store)
        store.write_nodes(result.nodes)
        current = result.size
    ours_build = time.perf_counter() - start
    print(f"build ours: {ours_build:.2f} s ({len(store):,} stored nodes)")

    # Build pymerkle's (leaf hashing included too).
    start = time.perf_counter()
    tree = InmemoryTree()
    for i in range(size):
        tree.append_entry(entry(i))
    theirs_build = time.perf_counter() - start
    print(f"build pymerkle InmemoryTree: {theirs_build:.2f} s")

    # Both trees are the same RFC 9162 tree, and both give the same proofs.
    our_root = root_at(size, store)
    assert tree.get_root() == our_root, "roots differ"
    for index in (0, size // 3, size - 1):
        ours = inclusion_proof(index, size, store)
        theirs = tree.prove_inclusion(index + 1, size)
        assert theirs.path[1:] == ours, "inclusion proofs differ"
        verify_inclusion(index, size, leaf_hash(entry(index)), ours, our_root)
    for m in (1, size // 3, size - 1):
        ours = consistency_proof(m, size, store)
        verify_consistency(m, size, root_at(m, store), our_root, ours)

    indices = [rng.randrange(size) for _ in range(args.samples)]
    firsts = [rng.randrange(1, size + 1) for _ in range(args.samples)]
    # Objects made so far are never collected: keep the collector's full passes
    # over both trees out of the timings.
    gc.collect()
    gc.freeze()
    rows = [
        (
            "inclusion proof",
            timed([lambda i=i: inclusion_proof(i, size, store) for i in indices]),
            timed([lambda i=i: tree.prove_inclusion(i + 1, size) for i in indices]),
        ),
        (
            "consistency proof",
            timed([lambda m=m: consistency_proof(m, size, store) for m in firsts]),
            timed([lambda m=m: tree.prove_consistency(m, size) for m in firsts]),
        ),
    ]

    print()
    print(
        f"{'µs per proof':<18} {'ours med':>10} {'ours p99':>10} "
        f"{'pymerkle med':>12} {'pymerkle p99':>12} {'ratio (med)':>11}"
    )
    for name, ours_times, theirs_times in rows:
        ours_median = statistics.median(ours_times)
        theirs_median = statistics.median(theirs_times)
        print(
            f"{name:<18} {us(ours_median)} {us(p99(ours_times))} "
            f"{us(theirs_median):>12} {us(p99(theirs_times)):>12} "
            f"{theirs_median / ours_median:10.1f}x"
        )

    inclusion_ours = statistics.median(rows[0][1])
    inclusion_ratio = statistics.median(rows[0][2]) / inclusion_ours
    met = inclusion_ours < 1e-3 and inclusion_ratio >= 10
    print()
    print(f"target (inclusion < 1 ms and >= 10x pymerkle): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
