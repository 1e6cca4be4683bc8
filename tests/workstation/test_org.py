"""The organisation from the reviewers' workstations, against a real server:
founding, invites, enrolment under a quorum, approvals, revocation, the keyring
granted and received (docs/protocol.md §12.3 to §12.5; docs/workstation.md)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from testimony.client.errors import ConnectionFailed
from testimony.crypto import codes, hpke
from testimony.crypto.keyring import Identity
from testimony.workstation import home as homes
from testimony.workstation import org
from testimony.workstation.cache import Cache
from testimony.workstation.session import ReviewerClient
from testimony.workstation.sync import sync_log
from tests.workstation.test_session import (
    Organisation,
    cache_of,
    found,
    join,
    last_line,
    new_workstation,
    ok,
    one_line_error,
    organisation,
    run,
    start_organisation,
    stop,
)

__all__ = ["organisation"]  # the module's server (a fixture)


@pytest.fixture(scope="module")
def founder(
    organisation: Organisation, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Identity]:
    return found(organisation, tmp_path_factory.mktemp("founder"), quorum=2)


# The tests share one organisation and run in this order: the last one adds a
# second admin, after which every proposal needs two approvals.


def _log_size(home: Path) -> int:
    with cache_of(home) as cache:
        return cache.log_size()


def test_the_founder_holds_the_keyring_and_cannot_found_twice(
    organisation: Organisation, founder: tuple[Path, Identity], tmp_path: Path
) -> None:
    home, identity = founder
    with cache_of(home) as cache:
        assert set(cache.groups()) == {0} and len(cache.groups()[0]) == 32
        key_id = hpke.key_id(organisation.intake_public)
        assert cache.intake_seeds() == {key_id: organisation.intake_seed}
        assert cache.get("server") == organisation.url
        assert cache.get("log_key") == organisation.log_key
        assert cache.get("org")["index"] >= 1
    listed = ok(run("reviewer", "list", "--workstation", home))
    assert re.search(
        rf"admin +standing +key holder +{homes.fingerprint(identity.id)}  \(you\)", listed
    )

    again = run(
        "org", "init", "--workstation", home, "--server", organisation.url,
        "--setup-token", organisation.setup_token, "--intake-seed", organisation.intake_seed_file,
    )  # fmt: skip
    one_line_error(again, "org-exists")

    other, _ = new_workstation(tmp_path / "usurper")
    refused = run(
        "org", "init", "--workstation", other, "--server", organisation.url,
        "--setup-token", codes.new_code(), "--intake-seed", organisation.intake_seed_file,
    )  # fmt: skip
    one_line_error(refused, "setup-token-invalid")
    with cache_of(other) as cache:  # nothing of the refused founding is kept
        assert cache.groups() == {} and cache.intake_seeds() == {}
        assert cache.get("org_pending") is None

    wrong_seed = tmp_path / "other.seed"
    wrong_seed.write_bytes(bytes(32))
    mismatch = run(
        "org", "init", "--workstation", other, "--server", organisation.url,
        "--setup-token", organisation.setup_token, "--intake-seed", wrong_seed,
    )  # fmt: skip
    one_line_error(mismatch, "intake-seed-invalid")


class _AnswerLost(httpx.HTTPTransport):
    """The real network; the first answer to ``POST path`` is lost on the way back."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path, self.lost = path, False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = super().handle_request(request)
        if request.method == "POST" and request.url.path == self.path and not self.lost:
            answer.read()
            self.lost = True
            raise httpx.ReadError("cut", request=request)
        return answer


def test_a_founding_cut_after_the_server_logged_it_is_taken_up_again(tmp_path: Path) -> None:
    fresh = start_organisation(tmp_path / "org")
    try:
        home, identity = new_workstation(tmp_path / "ws")
        lost = _AnswerLost("/api/v1/entries")
        with (
            Cache(home, identity) as cache,
            ReviewerClient(fresh.url, identity, log_key=fresh.log_key, transport=lost) as client,
        ):
            org.bind(cache, fresh.url, fresh.log_key)
            sync_log(cache, client)
            with pytest.raises(ConnectionFailed):
                org.found(
                    cache,
                    client,
                    identity,
                    setup_token=fresh.setup_token,
                    quorum=1,
                    intake_seed=fresh.intake_seed,
                )
            assert cache.get("org_pending") is not None and 0 in cache.groups()
            secret = cache.groups()[0]
        again = ok(
            run(
                "org", "init", "--workstation", home, "--server", fresh.url,
                "--setup-token", fresh.setup_token, "--intake-seed", fresh.intake_seed_file,
            )
        )  # fmt: skip
        assert "taken up again" in again
        with cache_of(home) as cache:
            assert cache.get("org_pending") is None and cache.groups() == {0: secret}
            assert org.replay(cache).governance.standing() == {identity.id: "admin"}
    finally:
        stop(fresh)


