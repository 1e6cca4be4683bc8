"""Upload and blob expiry (docs/protocol.md §6): unreferenced blobs go; the header,
body and attachments of a logged submission stay, even after the projections
are rebuilt; a blob a submission has claimed does not expire under it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from testimony.crypto.encoding import b64u_decode
from testimony.service.domain.clock import FixedClock
from testimony.service.domain.errors import UnknownBlob
from testimony.service.domain.uploads import BlobState
from testimony.service.server import Server, open_server
from testimony.service.settings import Settings
from testimony.service.store import db
from testimony.service.store.projections import rebuild_projections


@pytest.fixture
def server(initialised: Settings) -> Iterator[Server]:
    opened = open_server(initialised.replace(unreferenced_blob_expiry_seconds=3600))
    yield opened
    opened.close()


def test_unreferenced_blobs_expire_and_a_submissions_blobs_stay(
    server: Server, vector: dict[str, Any], clock: FixedClock
) -> None:
    for blob_id, data in vector["blobs"].items():
        server.uploads.put_blob(b64u_decode(data), blob_id)
    server.intake.submit(vector["request"])
    stray = os.urandom(100)
    stray_id = hashlib.sha256(stray).hexdigest()
    server.uploads.put_blob(stray, stray_id)
    # A rebuild clears every `referenced` flag and sets it again from the log.
    with db.writer_session(server.engine) as session:
        rebuild_projections(session)
    named = [
        *vector["blobs"],
        hashlib.sha256(b64u_decode(vector["request"]["header"])).hexdigest(),
        hashlib.sha256(b64u_decode(vector["request"]["body"])).hexdigest(),
    ]

    clock.advance(timedelta(minutes=30))
    server.uploads.expire()
    assert server.blobs.exists(stray_id)

    clock.advance(timedelta(hours=2))
    server.uploads.expire()
    assert not server.blobs.exists(stray_id)
    assert all(server.blobs.exists(blob_id) for blob_id in named)


def test_a_claimed_blob_does_not_expire_before_its_submission_is_appended(
    server: Server, vector: dict[str, Any], clock: FixedClock
) -> None:
    for blob_id, data in vector["blobs"].items():
        server.uploads.put_blob(b64u_decode(data), blob_id)
    # Almost expired when a submission names them (and claims them) ...
    clock.advance(timedelta(hours=1))
    states = server.uploads.claim_blobs(list(vector["blobs"]))
    assert set(states.values()) == {BlobState.COMPLETE}
    # ... so expiry, running before the append, leaves them alone.
    clock.advance(timedelta(hours=1))
    server.uploads.expire()
    assert all(server.blobs.exists(blob_id) for blob_id in vector["blobs"])
    assert server.intake.submit(vector["request"]).appended
    clock.advance(timedelta(days=30))
    server.uploads.expire()
    assert all(server.blobs.exists(blob_id) for blob_id in vector["blobs"])


def test_an_expired_blob_is_unknown_to_a_submission(
    server: Server, vector: dict[str, Any], clock: FixedClock
) -> None:
    for blob_id, data in vector["blobs"].items():
        server.uploads.put_blob(b64u_decode(data), blob_id)
    clock.advance(timedelta(hours=3))
    assert server.uploads.expire() == len(vector["blobs"])
    with pytest.raises(UnknownBlob):
        server.intake.submit(vector["request"])
    assert not any(server.blobs.exists(blob_id) for blob_id in vector["blobs"])
