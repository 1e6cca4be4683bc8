"""``GET /api/v1/pow`` (docs/protocol.md §8), and ``GET /api/v1/pow?length=N``
for creating an upload of ``N`` bytes (§6): a challenge priced for that
upload and how full the upload budget is (``domain.uploads``), ``413
blob-too-large`` above the largest blob and ``413 upload-quota-exceeded``
when no such upload fits the budget now."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from testimony.service.server import Server

from .deps import get_server
from .openapi import problems
from .schemas import Challenge

router = APIRouter(prefix="/api/v1", tags=["proof of work"])


@router.get(
    "/pow",
    response_model=Challenge,
    responses=problems("invalid-request", "blob-too-large", "upload-quota-exceeded"),
)
def get_challenge(
    server: Annotated[Server, Depends(get_server)],
    length: Annotated[
        int | None,
        Query(ge=0, description="the `Upload-Length` of the upload this challenge pays for"),
    ] = None,
) -> dict[str, Any]:
    """A fresh proof-of-work challenge, for a submission or (with `length`) for
    creating an upload of that many bytes; `bits` 0 means no work is asked for."""
    if length is None:
        return server.proof_of_work.issue().to_json()
    return server.uploads.challenge(length).to_json()
