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
from testimony.service.domain.errors import MalformedJSON, RequestTooLarge, UnsupportedMediaType
from testimony.service.domain.intake import Submitted
from testimony.service.server import Server

from .deps import get_server
from .schemas import Problem, Receipt, SubmissionRequest

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


def problem_responses(
    *, forbidden: str, conflict: str, unprocessable: str
) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI error answers of a JSON request that is answered a receipt.

    ``forbidden``, ``conflict`` and ``unprocessable`` describe its 403, 409
    and 422; the others are those of :func:`read_json`.
    """
    return {
        400: {"model": Problem, "description": "malformed JSON"},
        403: {"model": Problem, "description": forbidden},
        409: {"model": Problem, "description": conflict},
        413: {"model": Problem, "description": "too large"},
        415: {"model": Problem, "description": "not application/json"},
        422: {"model": Problem, "description": unprocessable},
    }


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


@router.post(
    "/submissions",
    status_code=201,
    response_model=Receipt,
    responses=problem_responses(
        forbidden="proof of work missing, invalid, weak or reused",
        conflict="a named blob is still uploading",
        unprocessable="wrong structure, unknown key or blob",
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {JSON_MEDIA_TYPE: {"schema": SubmissionRequest.model_json_schema()}},
        }
    },
)
async def create_submission(
    request: Request, server: Annotated[Server, Depends(get_server)]
) -> JSONResponse:
    """Log a sealed submission and answer its receipt (the same one for a repeat)."""
    return await answer_receipt(request, server, server.intake.submit)
