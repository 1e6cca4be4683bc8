"""The JSON shapes of the HTTP API, for the OpenAPI document (docs/protocol.md §3,
§5, §8, §9, §10). Requests are checked by the domain, not by these models: a
submission is read as JSON and handed to ``Intake.submit`` whole, so its rules
live in one place."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Challenge",
    "ConsistencyProof",
    "Entries",
    "Form",
    "FormSummary",
    "Health",
    "InclusionProof",
    "Problem",
    "ProofOfWork",
    "Receipt",
    "SubmissionRequest",
]


class ProofOfWork(BaseModel):
    """A solved §8 challenge."""

    challenge: str = Field(description="the challenge from GET /api/v1/pow (b64u)")
    nonce: str = Field(description="b64u; H(challenge bytes || nonce) has `bits` leading zeros")


class SubmissionRequest(BaseModel):
    """docs/protocol.md §3 step 6. Exactly one of `body` and `body_blob`."""

    model_config = ConfigDict(extra="forbid")

    intake_key: str = Field(description="key id of the intake key the header is sealed to")
    header: str = Field(description="b64u of Seal_S1(intake key, 'testimony/v1 cek', CEK)")
    body: str | None = Field(None, description="b64u of the STREAM body (at most 1 MiB)")
    body_blob: str | None = Field(None, description="hex id of the body uploaded as a blob")
    attachments: list[str] = Field(default_factory=list, description="hex blob ids")
    witness: str | None = Field(None, description="b64u Ed25519 public key, or null")
    witness_box: str | None = Field(None, description="b64u S1 public key, or null")
    pow: dict[str, str] | None = Field(
        None,
        description="{challenge, nonce} (see ProofOfWork): required when the server asks for work",
    )


class InclusionProof(BaseModel):
    """An RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves."""

    index: int
    size: int
    path: list[str] = Field(description="hex hashes, leaf side first")


class Receipt(BaseModel):
    """docs/protocol.md §10."""

    id: str = Field(description="hex H(0x00 || entry)")
    index: int
    entry: str = Field(description="b64u of the entry bytes")
    checkpoint: str = Field(description="signed checkpoint note, size > index")
    inclusion: InclusionProof


class ConsistencyProof(BaseModel):
    """An RFC 9162 consistency proof between the trees of `from` and `to` leaves."""

    model_config = ConfigDict(populate_by_name=True)

    from_: int = Field(alias="from")
    to: int
    path: list[str]


class Entries(BaseModel):
    """Log entries, b64u, in index order."""

    entries: list[str]


class Challenge(BaseModel):
    """docs/protocol.md §8."""

    challenge: str
    bits: int
    expires: str = Field(description="RFC 3339")


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
    """RFC 9457 problem document (`application/problem+json`)."""

    type: str
    title: str
    status: int
    code: str = Field(description="stable error code")
    detail: str
