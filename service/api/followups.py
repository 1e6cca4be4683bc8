"""``POST /api/v1/followups`` (PROTOCOL.md §7; the receipt of §10).

The body is read as for a submission (``submissions.read_json``: JSON only,
bounded, strict); everything else is the domain's (``Followups.submit``). A
repeated follow-up answers ``201`` with the first receipt, as a submission does.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from testimony.service.domain.setup import Server

from .deps import get_server
from .schemas import Problem, Receipt
from .submissions import read_json

router = APIRouter(prefix="/api/v1", tags=["follow-ups"])


@router.post(
    "/followups",
    status_code=201,
    response_model=Receipt,
    responses={
        400: {"model": Problem, "description": "malformed JSON"},
        403: {"model": Problem, "description": "bad witness signature or proof of work"},
        409: {"model": Problem, "description": "a named blob is still uploading; conflict"},
        413: {"model": Problem, "description": "too large"},
        415: {"model": Problem, "description": "not application/json"},
        422: {"model": Problem, "description": "wrong structure, unknown parent, key or blob"},
    },
)
async def create_followup(
    request: Request, server: Annotated[Server, Depends(get_server)]
) -> JSONResponse:
    """Log a witness's signed follow-up to a submission and answer its receipt."""
    data = await read_json(request, server.settings.max_request_bytes)
    submitted = await run_in_threadpool(server.followups.submit, data)
    return JSONResponse(submitted.receipt.to_json(), status_code=201)
