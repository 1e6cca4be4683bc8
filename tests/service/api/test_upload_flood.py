"""Issue 12 item 2: one anonymous client could lock every witness out of uploads
with a burst of free ``POST /api/v1/uploads/`` of one byte each. Now every
creation pays a proof of work (docs/protocol.md §6, §8) that grows with the
share of the upload budget taken, so a flood stalls at the price it is willing
to pay, well before the budget is full, and a witness willing to pay a little
more still uploads her attachments and submits.

Bounded: a few hundred creations at a base difficulty of 3 bits, on loopback
inside the process (``TestClient``); nothing sleeps.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from testimony.crypto.pow import solve
from testimony.service.api.app import create_app
from testimony.service.settings import Settings
from tests.service.api.witness_client import WitnessClient
from tests.service.intake_support import TUS, TestClient, assert_problem

BASE_BITS = 3
LOAD_BITS = 8
UNIT = 4_096
BUDGET = 256 * UNIT  # 1 MiB: room for 256 one-unit uploads
ORIGIN = "test.invalid/log"


@pytest.fixture
def database_url() -> None:
    """SQLite in the data dir."""
    return None


@pytest.fixture
def server(initialised: Settings) -> Iterator[TestClient]:
    settings = initialised.replace(
        pow_bits=BASE_BITS,
        upload_unit_bytes=UNIT,
        upload_budget_bytes=BUDGET,
        pow_upload_load_bits=LOAD_BITS,
        max_blob_bytes=BUDGET,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _metadata(blob_id: str, proof: str | None) -> str:
    text = "sha256 " + base64.b64encode(blob_id.encode()).decode()
    if proof is not None:
        text += ",pow " + base64.b64encode(proof.encode()).decode()
    return text


@dataclass
class Flooder:
    """Creates 1-byte uploads of distinct ids, as issue 12 item 2 did, solving
    what the server asks up to ``max_bits`` per creation."""

    client: TestClient
    max_bits: int
    created: int = 0
    hashes: float = 0.0  # expected hashes spent: 2**bits per solved challenge
    asked: list[int] = field(default_factory=list)

    def offer(self) -> dict[str, Any]:
        answer = self.client.get("/api/v1/pow", params={"length": 1})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def create(self, challenge: dict[str, Any]) -> Any:
        proof = f"{challenge['challenge']}:{solve(challenge['challenge'], challenge['bits'])}"
        self.hashes += 2.0 ** challenge["bits"]
        return self.client.post(
            "/api/v1/uploads/",
            headers={
                **TUS,
                "Upload-Length": "1",
                "Upload-Metadata": _metadata(os.urandom(32).hex(), proof),
            },
        )

    def flood(self, attempts: int) -> None:
        for _ in range(attempts):
            challenge = self.offer()
            self.asked.append(challenge["bits"])
            if challenge["bits"] > self.max_bits:
                continue  # too dear for this flooder; it keeps asking
            answer = self.create(challenge)
            assert answer.status_code == 201, answer.text
            self.created += 1


def test_a_flood_stalls_at_its_price_and_a_witness_still_submits(
    server: TestClient, intake_public: bytes
) -> None:
    uploads = server.app.state.server.uploads
    # Unpaid creations are refused outright.
    no_proof = server.post(
        "/api/v1/uploads/",
        headers={**TUS, "Upload-Length": "1", "Upload-Metadata": _metadata("ab" * 32, None)},
    )
    assert_problem(no_proof, 403, "pow-required")

    # A flooder that pays up to 5 bits above the base, 300 tries.
    flooder = Flooder(server, max_bits=BASE_BITS + 5)
    flooder.flood(300)
    # One more bit per eighth of the budget taken: it stalls once 6/8 is taken.
    assert flooder.asked == sorted(flooder.asked)
    assert flooder.asked[0] == BASE_BITS and flooder.asked[-1] == BASE_BITS + 6
    assert flooder.created == 191  # the 192nd would leave 192/256 = 6/8 taken
    assert uploads.budget_used() == 191 * UNIT
    # What it paid, against the same creations at the base price.
    assert flooder.hashes > 10 * flooder.created * 2**BASE_BITS

    # The witness: two attachments (about 20 KiB and 300 bytes) and the
    # submission, each paid at the price asked.
    witness = WitnessClient(
        server, log_key=server.get("/api/v1/log/key").text.strip(), origin=ORIGIN
    )
    sealed = witness.seal(
        intake_public,
        {"photo.jpg": os.urandom(20_000), "note.txt": os.urandom(300)},
        {"what": "a flood did not keep me out"},
    )
    photo = max(len(blob) for blob in sealed.blobs.values())  # six units
    price = server.get("/api/v1/pow", params={"length": photo}).json()["bits"]
    assert price == BASE_BITS + 3 + 6  # 2**12 hashes: well within a phone's reach
    before = uploads.budget_used()
    receipt = witness.submit(sealed)
    assert receipt["index"] >= 1
    # Her blobs are named by a logged entry: they leave the budget again.
    assert uploads.budget_used() == before


def test_a_stockpile_of_cheap_challenges_buys_one_step(server: TestClient) -> None:
    """Challenges fetched while the budget was empty, solved at the base price,
    are refused (403 pow-insufficient) once the price has risen two bits."""
    flooder = Flooder(server, max_bits=64)
    stockpile = [flooder.offer() for _ in range(100)]
    assert {challenge["bits"] for challenge in stockpile} == {BASE_BITS}
    outcomes = []
    for challenge in stockpile:
        answer = flooder.create(challenge)
        outcomes.append(answer.status_code)
        if answer.status_code != 201:
            assert_problem(answer, 403, "pow-insufficient")
    # Accepted while the price is at most base + 1: until 2/8 of the budget.
    assert outcomes.count(201) == 63
    assert outcomes == [201] * 63 + [403] * 37


def test_with_proof_of_work_off_the_budget_is_a_plain_cap(initialised: Settings) -> None:
    settings = initialised.replace(
        pow_bits=0, upload_unit_bytes=UNIT, upload_budget_bytes=16 * UNIT
    )
    with TestClient(create_app(settings)) as client:
        statuses = [
            client.post(
                "/api/v1/uploads/",
                headers={
                    **TUS,
                    "Upload-Length": "1",
                    "Upload-Metadata": _metadata(hashlib.sha256(os.urandom(8)).hexdigest(), None),
                },
            ).status_code
            for _ in range(20)
        ]
    assert statuses == [201] * 16 + [413] * 4
