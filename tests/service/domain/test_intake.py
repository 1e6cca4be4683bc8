"""Intake rules without HTTP (docs/protocol.md §3 step 6): idempotency by content,
even for identical requests racing past the lookup; intake keys from the log."""

from __future__ import annotations

import concurrent.futures
import hashlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from testimony.crypto import hpke, submission
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.pow import solve
from testimony.crypto.receipts import verify_receipt
from testimony.service.domain.clock import FixedClock, Granularity
from testimony.service.domain.errors import (
    IncompleteBlob,
    ProofOfWorkReused,
    SubmissionConflict,
    UnknownBlob,
    UnknownIntakeKey,
)
from testimony.service.domain.intake import Intake, Submitted
from testimony.service.domain.log import intake_key_entry
from testimony.service.domain.pow import ProofOfWork, StoredSpentChallenges
from testimony.service.server import Server, open_server
from testimony.service.settings import Settings
from testimony.service.store.blob_index import BlobIndex
from testimony.service.store.projections import IntakeKeyTable, SubmissionKey, SubmissionTable
from tests.service.uploads_helpers import put_blob

DEADLINE = 60.0


@pytest.fixture
def server(initialised: Settings) -> Iterator[Server]:
    opened = open_server(initialised)
    yield opened
    opened.close()


def store_vector_blobs(server: Server, vector: dict[str, Any]) -> None:
    for blob_id, data in vector["blobs"].items():
        put_blob(server, b64u_decode(data), blob_id)


def test_a_first_submission_appends_and_a_repeat_does_not(
    server: Server, vector: dict[str, Any]
) -> None:
    store_vector_blobs(server, vector)
    first = server.intake.submit(vector["request"])
    again = server.intake.submit(vector["request"])
    assert (first.appended, again.appended) == (True, False)
    assert first.receipt == again.receipt
    assert server.log.size() == 2


def _content_key(request: dict[str, Any]) -> SubmissionKey:
    def sha(member: str) -> str:
        return hashlib.sha256(b64u_decode(request[member])).hexdigest()

    return SubmissionKey(request["intake_key"], sha("header"), sha("body"))


def test_a_duplicate_appended_past_the_lookup_an_hour_later_is_not_logged(
    server: Server, vector: dict[str, Any], clock: FixedClock
) -> None:
    store_vector_blobs(server, vector)
    first = server.intake.submit(vector["request"]).receipt
    size = server.log.size()
    # What a racing request that passed the lookup an hour later would append:
    # other bytes (its `received`), the same content key.
    later = submission.submission_entry(vector["request"], datetime(2026, 11, 25, 13, tzinfo=UTC))
    appended = server.batcher.submit(later, dedup_key=_content_key(vector["request"]))
    assert (appended.appended, appended.index) == (False, first.index)
    assert server.log.size() == size
    clock.advance(timedelta(hours=1))
    assert server.intake.submit(vector["request"]).receipt == first
    assert server.intake.receipt(first.index) == first


class RendezvousBatcher:
    """The server's batcher, but every submit waits until ``parties`` callers are there.

    So each of them has passed the intake's lookup before any appends.
    """

    def __init__(self, server: Server, parties: int) -> None:
        self._inner = server.batcher
        self._barrier = threading.Barrier(parties)
        self._lock = threading.Lock()
        self.arrived = 0

    def submit(self, entry: bytes, timeout: float | None = None, **kwargs: Any) -> Any:
        with self._lock:
            self.arrived += 1
        self._barrier.wait(DEADLINE)
        return self._inner.submit(entry, timeout, **kwargs)


def racing_intake(server: Server, clock: FixedClock, parties: int) -> tuple[Intake, Any]:
    batcher = RendezvousBatcher(server, parties)
    intake = Intake(
        log=server.log,
        batcher=batcher,  # type: ignore[arg-type]
        uploads=server.uploads,
        proof_of_work=server.proof_of_work,
        spent=StoredSpentChallenges(server.engine, clock=clock),
        intake_keys=IntakeKeyTable(server.engine),
        submissions=SubmissionTable(server.engine),
        clock=clock,
        granularity=Granularity(),
        max_attachments=16,
    )
    return intake, batcher


def _race(
    intake: Intake, batcher: RendezvousBatcher, clock: FixedClock, requests: list[dict[str, Any]]
) -> list[Submitted | BaseException]:
    """Submit ``requests`` on threads, the clock an hour later for each; all race the append."""
    outcomes: list[Submitted | BaseException] = []

    def submit(request: dict[str, Any]) -> Submitted:
        return intake.submit(request)

    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        futures = []
        for n, request in enumerate(requests):
            futures.append(pool.submit(submit, request))
            # Its `received` is read before it waits at the barrier: then move the clock.
            deadline = time.monotonic() + DEADLINE
            while batcher.arrived < n + 1:
                assert time.monotonic() < deadline, "a request never reached the append"
            clock.advance(timedelta(hours=1))
        for future in futures:
            try:
                outcomes.append(future.result(DEADLINE))
            except Exception as exc:
                outcomes.append(exc)
    return outcomes


def test_identical_requests_racing_across_an_hour_boundary_append_once(
    server: Server, vector: dict[str, Any], clock: FixedClock
) -> None:
    store_vector_blobs(server, vector)
    size = server.log.size()
    intake, batcher = racing_intake(server, clock, parties=2)
    outcomes = _race(intake, batcher, clock, [vector["request"], vector["request"]])
    assert all(isinstance(o, Submitted) for o in outcomes), outcomes
    submitted = [o for o in outcomes if isinstance(o, Submitted)]
    assert sorted(s.appended for s in submitted) == [False, True]
    assert submitted[0].receipt == submitted[1].receipt
    assert server.log.size() == size + 1
    verify_receipt(submitted[0].receipt.to_json(), server.signer.verifier_key)
    # Whichever won, a repeat answers the same receipt.
    assert server.intake.submit(vector["request"]).receipt == submitted[0].receipt


