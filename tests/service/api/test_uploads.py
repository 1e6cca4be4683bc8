"""tus 1.0 under /api/v1/uploads/ (docs/protocol.md §6): creation, HEAD, PATCH in
pieces, resume, termination, limits (413), expiry (410), hash check; the proof
of work a creation carries in ``Upload-Metadata`` (§6, §8), scaled to the
declared length and to how full the upload budget is; one budget for
unfinished uploads and finished blobs no entry names; idle uploads expiring."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from testimony.crypto.encoding import b64u_decode
from testimony.crypto.pow import solve
from testimony.service.api.app import create_app
from testimony.service.domain.clock import FixedClock
from testimony.service.settings import Settings
from tests.service.intake_support import TUS, TestClient, assert_problem

OCTETS = "application/offset+octet-stream"
UNIT = 1_000


@pytest.fixture
def database_url() -> None:
    """SQLite in the data dir (the upload rules do not depend on the database)."""
    return None


@pytest.fixture
def tus(initialised: Settings) -> Iterator[TestClient]:
    """A client of a server with small upload limits."""
    limited = initialised.replace(
        max_blob_bytes=100_000,
        upload_budget_bytes=250_000,
        upload_unit_bytes=UNIT,
        upload_idle_seconds=3600,
    )
    with TestClient(create_app(limited)) as client:
        yield client


@pytest.fixture
def paid(initialised: Settings) -> Iterator[TestClient]:
    """A client of a server that asks a proof of work for every upload: 2 bits
    at an empty budget, one more per doubling past 1,000 bytes, up to 8 more as
    the 100,000-byte budget fills."""
    priced = initialised.replace(
        pow_bits=2,
        max_blob_bytes=100_000,
        upload_budget_bytes=100_000,
        upload_unit_bytes=UNIT,
        pow_upload_load_bits=8,
    )
    with TestClient(create_app(priced)) as client:
        yield client


def metadata(blob_id: str, pow_: str | None = None) -> str:
    text = "sha256 " + base64.b64encode(blob_id.encode()).decode()
    if pow_ is not None:
        text += ",pow " + base64.b64encode(pow_.encode()).decode()
    return text


def create(
    client: TestClient,
    data: bytes,
    *,
    blob_id: str | None = None,
    pow_: str | None = None,
    length: int | None = None,
) -> Any:
    return client.post(
        "/api/v1/uploads/",
        headers={
            **TUS,
            "Upload-Length": str(len(data) if length is None else length),
            "Upload-Metadata": metadata(blob_id or hashlib.sha256(data).hexdigest(), pow_),
        },
    )


def offer(client: TestClient, length: int) -> dict[str, Any]:
    answer = client.get("/api/v1/pow", params={"length": length})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def work(client: TestClient, length: int) -> str:
    """A solved upload proof for ``length`` bytes: ``<challenge>:<nonce>``."""
    challenge = offer(client, length)
    return f"{challenge['challenge']}:{solve(challenge['challenge'], challenge['bits'])}"


def paid_create(client: TestClient, data: bytes) -> Any:
    return create(client, data, pow_=work(client, len(data)))


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


def test_unfinished_uploads_share_a_budget_of_bytes(tus: TestClient) -> None:
    first = [create(tus, os.urandom(100_000)) for _ in range(2)]
    assert all(answer.status_code == 201 for answer in first)
    # 200,000 declared; 60,000 more would pass 250,000.
    assert_problem(create(tus, os.urandom(60_000)), 413, "upload-quota-exceeded")
    assert create(tus, os.urandom(40_000)).status_code == 201
    # Every upload takes at least a unit (1,000 bytes) of the budget: ten
    # 1-byte uploads fill the last 10,000 bytes.
    assert all(create(tus, os.urandom(1)).status_code == 201 for _ in range(10))
    assert_problem(create(tus, os.urandom(1)), 413, "upload-quota-exceeded")
    # Terminating one makes room.
    tus.delete(first[0].headers["location"], headers=TUS)
    assert create(tus, os.urandom(90_000)).status_code == 201


def test_finished_blobs_no_entry_names_count_against_the_budget(
    tus: TestClient, clock: FixedClock
) -> None:
    """Issue 12 item 3: finished but unreferenced blobs fell under no quota."""
    for _ in range(2):
        data = os.urandom(100_000)
        location = create(tus, data).headers["location"]
        assert patch(tus, location, 0, data).status_code == 204
        assert is_referable(tus, data)
    # Finished, named by no entry: still 200,000 of the 250,000 bytes.
    assert_problem(create(tus, os.urandom(60_000)), 413, "upload-quota-exceeded")
    assert create(tus, os.urandom(50_000)).status_code == 201
    # They expire within hours: 6 h by default, counted from the end of the
    # floored hour they finished in (12:00 + 1 h + 6 h = 19:00).
    clock.advance(timedelta(hours=5))  # 17:34:56; the idle 50,000 have expired
    assert_problem(create(tus, os.urandom(60_000)), 413, "upload-quota-exceeded")
    clock.advance(timedelta(hours=1, minutes=30))  # 19:04:56
    assert create(tus, os.urandom(100_000)).status_code == 201
    assert create(tus, os.urandom(100_000)).status_code == 201


def test_blobs_a_logged_submission_names_leave_the_budget(
    tus: TestClient, vector: dict[str, Any]
) -> None:
    for data in vector["blobs"].values():
        blob = b64u_decode(data)
        location = create(tus, blob).headers["location"]
        patch(tus, location, 0, blob)
    uploads = tus.app.state.server.uploads
    sizes = [len(b64u_decode(data)) for data in vector["blobs"].values()]
    assert uploads.budget_used() == sum(max(size, UNIT) for size in sizes)
    assert tus.post("/api/v1/submissions", json=vector["request"]).status_code == 201
    assert uploads.budget_used() == 0


def test_an_idle_upload_expires_within_hours_and_an_active_one_does_not(
    tus: TestClient, clock: FixedClock
) -> None:
    """Idle time one hour. Created at 12:34:56, an upload expires at 14:00
    unless bytes arrive; bytes received in an hour move that to the end of the
    following hour (times are floored to the hour, expiries rounded up)."""
    idle = create(tus, os.urandom(10_000)).headers["location"]
    data = os.urandom(90_000)
    active = create(tus, data)
    assert parsedate_to_datetime(active.headers["upload-expires"]).hour == 14
    location = active.headers["location"]
    for step, expected_hour in ((0, 15), (1, 16)):
        clock.advance(timedelta(minutes=50))  # 13:24:56, then 14:14:56
        offset = step * 30_000
        answer = patch(tus, location, offset, data[offset : offset + 30_000])
        assert answer.status_code == 204, answer.text
        assert parsedate_to_datetime(answer.headers["upload-expires"]).hour == expected_hour
        assert head(tus, location).headers["upload-expires"] == answer.headers["upload-expires"]
    assert head(tus, idle).status_code == 410
    clock.advance(timedelta(minutes=50))  # 15:04:56: 3 h after its creation
    assert patch(tus, location, 60_000, data[60_000:]).status_code == 204
    assert is_referable(tus, data)


def test_a_trickle_does_not_keep_a_large_upload_alive(
    initialised: Settings, clock: FixedClock
) -> None:
    """Bytes keep an upload alive only while it keeps pace with its declared
    length over `upload_lifetime_seconds`: a byte an hour holds no claim on
    100,000 bytes of the budget past the first idle time."""
    settings = initialised.replace(
        max_blob_bytes=100_000,
        upload_budget_bytes=250_000,
        upload_unit_bytes=UNIT,
        upload_idle_seconds=3 * 3600,
        upload_lifetime_seconds=10 * 3600,
    )
    with TestClient(create_app(settings)) as client:
        data = os.urandom(100_000)
        slow = create(client, os.urandom(100_000)).headers["location"]
        steady = create(client, data).headers["location"]  # 10,000 bytes an hour suffice
        offset = 0
        for hour in range(8):
            clock.advance(timedelta(hours=1))
            assert patch(client, slow, hour, b"x").status_code in (204, 410)
            answer = patch(client, steady, offset, data[offset : offset + 12_500])
            assert answer.status_code == 204, answer.text
            offset = int(answer.headers["upload-offset"])
        assert head(client, slow).status_code == 410
        assert is_referable(client, data)
        # The next creation sweeps the slow one away: its claim comes back
        # (100,000 finished + 100,000 new fit; with the slow one they would not).
        assert create(client, os.urandom(100_000)).status_code == 201


# --- proof of work on creation (§6, §8) --------------------------------------------


def test_a_creation_costs_a_proof_of_work_scaled_to_its_length(paid: TestClient) -> None:
    assert offer(paid, 1)["bits"] == offer(paid, UNIT)["bits"] == 2
    assert offer(paid, UNIT + 1)["bits"] == 3
    assert offer(paid, 8 * UNIT)["bits"] == 2 + 3  # eight units: three doublings
    assert offer(paid, 100_000)["bits"] == 2 + 7 + 8  # and the budget would be full
    assert paid.get("/api/v1/pow").json()["bits"] == 2  # submissions: the base difficulty

    data = os.urandom(8 * UNIT)
    assert_problem(create(paid, data), 403, "pow-required")
    # A proof paid for one byte does not buy 8,000.
    assert_problem(create(paid, data, pow_=work(paid, 1)), 403, "pow-insufficient")
    proof = work(paid, len(data))
    created = create(paid, data, pow_=proof)
    assert created.status_code == 201, created.text
    # Each challenge is accepted once, for an upload or a submission.
    assert_problem(create(paid, os.urandom(10), pow_=proof), 403, "pow-reused")
    assert patch(paid, created.headers["location"], 0, data).status_code == 204
    assert is_referable(paid, data)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "value",
    ["", _b64("no colon"), _b64("AAAA:!!"), _b64("Y2hhbGxlbmdl:AAAA"), "!!!!"],
    ids=["empty", "no colon", "bad nonce", "not ours", "not base64"],
)
def test_a_malformed_or_foreign_upload_proof_is_invalid(paid: TestClient, value: str) -> None:
    data = os.urandom(100)
    pow_member = f",pow {value}" if value else ",pow"
    answer = paid.post(
        "/api/v1/uploads/",
        headers={
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": metadata(hashlib.sha256(data).hexdigest()) + pow_member,
        },
    )
    assert_problem(answer, 403, "pow-invalid")


def test_an_expired_upload_proof_is_refused(paid: TestClient, clock: FixedClock) -> None:
    proof = work(paid, 100)
    clock.advance(timedelta(minutes=11))
    assert_problem(create(paid, os.urandom(100), pow_=proof), 403, "pow-expired")


def test_a_refused_creation_spends_nothing(paid: TestClient) -> None:
    proof = work(paid, 100)
    assert_problem(create(paid, b"", length=100_001, pow_=proof), 413, "blob-too-large")
    assert create(paid, os.urandom(100), pow_=proof).status_code == 201


def test_the_difficulty_rises_as_the_budget_fills(paid: TestClient) -> None:
    """2 bits, 4 more for ten units (ceil(log2 10)), and one more per eighth
    of the budget the upload would leave taken."""
    asked = []
    for _ in range(10):
        asked.append(offer(paid, 10 * UNIT)["bits"])
        assert paid_create(paid, os.urandom(10 * UNIT)).status_code == 201
    assert asked == [6, 7, 8, 9, 10, 10, 11, 12, 13, 14]
    # The budget is full: now creations wait for room, and say so at once.
    assert_problem(paid.get("/api/v1/pow", params={"length": 1}), 413, "upload-quota-exceeded")
    assert_problem(create(paid, os.urandom(1)), 403, "pow-required")


def test_with_proof_of_work_off_nothing_is_asked(tus: TestClient) -> None:
    assert offer(tus, 100_000)["bits"] == 0
    assert create(tus, os.urandom(100)).status_code == 201
    # A pow member is then ignored, whatever it holds.
    assert create(tus, os.urandom(100), pow_="anything").status_code == 201


@pytest.mark.parametrize(
    ("length", "status", "code"),
    [
        ("-1", 400, "invalid-request"),
        ("x", 400, "invalid-request"),
        ("100001", 413, "blob-too-large"),
    ],
)
def test_a_bad_length_for_a_challenge_is_refused(
    paid: TestClient, length: str, status: int, code: str
) -> None:
    assert_problem(paid.get("/api/v1/pow", params={"length": length}), status, code)


def test_an_unfinished_upload_expires(tus: TestClient, clock: FixedClock) -> None:
    data = os.urandom(10_000)
    location = create(tus, data).headers["location"]
    patch(tus, location, 0, data[:1_000])
    clock.advance(timedelta(hours=3))  # one idle hour after the end of the PATCH's hour
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
