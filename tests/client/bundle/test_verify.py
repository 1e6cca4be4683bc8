"""``testimony verify`` on a bundle exported from a real server, untouched and
then tampered with, one way at a time (docs/protocol.md §11): each change is
caught and named. Most changes are made as a careful forger would, recomputing
every BagIt manifest afterwards (:func:`rebag`), so that it is the bundle's own
checks — keys, proofs, signatures, the export's commitment — that catch it,
not only the manifests."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyrage import x25519

from testimony.client.bundle import archive, layout
from testimony.client.bundle.verify import BundleUnreadable, Verdict, verify
from testimony.crypto import canonical, cosignature, merkle, note, signing
from testimony.crypto.encoding import b64u_decode, b64u_encode
from tests.workstation.test_export import Case, case, founder, organisation, send
from tests.workstation.test_session import Organisation, ok, run

__all__ = ["case", "founder", "organisation"]  # the module's server and its testimonies


@pytest.fixture(scope="module")
def bundle(case: Case, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exported") / "bundle"
    ok(
        run(
            "export", "--workstation", case.home, "--testimony", case.first.id,
            "--testimony", case.second.id, "--profile", "prosecutor", "--out", out,
        )
    )  # fmt: skip
    return out


@pytest.fixture
def copy(bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(bundle, target)
    return target


def rebag(root: Path) -> None:
    """Recompute the payload manifest, Payload-Oxum and the tag manifest, as a
    forger covering their tracks would."""
    data = root / "data"
    files = sorted(p for p in data.rglob("*") if p.is_file())
    lines = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()} data/"
        f"{layout.encode_path(p.relative_to(data).as_posix())}\n"
        for p in files
    ]
    (root / "manifest-sha256.txt").write_text("".join(sorted(lines)), encoding="utf-8")
    info = [
        line
        for line in (root / "bag-info.txt").read_text().splitlines()
        if not line.startswith("Payload-Oxum")
    ]
    octets = sum(p.stat().st_size for p in files)
    info.append(f"Payload-Oxum: {octets}.{len(files)}")
    (root / "bag-info.txt").write_text("\n".join(info) + "\n")
    tags = sorted(
        p.name for p in root.iterdir() if p.is_file() and not p.name.startswith("tagmanifest-")
    )
    (root / "tagmanifest-sha256.txt").write_text(
        "".join(f"{hashlib.sha256((root / n).read_bytes()).hexdigest()} {n}\n" for n in tags)
    )


def failed(verdict: Verdict) -> list[tuple[str, str, str]]:
    return [(i.kind, i.id, i.message) for i in verdict.items if not i.ok]


def caught(verdict: Verdict, kind: str, item_id: str, words: str) -> None:
    """The verdict fails, and names ``kind``/``item_id`` with ``words`` in its reason."""
    assert not verdict.ok
    found = [(k, i, m) for k, i, m in failed(verdict) if k == kind and item_id in i]
    assert found, failed(verdict)
    assert any(words in m for _k, _i, m in found), found


def flip(path: Path, at: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def folder_of(root: Path, case: Case) -> Path:
    return root / "data" / layout.testimony_dir(case.first.id)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


# --- untouched -------------------------------------------------------------------------


def test_the_bundle_as_exported_verifies_self_certified_or_pinned(
    bundle: Path, organisation: Organisation
) -> None:
    verdict = verify(bundle)
    assert verdict.ok, failed(verdict)
    assert verdict.trust == "self-certified" and verdict.profile == "prosecutor"
    pinned = verify(bundle, log_key=organisation.log_key)
    assert pinned.ok and pinned.trust == "pinned"
    shown = run("verify", bundle, "--log-key", organisation.log_key)
    assert shown.exit_code == 0, shown.stdout
    lines = shown.stdout.splitlines()
    assert all(line.startswith("ok   ") for line in lines[:-1])
    assert lines[-1].startswith("VERIFIED") and "pinned" in lines[-1]


def test_a_zip_and_an_age_file_verify_too(bundle: Path, tmp_path: Path) -> None:
    zipped = tmp_path / "bundle.zip"
    archive.zip_bag(bundle, zipped)
    assert verify(zipped).ok
    identity = x25519.Identity.generate()
    key_file = tmp_path / "key.txt"
    key_file.write_text(str(identity) + "\n")
    sealed = tmp_path / "bundle.zip.age"
    archive.encrypt_for(zipped, sealed, [str(identity.to_public())])
    assert verify(sealed, identity=key_file).ok
    shown = run("verify", sealed, "--identity", key_file)
    assert shown.exit_code == 0, shown.stdout
    refused = run("verify", sealed)
    assert refused.exit_code == 1 and "(age-identity-needed)" in refused.stderr
    with pytest.raises(BundleUnreadable):
        verify(tmp_path / "nowhere")
    missing = run("verify", tmp_path / "nowhere")
    assert missing.exit_code == 1 and missing.stderr.endswith("(bundle-unreadable)\n")
    assert missing.stderr.count("\n") == 1


# --- tampered, one way at a time -----------------------------------------------------------


def test_a_file_byte(copy: Path, case: Case) -> None:
    photo = folder_of(copy, case) / "files" / "0-IMG_0412.jpg"
    flip(photo, 1000)
    caught(verify(copy), "bag", "0-IMG_0412.jpg", "does not match its SHA-256")
    rebag(copy)
    verdict = verify(copy)
    caught(verdict, "file", "0-IMG_0412.jpg", "not what its key opens")
    caught(verdict, "export-receipt", "export-receipt.json", "does not commit to this bag")


def test_a_manifest_line(copy: Path) -> None:
    manifest = copy / "manifest-sha256.txt"
    lines = manifest.read_text().splitlines()
    target = next(i for i, line in enumerate(lines) if line.endswith("data/bundle.json"))
    lines[target] = "0" * 64 + lines[target][64:]
    manifest.write_text("\n".join(lines) + "\n")
    verdict = verify(copy)
    caught(verdict, "bag", "data/bundle.json", "does not match its SHA-256")
    caught(verdict, "bag", "manifest-sha256.txt", "tagmanifest")


def test_a_tag_file(copy: Path) -> None:
    info = copy / "bag-info.txt"
    info.write_text(info.read_text().replace("Bagging-Date: ", "Bagging-Date: 1"))
    caught(verify(copy), "bag", "bag-info.txt", "tagmanifest")


def test_a_proof_node(copy: Path, case: Case) -> None:
    proof_path = folder_of(copy, case) / "proof.json"
    proof = json.loads(proof_path.read_text())
    assert proof["path"], "a one-entry tree has no proof node to change"
    node = bytearray(bytes.fromhex(proof["path"][0]))
    node[0] ^= 0x80
    proof["path"][0] = node.hex()
    proof_path.write_text(json.dumps(proof))
    rebag(copy)
    caught(verify(copy), "testimony", case.first.id, "inclusion proof does not lead")


def test_the_checkpoint_s_signature(copy: Path) -> None:
    checkpoint = copy / "data" / "custody" / "checkpoint.txt"
    text = checkpoint.read_text()
    head, signature = text.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(signature))
    raw[10] ^= 0x01
    checkpoint.write_text(f"{head} {base64.b64encode(bytes(raw)).decode()}\n")
    rebag(copy)
    caught(verify(copy), "checkpoint", "checkpoint.txt", "bad-checkpoint-signature")


def test_a_swapped_cek(copy: Path, case: Case) -> None:
    first = folder_of(copy, case) / "cek.txt"
    second = copy / "data" / layout.testimony_dir(case.second.id) / "cek.txt"
    first.write_bytes(second.read_bytes())
    rebag(copy)
    caught(verify(copy), "testimony", case.first.id, "cek.txt does not open body.bin")


def test_a_manifest_json_that_is_not_what_the_cek_opens(copy: Path, case: Case) -> None:
    path = folder_of(copy, case) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["answers"]["narrative"] = "Nothing happened."
    path.write_text(json.dumps(manifest))
    rebag(copy)
    caught(verify(copy), "testimony", case.first.id, "opens body.bin to another manifest")


def _annotation_line(events: list[dict[str, Any]], kind: str) -> int:
    return next(i for i, e in enumerate(events) if e.get("payload", {}).get("kind") == kind)


def test_a_custody_signature(copy: Path) -> None:
    path = copy / "data" / "custody" / "events.jsonl"
    events = _lines(path)
    at = _annotation_line(events, "note")
    entry = json.loads(b64u_decode(events[at]["entry"]))
    other = Ed25519PrivateKey.generate()
    entry["signature"] = b64u_encode(signing.sign(other, b"something else"))
    data = canonical.dumps(entry)
    events[at]["entry"] = b64u_encode(data)
    events[at]["id"] = merkle.leaf_hash(data).hex()  # a forger keeps the id consistent
    _write_lines(path, events)
    rebag(copy)
    caught(verify(copy), "custody-event", events[at]["id"], "inclusion proof")


def test_a_governance_entry_left_out(copy: Path) -> None:
    """Without the ``org`` entry nobody had standing: every signed custody event
    and the reviewers' keys fail (and the export, whose manifest changed)."""
    path = copy / "data" / "custody" / "governance.jsonl"
    lines = [line for line in _lines(path) if b'"type":"org"' not in b64u_decode(line["entry"])]
    _write_lines(path, lines)
    rebag(copy)
    verdict = verify(copy)
    events = _lines(copy / "data" / "custody" / "events.jsonl")
    noted = events[_annotation_line(events, "note")]["id"]
    caught(verdict, "custody-event", noted, "standing")
    caught(verdict, "governance", "reviewers.json", "never enrolled")
    caught(verdict, "export-receipt", "export-receipt.json", "manifest-sha256.txt")


