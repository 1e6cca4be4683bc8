"""The examples in the intake server's module docstrings run, so they stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import testimony.service.api
import testimony.service.domain

MODULES = sorted(
    [
        "testimony.service.settings",
        *(
            f"{package.__name__}.{info.name}"
            for package in (testimony.service.domain, testimony.service.api)
            for info in pkgutil.iter_modules(package.__path__)
        ),
    ]
)


@pytest.mark.parametrize("name", MODULES)
def test_module_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
