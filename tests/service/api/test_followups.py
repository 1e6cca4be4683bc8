"""POST /api/v1/followups and the replies exchange (docs/protocol.md §7, §9, §10), over the
real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from testimony.crypto import canonical, followup, hpke, receipt, submission
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.entries import FollowupEntry
from testimony.crypto.errors import SignatureError
from testimony.crypto.receipts import verify_receipt
from testimony.service.domain.clock import FixedClock
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings
from tests.reviewers_support import Org, admin_session, reply
from tests.service.api.witness_client import WitnessClient
from tests.service.intake_support import TestClient, assert_problem, log_size

ORIGIN = "test.invalid/log"
ALICE = receipt.derive("1111-2222-3333-4444-5555")
BOB = receipt.derive("9999-8888-7777-6666-5555")


def log_key(client: TestClient) -> str:
    return str(client.get("/api/v1/log/key").text.strip())


def submit(client: TestClient, intake_public: bytes, keys: receipt.WitnessKeys | None) -> str:
    """A submission (with ``keys``' witness keys, or none); returns its id."""
    me = WitnessClient(client, log_key=log_key(client), origin=ORIGIN)
    sealed = me.seal(intake_public, {}, {"q": "what I saw"})
    if keys is not None:
        sealed.request["witness"] = keys.witness_b64u
        sealed.request["witness_box"] = keys.witness_box_b64u
    return str(me.submit(sealed)["id"])


def followup_request(
    client: TestClient,
    intake_public: bytes,
    parent: str,
    keys: receipt.WitnessKeys,
    *,
    text: str = "I remembered more",
    files: dict[str, bytes] | None = None,
) -> dict[str, Any]:
    me = WitnessClient(client, log_key=log_key(client), origin=ORIGIN)
    sealed_files = [
        submission.seal_attachment(data, name=name, media_type="image/jpeg")
        for name, data in (files or {}).items()
    ]
    for attachment in sealed_files:
        me.upload(attachment.ciphertext)
    manifest = followup.followup_manifest(text, [a.descriptor for a in sealed_files])
    sealed = submission.seal_submission(intake_public, manifest)
    request = followup.followup_request(
        sealed, parent=parent, attachments=[a.blob for a in sealed_files]
    )
    return followup.sign_followup(keys, request)


def test_a_followup_is_logged_and_its_receipt_verifies(
    client: TestClient, intake_public: bytes
) -> None:
    parent = submit(client, intake_public, ALICE)
    request = followup_request(client, intake_public, parent, ALICE, files={"p.jpg": b"\xff" * 999})
    answer = client.post("/api/v1/followups", json=request)
    assert answer.status_code == 201, answer.text
    logged = answer.json()
    verified = verify_receipt(logged, log_key(client), origin=ORIGIN, request=request)
    entry = verified.entry_object
    assert entry["type"] == "followup"
    assert entry["parent"] == parent
    assert entry["witness"] == ALICE.witness_b64u
    assert entry["signature"] == request["signature"]
    assert entry["received"] == "2026-11-25T12:00:00Z"
    # The request can be rebuilt from the entry and the kept ciphertexts.
    blobs = client.app.state.server.blobs
    header = b"".join(blobs.read(entry["header"]))
    assert b64u_encode(header) == request["header"]
    assert b"".join(blobs.read(entry["body"])) == b64u_decode(request["body"])
    # A receipt for someone else's request does not verify as ours.
    other = followup_request(client, intake_public, parent, ALICE, text="other")
    with pytest.raises(Exception, match="does not name"):
        verify_receipt(logged, log_key(client), origin=ORIGIN, request=other)


def test_a_repeat_appends_once_and_answers_the_same_receipt(
    client: TestClient, intake_public: bytes, clock: FixedClock
) -> None:
    parent = submit(client, intake_public, ALICE)
    request = followup_request(client, intake_public, parent, ALICE)
    first = client.post("/api/v1/followups", json=request)
    size = log_size(client)
    clock.advance(timedelta(hours=3))
    again = client.post("/api/v1/followups", json=request)
    assert again.status_code == 201
    assert again.content == first.content
    # Sent again with another proof of work (ignored: it is off here): `pow`
    # is not signed (v1.1), so signing again gives the same signature, and the
    # first receipt answers.
    retry = {**request, "pow": {"challenge": "AA", "nonce": "AA"}}
    assert followup.sign_followup(ALICE, retry)["signature"] == request["signature"]
    assert client.post("/api/v1/followups", json=retry).content == first.content
    verify_receipt(first.json(), log_key(client), origin=ORIGIN, request=retry)
    assert log_size(client) == size


def test_the_logged_entry_s_signature_verifies_from_the_entry_alone(
    client: TestClient, intake_public: bytes
) -> None:
    parent = submit(client, intake_public, ALICE)
    request = followup_request(client, intake_public, parent, ALICE, files={"p.jpg": b"\xfe" * 99})
    assert client.post("/api/v1/followups", json=request).status_code == 201
    # What anyone reads from the public log, and nothing else.
    size = log_size(client)
    entries = client.get("/api/v1/log/entries", params={"start": 0, "end": size}).json()
    logged = b64u_decode(entries["entries"][-1])
    entry = FollowupEntry.parse(logged)
    assert entry.witness == ALICE.witness and b64u_encode(entry.signature) == request["signature"]
    followup.verify_followup_entry(logged)
    # The signed bytes are the entry's own members (no `pow`, no ciphertext needed).
    assert followup.entry_signed_bytes(entry) == followup.signed_bytes(request)
    # An entry claiming another witness key does not verify.
    forged = canonical.dumps({**json.loads(logged), "witness": BOB.witness_b64u})
    with pytest.raises(SignatureError):
        followup.verify_followup_entry(forged)


def test_the_same_content_with_other_attachments_or_signature_is_a_conflict(
    client: TestClient, intake_public: bytes
) -> None:
    parent = submit(client, intake_public, ALICE)
    request = followup_request(client, intake_public, parent, ALICE, files={"p.jpg": b"\xfd" * 99})
    assert client.post("/api/v1/followups", json=request).status_code == 201
    size = log_size(client)
    # The same header and body, naming no attachment, signed for that.
    other = followup.sign_followup(ALICE, {**request, "attachments": []})
    assert_problem(client.post("/api/v1/followups", json=other), 409, "followup-conflict")
    # Another valid signature of the same content (a randomised signer's, not
    # RFC 8032's deterministic one): the log holds the first, so it is refused.
    hedged = {**request, "signature": b64u_encode(_hedged_signature(ALICE, request))}
    assert hedged["signature"] != request["signature"]
    followup.verify_followup(ALICE.witness, hedged)
    assert_problem(client.post("/api/v1/followups", json=hedged), 409, "followup-conflict")
    assert log_size(client) == size


def _hedged_signature(keys: receipt.WitnessKeys, request: dict[str, Any]) -> bytes:
    """An Ed25519 signature of the follow-up with a random nonce: valid, and
    not the deterministic one (RFC 8032 §5.1.6 with r drawn at random)."""
    from nacl import bindings

    message = followup.signed_bytes(request)
    seed = keys.signing_key.private_bytes_raw()
    scalar = bytearray(hashlib.sha512(seed).digest()[:32])
    scalar[0] &= 248
    scalar[31] &= 127
    scalar[31] |= 64
    a = bindings.crypto_core_ed25519_scalar_reduce(bytes(scalar) + bytes(32))
    r = bindings.crypto_core_ed25519_scalar_reduce(os.urandom(64))
    big_r = bindings.crypto_scalarmult_ed25519_base_noclamp(r)
    k = bindings.crypto_core_ed25519_scalar_reduce(
        hashlib.sha512(big_r + keys.witness + message).digest()
    )
    s = bindings.crypto_core_ed25519_scalar_add(r, bindings.crypto_core_ed25519_scalar_mul(k, a))
    return big_r + s


def _flip(text: str) -> str:
    raw = bytearray(b64u_decode(text))
    raw[0] ^= 1
    return b64u_encode(bytes(raw))


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("flipped-signature", 403, "followup-signature-invalid"),
        ("wrong-key", 403, "followup-signature-invalid"),
        ("altered-after-signing", 403, "followup-signature-invalid"),
        ("unknown-parent", 422, "unknown-parent"),
        ("parent-without-witness", 422, "parent-without-witness"),
        ("no-signature", 422, "malformed-followup"),
        ("witness-member", 422, "malformed-followup"),
    ],
)
def test_a_bad_followup_is_refused_and_appends_nothing(
    client: TestClient, intake_public: bytes, case: str, status: int, code: str
) -> None:
    parent = submit(client, intake_public, ALICE)
    bare = submit(client, intake_public, None)
    request = followup_request(client, intake_public, parent, ALICE)
    if case == "flipped-signature":
        request["signature"] = _flip(request["signature"])
    elif case == "wrong-key":
        request = followup.sign_followup(BOB, request)
    elif case == "altered-after-signing":
        request["attachments"] = []  # equal value, so alter the parent-bound header
        request["header"] = _flip(request["header"])
    elif case == "unknown-parent":
        request = followup.sign_followup(ALICE, {**request, "parent": "ab" * 32})
    elif case == "parent-without-witness":
        request = followup.sign_followup(ALICE, {**request, "parent": bare})
    elif case == "no-signature":
        del request["signature"]
    elif case == "witness-member":
        request = followup.sign_followup(ALICE, {**request, "witness": ALICE.witness_b64u})
    size = log_size(client)
    assert_problem(client.post("/api/v1/followups", json=request), status, code)
    assert log_size(client) == size


