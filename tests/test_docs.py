"""The examples in module docstrings and in docs/*.md run, so they stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import testimony.crypto

DOCS = Path(__file__).resolve().parent.parent / "docs"
CRYPTO_MODULES = sorted(
    f"testimony.crypto.{info.name}" for info in pkgutil.iter_modules(testimony.crypto.__path__)
)
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", CRYPTO_MODULES)
def test_module_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=OPTIONS)
    assert result.failed == 0


def _doc_files() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if ">>> " in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", _doc_files(), ids=lambda p: str(p.relative_to(DOCS)))
def test_doc_examples(path: Path) -> None:
    result = doctest.testfile(str(path), module_relative=False, optionflags=OPTIONS)
    assert result.failed == 0