def test_a_disclosed_key_that_opens_nothing(copy: Path) -> None:
    path = copy / "data" / "custody" / "events.jsonl"
    events = _lines(path)
    at = _annotation_line(events, "translation")
    events[at]["key"] = b64u_encode(os.urandom(32))
    _write_lines(path, events)
    rebag(copy)
    caught(verify(copy), "custody-event", events[at]["id"], "K_e opens nothing")


def test_a_disclosed_payload_that_is_not_what_the_key_opens(copy: Path) -> None:
    path = copy / "data" / "custody" / "events.jsonl"
    events = _lines(path)
    at = _annotation_line(events, "note")
    events[at]["payload"]["text"] = "an unreliable account"
    _write_lines(path, events)
    rebag(copy)
    caught(verify(copy), "custody-event", events[at]["id"], "another payload")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda r: r["payload"].update(testimonies=r["payload"]["testimonies"][:1]), "payload"),
        (lambda r: r.update(key=b64u_encode(os.urandom(32))), "K_e does not open"),
        (
            lambda r: r["consistency"].update(path=list(reversed(r["consistency"]["path"]))),
            "extend",
        ),
        (lambda r: r["inclusion"].update(index=r["inclusion"]["index"] + 1), "bad-receipt"),
    ],
    ids=["payload", "key", "consistency", "inclusion"],
)
def test_the_export_receipt(
    copy: Path, change: Callable[[dict[str, Any]], None], words: str
) -> None:
    path = copy / "export-receipt.json"
    receipt = json.loads(path.read_text())
    if not receipt["consistency"]["path"] and "consistency" in words:
        pytest.skip("no consistency node to change")
    change(receipt)
    path.write_text(json.dumps(receipt))
    rebag(copy)
    caught(verify(copy), "export-receipt", "export-receipt.json", words)


