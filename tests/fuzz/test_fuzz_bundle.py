"""The atheris harness of the bundle readers (tests/fuzz/fuzz_bundle.py) starts
from a bundle that verifies, and runs for a bounded number of inputs with no
crash and no hang; skipped where atheris is not installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz._atheris import need_atheris, run_harness

HARNESS = Path(__file__).with_name("fuzz_bundle.py")
RUNS = 300
SECONDS = 30


def test_the_seed_bundle_verifies_as_a_folder_and_as_a_zip(tmp_path: Path) -> None:
    need_atheris()
    from testimony.client.bundle.archive import check_zip, zip_bag
    from testimony.client.bundle.verify import verify
    from tests.fuzz.fuzz_bundle import build_seed_bundle

    bag = build_seed_bundle(tmp_path / "bundle")
    verdict = verify(bag)
    assert verdict.ok, [(i.kind, i.id, i.message) for i in verdict.failures]
    kinds = {item.kind for item in verdict.items}
    assert {"testimony", "file", "custody-event", "incident", "export-receipt"} <= kinds
    zipped = tmp_path / "bundle.zip"
    zip_bag(bag, zipped)
    assert len(check_zip(zipped)) > 20
    assert verify(zipped).ok


@pytest.mark.slow
@pytest.mark.timeout(SECONDS + 300)
def test_atheris_finds_no_crash_in_the_bundle_readers(tmp_path: Path) -> None:
    run_harness(HARNESS, tmp_path, runs=RUNS, seconds=SECONDS, private=True)
    # The harness's private folder is gone, whatever way libFuzzer ended.
    assert not list(tmp_path.glob("testimony-fuzz-bundle-*"))
