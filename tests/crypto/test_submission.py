"""A whole submission against the protocol's own vector (docs/protocol.md §3, §9)."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime

import pytest

from testimony.crypto import canonical, hpke, padding, receipt, stream, submission
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.errors import CryptoError, HPKEOpenError, MalformedInput, StreamError
from testimony.crypto.rfc3339 import parse_time
from tests.vectors.loader import load_json

V = load_json("testimony/submission.json")
SEED = bytes.fromhex(V["intake_seed"])
REQUEST = V["request"]
HEADER, BODY = b64u_decode(REQUEST["header"]), b64u_decode(REQUEST["body"])


def test_intake_key_matches() -> None:
    public = hpke.public_key(SEED)
    assert hashlib.sha256(public).hexdigest() == V["intake_public_sha256"]
    assert hpke.key_id(public) == REQUEST["intake_key"]


def test_header_and_body_open_to_the_manifest() -> None:
    opened = submission.open_submission(SEED, HEADER, BODY)
    assert b64u_encode(opened.cek) == V["cek"]
    assert canonical.dumps(opened.manifest) == b64u_decode(V["manifest_jcs"])
    # The body's plaintext is padded to the Padmé length of the manifest.
    plaintext = stream.decrypt(opened.cek, BODY)
    assert len(plaintext) == padding.padme(len(b64u_decode(V["manifest_jcs"])))


def test_manifest_names_the_form_by_hash() -> None:
    manifest = submission.open_submission(SEED, HEADER, BODY).manifest
    assert manifest["form"]["sha256"] == V["form_sha256"]
    assert hashlib.sha256(canonical.dumps(V["form"])).hexdigest() == V["form_sha256"]


def test_every_attachment_opens_to_its_file() -> None:
    manifest = submission.open_submission(SEED, HEADER, BODY).manifest
    files = {f["name"]: f for f in V["files"]}
    assert len(manifest["attachments"]) == len(V["blobs"]) == 2
    for descriptor in manifest["attachments"]:
        ciphertext = b64u_decode(V["blobs"][descriptor["blob"]])
        assert hashlib.sha256(ciphertext).hexdigest() == descriptor["blob"]
        data = submission.open_attachment(descriptor, ciphertext)
        expected = files[descriptor["name"]]
        assert data == b64u_decode(expected["content"])
        assert (
            len(data) == expected["size"] and hashlib.sha256(data).hexdigest() == expected["sha256"]
        )


def test_entry_and_id_are_reproduced() -> None:
    entry = submission.submission_entry(REQUEST, parse_time(V["received"]))
    assert entry == b64u_decode(V["entry"])
    assert submission.entry_id(entry) == V["id"]


def test_witness_keys_come_from_the_receipt_code() -> None:
    keys = receipt.derive(V["receipt_code"])
    assert keys.witness_b64u == REQUEST["witness"]
    assert keys.witness_box_b64u == REQUEST["witness_box"]


def test_body_blob_request_logs_the_same_body_hash() -> None:
    request = {k: v for k, v in REQUEST.items() if k != "body"}
    request["body_blob"] = hashlib.sha256(BODY).hexdigest()
    entry = submission.submission_entry(request, parse_time(V["received"]))
    assert entry == b64u_decode(V["entry"])


def test_attachment_order_does_not_change_the_entry() -> None:
    request = dict(REQUEST, attachments=list(reversed(REQUEST["attachments"])))
    assert submission.submission_entry(request, parse_time(V["received"])) == b64u_decode(
        V["entry"]
    )


def _without(key: str) -> dict:
    return {k: v for k, v in REQUEST.items() if k != key}


@pytest.mark.parametrize(
    "request_",
    [
        dict(REQUEST, header=REQUEST["header"][:-4]),
        dict(REQUEST, intake_key="zz" * 16),
        dict(REQUEST, intake_key=REQUEST["intake_key"][:-2]),
        dict(REQUEST, body_blob="00" * 32),
        _without("body"),
        dict(REQUEST, attachments=["00" * 31]),
        dict(REQUEST, attachments=[REQUEST["attachments"][0]] * 2),
        dict(REQUEST, attachments="not a list"),
        dict(REQUEST, witness=None),
        dict(REQUEST, witness_box=REQUEST["witness_box"][:-8]),
        dict(REQUEST, witness=REQUEST["witness"][:-2]),
        dict(REQUEST, header=REQUEST["header"] + "="),
    ],
)
def test_structurally_bad_requests_are_refused(request_: dict) -> None:
    with pytest.raises(MalformedInput):
        submission.submission_entry(request_, parse_time(V["received"]))


def test_received_must_be_whole_seconds() -> None:
    with pytest.raises(MalformedInput):
        submission.submission_entry(REQUEST, datetime(2026, 11, 25, 12, 0, 0, 5, tzinfo=UTC))


def test_seal_and_open_round_trip_with_witness_keys() -> None:
    keys = receipt.derive("0000-0000-0000-0000-0000")
    photo = submission.seal_attachment(
        bytes(range(256)) * 300, name="a.jpg", media_type="image/jpeg"
    )
    manifest = copy.deepcopy(submission.open_submission(SEED, HEADER, BODY).manifest)
    manifest["attachments"] = [photo.descriptor]
    sealed = submission.seal_submission(hpke.public_key(SEED), manifest)
    request = sealed.request(attachments=[photo.blob], witness=keys)
    assert len(b64u_decode(request["header"])) == submission.HEADER_LENGTH
    entry = submission.submission_entry(request, parse_time(V["received"]))
    assert photo.blob in entry.decode()
    opened = submission.open_submission(SEED, sealed.header, sealed.body)
    assert opened.manifest == manifest
    assert submission.open_attachment(opened.manifest["attachments"][0], photo.ciphertext) == (
        bytes(range(256)) * 300
    )


def test_wrong_intake_key_or_altered_body_or_blob_fail() -> None:
    with pytest.raises(HPKEOpenError):
        submission.open_submission(b"\x01" * 32, HEADER, BODY)
    altered = bytearray(BODY)
    altered[10] ^= 0x80
    with pytest.raises(StreamError):
        submission.open_submission(SEED, HEADER, bytes(altered))
    manifest = submission.open_submission(SEED, HEADER, BODY).manifest
    descriptor = manifest["attachments"][0]
    with pytest.raises(CryptoError):
        submission.open_attachment(
            dict(descriptor, sha256="00" * 32), b64u_decode(V["blobs"][descriptor["blob"]])
        )
