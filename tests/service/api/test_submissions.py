"""POST /api/v1/submissions (docs/protocol.md §3 step 6, §9, §10), over the real store."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest

from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.pow import solve
from testimony.service.api.app import create_app
from testimony.service.domain.clock import FixedClock
from testimony.service.settings import Settings
from tests.service.api.witness_client import WitnessClient
from tests.service.intake_support import TestClient, assert_problem, log_size, upload_vector_blobs


def witness(client: TestClient) -> WitnessClient:
    key = client.get("/api/v1/log/key").text.strip()
    return WitnessClient(client, log_key=key, origin="test.invalid/log")


def test_the_vector_is_logged_exactly_under_its_id(
    client: TestClient, vector: dict[str, Any]
) -> None:
    upload_vector_blobs(client)
    answer = client.post("/api/v1/submissions", json=vector["request"])
    assert answer.status_code == 201, answer.text
    receipt = answer.json()
    # The clock stands at 12:34:56; `received` is floored to 12:00:00, the vector's.
    assert receipt["entry"] == vector["entry"]
    assert receipt["id"] == vector["id"]
    assert receipt["index"] == 1  # entry 0 names the intake key
    assert client.app.state.server.log.entry(1) == b64u_decode(vector["entry"])
    witness(client).verify(receipt)


def test_a_witness_client_seals_uploads_submits_and_verifies(
    client: TestClient, intake_public: bytes
) -> None:
    me = witness(client)
    first_checkpoint = client.get("/api/v1/log/checkpoint").text
    sealed = me.seal(intake_public, {"a.jpg": b"\xff\xd8" * 50_000, "b.txt": b"hi"}, {"q": "x"})
    receipt = me.submit(sealed)
    assert receipt["inclusion"]["size"] == receipt["index"] + 1
    me.check_consistency(first_checkpoint, client.get("/api/v1/log/checkpoint").text)


def test_a_repeat_appends_nothing_and_answers_the_same_receipt(
    client: TestClient, vector: dict[str, Any], clock: FixedClock
) -> None:
    upload_vector_blobs(client)
    first = client.post("/api/v1/submissions", json=vector["request"])
    size = log_size(client)
    again = client.post("/api/v1/submissions", json=vector["request"])
    assert again.status_code == 201
    assert again.content == first.content
    # Another submission moves the log on; a repeat hours later still answers
    # the first receipt, proved at the first checkpoint.
    other = witness(client).seal(hpke_public(vector), {}, {"q": "another"})
    witness(client).submit(other)
    clock.advance(timedelta(hours=5))
    later = client.post("/api/v1/submissions", json=vector["request"])
    assert later.status_code == 201
    assert later.content == first.content
    assert log_size(client) == size + 1


def hpke_public(vector: dict[str, Any]) -> bytes:
    from testimony.crypto import hpke

    return hpke.public_key(bytes.fromhex(vector["intake_seed"]))


def test_the_same_ciphertext_with_other_attachments_is_a_conflict(
    client: TestClient, vector: dict[str, Any]
) -> None:
    upload_vector_blobs(client)
    assert client.post("/api/v1/submissions", json=vector["request"]).status_code == 201
    size = log_size(client)
    changed = dict(vector["request"], attachments=vector["request"]["attachments"][:1])
    assert_problem(client.post("/api/v1/submissions", json=changed), 409, "submission-conflict")
    assert log_size(client) == size


def test_a_body_sent_as_a_blob_is_accepted(client: TestClient, intake_public: bytes) -> None:
    me = witness(client)
    sealed = me.seal(intake_public, {}, {"q": "long"})
    body_blob = me.upload(sealed.body)
    request = {k: v for k, v in sealed.request.items() if k != "body"}
    request["body_blob"] = body_blob
    answer = client.post("/api/v1/submissions", json=request)
    assert answer.status_code == 201, answer.text
    me.verify(answer.json(), sealed)


def test_header_and_inline_body_are_kept_as_blobs(
    client: TestClient, vector: dict[str, Any]
) -> None:
    upload_vector_blobs(client)
    client.post("/api/v1/submissions", json=vector["request"])
    blobs = client.app.state.server.blobs
    header = b64u_decode(vector["request"]["header"])
    body = b64u_decode(vector["request"]["body"])
    for data in (header, body):
        blob_id = hashlib.sha256(data).hexdigest()
        assert b"".join(blobs.read(blob_id)) == data


# --- proof of work on ------------------------------------------------------------------


@pytest.fixture
def pow_client(initialised: Settings) -> Any:
    with TestClient(create_app(initialised.replace(pow_bits=8))) as test_client:
        yield test_client


def _challenge(client: TestClient) -> dict[str, Any]:
    challenge = client.get("/api/v1/pow").json()
    assert challenge["bits"] == 8
    return dict(challenge)


def _failing_nonce(challenge: str, bits: int) -> str:
    raw = b64u_decode(challenge)
    for counter in range(1000):
        nonce = counter.to_bytes(4, "big")
        digest = hashlib.sha256(raw + nonce).digest()
        if int.from_bytes(digest, "big") >> (256 - bits) != 0:
            return b64u_encode(nonce)
    raise AssertionError("no failing nonce found")


def test_proof_of_work_is_required_checked_and_spent_once(
    pow_client: TestClient, vector: dict[str, Any], intake_public: bytes, clock: FixedClock
) -> None:
    client = pow_client
    upload_vector_blobs(client)
    size = log_size(client)
    assert_problem(client.post("/api/v1/submissions", json=vector["request"]), 403, "pow-required")

    challenge = _challenge(client)
    weak = {"challenge": challenge["challenge"], "nonce": _failing_nonce(challenge["challenge"], 8)}
    answer = client.post("/api/v1/submissions", json={**vector["request"], "pow": weak})
    assert_problem(answer, 403, "pow-insufficient")

    forged_raw = bytearray(b64u_decode(challenge["challenge"]))
    forged_raw[1] = 0  # ask for 0 bits: the MAC no longer matches
    forged = b64u_encode(bytes(forged_raw))
    answer = client.post(
        "/api/v1/submissions",
        json={**vector["request"], "pow": {"challenge": forged, "nonce": "AA"}},
    )
    assert_problem(answer, 403, "pow-invalid")
    assert log_size(client) == size

    good = {"challenge": challenge["challenge"], "nonce": solve(challenge["challenge"], 8)}
    assert (
        client.post("/api/v1/submissions", json={**vector["request"], "pow": good}).status_code
        == 201
    )
    assert log_size(client) == size + 1

    # The same challenge for another submission: spent.
    other = WitnessClient.seal(intake_public, {}, {"q": "other"})
    answer = client.post("/api/v1/submissions", json={**other.request, "pow": good})
    assert_problem(answer, 403, "pow-reused")

    # An expired challenge.
    late = _challenge(client)
    clock.advance(timedelta(hours=1))
    answer = client.post(
        "/api/v1/submissions",
        json={
            **other.request,
            "pow": {"challenge": late["challenge"], "nonce": solve(late["challenge"], 8)},
        },
    )
    assert_problem(answer, 403, "pow-expired")
    assert log_size(client) == size + 1
