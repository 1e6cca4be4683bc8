"""``GET /api/v1/pow`` (docs/protocol.md §8)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from testimony.service.server import Server

from .deps import get_server
from .schemas import Challenge

router = APIRouter(prefix="/api/v1", tags=["proof of work"])


@router.get("/pow", response_model=Challenge)
def get_challenge(server: Annotated[Server, Depends(get_server)]) -> dict[str, Any]:
    """A fresh proof-of-work challenge; `bits` 0 means no work is asked for."""
    return server.proof_of_work.issue().to_json()
