"""Python <-> browser interoperation, byte for byte (docs/protocol.md §1-§3, §7-§9):
the browser seals and ``testimony.crypto`` opens, and the reverse; a follow-up's
signed bytes and signature (§7, v1.1) and the consent wording's hash (§3, v1.1)."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest

from testimony.crypto import (
    canonical,
    followup,
    hpke,
    padding,
    receipt,
    signing,
    stream,
    submission,
)
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.entries import FollowupEntry
from testimony.forms.consent import Consent, consent_text_sha256, consent_wording

# Every test here drives headless Chromium; together they take well over 5 s.
pytestmark = pytest.mark.slow

INTAKE_SEED = bytes(range(100, 132))
INTAKE_PUBLIC = hpke.public_key(INTAKE_SEED)
RECEIVED = datetime(2026, 11, 25, 12, tzinfo=UTC)
CODE = "5501-2222-0000-3141-5926"

# Text that JCS and JSON must carry exactly: Cyrillic, Dungan, a character
# outside the BMP, escapes, numbers that print differently in naive code.
MANIFEST = {
    "v": 1,
    "form": {"id": "kordai-2020", "version": 1, "sha256": "ab" * 32},
    "lang": "ru",
    "answers": {
        "what": 'Ночью 7 февраля \u0445\u0443\u0439\u0437\u0443 — «горело» \U0001f525\n\ttab "q" \\ \u0000\u001f',
        "when": {"start": "2020-02-07", "end": None},
        "where": {"id": "masanchi", "lat": 42.9283, "lon": 75.3071},
        "victims": 3,
        "ratio": 0.1,
        "big": 1e21,
        "small": 5e-324,
        "police": True,
    },
    "consent": {"share_with": ["prosecutor", "un_treaty_body"], "contact": True},
}


def _file_bytes(length: int, seed: int) -> bytes:
    return hashlib.shake_256(b"file %d" % seed).digest(length) if length else b""


def _seal_in_browser(page: Any, manifest: dict, files: list[dict], code: str | None) -> dict:
    return page.evaluate(
        """async ({intake, manifest, files, code}) => {
          const s = window.seal;
          const witness = code === null ? null : await s.deriveWitnessKeys(code);
          const sealed = await s.sealSubmission({
            intakePublicKey: intake,
            manifest,
            files: files.map((f) => ({file: t.blob(f.content, f.type), name: f.name, field: f.field})),
            witness,
            pow: {challenge: "Y2hhbGxlbmdl", nonce: "AAAAAAAAAAA"},
          });
          const attachments = [];
          for (const a of sealed.attachments) {
            attachments.push({blob: a.blob, ciphertext: await t.read(a.ciphertext), descriptor: a.descriptor});
          }
          return {
            cek: t.enc(sealed.cek),
            header: t.enc(sealed.header),
            body: t.enc(sealed.body),
            manifestJcs: t.enc(sealed.manifestJcs),
            attachments,
            bodyBlob: sealed.bodyBlob && {blob: sealed.bodyBlob.blob, ciphertext: await t.read(sealed.bodyBlob.ciphertext)},
            request: sealed.request,
            entry: t.enc(await s.submissionEntry(sealed.request, "2026-11-25T12:00:00Z")),
          };
        }""",
        {
            "intake": b64u_encode(INTAKE_PUBLIC),
            "manifest": manifest,
            "files": files,
            "code": code,
        },
    )


def test_browser_sealed_submission_opens_in_python(page: Any) -> None:
    photo, note = _file_bytes(150_001, 1), "Записка: 水 \U0001f4f7\n".encode()
    files = [
        {
            "content": b64u_encode(photo),
            "name": "IMG_0412.jpg",
            "type": "image/jpeg",
            "field": "photos",
        },
        {"content": b64u_encode(note), "name": "записка.txt", "type": "text/plain"},
    ]
    sealed = _seal_in_browser(page, MANIFEST, files, CODE)
    request = sealed["request"]
    header, body = b64u_decode(sealed["header"]), b64u_decode(sealed["body"])

    # The header and body open with the intake seed, to exactly the manifest JCS the browser made.
    opened = submission.open_submission(INTAKE_SEED, header, body)
    assert opened.cek == b64u_decode(sealed["cek"])
    manifest_jcs = b64u_decode(sealed["manifestJcs"])
    assert canonical.dumps(opened.manifest) == manifest_jcs
    # ... padded with zeros to its Padmé length (§3).
    assert stream.decrypt(opened.cek, body) == padding.pad(manifest_jcs)
    # ... and that manifest is the one given, with the attachments filled in.
    descriptors = [a["descriptor"] for a in sealed["attachments"]]
    expected = dict(MANIFEST, attachments=descriptors)
    expected["answers"] = dict(MANIFEST["answers"], photos=[descriptors[0]["blob"]])
    assert manifest_jcs == canonical.dumps(expected)

    # Every attachment opens to exactly the file's bytes and is padded as §3 says.
    for attachment, data, f in zip(sealed["attachments"], [photo, note], files, strict=True):
        ciphertext = b64u_decode(attachment["ciphertext"])
        assert hashlib.sha256(ciphertext).hexdigest() == attachment["blob"]
        descriptor = attachment["descriptor"]
        assert submission.open_attachment(descriptor, ciphertext) == data
        key = b64u_decode(descriptor["key"])
        assert stream.decrypt(key, ciphertext) == padding.pad(data)
        assert descriptor == {
            "blob": attachment["blob"],
            "key": descriptor["key"],
            "name": f["name"],
            "type": f["type"],
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        assert len(key) == 32
    assert b64u_decode(descriptors[0]["key"]) != b64u_decode(descriptors[1]["key"])

    # The request is §3 step 6's, and the server's entry for it is the browser's, byte for byte.
    keys = receipt.derive(CODE)
    assert request == {
        "intake_key": hpke.key_id(INTAKE_PUBLIC),
        "header": sealed["header"],
        "body": sealed["body"],
        "attachments": [a["blob"] for a in sealed["attachments"]],
        "witness": keys.witness_b64u,
        "witness_box": keys.witness_box_b64u,
        "pow": {"challenge": "Y2hhbGxlbmdl", "nonce": "AAAAAAAAAAA"},
    }
    assert len(header) == 1168
    assert submission.submission_entry(request, RECEIVED) == b64u_decode(sealed["entry"])
    assert sealed["bodyBlob"] is None


def test_a_submission_without_witness_or_files(page: Any) -> None:
    sealed = _seal_in_browser(page, MANIFEST, [], None)
    opened = submission.open_submission(
        INTAKE_SEED, b64u_decode(sealed["header"]), b64u_decode(sealed["body"])
    )
    assert opened.manifest == dict(MANIFEST, attachments=[])
    assert sealed["request"]["witness"] is None and sealed["request"]["witness_box"] is None
    assert submission.submission_entry(sealed["request"], RECEIVED) == b64u_decode(sealed["entry"])


def test_a_body_over_1_mib_becomes_a_body_blob(page: Any) -> None:
    manifest = dict(MANIFEST, answers={"what": "ж" * 600_000})
    sealed = _seal_in_browser(page, manifest, [], None)
    request = sealed["request"]
    body = b64u_decode(sealed["bodyBlob"]["ciphertext"])
    assert "body" not in request and request["body_blob"] == sealed["bodyBlob"]["blob"]
    assert hashlib.sha256(body).hexdigest() == request["body_blob"] and len(body) > 1 << 20
    assert body == b64u_decode(sealed["body"])
    opened = submission.open_submission(INTAKE_SEED, b64u_decode(sealed["header"]), body)
    assert opened.manifest == dict(manifest, attachments=[])
    assert submission.submission_entry(request, RECEIVED) == b64u_decode(sealed["entry"])


# Around the chunk size, and past the Worker's 4 MiB read slice.
@pytest.mark.parametrize("length", [0, 1, 65535, 65536, 65537, (4 << 20) + 3])
def test_browser_sealed_attachments_of_edge_sizes_open_in_python(page: Any, length: int) -> None:
    data = bytes((7 * i + 3) % 256 for i in range(length))
    sealed = page.evaluate(
        """async (length) => {
          const data = new Uint8Array(length);
          for (let i = 0; i < length; i++) data[i] = (7 * i + 3) % 256;
          const a = await window.seal.sealAttachment(new Blob([data]), {name: "f.bin"});
          return {blob: a.blob, ciphertext: await t.read(a.ciphertext), descriptor: a.descriptor};
        }""",
        length,
    )
    ciphertext = b64u_decode(sealed["ciphertext"])
    assert len(ciphertext) == stream.ciphertext_length(padding.padme(length))
    assert hashlib.sha256(ciphertext).hexdigest() == sealed["blob"]
    assert sealed["descriptor"]["type"] == "application/octet-stream"
    assert sealed["descriptor"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert submission.open_attachment(sealed["descriptor"], ciphertext) == data


def test_sealed_file_ranges_are_the_ciphertext_python_makes(page: Any) -> None:
    key = bytes(range(32))
    length = 3 * 65536 + 1000  # padme: 200704 bytes, 4 chunks
    data = _file_bytes(length, 99)
    ciphertext = stream.encrypt(key, padding.pad(data))
    total = len(ciphertext)
    ranges = [(0, total), (0, 0), (0, 1), (65551, 65553), (65552, 131104), (70000, 200000),
              (total - 17, total), (total, total), (1, total - 1)]  # fmt: skip
    got = page.evaluate(
        """async ({content, key, ranges}) => {
          const s = window.seal;
          const a = await s.sealAttachment(t.blob(content), {name: "f", key: t.dec(key)});
          const out = {size: a.ciphertext.size, blob: a.blob, slices: [], errors: []};
          for (const [start, end] of ranges) out.slices.push(t.enc(await a.ciphertext.slice(start, end)));
          out.errors.push(await t.error(a.ciphertext.slice(0, a.ciphertext.size + 1)));
          out.errors.push(await t.error(a.ciphertext.slice(5, 4)));
          return out;
        }""",
        {"content": b64u_encode(data), "key": b64u_encode(key), "ranges": ranges},
    )
    assert got["size"] == total
    assert got["blob"] == hashlib.sha256(ciphertext).hexdigest()
    for (start, end), piece in zip(ranges, got["slices"], strict=True):
        assert b64u_decode(piece) == ciphertext[start:end], (start, end)
    assert got["errors"] == ["malformed-input", "malformed-input"]


def test_python_sealed_submission_opens_in_the_browser(page: Any) -> None:
    photo, empty = _file_bytes(70_000, 7), b""
    attachments = [
        submission.seal_attachment(photo, name="IMG_0001.jpg", media_type="image/jpeg"),
        submission.seal_attachment(empty, name="empty.bin", media_type="application/octet-stream"),
    ]
    manifest = dict(MANIFEST, attachments=[a.descriptor for a in attachments])
    sealed = submission.seal_submission(INTAKE_PUBLIC, manifest)
    request = sealed.request(attachments=[a.blob for a in attachments])
    opened = page.evaluate(
        """async ({seed, header, body, blobs}) => {
          const s = window.seal;
          const opened = await s.openSubmission(s.hexDecode(seed), t.dec(header), t.dec(body));
          const files = [];
          for (const d of opened.manifest.attachments) files.push(t.enc(await s.openAttachment(d, t.dec(blobs[d.blob]))));
          const wrongSeed = new Uint8Array(32);
          return {
            cek: t.enc(opened.cek),
            manifestJcs: t.enc(opened.manifestJcs),
            rejcs: t.enc(s.jcs(opened.manifest)),
            files,
            wrongSeed: await t.error(s.openSubmission(wrongSeed, t.dec(header), t.dec(body))),
          };
        }""",
        {
            "seed": INTAKE_SEED.hex(),
            "header": request["header"],
            "body": request["body"],
            "blobs": {a.blob: b64u_encode(a.ciphertext) for a in attachments},
        },
    )
    assert b64u_decode(opened["cek"]) == sealed.cek
    assert b64u_decode(opened["manifestJcs"]) == canonical.dumps(manifest)
    assert b64u_decode(opened["rejcs"]) == canonical.dumps(manifest)
    assert [b64u_decode(f) for f in opened["files"]] == [photo, empty]
    assert opened["wrongSeed"] == "hpke-open-failed"


def test_browser_attachment_with_a_wrong_hash_is_refused(page: Any) -> None:
    attachment = submission.seal_attachment(b"photo bytes", name="a.jpg", media_type="image/jpeg")
    bad = dict(attachment.descriptor, sha256="00" * 32)
    short = dict(attachment.descriptor, size=13)  # padme(11) = 12 bytes decrypt
    codes = page.evaluate(
        """async ({bad, short, ciphertext}) => [
          await t.error(window.seal.openAttachment(bad, t.dec(ciphertext))),
          await t.error(window.seal.openAttachment(short, t.dec(ciphertext))),
        ]""",
        {"bad": bad, "short": short, "ciphertext": b64u_encode(attachment.ciphertext)},
    )
    assert codes == ["malformed-input", "bad-padding"]


def test_s1_seal_in_the_browser_opens_in_python_and_back(page: Any) -> None:
    seeds = [os.urandom(32) for _ in range(3)]
    plaintexts = [os.urandom(32) for _ in range(3)]
    publics = [hpke.public_key(seed) for seed in seeds]
    python_sealed = [
        hpke.seal(p, hpke.INFO_REPLY, m) for p, m in zip(publics, plaintexts, strict=True)
    ]
    result = page.evaluate(
        """async ({seeds, plaintexts, sealed}) => {
          const s = window.seal;
          const out = {publics: [], sealed: [], opened: []};
          for (let i = 0; i < seeds.length; i++) {
            const pk = await s.publicKeyFromSeed(t.dec(seeds[i]));
            out.publics.push(t.enc(pk));
            out.sealed.push(t.enc(await s.seal(pk, s.INFO_CEK, t.dec(plaintexts[i]))));
            out.opened.push(t.enc(await s.open(t.dec(seeds[i]), s.INFO_REPLY, t.dec(sealed[i]))));
          }
          return out;
        }""",
        {
            "seeds": [b64u_encode(s) for s in seeds],
            "plaintexts": [b64u_encode(m) for m in plaintexts],
            "sealed": [b64u_encode(c) for c in python_sealed],
        },
    )
    assert [b64u_decode(p) for p in result["publics"]] == publics
    for seed, message, sealed in zip(seeds, plaintexts, result["sealed"], strict=True):
        assert len(b64u_decode(sealed)) == 1120 + 32 + 16
        assert hpke.open(seed, hpke.INFO_CEK, b64u_decode(sealed)) == message
    assert [b64u_decode(m) for m in result["opened"]] == plaintexts


def test_both_ed25519_backends_match_python(page: Any) -> None:
    seeds = [bytes(32), bytes(range(32)), os.urandom(32)]
    message = b"checkpoint text\n"
    result = page.evaluate(
        """async ({seeds, message}) => {
          const s = window.seal;
          const out = {};
          for (const impl of [s.webcryptoEd25519, s.nobleEd25519]) {
            const rows = [];
            for (const seed of seeds) {
              const pk = await impl.publicKey(t.dec(seed));
              const sig = await impl.sign(t.dec(seed), t.dec(message));
              const bad = sig.slice(); bad[0] ^= 1;
              rows.push({pk: t.enc(pk), sig: t.enc(sig), ok: await impl.verify(pk, t.dec(message), sig),
                         bad: await impl.verify(pk, t.dec(message), bad)});
            }
            out[impl.name] = rows;
          }
          out.chosen = (await s.ed25519()).name;
          return out;
        }""",
        {"seeds": [b64u_encode(s) for s in seeds], "message": b64u_encode(message)},
    )
    assert result["chosen"] == "webcrypto"  # Chromium has WebCrypto Ed25519
    for backend in ("webcrypto", "noble"):
        for seed, row in zip(seeds, result[backend], strict=True):
            key = signing.private_key_from_seed(seed)
            assert b64u_decode(row["pk"]) == signing.public_key_bytes(key)
            assert b64u_decode(row["sig"]) == signing.sign(key, message)
            assert row["ok"] is True and row["bad"] is False


@pytest.mark.parametrize("bits", [0, 8, 14])
def test_proof_of_work_found_in_the_worker_satisfies_python(page: Any, bits: int) -> None:
    challenge = os.urandom(32)
    nonce = page.evaluate(
        "async ({challenge, bits}) => window.seal.solvePow(challenge, bits)",
        {"challenge": b64u_encode(challenge), "bits": bits},
    )
    digest = int.from_bytes(hashlib.sha256(challenge + b64u_decode(nonce)).digest(), "big")
    assert len(b64u_decode(nonce)) == 8
    assert digest >> (256 - bits) == 0 if bits else True


def test_a_proof_of_work_beyond_40_bits_is_refused(page: Any) -> None:
    code = page.evaluate("async () => t.error(window.seal.solvePow('AAAA', 41))")
    assert code == "malformed-input"


def test_an_aborted_seal_stops_its_workers(page: Any) -> None:
    outcome = page.evaluate(
        """async () => {
          const controller = new AbortController();
          const file = new Blob([new Uint8Array(8 << 20)]);
          const sealing = window.seal.sealAttachment(file, {name: "big.bin", signal: controller.signal});
          controller.abort(new DOMException("stop", "AbortError"));
          try { await sealing; return "sealed"; } catch (e) { return e.name; }
        }"""
    )
    assert outcome == "AbortError"


# --- follow-ups (§7, v1.1): the signed bytes, the signature and the entry -------------

PARENT = "5e" * 32


def _followup_in_browser(page: Any, files: list[dict], pow_: dict | None) -> dict:
    """A follow-up sealed and signed in the browser, with ``pow_`` added after signing."""
    return page.evaluate(
        """async ({intake, parent, files, code, pow}) => {
          const s = window.seal;
          const keys = await s.deriveWitnessKeys(code);
          const sealed = await s.sealFollowup({
            intakePublicKey: intake,
            parent,
            text: "Ещё: 水 \\u{1f525}",
            files: files.map((f) => ({file: t.blob(f.content, f.type), name: f.name})),
          });
          const signed = await s.signFollowup(keys, sealed.request);
          if (pow !== null) signed.pow = pow;
          const received = "2026-11-25T12:00:00Z";
          const entry = await s.followupEntry(signed, keys.witnessB64u, received);
          const logged = JSON.parse(new TextDecoder().decode(entry));
          const ed = await s.ed25519();
          return {
            request: signed,
            signed: t.enc(await s.followupSignedBytes(signed)),
            fromEntry: t.enc(s.followupEntrySignedBytes(logged)),
            entry: t.enc(entry),
            verifies: await ed.verify(keys.witness, s.followupEntrySignedBytes(logged), t.dec(logged.signature)),
            twice: await t.error(s.signFollowup(keys, signed)),
          };
        }""",
        {
            "intake": b64u_encode(INTAKE_PUBLIC),
            "parent": PARENT,
            "files": files,
            "code": CODE,
            "pow": pow_,
        },
    )


@pytest.mark.parametrize("with_pow", [False, True])
def test_a_browser_signed_followup_is_python_s_byte_for_byte(page: Any, with_pow: bool) -> None:
    files = [
        {"content": b64u_encode(_file_bytes(5000, n)), "name": f"p{n}.jpg", "type": "image/jpeg"}
        for n in (3, 4, 5)
    ]
    pow_ = {"challenge": "Y2hhbGxlbmdl", "nonce": "AAAAAAAAAAA"} if with_pow else None
    got = _followup_in_browser(page, files, pow_)
    request = got["request"]
    keys = receipt.derive(CODE)
    assert ("pow" in request) is with_pow and request["parent"] == PARENT
    # The signed bytes: the same from the request in both, and from the entry.
    message = followup.signed_bytes(request)
    assert b64u_decode(got["signed"]) == message == b64u_decode(got["fromEntry"])
    assert json.loads(message) == {
        "type": "followup",
        "v": 1,
        "parent": PARENT,
        "intake_key": hpke.key_id(INTAKE_PUBLIC),
        "header": hashlib.sha256(b64u_decode(request["header"])).hexdigest(),
        "body": hashlib.sha256(b64u_decode(request["body"])).hexdigest(),
        "attachments": sorted(request["attachments"]),
    }
    assert "pow" not in json.loads(message)
    # The signature is the one Python makes (Ed25519 is deterministic), and verifies.
    unsigned = {k: v for k, v in request.items() if k != "signature"}
    assert followup.sign_followup(keys, unsigned)["signature"] == request["signature"]
    followup.verify_followup(keys.witness, request)
    # The entry is Python's byte for byte, and its signature verifies from it alone.
    entry = b64u_decode(got["entry"])
    assert entry == followup.followup_entry(request, witness=keys.witness, received=RECEIVED)
    followup.verify_followup_entry(entry)
    assert got["verifies"] is True
    assert got["twice"] == "malformed-input"
    # And it opens to the follow-up manifest.
    opened = submission.open_submission(
        INTAKE_SEED, b64u_decode(request["header"]), b64u_decode(request["body"])
    )
    assert opened.manifest["v"] == 1 and opened.manifest["text"] == "Ещё: 水 \U0001f525"


def test_a_python_signed_followup_verifies_in_the_browser(page: Any) -> None:
    keys = receipt.derive(CODE)
    attachments = [
        submission.seal_attachment(b"x" * n, name="f", media_type="a/b") for n in (9, 99)
    ]
    manifest = followup.followup_manifest("more", [a.descriptor for a in attachments])
    sealed = submission.seal_submission(INTAKE_PUBLIC, manifest)
    unsigned = followup.followup_request(
        sealed, parent=PARENT, attachments=[a.blob for a in attachments][::-1]
    )
    request = followup.sign_followup(keys, {**unsigned, "pow": {"challenge": "AA", "nonce": "AA"}})
    entry = followup.followup_entry(request, witness=keys.witness, received=RECEIVED)
    body = b64u_decode(request.pop("body"))
    as_blob = {**request, "body_blob": hashlib.sha256(body).hexdigest()}
    v1 = signing.sign(keys.signing_key, canonical.dumps(unsigned))
    got = page.evaluate(
        """async ({request, asBlob, entry, witness, v1}) => {
          const s = window.seal;
          const logged = JSON.parse(new TextDecoder().decode(t.dec(entry)));
          const out = {};
          for (const impl of [s.webcryptoEd25519, s.nobleEd25519]) {
            out[impl.name] = [
              await impl.verify(t.dec(witness), s.followupEntrySignedBytes(logged), t.dec(logged.signature)),
              await impl.verify(t.dec(witness), await s.followupSignedBytes(asBlob), t.dec(request.signature)),
              await impl.verify(t.dec(witness), s.followupEntrySignedBytes(logged), t.dec(v1)),
            ];
          }
          out.signed = t.enc(await s.followupSignedBytes(asBlob));
          return out;
        }""",
        {
            "request": request,
            "asBlob": as_blob,
            "entry": b64u_encode(entry),
            "witness": keys.witness_b64u,
            "v1": b64u_encode(v1),
        },
    )
    # The entry's own members, and the same request with its body uploaded, give the
    # bytes Python signed; the v1 signature (over the request) does not verify.
    assert got["webcrypto"] == got["noble"] == [True, True, False]
    assert b64u_decode(got["signed"]) == followup.signed_bytes(as_blob)
    assert followup.signed_bytes(as_blob) == followup.entry_signed_bytes(FollowupEntry.parse(entry))


# --- consent (§3, v1.1): the hash of the consent wording shown ------------------------


def test_the_browser_hashes_the_consent_document_as_python_does(page: Any) -> None:
    wording = consent_wording()
    got = page.evaluate(
        """async (document) => {
          const s = window.seal;
          const consent = {share_with: ["media"], contact: true};
          return {
            hash: await s.consentTextSha256(document),
            with: await s.withConsentText(consent, document),
            without: await s.withConsentText(consent, undefined),
            notObject: await t.error(s.consentTextSha256([])),
          };
        }""",
        wording.as_json(),
    )
    assert got["hash"] == consent_text_sha256() == wording.sha256
    assert got["with"] == {"share_with": ["media"], "contact": True, "text_sha256": wording.sha256}
    assert Consent.from_manifest(got["with"]).text_sha256 == wording.sha256
    assert got["without"] == {"share_with": ["media"], "contact": True}
    assert got["notObject"] == "malformed-input"
