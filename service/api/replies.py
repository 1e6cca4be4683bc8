"""``GET /api/v1/replies/challenge`` and ``POST /api/v1/replies`` (docs/protocol.md §7).

A witness fetches reviewers' sealed replies after signing a fresh challenge
with its witness key; the exchange is defined in ``domain/replies.py`` and
``docs/followups.md``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from testimony.service.server import Server

from .deps import get_server
from .openapi import JSON_BODY, json_body, problems
from .schemas import RepliesAnswer, RepliesChallenge
from .submissions import read_json

router = APIRouter(prefix="/api/v1", tags=["replies"])


@router.get("/replies/challenge", response_model=RepliesChallenge, responses=problems())
def get_replies_challenge(server: Annotated[Server, Depends(get_server)]) -> dict[str, str]:
    """A fresh challenge to sign: ``{"challenge", "expires"}``, accepted once."""
    return server.replies.challenge()


@router.post(
    "/replies",
    response_model=RepliesAnswer,
    responses=problems(
        *JSON_BODY,
        "malformed-replies-request",
        "reply-challenge-invalid",
        "reply-challenge-expired",
        "replies-signature-invalid",
        "reply-challenge-reused",
    ),
    openapi_extra=json_body("RepliesRequest", "a signed challenge (§7)"),
)
async def fetch_replies(
    request: Request, server: Annotated[Server, Depends(get_server)]
) -> dict[str, Any]:
    """The submissions of the signing witness key (ids, in log order) and the
    sealed replies to them."""
    data = await read_json(request, server.settings.max_request_bytes)
    answer: dict[str, Any] = await run_in_threadpool(server.replies.fetch, data)
    return answer
