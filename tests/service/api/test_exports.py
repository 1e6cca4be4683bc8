"""``export`` entries (docs/protocol.md §12.7) through ``POST /api/v1/entries``:
accepted from a reviewer or admin with standing, answered with a receipt (the
first one again for a repeat), refused for an auditor, without a session or
for another actor, appending nothing; and, once the policy asks more than one
admin, an export is a proposal the admins approve."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from testimony.crypto import keyring, merkle
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.entries import ApprovalEntry, ExportEntry, Policy, PolicyEntry, parse_entry
from testimony.service.domain.clock import FixedClock
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings
from tests.reviewers_support import Org, Person, enrol, found, login, post
from tests.service.intake_support import VECTOR, TestClient, assert_problem, log_size

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def org(tmp_path: Path, database_url: str | None, clock: FixedClock) -> Iterator[Org]:
    from testimony.crypto import hpke
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


def _export(person: Person, **members: object) -> ExportEntry:
    nonce = os.urandom(16)
    key = keyring.group_key(os.urandom(32), nonce)
    sealed = keyring.seal_payload(key, {"v": 1, "kind": "export", "profile": "prosecutor"})
    entry = ExportEntry.create(
        person.sign,
        nonce=nonce,
        epoch=0,
        manifest=os.urandom(32).hex(),
        sealed=b64u_decode(sealed),
        **members,  # type: ignore[arg-type]
    )
    return entry


def test_a_reviewer_s_export_is_logged_with_a_receipt(org: Org) -> None:
    admin = Person.new()
    assert found(org, admin).status_code == 201
    admin_token = login(org.client, admin)
    reviewer = enrol(org, admin, admin_token)
    token = login(org.client, reviewer)

    entry = _export(reviewer)
    answer = post(org.client, entry, token)
    assert answer.status_code == 201, answer.text
    receipt = answer.json()
    logged = b64u_decode(receipt["entry"])
    assert merkle.leaf_hash(logged).hex() == receipt["id"]
    parsed = parse_entry(logged)
    assert isinstance(parsed, ExportEntry) and parsed.received is not None
    assert parsed.signed_bytes() == entry.signed_bytes() and parsed.manifest == entry.manifest

    size = log_size(org.client)
    again = post(org.client, entry, token)
    assert again.status_code == 200 and again.json()["id"] == receipt["id"]
    assert log_size(org.client) == size

    # An admin exports too; one withholding something carries its sealed salts.
    salted = _export(admin, salts=os.urandom(40))
    assert post(org.client, salted, admin_token).status_code == 201


def test_exports_without_standing_or_session_are_refused_and_append_nothing(org: Org) -> None:
    admin = Person.new()
    assert found(org, admin).status_code == 201
    admin_token = login(org.client, admin)
    auditor = enrol(org, admin, admin_token, role="auditor")
    auditor_token = login(org.client, auditor)
    stranger = Person.new()
    size = log_size(org.client)

    assert_problem(post(org.client, _export(auditor), auditor_token), 403, "no-standing")
    assert_problem(post(org.client, _export(admin)), 401, "session-required")
    assert_problem(post(org.client, _export(stranger), admin_token), 403, "actor-not-session")
    assert log_size(org.client) == size


def test_under_an_export_quorum_an_export_is_a_proposal_the_admins_approve(org: Org) -> None:
    admin = Person.new()
    assert found(org, admin, quorum=1).status_code == 201
    admin_token = login(org.client, admin)
    policy = Policy.create(export=2)
    assert post(org.client, admin.entry(PolicyEntry, policy=policy), admin_token).status_code == 201
    second = enrol(org, admin, admin_token, role="admin")
    second_token = login(org.client, second)
    reviewer = enrol(org, admin, admin_token)
    token = login(org.client, reviewer)

    answer = post(org.client, _export(reviewer), token)
    assert answer.status_code == 201, answer.text
    proposal = answer.json()["id"]
    assert (
        post(org.client, admin.entry(ApprovalEntry, subject=proposal), admin_token).status_code
        == 201
    )
    assert (
        post(org.client, second.entry(ApprovalEntry, subject=proposal), second_token).status_code
        == 201
    )
    # It has taken effect: a third approval is refused.
    third = enrol(org, admin, admin_token, role="admin")
    third_token = login(org.client, third)
    assert_problem(
        post(org.client, third.entry(ApprovalEntry, subject=proposal), third_token),
        403,
        "proposal-done",
    )
