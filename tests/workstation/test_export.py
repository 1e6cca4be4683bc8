"""``testimony export`` against a real server, and the bundle it writes checked
by what a court's clerk would use: the Library of Congress ``bagit`` tool, the
bundle's BagIt Profile (``bagit_profile``), ``testimony verify`` (library and
command), and the files compared with what the witness sealed
(docs/protocol.md §11).

Then each refusal: consent excluding the recipient (named, nothing written),
an existing ``--out``, an unknown profile, a release the profile has no use
for; each one line. Then the pseudonymising profiles (un_treaty_body, media):
what they withhold is absent and committed to. Four eyes on an export is
tests/workstation/test_export_approvals.py."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bagit
import bagit_profile
import pytest

from testimony.client import tus
from testimony.client.bundle import BAGIT_PROFILE_ID, layout
from testimony.client.bundle import bagit_profile as profile_json
from testimony.client.bundle.verify import verify
from testimony.client.http import ServerClient
from testimony.crypto import submission
from testimony.crypto.encoding import b64u_encode
from testimony.crypto.receipt import WitnessKeys
from testimony.forms import bundled_forms
from tests.workstation.test_session import (
    Organisation,
    follow_up,
    found,
    ok,
    one_line_error,
    organisation,
    run,
    witness_keys,
)

__all__ = ["organisation"]  # the module's server (a fixture)

KORDAI = bundled_forms().get_version("kordai-2020", 1)  # what testimonies so far answered


@dataclass
class Sent:
    id: str
    manifest: dict[str, Any]
    files: list[bytes]
    witness: WitnessKeys | None


def _upload(url: str, data: bytes) -> str:
    blob = hashlib.sha256(data).hexdigest()
    with ServerClient(url) as client:
        tus.upload(client, blob, len(data), lambda offset, n: [data[offset : offset + n]])
    return blob


def send(
    organisation: Organisation,
    text: str,
    *,
    share_with: Sequence[str] = ("prosecutor",),
    files: Sequence[tuple[str, bytes]] = (),
    witness: WitnessKeys | None = None,
    body_blob: bool = False,
    answers: Mapping[str, Any] | None = None,
    form: Mapping[str, Any] | None = None,
) -> Sent:
    """A testimony on the bundled Kordai form, consenting to ``share_with`` (its
    body uploaded as a blob with ``body_blob``)."""
    sealed_files = [
        submission.seal_attachment(data, name=name, media_type="image/jpeg") for name, data in files
    ]
    manifest = {
        "v": 1,
        "form": dict(form or {"id": KORDAI.definition.id, "version": 1, "sha256": KORDAI.sha256}),
        "lang": "en",
        "answers": {"narrative": text, **(answers or {})},
        "attachments": [f.descriptor for f in sealed_files],
        "consent": {"share_with": list(share_with), "contact": True},
    }
    sealed = submission.seal_submission(organisation.intake_public, manifest)
    for f in sealed_files:
        _upload(organisation.url, f.ciphertext)
    request = sealed.request(attachments=[f.blob for f in sealed_files], witness=witness)
    if body_blob:
        del request["body"]
        request["body_blob"] = _upload(organisation.url, sealed.body)
    with ServerClient(organisation.url) as client:
        receipt = client.post_json("/api/v1/submissions", request, what="submitting")
    return Sent(str(receipt["id"]), manifest, [data for _name, data in files], witness)


@pytest.fixture(scope="module")
def founder(organisation: Organisation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home, _identity = found(organisation, tmp_path_factory.mktemp("founder"), quorum=1)
    return home


@dataclass
class Case:
    home: Path
    first: Sent
    second: Sent
    followup: str
    incident: str


@pytest.fixture(scope="module")
def case(organisation: Organisation, founder: Path) -> Case:
    photo = os.urandom(200_000)
    first = send(
        organisation,
        "They set fire to the houses on the square.",
        files=[("IMG_0412.jpg", photo), ("note\u202egpj.exe", b"a recording")],
        witness=witness_keys(),
    )
    second = send(organisation, "I saw it from the road.")
    followup = follow_up(organisation, _submitted(first), "and the school burned too")
    home = founder
    ok(run("sync", "--workstation", home))
    ok(run("review", "note", first.id, "a first-hand account", "--workstation", home))
    ok(run("review", "translate", first.id, "--lang", "ru", "Подожгли дома", "--workstation", home))
    incident = ok(
        run("incident", "new", "--title", "The fire on the square", "--workstation", home)
    ).strip()
    for testimony in (first.id, second.id):
        ok(
            run(
                "incident", "link", incident, testimony, "--role", "eyewitness",
                "--workstation", home,
            )
        )  # fmt: skip
    ok(run("sync", "--workstation", home))
    return Case(home, first, second, str(followup["id"]), incident)


def _submitted(sent: Sent) -> Any:
    """What ``test_session.follow_up`` reads of a submission."""

    @dataclass
    class Parent:
        id: str
        witness: WitnessKeys | None

    return Parent(sent.id, sent.witness)


def _profile() -> bagit_profile.Profile:
    return bagit_profile.Profile(BAGIT_PROFILE_ID, profile=json.loads(profile_json()))


def test_a_bundle_validates_with_bagit_and_its_profile_and_verifies(
    case: Case, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    printed = ok(
        run(
            "export", "--workstation", case.home, "--testimony", case.first.id[:10],
            "--testimony", case.second.id, "--profile", "prosecutor", "--out", out, "--pdf",
        )
    )  # fmt: skip
    assert "2 testimonies, 1 follow-ups" in printed
    assert not (tmp_path / "bundle.partial").exists()

    bag = bagit.Bag(str(out))
    bag.validate()  # the Library of Congress tool: payload and tag manifests, Oxum
    profile = _profile()
    assert profile.validate_serialization(str(out))
    assert profile.validate(bag), profile.report

    verdict = verify(out)
    assert verdict.ok, [i for i in verdict.items if not i.ok]
    assert verdict.trust == "self-certified"
    kinds = {item.kind for item in verdict.items}
    assert {"bag", "checkpoint", "testimony", "followup", "file", "governance"} <= kinds
    assert {"custody-event", "export-receipt"} <= kinds

    # The files are what the witness sealed, under §11's names.
    files = out / "data" / layout.testimony_dir(case.first.id) / "files"
    assert (files / "0-IMG_0412.jpg").read_bytes() == case.first.files[0]
    assert (files / "1-note_gpj.exe").read_bytes() == case.first.files[1]
    manifest = json.loads((files.parent / "manifest.json").read_text())
    assert manifest == case.first.manifest
    followup = out / "data" / layout.followup_dir(case.first.id, case.followup)
    assert json.loads((followup / "manifest.json").read_text())["text"] == (
        "and the school burned too"
    )
    form = out / "data" / layout.form_path("kordai-2020", 1)
    assert hashlib.sha256(form.read_bytes()).hexdigest() == KORDAI.sha256

    bundle = json.loads((out / "data" / "bundle.json").read_text())
    assert bundle["testimonies"] == sorted(
        [case.first.id, case.second.id], key=[case.first.id, case.second.id].index
    )
    assert bundle["followups"] == [case.followup] and bundle["profile"] == "prosecutor"
    events = [
        json.loads(line) for line in (out / "data/custody/events.jsonl").read_text().splitlines()
    ]
    kinds_of = [e["payload"]["kind"] for e in events if "payload" in e]
    assert {"note", "translation", "link"} <= set(kinds_of)
    assert any("payload" not in e for e in events)  # the access entries (the export's own too)

    report = (out / "data" / "report.html").read_text()
    assert bundle["id"] in report and "They set fire to the houses" in report
    pdf = out / "data" / "report.pdf"  # asked for with --pdf
    assert pdf.read_bytes().startswith(b"%PDF")
    drawn = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True)
    assert "They set fire to the houses" in drawn.stdout and bundle["id"] in drawn.stdout
    assert "testimony verify" in (out / "VERIFY.txt").read_text()

    command = run("verify", out)
    assert command.exit_code == 0, command.stdout
    assert command.stdout.rstrip().splitlines()[-1].startswith("VERIFIED")
    assert "self-certified" in command.stdout


def test_an_incident_is_exported_with_its_record_and_linked_testimonies(
    case: Case, tmp_path: Path
) -> None:
    out = tmp_path / "incident.zip"
    ok(
        run(
            "export", "--workstation", case.home, "--incident", case.incident,
            "--profile", "prosecutor", "--out", out, "--zip",
        )
    )  # fmt: skip
    assert out.is_file() and not (tmp_path / "incident.zip.bag-partial").exists()
    verdict = verify(out)
    assert verdict.ok, [i for i in verdict.items if not i.ok]
    incident = [i for i in verdict.items if i.kind == "incident"]
    assert [i.id for i in incident] == [case.incident]


def test_a_long_testimony_encrypted_with_age_for_its_recipient(
    organisation: Organisation, case: Case, tmp_path: Path
) -> None:
    """A body of over a MiB (uploaded as a blob, which the server does not send
    inline), in a ZIP encrypted with age to the recipient's key."""
    from pyrage import x25519

    long = send(organisation, b64u_encode(os.urandom(800_000)) + " the end", body_blob=True)
    ok(run("sync", "--workstation", case.home))
    recipient = x25519.Identity.generate()
    key_file = tmp_path / "key.txt"
    key_file.write_text(str(recipient) + "\n")
    out = tmp_path / "long.zip.age"
    ok(
        run(
            "export", "--workstation", case.home, "--testimony", long.id,
            "--profile", "prosecutor", "--out", out, "--to", str(recipient.to_public()),
        )
    )  # fmt: skip
    assert out.read_bytes().startswith(b"age-encryption.org/")
    assert not (tmp_path / "long.zip.age.bag-partial").exists()
    verdict = verify(out, identity=key_file)
    assert verdict.ok, [i for i in verdict.items if not i.ok]
    (testimony,) = [i for i in verdict.items if i.kind == "testimony"]
    assert testimony.id == long.id and "cek.txt opens body.bin" in testimony.message


