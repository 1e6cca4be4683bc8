"""Canonical JSON (RFC 8785) and Ed25519 over it (docs/protocol.md §0, §1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testimony.crypto import canonical, signing
from testimony.crypto.errors import MalformedInput, SignatureError

KEY = signing.private_key_from_seed(bytes(range(32)))
PUBLIC = signing.public_key_bytes(KEY)


def test_rfc8785_ordering_and_numbers() -> None:
    # RFC 8785 §3.2.3 sorts by UTF-16 code units; §3.2.2.3 formats numbers as ECMAScript.
    # U+FB33 sorts after U+1F600 in UTF-16 (a surrogate pair starting 0xD83D),
    # though not by code point: the case a naive sort gets wrong.
    assert canonical.dumps({"\ufb33": 5, "\u20ac": 1, "\r": 2, "\U0001f600": 3, "1": 4}) == (
        '{"\\r":2,"1":4,"\u20ac":1,"\U0001f600":3,"\ufb33":5}'.encode()
    )
    assert canonical.dumps([1e21, 1.5, -0.0, 100]) == b"[1e+21,1.5,0,100]"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 2**60, {1: 2}, {"a": {1, 2}}])
def test_values_json_cannot_carry_exactly_are_refused(bad: object) -> None:
    with pytest.raises(MalformedInput):
        canonical.dumps(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_signed_objects_verify_and_any_change_breaks_them(obj: dict) -> None:
    signed = signing.sign_json(KEY, obj)
    signing.verify_json(PUBLIC, signed)
    with pytest.raises(SignatureError):
        signing.verify_json(PUBLIC, {**signed, "extra-member": 1})


def test_signature_is_over_the_object_without_its_signature() -> None:
    signed = signing.sign_json(KEY, {"a": 1})
    # Key order and an old signature do not matter: JCS fixes the bytes.
    resigned = signing.sign_json(KEY, {"signature": "old", "a": 1})
    assert resigned == signed


@pytest.mark.parametrize("bad_signature", [None, "", "AAAA", "not base64!", 5])
def test_missing_or_malformed_signatures_fail_as_signature_errors(bad_signature: object) -> None:
    with pytest.raises(SignatureError):
        signing.verify_json(PUBLIC, {"a": 1, "signature": bad_signature})


def test_other_key_fails() -> None:
    other = signing.public_key_bytes(signing.private_key_from_seed(b"\x01" * 32))
    with pytest.raises(SignatureError):
        signing.verify_json(other, signing.sign_json(KEY, {"a": 1}))


def test_malformed_keys_are_refused() -> None:
    with pytest.raises(MalformedInput):
        signing.private_key_from_seed(b"short")
    with pytest.raises(MalformedInput):
        signing.verify(b"short", b"m", bytes(64))
