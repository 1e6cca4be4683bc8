"""tus 1.0 under /api/v1/uploads/ (docs/protocol.md §6): creation, HEAD, PATCH in
pieces, resume, termination, limits (413), expiry (410), hash check."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from testimony.service.api.app import create_app
from testimony.service.domain.clock import FixedClock
from testimony.service.settings import Settings
from tests.service.intake_support import TUS, TestClient, assert_problem

OCTETS = "application/offset+octet-stream"


@pytest.fixture
def database_url() -> None:
    """SQLite in the data dir (the upload rules do not depend on the database)."""
    return None


@pytest.fixture
def tus(initialised: Settings) -> Iterator[TestClient]:
    """A client of a server with small upload limits."""
    limited = initialised.replace(
        max_blob_bytes=100_000,
        max_unfinished_uploads=3,
        max_unfinished_bytes=250_000,
        upload_expiry_seconds=3600,
    )
    with TestClient(create_app(limited)) as client:
        yield client


def metadata(blob_id: str) -> str:
    return "sha256 " + base64.b64encode(blob_id.encode()).decode()


def create(client: TestClient, data: bytes, *, blob_id: str | None = None) -> Any:
    return client.post(
        "/api/v1/uploads/",
        headers={
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": metadata(blob_id or hashlib.sha256(data).hexdigest()),
        },
    )


def patch(client: TestClient, location: str, offset: int, data: bytes) -> Any:
    return client.patch(
        location,
        content=data,
        headers={**TUS, "Upload-Offset": str(offset), "Content-Type": OCTETS},
    )


def head(client: TestClient, location: str) -> Any:
    return client.head(location, headers=TUS)


def is_referable(client: TestClient, data: bytes) -> bool:
    return bool(client.app.state.server.blobs.exists(hashlib.sha256(data).hexdigest()))


def test_options_names_the_version_extensions_and_size_limit(tus: TestClient) -> None:
    answer = tus.options("/api/v1/uploads/")
    assert answer.status_code == 204
    assert answer.headers["tus-version"] == "1.0.0"
    assert set(answer.headers["tus-extension"].split(",")) == {
        "creation",
        "termination",
        "expiration",
    }
    assert answer.headers["tus-max-size"] == "100000"


def test_an_upload_in_pieces_becomes_a_blob_only_when_complete(tus: TestClient) -> None:
    data = os.urandom(70_000)
    created = create(tus, data)
    assert created.status_code == 201
    location = created.headers["location"]
    assert location.startswith("/api/v1/uploads/")  # relative: never from the Host header
    assert created.headers["tus-resumable"] == "1.0.0"
    parsedate_to_datetime(created.headers["upload-expires"])

    status = head(tus, location)
    assert status.status_code == 200
    assert (status.headers["upload-offset"], status.headers["upload-length"]) == ("0", "70000")
    assert status.headers["cache-control"] == "no-store"

    offset = 0
    for size in (30_000, 25_000, 15_000):
        assert not is_referable(tus, data)
        answer = patch(tus, location, offset, data[offset : offset + size])
        assert answer.status_code == 204, answer.text
        offset += size
        assert answer.headers["upload-offset"] == str(offset)
        assert head(tus, location).headers["upload-offset"] == str(offset)
    assert is_referable(tus, data)
    blob_id = hashlib.sha256(data).hexdigest()
    assert b"".join(tus.app.state.server.blobs.read(blob_id)) == data


def test_a_wrong_offset_is_a_conflict_and_the_upload_resumes(tus: TestClient) -> None:
    data = os.urandom(50_000)
    location = create(tus, data).headers["location"]
    assert patch(tus, location, 0, data[:20_000]).status_code == 204
    # The client lost the answer and retries from 0: refused, nothing changes.
    assert_problem(patch(tus, location, 0, data[:20_000]), 409, "upload-offset-mismatch")
    assert_problem(patch(tus, location, 30_000, data[30_000:]), 409, "upload-offset-mismatch")
    # It asks where to resume, and does.
    offset = int(head(tus, location).headers["upload-offset"])
    assert offset == 20_000
    assert patch(tus, location, offset, data[offset:]).status_code == 204
    assert is_referable(tus, data)


def test_a_streamed_patch_without_length_is_accepted(tus: TestClient) -> None:
    data = os.urandom(90_000)
    location = create(tus, data).headers["location"]

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(data), 7_000):
            yield data[start : start + 7_000]

    answer = tus.patch(
        location, content=pieces(), headers={**TUS, "Upload-Offset": "0", "Content-Type": OCTETS}
    )
    assert answer.status_code == 204, answer.text
    assert is_referable(tus, data)


def test_termination_removes_the_upload(tus: TestClient) -> None:
    data = os.urandom(10_000)
    location = create(tus, data).headers["location"]
    patch(tus, location, 0, data[:5_000])
    answer = tus.delete(location, headers=TUS)
    assert answer.status_code == 204
    assert head(tus, location).status_code == 404
    assert_problem(patch(tus, location, 5_000, data[5_000:]), 404, "upload-not-found")
    assert_problem(tus.delete(location, headers=TUS), 404, "upload-not-found")
    assert not is_referable(tus, data)


def test_bytes_that_do_not_hash_to_the_declared_id_are_discarded(tus: TestClient) -> None:
    data = os.urandom(10_000)
    location = create(tus, data, blob_id="ab" * 32).headers["location"]
    assert_problem(patch(tus, location, 0, data), 422, "upload-hash-mismatch")
    assert head(tus, location).status_code == 404
    assert not is_referable(tus, data)
    assert not tus.app.state.server.blobs.exists("ab" * 32)


def test_an_empty_blob_is_complete_at_creation(tus: TestClient) -> None:
    created = create(tus, b"")
    assert created.status_code == 201
    assert created.headers["upload-offset"] == "0"
    assert is_referable(tus, b"")


def test_a_complete_upload_reports_its_length(tus: TestClient) -> None:
    data = os.urandom(1_000)
    location = create(tus, data).headers["location"]
    patch(tus, location, 0, data)
    status = head(tus, location)
    assert status.headers["upload-offset"] == status.headers["upload-length"] == "1000"
    assert patch(tus, location, 1_000, b"").status_code == 204


# --- limits: 413 --------------------------------------------------------------------


def test_a_blob_over_the_limit_is_refused_at_creation(tus: TestClient) -> None:
    assert_problem(create(tus, bytes(100_001)), 413, "blob-too-large")


def test_data_past_the_declared_length_is_refused(tus: TestClient) -> None:
    data = os.urandom(10_000)
    location = create(tus, data).headers["location"]
    assert_problem(patch(tus, location, 0, data + b"extra"), 413, "upload-length-exceeded")
    assert head(tus, location).headers["upload-offset"] == "0"


def test_streamed_data_past_the_declared_length_is_cut_at_it(tus: TestClient) -> None:
    data = os.urandom(10_000)
    location = create(tus, data).headers["location"]

    def pieces() -> Iterator[bytes]:
        yield data
        yield b"more than declared"

    answer = tus.patch(
        location, content=pieces(), headers={**TUS, "Upload-Offset": "0", "Content-Type": OCTETS}
    )
    assert_problem(answer, 413, "upload-length-exceeded")
    # The declared bytes arrived whole and hash right: the blob is there.
    assert is_referable(tus, data)


def test_unfinished_uploads_are_limited_in_number_and_bytes(tus: TestClient) -> None:
    first = [create(tus, os.urandom(100_000)) for _ in range(2)]
    assert all(answer.status_code == 201 for answer in first)
    # 200,000 declared; 60,000 more would pass 250,000.
    assert_problem(create(tus, os.urandom(60_000)), 413, "upload-quota-exceeded")
    assert create(tus, os.urandom(10_000)).status_code == 201
    # Three unfinished: the fourth is refused whatever its size.
    assert_problem(create(tus, os.urandom(10)), 413, "upload-quota-exceeded")
    # Finishing or terminating one makes room.
    tus.delete(first[0].headers["location"], headers=TUS)
    assert create(tus, os.urandom(10)).status_code == 201


def test_an_unfinished_upload_expires(tus: TestClient, clock: FixedClock) -> None:
    data = os.urandom(10_000)
    location = create(tus, data).headers["location"]
    patch(tus, location, 0, data[:1_000])
    clock.advance(timedelta(hours=3))  # the expiry is one hour, rounded up to the hour
    assert head(tus, location).status_code == 410
    assert_problem(patch(tus, location, 1_000, data[1_000:]), 410, "upload-expired")
    # The next creation sweeps it away.
    create(tus, b"x")
    assert head(tus, location).status_code == 404
    assert not is_referable(tus, data)


# --- protocol errors ------------------------------------------------------------------


def test_requests_without_tus_resumable_are_refused(tus: TestClient) -> None:
    answer = tus.post("/api/v1/uploads/", headers={"Upload-Length": "1"})
    assert_problem(answer, 412, "tus-version-unsupported")
    assert answer.headers["tus-version"] == "1.0.0"


def test_a_patch_of_another_media_type_is_refused(tus: TestClient) -> None:
    data = b"abc"
    location = create(tus, data).headers["location"]
    answer = tus.patch(
        location,
        content=data,
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/octet-stream"},
    )
    assert_problem(answer, 415, "unsupported-media-type")


@pytest.mark.parametrize(
    "headers",
    [
        {"Upload-Metadata": metadata("ab" * 32)},
        {"Upload-Length": "-1", "Upload-Metadata": metadata("ab" * 32)},
        {"Upload-Length": "1"},
        {"Upload-Length": "1", "Upload-Metadata": "filename aGk="},
        {"Upload-Length": "1", "Upload-Metadata": "sha256 !!"},
        {"Upload-Length": "1", "Upload-Metadata": metadata("AB" * 32)},
        {"Upload-Defer-Length": "1", "Upload-Metadata": metadata("ab" * 32)},
    ],
    ids=["no length", "negative", "no metadata", "no sha256", "not base64", "upper hex", "defer"],
)
def test_a_malformed_creation_is_refused(tus: TestClient, headers: dict[str, str]) -> None:
    assert_problem(
        tus.post("/api/v1/uploads/", headers={**TUS, **headers}), 400, "malformed-upload"
    )


@pytest.mark.parametrize("upload_id", ["nosuchuploadnosuchupload", "..", "a%2Fb"])
def test_unknown_uploads_are_not_found(tus: TestClient, upload_id: str) -> None:
    location = f"/api/v1/uploads/{upload_id}"
    assert head(tus, location).status_code == 404
    assert patch(tus, location, 0, b"x").status_code == 404


def test_method_override_is_honoured(tus: TestClient) -> None:
    data = os.urandom(1_000)
    location = create(tus, data).headers["location"]
    answer = tus.post(
        location,
        content=data,
        headers={
            **TUS,
            "X-HTTP-Method-Override": "PATCH",
            "Upload-Offset": "0",
            "Content-Type": OCTETS,
        },
    )
    assert answer.status_code == 204
    assert is_referable(tus, data)


def test_other_metadata_is_not_kept(tus: TestClient, initialised: Settings) -> None:
    data = os.urandom(2_000)
    blob_id = hashlib.sha256(data).hexdigest()
    name = base64.b64encode(b"secret-name.jpg").decode()
    answer = tus.post(
        "/api/v1/uploads/",
        headers={
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": f"filename {name},{metadata(blob_id)}",
        },
    )
    assert answer.status_code == 201
    patch(tus, answer.headers["location"], 0, data)
    for path in initialised.require_data_dir().rglob("*"):
        if path.is_file():
            assert b"secret-name" not in path.read_bytes()