def test_a_profile_discloses_only_the_annotations_it_names(
    organisation: Organisation, case: Case, tmp_path: Path
) -> None:
    both = send(organisation, "for both", share_with=["prosecutor", "un_treaty_body"])
    ok(run("sync", "--workstation", case.home))
    ok(run("review", "note", both.id, "internal: call back", "--workstation", case.home))
    ok(
        run(
            "review",
            "translate",
            both.id,
            "--lang",
            "fr",
            "pour les deux",
            "--workstation",
            case.home,
        )
    )
    # A profile of one's own (a .json file) discloses only the kinds it names.
    own = tmp_path / "translations-only.json"
    own.write_text(
        json.dumps(
            {
                "v": 1,
                "name": "translations_only",
                "recipient": "un_treaty_body",
                "description": "Statements and files in full; of the reviewers' work, translations.",
                "withhold": {"identifying": False, "answers": [], "files": "none"},
                "annotations": ["translation"],
            }
        )
    )
    out = tmp_path / "un"
    ok(
        run(
            "export", "--workstation", case.home, "--testimony", both.id,
            "--profile", own, "--out", out,
        )
    )  # fmt: skip
    assert verify(out).ok
    events = (out / "data/custody/events.jsonl").read_text().splitlines()
    kinds = [json.loads(e)["payload"]["kind"] for e in events if '"payload"' in e]
    assert kinds == ["translation"]
    assert "internal: call back" not in (out / "data/report.html").read_text()


