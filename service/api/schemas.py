"""The JSON shapes of the HTTP API, for the OpenAPI document (docs/protocol.md §3,
§5, §7, §8, §9, §10).

Requests are checked by the domain, not by these schemas: a submission is
read as JSON and handed to ``Intake.submit`` whole, so its rules live in one
place. The request schemas (:func:`submission_request`,
:func:`followup_request`, :data:`REPLIES_REQUEST`, :data:`PROOF_OF_WORK`:
plain JSON Schema, since "absent, but never null" is beyond a pydantic model)
say exactly what the domain accepts as far as JSON Schema can say it
(members, lengths, encodings); what it cannot say is in their descriptions (a
known intake key, an uploaded blob, a valid signature, a witness key that is
an Ed25519 point). The answers are pydantic models. The schemathesis suite
(``tests/service/api/test_schemathesis.py``) holds the server to both.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from testimony.crypto.pow import MAX_NONCE_BYTES
from testimony.crypto.submission import HEADER_LENGTH, MAX_INLINE_BODY

__all__ = [
    "B64U",
    "HEADER_LENGTH",
    "HEX_ID",
    "KEY_ID",
    "PROOF_OF_WORK",
    "REPLIES_REQUEST",
    "UPLOAD_ID",
    "Challenge",
    "ConsistencyProof",
    "Entries",
    "Form",
    "FormSummary",
    "Health",
    "InclusionProof",
    "Problem",
    "Receipt",
    "RepliesAnswer",
    "RepliesChallenge",
    "Reply",
    "b64u_length",
    "b64u_of",
    "followup_request",
    "submission_request",
]

_B64U_CHAR = "[A-Za-z0-9_-]"
_B64U_TAIL = {1: f"{_B64U_CHAR}[AQgw]", 2: f"{_B64U_CHAR}{{2}}[AEIMQUYcgkosw048]"}

B64U = f"^(?:{_B64U_CHAR}{{4}})*(?:{_B64U_TAIL[1]}|{_B64U_TAIL[2]})?$"
"""Canonical base64url without padding (§0): no `=`, no stray bits in the last character."""

HEX_ID = "^[0-9a-f]{64}$"
"""A blob, entry or submission id: 64 lowercase hex digits (§0)."""

KEY_ID = "^[0-9a-f]{32}$"
"""A key id: 32 lowercase hex digits (§1)."""

UPLOAD_ID = "^[A-Za-z0-9_-]{16,64}$"
"""An upload id (§6)."""


def b64u_length(size: int) -> int:
    """The length of the b64u text of ``size`` bytes."""
    return (size * 4 + 2) // 3


def b64u_of(size: int) -> str:
    """The pattern of the canonical b64u text of exactly ``size`` bytes."""
    whole, rest = divmod(size, 3)
    return f"^{_B64U_CHAR}{{{4 * whole}}}{_B64U_TAIL.get(rest, '')}$"


WITNESS_LENGTH = 32
WITNESS_BOX_LENGTH = 1216
SIGNATURE_LENGTH = 64


def _string(pattern: str, description: str, **more: Any) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern, "description": description, **more}


PROOF_OF_WORK: dict[str, Any] = {
    "title": "ProofOfWork",
    "description": "A solved §8 challenge: exactly these two members (else `403 pow-invalid`), "
    "whether or not the server asks for work; verified only when it does.",
    "type": "object",
    "properties": {
        "challenge": _string(B64U, "the challenge from GET /api/v1/pow (b64u)"),
        "nonce": _string(
            B64U,
            f"b64u, at most {MAX_NONCE_BYTES} bytes; H(challenge bytes || nonce bytes) "
            "has the challenge's `bits` leading zero bits",
            maxLength=b64u_length(MAX_NONCE_BYTES),
        ),
    },
    "required": ["challenge", "nonce"],
    "additionalProperties": False,
}


def _sealed_members(max_attachments: int) -> dict[str, Any]:
    """The members a submission and a follow-up share (§3 step 6)."""
    return {
        "intake_key": _string(KEY_ID, "key id of the intake key the header is sealed to"),
        "header": _string(
            b64u_of(HEADER_LENGTH),
            f"b64u of Seal_S1(intake key, 'testimony/v1 cek', CEK): {HEADER_LENGTH} bytes",
        ),
        "body": _string(
            B64U,
            f"b64u of the STREAM body, at most {MAX_INLINE_BODY} bytes (`413 body-too-large`); "
            "absent when `body_blob` is given",
            maxLength=b64u_length(MAX_INLINE_BODY),
        ),
        "body_blob": _string(HEX_ID, "hex id of the body uploaded as a blob (§6)"),
        "attachments": {
            "type": "array",
            "description": "distinct hex blob ids, each uploaded and verified (§6); "
            "may be left out, meaning []",
            "items": {"type": "string", "pattern": HEX_ID},
            "uniqueItems": True,
            "maxItems": max_attachments,
        },
        "pow": {
            "description": "required when the server asks for work (`bits` > 0)",
            "anyOf": [{"$ref": "#/components/schemas/ProofOfWork"}, {"type": "null"}],
        },
    }


_ONE_BODY = [{"required": ["body"]}, {"required": ["body_blob"]}]


def submission_request(max_attachments: int) -> dict[str, Any]:
    """The JSON Schema of a submission (§3 step 6) on a server allowing ``max_attachments``."""
    members = _sealed_members(max_attachments)
    members["witness"] = {
        "description": "b64u Ed25519 public key: a canonical encoding of a point of the "
        "curve, not of small order (else `422 malformed-submission`); null exactly "
        "when `witness_box` is",
        "anyOf": [{"type": "string", "pattern": b64u_of(WITNESS_LENGTH)}, {"type": "null"}],
    }
    members["witness_box"] = {
        "description": f"b64u S1 public key ({WITNESS_BOX_LENGTH} bytes), or null",
        "anyOf": [{"type": "string", "pattern": b64u_of(WITNESS_BOX_LENGTH)}, {"type": "null"}],
    }
    return {
        "title": "SubmissionRequest",
        "description": "docs/protocol.md §3 step 6: exactly one of `body` and `body_blob`, "
        "no other member. Beyond what this schema says: `intake_key` names an intake key "
        "of the log (`422 unknown-intake-key`); every blob named is uploaded and verified "
        "(`422 unknown-blob`, `409 incomplete-blob`); the same header and body sent again "
        "with other attachments or witness keys is `409 submission-conflict`.",
        "type": "object",
        "properties": members,
        "required": ["intake_key", "header"],
        "oneOf": _ONE_BODY,
        # Both witness keys, or neither (each absent or null).
        "if": {"required": ["witness"], "properties": {"witness": {"type": "string"}}},
        "then": {"required": ["witness_box"], "properties": {"witness_box": {"type": "string"}}},
        "else": {"properties": {"witness_box": {"type": "null"}}},
        "additionalProperties": False,
    }


def followup_request(max_attachments: int) -> dict[str, Any]:
    """The JSON Schema of a follow-up (§7) on a server allowing ``max_attachments``."""
    members = _sealed_members(max_attachments)
    members["parent"] = _string(HEX_ID, "the id of the submission this follows up")
    members["signature"] = _string(
        b64u_of(SIGNATURE_LENGTH),
        "b64u Ed25519 signature by the parent's witness key over JCS of the request "
        "without `signature` (§7)",
    )
    return {
        "title": "FollowupRequest",
        "description": "docs/protocol.md §7: a follow-up, exactly one of `body` and "
        "`body_blob`, no other member. Beyond what this schema says: `parent` is a logged "
        "submission (`422 unknown-parent`) carrying a witness key "
        "(`422 parent-without-witness`); `signature` verifies with that key "
        "(`403 followup-signature-invalid`); the intake key and blobs as for a submission.",
        "type": "object",
        "properties": members,
        "required": ["intake_key", "header", "parent", "signature"],
        "oneOf": _ONE_BODY,
        "additionalProperties": False,
    }


REPLIES_REQUEST: dict[str, Any] = {
    "title": "RepliesRequest",
    "description": "docs/protocol.md §7: exactly these three members (else "
    "`422 malformed-replies-request`). Beyond what this schema says: the challenge is "
    "this server's, unexpired and unused (`403 reply-challenge-invalid`, `-expired`, "
    "`-reused`), and the signature verifies (`403 replies-signature-invalid`).",
    "type": "object",
    "properties": {
        "witness": _string(b64u_of(WITNESS_LENGTH), "b64u Ed25519 public key (32 bytes)"),
        "challenge": _string(B64U, "from GET /api/v1/replies/challenge (b64u)"),
        "signature": _string(
            b64u_of(SIGNATURE_LENGTH),
            'b64u Ed25519 signature by `witness` over JCS({"challenge", "witness"})',
        ),
    },
    "required": ["witness", "challenge", "signature"],
    "additionalProperties": False,
}


class InclusionProof(BaseModel):
    """An RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves."""

    index: int = Field(ge=0)
    size: int = Field(ge=1)
    path: list[str] = Field(description="hex hashes, leaf side first")


class Receipt(BaseModel):
    """docs/protocol.md §10."""

    id: str = Field(description="hex H(0x00 || entry)", pattern=HEX_ID)
    index: int = Field(ge=0)
    entry: str = Field(description="b64u of the entry bytes", pattern=B64U)
    checkpoint: str = Field(description="signed checkpoint note, size > index")
    inclusion: InclusionProof


class ConsistencyProof(BaseModel):
    """An RFC 9162 consistency proof between the trees of `from` and `to` leaves."""

    model_config = ConfigDict(populate_by_name=True)

    from_: int = Field(alias="from", ge=1)
    to: int = Field(ge=1)
    path: list[str]


class Entries(BaseModel):
    """Log entries, b64u, in index order."""

    entries: list[str]


class Challenge(BaseModel):
    """docs/protocol.md §8."""

    challenge: str = Field(pattern=B64U)
    bits: int = Field(ge=0, le=64, description="0: no work is asked for")
    expires: str = Field(description="RFC 3339")


class RepliesChallenge(BaseModel):
    """docs/protocol.md §7: a challenge to sign, accepted once before `expires`."""

    challenge: str = Field(pattern=B64U)
    expires: str = Field(description="RFC 3339")


class Reply(BaseModel):
    """A reviewer's reply sealed to the witness (docs/protocol.md §7)."""

    id: str = Field(description="the reply entry's id", pattern=HEX_ID)
    parent: str = Field(description="the submission replied to", pattern=HEX_ID)
    sealed: str = Field(description="b64u Seal_S1(witness_box, 'testimony/v1 reply', ...)")


