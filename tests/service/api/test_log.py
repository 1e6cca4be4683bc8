"""The log's endpoints (docs/protocol.md §9): checkpoint, key, proofs, entries."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from testimony.crypto import checkpoint, merkle
from testimony.crypto.encoding import b64u_decode
from tests.service.api.witness_client import WitnessClient
from tests.service.intake_support import TestClient, assert_problem

ORIGIN = "test.invalid/log"


def grow(client: TestClient, intake_public: bytes, count: int) -> list[dict[str, Any]]:
    key = client.get("/api/v1/log/key").text.strip()
    me = WitnessClient(client, log_key=key, origin=ORIGIN)
    return [me.submit(me.seal(intake_public, {}, {"n": n})) for n in range(count)]


def test_the_checkpoint_is_signed_text_that_verifies_with_the_key(client: TestClient) -> None:
    answer = client.get("/api/v1/log/checkpoint")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    key = client.get("/api/v1/log/key")
    assert key.headers["content-type"].startswith("text/plain")
    signed = checkpoint.verify(answer.text, key.text.strip(), origin=ORIGIN)
    assert signed.size == 1
    # Times at rest are coarse: the clock says 12:34:56, the checkpoint 12:00:00.
    assert signed.time.isoformat() == "2026-11-25T12:00:00+00:00"


def test_inclusion_and_consistency_proofs_verify(client: TestClient, intake_public: bytes) -> None:
    key = client.get("/api/v1/log/key").text.strip()
    old = checkpoint.verify(client.get("/api/v1/log/checkpoint").text, key, origin=ORIGIN)
    receipts = grow(client, intake_public, 5)
    new = checkpoint.verify(client.get("/api/v1/log/checkpoint").text, key, origin=ORIGIN)
    assert new.size == 6
    for receipt in receipts:
        proof = client.get(
            "/api/v1/log/proof/inclusion", params={"id": receipt["id"], "size": new.size}
        ).json()
        assert proof["index"] == receipt["index"] and proof["size"] == new.size
        merkle.verify_inclusion(
            proof["index"],
            new.size,
            bytes.fromhex(receipt["id"]),
            [bytes.fromhex(p) for p in proof["path"]],
            new.root,
        )
    proof = client.get("/api/v1/log/proof/consistency", params={"from": old.size, "to": 6}).json()
    assert (proof["from"], proof["to"]) == (old.size, 6)
    merkle.verify_consistency(
        old.size, 6, old.root, new.root, [bytes.fromhex(p) for p in proof["path"]]
    )


def test_entries_are_served_in_bounded_pages(client: TestClient, intake_public: bytes) -> None:
    receipts = grow(client, intake_public, 3)
    entries = client.get("/api/v1/log/entries", params={"start": 1, "end": 4}).json()["entries"]
    assert [hashlib.sha256(b"\x00" + b64u_decode(e)).hexdigest() for e in entries] == [
        r["id"] for r in receipts
    ]
    page = client.app.state.server.settings.max_log_entries_page
    answer = client.get("/api/v1/log/entries", params={"start": 0, "end": page + 1})
    assert_problem(answer, 400, "bad-tree-range")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("inclusion", {"id": "00" * 32, "size": 1}, 404, "entry-not-found"),
        ("inclusion", {"id": "zz", "size": 1}, 400, "bad-tree-range"),
        ("inclusion", {"id": "FIRST", "size": 2}, 400, "bad-tree-range"),
        ("inclusion", {"id": "FIRST", "size": 0}, 400, "bad-tree-range"),
        ("inclusion", {"id": "FIRST", "size": "x"}, 400, "invalid-request"),
        ("inclusion", {"size": 1}, 400, "invalid-request"),
        ("consistency", {"from": 0, "to": 1}, 400, "bad-tree-range"),
        ("consistency", {"from": 1, "to": 2}, 400, "bad-tree-range"),
        ("consistency", {"from": 2, "to": 1}, 400, "bad-tree-range"),
        ("entries", {"start": 0, "end": 2}, 400, "bad-tree-range"),
        ("entries", {"start": 1, "end": 1}, 400, "bad-tree-range"),
        ("entries", {"start": -1, "end": 1}, 400, "bad-tree-range"),
    ],
)
def test_out_of_range_requests_are_problems(
    client: TestClient, path: str, params: dict[str, Any], status: int, code: str
) -> None:
    first = hashlib.sha256(b"\x00" + client.app.state.server.log.entry(0)).hexdigest()
    params = {k: (first if v == "FIRST" else v) for k, v in params.items()}
    url = f"/api/v1/log/{path}" if path == "entries" else f"/api/v1/log/proof/{path}"
    assert_problem(client.get(url, params=params), status, code)
