"""Standing and quorum replayed from the log (docs/protocol.md §12.2 to 12.5),
against the v1.1 vectors' governance log, and the rules one by one."""

from __future__ import annotations

from typing import Any

import pytest

from testimony.crypto import canonical, hpke, keyring
from testimony.crypto.encoding import b64u_decode, b64u_encode, sha256
from testimony.crypto.entries import entry_from_object, parse_entry
from testimony.crypto.errors import MalformedInput
from testimony.crypto.governance import Governance, GovernanceRefused
from testimony.crypto.rfc3339 import parse_time
from tests.vectors.loader import load_json

VECTORS: dict[str, Any] = load_json("testimony/reviewers.json")
LOG = VECTORS["governance"]["log"]
RECEIVED = "2026-01-01T10:00:00Z"
INTAKE_KEY = hpke.public_key(bytes(32))
ENTRY_0 = {
    "type": "intake-key",
    "v": 1,
    "key": b64u_encode(INTAKE_KEY),
    "key_id": hpke.key_id(INTAKE_KEY),
    "received": RECEIVED,
}
SEALED = b64u_encode(bytes(17))  # a tag and one byte: the shortest sealed payload
SEALED_GRANT = b64u_encode(bytes(hpke.ENC_LENGTH + 17))


def test_the_vector_log_replays_to_the_same_standing_after_every_entry() -> None:
    state = Governance()
    for step in LOG:
        entry = b64u_decode(step["entry"])
        assert sha256(b"\x00" + entry).hex() == step["id"]
        if step["refused"]:
            with pytest.raises(GovernanceRefused):
                state.apply(entry)
        else:
            state.apply(entry)
        assert state.standing() == step["standing_after"], step["why"]
    assert state.size == len(LOG) - 1  # the refused entry was not read


# --- the rules one by one, on a small organisation made here ----------------------


def _identity(n: int) -> keyring.Identity:
    return keyring.Identity(bytes([n]) * 32, bytes([n + 100]) * 32)


def _policy(**quorum: int) -> dict[str, Any]:
    base = {"enrol": 2, "revoke": 2, "export": 1, "shred": 2, "rotate": 2, "policy": 2}
    return {**base, **quorum, "index_bits": dict(keyring.DEFAULT_INDEX_BITS)}


class Org:
    """An organisation built entry by entry, as a server would log it."""

    def __init__(self, **quorum: int) -> None:
        self.state = Governance()
        self.nonce = 0
        self.founder = _identity(1)
        self.log(ENTRY_0)
        self.log(
            {
                **self.keys(self.founder),
                "type": "org",
                "v": 1,
                "actor": self.founder.id,
                "setup": "0" * 64,
                "policy": _policy(**quorum),
            },
            self.founder,
        )

    @staticmethod
    def keys(who: keyring.Identity) -> dict[str, str]:
        return {"sign_key": b64u_encode(who.sign_public), "box_key": b64u_encode(who.box_public)}

    def sent(self, body: dict[str, Any], who: keyring.Identity) -> dict[str, Any]:
        """The entry as a workstation sends it: signed, without ``received``."""
        self.nonce += 1
        full = {
            "v": 1,
            **body,
            "actor": who.id,
            "nonce": b64u_encode(self.nonce.to_bytes(16, "big")),
        }
        return who.sign_entry(full)

    def entry(self, body: dict[str, Any], who: keyring.Identity | None) -> bytes:
        full = {"v": 1, **body} if who is None else self.sent(body, who)
        return canonical.dumps({**full, "received": RECEIVED})

    def log(self, body: dict[str, Any], who: keyring.Identity | None = None) -> str:
        entry = self.entry(body, who)
        self.state.apply(entry)
        return sha256(b"\x00" + entry).hex()

    def refused(self, body: dict[str, Any], who: keyring.Identity | None, code: str) -> None:
        entry = self.entry(body, who)
        size = self.state.size
        with pytest.raises(GovernanceRefused) as caught:
            self.state.apply(entry)
        assert caught.value.code == code
        assert self.state.size == size

    def enrol(self, who: keyring.Identity, role: str, *approvers: keyring.Identity) -> str:
        code = sha256(f"invite-{who.id}".encode()).hex()
        self.log({"type": "invite", "code": code}, self.founder)
        proposal = self.log(
            {"type": "reviewer", **self.keys(who), "role": role, "invite": code}, who
        )
        for admin in approvers:
            self.log({"type": "approval", "subject": proposal}, admin)
        return proposal


def test_a_reviewer_enrolled_with_the_founder_s_approval_alone_when_one_admin_exists() -> None:
    org = Org()
    reviewer = _identity(2)
    org.enrol(reviewer, "reviewer", org.founder)
    assert org.state.standing()[reviewer.id] == "reviewer"


