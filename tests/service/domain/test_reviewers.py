"""domain/reviewers.py under hostile and concurrent use: any Authorization
header is a session or a clean refusal; entries sent at once from many threads
are judged in the order they are logged, so the replay of the log refuses none
of them; a second server process sees the first's entries."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testimony.crypto import codes, governance, hpke
from testimony.crypto.entries import ApprovalEntry, InviteEntry, OrgEntry, Policy, ReviewerEntry
from testimony.service.domain.clock import FixedClock
from testimony.service.domain.errors import DomainError, SessionInvalid, SessionRequired
from testimony.service.domain.reviewers import ReviewerSession
from testimony.service.server import Server, init_data_dir, open_server
from testimony.service.settings import Settings
from tests.reviewers_support import Person
from tests.service.intake_support import NOW, VECTOR


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[tuple[Settings, Server, str]]:
    settings = Settings(data_dir=tmp_path / "data", pow_bits=0, clock=FixedClock(NOW))
    public = hpke.public_key(bytes.fromhex(VECTOR["intake_seed"]))
    result = init_data_dir(settings, public, origin="test.invalid/log")
    server = open_server(settings)
    try:
        yield settings, server, result.setup_token
    finally:
        server.close()


def _request(entry: object) -> dict[str, object]:
    from testimony.crypto import canonical

    return {"entry": canonical.loads(entry.to_json())}  # type: ignore[attr-defined]


def _found(server: Server, token: str, admin: Person) -> None:
    org = admin.entry(
        OrgEntry,
        sign_key=admin.sign_public,
        box_key=admin.box_public,
        setup=codes.code_hash(token),
        policy=Policy.create(enrol=2),
    )
    assert server.reviewers.post_entry(_request(org), None).appended


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.one_of(
        st.none(),
        st.text(max_size=120),
        st.binary(max_size=80).map(
            lambda b: "Bearer " + __import__("base64").urlsafe_b64encode(b).decode().rstrip("=")
        ),
    )
)
def test_any_authorization_header_is_refused_cleanly(
    opened: tuple[Settings, Server, str], header: str | None
) -> None:
    _settings, server, _token = opened
    with pytest.raises((SessionRequired, SessionInvalid)):
        server.sessions.authenticate(header, "reader")


def test_concurrent_entries_are_judged_in_log_order(opened: tuple[Settings, Server, str]) -> None:
    _settings, server, token = opened
    admin, second = Person.new(), Person.new()
    _found(server, token, admin)
    session = ReviewerSession(admin.id, "admin")
    # A second admin, so that enrolment needs both (quorum 2, two admins).
    code = codes.new_code()
    server.reviewers.post_entry(
        _request(admin.entry(InviteEntry, code=codes.code_hash(code))), session
    )
    candidate = second.entry(
        ReviewerEntry,
        sign_key=second.sign_public,
        box_key=second.box_public,
        role="admin",
        invite=codes.code_hash(code),
    )
    enrolled = server.reviewers.post_entry(_request(candidate), None)
    server.reviewers.post_entry(
        _request(admin.entry(ApprovalEntry, subject=enrolled.receipt.id)), session
    )
    second_session = ReviewerSession(second.id, "admin")

    # Many candidates; both admins approve each at once, and each candidate is
    # also approved twice by the same admin in a race with itself.
    candidates = []
    for _ in range(6):
        code = codes.new_code()
        server.reviewers.post_entry(
            _request(admin.entry(InviteEntry, code=codes.code_hash(code))), session
        )
        person = Person.new()
        entry = person.entry(
            ReviewerEntry,
            sign_key=person.sign_public,
            box_key=person.box_public,
            role="reviewer",
            invite=codes.code_hash(code),
        )
        candidates.append(server.reviewers.post_entry(_request(entry), None).receipt.id)
    outcomes: list[str] = []
    lock = threading.Lock()

    def approve(approver: Person, who: ReviewerSession, subject: str) -> None:
        entry = approver.entry(ApprovalEntry, subject=subject)
        try:
            server.reviewers.post_entry(_request(entry), who)
            result = "logged"
        except DomainError as exc:
            result = exc.code
        with lock:
            outcomes.append(result)

    threads = [
        threading.Thread(target=approve, args=(person, who, subject))
        for subject in candidates
        for person, who in ((admin, session), (second, second_session), (admin, session))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each candidate: two distinct approvals logged (the quorum), the third either
    # a repeat refused or past the quorum.
    assert outcomes.count("logged") >= 2 * len(candidates)
    assert set(outcomes) <= {"logged", "approval-repeated", "proposal-done"}

    # The log as a workstation reads it: every entry replays, none is refused.
    replay = governance.Governance()
    for index in range(server.log.size()):
        replay.apply(server.log.entry(index))
    standing = replay.standing()
    assert all(any(role == "reviewer" for role in standing.values()) for _ in candidates)
    assert sum(1 for role in standing.values() if role == "reviewer") == len(candidates)


def test_a_second_process_sees_the_first_s_entries(opened: tuple[Settings, Server, str]) -> None:
    settings, server, token = opened
    admin = Person.new()
    other = open_server(settings, first=False)
    try:
        # Opened before the organisation exists, it knows the admin at once:
        # its replay catches up from the log.
        _found(server, token, admin)
        invite = _request(admin.entry(InviteEntry, code=codes.code_hash(codes.new_code())))
        answer = other.reviewers.post_entry(invite, ReviewerSession(admin.id, "admin"))
        assert answer.appended
        # The first process sees it too: the same invite again is a repeat.
        again = server.reviewers.post_entry(invite, ReviewerSession(admin.id, "admin"))
        assert not again.appended and again.receipt.id == answer.receipt.id
    finally:
        other.close()
    assert os.path.exists(settings.setup_token_path)
