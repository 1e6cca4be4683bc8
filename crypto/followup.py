"""Follow-ups and replies (docs/protocol.md §7), and their log entries (§9).

A witness who kept the receipt code (``testimony.crypto.receipt``) comes back
with the keys it derives: the Ed25519 ``witness`` key signs, the S1 box seed
opens replies.

**Follow-up.** A new header and body sealed to the intake key exactly as in §3
(the body is a follow-up manifest, :func:`followup_manifest`), sent with the
members of §3 step 6 except the witness keys, plus ``parent`` (the submission
id, hex) and ``signature``::

    {"intake_key", "header", "body" | "body_blob", "attachments", "parent",
     "pow"?, "signature"}

**The signature** (v1.1) is b64u Ed25519 by the parent's witness key over
(:func:`signed_bytes`)::

    JCS({"type": "followup", "v": 1, "parent", "intake_key",
         "header": hex H(header), "body": hex H(body), "attachments": [sorted]})

(``body`` is the ``body_blob`` id when the body was uploaded): exactly the
``followup`` entry's members other than ``witness``, ``signature`` and
``received``, so it is checked from the log entry alone
(:func:`verify_followup_entry`). ``pow`` is not signed: a retry with a fresh
proof of work carries the same signature (Ed25519 is deterministic).

Its log entry (``docs/log-entries.md``; built once by
:func:`build_followup_entry`, a ``testimony.crypto.entries.FollowupEntry``)
names what a submission entry names, the parent, the parent's witness key that
verified the request, and the request's signature::

    {"type": "followup", "v": 1, "parent": "<submission id>", "intake_key",
     "header": "<hex H>", "body": "<hex H>", "attachments": ["<hex>", sorted],
     "witness": "<b64u>", "signature": "<b64u>", "received"}

**Reply.** ``Seal_S1(witness_box, info = "testimony/v1 reply", JCS(message))``
(:func:`seal_reply`), message ``{"v": 1, "text"}``. A reviewer's workstation
signs its entry, a ``testimony.crypto.entries.SignedReplyEntry`` ``{"type":
"reply", "v": 1, "parent", "sealed": "<hex H(sealed)>", "actor", "nonce",
"signature"}``, and sends it with the sealed bytes to ``POST /api/v1/entries``
(§12.7, docs/reviewers-api.md), which adds ``received``; the unsigned form
earlier servers logged (``entries.ReplyEntry``) is still read, never written.
A witness fetches replies by signing ``JCS({"challenge": <b64u>, "witness":
<b64u>})`` (:func:`replies_request`).

>>> import json
>>> from datetime import datetime, timezone
>>> from testimony.crypto import hpke, receipt, submission
>>> keys = receipt.derive("1234-5678-9012-3456-7890")
>>> sealed = submission.seal_submission(hpke.public_key(bytes(32)), followup_manifest("more"))
>>> request = sign_followup(keys, followup_request(sealed, parent="ab" * 32, attachments=[]))
>>> verify_followup(keys.witness, request)
>>> received = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> entry = followup_entry(request, witness=keys.witness, received=received)
>>> verify_followup_entry(entry)
>>> logged = json.loads(entry)
>>> logged["type"], logged["parent"] == "ab" * 32, logged["witness"] == keys.witness_b64u
('followup', True, True)
>>> open_reply(keys.box_seed, seal_reply(keys.witness_box, {"v": 1, "text": "when?"}))
{'text': 'when?', 'v': 1}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from . import canonical, hpke, signing
from .encoding import b64u_decode, b64u_encode, hex_decode
from .entries import FollowupEntry
from .errors import EntryMalformed, MalformedInput, SignatureError
from .receipt import WitnessKeys
from .rfc3339 import format_time
from .submission import SealedSubmission, sealed_content

__all__ = [
    "FOLLOWUP_MEMBERS",
    "build_followup_entry",
    "entry_signed_bytes",
    "followup_entry",
    "followup_manifest",
    "followup_request",
    "open_reply",
    "replies_request",
    "seal_reply",
    "sign_followup",
    "signed_bytes",
    "verify_followup",
    "verify_followup_entry",
    "verify_replies_request",
]

VERSION = 1

FOLLOWUP_MEMBERS = frozenset(
    {"intake_key", "header", "body", "body_blob", "attachments", "parent", "pow", "signature"}
)
"""The members a follow-up request may have (§7; ``pow`` and ``body_blob`` as in §3)."""


def followup_manifest(text: str, attachments: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The manifest sealed in a follow-up's body: ``{"v": 1, "text", "attachments"}``.

    ``attachments`` are descriptors as in a §3 manifest
    (``SealedAttachment.descriptor``).
    """
    if not isinstance(text, str):
        raise MalformedInput("a follow-up's text is a string")
    return {"v": VERSION, "text": text, "attachments": [dict(a) for a in attachments]}


