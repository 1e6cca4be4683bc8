"""What the reviewers' tests share: a reviewer's keys as a workstation holds
them, and the steps of founding an organisation and enrolling people through
the real application (docs/reviewers-api.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from testimony.crypto import canonical, codes, hpke, keyring, signing
from testimony.crypto.encoding import b64u_encode
from testimony.crypto.entries import (
    ApprovalEntry,
    InviteEntry,
    OrgEntry,
    Policy,
    ReviewerEntry,
    SignedEntry,
)
from testimony.service.domain.clock import FixedClock
from tests.service.intake_support import TestClient

__all__ = ["Org", "Person", "enrol", "found", "login", "post"]


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


def post(client: TestClient, entry: SignedEntry, token: str | None = None, **more: Any) -> Any:
    body = {"entry": canonical.loads(entry.to_json()), **more}
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return client.post("/api/v1/entries", json=body, headers=headers)


def login(client: TestClient, person: Person) -> str:
    challenge = client.get("/api/v1/session/challenge").json()["challenge"]
    signature = signing.sign(person.sign, keyring.session_signing_bytes(challenge, person.id))
    answer = client.post(
        "/api/v1/session",
        json={"reviewer": person.id, "challenge": challenge, "signature": b64u_encode(signature)},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def found(org: Org, admin: Person, *, quorum: int = 2) -> Any:
    policy = Policy.create(**dict.fromkeys(("enrol", "revoke", "rotate", "policy"), quorum))
    entry = admin.entry(
        OrgEntry,
        sign_key=admin.sign_public,
        box_key=admin.box_public,
        setup=codes.code_hash(org.token),
        policy=policy,
    )
    return post(org.client, entry)


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
