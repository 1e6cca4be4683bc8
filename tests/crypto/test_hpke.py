"""Suite S1 and the HPKE building blocks under it (docs/protocol.md §1)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.bindings._rust import openssl as rust_openssl
from cryptography.hazmat.primitives import hpke as pyca_hpke
from cryptography.hazmat.primitives.asymmetric import x25519
from hypothesis import given, settings
from hypothesis import strategies as st

from testimony.crypto import hpke
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.errors import HPKEOpenError, MalformedInput
from tests.vectors.loader import load_json

KDFS = {
    1: pyca_hpke.KDF.HKDF_SHA256,
    2: pyca_hpke.KDF.HKDF_SHA384,
    3: pyca_hpke.KDF.HKDF_SHA512,
    0x10: pyca_hpke.KDF.SHAKE128,
    0x11: pyca_hpke.KDF.SHAKE256,
}
AEADS = {
    1: pyca_hpke.AEAD.AES_128_GCM,
    2: pyca_hpke.AEAD.AES_256_GCM,
    3: pyca_hpke.AEAD.CHACHA20_POLY1305,
}

RFC9180 = [v for v in load_json("hpke/rfc9180-x25519-base.json") if v["aead_id"] in AEADS]
XWING = load_json("hpke/mlkem768-x25519.json")
S1 = load_json("testimony/s1.json")


def _open_first_encryption(suite: pyca_hpke.Suite, private_key: object, vector: dict) -> bytes:
    """Open the vector's sequence-0 encryption (single-shot HPKE is sequence 0).

    The vectors carry a non-empty AAD, which the public single-shot API does
    not take; the binding's ``_decrypt_with_aad`` does (tests/vectors/README.md).
    """
    first = vector["encryptions"][0]
    return rust_openssl.hpke._decrypt_with_aad(
        suite,
        bytes.fromhex(vector["enc"]) + bytes.fromhex(first["ct"]),
        private_key,
        info=bytes.fromhex(vector["info"]),
        aad=bytes.fromhex(first["aad"]),
    )


@pytest.mark.parametrize("vector", RFC9180, ids=lambda v: f"kdf{v['kdf_id']}-aead{v['aead_id']}")
def test_rfc9180_x25519_base_mode_opens(vector: dict) -> None:
    private = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["skRm"]))
    assert private.public_key().public_bytes_raw().hex() == vector["pkRm"]
    suite = pyca_hpke.Suite(pyca_hpke.KEM.X25519, KDFS[vector["kdf_id"]], AEADS[vector["aead_id"]])
    assert _open_first_encryption(suite, private, vector).hex() == vector["encryptions"][0]["pt"]


def test_rfc9180_vectors_cover_every_aead() -> None:
    assert {(v["kdf_id"], v["aead_id"]) for v in RFC9180} >= {(1, 1), (1, 2), (1, 3)}


@pytest.mark.parametrize("vector", XWING, ids=lambda v: f"kdf{v['kdf_id']}-aead{v['aead_id']}")
def test_mlkem768_x25519_seed_expands_to_public_key(vector: dict) -> None:
    assert hpke.public_key(bytes.fromhex(vector["skRm"])).hex() == vector["pkRm"]


def test_mlkem768_x25519_vector_opens() -> None:
    vector = next(v for v in XWING if v["kdf_id"] == 1)
    suite = pyca_hpke.Suite(pyca_hpke.KEM.MLKEM768_X25519, KDFS[1], AEADS[vector["aead_id"]])
    private = hpke._private_key(bytes.fromhex(vector["skRm"]))
    assert _open_first_encryption(suite, private, vector).hex() == vector["encryptions"][0]["pt"]


@pytest.mark.parametrize("key", S1["keys"], ids=lambda k: k["key_id"])
def test_s1_key_expansion_and_key_id(key: dict) -> None:
    public = hpke.public_key(bytes.fromhex(key["seed"]))
    assert public == b64u_decode(key["public"])
    assert hashlib.sha256(public).hexdigest() == key["public_sha256"]
    assert hpke.key_id(public) == key["key_id"]


@pytest.mark.parametrize("case", S1["open"], ids=lambda c: f"{c['info']}-{c['seed'][:8]}")
def test_s1_sealed_vectors_open(case: dict) -> None:
    seed, info, sealed = (
        bytes.fromhex(case["seed"]),
        case["info"].encode(),
        b64u_decode(case["sealed"]),
    )
    assert hpke.open(seed, info, sealed).hex() == case["plaintext"]
    # The same message under the other label, or altered anywhere, does not open.
    other = hpke.INFO_REPLY if info == hpke.INFO_CEK else hpke.INFO_CEK
    with pytest.raises(HPKEOpenError):
        hpke.open(seed, other, sealed)
    for position in (0, hpke.ENC_LENGTH - 1, hpke.ENC_LENGTH, len(sealed) - 1):
        altered = bytearray(sealed)
        altered[position] ^= 1
        with pytest.raises(HPKEOpenError):
            hpke.open(seed, info, bytes(altered))
    with pytest.raises(HPKEOpenError):
        hpke.open(seed, info, sealed[:-1])


def test_seal_output_has_the_protocol_layout() -> None:
    sealed = hpke.seal(hpke.public_key(bytes(32)), hpke.INFO_CEK, bytes(32))
    assert len(sealed) == 1168  # enc 1120 + CEK 32 + tag 16 (§3 step 4)


@settings(max_examples=20, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), plaintext=st.binary(max_size=512))
def test_seal_open_round_trip(seed: bytes, plaintext: bytes) -> None:
    sealed = hpke.seal(hpke.public_key(seed), hpke.INFO_REPLY, plaintext)
    assert hpke.open(seed, hpke.INFO_REPLY, sealed) == plaintext


def test_wrong_key_does_not_open() -> None:
    sealed = hpke.seal(hpke.public_key(bytes(32)), hpke.INFO_CEK, b"k" * 32)
    with pytest.raises(HPKEOpenError):
        hpke.open(b"\x01" * 32, hpke.INFO_CEK, sealed)


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, "0" * 32])
def test_seeds_must_be_32_bytes(bad: object) -> None:
    with pytest.raises(MalformedInput):
        hpke.public_key(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [0, 1184, 1215, 1217])
def test_public_keys_must_be_1216_bytes(length: int) -> None:
    with pytest.raises(MalformedInput):
        hpke.seal(bytes(length), hpke.INFO_CEK, b"x")
    with pytest.raises(MalformedInput):
        hpke.key_id(bytes(length))


def test_short_sealed_data_is_an_open_error_not_a_crash() -> None:
    with pytest.raises(HPKEOpenError):
        hpke.open(bytes(32), hpke.INFO_CEK, bytes(100))
