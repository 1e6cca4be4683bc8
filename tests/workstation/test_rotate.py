"""`testimony keys rotate` against a real server (docs/protocol.md §12.5): after
a revocation, a new intake key in effect at its quorum and a new epoch of the
group secret for everyone with standing; the revoked reviewer gets neither."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from testimony.crypto import hpke
from tests.workstation.test_session import (
    cache_of,
    found,
    join,
    ok,
    one_line_error,
    run,
    start_organisation,
    stop,
    submit,
)


def _proposed_key(output: str) -> str:
    match = re.search(r"proposed intake key ([0-9a-f]{32})", output)
    assert match, output
    return match.group(1)


def test_a_rotation_after_a_revocation_reaches_everyone_but_the_revoked(tmp_path: Path) -> None:
    organisation = start_organisation(tmp_path / "org")
    try:
        admin, _ = found(organisation, tmp_path / "admin", quorum=1)
        kept, _kept_id = join(organisation, admin, tmp_path / "kept")
        gone, gone_id = join(organisation, admin, tmp_path / "gone")
        ok(run("keys", "grant", _kept_id.id, "--workstation", admin))
        ok(run("keys", "grant", gone_id.id, "--workstation", admin))
        for home in (kept, gone):
            ok(run("sync", "--workstation", home))

        # Before a revocation, only the intake key changes.
        early = ok(run("keys", "rotate", "--workstation", admin))
        assert "the group secret stays" in early

        ok(run("reviewer", "revoke", gone_id.id, "--workstation", admin))
        rotated = ok(run("keys", "rotate", "--workstation", admin))
        assert "granted epoch 1 of the group secret to 1 reviewer(s)" in rotated
        newest = _proposed_key(rotated)
        with cache_of(admin) as cache:
            assert set(cache.groups()) == {0, 1}
            seeds = cache.intake_seeds()
        assert len(seeds) == 3 and newest in seeds  # the founding key and two rotations

        ok(run("sync", "--workstation", kept))
        with cache_of(kept) as cache:
            assert set(cache.groups()) == {0, 1}
            assert cache.intake_seeds() == seeds
        one_line_error(run("sync", "--workstation", gone), "revoked")
        with cache_of(gone) as cache:
            assert set(cache.groups()) == {0}
            assert list(cache.intake_seeds()) == [hpke.key_id(organisation.intake_public)]

        # Quorum 1: in effect at once. A testimony sealed to the newest key is
        # accepted, and read by the kept reviewer.
        witness_side = dataclasses.replace(organisation, intake_seed=seeds[newest])
        sent = submit(witness_side, "после смены ключа")
        ok(run("sync", "--workstation", kept))
        with cache_of(kept) as cache:
            record = cache.record("submission", sent.id)
        assert record["statement"]["answers"] == {"what": "после смены ключа"}
    finally:
        stop(organisation)