def test_a_bag_from_another_log(copy: Path) -> None:
    other = note.verifier_key(
        "workstation.test/log", signing.public_key_bytes(Ed25519PrivateKey.generate())
    )
    caught(verify(copy, log_key=other), "checkpoint", "checkpoint.txt", "another log")
    (copy / "data" / "custody" / "log-key.txt").write_text(other + "\n")
    rebag(copy)
    caught(verify(copy), "checkpoint", "checkpoint.txt", "unknown-checkpoint-key")


def test_a_ciphertext_byte(copy: Path, case: Case) -> None:
    folder = folder_of(copy, case)
    photo = json.loads((folder / "manifest.json").read_text())["attachments"][0]["blob"]
    flip(folder / "blobs" / photo, 5)
    flip(folder / "body.bin", 40)
    rebag(copy)
    verdict = verify(copy)
    caught(verdict, "file", "0-IMG_0412.jpg", "does not hash to its name")
    caught(verdict, "testimony", case.first.id, "body.bin does not hash to what the entry names")


def test_an_unlisted_file_and_a_missing_testimony(copy: Path, case: Case) -> None:
    (copy / "data" / "testimonies" / ("ef" * 32)).mkdir()
    (copy / "data" / "testimonies" / ("ef" * 32) / "entry.json").write_text("{}")
    shutil.rmtree(copy / "data" / layout.testimony_dir(case.second.id))
    rebag(copy)
    verdict = verify(copy)
    caught(verdict, "bag", "ef" * 32, "no part of §11's layout")
    caught(verdict, "bag", case.second.id, "listed in bundle.json but missing")


