"""Receipts (docs/protocol.md §10): what the server answers to a submission or
follow-up, and the one check every client, the server's own tests, the
workstation and ``testimony verify`` run on it.

A receipt is ``{"id", "index", "entry", "checkpoint", "inclusion"}``. It
verifies when, in this order:

1. ``H(0x00 || entry) == id``;
2. the entry names what the client sent (its intake key, header, body, blobs
   and witness keys), when the client passes its request;
3. the inclusion proof is for ``index`` in the checkpoint's tree and leads
   from ``id`` to the checkpoint's root;
4. the checkpoint's signature verifies with the log key the client pinned,
   for the expected origin.

:func:`verify_receipt` returns the verified parts or raises
:class:`~testimony.crypto.errors.ReceiptError` (or a
:class:`~testimony.crypto.errors.CheckpointError` for step 4).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import checkpoint as _checkpoint
from . import followup, merkle
from .encoding import b64u_decode, hex_decode
from .errors import MalformedInput, ProofError, ReceiptError, SignatureError
from .submission import submission_entry

__all__ = ["VerifiedReceipt", "verify_receipt"]


@dataclass(frozen=True)
class VerifiedReceipt:
    """A receipt that verified: the entry (bytes and object) and its checkpoint."""

    id: str
    index: int
    entry: bytes
    entry_object: dict[str, Any]
    checkpoint: _checkpoint.Checkpoint


_UNCOMPARED = ("received",)
_UNCOMPARED_FOLLOWUP = ("received", "signature")
"""Entry members a request does not fix."""


def _uncompared(request: Mapping[str, Any]) -> tuple[str, ...]:
    return _UNCOMPARED_FOLLOWUP if "parent" in request else _UNCOMPARED


def _request_entry_fields(
    request: Mapping[str, Any], entry_object: Mapping[str, Any]
) -> dict[str, Any]:
    """What the §9 entry must say of a request (all but ``received``).

    The entry is built by the same ``submission_entry`` (or, for a follow-up,
    a request with ``parent``, ``followup_entry``) the server uses, at a
    placeholder time that is then dropped, so the rule exists once. A
    follow-up's entry names the parent's witness key: the request's signature
    must verify with the key the entry names, over the v1.1 signed bytes
    ``JCS({"type": "followup", "v": 1, "parent", "intake_key", "header",
    "body", "attachments"})`` (``followup.signed_bytes``), which are the
    entry's own members, so once those are compared the request's signature
    vouches for the entry. The entry's ``signature`` itself is not compared
    (``followup.verify_followup_entry`` checks it from the entry alone): a
    retry with a fresh proof of work carries the same one, as ``pow`` is not
    signed.
    """
    placeholder = datetime(2000, 1, 1, tzinfo=UTC)
    if "parent" in request:
        witness_text = entry_object.get("witness")
        if not isinstance(witness_text, str):
            raise ReceiptError("the entry does not name what was submitted")
        try:
            witness = b64u_decode(witness_text)
            followup.verify_followup(witness, request)
        except (MalformedInput, SignatureError) as exc:
            raise ReceiptError("the entry does not name what was submitted") from exc
        built = followup.followup_entry(request, witness=witness, received=placeholder)
    else:
        built = submission_entry(request, placeholder)
    entry = json.loads(built)
    for name in _uncompared(request):
        entry.pop(name, None)
    return dict(entry)


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ReceiptError(f"the receipt's {what} is not a non-negative integer")
    return value


def verify_receipt(
    receipt: Mapping[str, Any],
    log_key: str,
    *,
    origin: str | None = None,
    request: Mapping[str, Any] | None = None,
) -> VerifiedReceipt:
    """Verify a §10 receipt against the pinned log verifier key.

    ``origin`` is the expected checkpoint origin (by default the key's name).
    With ``request`` (the JSON the client sent), the entry must name exactly
    that request's intake key, header, body, attachments and witness keys; for
    a follow-up (a request with ``parent``), its parent, and a witness key
    its signature verifies with.
    """
    if not isinstance(receipt, Mapping):
        raise ReceiptError("the receipt is not a JSON object")
    try:
        entry_id = hex_decode(receipt["id"], 32)
        entry = b64u_decode(receipt["entry"])
        index = _int(receipt["index"], "index")
        note = receipt["checkpoint"]
        inclusion = receipt["inclusion"]
        proof_index = _int(inclusion["index"], "inclusion index")
        proof_size = _int(inclusion["size"], "inclusion size")
        path = [hex_decode(node, 32) for node in inclusion["path"]]
    except (KeyError, TypeError, MalformedInput) as exc:
        raise ReceiptError("the receipt is malformed") from exc
    if not isinstance(note, str):
        raise ReceiptError("the receipt's checkpoint is not text")

    # 1. The entry is the one the id names.
    if merkle.leaf_hash(entry) != entry_id:
        raise ReceiptError("the entry does not hash to the receipt's id")
    try:
        entry_object = json.loads(entry.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # RecursionError: a hostile server's entry nested past the parser's depth.
        raise ReceiptError("the entry is not JSON") from exc
    if not isinstance(entry_object, dict):
        raise ReceiptError("the entry is not a JSON object")

    # 2. The entry names what was sent.
    if request is not None:
        expected = _request_entry_fields(request, entry_object)
        named = {k: v for k, v in entry_object.items() if k not in _uncompared(request)}
        if named != expected:
            raise ReceiptError("the entry does not name what was submitted")

    # 4 (first, so that nothing below trusts an unsigned size). The checkpoint.
    verified = _checkpoint.verify(note, log_key, origin=origin)

    # 3. The inclusion proof leads from the id to the checkpoint's root.
    if proof_index != index or proof_size != verified.size:
        raise ReceiptError("the inclusion proof is not for this entry in this checkpoint")
    try:
        merkle.verify_inclusion(index, proof_size, entry_id, path, verified.root)
    except ProofError as exc:
        raise ReceiptError("the inclusion proof does not lead to the checkpoint") from exc
    return VerifiedReceipt(
        id=receipt["id"], index=index, entry=entry, entry_object=entry_object, checkpoint=verified
    )
