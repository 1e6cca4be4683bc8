"""``POST /api/v1/followups`` (docs/protocol.md §7; the receipt of §10).

The body is read as for a submission (``submissions.answer_receipt``: JSON
only, bounded, strict); everything else is the domain's (``Followups.submit``). A
repeated follow-up answers ``201`` with the first receipt, as a submission does.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from testimony.service.server import Server

from .deps import get_server
from .schemas import Receipt
from .submissions import answer_receipt, problem_responses

router = APIRouter(prefix="/api/v1", tags=["follow-ups"])


@router.post(
    "/followups",
    status_code=201,
    response_model=Receipt,
    responses=problem_responses(
        forbidden="bad witness signature or proof of work",
        conflict="a named blob is still uploading; conflict",
        unprocessable="wrong structure, unknown parent, key or blob",
    ),
)
async def create_followup(
    request: Request, server: Annotated[Server, Depends(get_server)]
) -> JSONResponse:
    """Log a witness's signed follow-up to a submission and answer its receipt."""
    return await answer_receipt(request, server, server.followups.submit)
