"""``crypto/ed25519.py``: which 32-byte strings are Ed25519 public keys.

The small-order and non-canonical encodings are those listed by Chalkias,
Garillot and Nikolaenko, "Taming the many EdDSAs" (2020), table 6 and §5.
"""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from testimony.crypto.ed25519 import check_public_key
from testimony.crypto.errors import MalformedInput
from testimony.crypto.receipt import derive

P = 2**255 - 19

SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4, x < 0
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
]

NON_CANONICAL = [
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # y = 2^255 - 1
    "0100000000000000000000000000000000000000000000000000000000000080",  # x = 0, sign 1
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # x = 0, sign 1
]


def _not_on_the_curve() -> bytes:
    # The smallest y whose x^2 = (y^2 - 1) / (d y^2 + 1) has no square root.
    d = (-121665 * pow(121666, P - 2, P)) % P
    for y in range(2, 100):
        u, v = (y * y - 1) % P, (d * y * y + 1) % P
        ratio = u * pow(v, P - 2, P) % P
        if pow(ratio, (P - 1) // 2, P) == P - 1:
            return y.to_bytes(32, "little")
    raise AssertionError("no such y below 100")


def test_keys_made_from_seeds_pass() -> None:
    check_public_key(derive("1234-5678-9012-3456-7890").witness)
    for _ in range(200):
        check_public_key(Ed25519PrivateKey.generate().public_key().public_bytes_raw())


@pytest.mark.parametrize("encoded", SMALL_ORDER)
def test_a_point_of_small_order_is_refused(encoded: str) -> None:
    with pytest.raises(MalformedInput, match="not an Ed25519 public key"):
        check_public_key(bytes.fromhex(encoded))


@pytest.mark.parametrize("encoded", NON_CANONICAL)
def test_a_non_canonical_encoding_is_refused(encoded: str) -> None:
    with pytest.raises(MalformedInput, match="not an Ed25519 public key"):
        check_public_key(bytes.fromhex(encoded))


def test_bytes_that_name_no_point_are_refused() -> None:
    with pytest.raises(MalformedInput, match="not an Ed25519 public key"):
        check_public_key(_not_on_the_curve())


@pytest.mark.parametrize("key", [b"", bytes(31), bytes(33), "00" * 32])
def test_anything_but_32_bytes_is_refused(key: object) -> None:
    with pytest.raises(MalformedInput, match="32 bytes"):
        check_public_key(key)  # type: ignore[arg-type]


def test_what_is_refused_here_openssl_loads() -> None:
    # Why the check exists: every one of these loads, and the identity key
    # verifies the signature (R = identity, S = 0) on any message.
    for encoded in SMALL_ORDER + NON_CANONICAL:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(encoded))
    Ed25519PublicKey.from_public_bytes(_not_on_the_curve())
    identity = bytes.fromhex(SMALL_ORDER[0])
    Ed25519PublicKey.from_public_bytes(identity).verify(identity + bytes(32), os.urandom(20))


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_random_bytes_pass_only_when_they_decode_to_a_point_of_large_order(key: bytes) -> None:
    # A slow reference by brute definition: a canonical y with an x on the
    # curve, not one of the small-order encodings. (libsodium refuses mixed-
    # order points too, which this reference does not compute.)
    y = int.from_bytes(key, "little") & ((1 << 255) - 1)
    sign = key[31] >> 7
    d = (-121665 * pow(121666, P - 2, P)) % P
    xx = (y * y - 1) * pow(d * y * y + 1, P - 2, P) % P
    is_square = xx == 0 or pow(xx, (P - 1) // 2, P) == 1
    decodes = y < P and is_square and not (xx == 0 and sign == 1) and key.hex() not in SMALL_ORDER
    try:
        check_public_key(key)
    except MalformedInput:
        return
    assert decodes


def test_a_point_of_mixed_order_is_refused() -> None:
    # A key of the prime-order subgroup plus the point of order 2 (negating
    # y): canonical, on the curve, not small order, but not of prime order.
    key = bytearray(Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    y = int.from_bytes(key, "little") & ((1 << 255) - 1)
    mixed = ((P - y) % P) | ((key[31] >> 7) << 255)
    with pytest.raises(MalformedInput, match="not an Ed25519 public key"):
        check_public_key(mixed.to_bytes(32, "little"))
