"""Padmé padding (docs/protocol.md §3)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testimony.crypto import padding
from testimony.crypto.errors import MalformedInput, PaddingError
from tests.vectors.loader import load_json

PADME = load_json("testimony/submission.json")["padme"]


@pytest.mark.parametrize(("length", "padded"), [(int(k), v) for k, v in PADME.items()])
def test_padme_vector(length: int, padded: int) -> None:
    assert padding.padme(length) == padded


def _reference(length: int) -> int:
    """The formula of §3, written out with logarithms."""
    if length < 2:
        return length
    e = math.floor(math.log2(length))
    s = math.floor(math.log2(e)) + 1
    z = e - s
    return (length + 2**z - 1) & ~(2**z - 1)


@given(st.integers(min_value=0, max_value=2**40))
def test_padme_matches_the_formula_and_costs_at_most_12_percent(length: int) -> None:
    padded = padding.padme(length)
    assert padded == _reference(length)
    assert length <= padded <= length * 1.12 + 1


@given(st.binary(max_size=5000))
def test_pad_appends_zeros_to_the_padme_length(data: bytes) -> None:
    padded = padding.pad(data)
    assert len(padded) == padding.padme(len(data))
    assert padded.startswith(data) and padded[len(data) :].count(0) == len(padded) - len(data)
    assert padding.unpad_attachment(padded, len(data)) == data


def test_body_unpadding_strips_trailing_zeros_and_accepts_unpadded() -> None:
    assert padding.unpad_body(padding.pad(b'{"v":1}')) == b'{"v":1}'
    assert padding.unpad_body(b'{"v":1}') == b'{"v":1}'


def test_attachment_shorter_than_its_size_is_rejected() -> None:
    with pytest.raises(PaddingError):
        padding.unpad_attachment(b"abc", 4)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_lengths_are_non_negative_integers(bad: object) -> None:
    with pytest.raises(MalformedInput):
        padding.padme(bad)  # type: ignore[arg-type]