def test_a_candidate_is_enrolled_on_approval_and_granted_the_keyring(
    organisation: Organisation, founder: tuple[Path, Identity], tmp_path: Path
) -> None:
    admin, _ = founder
    invited = ok(run("reviewer", "invite", "--workstation", admin))
    code = last_line(invited)
    assert codes.normalise_code(code) == code  # printed alone, as the candidate types it

    home, candidate = new_workstation(tmp_path / "candidate")
    enrolled = ok(
        run(
            "reviewer", "enrol", "--workstation", home, "--server", organisation.url,
            "--invite", code.lower().replace("-", " "), "--log-key", organisation.log_key,
        )
    )  # fmt: skip
    assert homes.fingerprint(candidate.id) in enrolled.splitlines()

    reused = run(
        "reviewer", "enrol", "--workstation", tmp_path / "late", "--server", organisation.url,
        "--invite", code,
    )  # fmt: skip
    one_line_error(reused, "no-identity")  # said before anything is sent
    late, _ = new_workstation(tmp_path / "late")
    one_line_error(
        run(
            "reviewer", "enrol", "--workstation", late, "--server", organisation.url,
            "--invite", code,
        ),
        "invite-reused",
    )  # fmt: skip

    # Before the admins approve, a grant is refused here, and nothing is sent.
    before = _log_size(admin)
    refused = run("keys", "grant", candidate.id, "--workstation", admin)
    assert "has no standing yet" in one_line_error(refused, "no-standing")
    listed = ok(run("reviewer", "list", "--workstation", admin))
    assert re.search(
        rf"reviewer +candidate \(0 of 1 approvals\) .*{homes.fingerprint(candidate.id)}", listed
    )

    approved = ok(
        run("reviewer", "approve", homes.fingerprint(candidate.id), "--workstation", admin)
    )
    assert "it has taken effect" in approved and last_line(approved) == candidate.id
    assert _log_size(admin) > before

    granted = ok(run("keys", "grant", candidate.id, "--workstation", admin))
    assert "epoch 0" in granted
    synced = ok(run("sync", "--workstation", home))
    assert "standing: reviewer" in synced and "1 grants" in synced
    with cache_of(home) as cache, cache_of(admin) as admins:
        assert cache.groups() == admins.groups()
        assert cache.intake_seeds() == admins.intake_seeds()


def test_what_a_reviewer_may_not_do_is_refused_in_one_line(
    organisation: Organisation, founder: tuple[Path, Identity], tmp_path: Path
) -> None:
    admin, _ = founder
    reviewer, _ = join(organisation, admin, tmp_path / "reviewer")
    one_line_error(run("reviewer", "invite", "--workstation", reviewer), "not-admin")
    one_line_error(
        run("reviewer", "approve", "ab" * 32, "--workstation", admin), "unknown-proposal"
    )
    one_line_error(run("keys", "grant", "zz", "--workstation", admin), "reviewer-id-invalid")

    stranger, _ = new_workstation(tmp_path / "stranger")
    one_line_error(run("sync", "--workstation", stranger), "not-enrolled")
    one_line_error(
        run(
            "reviewer", "enrol", "--workstation", stranger, "--server", organisation.url,
            "--invite", codes.new_code(),
        ),
        "invite-unknown",
    )  # fmt: skip
    wrong = run("reviewer", "list", "--workstation", stranger, "--passphrase-file", __file__)
    one_line_error(wrong, "wrong-passphrase")


def test_a_second_admin_then_two_approvals_for_each_proposal(
    organisation: Organisation, founder: tuple[Path, Identity], tmp_path: Path
) -> None:
    first, _ = founder
    # One admin: the quorum of 2 is capped at 1, so the founder alone enrols the second.
    second, second_id = join(organisation, first, tmp_path / "second", role="admin")
    listed = ok(run("reviewer", "list", "--workstation", first))
    assert re.search(rf"admin +standing +- +{homes.fingerprint(second_id.id)}", listed)

    third, third_id = join(organisation, first, tmp_path / "third", approve=False)
    half = ok(run("reviewer", "approve", third_id.id, "--workstation", first))
    assert "1 of 2 approvals; it waits for 1 more" in half
    one_line_error(
        run("reviewer", "approve", third_id.id, "--workstation", first), "approval-repeated"
    )
    done = ok(run("reviewer", "approve", third_id.id, "--workstation", second))
    assert "it has taken effect" in done

    # A revocation is a proposal too: the second admin's approval completes it.
    proposed = ok(run("reviewer", "revoke", third_id.id, "--workstation", first))
    assert "1 of 2 approvals" in proposed
    proposal = last_line(proposed)
    assert re.fullmatch(r"[0-9a-f]{64}", proposal)
    revoked = ok(run("reviewer", "approve", proposal, "--workstation", second))
    assert "it has taken effect" in revoked
    listed = ok(run("reviewer", "list", "--workstation", second))
    assert re.search(rf"reviewer +revoked +- +{homes.fingerprint(third_id.id)}", listed)
    one_line_error(run("keys", "grant", third_id.id, "--workstation", first), "no-standing")
    one_line_error(run("reviewer", "invite", "--workstation", third), "no-standing")
