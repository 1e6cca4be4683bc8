"""crypto/codes.py: codes a person reads aloud or types (setup token, invites)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testimony.crypto import codes
from testimony.crypto.errors import MalformedInput


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=codes.CODE_BYTES, max_size=codes.CODE_BYTES))
def test_a_code_reads_back_whatever_the_typing(raw: bytes) -> None:
    code = codes.new_code(lambda n: raw[:n])
    assert not code.startswith("-") and code[0].isalnum()
    assert len(code) == 39 and code.count("-") == 7
    assert not set(code) & set("ILOU")
    typed = code.lower().replace("-", " ").replace("1", "l").replace("0", "o")
    assert codes.normalise_code(typed) == code
    assert codes.code_hash(typed) == codes.code_hash(code)


def test_distinct_randomness_gives_distinct_codes() -> None:
    seen = {codes.new_code() for _ in range(200)}
    assert len(seen) == 200


@pytest.mark.parametrize(
    "text",
    ["", "-" * 39, "0" * 31, "0" * 33, "U" * 32, "0000-0000-0000-0000-0000-0000-0000-000!"],
)
def test_a_mistyped_code_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        codes.normalise_code(text)
    assert text not in str(caught.value) or not text


def test_the_hash_is_of_the_printed_form() -> None:
    import hashlib

    code = codes.new_code()
    assert codes.code_hash(code) == hashlib.sha256(code.encode("ascii")).hexdigest()
