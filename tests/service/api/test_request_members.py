"""The `witness` and `pow` members are what they claim (issue 12, item 8).

`witness` must be an Ed25519 public key: 32 bytes that decode to a point of
the curve, canonically, not of small order (``crypto/ed25519.py``); else
``422 malformed-submission``, like any other malformed member. `pow`, when
present and not null, is exactly ``{"challenge", "nonce"}`` of b64u strings,
whether or not the server asks for work; else ``403 pow-invalid`` (the status
of that code in docs/protocol.md §0 and §8). Nothing is appended.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from testimony.crypto import followup, receipt
from testimony.crypto.encoding import b64u_encode
from testimony.crypto.pow import solve
from testimony.service.api.app import create_app
from testimony.service.settings import Settings
from tests.service.api.test_followups import followup_request, submit
from tests.service.intake_support import (
    TestClient,
    assert_problem,
    log_size,
    upload_vector_blobs,
)

P = 2**255 - 19
ALICE = receipt.derive("1111-2222-3333-4444-5555")


@pytest.fixture
def database_url() -> None:
    """SQLite in the data dir."""
    return None


@pytest.fixture
def work_client(initialised: Settings) -> Iterator[TestClient]:
    """A client of a server that asks for 4 bits of work."""
    with TestClient(create_app(initialised.replace(pow_bits=4))) as test_client:
        yield test_client


def _solved(client: TestClient) -> dict[str, str]:
    offer = client.get("/api/v1/pow").json()
    return {"challenge": offer["challenge"], "nonce": solve(offer["challenge"], offer["bits"])}


BAD_WITNESSES = {
    "identity": (1).to_bytes(32, "little"),
    "order 8": bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    "y = p, non-canonical": P.to_bytes(32, "little"),
    "x = 0 with sign bit": bytes.fromhex("01" + "00" * 30 + "80"),
    "not a point": (2).to_bytes(32, "little"),
}


@pytest.mark.parametrize("witness", BAD_WITNESSES.values(), ids=BAD_WITNESSES.keys())
def test_a_witness_key_that_is_no_ed25519_key_is_refused(
    client: TestClient, vector: dict[str, Any], witness: bytes
) -> None:
    upload_vector_blobs(client)
    size = log_size(client)
    request = dict(vector["request"], witness=b64u_encode(witness))
    answer = client.post("/api/v1/submissions", json=request)
    assert_problem(answer, 422, "malformed-submission")
    assert "witness" in answer.json()["detail"]
    assert log_size(client) == size


def test_the_vector_s_witness_key_is_accepted(client: TestClient, vector: dict[str, Any]) -> None:
    upload_vector_blobs(client)
    assert vector["request"]["witness"] is not None
    assert client.post("/api/v1/submissions", json=vector["request"]).status_code == 201


BAD_POW: dict[str, Any] = {
    "extra member": {"extra": "x"},
    "no nonce": {"nonce": None},
    "nonce not b64u": {"nonce": "a="},
    "challenge not a string": {"challenge": 7},
    "nonce of 65 bytes": {"nonce": b64u_encode(bytes(65))},
    "a list": ["challenge", "nonce"],
}


def _with_pow(request: dict[str, Any], proof: dict[str, str], change: Any) -> dict[str, Any]:
    request = copy.deepcopy(request)
    if isinstance(change, dict):
        changed: Any = {**proof, **change}
        changed = {k: v for k, v in changed.items() if v is not None}
    else:
        changed = change
    request["pow"] = changed
    return request


@pytest.mark.parametrize("change", BAD_POW.values(), ids=BAD_POW.keys())
def test_a_malformed_pow_is_refused_when_no_work_is_asked_for(
    client: TestClient, vector: dict[str, Any], change: Any
) -> None:
    upload_vector_blobs(client)
    size = log_size(client)
    proof = {"challenge": b64u_encode(bytes(42)), "nonce": b64u_encode(bytes(8))}
    answer = client.post("/api/v1/submissions", json=_with_pow(vector["request"], proof, change))
    assert_problem(answer, 403, "pow-invalid")
    assert log_size(client) == size


@pytest.mark.parametrize("change", BAD_POW.values(), ids=BAD_POW.keys())
def test_a_solved_pow_with_anything_more_or_less_is_refused(
    work_client: TestClient, vector: dict[str, Any], change: Any
) -> None:
    upload_vector_blobs(work_client)
    size = log_size(work_client)
    request = _with_pow(vector["request"], _solved(work_client), change)
    assert_problem(work_client.post("/api/v1/submissions", json=request), 403, "pow-invalid")
    assert log_size(work_client) == size


def test_a_well_formed_pow_is_accepted_and_null_means_none(
    client: TestClient, work_client: TestClient, vector: dict[str, Any]
) -> None:
    upload_vector_blobs(client)
    # No work asked for: a well-formed pow is not verified; null is no pow.
    proof = {"challenge": b64u_encode(bytes(42)), "nonce": ""}
    assert (
        client.post("/api/v1/submissions", json=dict(vector["request"], pow=proof)).status_code
        == 201
    )
    assert (
        client.post("/api/v1/submissions", json=dict(vector["request"], pow=None)).status_code
        == 201
    )
    upload_vector_blobs(work_client)
    request = dict(vector["request"], pow=_solved(work_client))
    assert work_client.post("/api/v1/submissions", json=request).status_code == 201


def test_a_repeat_with_a_malformed_pow_is_refused(
    client: TestClient, vector: dict[str, Any]
) -> None:
    # The shape of `pow` is checked with the other members, before a repeat is
    # recognised (only its verification waits: the first request spent it).
    upload_vector_blobs(client)
    assert client.post("/api/v1/submissions", json=vector["request"]).status_code == 201
    size = log_size(client)
    again = dict(vector["request"], pow={})
    assert_problem(client.post("/api/v1/submissions", json=again), 403, "pow-invalid")
    assert log_size(client) == size


def test_a_followup_s_pow_is_checked_the_same_way(client: TestClient, intake_public: bytes) -> None:
    parent = submit(client, intake_public, ALICE)
    request = followup_request(client, intake_public, parent, ALICE)
    unsigned = {k: v for k, v in request.items() if k != "signature"}
    proof = {"challenge": b64u_encode(bytes(42)), "nonce": "AA", "extra": "x"}
    signed = followup.sign_followup(ALICE, {**unsigned, "pow": proof})
    size = log_size(client)
    assert_problem(client.post("/api/v1/followups", json=signed), 403, "pow-invalid")
    assert log_size(client) == size
