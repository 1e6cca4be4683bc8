"""The atheris harness of ``read_envelope`` (tests/fuzz/fuzz_envelope.py) runs
for a bounded number of inputs and finds no crash and no hang; skipped where
atheris is not installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).with_name("fuzz_envelope.py")
RUNS = 5_000
SECONDS = 120


@pytest.mark.slow
@pytest.mark.timeout(SECONDS + 300)
def test_atheris_finds_no_crash_in_read_envelope(tmp_path: Path) -> None:
    pytest.importorskip(
        "atheris",
        reason="atheris is not installed (`pip install atheris`); the coverage-guided fuzz is skipped",
    )
    result = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            f"-runs={RUNS}",
            f"-max_total_time={SECONDS}",
            "-seed=1",
            "-timeout=10",
            f"-artifact_prefix={tmp_path}/",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SECONDS + 240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Done " in result.stderr and not list(tmp_path.glob("crash-*"))