def fetch(client: TestClient, keys: receipt.WitnessKeys) -> Any:
    challenge = client.get("/api/v1/replies/challenge").json()
    assert set(challenge) == {"challenge", "expires"}
    return client.post(
        "/api/v1/replies", json=followup.replies_request(keys, challenge["challenge"])
    )


@pytest.fixture
def org(
    tmp_path: Path, database_url: str | None, clock: FixedClock, intake_public: bytes
) -> Iterator[Org]:
    """The application as ``client`` has it, with the setup token ``init`` printed,
    so that a test can found the organisation whose reviewers reply."""
    from testimony.service.api.app import create_app

    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, pow_bits=0, clock=clock
    )
    result = init_data_dir(settings, intake_public, origin=ORIGIN)
    with TestClient(create_app(settings)) as test_client:
        yield Org(test_client, result.setup_token, clock)


def test_replies_reach_only_their_witness(org: Org, intake_public: bytes) -> None:
    client = org.client
    alice_first = submit(client, intake_public, ALICE)
    alice_second = submit(client, intake_public, ALICE)
    bob_first = submit(client, intake_public, BOB)
    # The witness learns its own submissions (a browser keeps only the receipt
    # code, and a follow-up names its parent), and no one else's.
    assert fetch(client, ALICE).json() == {
        "submissions": [alice_first, alice_second],
        "replies": [],
    }
    assert fetch(client, BOB).json()["submissions"] == [bob_first]
    # A reviewer's signed replies, sent as a workstation sends them.
    reviewer, token = admin_session(client, org.token)
    logged = []
    for parent, keys, text in [
        (alice_first, ALICE, "When did it start?"),
        (bob_first, BOB, "Who else saw it?"),
        (alice_second, ALICE, "Can you name the street?"),
    ]:
        answer = reply(
            client, reviewer, token, parent=parent, witness_box=keys.witness_box, text=text
        )
        assert answer.status_code == 201, answer.text
        verified = verify_receipt(answer.json(), log_key(client), origin=ORIGIN)
        assert verified.entry_object["actor"] == reviewer.id
        logged.append((verified.id, parent, text))

    answer = fetch(client, ALICE)
    assert answer.status_code == 200, answer.text
    replies = answer.json()["replies"]
    assert [(r["id"], r["parent"]) for r in replies] == [(i, p) for i, p, _ in logged[::2]]
    texts = [followup.open_reply(ALICE.box_seed, b64u_decode(r["sealed"]))["text"] for r in replies]
    assert texts == ["When did it start?", "Can you name the street?"]
    bob = fetch(client, BOB).json()["replies"]
    assert [r["parent"] for r in bob] == [bob_first]
    assert json.dumps(bob).find(alice_first) == -1