def test_the_command_prints_each_failure_and_exits_1(copy: Path, case: Case) -> None:
    flip(folder_of(copy, case) / "files" / "0-IMG_0412.jpg", 7)
    shown = run("verify", copy)
    assert shown.exit_code == 1
    lines = shown.stdout.splitlines()
    assert any(line.startswith("FAIL bag ") and "0-IMG_0412.jpg" in line for line in lines)
    assert lines[-1].startswith("NOT VERIFIED")


# --- a newer checkpoint ---------------------------------------------------------------------


def test_a_newer_checkpoint_with_its_consistency_proof(
    bundle: Path, organisation: Organisation, tmp_path: Path
) -> None:
    send(organisation, "a later testimony")
    newer = httpx.get(organisation.url + "/api/v1/log/checkpoint").text
    size = int(newer.splitlines()[1])
    bundled = json.loads((bundle / "data" / "bundle.json").read_text())["checkpoint"]

    alone = tmp_path / "newer.txt"
    alone.write_text(newer)
    verdict = verify(bundle, newer_checkpoint=alone)
    caught(verdict, "newer-checkpoint", "--checkpoint", "cannot be checked offline")

    proof = httpx.get(
        organisation.url + f"/api/v1/log/proof/consistency?from={bundled}&to={size}"
    ).text
    alone.write_text(newer + proof)
    verdict = verify(bundle, newer_checkpoint=alone)
    assert verdict.ok, failed(verdict)
    assert any(i.kind == "newer-checkpoint" and "extends" in i.message for i in verdict.items)

    wrong = json.loads(proof)
    wrong["path"] = wrong["path"][::-1]
    broken = verify(bundle, newer_checkpoint=newer + json.dumps(wrong))
    caught(broken, "newer-checkpoint", "--checkpoint", "forked")
    shown = run("verify", bundle, "--checkpoint", alone)
    assert shown.exit_code == 0, shown.stdout


# --- a bundle with redactions ----------------------------------------------------------------


