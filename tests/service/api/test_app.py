"""The application as a whole: problem documents for every error, security
headers on every answer, no cookies, the OpenAPI document, forms (§5), PoW (§8)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from testimony.crypto import canonical, hpke
from testimony.forms.registry import bundled_forms
from testimony.service.api import errors as api_errors
from testimony.service.api.app import create_app
from testimony.service.domain import errors as domain_errors
from testimony.service.settings import Settings
from tests.service.intake_support import TestClient, assert_problem


@pytest.fixture
def database_url() -> None:
    """SQLite in the data dir."""
    return None


def _all_domain_errors() -> list[type[domain_errors.DomainError]]:
    found, pending = [], [domain_errors.DomainError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_domain_error_code_has_one_status() -> None:
    codes = [cls.code for cls in _all_domain_errors()]
    assert len(codes) == len(set(codes)), "two error classes share a code"
    for code in codes:
        assert code in api_errors.STATUS, code
    for cls in _all_domain_errors():
        status = api_errors.STATUS[cls.code]
        assert 400 <= status < 600


def test_the_error_tree_in_the_docstring_lists_every_class() -> None:
    doc = domain_errors.__doc__ or ""
    for cls in _all_domain_errors():
        assert f"{cls.__name__}" in doc and cls.code in doc, cls.__name__


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nowhere", 404, "not-found"),
        ("GET", "/api/v1/submissions", 405, "method-not-allowed"),
        ("DELETE", "/api/v1/log/checkpoint", 405, "method-not-allowed"),
        ("GET", "/api/v1/forms/nosuchform", 404, "form-not-found"),
        ("GET", "/api/v1/forms/kordai-2020/x", 400, "invalid-request"),
    ],
)
def test_framework_errors_are_problem_documents(
    client: TestClient, method: str, path: str, status: int, code: str
) -> None:
    assert_problem(client.request(method, path), status, code)


def test_every_answer_carries_the_security_headers_and_no_cookie(client: TestClient) -> None:
    answers = [
        client.get("/healthz"),
        client.get("/api/v1/log/checkpoint"),
        client.get("/api/v1/pow"),
        client.get("/nowhere"),
        client.post("/api/v1/submissions", content=b"{"),
        client.options("/api/v1/uploads/"),
        client.get("/api/v1/openapi.json"),
    ]
    for answer in answers:
        headers = answer.headers
        assert headers["content-security-policy"].startswith("default-src 'none'")
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        assert "server" not in headers
        assert "set-cookie" not in headers


def test_an_unexpected_error_is_a_500_problem_that_logs_nothing_of_the_request(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_request: object) -> object:
        raise RuntimeError("secret detail that must not be logged")

    client.app.state.server.intake.submit = broken
    answer = client.post("/api/v1/submissions", json={"x": 1}, headers={"User-Agent": "agent-007"})
    assert_problem(answer, 500, "internal-error")
    assert "secret detail" not in answer.text
    logged = caplog.text
    assert "RuntimeError" in logged
    assert "secret detail" not in logged and "agent-007" not in logged
    assert "/api/v1/submissions" not in logged


def test_openapi_is_published_and_there_is_no_docs_page(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    paths = document["paths"]
    for path in (
        "/api/v1/submissions",
        "/api/v1/uploads/",
        "/api/v1/uploads/{upload_id}",
        "/api/v1/pow",
        "/api/v1/forms",
        "/api/v1/log/checkpoint",
        "/api/v1/log/proof/inclusion",
        "/api/v1/log/proof/consistency",
        "/api/v1/log/entries",
    ):
        assert path in paths, path
    body = paths["/api/v1/submissions"]["post"]["requestBody"]["content"]["application/json"]
    assert "intake_key" in body["schema"]["properties"]
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404


def test_proof_of_work_challenges_say_off_when_off(client: TestClient) -> None:
    challenge = client.get("/api/v1/pow").json()
    assert set(challenge) == {"challenge", "bits", "expires"}
    assert challenge["bits"] == 0


# --- forms (§5) -------------------------------------------------------------------------


def test_without_a_registry_no_form_is_published(client: TestClient) -> None:
    assert client.get("/api/v1/forms").json() == []


@pytest.fixture
def forms_client(initialised: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(initialised.replace(forms=bundled_forms()))) as test_client:
        yield test_client


def test_forms_are_served_with_their_hash_and_the_intake_key(
    forms_client: TestClient, intake_public: bytes
) -> None:
    listed = forms_client.get("/api/v1/forms").json()
    assert listed and {"id", "version", "title"} == set(listed[0])
    form_id, version = listed[0]["id"], listed[0]["version"]
    latest = forms_client.get(f"/api/v1/forms/{form_id}").json()
    exact = forms_client.get(f"/api/v1/forms/{form_id}/{version}").json()
    assert latest == exact
    assert latest["sha256"] == hashlib.sha256(canonical.dumps(latest["definition"])).hexdigest()
    assert latest["intake_key_id"] == hpke.key_id(intake_public)
    assert latest["signature"] is None
    assert_problem(
        forms_client.get(f"/api/v1/forms/{form_id}/{version + 100}"), 404, "form-not-found"
    )
    json.dumps(latest)
