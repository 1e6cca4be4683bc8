"""testimony.forms exports exactly its public names."""

from __future__ import annotations

import types

import testimony.forms as forms


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(forms).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(forms.__all__) == public
    assert len(forms.__all__) == len(set(forms.__all__))
