"""Receipt verification (docs/protocol.md §10), against a log built here."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from testimony.crypto import checkpoint, merkle, receipts, signing, submission
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.errors import CheckpointError, ReceiptError
from testimony.crypto.rfc3339 import parse_time
from tests.vectors.loader import load_json

V = load_json("testimony/submission.json")
LOG_KEY = signing.private_key_from_seed(bytes(range(32, 64)))
ORIGIN = "testimony.example.org/log"
VERIFIER = checkpoint.verifier_key(ORIGIN, signing.public_key_bytes(LOG_KEY))
TIME = datetime(2026, 11, 25, 12, tzinfo=UTC)


def _receipt(index: int = 3, size: int = 7) -> dict:
    """A log of ``size`` entries whose entry ``index`` is the vector's submission."""
    entries = [b'{"n":%d,"type":"filler"}' % i for i in range(size)]
    entries[index] = submission.submission_entry(V["request"], parse_time(V["received"]))
    store = merkle.MemoryHashStore()
    result = merkle.append(0, [merkle.leaf_hash(e) for e in entries], store)
    store.write_nodes(result.nodes)
    note = checkpoint.sign(ORIGIN, size, result.root, LOG_KEY, ORIGIN, TIME)
    return {
        "id": merkle.leaf_hash(entries[index]).hex(),
        "index": index,
        "entry": b64u_encode(entries[index]),
        "checkpoint": note,
        "inclusion": {
            "index": index,
            "size": size,
            "path": [p.hex() for p in merkle.inclusion_proof(index, size, store)],
        },
    }


@pytest.mark.parametrize(("index", "size"), [(0, 1), (3, 7), (6, 7), (0, 8), (12, 13)])
def test_honest_receipts_verify(index: int, size: int) -> None:
    verified = receipts.verify_receipt(_receipt(index, size), VERIFIER, request=V["request"])
    assert verified.id == V["id"] and verified.index == index
    assert verified.checkpoint.size == size
    assert verified.entry == b64u_decode(V["entry"])


def _tampered(edit) -> dict:
    receipt = copy.deepcopy(_receipt())
    edit(receipt)
    return receipt


def _flip_entry(r: dict) -> None:
    entry = bytearray(b64u_decode(r["entry"]))
    entry[5] ^= 1
    r["entry"] = b64u_encode(bytes(entry))


def _flip_path(r: dict) -> None:
    r["inclusion"]["path"][0] = ("0" if r["inclusion"]["path"][0][0] != "0" else "1") + r[
        "inclusion"
    ]["path"][0][1:]


@pytest.mark.parametrize(
    "edit",
    [
        _flip_entry,
        _flip_path,
        lambda r: r.update(index=2),
        lambda r: r["inclusion"].update(index=2),
        lambda r: r["inclusion"].update(size=6),
        lambda r: r["inclusion"]["path"].pop(),
        lambda r: r.update(id="00" * 32),
        lambda r: r.pop("entry"),
        lambda r: r.update(index=-1),
        lambda r: r.update(index=True),
        lambda r: r["inclusion"].update(path="not a list"),
    ],
    ids=[
        "entry-byte",
        "proof-node",
        "index",
        "proof-index",
        "proof-size",
        "short-proof",
        "id",
        "no-entry",
        "negative-index",
        "bool-index",
        "path-type",
    ],
)
def test_tampered_receipts_fail(edit) -> None:
    with pytest.raises(ReceiptError):
        receipts.verify_receipt(_tampered(edit), VERIFIER)


def test_checkpoint_signature_origin_and_key_are_checked() -> None:
    receipt = _receipt()
    forged = receipt["checkpoint"].replace("\n7\n", "\n8\n")
    with pytest.raises(CheckpointError):
        receipts.verify_receipt(dict(receipt, checkpoint=forged), VERIFIER)
    with pytest.raises(CheckpointError):
        receipts.verify_receipt(receipt, VERIFIER, origin="other.example/log")
    other_key = checkpoint.verifier_key(
        ORIGIN, signing.public_key_bytes(signing.private_key_from_seed(bytes(32)))
    )
    with pytest.raises(CheckpointError):
        receipts.verify_receipt(receipt, other_key)


def test_entry_must_name_what_was_sent() -> None:
    other = dict(V["request"], attachments=V["request"]["attachments"][:1])
    with pytest.raises(ReceiptError):
        receipts.verify_receipt(_receipt(), VERIFIER, request=other)