def test_consent_that_excludes_the_recipient_is_refused_by_name(
    organisation: Organisation, case: Case, tmp_path: Path
) -> None:
    private = send(organisation, "only for the organisation", share_with=["un_treaty_body"])
    ok(run("sync", "--workstation", case.home))
    out = tmp_path / "refused"
    refused = one_line_error(
        run(
            "export", "--workstation", case.home, "--testimony", private.id,
            "--testimony", case.second.id, "--profile", "prosecutor", "--out", out,
        ),
        "consent-excludes-recipient",
    )  # fmt: skip
    assert private.id in refused and case.second.id not in refused
    assert not out.exists() and not (tmp_path / "refused.partial").exists()


def test_an_existing_out_is_refused_and_left_alone(case: Case, tmp_path: Path) -> None:
    out = tmp_path / "there"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    one_line_error(
        run(
            "export", "--workstation", case.home, "--testimony", case.second.id,
            "--profile", "prosecutor", "--out", out,
        ),
        "out-exists",
    )  # fmt: skip
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_a_full_disclosure_of_a_bundle_that_withholds_nothing_is_refused(
    case: Case, tmp_path: Path
) -> None:
    out = tmp_path / "full"
    ok(
        run(
            "export", "--workstation", case.home, "--testimony", case.second.id,
            "--profile", "prosecutor", "--out", out,
        )
    )  # fmt: skip
    one_line_error(
        run("exports", "disclose", out, "--out", tmp_path / "d.json", "--workstation", case.home),
        "nothing-withheld",
    )
    assert not (tmp_path / "d.json").exists()