def test_a_candidate_has_no_standing_and_its_own_entry_is_no_approval() -> None:
    org = Org()
    candidate = _identity(2)
    proposal = org.enrol(candidate, "reviewer")
    assert candidate.id not in org.state.standing()
    org.refused({"type": "approval", "subject": proposal}, candidate, "no-standing")
    org.refused(
        {"type": "annotation", "epoch": 0, "index": [], "sealed": SEALED}, candidate, "no-standing"
    )


def test_an_invite_is_used_once_and_a_revoked_key_never_comes_back() -> None:
    org = Org(revoke=1)
    reviewer = _identity(2)
    org.enrol(reviewer, "reviewer", org.founder)
    code = sha256(f"invite-{reviewer.id}".encode()).hex()
    other = _identity(3)
    org.refused(
        {"type": "reviewer", **org.keys(other), "role": "admin", "invite": code},
        other,
        "invite-reused",
    )
    org.log({"type": "revoke", "subject": reviewer.id}, org.founder)
    assert reviewer.id not in org.state.standing()
    again = sha256(b"second chance").hex()
    org.log({"type": "invite", "code": again}, org.founder)
    org.refused(
        {"type": "reviewer", **org.keys(reviewer), "role": "reviewer", "invite": again},
        reviewer,
        "no-standing",
    )


def test_only_admins_invite_approve_and_revoke_and_auditors_write_nothing() -> None:
    org = Org()
    reviewer, auditor = _identity(2), _identity(3)
    org.enrol(reviewer, "reviewer", org.founder)
    org.enrol(auditor, "auditor", org.founder)
    org.refused({"type": "invite", "code": "1" * 64}, reviewer, "no-standing")
    org.refused({"type": "revoke", "subject": auditor.id}, reviewer, "no-standing")
    org.refused(
        {"type": "annotation", "epoch": 0, "index": [], "sealed": SEALED}, auditor, "no-standing"
    )
    org.log({"type": "annotation", "epoch": 0, "index": [], "sealed": SEALED}, reviewer)


def test_a_forged_signature_is_refused_and_appends_nothing() -> None:
    org = Org()
    entry = org.entry({"type": "invite", "code": "2" * 64}, org.founder)
    fields = canonical.loads(entry)
    fields["code"] = "3" * 64  # the signature no longer covers it
    with pytest.raises(GovernanceRefused) as caught:
        org.state.apply(canonical.dumps(fields))
    assert caught.value.code == "bad-signature"


def test_a_proposal_keeps_the_quorum_in_force_when_it_was_logged() -> None:
    org = Org(enrol=1, policy=1)
    second = _identity(2)
    org.enrol(second, "admin", org.founder)
    candidate = _identity(3)
    pending = org.enrol(candidate, "reviewer")
    org.log({"type": "policy", "policy": _policy(enrol=2, policy=2)}, org.founder)
    org.log({"type": "approval", "subject": pending}, org.founder)
    assert org.state.standing()[candidate.id] == "reviewer"  # quorum 1, logged before
    later = _identity(4)
    proposal = org.enrol(later, "reviewer", org.founder)
    assert later.id not in org.state.standing()  # quorum 2 now
    org.log({"type": "approval", "subject": proposal}, second)
    assert later.id in org.state.standing()


def test_grants_go_to_members_with_standing_and_the_epoch_moves_after_a_revocation() -> None:
    org = Org(revoke=1)
    reviewer, other = _identity(2), _identity(3)
    org.enrol(reviewer, "reviewer", org.founder)
    org.enrol(other, "reviewer", org.founder)
    grant = {"type": "grant", "subject": reviewer.id, "sealed": SEALED_GRANT}
    org.refused({**grant, "epoch": 1}, org.founder, "wrong-epoch")
    org.log({**grant, "epoch": 0}, org.founder)
    assert org.state.key_holders() == {org.founder.id, reviewer.id}
    org.log({"type": "revoke", "subject": other.id}, org.founder)
    org.refused({**grant, "subject": other.id, "epoch": 0}, org.founder, "grant-refused")
    org.log({**grant, "epoch": 1}, org.founder)
    assert org.state.epoch == 1


def test_entries_before_the_organisation_and_a_second_org_are_refused() -> None:
    state = Governance()
    state.apply(canonical.dumps(ENTRY_0))
    founder = _identity(1)
    invite = founder.sign_entry(
        {
            "type": "invite",
            "v": 1,
            "actor": founder.id,
            "nonce": b64u_encode(bytes(16)),
            "code": "1" * 64,
        }
    )
    with pytest.raises(GovernanceRefused) as caught:
        state.check(invite)
    assert caught.value.code == "no-organisation"
    org = Org()
    org.refused(
        {
            **org.keys(org.founder),
            "type": "org",
            "setup": "0" * 64,
            "policy": _policy(),
        },
        org.founder,
        "org-exists",
    )


