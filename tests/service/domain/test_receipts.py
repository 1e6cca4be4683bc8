"""Receipts the server builds (docs/protocol.md §10) verify with the one receipt
check, ``testimony.crypto.receipts.verify_receipt``, and a changed one does not."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from testimony.crypto import checkpoint, merkle, note, signing
from testimony.crypto.encoding import b64u_encode
from testimony.crypto.errors import CheckpointError, ReceiptError
from testimony.crypto.receipts import verify_receipt
from testimony.service.domain.receipts import Receipt, build_receipt

ORIGIN = "receipts.invalid/log"
TIME = datetime(2026, 11, 25, 12, tzinfo=UTC)
KEY = signing.private_key_from_seed(bytes(range(32)))
VERIFIER = note.verifier_key(ORIGIN, signing.public_key_bytes(KEY))


def receipt_at(index: int = 2, size: int = 5) -> dict[str, Any]:
    entries = [json.dumps({"type": "t", "n": n}).encode() for n in range(size)]
    store = merkle.MemoryHashStore()
    result = merkle.append(0, [merkle.leaf_hash(e) for e in entries], store)
    store.write_nodes(result.nodes)
    note_text = checkpoint.sign(ORIGIN, size, result.root, KEY, ORIGIN, TIME)
    path = merkle.inclusion_proof(index, size, store)
    return build_receipt(entries[index], index, note_text, size, path)


def test_a_built_receipt_verifies() -> None:
    receipt = receipt_at()
    verified = verify_receipt(receipt, VERIFIER, origin=ORIGIN)
    assert verified.index == 2 and verified.checkpoint.size == 5
    assert verified.entry_object == {"type": "t", "n": 2}
    path = tuple(bytes.fromhex(p) for p in receipt["inclusion"]["path"])
    rebuilt = Receipt(verified.entry, 2, receipt["checkpoint"], 5, path)
    assert rebuilt.to_json() == receipt and rebuilt.id == receipt["id"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda r: r.update(entry=b64u_encode(b'{"n":3,"type":"t"}')), ReceiptError),
        (lambda r: r.update(id="00" * 32), ReceiptError),
        (lambda r: r["inclusion"]["path"].__setitem__(0, "00" * 32), ReceiptError),
        (lambda r: r["inclusion"].update(size=4), ReceiptError),
        (lambda r: r.update(checkpoint=r["checkpoint"].replace("\n5\n", "\n6\n")), CheckpointError),
    ],
    ids=["entry", "id", "path", "size", "checkpoint"],
)
def test_a_changed_receipt_does_not_verify(change: Any, error: type[Exception]) -> None:
    receipt = receipt_at()
    change(receipt)
    with pytest.raises(error):
        verify_receipt(receipt, VERIFIER, origin=ORIGIN)
