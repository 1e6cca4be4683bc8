"""The reviewers' cryptography (docs/protocol.md §12) against the v1.1 vectors
of an independent implementation (tests/vectors/testimony/reviewers.json)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testimony.crypto import canonical, hpke, keyring, padding, signing
from testimony.crypto.encoding import b64u_decode, b64u_encode, sha256
from testimony.crypto.errors import HPKEOpenError, MalformedInput, PayloadOpenError
from tests.vectors.loader import load_json

VECTORS: dict[str, Any] = load_json("testimony/reviewers.json")
KEYRING = VECTORS["keyring"]
G = bytes.fromhex(KEYRING["G"])


def _identity(reviewer: dict[str, str]) -> keyring.Identity:
    return keyring.Identity(
        bytes.fromhex(reviewer["sign_seed"]), bytes.fromhex(reviewer["box_seed"])
    )


@pytest.mark.parametrize("reviewer", VECTORS["reviewers"], ids=lambda r: r["reviewer_id"])
def test_reviewer_keys_and_ids(reviewer: dict[str, str]) -> None:
    identity = _identity(reviewer)
    assert b64u_encode(identity.sign_public) == reviewer["sign_key"]
    assert sha256(identity.box_public).hex() == reviewer["box_key_sha256"]
    assert identity.id == reviewer["reviewer_id"]
    assert keyring.reviewer_id(identity.sign_public) == reviewer["reviewer_id"]


def test_a_signed_entry_signs_exactly_its_signing_bytes() -> None:
    vector = VECTORS["signed_entry"]
    entry = vector["entry"]
    assert keyring.signing_bytes(entry).decode("utf-8") == vector["signing_bytes"]
    assert keyring.signing_bytes({**entry, "received": "2026-01-01T00:00:00Z"}) == (
        vector["signing_bytes"].encode("utf-8")
    )
    founder = _identity(VECTORS["reviewers"][0])
    assert founder.sign_entry(entry) == entry  # Ed25519 is deterministic
    assert entry["code"] == sha256(vector["invite_code"].encode("ascii")).hex()


def test_the_session_signature() -> None:
    vector = VECTORS["session"]
    message = keyring.session_signing_bytes(vector["challenge"], vector["reviewer"])
    assert message.decode("utf-8") == vector["signing_bytes"]
    founder = _identity(VECTORS["reviewers"][0])
    assert b64u_encode(founder.sign(message)) == vector["signature"]
    signing.verify(founder.sign_public, message, b64u_decode(vector["signature"]))


def test_the_blind_index_key() -> None:
    assert keyring.blind_index_key(G).hex() == KEYRING["K_b"]


@pytest.mark.parametrize(
    "case", KEYRING["blind_index"], ids=lambda c: f"{c['kind']}:{c['value']!r}"
)
def test_blind_indexes_and_their_normalisation(case: dict[str, Any]) -> None:
    assert keyring.normalise(case["value"]) == case["normalised"]
    key = keyring.blind_index_key(G)
    assert keyring.blind_index(key, case["kind"], case["value"], case["bits"]) == case["index"]
    assert case["index"] == int(case["hmac"], 16) >> (256 - case["bits"])


def test_the_annotation_key_seals_the_vector_payload_byte_for_byte() -> None:
    vector = KEYRING["annotation"]
    nonce = bytes.fromhex(vector["nonce"])
    key = keyring.group_key(G, nonce)
    assert key.hex() == vector["K_e"]
    assert len(padding.pad(canonical.dumps(vector["payload"]))) == vector["padded_length"]
    entry = vector["entry"]
    assert b64u_decode(entry["nonce"]) == nonce
    assert keyring.seal_payload(key, vector["payload"]) == entry["sealed"]
    assert keyring.open_payload(key, entry["sealed"]) == vector["payload"]
    widths = dict(keyring.DEFAULT_INDEX_BITS)
    assert (
        keyring.index_values(keyring.blind_index_key(G), [("tag", "arson")], widths)
        == entry["index"]
    )
    author = _identity(VECTORS["reviewers"][0])
    assert author.sign_entry(entry) == entry


def test_a_sealed_payload_opens_with_its_own_key_only() -> None:
    vector = KEYRING["annotation"]
    sealed = vector["entry"]["sealed"]
    other = keyring.group_key(G, bytes(16))
    with pytest.raises(PayloadOpenError):
        keyring.open_payload(other, sealed)
    altered = bytearray(b64u_decode(sealed))
    altered[3] ^= 1
    with pytest.raises(PayloadOpenError):
        keyring.open_payload(bytes.fromhex(vector["K_e"]), b64u_encode(bytes(altered)))


def test_the_grant_opens_to_the_vector_plaintext_for_its_subject_only() -> None:
    vector = VECTORS["grant"]
    seed = bytes.fromhex(vector["recipient_box_seed"])
    sealed = vector["entry"]["sealed"]
    opened = hpke.open(seed, keyring.GRANT_INFO, b64u_decode(sealed))
    assert opened.decode("utf-8") == vector["plaintext"]
    grant = keyring.open_grant(seed, sealed)
    assert grant.groups == {0: G}
    assert grant.plaintext() == opened
    resealed = keyring.seal_grant(hpke.public_key(seed), grant)
    assert keyring.open_grant(seed, resealed) == grant
    with pytest.raises(HPKEOpenError):
        keyring.open_grant(bytes(32), sealed)
    subject = next(
        r for r in VECTORS["reviewers"] if r["reviewer_id"] == vector["entry"]["subject"]
    )
    assert bytes.fromhex(subject["box_seed"]) == seed


def test_a_grant_whose_seed_does_not_match_its_key_id_is_refused() -> None:
    seed = bytes(range(32))
    grant = keyring.Grant(groups={0: G}, intake={"0" * 32: seed})
    sealed = keyring.seal_grant(hpke.public_key(seed), grant)
    with pytest.raises(MalformedInput, match="key id"):
        keyring.open_grant(seed, sealed)


def test_the_redaction_commitment_and_the_sealed_salts() -> None:
    vector = VECTORS["redaction"]
    salt = bytes.fromhex(vector["salt"])
    assert keyring.redaction_commitment(salt, vector["value"]) == vector["commitment"]
    key = keyring.group_key(G, bytes.fromhex(vector["export_nonce"]), keyring.SALTS_INFO)
    assert key.hex() == vector["K_salts"]
    assert keyring.seal_payload(key, vector["salts_payload"]) == vector["salts_sealed"]
    assert vector["salts_payload"]["salts"] == [b64u_encode(salt)]


@given(st.text(max_size=40))
def test_normalising_twice_changes_nothing(value: str) -> None:
    once = keyring.normalise(value)
    assert keyring.normalise(once) == once
    assert once == once.strip()
    assert "  " not in once


@given(
    st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=5),
    st.binary(min_size=16, max_size=16),
)
def test_any_payload_opens_to_itself(payload: dict[str, str], nonce: bytes) -> None:
    key = keyring.group_key(G, nonce)
    assert keyring.open_payload(key, keyring.seal_payload(key, payload)) == payload


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: keyring.group_key(G[:31], bytes(16)), "32 bytes"),
        (lambda: keyring.group_key(G, bytes(15)), "16 bytes"),
        (lambda: keyring.blind_index(G, "tag", "x", 0), "bits"),
        (lambda: keyring.redaction_commitment(b"short", "x"), "16 bytes"),
        (lambda: keyring.reviewer_id(b"x"), "32 bytes"),
    ],
)
def test_bad_inputs_are_refused_with_one_error(call: Any, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        call()
