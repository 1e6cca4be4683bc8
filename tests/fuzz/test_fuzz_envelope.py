"""The atheris harness of ``read_envelope`` (tests/fuzz/fuzz_envelope.py) runs
for a bounded number of inputs and finds no crash and no hang; skipped where
atheris is not installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz._atheris import run_harness

HARNESS = Path(__file__).with_name("fuzz_envelope.py")
RUNS = 5_000
SECONDS = 120


@pytest.mark.slow
@pytest.mark.timeout(SECONDS + 300)
def test_atheris_finds_no_crash_in_read_envelope(tmp_path: Path) -> None:
    run_harness(HARNESS, tmp_path, runs=RUNS, seconds=SECONDS)
