"""Receipt verification in the browser (docs/protocol.md §9, §10) against receipts
built in Python with ``testimony.crypto.merkle`` and ``checkpoint``; every
verdict and error code is the one ``testimony.crypto.receipts`` gives."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from testimony.crypto import (
    checkpoint,
    followup,
    hpke,
    merkle,
    receipt,
    receipts,
    signing,
    submission,
)
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.errors import CryptoError
from testimony.crypto.rfc3339 import parse_time
from tests.vectors.loader import load_json, path

# Every test here drives headless Chromium; together they take well over 5 s.
pytestmark = pytest.mark.slow

V = load_json("testimony/submission.json")
CHECKPOINT = load_json("testimony/checkpoint.json")
LOG_KEY = signing.private_key_from_seed(bytes(range(32, 64)))
ORIGIN = "testimony.example.org/log"
VERIFIER = checkpoint.verifier_key(ORIGIN, signing.public_key_bytes(LOG_KEY))
TIME = datetime(2026, 11, 25, 12, tzinfo=UTC)


def build_receipt(index: int = 3, size: int = 7) -> dict:
    """A log of ``size`` entries whose entry ``index`` is the vector's submission."""
    entries = [b'{"n":%d,"type":"filler"}' % i for i in range(size)]
    entries[index] = submission.submission_entry(V["request"], parse_time(V["received"]))
    store = merkle.MemoryHashStore()
    result = merkle.append(0, [merkle.leaf_hash(e) for e in entries], store)
    store.write_nodes(result.nodes)
    return {
        "id": merkle.leaf_hash(entries[index]).hex(),
        "index": index,
        "entry": b64u_encode(entries[index]),
        "checkpoint": checkpoint.sign(ORIGIN, size, result.root, LOG_KEY, ORIGIN, TIME),
        "inclusion": {
            "index": index,
            "size": size,
            "path": [p.hex() for p in merkle.inclusion_proof(index, size, store)],
        },
    }


def verify_in_browser(page: Any, cases: list[dict]) -> list[Any]:
    """Each case: {receipt, key, origin, request}; the result or the error code."""
    return page.evaluate(
        """async (cases) => {
          const out = [];
          for (const c of cases) {
            try {
              const v = await window.seal.verifyReceipt(c.receipt, c.key, c.origin ?? undefined, c.request);
              out.push({id: v.id, index: v.index, size: Number(v.checkpoint.size),
                        root: window.seal.hexEncode(v.checkpoint.root), time: v.checkpoint.time,
                        entry: t.enc(v.entry)});
            } catch (e) {
              out.push(e.code ?? String(e));
            }
          }
          return out;
        }""",
        cases,
    )


@pytest.mark.parametrize(("index", "size"), [(0, 1), (3, 7), (6, 7), (0, 8), (12, 13), (20, 21)])
def test_honest_receipts_verify(page: Any, index: int, size: int) -> None:
    receipt = build_receipt(index, size)
    [got] = verify_in_browser(
        page, [{"receipt": receipt, "key": VERIFIER, "origin": ORIGIN, "request": V["request"]}]
    )
    root = checkpoint.verify(receipt["checkpoint"], VERIFIER).root
    assert got == {
        "id": V["id"],
        "index": index,
        "size": size,
        "root": root.hex(),
        "time": "2026-11-25T12:00:00Z",
        "entry": V["entry"],
    }


def _flip_entry(r: dict) -> None:
    entry = bytearray(b64u_decode(r["entry"]))
    entry[5] ^= 1
    r["entry"] = b64u_encode(bytes(entry))


def _flip_proof_node(r: dict) -> None:
    node = r["inclusion"]["path"][0]
    r["inclusion"]["path"][0] = ("0" if node[0] != "0" else "1") + node[1:]


