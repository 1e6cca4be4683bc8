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
from .openapi import RECEIPT_LINKS, json_body, problems
from .schemas import Receipt
from .submissions import RECEIPT_CODES, answer_receipt

router = APIRouter(prefix="/api/v1", tags=["follow-ups"])


@router.post(
    "/followups",
    status_code=201,
    response_model=Receipt,
    responses={
        201: {
            "description": "the receipt (§10); the first one for a repeat",
            "links": RECEIPT_LINKS,
        },
        **problems(
            *RECEIPT_CODES,
            "malformed-followup",
            "unknown-parent",
            "parent-without-witness",
            "followup-signature-invalid",
            "followup-conflict",
        ),
    },
    openapi_extra=json_body("FollowupRequest", "a follow-up signed by the witness key (§7)"),
)
async def create_followup(
    request: Request, server: Annotated[Server, Depends(get_server)]
) -> JSONResponse:
    """Log a witness's signed follow-up to a submission and answer its receipt."""
    return await answer_receipt(request, server, server.followups.submit)
