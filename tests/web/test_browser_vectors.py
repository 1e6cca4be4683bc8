"""The protocol's own vectors (tests/vectors/testimony/), run by the built
sealing module in headless Chromium: STREAM (§2), S1 (§1), receipt codes
(§7), a whole submission (§3, §9), Padmé and JCS of the manifest."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from testimony.crypto import stream
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.errors import StreamError
from tests.vectors.loader import load_json, path

# Every test here drives headless Chromium; together they take well over 5 s.
pytestmark = pytest.mark.slow

STREAM = load_json("testimony/stream.json")
S1 = load_json("testimony/s1.json")
RECEIPT = load_json("testimony/receipt.json")
SUBMISSION = load_json("testimony/submission.json")
KEY = bytes.fromhex(STREAM["key"])
SEALED = 65552


def pattern(length: int) -> bytes:
    return bytes((7 * i + 3) % 256 for i in range(length))


def _flip(data: bytes, position: int, mask: int) -> bytes:
    edited = bytearray(data)
    edited[position] ^= mask
    return bytes(edited)


def _seal_by_hand(chunks: list[tuple[bytes, bool]]) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(KEY)
    return b"".join(
        aead.encrypt(i.to_bytes(11, "big") + bytes([final]), chunk, None)
        for i, (chunk, final) in enumerate(chunks)
    )


# How each edit in stream.json is rebuilt (as tests/crypto/test_stream.py does).
EDITS: dict[str, Callable[[bytes], bytes]] = {
    "truncated after the first chunk (no final chunk)": lambda c: c[:SEALED],
    "truncated after the second chunk (no final chunk)": lambda c: c[: 2 * SEALED],
    "last byte removed": lambda c: c[:-1],
    "one byte appended": lambda c: c + b"\x00",
    "first two chunks swapped": lambda c: c[SEALED : 2 * SEALED] + c[:SEALED] + c[2 * SEALED :],
    "bit 0 of byte 70000 flipped": lambda c: _flip(c, 70000, 0x01),
    "last tag byte flipped": lambda c: _flip(c, len(c) - 1, 0x80),
    "final chunk shorter than a tag": lambda c: c[: 2 * SEALED + 10],
    "a full non-final chunk followed by an empty final chunk (must be rejected: the writer "
    "ends with a full final chunk instead)": lambda c: _seal_by_hand(
        [(pattern(65536), False), (b"", True)]
    ),
}


def test_stream_ciphertexts_are_reproduced_exactly(page: Any) -> None:
    lengths = [case["plaintext_len"] for case in STREAM["cases"]]
    results = page.evaluate(
        """async ({key, lengths}) => {
          const s = window.seal;
          const out = [];
          for (const n of lengths) {
            const plaintext = new Uint8Array(n);
            for (let i = 0; i < n; i++) plaintext[i] = (7 * i + 3) % 256;
            const ciphertext = await s.streamEncrypt(t.dec(key), plaintext);
            const opened = await s.streamDecrypt(t.dec(key), ciphertext);
            out.push({
              length: ciphertext.length,
              sha256: s.hexEncode(await s.sha256(ciphertext)),
              short: ciphertext.length <= 64 ? t.enc(ciphertext) : null,
              roundTrip: s.hexEncode(await s.sha256(opened)) === s.hexEncode(await s.sha256(plaintext)),
            });
          }
          return out;
        }""",
        {"key": b64u_encode(KEY), "lengths": lengths},
    )
    for case, got in zip(STREAM["cases"], results, strict=True):
        assert got["length"] == case["ciphertext_len"]
        assert got["sha256"] == case["ciphertext_sha256"]
        if "ciphertext" in case:
            assert got["short"] == case["ciphertext"]
        assert got["roundTrip"]


def test_every_stream_reject_vector_is_rejected_with_pythons_error(page: Any) -> None:
    assert {entry["edit"] for entry in STREAM["reject"]} == set(EDITS)
    edited_list, expected_codes = [], []
    for entry in STREAM["reject"]:
        edited = EDITS[entry["edit"]](stream.encrypt(KEY, pattern(entry["of_plaintext_len"])))
        assert hashlib.sha256(edited).hexdigest() == entry["ciphertext_sha256"]
        if "ciphertext" in entry:
            assert path(f"testimony/{entry['ciphertext']}").read_bytes() == edited
        with pytest.raises(StreamError) as raised:
            stream.decrypt(KEY, edited)
        edited_list.append(b64u_encode(edited))
        expected_codes.append(raised.value.code)
    codes = page.evaluate(
        """async ({key, edited}) => {
          const out = [];
          for (const c of edited) out.push(await t.error(window.seal.streamDecrypt(t.dec(key), t.dec(c))));
          return out;
        }""",
        {"key": b64u_encode(KEY), "edited": edited_list},
    )
    assert codes == expected_codes


def test_s1_keys_expand_and_every_sealed_message_opens(page: Any) -> None:
    result = page.evaluate(
        """async ({keys, sealed}) => {
          const s = window.seal;
          const expanded = [];
          for (const k of keys) {
            const pk = await s.publicKeyFromSeed(s.hexDecode(k.seed));
            expanded.push({public: t.enc(pk), sha: s.hexEncode(await s.sha256(pk)), id: await s.keyId(pk)});
          }
          const opened = [];
          for (const m of sealed) {
            const pt = await s.open(s.hexDecode(m.seed), m.info, t.dec(m.sealed));
            const altered = t.dec(m.sealed);
            altered[17] ^= 1;
            const otherInfo = m.info === s.INFO_CEK ? s.INFO_REPLY : s.INFO_CEK;
            opened.push({
              plaintext: s.hexEncode(pt),
              altered: await t.error(s.open(s.hexDecode(m.seed), m.info, altered)),
              wrongInfo: await t.error(s.open(s.hexDecode(m.seed), otherInfo, t.dec(m.sealed))),
            });
          }
          return {expanded, opened};
        }""",
        {"keys": S1["keys"], "sealed": S1["open"]},
    )
    for key, got in zip(S1["keys"], result["expanded"], strict=True):
        assert got == {"public": key["public"], "sha": key["public_sha256"], "id": key["key_id"]}
    for message, got in zip(S1["open"], result["opened"], strict=True):
        assert got["plaintext"] == message["plaintext"]
        assert got["altered"] == got["wrongInfo"] == "hpke-open-failed"


def test_receipt_codes_derive_the_witness_keys(page: Any) -> None:
    derived = page.evaluate(
        """async (codes) => {
          const s = window.seal;
          const out = [];
          for (const code of codes) {
            const keys = await s.deriveWitnessKeys(code);
            out.push({
              witness: keys.witnessB64u,
              box_sha: s.hexEncode(await s.sha256(keys.witnessBox)),
              box_id: await s.keyId(keys.witnessBox),
              s1_seed: s.hexEncode(keys.boxSeed),
              box_b64u_matches: keys.witnessBoxB64u === t.enc(keys.witnessBox),
            });
          }
          return out;
        }""",
        [entry["code"] for entry in RECEIPT["derive"]],
    )
    for entry, got in zip(RECEIPT["derive"], derived, strict=True):
        assert got == {
            "witness": entry["witness"],
            "box_sha": entry["witness_box_sha256"],
            "box_id": entry["witness_box_key_id"],
            "s1_seed": entry["s1_seed"],
            "box_b64u_matches": True,
        }


def test_receipt_code_spellings_are_accepted_or_rejected(page: Any) -> None:
    result = page.evaluate(
        """({accept, reject}) => {
          const s = window.seal;
          const norm = (text) => { try { return s.normaliseReceiptCode(text); } catch (e) { return e.code; } };
          return {accept: Object.keys(accept).map(norm), reject: reject.map(norm)};
        }""",
        {"accept": RECEIPT["accept"], "reject": RECEIPT["reject"]},
    )
    assert result["accept"] == list(RECEIPT["accept"].values())
    assert result["reject"] == ["bad-receipt-code"] * len(RECEIPT["reject"])


def test_new_receipt_codes_are_20_uniform_digits(page: Any) -> None:
    codes = page.evaluate(
        """() => {
          const s = window.seal;
          // Injected randomness: all-ones is rejected (above the ceiling), then zeros.
          const fixed = [new Uint8Array(9).fill(255), new Uint8Array(9)];
          const injected = s.newReceiptCode(() => fixed.shift());
          const fresh = Array.from({length: 200}, () => s.newReceiptCode());
          return {injected, fresh};
        }"""
    )
    assert codes["injected"] == {"digits": "0" * 20, "grouped": "0000-0000-0000-0000-0000"}
    for code in codes["fresh"]:
        assert len(code["digits"]) == 20 and code["digits"].isdigit() and code["digits"].isascii()
        assert code["grouped"].replace("-", "") == code["digits"]
    # 200 codes x 20 digits: every digit value appears (a broken sampler would not).
    assert {d for c in codes["fresh"] for d in c["digits"]} == set("0123456789")
    assert len({c["digits"] for c in codes["fresh"]}) == 200


def test_the_vector_submission_opens_to_its_manifest_and_files(page: Any) -> None:
    v = SUBMISSION
    result = page.evaluate(
        """async (v) => {
          const s = window.seal;
          const opened = await s.openSubmission(s.hexDecode(v.intake_seed), t.dec(v.request.header), t.dec(v.request.body));
          const files = [];
          for (const d of opened.manifest.attachments) {
            const data = await s.openAttachment(d, t.dec(v.blobs[d.blob]));
            files.push({name: d.name, content: t.enc(data)});
          }
          const intakePublic = await s.publicKeyFromSeed(s.hexDecode(v.intake_seed));
          const entry = await s.submissionEntry(v.request, v.received);
          return {
            cek: t.enc(opened.cek),
            manifestJcs: t.enc(opened.manifestJcs),
            rejcs: t.enc(s.jcs(opened.manifest)),
            files,
            intakeSha: s.hexEncode(await s.sha256(intakePublic)),
            intakeKey: await s.keyId(intakePublic),
            entry: t.enc(entry),
            id: s.hexEncode(await s.leafHash(entry)),
            formSha: s.hexEncode(await s.sha256(s.jcs(v.form))),
          };
        }""",
        v,
    )
    assert result["cek"] == v["cek"]
    assert result["manifestJcs"] == result["rejcs"] == v["manifest_jcs"]
    expected_files = {f["name"]: f["content"] for f in v["files"]}
    assert {f["name"]: f["content"] for f in result["files"]} == expected_files
    assert result["intakeSha"] == v["intake_public_sha256"]
    assert result["intakeKey"] == v["request"]["intake_key"]
    assert result["entry"] == v["entry"] and result["id"] == v["id"]
    assert result["formSha"] == v["form_sha256"]
    assert b64u_decode(result["manifestJcs"])  # non-empty


def test_padme_table(page: Any) -> None:
    table = {int(k): value for k, value in SUBMISSION["padme"].items()}
    got = page.evaluate(
        """(lengths) => {
          const s = window.seal;
          const padded = s.pad(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
          return {table: lengths.map((n) => s.padme(n)), pad: Array.from(padded),
                  big: [2 ** 53 - 1, 2 ** 40 + 1].map((n) => s.padme(n))};
        }""",
        list(table),
    )
    assert got["table"] == list(table.values())
    assert got["pad"] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    from testimony.crypto.padding import padme

    assert got["big"] == [padme(2**53 - 1), padme(2**40 + 1)]
