"""Bad submissions get a 4xx problem document with a stable code and append
nothing (docs/protocol.md §3; issue 4). SQLite only: the rules are the domain's."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from testimony.crypto.encoding import b64u_decode, b64u_encode
from tests.service.intake_support import (
    TUS,
    TestClient,
    assert_problem,
    log_size,
    tus_upload,
    upload_vector_blobs,
)


@pytest.fixture
def database_url() -> None:
    """SQLite in the data dir."""
    return None


# --- bad input: a problem document, and nothing appended --------------------------------


def _mutate(request: dict[str, Any], change: str) -> dict[str, Any] | list[Any]:
    r = copy.deepcopy(request)
    if change == "short header":
        r["header"] = b64u_encode(b64u_decode(r["header"])[:-1])
    elif change == "header not b64u":
        r["header"] = r["header"] + "="
    elif change == "unknown key":
        r["intake_key"] = "00" * 16
    elif change == "short key id":
        r["intake_key"] = r["intake_key"][:-2]
    elif change == "unknown blob":
        r["attachments"] = [*r["attachments"], "ab" * 32]
    elif change == "blob id not hex":
        r["attachments"] = ["XY" * 32]
    elif change == "body and body_blob":
        r["body_blob"] = "ab" * 32
    elif change == "neither body":
        del r["body"]
    elif change == "witness alone":
        r["witness_box"] = None
    elif change == "short witness":
        r["witness"] = b64u_encode(b64u_decode(r["witness"])[:31])
    elif change == "unknown member":
        r["extra"] = 1
    elif change == "attachments not a list":
        r["attachments"] = "ab" * 32
    elif change == "a list":
        return [r]
    return r


BAD_REQUESTS = [
    ("short header", 422, "malformed-submission"),
    ("header not b64u", 422, "malformed-submission"),
    ("unknown key", 422, "unknown-intake-key"),
    ("short key id", 422, "malformed-submission"),
    ("unknown blob", 422, "unknown-blob"),
    ("blob id not hex", 422, "malformed-submission"),
    ("body and body_blob", 422, "malformed-submission"),
    ("neither body", 422, "malformed-submission"),
    ("witness alone", 422, "malformed-submission"),
    ("short witness", 422, "malformed-submission"),
    ("unknown member", 422, "malformed-submission"),
    ("attachments not a list", 422, "malformed-submission"),
    ("a list", 422, "malformed-submission"),
]


@pytest.mark.parametrize(
    ("change", "status", "code"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
def test_a_bad_request_is_refused_and_appends_nothing(
    client: TestClient, vector: dict[str, Any], change: str, status: int, code: str
) -> None:
    upload_vector_blobs(client)
    size = log_size(client)
    answer = client.post("/api/v1/submissions", json=_mutate(vector["request"], change))
    assert_problem(answer, status, code)
    assert log_size(client) == size


def test_an_incomplete_blob_is_refused(client: TestClient, vector: dict[str, Any]) -> None:
    blobs = {k: b64u_decode(v) for k, v in vector["blobs"].items()}
    big_id, big = max(blobs.items(), key=lambda item: len(item[1]))
    for blob_id, data in blobs.items():
        if blob_id != big_id:
            tus_upload(client, data)
    created = client.post(
        "/api/v1/uploads/",
        headers={
            **TUS,
            "Upload-Length": str(len(big)),
            "Upload-Metadata": "sha256 " + base64.b64encode(big_id.encode()).decode(),
        },
    )
    client.patch(
        created.headers["location"],
        content=big[:1000],
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    size = log_size(client)
    answer = client.post("/api/v1/submissions", json=vector["request"])
    assert_problem(answer, 409, "incomplete-blob")
    assert big_id in answer.json()["detail"]
    assert log_size(client) == size


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b'{"intake_key": ', "application/json", 400, "malformed-json"),
        (b'{"a": 1, "a": 2}', "application/json", 400, "malformed-json"),
        (b'{"a": NaN}', "application/json", 400, "malformed-json"),
        (b"\xff\xfe", "application/json", 400, "malformed-json"),
        (b"{}", "text/plain", 415, "unsupported-media-type"),
        (b"{}", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
    ],
    ids=["truncated", "duplicate member", "NaN", "not UTF-8", "text/plain", "form"],
)
def test_malformed_json_or_media_type_is_refused(
    client: TestClient, body: bytes, content_type: str, status: int, code: str
) -> None:
    size = log_size(client)
    answer = client.post(
        "/api/v1/submissions", content=body, headers={"Content-Type": content_type}
    )
    assert_problem(answer, status, code)
    assert log_size(client) == size


def test_no_content_type_is_refused(client: TestClient) -> None:
    answer = client.post("/api/v1/submissions", content=b"{}")
    assert_problem(answer, 415, "unsupported-media-type")


def test_an_oversize_request_is_refused(client: TestClient, vector: dict[str, Any]) -> None:
    size = log_size(client)
    limit = client.app.state.server.settings.max_request_bytes
    padded = dict(vector["request"], body="A" * (limit + 10))
    answer = client.post("/api/v1/submissions", json=padded)
    assert_problem(answer, 413, "request-too-large")
    assert log_size(client) == size


def test_an_inline_body_over_1_mib_is_refused(client: TestClient, vector: dict[str, Any]) -> None:
    size = log_size(client)
    request = dict(vector["request"], body=b64u_encode(bytes((1 << 20) + 1)))
    answer = client.post("/api/v1/submissions", json=request)
    assert_problem(answer, 413, "body-too-large")
    assert log_size(client) == size


def test_too_many_attachments_are_refused(client: TestClient, vector: dict[str, Any]) -> None:
    limit = client.app.state.server.settings.max_attachments
    request = dict(vector["request"], attachments=[f"{i:064x}" for i in range(limit + 1)])
    assert_problem(client.post("/api/v1/submissions", json=request), 413, "request-too-large")
