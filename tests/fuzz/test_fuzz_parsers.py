"""The atheris harness of the notes, checkpoints, key strings, tus headers,
receipts, receipt codes, STREAM, log entries, cosignatures and form
definitions (tests/fuzz/fuzz_parsers.py) starts from valid
inputs of every target, and runs for a bounded number of inputs with no crash
and no hang; skipped where atheris is not installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz._atheris import need_atheris, run_harness

HARNESS = Path(__file__).with_name("fuzz_parsers.py")
RUNS = 60_000
SECONDS = 12


def test_every_seed_is_valid_and_every_target_is_seeded() -> None:
    need_atheris()
    from testimony.crypto import checkpoint, receipts
    from tests.fuzz import fuzz_parsers as harness

    for honest, request in harness.RECEIPTS:
        verified = receipts.verify_receipt(
            honest, harness.LOG_VERIFIER, origin=harness.ORIGIN, request=request
        )
        assert verified.index == honest["index"]
    assert checkpoint.verify(harness.CHECKPOINT["note"], harness.LOG_VERIFIER).size == 42
    seeds = harness.seeds()
    for seed in seeds:
        harness.one_input(seed)  # a valid input is no crash
    assert {seed[0] for seed in seeds} == set(range(harness.TARGETS))
    # Every key and header mode, every receipt mode (whole and laid over) has a seed.
    for target, modes in (
        (harness.NOTE, len(harness.NOTE_KEYS)),
        (harness.TUS, len(harness.TUS_HEADERS)),
        (harness.RECEIPT, 2 * len(harness.RECEIPTS)),
    ):
        assert {seed[1] for seed in seeds if seed[0] == target} == set(range(modes))


@pytest.mark.slow
@pytest.mark.timeout(SECONDS + 300)
def test_atheris_finds_no_crash_in_the_parsers(tmp_path: Path) -> None:
    printed = run_harness(HARNESS, tmp_path, runs=RUNS, seconds=SECONDS, private=True)
    # It started from the seed corpus and the formats' dictionary.
    assert "files found in " + str(tmp_path / "testimony-fuzz-parsers-") in printed
    assert "Dictionary: " in printed
    # The harness's private folder is gone, whatever way libFuzzer ended.
    assert not list(tmp_path.glob("testimony-fuzz-parsers-*"))
