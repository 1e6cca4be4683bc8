"""Four eyes on an export (docs/protocol.md §11, §12.3, §12.7): with the
policy's export quorum at 2, ``testimony export`` logs the export as a
proposal and holds the bag; ``testimony exports release`` refuses until
another admin has approved it with ``testimony reviewer approve`` (which
says what is approved); then the bundle is written, its receipt carrying the
approvals' receipts, and ``testimony verify`` replays them. A bundle whose
approvals are dropped, repeated or about another proposal is caught; a held
export can be discarded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import bagit
import pytest

from testimony.client.bundle.verify import verify
from tests.client.bundle.test_verify import caught, failed, rebag
from tests.workstation.test_export import send
from tests.workstation.test_session import (
    Organisation,
    found,
    join,
    last_line,
    ok,
    one_line_error,
    organisation,
    run,
)

__all__ = ["organisation"]  # the module's server (a fixture)


def _proposal(said: str) -> str:
    line = next(li for li in said.splitlines() if "testimony reviewer approve " in li)
    return line.split("testimony reviewer approve ")[1].strip()


@pytest.fixture(scope="module")
def admins(
    organisation: Organisation, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The founder (quorum 2) and a second admin, enrolled on the founder's
    approval alone (the quorum is capped by the admins there are) and
    granted the keyring."""
    first, _me = found(organisation, tmp_path_factory.mktemp("first"), quorum=2)
    second, other = join(organisation, first, tmp_path_factory.mktemp("second"), role="admin")
    ok(run("keys", "grant", other.id, "--workstation", first))
    ok(run("sync", "--workstation", second))
    return first, second


@pytest.fixture(scope="module")
def released(
    organisation: Organisation, admins: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    first, second = admins
    sent = send(organisation, "They burned the mill.", share_with=["prosecutor"])
    ok(run("sync", "--workstation", first))
    out = tmp_path_factory.mktemp("out") / "bundle"
    said = ok(
        run(
            "export", "--workstation", first, "--testimony", sent.id,
            "--profile", "prosecutor", "--out", out,
        )
    )  # fmt: skip
    assert "as a proposal: the policy asks 2 admins to approve it, and it has 1" in said
    proposal = _proposal(said)
    assert not out.exists()  # held, not released

    listed = ok(run("exports", "list", "--workstation", first))
    assert proposal[:16] in listed and "1 of 2 approvals" in listed
    refused = one_line_error(
        run("exports", "release", proposal[:12], "--workstation", first),
        "export-awaiting-approval",
    )
    assert "1 of 2 approvals" in refused and not out.exists()

    ok(run("sync", "--workstation", second))
    asked = ok(run("exports", "list", "--workstation", second))
    assert "awaiting approval: the export by" in asked and "1 testimonies" in asked
    assert "prosecutor for prosecutor" in asked
    approved = ok(run("reviewer", "approve", proposal, "--workstation", second))
    assert "approved the export by" in approved and "it has taken effect" in approved

    done = ok(run("exports", "release", proposal[:12], "--workstation", first))
    assert f"written to {out}" in done and "approved by 2 admins" in done
    assert ok(run("exports", "list", "--workstation", first)).strip() == (
        "no export is held on this workstation"
    )
    return out, proposal


def test_an_approved_export_is_released_and_verifies_with_its_approvals(
    released: tuple[Path, str], organisation: Organisation
) -> None:
    out, proposal = released
    assert bagit.Bag(str(out)).is_valid()
    verdict = verify(out, log_key=organisation.log_key)
    assert verdict.ok, failed(verdict)
    said = next(i.message for i in verdict.items if i.kind == "export-receipt")
    assert "approved by 2 admins" in said
    receipt = json.loads((out / "export-receipt.json").read_text())
    assert receipt["id"] == proposal and len(receipt["approvals"]) == 1


@pytest.fixture
def receipt_of(released: tuple[Path, str], tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    target = tmp_path / "bundle"
    shutil.copytree(released[0], target)
    return target, json.loads((target / "export-receipt.json").read_text())


def _rewrite(root: Path, receipt: dict[str, Any]) -> None:
    (root / "export-receipt.json").write_text(json.dumps(receipt))
    rebag(root)


def test_approvals_dropped_repeated_or_broken_are_caught(
    receipt_of: tuple[Path, dict[str, Any]],
) -> None:
    root, receipt = receipt_of
    approval = receipt["approvals"][0]
    for approvals, words in (
        ([], "do not bring the export to its quorum"),
        ([approval, approval], "not logged after the export and the approvals before it"),
        ([{**approval, "id": "00" * 32}], "receipt does not verify"),
        ([{**approval, "consistency": {**approval["consistency"], "from": 0}}], "consistency"),
        ("none", "carries no approvals"),
    ):
        changed = dict(receipt)
        if approvals == "none":
            del changed["approvals"]
        else:
            changed["approvals"] = approvals
        _rewrite(root, changed)
        caught(verify(root), "export-receipt", "export-receipt.json", words)


def test_an_approval_of_another_proposal_is_caught(
    organisation: Organisation,
    admins: tuple[Path, Path],
    receipt_of: tuple[Path, dict[str, Any]],
    tmp_path: Path,
) -> None:
    """A second export, held and approved, lends its approval to the first
    bundle: refused, since it approves another entry."""
    first, second = admins
    sent = send(organisation, "A second account.", share_with=["prosecutor"])
    ok(run("sync", "--workstation", first))
    said = ok(
        run(
            "export", "--workstation", first, "--testimony", sent.id,
            "--profile", "prosecutor", "--out", tmp_path / "other",
        )
    )  # fmt: skip
    other = _proposal(said)
    ok(run("sync", "--workstation", second))
    ok(run("reviewer", "approve", other, "--workstation", second))
    ok(run("exports", "release", other, "--workstation", first))
    lent = json.loads((tmp_path / "other" / "export-receipt.json").read_text())["approvals"]
    root, receipt = receipt_of
    _rewrite(root, {**receipt, "approvals": lent})
    verdict = verify(root)
    assert not verdict.ok
    assert any("approval 0" in m for _k, _i, m in failed(verdict)), failed(verdict)


def test_a_held_export_can_be_discarded(
    organisation: Organisation, admins: tuple[Path, Path], tmp_path: Path
) -> None:
    first, _second = admins
    sent = send(organisation, "Held and then withdrawn.", share_with=["prosecutor"])
    ok(run("sync", "--workstation", first))
    out = tmp_path / "withdrawn"
    said = ok(
        run(
            "export", "--workstation", first, "--testimony", sent.id,
            "--profile", "prosecutor", "--out", out,
        )
    )  # fmt: skip
    proposal = _proposal(said)
    assert (tmp_path / "withdrawn.partial").is_dir()
    again = one_line_error(
        run(
            "export", "--workstation", first, "--testimony", sent.id,
            "--profile", "prosecutor", "--out", out,
        ),
        "out-exists",
    )  # fmt: skip
    assert f"the bag of export {proposal[:16]}, held for approval" in again
    gone = ok(run("exports", "discard", proposal[:12], "--workstation", first))
    assert last_line(gone) == f"export {proposal[:16]} discarded: its held bag is removed"
    assert not any(tmp_path.iterdir())
    one_line_error(run("exports", "release", proposal, "--workstation", first), "unknown-export")
