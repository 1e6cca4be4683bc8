"""Run every benchmark in this folder, one after another, and print their figures.

    python bench/run.py            # all of them, full sizes
    python bench/run.py --quick    # smaller sizes, for a quick look
    python bench/run.py merkle     # only those whose name contains "merkle"

Each benchmark measures its own baseline in the same run (raw AES-GCM, raw disk
write, pymerkle, ...) and prints both. Record the figures in docs/performance.md.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REGISTERED = ("workstation_sync.py", "workstation_triage.py", "workstation_ui.py")
"""Benchmarks run besides every ``bench_*.py`` (each takes ``--quick`` too)."""


def machine() -> str:
    import os

    from _server import cpu_model

    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu_model()}, "
        f"Python {platform.python_version()}"
    )


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    names = [a for a in argv if not a.startswith("-")]
    scripts = sorted(HERE.glob("bench_*.py")) + [HERE / name for name in REGISTERED]
    if names:
        scripts = [s for s in scripts if any(n in s.stem for n in names)]
    print(f"# machine: {machine()}")
    failed = 0
    for script in scripts:
        print(f"\n## {script.stem}", flush=True)
        started = time.monotonic()
        args = [sys.executable, str(script)] + (["--quick"] if quick else [])
        code = subprocess.call(args)
        print(f"({script.stem}: {time.monotonic() - started:.1f} s, exit {code})", flush=True)
        failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
