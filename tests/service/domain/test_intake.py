"""Intake rules without HTTP (PROTOCOL.md §3 step 6): idempotency by content."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from testimony.crypto import submission
from testimony.crypto.encoding import b64u_decode
from testimony.service.domain.clock import FixedClock
from testimony.service.domain.errors import IncompleteBlob, MalformedUpload, UnknownBlob
from testimony.service.domain.setup import Server, open_server
from testimony.service.domain.uploads import parse_metadata
from testimony.service.settings import Settings


@pytest.fixture
def server(initialised: Settings) -> Iterator[Server]:
    opened = open_server(initialised)
    yield opened
    opened.close()


def store_vector_blobs(server: Server, vector: dict[str, Any]) -> None:
    for blob_id, data in vector["blobs"].items():
        server.uploads.put_blob(b64u_decode(data), blob_id)


def test_a_first_submission_appends_and_a_repeat_does_not(
    server: Server, vector: dict[str, Any]
) -> None:
    store_vector_blobs(server, vector)
    first = server.intake.submit(vector["request"])
    again = server.intake.submit(vector["request"])
    assert (first.appended, again.appended) == (True, False)
    assert first.receipt == again.receipt
    assert server.log.size() == 2


def test_a_racing_duplicate_in_a_later_hour_answers_the_first_receipt(
    server: Server, vector: dict[str, Any], clock: FixedClock
) -> None:
    store_vector_blobs(server, vector)
    first = server.intake.submit(vector["request"]).receipt
    # A racing request of the same content was appended an hour later, past
    # the lookup: the log holds both, and every answer names the first.
    later = submission.submission_entry(vector["request"], datetime(2026, 11, 25, 13, tzinfo=UTC))
    server.batcher.submit(later)
    clock.advance(timedelta(hours=1))
    assert server.intake.submit(vector["request"]).receipt == first
    assert server.intake.receipt(first.index) == first


def test_a_blob_still_uploading_is_incomplete_and_an_unknown_one_unknown(
    server: Server, vector: dict[str, Any]
) -> None:
    blobs = list(vector["blobs"].items())
    server.uploads.put_blob(b64u_decode(blobs[0][1]), blobs[0][0])
    with pytest.raises(UnknownBlob) as unknown:
        server.intake.submit(vector["request"])
    assert blobs[1][0] in str(unknown.value)
    data = b64u_decode(blobs[1][1])
    upload = server.uploads.create(len(data), blobs[1][0])
    server.uploads.append(upload.id, 0, [data[:10]])
    with pytest.raises(IncompleteBlob):
        server.intake.submit(vector["request"])
    server.uploads.append(upload.id, 10, [data[10:]])
    assert server.intake.submit(vector["request"]).appended


SHA = base64.b64encode(b"ab" * 32).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"sha256 {SHA}", "ab" * 32),
        (f"filename eC5qcGc=,sha256 {SHA}", "ab" * 32),
        (f"sha256 {SHA},flag", "ab" * 32),
        ("sha256 NjE2MjYz", None),
        (f"sha256 {SHA},sha256 {SHA}", None),
        (f"sha256  {SHA}", None),
        ("", None),
        (None, None),
    ],
)
def test_upload_metadata_names_the_blob(header: str | None, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(MalformedUpload):
            parse_metadata(header)
    else:
        assert parse_metadata(header) == expected
