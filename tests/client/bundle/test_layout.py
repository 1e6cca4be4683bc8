"""The bundle's naming rules (docs/protocol.md §11): a file's name, and a path as
a BagIt manifest writes it (RFC 8493 §2.1.3)."""

from __future__ import annotations

import doctest
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testimony.client.bundle import layout
from testimony.client.bundle.layout import MAX_NAME_BYTES, decode_path, encode_path, file_name


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(layout).failed == 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("IMG_0412.jpg", "3-IMG_0412.jpg"),
        ("a/b\\c", "3-a_b_c"),
        ("../../etc/passwd", "3-.._.._etc_passwd"),
        ("photo\u202egpj.exe", "3-photo_gpj.exe"),  # a bidi override (Cf)
        ("zero\u200bwidth", "3-zero_width"),  # Cf
        ("line\nbreak\r\x00\x1b[31m", "3-line_break___[31m"),  # Cc
        ("e\u0301te\u0301.txt", "3-\u00e9t\u00e9.txt"),  # NFC
        ("Масанчи.png", "3-Масанчи.png"),
        ("", "3-"),
        (None, "3-"),
        (42, "3-"),
        ("\ud800x", "3-_x"),  # a lone surrogate no file system stores
    ],
)
def test_a_file_s_name(name: object, expected: str) -> None:
    assert file_name(3, name) == expected


def test_a_long_name_is_shortened_to_fit_keeping_its_extension() -> None:
    name = "ж" * 300 + ".jpeg"
    short = file_name(12, name)
    assert len(short.encode("utf-8")) <= MAX_NAME_BYTES
    assert short.startswith("12-жжж") and short.endswith(".jpeg")
    assert file_name(12, name) == short  # the verifier computes the same name
    no_extension = file_name(0, "x" * 400)
    assert len(no_extension.encode()) == MAX_NAME_BYTES and no_extension.startswith("0-x")


def test_a_position_is_a_whole_number() -> None:
    for bad in (-1, True, 1.0):
        with pytest.raises(ValueError):
            file_name(bad, "x")  # type: ignore[arg-type]


@given(st.text())
def test_a_file_s_name_is_always_one_safe_segment(name: str) -> None:
    result = file_name(0, name)
    assert "/" not in result and "\\" not in result
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in result)
    assert unicodedata.normalize("NFC", result) == result
    assert len(result.encode("utf-8")) <= MAX_NAME_BYTES


def test_percent_cr_and_lf_are_percent_encoded_and_nothing_else() -> None:
    assert encode_path("data/a%b\r\nc d/é") == "data/a%25b%0D%0Ac d/é"
    assert decode_path("data/a%25b%0d%0Ac") == "data/a%b\r\nc"
    assert decode_path("data/%2525") == "data/%25"  # one pass
    assert decode_path("data/100%") == "data/100%"  # a stray % is left as it is
    assert decode_path("data/e\u0301") == "data/\u00e9"  # compared after NFC


@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_decoding_undoes_encoding(path: str) -> None:
    assert decode_path(encode_path(path)) == unicodedata.normalize("NFC", path)
