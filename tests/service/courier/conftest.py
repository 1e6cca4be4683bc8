from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import live  # noqa: F401


@pytest.fixture(autouse=True)
def pins_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Log keys are pinned under a temporary XDG_CONFIG_HOME, never the user's."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    yield home
