"""What the reviewers' tests share: a reviewer's keys as a workstation holds
them, and the steps of founding an organisation, enrolling people and
replying to a witness through the real application (docs/reviewers-api.md).

``post``, ``login``, ``found_on``, ``admin_session`` and ``reply`` take any
``httpx.Client``: a ``TestClient`` on the application, or a client of a live
``testimony serve``."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from testimony.crypto import canonical, codes, followup, hpke, keyring, signing
from testimony.crypto.encoding import b64u_encode
from testimony.crypto.entries import (
    ApprovalEntry,
    InviteEntry,
    OrgEntry,
    Policy,
    ReviewerEntry,
    SignedEntry,
    SignedReplyEntry,
)
from testimony.service.domain.clock import FixedClock
from tests.service.intake_support import TestClient

__all__ = [
    "Org",
    "Person",
    "admin_session",
    "enrol",
    "found",
    "found_on",
    "login",
    "post",
    "reply",
]


@dataclass
class Person:
    """A reviewer's keys, as a workstation holds them."""

    sign: Ed25519PrivateKey
    box_seed: bytes

    @classmethod
    def new(cls) -> Person:
        return cls(signing.private_key_from_seed(os.urandom(32)), os.urandom(32))

    @property
    def id(self) -> str:
        return keyring.reviewer_id(self.sign_public)

    @property
    def sign_public(self) -> bytes:
        return signing.public_key_bytes(self.sign)

    @property
    def box_public(self) -> bytes:
        return hpke.public_key(self.box_seed)

    def entry(self, kind: type[SignedEntry], **members: Any) -> SignedEntry:
        return kind.create(self.sign, nonce=os.urandom(16), **members)


@dataclass
class Org:
    client: TestClient
    token: str
    clock: FixedClock


def post(client: httpx.Client, entry: SignedEntry, token: str | None = None, **more: Any) -> Any:
    body = {"entry": canonical.loads(entry.to_json()), **more}
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return client.post("/api/v1/entries", json=body, headers=headers)


def login(client: httpx.Client, person: Person) -> str:
    challenge = client.get("/api/v1/session/challenge").json()["challenge"]
    signature = signing.sign(person.sign, keyring.session_signing_bytes(challenge, person.id))
    answer = client.post(
        "/api/v1/session",
        json={"reviewer": person.id, "challenge": challenge, "signature": b64u_encode(signature)},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def found_on(client: httpx.Client, setup_token: str, admin: Person, *, quorum: int = 2) -> Any:
    """Post the ``org`` entry founding the organisation with ``admin``; the answer."""
    policy = Policy.create(**dict.fromkeys(("enrol", "revoke", "rotate", "policy"), quorum))
    entry = admin.entry(
        OrgEntry,
        sign_key=admin.sign_public,
        box_key=admin.box_public,
        setup=codes.code_hash(setup_token),
        policy=policy,
    )
    return post(client, entry)


def found(org: Org, admin: Person, *, quorum: int = 2) -> Any:
    return found_on(org.client, org.token, admin, quorum=quorum)


def admin_session(client: httpx.Client, setup_token: str) -> tuple[Person, str]:
    """Found the organisation with a new admin and open their session, as a
    workstation does: ``(admin, session token)``."""
    admin = Person.new()
    founded = found_on(client, setup_token, admin)
    assert founded.status_code == 201, founded.text
    return admin, login(client, admin)


def reply(
    client: httpx.Client,
    reviewer: Person,
    token: str,
    *,
    parent: str,
    witness_box: bytes,
    text: str,
) -> Any:
    """A reviewer's question to the witness of submission ``parent``, as a
    workstation sends it: ``{"v": 1, "text"}`` sealed to ``witness_box``
    (``followup.seal_reply``), and the signed ``reply`` entry naming its hash,
    posted with the sealed bytes to ``POST /api/v1/entries``. The answer (201
    and a receipt)."""
    sealed = followup.seal_reply(witness_box, {"v": 1, "text": text})
    entry = reviewer.entry(
        SignedReplyEntry, parent=parent, sealed=hashlib.sha256(sealed).hexdigest()
    )
    return post(client, entry, token, blob=b64u_encode(sealed))


def enrol(org: Org, admin: Person, admin_token: str, role: str = "reviewer") -> Person:
    """Invite, enrol and approve a new person; returns them."""
    code = codes.new_code()
    invite = admin.entry(InviteEntry, code=codes.code_hash(code))
    assert post(org.client, invite, admin_token).status_code == 201
    person = Person.new()
    candidate = person.entry(
        ReviewerEntry,
        sign_key=person.sign_public,
        box_key=person.box_public,
        role=role,
        invite=codes.code_hash(code),
    )
    answer = post(org.client, candidate)
    assert answer.status_code == 201, answer.text
    approval = admin.entry(ApprovalEntry, subject=answer.json()["id"])
    assert post(org.client, approval, admin_token).status_code == 201
    return person
