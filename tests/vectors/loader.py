"""One way to open the test vectors kept in this folder (see README.md here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parent


def load_json(relative: str) -> Any:
    """Load a vector file, e.g. ``load_json("testimony/stream.json")``."""
    return json.loads((VECTORS / relative).read_text(encoding="utf-8"))


def path(relative: str) -> Path:
    """The path of a vector file."""
    return VECTORS / relative
