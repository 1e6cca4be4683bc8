"""The served ``/api/v1/openapi.json`` is the truth about the server (issue 12, item 8).

Every operation declares its request body, its parameters (the tus headers it
requires among them) and every status it answers, each error status as an
``application/problem+json`` document limited to the codes it carries; none
declares FastAPI's ``422 Validation Error``, which is never served. Real
answers are checked against the document here, a route at a time; the
schemathesis suite (``test_schemathesis.py``) does it with generated input.
A 405 names every method of its path in ``Allow``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from testimony.crypto import receipt
from testimony.crypto.encoding import b64u_encode
from testimony.service.api.errors import STATUS
from testimony.service.api.openapi import BLOB_ID_BASE64, UPLOAD_METADATA
from tests.service.api.test_followups import followup_request, submit
from tests.service.intake_support import TUS, TestClient, upload_vector_blobs

PROBLEM = "application/problem+json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture
def database_url() -> None:
    """SQLite in the data dir."""
    return None


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    return dict(answer.json())


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _operation_of(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    for template, item in document["paths"].items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path) and method.lower() in item:
            return dict(item[method.lower()])
    raise AssertionError(f"{method} {path} is not in the document")


# --- errors -----------------------------------------------------------------------------


def test_every_error_answer_is_declared_as_a_problem_document(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            where = f"{method.upper()} {path} {status}"
            assert set(response["content"]) == {PROBLEM}, where
            schema = response["content"][PROBLEM]["schema"]
            assert schema["allOf"][0] == {"$ref": "#/components/schemas/Problem"}, where
            limits = schema["allOf"][1]["properties"]
            assert limits["status"] == {"const": int(status)}, where
            for code in limits["code"]["enum"]:
                assert STATUS[code] == int(status), (where, code)
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "code", "detail"}
    assert problem["additionalProperties"] is False


def test_no_operation_declares_the_framework_s_validation_error(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    assert "HTTPValidationError" not in text and "ValidationError" not in text
    declaring_422 = {
        f"{method.upper()} {path}"
        for path, method, operation in _operations(document)
        if "422" in operation["responses"]
    }
    assert declaring_422 == {
        "POST /api/v1/submissions",
        "POST /api/v1/followups",
        "POST /api/v1/replies",
        "POST /api/v1/uploads/",
        "PATCH /api/v1/uploads/{upload_id}",
        "POST /api/v1/entries",
        "POST /api/v1/ciphertext",
    }


def _upload(client: TestClient, data: bytes = b"x") -> str:
    metadata = base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode()
    created = client.post(
        "/api/v1/uploads/",
        headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": f"sha256 {metadata}"},
    )
    assert created.status_code == 201, created.text
    return str(created.headers["location"])


JSON = {"Content-Type": "application/json"}
UNKNOWN_UPLOAD = "/api/v1/uploads/" + "a" * 20

# (method, path, request keywords, status, code): real answers, every status of
# every route that a request can provoke without the server being broken.
ANSWERS: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("GET", "/api/v1/forms/nosuchform", {}, 404, "form-not-found"),
    ("GET", "/api/v1/forms/nosuchform/x", {}, 400, "invalid-request"),
    ("GET", "/api/v1/forms/nosuchform/1", {}, 404, "form-not-found"),
    ("GET", "/api/v1/pow?length=x", {}, 400, "invalid-request"),
    ("GET", "/api/v1/pow?length=99999999999999", {}, 413, "blob-too-large"),
    ("GET", "/api/v1/log/entries?start=0&end=5", {}, 400, "bad-tree-range"),
    ("GET", "/api/v1/log/entries?start=a&end=1", {}, 400, "invalid-request"),
    ("GET", "/api/v1/log/entries?start=0", {}, 400, "invalid-request"),
    ("GET", "/api/v1/log/proof/consistency?from=0&to=1", {}, 400, "bad-tree-range"),
    ("GET", f"/api/v1/log/proof/inclusion?id={'ab' * 32}&size=1", {}, 404, "entry-not-found"),
    ("GET", "/api/v1/log/proof/inclusion?id=zz&size=1", {}, 400, "bad-tree-range"),
    ("POST", "/api/v1/submissions", {"content": b"{}"}, 415, "unsupported-media-type"),
    ("POST", "/api/v1/submissions", {"content": b"{", "headers": JSON}, 400, "malformed-json"),
    ("POST", "/api/v1/submissions", {"json": {}}, 422, "malformed-submission"),
    ("POST", "/api/v1/submissions", {"json": {"x": "A" * (3 << 20)}}, 413, "request-too-large"),
    ("POST", "/api/v1/followups", {"json": {}}, 422, "malformed-followup"),
    ("POST", "/api/v1/replies", {"json": {}}, 422, "malformed-replies-request"),
    (
        "POST",
        "/api/v1/replies",
        {"json": {"witness": "A" * 43, "challenge": "AAAA", "signature": "A" * 86}},
        403,
        "reply-challenge-invalid",
    ),
    ("POST", "/api/v1/uploads/", {}, 412, "tus-version-unsupported"),
    ("POST", "/api/v1/uploads/", {"headers": TUS}, 400, "malformed-upload"),
    (
        "POST",
        "/api/v1/uploads/",
        {"headers": {**TUS, "Upload-Length": str(1 << 60), "Upload-Metadata": "sha256 x"}},
        400,
        "malformed-upload",
    ),
    ("HEAD", UNKNOWN_UPLOAD, {"headers": TUS}, 404, "upload-not-found"),
    ("HEAD", UNKNOWN_UPLOAD, {}, 412, "tus-version-unsupported"),
    ("PATCH", UNKNOWN_UPLOAD, {"headers": TUS}, 415, "unsupported-media-type"),
    (
        "PATCH",
        UNKNOWN_UPLOAD,
        {"headers": {**TUS, "Content-Type": "application/offset+octet-stream"}},
        400,
        "malformed-upload",
    ),
    (
        "PATCH",
        UNKNOWN_UPLOAD,
        {
            "headers": {
                **TUS,
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": "0",
            }
        },
        404,
        "upload-not-found",
    ),
    ("DELETE", UNKNOWN_UPLOAD, {"headers": TUS}, 404, "upload-not-found"),
]


@pytest.mark.parametrize(
    ("method", "path", "request_keywords", "status", "code"),
    ANSWERS,
    ids=[f"{m} {p[:40]} {s} {c}" for m, p, _, s, c in ANSWERS],
)
def test_a_real_error_answer_is_what_the_document_says(
    client: TestClient,
    document: dict[str, Any],
    method: str,
    path: str,
    request_keywords: dict[str, Any],
    status: int,
    code: str,
) -> None:
    answer = client.request(method, path, **request_keywords)
    assert answer.status_code == status, answer.text
    declared = _operation_of(document, method, path.split("?")[0])["responses"]
    assert str(status) in declared, f"{status} is not declared"
    response = declared[str(status)]
    assert answer.headers["content-type"] in response["content"]
    schema = response["content"][answer.headers["content-type"]]["schema"]
    assert code in schema["allOf"][1]["properties"]["code"]["enum"]
    if method != "HEAD":
        assert answer.json()["code"] == code
    for name, header in response.get("headers", {}).items():
        if header["required"]:
            assert name.lower() in answer.headers, name


def test_a_real_success_is_what_the_document_says(
    client: TestClient, document: dict[str, Any], vector: dict[str, Any]
) -> None:
    location = _upload(client, b"")  # 0 bytes: finished at creation
    for method, path, status in [
        ("OPTIONS", "/api/v1/uploads/", 204),
        ("HEAD", location, 200),
        ("DELETE", location, 204),
    ]:
        answer = client.request(method, path, headers=TUS)
        assert answer.status_code == status
        response = _operation_of(document, method, path)["responses"][str(status)]
        for name, header in response["headers"].items():
            if header["required"]:
                assert name.lower() in answer.headers, (method, name)
    # The example of the document is a submission this server takes.
    example = _operation_of(document, "POST", "/api/v1/submissions")["requestBody"]["content"][
        "application/json"
    ]["example"]
    assert client.post("/api/v1/submissions", json=example).status_code == 201


# --- requests ---------------------------------------------------------------------------


def test_tus_requests_declare_the_headers_they_require(document: dict[str, Any]) -> None:
    def headers(method: str, path: str) -> dict[str, dict[str, Any]]:
        operation = document["paths"][path][method]
        return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}

    uploads, upload = "/api/v1/uploads/", "/api/v1/uploads/{upload_id}"
    for method, path in [
        ("post", uploads),
        ("head", upload),
        ("patch", upload),
        ("delete", upload),
    ]:
        tus = headers(method, path)["Tus-Resumable"]
        assert tus["required"] and tus["schema"]["enum"] == ["1.0.0"], (method, path)
        assert "412" in document["paths"][path][method]["responses"]
    assert "Tus-Resumable" not in headers("options", uploads)
    created = headers("post", uploads)
    assert created["Upload-Length"]["required"] and created["Upload-Metadata"]["required"]
    assert created["Upload-Length"]["schema"]["maximum"] == 4 << 30
    assert headers("patch", upload)["Upload-Offset"]["required"]
    body = document["paths"][upload]["patch"]["requestBody"]
    assert body["required"] and set(body["content"]) == {"application/offset+octet-stream"}
    (parameter,) = [p for p in document["paths"][upload]["head"]["parameters"] if p["in"] == "path"]
    assert parameter["schema"]["pattern"] == "^[A-Za-z0-9_-]{16,64}$"


def test_the_metadata_pattern_is_exactly_base64_of_a_blob_id() -> None:
    blob_id = hashlib.sha256(b"x").hexdigest()
    encoded = base64.b64encode(blob_id.encode()).decode()
    pattern = re.compile(UPLOAD_METADATA)
    assert pattern.fullmatch(f"sha256 {encoded}")
    assert pattern.fullmatch(f"sha256 {encoded},pow QUJD,filename ZS5qcGc=")
    assert not pattern.fullmatch(f"sha256 {base64.b64encode(blob_id.upper().encode()).decode()}")
    assert not pattern.fullmatch(f"sha256 {base64.b64encode(bytes(64)).decode()}")
    assert not pattern.fullmatch(f"sha256 {encoded[:-4]}")
    # No key twice (the server refuses it), so no second sha256 or pow either.
    for twice in ("a 1,a 2", "pow QUJD,pow QUJD", f"sha256 {encoded}", "x,pow QUJD"):
        assert not pattern.fullmatch(f"sha256 {encoded},{twice}"), twice
    for digits in ("0123456789abcdef" * 4, "f" * 64, "09af" * 16):
        assert re.fullmatch(BLOB_ID_BASE64, base64.b64encode(digits.encode()).decode())


def _body_validator(document: dict[str, Any], path: str) -> Any:
    pointer = "/paths/" + path.replace("/", "~1") + "/post/requestBody/content/application~1json"
    return jsonschema_rs.validator_for({**document, "$ref": "#" + pointer + "/schema"})


ALICE = receipt.derive("1111-2222-3333-4444-5555")


def test_the_json_bodies_are_declared_as_the_domain_reads_them(
    client: TestClient, document: dict[str, Any], vector: dict[str, Any], intake_public: bytes
) -> None:
    for path, required in [
        ("/api/v1/submissions", {"intake_key", "header"}),
        ("/api/v1/followups", {"intake_key", "header", "parent", "signature"}),
        ("/api/v1/replies", {"witness", "challenge", "signature"}),
    ]:
        body = document["paths"][path]["post"]["requestBody"]
        assert body["required"] and set(body["content"]) == {"application/json"}
        schema = body["content"]["application/json"]["schema"]
        assert schema["additionalProperties"] is False and set(schema["required"]) == required
    limit = client.app.state.server.settings.max_attachments
    submission = document["paths"]["/api/v1/submissions"]["post"]["requestBody"]
    assert (
        submission["content"]["application/json"]["schema"]["properties"]["attachments"]["maxItems"]
        == limit
    )
    pow_schema = document["components"]["schemas"]["ProofOfWork"]
    assert pow_schema["additionalProperties"] is False
    assert set(pow_schema["required"]) == {"challenge", "nonce"}

    # What the domain takes, the schema takes; what it refuses by shape, the schema refuses.
    submissions = _body_validator(document, "/api/v1/submissions")
    request = vector["request"]
    assert submissions.is_valid(request)
    assert submissions.is_valid({**request, "pow": {"challenge": "AAAA", "nonce": ""}})
    for bad in (
        {**request, "pow": {"challenge": "AAAA", "nonce": "", "extra": "x"}},
        {**request, "witness_box": None},
        {**request, "witness": None},
        {**request, "body_blob": "ab" * 32},
        {k: v for k, v in request.items() if k != "body"},
        {**request, "body": None},
        {**request, "header": request["header"][:-4]},
        {**request, "witness": b64u_encode(bytes(31))},
        {**request, "attachments": [*request["attachments"], request["attachments"][0]]},
        {**request, "extra": 1},
    ):
        assert not submissions.is_valid(bad), sorted(set(bad) ^ set(request))
    upload_vector_blobs(client)
    parent = submit(client, intake_public, ALICE)
    followups = _body_validator(document, "/api/v1/followups")
    assert followups.is_valid(followup_request(client, intake_public, parent, ALICE))


# --- 405 and Allow ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", UNKNOWN_UPLOAD, "DELETE, HEAD, PATCH"),
        ("OPTIONS", UNKNOWN_UPLOAD, "DELETE, HEAD, PATCH"),
        ("GET", "/api/v1/uploads/", "OPTIONS, POST"),
        ("PUT", "/api/v1/uploads", "OPTIONS, POST"),
        ("DELETE", "/api/v1/log/checkpoint", "GET"),
        ("HEAD", "/api/v1/log/checkpoint", "GET"),
        ("GET", "/api/v1/submissions", "POST"),
    ],
)
def test_a_405_names_every_method_of_its_path(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    answer = client.request(method, path, headers=TUS)
    assert answer.status_code == 405
    assert answer.headers["allow"] == allow


def test_every_path_of_the_document_answers_405_with_its_methods(
    client: TestClient, document: dict[str, Any]
) -> None:
    values = {"form_id": "kordai-2020", "version": "1", "upload_id": "a" * 20, "blob_id": "ab" * 32}
    for template, item in document["paths"].items():
        path = re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], template)
        declared = {method.upper() for method in item if method in METHODS}
        answer = client.request("PUT", path, headers=TUS)
        assert answer.status_code == 405, template
        assert answer.headers["allow"] == ", ".join(sorted(declared)), template


# --- integers ---------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["1.0", "+1", " 1", "1_0", "1e0", "0x1"])
def test_an_integer_parameter_is_decimal_digits(client: TestClient, spelling: str) -> None:
    for path in (
        f"/api/v1/log/entries?start=0&end={spelling}",
        f"/api/v1/pow?length={spelling}",
        f"/api/v1/forms/kordai-2020/{spelling}",
    ):
        answer = client.get(path, params=None)
        assert answer.status_code == 400, path
        assert answer.json()["code"] == "invalid-request", path
    # A negative one is still the domain's to refuse.
    assert client.get("/api/v1/log/entries?start=-1&end=1").json()["code"] == "bad-tree-range"


def test_an_unexpected_error_of_a_tus_route_is_what_the_document_says(
    client: TestClient, document: dict[str, Any]
) -> None:
    def broken(_upload_id: str) -> object:
        raise RuntimeError("broken")

    client.app.state.server.uploads.status = broken
    answer = client.head(UNKNOWN_UPLOAD, headers=TUS)
    assert answer.status_code == 500
    declared = _operation_of(document, "HEAD", UNKNOWN_UPLOAD)["responses"]["500"]
    for name, header in declared["headers"].items():
        if header["required"]:
            assert answer.headers[name.lower()] == "1.0.0", name
