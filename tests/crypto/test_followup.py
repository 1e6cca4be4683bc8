"""crypto/followup.py: follow-up signatures and entries, replies sealed to the
witness box, and the replies request (docs/protocol.md §7, §9)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from testimony.crypto import canonical, followup, hpke, receipt, submission
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.errors import HPKEOpenError, MalformedInput, SignatureError

KEYS = receipt.derive("1234-5678-9012-3456-7890")
OTHER = receipt.derive("0000-0000-0000-0000-0001")
RECEIVED = datetime(2026, 11, 25, 12, tzinfo=UTC)


def _request() -> dict[str, object]:
    sealed = submission.seal_submission(hpke.public_key(bytes(32)), followup.followup_manifest("x"))
    unsigned = followup.followup_request(sealed, parent="ab" * 32, attachments=["cd" * 32])
    return followup.sign_followup(KEYS, {**unsigned, "pow": {"challenge": "AA", "nonce": "AA"}})


def test_the_signature_covers_jcs_of_the_request_without_it_pow_included() -> None:
    request = _request()
    unsigned = {k: v for k, v in request.items() if k != "signature"}
    KEYS.signing_key.public_key().verify(
        b64u_decode(str(request["signature"])), canonical.dumps(unsigned)
    )
    followup.verify_followup(KEYS.witness, request)
    with pytest.raises(SignatureError):
        followup.verify_followup(OTHER.witness, request)
    with pytest.raises(SignatureError):
        followup.verify_followup(
            KEYS.witness, {**request, "pow": {"challenge": "AB", "nonce": "AA"}}
        )


def test_the_entry_names_parent_ciphertexts_witness_and_signature() -> None:
    request = _request()
    entry = json.loads(followup.followup_entry(request, witness=KEYS.witness, received=RECEIVED))
    assert entry == {
        "type": "followup", "v": 1, "parent": "ab" * 32, "intake_key": request["intake_key"],
        "header": entry["header"], "body": entry["body"], "attachments": ["cd" * 32],
        "witness": KEYS.witness_b64u, "signature": request["signature"],
        "received": "2026-11-25T12:00:00Z",
    }  # fmt: skip
    for bad in ({"parent": "AB" * 32}, {"signature": "AAAA"}, {"witness": "x"}):
        with pytest.raises(MalformedInput):
            followup.followup_entry({**request, **bad}, witness=KEYS.witness, received=RECEIVED)


def test_a_reply_opens_only_with_its_witness_box() -> None:
    sealed = followup.seal_reply(KEYS.witness_box, {"v": 1, "text": "когда?"})
    assert followup.open_reply(KEYS.box_seed, sealed) == {"v": 1, "text": "когда?"}
    with pytest.raises(HPKEOpenError):
        followup.open_reply(OTHER.box_seed, sealed)
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    with pytest.raises(HPKEOpenError):
        followup.open_reply(KEYS.box_seed, bytes(flipped))
    entry = json.loads(followup.reply_entry("ab" * 32, sealed, RECEIVED))
    assert entry["type"] == "reply" and len(entry["sealed"]) == 64


def test_the_replies_request_signs_exactly_challenge_and_witness() -> None:
    signed = followup.replies_request(KEYS, "Y2hhbGxlbmdl")
    message = canonical.dumps({"challenge": "Y2hhbGxlbmdl", "witness": KEYS.witness_b64u})
    KEYS.signing_key.public_key().verify(b64u_decode(signed["signature"]), message)
    assert followup.verify_replies_request(signed) == KEYS.witness
    with pytest.raises(SignatureError):
        followup.verify_replies_request({**signed, "witness": OTHER.witness_b64u})
    with pytest.raises(MalformedInput):
        followup.verify_replies_request({**signed, "extra": 1})
    with pytest.raises(MalformedInput):
        followup.verify_replies_request({**signed, "witness": b64u_encode(b"short")})