def followup_request(
    sealed: SealedSubmission, *, parent: str, attachments: Sequence[str]
) -> dict[str, Any]:
    """The unsigned follow-up request for a sealed header and body (no ``pow`` yet)."""
    request = sealed.request(attachments=attachments)
    del request["witness"], request["witness_box"]
    return {**request, "parent": parent}


def _signed(
    *, parent: str, intake_key: str, header: str, body: str, attachments: Sequence[str]
) -> bytes:
    return canonical.dumps(
        {
            "type": FollowupEntry.TYPE,
            "v": VERSION,
            "parent": parent,
            "intake_key": intake_key,
            "header": header,
            "body": body,
            "attachments": sorted(attachments),
        }
    )


def signed_bytes(request: Mapping[str, Any]) -> bytes:
    """The bytes a follow-up's signature is over (v1.1, §7), from the request:
    ``JCS({"type": "followup", "v": 1, "parent", "intake_key", "header": hex
    H(header), "body": hex H(body), "attachments": sorted})``.

    Only those members are read (``pow``, ``signature`` and any other member
    are not signed). Raises :class:`MalformedInput` for a request whose
    sealed members or ``parent`` are malformed.
    """
    if not isinstance(request, Mapping):
        raise MalformedInput("the request is a JSON object")
    content = sealed_content(request)
    return _signed(
        parent=_parent(request.get("parent")),
        intake_key=content.intake_key,
        header=content.header,
        body=content.body,
        attachments=content.attachments,
    )


def entry_signed_bytes(entry: FollowupEntry) -> bytes:
    """:func:`signed_bytes` from a ``followup`` entry's members (the same bytes
    as from the request it was built from)."""
    return _signed(
        parent=entry.parent,
        intake_key=entry.intake_key,
        header=entry.header,
        body=entry.body,
        attachments=entry.attachments,
    )


def sign_followup(keys: WitnessKeys, request: Mapping[str, Any]) -> dict[str, Any]:
    """``request`` with its ``signature`` by the witness key over
    :func:`signed_bytes` (a ``signature`` it has already is replaced; ``pow``
    may be added before or after: it is not signed)."""
    signature = signing.sign(keys.signing_key, signed_bytes(request))
    unsigned = {k: v for k, v in request.items() if k != "signature"}
    return {**unsigned, "signature": b64u_encode(signature)}


def _signature(value: object) -> bytes:
    if not isinstance(value, str):
        raise SignatureError()
    try:
        return b64u_decode(value)
    except MalformedInput:
        raise SignatureError() from None


def verify_followup(witness: bytes, request: Mapping[str, Any]) -> None:
    """Check a follow-up request's ``signature`` with the witness public key.

    Raises :class:`SignatureError` if it does not verify (or is missing),
    :class:`MalformedInput` if ``witness`` is not a 32-byte key or the
    request's signed members are malformed (:func:`signed_bytes`).
    """
    message = signed_bytes(request)
    signing.verify(witness, message, _signature(request.get("signature")))


def verify_followup_entry(entry: FollowupEntry | bytes) -> None:
    """Check a logged ``followup`` entry's ``signature`` with its ``witness``,
    from the entry alone (its JCS bytes or the parsed entry).

    Raises :class:`SignatureError` if it does not verify, and
    :class:`MalformedInput` (:class:`EntryMalformed`) for bytes that are not a
    ``followup`` entry or a witness key that is not a valid Ed25519 key.
    """
    if isinstance(entry, bytes):
        entry = FollowupEntry.parse(entry)
    if not isinstance(entry, FollowupEntry):
        raise EntryMalformed("not a followup entry")
    signing.verify(entry.witness, entry_signed_bytes(entry), entry.signature)


