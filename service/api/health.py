"""``GET /healthz``: the process answers and its database is reachable."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from testimony.service.server import Server

from .deps import get_server
from .openapi import problems
from .schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses=problems())
def health(server: Annotated[Server, Depends(get_server)]) -> dict[str, Any]:
    """`{"status": "ok"}` once the database answers."""
    server.log.size()
    return {"status": "ok"}
