"""The layer contract (architecture.ini) holds, and it would catch a module
that imports across it — at the top of a module or inside a function."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache", "architecture.ini"]

pytestmark = pytest.mark.skipif(
    shutil.which(LINT[0]) is None, reason="import-linter is installed by `make install`"
)

# Each throwaway module breaks one contract; the import inside a function counts too.
PROBES = {
    "crypto/_contract_probe.py": (
        "import testimony.service.store.db\n",
        "testimony.crypto imports nothing of the project BROKEN",
    ),
    "service/domain/_contract_probe.py": (
        "def wiring():\n    from testimony.service import server\n    return server\n",
        "the server's layers point one way",
    ),
    "service/store/_contract_probe.py": (
        "def client():\n    import testimony.client.console\n",
        "the server never imports client code BROKEN",
    ),
    "workstation/_contract_probe.py": (
        "from testimony.service.domain import intake\n",
        "clients reach the server over HTTP only, never through its store, domain or api BROKEN",
    ),
}


def _lint() -> subprocess.CompletedProcess[str]:
    return subprocess.run(LINT, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_tree_keeps_the_contract() -> None:
    result = _lint()
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def probes() -> Iterator[list[Path]]:
    paths = [ROOT / name for name in PROBES]
    try:
        for path, (source, _) in zip(paths, PROBES.values(), strict=True):
            assert not path.exists()
            path.write_text(source, encoding="utf-8")
        yield paths
    finally:
        for path in paths:
            path.unlink(missing_ok=True)


def test_an_import_across_the_contract_fails(probes: list[Path]) -> None:
    result = _lint()
    report = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    for name, (_, broken) in PROBES.items():
        assert broken in report, name
        module = "testimony." + name.removesuffix(".py").replace("/", ".")
        assert module.split(".")[-1] in report
    assert "domain._contract_probe -> testimony.service.server" in report