@pytest.mark.parametrize(
    "policy",
    [
        {},
        {**_policy(), "enrol": 0},
        {**_policy(), "enrol": True},
        {**_policy(), "index_bits": {"tag": 40}},
        {**_policy(), "extra": 1},
    ],
)
def test_a_malformed_policy_is_refused(policy: dict[str, Any]) -> None:
    org = Org()
    with pytest.raises(MalformedInput):
        org.state.check(org.entry({"type": "policy", "policy": policy}, org.founder))
    with pytest.raises(MalformedInput):
        org.state.check(org.sent({"type": "policy", "policy": policy}, org.founder))


@pytest.mark.parametrize(
    "body",
    [
        {"type": "epoch-less", "x": 1},
        {"type": "annotation", "epoch": 0, "index": [], "sealed": "AA"},  # too short
        {"type": "invite", "code": "1" * 63},
    ],
)
def test_an_entry_of_no_shape_of_the_protocol_is_refused_and_appends_nothing(
    body: dict[str, Any],
) -> None:
    org = Org()
    reviewer = _identity(2)
    org.enrol(reviewer, "reviewer", org.founder)
    size = org.state.size
    with pytest.raises(MalformedInput) as caught:
        org.state.apply(org.entry(body, org.founder))
    assert caught.value.code == "malformed-input"
    with pytest.raises(MalformedInput):
        org.state.check(org.sent(body, org.founder))
    assert org.state.size == size


def _outcome(state: Governance, entry: Any) -> str:
    try:
        state.check(entry)
    except GovernanceRefused as refused:
        return refused.code
    return "accepted"


def test_check_of_an_entry_as_sent_and_of_its_logged_bytes_agree() -> None:
    org = Org(revoke=1)
    reviewer, candidate = _identity(2), _identity(3)
    org.enrol(reviewer, "reviewer", org.founder)
    proposal = org.enrol(candidate, "reviewer")
    cases = [
        ({"type": "invite", "code": "4" * 64}, org.founder, "accepted"),
        ({"type": "approval", "subject": proposal}, org.founder, "accepted"),
        ({"type": "approval", "subject": "5" * 64}, org.founder, "unknown-proposal"),
        ({"type": "invite", "code": "4" * 64}, reviewer, "no-standing"),
        ({"type": "annotation", "epoch": 0, "index": [], "sealed": SEALED}, reviewer, "accepted"),
        (
            {"type": "annotation", "epoch": 0, "index": [], "sealed": SEALED},
            candidate,
            "no-standing",
        ),
        (
            {"type": "grant", "subject": reviewer.id, "epoch": 1, "sealed": SEALED_GRANT},
            org.founder,
            "wrong-epoch",
        ),
        ({"type": "revoke", "subject": reviewer.id}, org.founder, "accepted"),
    ]
    for body, who, expected in cases:
        sent = org.sent(body, who)
        parsed = entry_from_object(sent, logged=False)
        assert parsed.received is None
        assert parse_entry(canonical.dumps(sent), logged=False) == parsed
        logged = parsed.with_received(parse_time(RECEIVED)).to_json()
        assert logged == canonical.dumps({**sent, "received": RECEIVED})
        outcomes = {
            "object": _outcome(org.state, sent),
            "parsed": _outcome(org.state, parsed),
            "bytes as sent": _outcome(org.state, canonical.dumps(sent)),
            "logged bytes": _outcome(org.state, logged),
            "logged parsed": _outcome(org.state, parse_entry(logged)),
        }
        assert set(outcomes.values()) == {expected}, (body["type"], outcomes)
    forged = {**org.sent({"type": "invite", "code": "6" * 64}, org.founder), "code": "7" * 64}
    logged_forged = canonical.dumps({**forged, "received": RECEIVED})
    assert _outcome(org.state, forged) == _outcome(org.state, logged_forged) == "bad-signature"
    # check changed nothing; the logged bytes are what apply reads.
    size = org.state.size
    org.state.apply(
        canonical.dumps(
            {**org.sent({"type": "invite", "code": "4" * 64}, org.founder), "received": RECEIVED}
        )
    )
    assert org.state.size == size + 1


def test_the_box_keys_in_the_vectors_are_s1_keys() -> None:
    for step in LOG:
        fields = canonical.loads(b64u_decode(step["entry"]))
        if "box_key" in fields:
            assert len(b64u_decode(fields["box_key"])) == len(hpke.public_key(bytes(32)))
