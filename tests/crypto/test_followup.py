"""crypto/followup.py: follow-up signatures and entries, replies sealed to the
witness box, and the replies request (docs/protocol.md §7, §9)."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime

import pytest

from testimony.crypto import canonical, followup, hpke, receipt, signing, submission
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.entries import FollowupEntry, SignedReplyEntry
from testimony.crypto.errors import HPKEOpenError, MalformedInput, SignatureError

KEYS = receipt.derive("1234-5678-9012-3456-7890")
OTHER = receipt.derive("0000-0000-0000-0000-0001")
RECEIVED = datetime(2026, 11, 25, 12, tzinfo=UTC)
# Two attachments, named in the request out of sorted order.
BLOBS = ["cd" * 32, "0f" * 32]


def _request(**pow_member: object) -> dict[str, object]:
    sealed = submission.seal_submission(hpke.public_key(bytes(32)), followup.followup_manifest("x"))
    unsigned = followup.followup_request(sealed, parent="ab" * 32, attachments=BLOBS)
    pow_ = pow_member or {"challenge": "AA", "nonce": "AA"}
    return followup.sign_followup(KEYS, {**unsigned, "pow": pow_})


def _spec_bytes(request: dict[str, object]) -> bytes:
    """The signed bytes of §7 (v1.1), written out by hand from the text:
    JCS({"type": "followup", "v": 1, "parent", "intake_key", "header": hex
    H(header), "body": hex H(body), "attachments": sorted}); JCS orders the
    members by name and leaves no white space."""
    header = hashlib.sha256(b64u_decode(str(request["header"]))).hexdigest()
    if "body" in request:
        body = hashlib.sha256(b64u_decode(str(request["body"]))).hexdigest()
    else:
        body = str(request["body_blob"])
    blobs = request["attachments"]
    assert isinstance(blobs, list)
    attachments = ",".join(f'"{blob}"' for blob in sorted(blobs))
    return (
        f'{{"attachments":[{attachments}],"body":"{body}","header":"{header}",'
        f'"intake_key":"{request["intake_key"]}","parent":"{request["parent"]}",'
        f'"type":"followup","v":1}}'
    ).encode("ascii")


def test_the_signature_is_over_the_v1_1_object_built_by_hand_from_the_spec() -> None:
    # /work/shared/vectors/testimony/ has no follow-up signature vector (v1.1),
    # so the bytes are built here from the text of §7 alone.
    request = _request()
    message = _spec_bytes(request)
    assert followup.signed_bytes(request) == message
    KEYS.signing_key.public_key().verify(b64u_decode(str(request["signature"])), message)
    # Ed25519 is deterministic (RFC 8032): the signature is exactly the one of those bytes.
    assert b64u_decode(str(request["signature"])) == KEYS.signing_key.sign(message)
    followup.verify_followup(KEYS.witness, request)
    with pytest.raises(SignatureError):
        followup.verify_followup(OTHER.witness, request)


def test_the_v1_request_signature_no_longer_verifies() -> None:
    request = _request()
    unsigned = {k: v for k, v in request.items() if k != "signature"}
    v1 = b64u_encode(KEYS.signing_key.sign(canonical.dumps(unsigned)))
    with pytest.raises(SignatureError):
        followup.verify_followup(KEYS.witness, {**request, "signature": v1})


def test_pow_and_the_order_of_attachments_are_not_signed() -> None:
    request = _request()
    # Another proof of work: the same signature, and it still verifies.
    again = _request(challenge="AB", nonce="AQ")
    assert again["pow"] != request["pow"]
    followup.verify_followup(KEYS.witness, {**request, "pow": again["pow"]})
    resigned = followup.sign_followup(KEYS, {**request, "pow": again["pow"]})
    assert resigned["signature"] == request["signature"]
    without_pow = {k: v for k, v in request.items() if k != "pow"}
    assert followup.sign_followup(KEYS, without_pow)["signature"] == request["signature"]
    reordered = {**request, "attachments": sorted(BLOBS)}
    followup.verify_followup(KEYS.witness, reordered)
    # What is signed, though, is bound: parent, intake key, header, body, attachments.
    for altered in (
        {"parent": "ac" * 32},
        {"intake_key": "00" * 16},
        {"attachments": BLOBS[:1]},
        {"body": b64u_encode(b"other body")},
    ):
        with pytest.raises(SignatureError):
            followup.verify_followup(KEYS.witness, {**request, **altered})


def test_a_body_blob_is_signed_by_its_id() -> None:
    request = _request()
    body = b64u_decode(str(request.pop("body")))
    request["body_blob"] = hashlib.sha256(body).hexdigest()
    signed = followup.sign_followup(KEYS, request)
    assert followup.signed_bytes(signed) == _spec_bytes(signed)
    # The same bytes as the same body sent inline: the entry cannot tell them apart.
    inline = {k: v for k, v in signed.items() if k != "body_blob"}
    inline["body"] = b64u_encode(body)
    assert followup.signed_bytes(inline) == followup.signed_bytes(signed)
    followup.verify_followup(KEYS.witness, inline)


def test_a_missing_or_garbled_signature_or_malformed_members_are_refused() -> None:
    request = _request()
    for bad in ({"signature": None}, {"signature": "!!"}, {"signature": "AAAA"}):
        with pytest.raises(SignatureError):
            followup.verify_followup(KEYS.witness, {**request, **bad})
    with pytest.raises(MalformedInput):
        followup.verify_followup(KEYS.witness, {**request, "parent": "AB" * 32})
    with pytest.raises(MalformedInput):
        followup.signed_bytes({**request, "header": "AAAA"})


def test_a_logged_entry_s_signature_verifies_from_the_entry_alone() -> None:
    request = _request()
    entry = followup.followup_entry(request, witness=KEYS.witness, received=RECEIVED)
    # Only the entry's bytes: its `witness` and `signature` members, over its other members.
    followup.verify_followup_entry(entry)
    parsed = FollowupEntry.parse(entry)
    followup.verify_followup_entry(parsed)
    assert followup.entry_signed_bytes(parsed) == _spec_bytes(request)
    # An entry that names another witness, or other content, does not verify.
    logged = json.loads(entry)
    for altered in (
        {"witness": OTHER.witness_b64u},
        {"attachments": sorted(BLOBS)[:1]},
        {"header": "00" * 32},
        {"parent": "ac" * 32},
    ):
        with pytest.raises(SignatureError):
            followup.verify_followup_entry(canonical.dumps({**logged, **altered}))
    with pytest.raises(MalformedInput):
        followup.verify_followup_entry(b'{"type":"reply"}')


def test_the_entry_names_parent_ciphertexts_witness_and_signature() -> None:
    request = _request()
    entry = json.loads(followup.followup_entry(request, witness=KEYS.witness, received=RECEIVED))
    assert entry == {
        "type": "followup", "v": 1, "parent": "ab" * 32, "intake_key": request["intake_key"],
        "header": entry["header"], "body": entry["body"], "attachments": sorted(BLOBS),
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
    # The reply entry a reviewer signs names the sealed bytes by their hash.
    reviewer = signing.private_key_from_seed(bytes(range(32)))
    entry = SignedReplyEntry.create(
        reviewer, nonce=os.urandom(16), parent="ab" * 32, sealed=hashlib.sha256(sealed).hexdigest()
    )
    logged = json.loads(entry.with_received(RECEIVED).to_json())
    assert logged["type"] == "reply" and len(logged["sealed"]) == 64
    assert entry.kept_blobs() == (hashlib.sha256(sealed).hexdigest(),)
    entry.verify_signature(signing.public_key_bytes(reviewer))


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
