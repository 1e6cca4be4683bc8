"""Receipt-code derivation (docs/protocol.md §7) against raw Argon2id in the same run.

    python bench/bench_receipt.py [--quick]

`receipt.derive` is one Argon2id run (t=3, p=1, 64 MiB) plus an Ed25519 key
and an S1 public key from the two halves. The baseline is the bare Argon2id
call with the same parameters; the difference is what the key expansion costs.
"""

from __future__ import annotations

import statistics
import sys
import time

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from testimony.crypto import hpke, receipt


def _time(fn, runs: int) -> list[float]:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    runs = 3 if "--quick" in sys.argv else 10
    code = receipt.new_code()
    digits = code.digits.encode()

    def raw() -> bytes:
        return Argon2id(
            salt=receipt.SALT,
            length=64,
            iterations=receipt.ARGON2_ITERATIONS,
            lanes=receipt.ARGON2_LANES,
            memory_cost=receipt.ARGON2_MEMORY_KIB,
        ).derive(digits)

    baseline = _time(raw, runs)
    derive = _time(lambda: receipt.derive(code), runs)
    expand = _time(lambda: hpke.public_key(bytes(32)), runs * 10)
    print(f"{'operation':<34} {'median ms':>10} {'min ms':>8}")
    for name, samples in (
        ("raw Argon2id (t=3, p=1, 64 MiB)", baseline),
        ("receipt.derive (Argon2id + keys)", derive),
        ("S1 public key from seed alone", expand),
    ):
        print(f"{name:<34} {statistics.median(samples) * 1e3:>10.1f} {min(samples) * 1e3:>8.1f}")
    overhead = statistics.median(derive) / statistics.median(baseline)
    print(f"derive / raw Argon2id: {overhead:.2f}x")


if __name__ == "__main__":
    main()