def test_racing_requests_with_one_content_but_other_witness_keys_conflict(
    server: Server, vector: dict[str, Any], clock: FixedClock
) -> None:
    store_vector_blobs(server, vector)
    size = server.log.size()
    other = {**vector["request"], "witness": None, "witness_box": None}
    intake, batcher = racing_intake(server, clock, parties=2)
    outcomes = _race(intake, batcher, clock, [vector["request"], other])
    assert sum(isinstance(o, Submitted) and o.appended for o in outcomes) == 1
    assert sum(isinstance(o, SubmissionConflict) for o in outcomes) == 1
    assert server.log.size() == size + 1


def test_many_threads_racing_one_request_append_once(
    server: Server, vector: dict[str, Any], clock: FixedClock
) -> None:
    store_vector_blobs(server, vector)
    size = server.log.size()
    intake, batcher = racing_intake(server, clock, parties=6)
    outcomes = _race(intake, batcher, clock, [vector["request"]] * 6)
    submitted = [o for o in outcomes if isinstance(o, Submitted)]
    assert len(submitted) == 6, outcomes
    assert sum(s.appended for s in submitted) == 1
    assert len({s.receipt for s in submitted}) == 1
    assert server.log.size() == size + 1


def test_a_submission_may_be_sealed_to_any_intake_key_the_log_names(
    server: Server, vector: dict[str, Any], intake_public: bytes
) -> None:
    store_vector_blobs(server, vector)
    rotated = hpke.public_key(bytes(range(32)))
    request = {**vector["request"], "intake_key": hpke.key_id(rotated)}
    with pytest.raises(UnknownIntakeKey):
        server.intake.submit(request)
    # Another intake-key entry (a rotation), appended by any process.
    server.batcher.submit(intake_key_entry(rotated, datetime(2026, 11, 25, 12, tzinfo=UTC)))
    assert server.intake.submit(request).appended
    assert server.intake.submit(vector["request"]).appended  # the first key still counts
    assert list(server.intake.intake_keys.items()) == [
        (hpke.key_id(intake_public), intake_public),
        (hpke.key_id(rotated), rotated),
    ]


def test_a_blob_still_uploading_is_incomplete_and_an_unknown_one_unknown(
    server: Server, vector: dict[str, Any]
) -> None:
    blobs = list(vector["blobs"].items())
    put_blob(server, b64u_decode(blobs[0][1]), blobs[0][0])
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


class ExpiringBatcher:
    """The server's batcher, but blob ``blob_id`` expires just before each submit:
    after the intake checked it, before the append claims it."""

    def __init__(self, server: Server, blob_id: str) -> None:
        self._inner = server.batcher
        self._index = BlobIndex(server.engine)
        self._blob_id = blob_id

    def submit(self, entry: bytes, timeout: float | None = None, **kwargs: Any) -> Any:
        assert self._index.delete_unreferenced(self._blob_id, cutoff=2**40)
        return self._inner.submit(entry, timeout, **kwargs)


def _intake(
    server: Server, clock: FixedClock, batcher: Any, proof_of_work: ProofOfWork | None = None
) -> Intake:
    return Intake(
        log=server.log,
        batcher=batcher,
        uploads=server.uploads,
        proof_of_work=proof_of_work or server.proof_of_work,
        spent=StoredSpentChallenges(server.engine, clock=clock),
        intake_keys=IntakeKeyTable(server.engine),
        submissions=SubmissionTable(server.engine),
        clock=clock,
        granularity=Granularity(),
        max_attachments=16,
    )


def test_a_blob_expired_after_the_check_is_unknown_and_nothing_is_appended(
    server: Server, vector: dict[str, Any], clock: FixedClock
) -> None:
    store_vector_blobs(server, vector)
    size = server.log.size()
    expired = next(iter(vector["blobs"]))
    intake = _intake(server, clock, ExpiringBatcher(server, expired))
    with pytest.raises(UnknownBlob) as unknown:
        intake.submit(vector["request"])
    assert expired in str(unknown.value)
    assert server.log.size() == size
    store_vector_blobs(server, vector)  # uploaded again: now it is accepted
    assert server.intake.submit(vector["request"]).appended
    assert BlobIndex(server.engine).is_referenced(expired) is True


def test_a_challenge_used_by_racing_submissions_is_spent_once(
    server: Server, vector: dict[str, Any], clock: FixedClock
) -> None:
    store_vector_blobs(server, vector)
    size = server.log.size()
    proof_of_work = ProofOfWork(
        secret=b"k" * 32, bits=4, ttl_seconds=600, clock=clock, granularity=Granularity()
    )
    challenge = proof_of_work.issue()
    request = {
        **vector["request"],
        "pow": {"challenge": challenge.challenge, "nonce": solve(challenge.challenge, 4)},
    }
    batcher = RendezvousBatcher(server, 2)  # both pass every check before either appends
    intake = _intake(server, clock, batcher, proof_of_work)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(intake.submit, request) for _ in range(2)]
        outcomes: list[object] = []
        for future in futures:
            try:
                outcomes.append(future.result(DEADLINE))
            except ProofOfWorkReused as exc:
                outcomes.append(exc)
    appended = [o for o in outcomes if isinstance(o, Submitted)]
    assert len(appended) == 1 and appended[0].appended
    assert sum(isinstance(o, ProofOfWorkReused) for o in outcomes) == 1
    assert server.log.size() == size + 1
    verify_receipt(appended[0].receipt.to_json(), server.signer.verifier_key)
