"""Running an atheris harness of tests/fuzz/ from a test: bounded in inputs and
in time, in a folder of the test's own, and judged the same way each time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

__all__ = ["need_atheris", "run_harness"]


def need_atheris() -> None:
    """Skip the test where atheris is not installed."""
    pytest.importorskip(
        "atheris",
        reason="atheris is not installed (`pip install atheris`); the coverage-guided fuzz is skipped",
    )


def run_harness(
    harness: Path, folder: Path, *, runs: int, seconds: int, private: bool = False
) -> str:
    """Run ``harness`` for at most ``runs`` inputs and ``seconds`` of fuzzing in
    ``folder`` (its artefacts written there); assert it ended cleanly with no
    crash file, and return what libFuzzer printed. ``private``: the harness
    gets a bare environment whose TMPDIR is ``folder``."""
    need_atheris()
    result = subprocess.run(
        [
            sys.executable,
            str(harness),
            f"-runs={runs}",
            f"-max_total_time={seconds}",
            "-seed=1",
            "-timeout=10",
            f"-artifact_prefix={folder}/",
        ],
        cwd=folder,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(folder)} if private else None,
        capture_output=True,
        text=True,
        timeout=seconds + 240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Done " in result.stderr and not list(folder.glob("crash-*"))
    return result.stderr