def test_an_unknown_profile_or_a_release_it_has_no_use_for_is_refused(
    case: Case, tmp_path: Path
) -> None:
    one_line_error(
        run(
            "export", "--workstation", case.home, "--testimony", case.second.id,
            "--profile", "nobody", "--out", tmp_path / "x",
        ),
        "unknown-profile",
    )  # fmt: skip
    one_line_error(
        run(
            "export", "--workstation", case.home, "--testimony", case.first.id,
            "--profile", "prosecutor", "--release", f"{case.first.id[:8]}/1",
            "--out", tmp_path / "y",
        ),
        "release-not-needed",
    )  # fmt: skip
    assert not any(tmp_path.iterdir())


# --- redactions (§11: un_treaty_body, media) -----------------------------------------------

WHO = "Aman Kasymov and his son Daniyar"
SAW = "my neighbour Ainur, from the window"


def _everything(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def _salts(home: Path, out: Path) -> list[bytes]:
    """The export entry's redaction salts, opened with the organisation's group
    secret (what a later full disclosure to a court would hand over)."""
    from testimony.crypto.entries import ExportEntry, parse_entry
    from testimony.crypto.keyring import SALTS_INFO, group_key, open_payload
    from tests.workstation.test_session import cache_of

    receipt = json.loads((out / "export-receipt.json").read_text())
    entry = parse_entry(base64_decode(receipt["entry"]))
    assert isinstance(entry, ExportEntry) and entry.salts is not None
    cache = cache_of(home)
    try:
        secret = cache.groups()[entry.epoch]
    finally:
        cache.close()
    opened = open_payload(group_key(secret, entry.nonce, SALTS_INFO), b64u_encode(entry.salts))
    assert set(opened) == {"v", "salts"} and opened["v"] == 1
    return [base64_decode(s) for s in opened["salts"]]


def base64_decode(text: str) -> bytes:
    from testimony.crypto.encoding import b64u_decode

    return b64u_decode(text)


def test_a_pseudonymised_bundle_withholds_the_answers_the_form_marks_and_proves_them(
    organisation: Organisation, case: Case, tmp_path: Path
) -> None:
    """un_treaty_body: the answers kordai-2020 marks identifying (who was harmed,
    who else saw it) are absent, listed with salted commitments that the sealed
    salts prove; the photo is released with its own key; the bag validates and
    verifies; the witness's words for the rest are exactly what they sealed."""
    from testimony.crypto.keyring import redaction_commitment

    photo = os.urandom(50_000)
    sent = send(
        organisation,
        "Men in uniform came at night.",
        share_with=["un_treaty_body"],
        files=[("IMG_0007.jpg", photo)],
        answers={"victims": WHO, "other_witnesses": SAW},
    )
    ok(run("sync", "--workstation", case.home))
    out = tmp_path / "un"
    said = ok(
        run(
            "export", "--workstation", case.home, "--testimony", sent.id,
            "--profile", "un_treaty_body", "--out", out,
        )
    )  # fmt: skip
    assert "2 answers or files withheld for un_treaty_body" in said
    assert bagit.Bag(str(out)).is_valid()
    assert _profile().validate(bagit.Bag(str(out)))
    verdict = verify(out, log_key=organisation.log_key)
    assert verdict.ok, [i for i in verdict.items if not i.ok]
    said_of = next(i.message for i in verdict.items if i.kind == "testimony" and i.id == sent.id)
    assert "withheld" in said_of and "vouched for by the export entry's signature" in said_of

    folder = out / "data" / layout.testimony_dir(sent.id)
    assert not (folder / layout.CEK).exists()
    shown = json.loads((folder / layout.MANIFEST).read_text())
    assert shown["answers"] == {
        "narrative": "Men in uniform came at night.",
        "victims": {"withheld": True},
        "other_witnesses": {"withheld": True},
    }
    assert shown["consent"] == sent.manifest["consent"]
    assert (folder / "files" / "0-IMG_0007.jpg").read_bytes() == photo
    everything = _everything(out)
    for secret in (WHO, SAW):
        assert secret.encode() not in everything  # nowhere: report, manifests, receipt, bag-info

    bundle = json.loads((out / "data/bundle.json").read_text())
    assert [(r["testimony"], r["path"]) for r in bundle["redactions"]] == [
        (sent.id, "answers/other_witnesses"),
        (sent.id, "answers/victims"),
    ]
    salts = _salts(case.home, out)
    assert len(salts) == 2 and all(len(s) == 16 for s in salts) and salts[0] != salts[1]
    for redaction, salt, value in zip(bundle["redactions"], salts, (SAW, WHO), strict=True):
        assert redaction["commitment"] == redaction_commitment(salt, value)
        assert redaction["commitment"] != redaction_commitment(salt, "someone else")

    # A full disclosure, later, under seal: what was withheld, proved by the commitments.
    disclosed = tmp_path / "disclosure.json"
    said = ok(run("exports", "disclose", out, "--out", disclosed, "--workstation", case.home))
    assert "2 withheld items" in said and (disclosed.stat().st_mode & 0o777) == 0o600
    items = json.loads(disclosed.read_text())["items"]
    assert [(i["path"], i["value"]) for i in items] == [
        ("answers/other_witnesses", SAW),
        ("answers/victims", WHO),
    ]
    proved = verify(out, disclosure=disclosed)
    assert proved.ok, [i for i in proved.items if not i.ok]
    forged = json.loads(disclosed.read_text())
    forged["items"][1]["value"] = "someone else"
    disclosed.write_text(json.dumps(forged))
    caught = verify(out, disclosure=disclosed)
    assert [(i.kind, "not what was withheld" in i.message) for i in caught.items if not i.ok] == [
        ("disclosure", True)
    ]
    forged["items"] = forged["items"][:1]
    disclosed.write_text(json.dumps(forged))
    assert not verify(out, disclosure=disclosed).ok


def test_media_withholds_every_file_but_those_a_reviewer_releases(
    organisation: Organisation, case: Case, tmp_path: Path
) -> None:
    from tests.web.jpeg import photo_with_gps

    located, clean = photo_with_gps()
    other = os.urandom(30_000)
    sent = send(
        organisation,
        "The shop was looted.",
        share_with=["media", "prosecutor"],
        files=[("street.jpg", clean), ("IMG_home.jpg", other), ("roof.jpg", located)],
        answers={"victims": WHO},
    )
    ok(run("sync", "--workstation", case.home))
    prefix = sent.id[:10]
    for wrong in (f"{prefix}/4", prefix, "/1", "zz/1"):
        one_line_error(
            run(
                "export", "--workstation", case.home, "--testimony", sent.id,
                "--profile", "media", "--release", wrong, "--out", tmp_path / "wrong",
            ),
            "release-unknown",
        )  # fmt: skip
    # A photo that gives a position is never released: the bundle holds exact files.
    refused = one_line_error(
        run(
            "export", "--workstation", case.home, "--testimony", sent.id,
            "--profile", "media", "--release", f"{prefix}/3", "--out", tmp_path / "gps",
        ),
        "release-has-location",
    )  # fmt: skip
    assert "GPS" in refused and "nothing was written" in refused
    assert not any(tmp_path.iterdir())

    out = tmp_path / "media"
    ok(
        run(
            "export", "--workstation", case.home, "--testimony", sent.id,
            "--profile", "media", "--release", f"{prefix}/1", "--out", out,
        )
    )  # fmt: skip
    verdict = verify(out)
    assert verdict.ok, [i for i in verdict.items if not i.ok]
    folder = out / "data" / layout.testimony_dir(sent.id)
    assert sorted(p.name for p in (folder / "files").iterdir()) == ["0-street.jpg"]
    assert (folder / "files" / "0-street.jpg").read_bytes() == clean
    assert len(list((folder / "blobs").iterdir())) == 1
    shown = json.loads((folder / layout.MANIFEST).read_text())
    assert shown["attachments"][1:] == [{"withheld": True}, {"withheld": True}]
    assert shown["attachments"][0]["name"] == "street.jpg" and "key" in shown["attachments"][0]
    bundle = json.loads((out / "data/bundle.json").read_text())
    assert [r["path"] for r in bundle["redactions"]] == ["answers/victims", "files/1", "files/2"]
    report = (out / "data/report.html").read_text()
    assert "IMG_home" not in report and WHO not in report
    assert other not in _everything(out)


def test_a_form_the_workstation_does_not_know_is_not_pseudonymised_blindly(
    organisation: Organisation, case: Case, tmp_path: Path
) -> None:
    sent = send(
        organisation,
        "On another form.",
        share_with=["un_treaty_body"],
        form={"id": "elsewhere-2021", "version": 1, "sha256": "ab" * 32},
    )
    ok(run("sync", "--workstation", case.home))
    refused = one_line_error(
        run(
            "export", "--workstation", case.home, "--testimony", sent.id,
            "--profile", "un_treaty_body", "--out", tmp_path / "out",
        ),
        "form-unknown",
    )  # fmt: skip
    assert "elsewhere-2021" in refused
    assert not (tmp_path / "out").exists()
