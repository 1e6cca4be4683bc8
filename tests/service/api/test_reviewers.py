"""The reviewers' routes against the real application (docs/reviewers-api.md):
an organisation founded with the setup token, sessions, enrolment under the
quorum, grants, annotations and the blind-index filter, replies, ciphertext
behind its access entry, revocation ending a session at once, and every
refusal a clear problem that appends nothing."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from testimony.crypto import canonical, codes, followup, hpke, keyring, merkle, signing
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.entries import (
    AnnotationEntry,
    ApprovalEntry,
    GrantEntry,
    InviteEntry,
    OrgEntry,
    Policy,
    ReviewerEntry,
    RevokeEntry,
    SignedEntry,
    SignedReplyEntry,
    parse_entry,
)
from testimony.service.domain.clock import FixedClock
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings
from tests.reviewers_support import Org, Person, enrol, found, login, post
from tests.service.intake_support import (
    VECTOR,
    TestClient,
    assert_problem,
    log_size,
    upload_vector_blobs,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def org(tmp_path: Path, database_url: str | None, clock: FixedClock) -> Iterator[Org]:
    from testimony.forms import bundled_forms
    from testimony.service.api.app import create_app

    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        pow_bits=0,
        clock=clock,
        forms=bundled_forms(),
    )
    public = hpke.public_key(bytes.fromhex(VECTOR["intake_seed"]))
    result = init_data_dir(settings, public, origin="test.invalid/log")
    with TestClient(create_app(settings)) as client:
        yield Org(client, result.setup_token, clock)


def test_an_organisation_is_founded_once_with_the_setup_token(org: Org) -> None:
    admin = Person.new()
    before = log_size(org.client)
    wrong = admin.entry(
        OrgEntry,
        sign_key=admin.sign_public,
        box_key=admin.box_public,
        setup=codes.code_hash(codes.new_code()),
        policy=Policy.create(),
    )
    assert_problem(post(org.client, wrong), 403, "setup-token-invalid")
    assert log_size(org.client) == before

    answer = found(org, admin)
    assert answer.status_code == 201, answer.text
    receipt = answer.json()
    entry = b64u_decode(receipt["entry"])
    assert merkle.leaf_hash(entry).hex() == receipt["id"]
    logged = parse_entry(entry)
    assert isinstance(logged, OrgEntry) and logged.received is not None

    # The same signed entry again: its first receipt, nothing appended.
    again = post(org.client, logged_without(entry))
    assert again.status_code == 200 and again.json()["id"] == receipt["id"]
    size = log_size(org.client)
    assert_problem(found(org, Person.new()), 403, "org-exists")
    assert log_size(org.client) == size


def logged_without(entry: bytes) -> SignedEntry:
    from dataclasses import replace

    parsed = parse_entry(entry)
    assert isinstance(parsed, SignedEntry)
    return replace(parsed, received=None)


def test_sessions_admit_reviewers_with_standing_once_per_challenge(org: Org) -> None:
    admin = Person.new()
    assert found(org, admin).status_code == 201
    stranger = Person.new()
    challenge = org.client.get("/api/v1/session/challenge").json()["challenge"]

    def attempt(person: Person, signer: Person) -> Any:
        signature = signing.sign(signer.sign, keyring.session_signing_bytes(challenge, person.id))
        return org.client.post(
            "/api/v1/session",
            json={
                "reviewer": person.id,
                "challenge": challenge,
                "signature": b64u_encode(signature),
            },
        )

    assert_problem(attempt(stranger, stranger), 403, "no-standing")
    assert_problem(attempt(admin, stranger), 403, "session-signature-invalid")
    first = attempt(admin, admin)
    assert first.status_code == 200 and first.json()["role"] == "admin"
    assert_problem(attempt(admin, admin), 403, "session-challenge-reused")
    assert_problem(
        org.client.post("/api/v1/session", json={"reviewer": admin.id}),
        400,
        "malformed-session-request",
    )
    # A token works for 15 minutes, then never again.
    token = first.json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert org.client.get("/api/v1/entries?index=1", headers=headers).status_code == 200
    org.clock.advance(timedelta(minutes=15))
    assert_problem(
        org.client.get("/api/v1/entries?index=1", headers=headers), 401, "session-invalid"
    )
    damaged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert_problem(
        org.client.get("/api/v1/entries?index=1", headers={"Authorization": f"Bearer {damaged}"}),
        401,
        "session-invalid",
    )
    assert_problem(org.client.get("/api/v1/entries?index=1"), 401, "session-required")


def test_enrolment_under_the_quorum_then_grant_annotate_and_filter(org: Org) -> None:
    admin = Person.new()
    assert found(org, admin, quorum=2).status_code == 201
    admin_token = login(org.client, admin)

    # An invite needs the admin's own session.
    invite = admin.entry(InviteEntry, code=codes.code_hash(codes.new_code()))
    assert_problem(post(org.client, invite), 401, "session-required")
    other = Person.new()
    assert_problem(
        post(org.client, other.entry(InviteEntry, code="ab" * 32), admin_token),
        403,
        "actor-not-session",
    )

    # A candidate without an invite, with a forged signature, then properly.
    person = Person.new()
    unknown = person.entry(
        ReviewerEntry,
        sign_key=person.sign_public,
        box_key=person.box_public,
        role="reviewer",
        invite="cd" * 32,
    )
    assert_problem(post(org.client, unknown), 403, "invite-unknown")
    from dataclasses import replace

    forged = replace(unknown, signature=signing.sign(Person.new().sign, unknown.signed_bytes()))
    assert_problem(post(org.client, forged), 403, "entry-signature-invalid")

    second = enrol(org, admin, admin_token, role="admin")
    # The founder alone brought the second admin in (quorum 2 capped at one admin).
    second_token = login(org.client, second)
    reviewer = enrol(org, admin, admin_token)
    # Two admins now: the founder's approval alone does not enrol the reviewer.
    size = log_size(org.client)
    challenge = org.client.get("/api/v1/session/challenge").json()["challenge"]
    signature = signing.sign(reviewer.sign, keyring.session_signing_bytes(challenge, reviewer.id))
    assert_problem(
        org.client.post(
            "/api/v1/session",
            json={
                "reviewer": reviewer.id,
                "challenge": challenge,
                "signature": b64u_encode(signature),
            },
        ),
        403,
        "no-standing",
    )
    # A grant before the quorum is refused and appends nothing.
    group = os.urandom(32)
    grant = admin.entry(
        GrantEntry,
        subject=reviewer.id,
        epoch=0,
        sealed=b64u_decode(
            keyring.seal_grant(reviewer.box_public, keyring.Grant(groups={0: group}, intake={}))
        ),
    )
    assert_problem(post(org.client, grant, admin_token), 403, "grant-refused")
    assert log_size(org.client) == size

    candidate_id = _candidate_entry_id(org, reviewer)
    approval = second.entry(ApprovalEntry, subject=candidate_id)
    assert post(org.client, approval, second_token).status_code == 201
    reviewer_token = login(org.client, reviewer)
    assert post(org.client, grant, admin_token).status_code == 201

    # The reviewer annotates; the server filters by blind index without reading it.
    key = keyring.group_key(group, nonce := os.urandom(16))
    annotation = AnnotationEntry.create(
        reviewer.sign,
        nonce=nonce,
        epoch=0,
        index=(3, 17),
        sealed=b64u_decode(keyring.seal_payload(key, {"v": 1, "kind": "tag", "tag": "arson"})),
    )
    answer = post(org.client, annotation, reviewer_token)
    assert answer.status_code == 201, answer.text
    index = answer.json()["index"]
    headers = {"Authorization": f"Bearer {reviewer_token}"}
    assert org.client.get("/api/v1/entries?index=17", headers=headers).json() == {
        "indexes": [index],
        "next": None,
    }
    assert org.client.get("/api/v1/entries?index=4", headers=headers).json()["indexes"] == []
    assert (
        org.client.get(f"/api/v1/entries?index=3&after={index}", headers=headers).json()["indexes"]
        == []
    )

    # Revoked: the reviewer's session stops at that entry, and its entries too.
    revoke = admin.entry(RevokeEntry, subject=reviewer.id)
    assert post(org.client, revoke, admin_token).status_code == 201
    revoke_id = _last_id(org)
    assert post(org.client, second.entry(ApprovalEntry, subject=revoke_id), second_token)
    assert_problem(org.client.get("/api/v1/entries?index=17", headers=headers), 403, "no-standing")
    size = log_size(org.client)
    later = AnnotationEntry.create(
        reviewer.sign, nonce=os.urandom(16), epoch=0, index=(), sealed=annotation.sealed
    )
    assert_problem(post(org.client, later, reviewer_token), 403, "no-standing")
    assert log_size(org.client) == size


def _candidate_entry_id(org: Org, person: Person) -> str:
    entries = _entries(org)
    for entry in entries:
        parsed = parse_entry(entry)
        if isinstance(parsed, ReviewerEntry) and parsed.actor == person.id:
            return merkle.leaf_hash(entry).hex()
    raise AssertionError("no reviewer entry of that person")


def _entries(org: Org) -> list[bytes]:
    size = log_size(org.client)
    answer = org.client.get(f"/api/v1/log/entries?start=0&end={size}").json()
    return [b64u_decode(e) for e in answer["entries"]]


def _last_id(org: Org) -> str:
    return merkle.leaf_hash(_entries(org)[-1]).hex()


def test_ciphertext_is_handed_out_after_its_access_entry(org: Org) -> None:
    admin = Person.new()
    assert found(org, admin).status_code == 201
    admin_token = login(org.client, admin)
    auditor = enrol(org, admin, admin_token, role="auditor")
    auditor_token = login(org.client, auditor)
    upload_vector_blobs(org.client)
    submitted = org.client.post("/api/v1/submissions", json=VECTOR["request"])
    assert submitted.status_code == 201, submitted.text
    submission_id = submitted.json()["id"]
    headers = {"Authorization": f"Bearer {admin_token}"}

    # Before any access entry, no blob.
    attachment = sorted(VECTOR["request"]["attachments"])[0]
    assert_problem(
        org.client.get(f"/api/v1/blobs/{attachment}?subject={submission_id}", headers=headers),
        403,
        "access-not-logged",
    )
    # An auditor reads no content.
    assert_problem(
        org.client.post(
            "/api/v1/ciphertext",
            json={"subjects": [submission_id]},
            headers={"Authorization": f"Bearer {auditor_token}"},
        ),
        403,
        "role-forbidden",
    )
    size = log_size(org.client)
    assert_problem(
        org.client.post("/api/v1/ciphertext", json={"subjects": ["ab" * 32]}, headers=headers),
        422,
        "unknown-submission",
    )
    assert log_size(org.client) == size

    answer = org.client.post(
        "/api/v1/ciphertext", json={"subjects": [submission_id]}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    access = parse_entry(b64u_decode(body["access"]["entry"]))
    assert access.to_object()["type"] == "access"
    assert access.to_object()["reviewer"] == admin.id
    assert access.to_object()["subjects"] == [submission_id]
    assert log_size(org.client) == size + 1
    [item] = body["items"]
    assert item["id"] == submission_id
    assert item["header"] == VECTOR["request"]["header"]
    assert item["body"] == VECTOR["request"]["body"]
    assert item["followups"] == []
    assert sorted(b["id"] for b in body["blobs"]) == sorted(VECTOR["request"]["attachments"])
    for blob in body["blobs"]:
        got = org.client.get(
            f"/api/v1/blobs/{blob['id']}?subject={blob['subject']}", headers=headers
        )
        assert got.status_code == 200
        assert hashlib.sha256(got.content).hexdigest() == blob["id"]
        resumed = org.client.get(
            f"/api/v1/blobs/{blob['id']}?subject={blob['subject']}",
            headers={**headers, "Range": "bytes=5-"},
        )
        assert resumed.status_code == 206 and resumed.content == got.content[5:]
    # A blob the subject does not hold is refused even with access logged.
    assert_problem(
        org.client.get(f"/api/v1/blobs/{'ef' * 32}?subject={submission_id}", headers=headers),
        403,
        "access-not-logged",
    )


def test_a_signed_reply_reaches_the_witness(org: Org) -> None:
    admin = Person.new()
    assert found(org, admin).status_code == 201
    token = login(org.client, admin)
    upload_vector_blobs(org.client)
    submission_id = org.client.post("/api/v1/submissions", json=VECTOR["request"]).json()["id"]
    # Sealed to a witness box the test makes (the vector's box seed is the witness's).
    sealed = followup.seal_reply(hpke.public_key(os.urandom(32)), {"v": 1, "text": "Where?"})
    entry = admin.entry(
        SignedReplyEntry, parent=submission_id, sealed=hashlib.sha256(sealed).hexdigest()
    )
    assert_problem(post(org.client, entry, token), 422, "reply-blob-mismatch")
    assert_problem(
        post(org.client, entry, token, blob=b64u_encode(sealed + b"x")), 422, "reply-blob-mismatch"
    )
    answer = post(org.client, entry, token, blob=b64u_encode(sealed))
    assert answer.status_code == 201, answer.text
    stored = org.client.app.state.server.blobs
    assert b"".join(stored.read(hashlib.sha256(sealed).hexdigest())) == sealed
    assert log_size(org.client) == answer.json()["index"] + 1


def test_bad_entry_requests_are_refused_and_append_nothing(org: Org) -> None:
    admin = Person.new()
    assert found(org, admin).status_code == 201
    token = login(org.client, admin)
    size = log_size(org.client)
    headers = {"Authorization": f"Bearer {token}"}
    invite = canonical.loads(admin.entry(InviteEntry, code="ab" * 32).to_json())
    cases = [
        ([], 400, "malformed-entry-request"),
        ({"entry": invite, "extra": 1}, 400, "malformed-entry-request"),
        ({"entry": "x"}, 400, "malformed-entry-request"),
        ({"entry": {**invite, "received": "2026-11-25T12:00:00Z"}}, 422, "entry-malformed"),
        ({"entry": {**invite, "code": "AB" * 32}}, 422, "entry-malformed"),
        ({"entry": {**invite, "code": "cd" * 32}}, 403, "entry-signature-invalid"),
        ({"entry": {**invite, "blob": 1}}, 422, "entry-malformed"),
        ({"entry": invite, "blob": "AAAA"}, 400, "malformed-entry-request"),
        (
            {"entry": canonical.loads(parse_entry(_entries(org)[0]).to_json())},
            422,
            "entry-malformed",
        ),
    ]
    for body, status, code in cases:
        answer = org.client.post("/api/v1/entries", json=body, headers=headers)
        assert_problem(answer, status, code)
    assert log_size(org.client) == size


def test_an_intake_key_rotation_takes_effect_at_its_quorum(org: Org) -> None:
    from testimony.crypto.entries import IntakeKeyRotation
    from testimony.crypto.submission import seal_submission

    admin = Person.new()
    assert found(org, admin, quorum=2).status_code == 201
    admin_token = login(org.client, admin)
    second = enrol(org, admin, admin_token, role="admin")
    second_token = login(org.client, second)

    seed = os.urandom(32)
    public = hpke.public_key(seed)
    sealed = seal_submission(public, {"v": 1, "answers": {}})
    request = sealed.request(attachments=[])

    # An admin proposes it; it waits for the quorum.
    rotation = admin.entry(IntakeKeyRotation, key=public, key_id=hpke.key_id(public))
    answer = post(org.client, rotation, admin_token)
    assert answer.status_code == 201, answer.text
    form = org.client.get("/api/v1/forms/kordai-2020")
    assert form.json()["intake_key_id"] == VECTOR["request"]["intake_key"]
    size = log_size(org.client)
    assert_problem(org.client.post("/api/v1/submissions", json=request), 422, "unknown-intake-key")
    assert log_size(org.client) == size

    # The second admin's approval brings it to its quorum: from then on, witnesses
    # are handed the new key and submissions sealed to it are logged.
    approval = second.entry(ApprovalEntry, subject=answer.json()["id"])
    assert post(org.client, approval, second_token).status_code == 201
    form = org.client.get("/api/v1/forms/kordai-2020")
    assert form.json()["intake_key_id"] == hpke.key_id(public)
    assert org.client.post("/api/v1/submissions", json=request).status_code == 201
    # A submission sealed to the older key is still accepted (a courier's envelope).
    upload_vector_blobs(org.client)
    assert org.client.post("/api/v1/submissions", json=VECTOR["request"]).status_code == 201