def _parent(value: object) -> str:
    if not isinstance(value, str):
        raise MalformedInput("`parent` is a submission id (64 lowercase hex)")
    hex_decode(value, 32)
    return value


def build_followup_entry(
    request: Mapping[str, Any], *, witness: bytes, received: datetime
) -> FollowupEntry:
    """The ``followup`` entry for a follow-up request.

    ``witness`` is the parent submission's witness key (the one the signature
    was checked with); ``received`` must already be floored (§9). Checks
    structure only (as ``submission.sealed_content`` does, plus ``parent`` and a
    64-byte ``signature``); raises :class:`MalformedInput`. It does not verify
    the signature (:func:`verify_followup`).
    """
    if not isinstance(request, Mapping):
        raise MalformedInput("the request is a JSON object")
    unknown = sorted(set(request) - FOLLOWUP_MEMBERS)
    if unknown:
        raise MalformedInput(f"a follow-up has no member `{unknown[0]}`")
    content = sealed_content(request)
    signature_text = request.get("signature")
    signature = b64u_decode(signature_text) if isinstance(signature_text, str) else b""
    if len(signature) != 64:
        raise MalformedInput("`signature` is a b64u 64-byte Ed25519 signature")
    if not isinstance(witness, bytes) or len(witness) != 32:
        raise MalformedInput("the witness key is 32 bytes")
    parent = _parent(request.get("parent"))
    format_time(received)  # refuses, with its own message, a time not in whole UTC seconds
    return FollowupEntry(
        parent=parent,
        intake_key=content.intake_key,
        header=content.header,
        body=content.body,
        attachments=content.attachments,
        witness=witness,
        signature=signature,
        received=received,
    )


def followup_entry(request: Mapping[str, Any], *, witness: bytes, received: datetime) -> bytes:
    """The JCS bytes of the ``followup`` entry for a follow-up request
    (:func:`build_followup_entry`'s, as logged)."""
    return build_followup_entry(request, witness=witness, received=received).to_json()


# --- replies ------------------------------------------------------------------------


def seal_reply(witness_box: bytes, message: Mapping[str, Any]) -> bytes:
    """``Seal_S1(witness_box, "testimony/v1 reply", JCS(message))`` (§7)."""
    return hpke.seal(witness_box, hpke.INFO_REPLY, canonical.dumps(dict(message)))


def open_reply(box_seed: bytes, sealed: bytes) -> dict[str, Any]:
    """Open a reply with the witness's S1 seed to its message object.

    Raises :class:`~testimony.crypto.errors.HPKEOpenError` if it does not open
    (another witness's reply, altered bytes), :class:`MalformedInput` if the
    plaintext is not a JSON object.
    """
    plaintext = hpke.open(box_seed, hpke.INFO_REPLY, sealed)
    try:
        message = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedInput("the reply is not JSON") from exc
    if not isinstance(message, dict):
        raise MalformedInput("the reply is not a JSON object")
    return message


def replies_request(keys: WitnessKeys, challenge: str) -> dict[str, str]:
    """``{"witness", "challenge", "signature"}``: the signature is Ed25519 by the
    witness key over ``JCS({"challenge": challenge, "witness": b64u(witness)})``."""
    return signing.sign_json(
        keys.signing_key, {"challenge": challenge, "witness": keys.witness_b64u}
    )


def verify_replies_request(request: object) -> bytes:
    """Check a replies request's signature; return the witness public key.

    Raises :class:`MalformedInput` for a request that is not exactly
    ``{"witness", "challenge", "signature"}`` with a 32-byte witness key, and
    :class:`SignatureError` if the signature does not verify.
    """
    if not isinstance(request, Mapping) or set(request) != {"witness", "challenge", "signature"}:
        raise MalformedInput("a replies request is {witness, challenge, signature}")
    witness_text, challenge = request["witness"], request["challenge"]
    if not isinstance(witness_text, str) or not isinstance(challenge, str):
        raise MalformedInput("`witness` and `challenge` are b64u strings")
    witness = b64u_decode(witness_text)
    if len(witness) != 32:
        raise MalformedInput("`witness` is a 32-byte Ed25519 public key")
    signing.verify_json(witness, request)
    return witness