def test_a_reply_needs_a_parent_with_a_witness_key(org: Org, intake_public: bytes) -> None:
    client = org.client
    bare = submit(client, intake_public, None)
    reviewer, token = admin_session(client, org.token)
    size = log_size(client)
    for parent, code in (("cd" * 32, "unknown-parent"), (bare, "parent-without-witness")):
        answer = reply(
            client, reviewer, token, parent=parent, witness_box=ALICE.witness_box, text="?"
        )
        assert_problem(answer, 422, code)
    assert log_size(client) == size


def test_a_challenge_is_accepted_once_fresh_and_signed_by_the_key_it_names(
    client: TestClient, intake_public: bytes, clock: FixedClock
) -> None:
    submit(client, intake_public, ALICE)
    challenge = client.get("/api/v1/replies/challenge").json()["challenge"]
    signed = followup.replies_request(ALICE, challenge)
    # Signed by another key than the one named.
    forged = {**followup.replies_request(BOB, challenge), "witness": ALICE.witness_b64u}
    assert_problem(client.post("/api/v1/replies", json=forged), 403, "replies-signature-invalid")
    assert client.post("/api/v1/replies", json=signed).status_code == 200
    assert_problem(client.post("/api/v1/replies", json=signed), 403, "reply-challenge-reused")
    # A proof-of-work challenge is not a replies challenge.
    pow_challenge = client.get("/api/v1/pow").json()["challenge"]
    assert_problem(
        client.post("/api/v1/replies", json=followup.replies_request(ALICE, pow_challenge)),
        403,
        "reply-challenge-invalid",
    )
    stale = client.get("/api/v1/replies/challenge").json()["challenge"]
    clock.advance(timedelta(minutes=6))
    assert_problem(
        client.post("/api/v1/replies", json=followup.replies_request(ALICE, stale)),
        403,
        "reply-challenge-expired",
    )
    assert_problem(
        client.post("/api/v1/replies", json={"witness": ALICE.witness_b64u}),
        422,
        "malformed-replies-request",
    )


def test_the_intake_key_of_a_followup_must_be_known(
    client: TestClient, intake_public: bytes
) -> None:
    parent = submit(client, intake_public, ALICE)
    other_key = hpke.public_key(b"\x07" * 32)
    request = followup_request(client, other_key, parent, ALICE)
    assert_problem(client.post("/api/v1/followups", json=request), 422, "unknown-intake-key")