def _flip_signature(r: dict) -> None:
    text, _, signature_line = r["checkpoint"].rstrip("\n").rpartition("\n")
    name, _, encoded = signature_line.rpartition(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[10] ^= 1
    r["checkpoint"] = f"{text}\n{name} {base64.b64encode(bytes(raw)).decode()}\n"


OTHER_KEY = checkpoint.verifier_key(
    ORIGIN, signing.public_key_bytes(signing.private_key_from_seed(bytes(32)))
)

# (edit of the receipt, or of the verifier key / origin / request), expected code.
TAMPERS: dict[str, tuple[Callable[[dict], None], str]] = {
    "entry-byte": (_flip_entry, "bad-receipt"),
    "proof-node": (_flip_proof_node, "bad-receipt"),
    "checkpoint-signature": (_flip_signature, "bad-checkpoint-signature"),
    "checkpoint-size-edited": (
        lambda c: c["receipt"].update(
            checkpoint=c["receipt"]["checkpoint"].replace("\n7\n", "\n8\n")
        ),
        "bad-checkpoint-signature",
    ),
    "wrong-origin": (lambda c: c.update(origin="other.example/log"), "checkpoint-origin-mismatch"),
    "other-log-key": (lambda c: c.update(key=OTHER_KEY), "unknown-checkpoint-key"),
    "index": (lambda r: r.update(index=2), "bad-receipt"),
    "proof-index": (lambda r: r["inclusion"].update(index=2), "bad-receipt"),
    "proof-size": (lambda r: r["inclusion"].update(size=6), "bad-receipt"),
    "short-proof": (lambda r: r["inclusion"]["path"].pop(), "bad-receipt"),
    "id": (lambda r: r.update(id="00" * 32), "bad-receipt"),
    "no-entry": (lambda r: r.pop("entry"), "bad-receipt"),
    "negative-index": (lambda r: r.update(index=-1), "bad-receipt"),
    "bool-index": (lambda r: r.update(index=True), "bad-receipt"),
    "path-type": (lambda r: r["inclusion"].update(path="not a list"), "bad-receipt"),
    "other-attachments": (
        lambda c: c.update(request=dict(V["request"], attachments=V["request"]["attachments"][:1])),
        "bad-receipt",
    ),
    "other-witness": (
        lambda c: c.update(request=dict(V["request"], witness=None, witness_box=None)),
        "bad-receipt",
    ),
}
# These edit the whole case (key, origin, request), the others the receipt.
CASE_EDITS = {
    "checkpoint-size-edited",
    "wrong-origin",
    "other-log-key",
    "other-attachments",
    "other-witness",
}


def test_tampered_receipts_are_rejected_as_python_rejects_them(page: Any) -> None:
    cases, expected = [], []
    for name, (edit, code) in TAMPERS.items():
        case = {
            "receipt": copy.deepcopy(build_receipt()),
            "key": VERIFIER,
            "origin": ORIGIN,
            "request": V["request"],
        }
        edit(case if name in CASE_EDITS else case["receipt"])
        cases.append(case)
        with pytest.raises(CryptoError) as raised:
            receipts.verify_receipt(
                case["receipt"], case["key"], origin=case["origin"], request=case["request"]
            )
        assert raised.value.code == code, name
        expected.append(code)
    assert verify_in_browser(page, cases) == expected


def test_a_receipt_is_verified_against_the_request_sent(page: Any) -> None:
    code = page.evaluate(
        """async (receipt) => {
          try { await window.seal.verifyReceipt(receipt, "k+00000000+AA==", undefined, undefined); }
          catch (e) { return e.code; }
        }""",
        build_receipt(),
    )
    assert code == "malformed-input"


def test_the_checkpoint_vector_verifies(page: Any) -> None:
    got = page.evaluate(
        """async ({note, key, origin}) => {
          const s = window.seal;
          const c = await s.verifyCheckpoint(note, key, origin);
          const parsedKey = await s.parseVerifierKey(key);
          return {origin: c.origin, size: Number(c.size), root: s.hexEncode(c.root), time: c.time,
                  name: parsedKey.name,
                  tampered: await t.error(s.verifyCheckpoint(note.replace("\\n42\\n", "\\n43\\n"), key, origin)),
                  crlf: await t.error(s.verifyCheckpoint(note.replaceAll("\\n", "\\r\\n"), key, origin))};
        }""",
        {
            "note": CHECKPOINT["note"],
            "key": CHECKPOINT["verifier_key"],
            "origin": CHECKPOINT["origin"],
        },
    )
    assert got == {
        "origin": CHECKPOINT["origin"],
        "size": CHECKPOINT["size"],
        "root": CHECKPOINT["root"],
        "time": CHECKPOINT["time"],
        "name": CHECKPOINT["key_name"],
        "tampered": "bad-checkpoint-signature",
        "crlf": "malformed-checkpoint",
    }


def test_inclusion_verification_passes_the_rfc9162_probes(page: Any) -> None:
    probes = sorted(path("rfc9162/inclusion").rglob("*.json"))
    assert len(probes) > 50
    cases = []
    for probe in probes:
        data = json.loads(probe.read_text())
        cases.append(
            {
                "index": str(data["leafIdx"]),
                "size": str(data["treeSize"]),
                "leaf": _hex(data["leafHash"]),
                "root": _hex(data["root"]),
                "path": [_hex(p) for p in data["proof"] or []],
            }
        )
    got = page.evaluate(
        """async (cases) => {
          const s = window.seal;
          const out = [];
          for (const c of cases) {
            out.push(await t.error(s.verifyInclusion(BigInt(c.index), BigInt(c.size), s.hexDecode(c.leaf),
                                                     c.path.map((p) => s.hexDecode(p)), s.hexDecode(c.root))));
          }
          return out;
        }""",
        cases,
    )
    for probe, error in zip(probes, got, strict=True):
        want_error = json.loads(probe.read_text())["wantErr"]
        assert (error is not None) == want_error, probe
        assert error in (None, "bad-proof", "bad-tree-size"), probe


def _hex(b64: str | None) -> str:
    return base64.b64decode(b64 or "").hex()


# --- a follow-up's receipt (§7, v1.1): the entry's signature over its own members -----

WITNESS = receipt.derive("7777-1111-2222-3333-4444")


def _followup_receipt(request: dict) -> dict:
    """A log of three entries whose last is the follow-up entry of ``request``."""
    entry = followup.followup_entry(request, witness=WITNESS.witness, received=TIME)
    entries = [b'{"n":0,"type":"filler"}', b'{"n":1,"type":"filler"}', entry]
    store = merkle.MemoryHashStore()
    result = merkle.append(0, [merkle.leaf_hash(e) for e in entries], store)
    store.write_nodes(result.nodes)
    return {
        "id": merkle.leaf_hash(entry).hex(),
        "index": 2,
        "entry": b64u_encode(entry),
        "checkpoint": checkpoint.sign(ORIGIN, 3, result.root, LOG_KEY, ORIGIN, TIME),
        "inclusion": {
            "index": 2,
            "size": 3,
            "path": [p.hex() for p in merkle.inclusion_proof(2, 3, store)],
        },
    }


def test_a_followup_receipt_verifies_in_the_browser_as_in_python(page: Any) -> None:
    sealed = submission.seal_submission(
        hpke.public_key(bytes(32)), followup.followup_manifest("more")
    )
    unsigned = followup.followup_request(sealed, parent=V["id"], attachments=["cd" * 32, "0a" * 32])
    request = followup.sign_followup(
        WITNESS, {**unsigned, "pow": {"challenge": "AA", "nonce": "AA"}}
    )
    honest = _followup_receipt(request)
    # A retry with a fresh proof of work carries the same signature: the same receipt.
    retry = {**request, "pow": {"challenge": "AB", "nonce": "AB"}}
    # A request signed the v1 way (over itself, pow included) logs an entry whose
    # signature cannot be checked from the entry: refused.
    v1 = signing.sign_json(WITNESS.signing_key, unsigned)
    cases = [
        {"receipt": honest, "key": VERIFIER, "origin": ORIGIN, "request": request},
        {"receipt": honest, "key": VERIFIER, "origin": ORIGIN, "request": retry},
        {"receipt": _followup_receipt(v1), "key": VERIFIER, "origin": ORIGIN, "request": v1},
        {
            "receipt": honest,
            "key": VERIFIER,
            "origin": ORIGIN,
            "request": dict(request, attachments=["cd" * 32]),
        },
    ]
    got = verify_in_browser(page, cases)
    for case in cases[:2]:
        receipts.verify_receipt(case["receipt"], VERIFIER, origin=ORIGIN, request=case["request"])
    assert got[0]["entry"] == got[1]["entry"] == honest["entry"]
    for case in cases[2:]:
        with pytest.raises(CryptoError) as raised:
            receipts.verify_receipt(
                case["receipt"], VERIFIER, origin=ORIGIN, request=case["request"]
            )
        assert raised.value.code == "bad-receipt"
    assert got[2:] == ["bad-receipt", "bad-receipt"]
