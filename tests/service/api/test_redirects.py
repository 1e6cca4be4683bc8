"""No answer names a host taken from the request (issue 12, item 5).

The framework used to answer a path with a stray trailing slash (or a missing
one) with ``307 Location: http://<Host header>/...``: anyone could make the
server point a client at another host. Now no path is redirected to its
slashed or unslashed twin at all, and the redirects that remain (a tus
upload's ``Location``, ``/ru`` → ``/ru/``) are relative. The paths the
clients really use (the courier, tus-js-client in the witness pages, the
pages' scripts) all answer without a redirect.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from tests.service.intake_support import TUS, TestClient, assert_problem


@pytest.fixture
def database_url() -> None:
    """SQLite in the data dir."""
    return None


EVIL = {"Host": "evil.example"}

TWINS = [
    ("GET", "/api/v1/forms/"),
    ("GET", "/api/v1/forms/kordai-2020/"),
    ("GET", "/api/v1/pow/"),
    ("POST", "/api/v1/submissions/"),
    ("POST", "/api/v1/followups/"),
    ("POST", "/api/v1/replies/"),
    ("GET", "/api/v1/replies/challenge/"),
    ("GET", "/api/v1/log/checkpoint/"),
    ("GET", "/api/v1/log/key/"),
    ("GET", "/healthz/"),
    ("GET", "/ru/key/"),
    ("GET", "/ru/return/"),
]


@pytest.mark.parametrize(("method", "path"), TWINS, ids=[f"{m} {p}" for m, p in TWINS])
def test_a_slash_twin_of_a_route_is_not_redirected(
    client: TestClient, method: str, path: str
) -> None:
    answer = client.request(method, path, headers=EVIL, follow_redirects=False)
    assert "location" not in answer.headers, answer.headers.get("location")
    assert_problem(answer, 404, "not-found")


def _created_upload(client: TestClient) -> str:
    data = b"some ciphertext"
    metadata = base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode()
    created = client.post(
        "/api/v1/uploads/",
        headers={
            **TUS,
            **EVIL,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": "sha256 " + metadata,
        },
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location.startswith("/api/v1/uploads/") and "evil" not in location
    return str(location)


@pytest.mark.parametrize("method", ["HEAD", "PATCH", "DELETE"])
def test_an_upload_url_with_a_trailing_slash_is_not_redirected(
    client: TestClient, method: str
) -> None:
    location = _created_upload(client)
    answer = client.request(method, location + "/", headers={**TUS, **EVIL}, follow_redirects=False)
    assert "location" not in answer.headers, answer.headers.get("location")
    assert answer.status_code == 404


def test_the_paths_the_clients_use_answer_without_a_redirect(client: TestClient) -> None:
    # tus-js-client and the courier: OPTIONS and POST on `/api/v1/uploads/`,
    # then HEAD/PATCH/DELETE on the Location; both spellings of the endpoint work.
    for endpoint in ("/api/v1/uploads/", "/api/v1/uploads"):
        assert client.options(endpoint, follow_redirects=False).status_code == 204
    location = _created_upload(client)
    assert client.head(location, headers=TUS, follow_redirects=False).status_code == 200
    assert client.delete(location, headers=TUS, follow_redirects=False).status_code == 204
    for path in (
        "/api/v1/forms",
        "/api/v1/pow",
        "/api/v1/replies/challenge",
        "/api/v1/log/checkpoint",
        "/api/v1/log/key",
        "/healthz",
    ):
        answer = client.get(path, headers=EVIL, follow_redirects=False)
        assert answer.status_code == 200, path
    answer = client.post("/api/v1/submissions", json={}, follow_redirects=False)
    assert_problem(answer, 422, "malformed-submission")


def test_the_page_redirect_that_remains_is_relative(client: TestClient) -> None:
    answer = client.get("/kk", headers=EVIL, follow_redirects=False)
    assert answer.status_code == 308
    assert answer.headers["location"] == "/kk/"