class RepliesAnswer(BaseModel):
    """The signing witness key's submissions and the replies to them, in log order."""

    submissions: list[str]
    replies: list[Reply]


class FormSummary(BaseModel):
    """One form in the list of docs/protocol.md §5."""

    id: str
    version: int
    title: dict[str, str]


class Form(BaseModel):
    """A form definition with its hash and the intake key (docs/protocol.md §5)."""

    definition: dict[str, Any]
    sha256: str
    intake_key: str
    intake_key_id: str
    signature: str | None


class Health(BaseModel):
    """The server answers and its database is reachable."""

    status: str


class Problem(BaseModel):
    """RFC 9457 problem document (`application/problem+json`), every error answer."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(
        description='"urn:testimony:problem:" + code', pattern="^urn:testimony:problem:[a-z0-9-]+$"
    )
    title: str = Field(description="fixed per code")
    status: int = Field(description="the HTTP status", ge=400, le=599)
    code: str = Field(description="stable error code; clients branch on it", pattern="^[a-z0-9-]+$")
    detail: str = Field(description="for people")


ENTRY_REQUEST: dict[str, Any] = {
    "title": "EntryRequest",
    "description": "docs/reviewers-api.md: a signed entry (docs/protocol.md §12.2) without "
    "`received`, and for a `reply` its sealed bytes. Beyond this schema: the entry's own "
    "shape (`400 entry-malformed`), its type (`400 entry-type-not-accepted`), its "
    "signature (`403 entry-signature-invalid`), the session (`401 session-required`, "
    "`403 actor-not-session`) and the governance rules (`403 no-standing`, ...).",
    "type": "object",
    "properties": {
        "entry": {"type": "object", "description": "the signed entry"},
        "blob": _string(B64U, "b64u of the sealed reply (only with a `reply` entry)"),
    },
    "required": ["entry"],
    "additionalProperties": False,
}

SESSION_REQUEST: dict[str, Any] = {
    "title": "SessionRequest",
    "description": "docs/protocol.md §12.8: exactly these three members (else "
    "`400 malformed-session-request`); the challenge is this server's, unexpired and "
    "unused, the reviewer has standing, and the signature verifies.",
    "type": "object",
    "properties": {
        "reviewer": _string("^[0-9a-f]{32}$", "the reviewer id"),
        "challenge": _string(B64U, "from GET /api/v1/session/challenge (b64u)"),
        "signature": _string(
            b64u_of(SIGNATURE_LENGTH),
            'b64u Ed25519 signature by the reviewer over JCS({"challenge", "reviewer"})',
        ),
    },
    "required": ["reviewer", "challenge", "signature"],
    "additionalProperties": False,
}

CIPHERTEXT_REQUEST: dict[str, Any] = {
    "title": "CiphertextRequest",
    "description": "docs/reviewers-api.md: the submissions whose ciphertext to hand out, "
    "after an `access` entry naming them is logged.",
    "type": "object",
    "properties": {
        "subjects": {
            "type": "array",
            "items": _string(HEX_ID, "a submission id"),
            "minItems": 1,
            "maxItems": 200,
        }
    },
    "required": ["subjects"],
    "additionalProperties": False,
}


class SessionChallenge(BaseModel):
    """docs/protocol.md §12.8: a challenge to sign, accepted once before `expires`."""

    challenge: str = Field(pattern=B64U)
    expires: str = Field(description="RFC 3339")


class Session(BaseModel):
    """A bearer token of at most 15 minutes, and the reviewer's role now."""

    token: str = Field(pattern=B64U)
    expires: str = Field(description="RFC 3339")
    role: str


class IndexedEntries(BaseModel):
    """Log indexes of the annotations listing a blind index (a superset, §12.6)."""

    indexes: list[int]
    next: int | None = Field(description="the `after` of the next page, or null")


class CiphertextItem(BaseModel):
    """A header and (inline) body, b64u; null for a body to fetch as a blob."""

    id: str = Field(pattern=HEX_ID)
    header: str = Field(pattern=B64U)
    body: str | None = None


class CiphertextSubmission(CiphertextItem):
    """A submission's ciphertext, its witness's box key, and its follow-ups'."""

    witness_box: str | None = Field(
        default=None, description="b64u S1 public key the witness reads replies with, or null"
    )
    followups: list[CiphertextItem]


class BlobToFetch(BaseModel):
    """A blob to fetch with `GET /api/v1/blobs/{id}?subject=`."""

    id: str = Field(pattern=HEX_ID)
    subject: str = Field(pattern=HEX_ID)


class CiphertextAnswer(BaseModel):
    """docs/reviewers-api.md: the access entry's receipt, then the ciphertexts."""

    access: Receipt
    items: list[CiphertextSubmission]
    blobs: list[BlobToFetch]