@pytest.fixture(scope="module")
def redacted(
    organisation: Organisation, case: Case, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    sent = send(
        organisation,
        "They came at night.",
        share_with=["media"],
        files=[("a.jpg", os.urandom(4_000)), ("b.jpg", os.urandom(5_000))],
        answers={"victims": "Aman Kasymov", "other_witnesses": "Ainur"},
    )
    ok(run("sync", "--workstation", case.home))
    out = tmp_path_factory.mktemp("redacted") / "bundle"
    ok(
        run(
            "export", "--workstation", case.home, "--testimony", sent.id, "--profile", "media",
            "--release", f"{sent.id[:10]}/1", "--out", out,
        )
    )  # fmt: skip
    return out, sent.id


@pytest.fixture
def withheld(redacted: tuple[Path, str], tmp_path: Path) -> tuple[Path, Path, str]:
    """A copy of the redacted bundle, its testimony's folder, and its id."""
    target = tmp_path / "bundle"
    shutil.copytree(redacted[0], target)
    return target, target / "data" / layout.testimony_dir(redacted[1]), redacted[1]


def test_the_redacted_bundle_as_exported_verifies(redacted: tuple[Path, str]) -> None:
    verdict = verify(redacted[0])
    assert verdict.ok, failed(verdict)


def test_a_redaction_hash(withheld: tuple[Path, Path, str]) -> None:
    root, _folder, _id = withheld
    path = root / "data" / "bundle.json"
    bundle = json.loads(path.read_text())
    bundle["redactions"][0]["commitment"] = "00" * 32
    path.write_bytes(canonical.dumps(bundle))
    rebag(root)
    caught(verify(root), "export-receipt", "export-receipt.json", "does not commit")


def test_a_withheld_answer_restored_or_a_redaction_dropped(
    withheld: tuple[Path, Path, str],
) -> None:
    root, folder, testimony = withheld
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["answers"]["victims"] = "someone else entirely"
    (folder / "manifest.json").write_bytes(canonical.dumps(manifest))
    rebag(root)
    caught(verify(root), "testimony", testimony, "other items than bundle.json's redactions")
    path = root / "data" / "bundle.json"
    bundle = json.loads(path.read_text())
    bundle["redactions"] = [r for r in bundle["redactions"] if r["path"] != "answers/victims"]
    path.write_bytes(canonical.dumps(bundle))
    rebag(root)
    verdict = verify(root)
    assert ("export-receipt", "export-receipt.json") in [(k, i) for k, i, _m in failed(verdict)]


def test_a_cek_added_beside_redactions(withheld: tuple[Path, Path, str]) -> None:
    root, folder, testimony = withheld
    (folder / "cek.txt").write_text(b64u_encode(os.urandom(32)) + "\n")
    rebag(root)
    caught(verify(root), "testimony", testimony, "would open what bundle.json lists as withheld")


def test_a_withheld_file_put_back(withheld: tuple[Path, Path, str]) -> None:
    root, folder, _testimony = withheld
    (folder / "files" / "1-b.jpg").write_bytes(b"a photo said to be withheld")
    rebag(root)
    caught(verify(root), "file", "1-b.jpg", "no file the manifest describes")


def test_malformed_redactions_are_named(withheld: tuple[Path, Path, str]) -> None:
    root, _folder, _testimony = withheld
    path = root / "data" / "bundle.json"
    original = path.read_bytes()
    for change, words in (
        (lambda r: r.update(path="answers/../x"), "no path of §11"),
        (lambda r: r.update(commitment="zz"), "no commitment of 64 hex digits"),
        (lambda r: r.update(testimony="ab" * 32), "names no testimony or follow-up"),
        (lambda r: r.update(extra=1), "redaction 0"),
    ):
        bundle = json.loads(path.read_text())
        change(bundle["redactions"][0])
        path.write_bytes(canonical.dumps(bundle))
        rebag(root)
        verdict = verify(root)
        assert not verdict.ok
        assert any(words in m for _k, _i, m in failed(verdict)), failed(verdict)
        path.write_bytes(original)


# --- the public log (--log) ------------------------------------------------------------------


def _log_file(organisation: Organisation, path: Path) -> Path:
    """The log's entries, one b64u entry a line, as docs/bundles.md says to fetch them."""
    size = httpx.get(f"{organisation.url}/api/v1/log/checkpoint").text.splitlines()[1]
    page = httpx.get(
        f"{organisation.url}/api/v1/log/entries", params={"start": 0, "end": int(size)}
    ).json()
    path.write_text("".join(entry + "\n" for entry in page["entries"]))
    return path


def test_the_public_log_shows_nothing_was_left_out(
    bundle: Path, organisation: Organisation, tmp_path: Path
) -> None:
    for source in (organisation.url, str(_log_file(organisation, tmp_path / "log.txt"))):
        verdict = verify(bundle, log=source)
        assert verdict.ok, failed(verdict)
        said = next(i.message for i in verdict.items if i.kind == "log")
        assert "no access, follow-up or reply concerning the bundle's testimonies is left out" in (
            said
        )
    shown = run("verify", bundle, "--log", organisation.url)
    assert shown.exit_code == 0 and any(
        line.startswith("ok   log ") for line in shown.stdout.splitlines()
    )


def test_an_access_left_out_is_named_by_the_log(copy: Path, organisation: Organisation) -> None:
    path = copy / "data" / "custody" / "events.jsonl"
    events = _lines(path)
    access = next(
        n
        for n, e in enumerate(events)
        if '"access"'
        in base64.urlsafe_b64decode(e["entry"] + "=" * (-len(e["entry"]) % 4)).decode()
    )
    dropped = events.pop(access)
    _write_lines(path, events)
    rebag(copy)
    # Offline, only the export's commitment to the manifest catches it (a
    # dishonest exporter would have left it out before signing); the log names it.
    assert [k for k, _i, _m in failed(verify(copy))] == ["export-receipt"]
    caught(
        verify(copy, log=organisation.url), "log", organisation.url,
        f"access at index {dropped['index']}",
    )  # fmt: skip


def test_a_log_that_is_not_the_bundle_s_is_named(
    bundle: Path, organisation: Organisation, tmp_path: Path
) -> None:
    lines = _log_file(organisation, tmp_path / "log.txt").read_text().splitlines()
    short = tmp_path / "short.txt"
    short.write_text("\n".join(lines[:3]) + "\n")
    caught(verify(bundle, log=str(short)), "log", str(short), "fewer than the latest checkpoint")
    swapped = tmp_path / "swapped.txt"
    swapped.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    caught(verify(bundle, log=str(swapped)), "log", str(swapped), "another log, or a fork")
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("not base64 at all!\n")
    caught(verify(bundle, log=str(garbage)), "log", str(garbage), "not one b64u entry")
    caught(
        verify(bundle, log=str(tmp_path / "absent.txt")), "log", "absent.txt", "could not be read"
    )
    refused = run("verify", bundle, "--log", "http://127.0.0.1:9/")
    assert refused.exit_code == 1 and "Traceback" not in refused.stdout + refused.stderr


# --- witnesses (§13) -------------------------------------------------------------------------

WITNESSES = [
    cosignature.CosignerSigner(f"witness.test/w{i}", Ed25519PrivateKey.generate()) for i in range(3)
]
WITNESS_KEYS = [str(w.key) for w in WITNESSES]


def _cosign_receipt(root: Path, signers: list[cosignature.CosignerSigner]) -> None:
    """Cosign the export receipt's checkpoint (a tag file: the log's signature
    and the export's commitment still hold), as witnesses would have."""
    path = root / "export-receipt.json"
    receipt = json.loads(path.read_text())
    note_text = receipt["checkpoint"]
    receipt["checkpoint"] = cosignature.add(
        note_text, [cosignature.cosign(note_text, s, 1_800_000_000) for s in signers]
    )
    path.write_text(json.dumps(receipt))
    rebag(root)


def test_pinned_witnesses_that_cosigned_make_the_trust_independent(copy: Path) -> None:
    alone = verify(copy, witness_keys=WITNESS_KEYS[:1])
    caught(alone, "witnesses", "1 pinned", "no checkpoint of the bundle carries 1 valid")
    _cosign_receipt(copy, WITNESSES[:2])
    verdict = verify(copy, witness_keys=WITNESS_KEYS, cosignatures=2)
    assert verdict.ok, failed(verdict)
    assert verdict.witnessed == 2 and "cosigned by 2 pinned witnesses" in verdict.summary()
    said = next(i.message for i in verdict.items if i.kind == "witnesses")
    assert "the export receipt's checkpoint is cosigned by 2 pinned witnesses" in said
    caught(
        verify(copy, witness_keys=WITNESS_KEYS, cosignatures=3),
        "witnesses", "3 pinned", "carries 3 valid cosignatures",
    )  # fmt: skip
    shown = run("verify", copy, "--witness-key", WITNESS_KEYS[0], "--witness-key", WITNESS_KEYS[1])
    assert shown.exit_code == 0 and "cosigned by 2 pinned witnesses" in shown.stdout
    refused = run("verify", copy, "--witness-key", WITNESS_KEYS[0], "--cosignatures", "2")
    assert refused.exit_code == 1 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1 and "--cosignatures" in refused.stderr


def test_a_forged_cosignature_of_a_pinned_witness_is_named(copy: Path) -> None:
    path = copy / "export-receipt.json"
    receipt = json.loads(path.read_text())
    line = cosignature.cosign(receipt["checkpoint"], WITNESSES[0], 1_800_000_000)
    name, encoded = line.removeprefix("\u2014 ").rstrip("\n").split(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1
    receipt["checkpoint"] = cosignature.add(
        receipt["checkpoint"], [f"\u2014 {name} {base64.b64encode(bytes(raw)).decode()}\n"]
    )
    path.write_text(json.dumps(receipt))
    rebag(copy)
    caught(verify(copy, witness_keys=WITNESS_KEYS), "witnesses", "3 pinned", "forged")


def test_a_newer_cosigned_checkpoint_gives_the_witnesses_trust(
    bundle: Path, organisation: Organisation
) -> None:
    newer = httpx.get(organisation.url + "/api/v1/log/checkpoint").text
    size = int(newer.splitlines()[1])
    bundled = json.loads((bundle / "data" / "bundle.json").read_text())["checkpoint"]
    proof = httpx.get(
        organisation.url + f"/api/v1/log/proof/consistency?from={bundled}&to={size}"
    ).text
    cosigned = cosignature.add(newer, [cosignature.cosign(newer, WITNESSES[2], 1_800_000_000)])
    verdict = verify(bundle, newer_checkpoint=cosigned + proof, witness_keys=WITNESS_KEYS)
    assert verdict.ok, failed(verdict)
    said = next(i.message for i in verdict.items if i.kind == "witnesses")
    assert said.startswith("the newer checkpoint is cosigned by 1 pinned witnesses")
