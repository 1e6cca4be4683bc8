"""``POST /api/v1/submissions`` (docs/protocol.md §3 step 6; the receipt of §10).

The body must be ``application/json`` (415 otherwise), at most
``max_request_bytes`` (413, read in pieces and refused as soon as it is
exceeded), and well-formed JSON without duplicate member names or
``NaN``/``Infinity`` (400 ``malformed-json``). Everything else is the domain's
(``Intake.submit``).

A repeated submission answers ``201`` with the same receipt, byte for byte, as
the first: a client written from docs/protocol.md expects ``201``, and a retry after
a lost answer is then indistinguishable from the first try.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from testimony.crypto import canonical
from testimony.crypto.errors import MalformedInput
from testimony.service.domain.errors import RequestTooLarge
from testimony.service.domain.intake import Submitted
from testimony.service.server import Server

from .deps import get_server
from .errors import MalformedJSON, UnsupportedMediaType
from .openapi import JSON_BODY, POW_CODES, RECEIPT_LINKS, json_body, problems
from .schemas import Receipt

router = APIRouter(prefix="/api/v1", tags=["submissions"])

JSON_MEDIA_TYPE = "application/json"


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request's JSON body.

    Raises :class:`UnsupportedMediaType` unless it is ``application/json``,
    :class:`RequestTooLarge` beyond ``max_bytes``, :class:`MalformedJSON` if
    it does not parse (strictly: no duplicate names, no NaN or Infinity).
    """
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != JSON_MEDIA_TYPE:
        raise UnsupportedMediaType("a submission is sent as application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise RequestTooLarge(f"a request body is at most {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise RequestTooLarge(f"a request body is at most {max_bytes} bytes")
    try:
        return canonical.loads(bytes(body))
    except MalformedInput:
        raise MalformedJSON("the request body is not well-formed JSON") from None


async def answer_receipt(
    request: Request, server: Server, submit: Callable[[Any], Submitted]
) -> JSONResponse:
    """Read the request's JSON (:func:`read_json`), pass it to ``submit`` in a
    worker thread, and answer ``201`` with the receipt (the first one for a
    repeat).

    Raises what :func:`read_json` and ``submit`` raise.
    """
    data = await read_json(request, server.settings.max_request_bytes)
    submitted = await run_in_threadpool(submit, data)
    return JSONResponse(submitted.receipt.to_json(), status_code=201)


RECEIPT_CODES = (
    *JSON_BODY,
    "unknown-intake-key",
    "unknown-blob",
    "incomplete-blob",
    "body-too-large",
    *POW_CODES,
)
"""What a JSON request answered with a receipt may be refused with, besides its own codes."""


@router.post(
    "/submissions",
    status_code=201,
    response_model=Receipt,
    responses={
        201: {
            "description": "the receipt (§10); the first one for a repeat",
            "links": RECEIPT_LINKS,
        },
        **problems(*RECEIPT_CODES, "malformed-submission", "submission-conflict"),
    },
    openapi_extra=json_body("SubmissionRequest", "a sealed submission (§3 step 6)"),
)
async def create_submission(
    request: Request, server: Annotated[Server, Depends(get_server)]
) -> JSONResponse:
    """Log a sealed submission and answer its receipt (the same one for a repeat)."""
    return await answer_receipt(request, server, server.intake.submit)
