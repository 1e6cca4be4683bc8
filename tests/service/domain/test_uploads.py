"""Upload and blob expiry (docs/protocol.md §6): unreferenced blobs go; the header,
body and attachments of a logged submission stay, even after the projections
are rebuilt; a blob a submission has claimed does not expire under it. The
difficulty rule of an upload's proof of work (§6, §8), with figures at the
default settings, and the plain values the domain takes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from testimony.crypto.encoding import b64u_decode
from testimony.crypto.pow import solve
from testimony.service.domain.clock import FixedClock, Granularity
from testimony.service.domain.errors import (
    BlobTooLarge,
    ProofOfWorkInvalid,
    ProofOfWorkRequired,
    UnknownBlob,
    UploadQuotaExceeded,
)
from testimony.service.domain.pow import ProofOfWork, upload_difficulty
from testimony.service.domain.uploads import BlobState
from testimony.service.server import Server, open_server
from testimony.service.settings import Settings
from testimony.service.store import db
from testimony.service.store.projections import rebuild_projections
from tests.service.uploads_helpers import claim_blobs, put_blob


@pytest.fixture
def server(initialised: Settings) -> Iterator[Server]:
    opened = open_server(initialised.replace(unreferenced_blob_expiry_seconds=3600))
    yield opened
    opened.close()


def test_unreferenced_blobs_expire_and_a_submissions_blobs_stay(
    server: Server, vector: dict[str, Any], clock: FixedClock
) -> None:
    for blob_id, data in vector["blobs"].items():
        put_blob(server, b64u_decode(data), blob_id)
    server.intake.submit(vector["request"])
    stray = os.urandom(100)
    stray_id = hashlib.sha256(stray).hexdigest()
    put_blob(server, stray, stray_id)
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
        put_blob(server, b64u_decode(data), blob_id)
    # Almost expired when a submission names them (and claims them) ...
    clock.advance(timedelta(hours=1))
    states = claim_blobs(server, list(vector["blobs"]))
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
        put_blob(server, b64u_decode(data), blob_id)
    clock.advance(timedelta(hours=3))
    assert server.uploads.expire() == len(vector["blobs"])
    with pytest.raises(UnknownBlob):
        server.intake.submit(vector["request"])
    assert not any(server.blobs.exists(blob_id) for blob_id in vector["blobs"])


# --- the upload budget and its proof of work (§6, §8) -----------------------------------


MiB = 1 << 20
GiB = 1 << 30
BUDGET = 64 * GiB  # the defaults: a 64 GiB budget counted in units of 1 MiB


@pytest.mark.parametrize(
    ("length", "used", "bits"),
    [
        (1, 0, 16),  # a photo, or a 1-byte flood, on an empty server: the base
        (MiB, 0, 16),
        (MiB + 1, 0, 17),  # two units
        (100 * MiB, 0, 16 + 7),  # a video: one bit per doubling
        (4 * GiB, 0, 16 + 12),  # the largest blob
        (MiB, BUDGET // 8 - MiB, 17),  # one more bit per tenth of the budget taken
        (MiB, BUDGET // 2 - MiB, 16 + 5),
        (MiB, BUDGET - MiB, 16 + 10),  # the last unit
        (4 * GiB, BUDGET - 4 * GiB, 16 + 12 + 10),
    ],
)
def test_the_difficulty_rule(length: int, used: int, bits: int) -> None:
    units = -(-max(length, MiB) // MiB)
    assert (
        upload_difficulty(16, units=units, used=used + units * MiB, budget=BUDGET, load_bits=10)
        == bits
    )


def test_the_difficulty_is_capped_and_off_means_off() -> None:
    assert upload_difficulty(60, units=1 << 20, used=1, budget=1, load_bits=10) == 64
    assert upload_difficulty(0, units=4096, used=BUDGET, budget=BUDGET, load_bits=10) == 0


def test_filling_the_budget_costs_far_more_than_the_base_price() -> None:
    """What a flood of 1-unit creations pays to fill the default budget,
    against the same creations at the base price (and the price of the last)."""
    units = BUDGET // MiB
    paid = sum(
        2 ** upload_difficulty(16, units=1, used=n * MiB, budget=BUDGET, load_bits=10)
        for n in range(1, units + 1)
    )
    flat = units * 2**16
    assert 100 < paid / flat < 110  # (2**10 - 1) / 10 on average: about 102 times
    assert paid > 4 * 10**11  # hashes: hours of one CPU core, for 3 hours' hold


def test_a_challenge_for_more_work_lives_longer(clock: FixedClock) -> None:
    """A phone's browser hashes about 2**18 times a second: a challenge lives
    four times its expected solving time there (at least `pow_ttl_seconds`,
    at most a day)."""
    pow_ = ProofOfWork(
        secret=b"k" * 32, bits=16, ttl_seconds=600, clock=clock, granularity=Granularity()
    )
    now = clock.now()
    assert pow_.issue().expires - now == timedelta(seconds=600)
    assert pow_.issue(bits=24).expires - now == timedelta(seconds=600)
    assert pow_.issue(bits=26).expires - now == timedelta(seconds=1024)
    assert pow_.issue(bits=28).expires - now == timedelta(seconds=4096)
    assert pow_.issue(bits=40).expires - now == timedelta(days=1)
    assert pow_.issue(bits=30).bits == 30
    assert pow_.ttl_for(32) == 4 << 14


def test_the_domain_takes_plain_values(initialised: Settings) -> None:
    """The length, the blob id and the proof, as the API read them from tus."""
    opened = open_server(
        initialised.replace(pow_bits=4, upload_unit_bytes=1_000, upload_budget_bytes=10_000)
    )
    try:
        data = os.urandom(2_000)
        blob_id = hashlib.sha256(data).hexdigest()
        with pytest.raises(ProofOfWorkRequired):
            opened.uploads.create(len(data), blob_id)
        with pytest.raises(ProofOfWorkInvalid):
            opened.uploads.create(len(data), blob_id, {})
        challenge = opened.uploads.challenge(len(data))
        assert challenge.bits == 4 + 1 + 2  # two units; 2/10 of the budget taken after
        proof = {"challenge": challenge.challenge, "nonce": solve(challenge.challenge, 7)}
        state = opened.uploads.create(len(data), blob_id, proof)
        assert opened.uploads.append(state.id, 0, [data]).finished
        assert opened.uploads.budget_used() == 2_000
        with pytest.raises(BlobTooLarge):
            opened.uploads.challenge(opened.uploads.limits.max_blob_bytes + 1)
        with pytest.raises(UploadQuotaExceeded):
            opened.uploads.challenge(9_000)
    finally:
        opened.close()
