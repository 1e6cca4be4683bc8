"""The shared client's tus uploads (client/tus.py, docs/protocol.md §6):
creation with the proof of work of §6 v1.1 and its one retry, resuming from
the server's offset, ``409`` and ``423`` answered with ``HEAD``, progress,
and the refusals that stop an upload."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import httpx
import pytest

from testimony.client import tus
from testimony.client.errors import (
    ServerRefused,
    SourceChanged,
    UnexpectedAnswer,
    UploadVanished,
)
from testimony.client.http import ServerClient

from .fake_server import FakeServer, problem

DATA = os.urandom(100_000)
BLOB = hashlib.sha256(DATA).hexdigest()


def read(offset: int, length: int) -> list[bytes]:
    return [DATA[offset : offset + length]]


def client_of(fake: FakeServer) -> ServerClient:
    return ServerClient("http://fake.test", transport=fake.transport())


def test_metadata_is_the_blob_id_and_the_proof_in_padded_standard_base64() -> None:
    from testimony.client.http import Proof

    header = tus.metadata(BLOB, Proof("q83v", "AAAAAAAAAAE"))
    sha, pow_ = header.split(",")
    assert sha == "sha256 " + base64.b64encode(BLOB.encode()).decode()
    key, value = pow_.split(" ")
    assert key == "pow" and value.endswith("=")
    assert base64.b64decode(value, validate=True) == b"q83v:AAAAAAAAAAE"
    assert tus.metadata(BLOB) == sha


def test_an_upload_is_created_with_proof_of_work_for_its_length_and_sent_in_patches() -> None:
    fake = FakeServer(pow_bits=6, uploads_need_pow=True)
    seen: list[int] = []
    with client_of(fake) as client:
        done = tus.upload(
            client, BLOB, len(DATA), read, patch_bytes=30_000,
            progress=lambda _url, offset: seen.append(offset),
        )  # fmt: skip
    (upload,) = fake.uploads.values()
    assert bytes(upload.data) == DATA and not done.resumed
    assert done.url.startswith("http://fake.test/api/v1/uploads/")
    assert fake.pow_lengths == [str(len(DATA))]
    (members,) = fake.creation_metadata
    assert members["sha256"] == BLOB and ":" in members["pow"]
    assert seen == [0, 30_000, 60_000, 90_000, 100_000]
    assert all(
        r.headers["tus-resumable"] == "1.0.0" for r in fake.requests if "uploads" in r.url.path
    )


def test_no_pow_member_is_sent_when_the_server_asks_for_no_work() -> None:
    fake = FakeServer(pow_bits=0)
    with client_of(fake) as client:
        tus.upload(client, BLOB, len(DATA), read)
    assert fake.creation_metadata == [{"sha256": BLOB}]
    assert fake.pow_lengths == [str(len(DATA))]


@pytest.mark.parametrize(
    "code", ["pow-required", "pow-invalid", "pow-expired", "pow-reused", "pow-insufficient"]
)
def test_a_creation_refused_for_its_proof_is_retried_once_with_a_fresh_challenge(code: str) -> None:
    fake = FakeServer(pow_bits=4, uploads_need_pow=True)
    fake.script("POST /api/v1/uploads/", problem(403, code))
    with client_of(fake) as client:
        tus.upload(client, BLOB, len(DATA), read)
    assert fake.methods().count("POST /api/v1/uploads/") == 2
    assert fake.methods().count("GET /api/v1/pow") == 2
    first, second = (r.headers["upload-metadata"] for r in fake.requests if r.method == "POST")
    assert "pow " in first and "pow " in second
    assert first != second  # a fresh challenge, not the same again


def test_a_second_proof_refusal_is_the_error() -> None:
    fake = FakeServer(pow_bits=4)
    fake.script("POST /api/v1/uploads/", problem(403, "pow-expired"), problem(403, "pow-expired"))
    with client_of(fake) as client, pytest.raises(ServerRefused) as refused:
        tus.create(client, BLOB, len(DATA))
    assert (refused.value.status, refused.value.problem) == (403, "pow-expired")
    assert fake.methods().count("POST /api/v1/uploads/") == 2


@pytest.mark.parametrize(
    ("status", "code"), [(413, "upload-quota-exceeded"), (400, "malformed-upload")]
)
def test_other_creation_refusals_are_not_retried(status: int, code: str) -> None:
    fake = FakeServer(pow_bits=4)
    fake.script("POST /api/v1/uploads/", problem(status, code))
    with client_of(fake) as client, pytest.raises(ServerRefused) as refused:
        tus.create(client, BLOB, len(DATA))
    assert str(refused.value) == f"creating an upload: the server answered {status} ({code})"
    assert fake.methods().count("POST /api/v1/uploads/") == 1


def test_an_upload_resumes_from_the_servers_offset_not_the_callers() -> None:
    fake2 = FakeServer()
    with client_of(fake2) as client:
        url = tus.create(client, BLOB, len(DATA))
        (upload,) = fake2.uploads.values()
        upload.data += DATA[:12_345]  # what a cut-off PATCH left on the server
        done = tus.upload(client, BLOB, len(DATA), read, resume=url)
    assert done.resumed and done.url == url and bytes(upload.data) == DATA
    patches = [r for r in fake2.requests if r.method == "PATCH"]
    assert patches[0].headers["upload-offset"] == "12345"


def test_a_resume_url_elsewhere_or_gone_makes_a_new_upload() -> None:
    fake = FakeServer()
    with client_of(fake) as client:
        elsewhere = tus.upload(
            client, BLOB, len(DATA), read, resume="https://evil.test/api/v1/uploads/x"
        )
        gone = tus.upload(
            client, BLOB, len(DATA), read, resume="http://fake.test/api/v1/uploads/gone"
        )
    assert not elsewhere.resumed and not gone.resumed
    assert all(r.url.host == "fake.test" for r in fake.requests)
    assert fake.methods().count("POST /api/v1/uploads/") == 2


def test_a_409_asks_the_offset_and_goes_on_from_there() -> None:
    fake = FakeServer()

    def took_some(request: httpx.Request) -> httpx.Response:
        # The server had received part of an earlier PATCH after all.
        (upload,) = fake.uploads.values()
        upload.data += DATA[:5_000]
        return problem(409, "upload-offset-mismatch")

    fake.script("PATCH", took_some)
    with client_of(fake) as client:
        tus.upload(client, BLOB, len(DATA), read)
    offsets = [r.headers["upload-offset"] for r in fake.requests if r.method == "PATCH"]
    assert offsets == ["0", "5000"]
    assert "HEAD" in [r.method for r in fake.requests]


def test_a_423_waits_then_asks_the_offset_without_sleeping_in_the_test() -> None:
    fake = FakeServer()
    fake.script("PATCH", problem(423, "upload-busy"), problem(423, "upload-busy"))
    pauses: list[float] = []
    with client_of(fake) as client:
        tus.upload(client, BLOB, len(DATA), read, sleep=pauses.append)
    assert pauses == [tus.BUSY_BACKOFF_SECONDS, 2 * tus.BUSY_BACKOFF_SECONDS]
    (upload,) = fake.uploads.values()
    assert bytes(upload.data) == DATA


def test_a_server_that_stays_busy_is_given_up_on_after_its_patience() -> None:
    """A 423 means another request is still receiving bytes for the upload (a
    stalled one lets go after the server's stall interval): the client waits
    well beyond that interval, then gives up with the server's code."""
    fake = FakeServer()
    fake.script("PATCH", *[problem(423, "upload-busy")] * 100)
    pauses: list[float] = []
    with client_of(fake) as client, pytest.raises(ServerRefused) as refused:
        tus.upload(client, BLOB, len(DATA), read, sleep=pauses.append)
    assert refused.value.problem == "upload-busy"
    assert 15 < sum(pauses) <= tus.BUSY_PATIENCE_SECONDS + tus.BUSY_BACKOFF_MAX_SECONDS
    assert max(pauses) == tus.BUSY_BACKOFF_MAX_SECONDS


def test_a_lock_released_after_some_seconds_lets_the_upload_go_on() -> None:
    fake = FakeServer()
    fake.script("PATCH", *[problem(423, "upload-busy")] * 6)  # about 12.75 s of pauses
    pauses: list[float] = []
    with client_of(fake) as client:
        tus.upload(client, BLOB, len(DATA), read, sleep=pauses.append)
    assert sum(pauses) > 10
    (upload,) = fake.uploads.values()
    assert bytes(upload.data) == DATA


def test_an_upload_gone_in_mid_transfer_is_upload_vanished() -> None:
    fake = FakeServer()

    def gone(request: httpx.Request) -> httpx.Response:
        fake.uploads.clear()
        return problem(409, "upload-offset-mismatch")

    fake.script("PATCH", gone)
    with client_of(fake) as client, pytest.raises(UploadVanished):
        tus.upload(client, BLOB, len(DATA), read)


def test_an_offset_that_does_not_advance_is_refused_rather_than_looped_on() -> None:
    fake = FakeServer()
    fake.script("PATCH", httpx.Response(204, headers={"Upload-Offset": "0"}))
    with client_of(fake) as client, pytest.raises(UnexpectedAnswer, match="did not advance"):
        tus.upload(client, BLOB, len(DATA), read)


def test_a_hash_mismatch_is_the_servers_refusal() -> None:
    fake = FakeServer()
    with client_of(fake) as client, pytest.raises(ServerRefused) as refused:
        tus.upload(client, "00" * 32, len(DATA), read)
    assert refused.value.problem == "upload-hash-mismatch"
    assert str(refused.value).startswith("uploading blob 000000000000: the server answered 422")


def test_a_file_is_read_in_pieces_and_a_shrunken_file_is_source_changed(tmp_path: Path) -> None:
    path = tmp_path / "ciphertext"
    path.write_bytes(DATA)
    fake = FakeServer()
    with client_of(fake) as client:
        tus.upload(client, BLOB, len(DATA), tus.file_reader(path), patch_bytes=64 << 10)
    (upload,) = fake.uploads.values()
    assert bytes(upload.data) == DATA
    pieces = list(tus.file_reader(path)(0, len(DATA)))
    assert max(len(piece) for piece in pieces) <= 1 << 16 and b"".join(pieces) == DATA
    path.write_bytes(DATA[:10])
    with pytest.raises(SourceChanged, match="ciphertext changed"):
        list(tus.file_reader(path)(0, len(DATA)))
