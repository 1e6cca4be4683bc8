"""The reviewers' routes (docs/protocol.md §12.2, §12.6 to §12.8; docs/reviewers-api.md).

| request | role | answer |
| --- | --- | --- |
| ``GET /api/v1/session/challenge`` | anonymous | ``{"challenge", "expires"}`` |
| ``POST /api/v1/session`` | anonymous | ``{"token", "expires", "role"}`` |
| ``POST /api/v1/entries`` | signed | a §10 receipt (201; 200 for a repeat) |
| ``GET /api/v1/entries?index=&after=`` | reader | ``{"indexes", "next"}`` |
| ``POST /api/v1/ciphertext`` | reviewer | the access entry's receipt, then ciphertexts |
| ``GET /api/v1/blobs/{id}?subject=`` | reviewer | the blob's bytes |

The rules are ``domain/reviewers.py``'s; the roles ``roles.py``'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from testimony.service.domain.errors import GOVERNANCE_CODES, SessionRequired
from testimony.service.domain.reviewers import ReviewerSession
from testimony.service.server import Server

from .deps import get_server
from .openapi import JSON_BODY, json_body, problems
from .roles import session_of
from .schemas import HEX_ID, CiphertextAnswer, IndexedEntries, Receipt, Session, SessionChallenge
from .submissions import read_json

router = APIRouter(prefix="/api/v1", tags=["reviewers"])

ServerDep = Annotated[Server, Depends(get_server)]
SESSION = ("session-required", "session-invalid", "role-forbidden", "no-standing")
_BLOB_CHUNK = 1 << 20


def _session(request: Request) -> ReviewerSession:
    session = session_of(request)
    if session is None:  # pragma: no cover - roles.authorize admits none without one
        raise SessionRequired()
    return session


@router.get("/session/challenge", response_model=SessionChallenge, responses=problems())
def get_session_challenge(server: ServerDep) -> dict[str, str]:
    """A fresh challenge for a reviewer to sign, accepted once."""
    return server.sessions.challenge()


@router.post(
    "/session",
    response_model=Session,
    responses=problems(
        *JSON_BODY,
        "malformed-session-request",
        "session-challenge-invalid",
        "session-challenge-expired",
        "session-challenge-reused",
        "session-signature-invalid",
        "no-standing",
    ),
    openapi_extra=json_body("SessionRequest", "a signed session challenge (§12.8)"),
)
async def open_session(request: Request, server: ServerDep) -> dict[str, str]:
    """A bearer token of at most 15 minutes for a reviewer with standing."""
    data = await read_json(request, server.settings.max_request_bytes)
    answer: dict[str, str] = await run_in_threadpool(server.sessions.open, data)
    return answer


@router.post(
    "/entries",
    status_code=201,
    response_model=Receipt,
    responses={
        201: {"description": "the receipt (§10)"},
        200: {"description": "the first receipt of a repeated entry", "model": Receipt},
        **problems(
            *JSON_BODY,
            *SESSION,
            *GOVERNANCE_CODES,
            "malformed-entry-request",
            "entry-malformed",
            "entry-type-not-accepted",
            "entry-signature-invalid",
            "setup-token-invalid",
            "actor-not-session",
            "reply-blob-mismatch",
            "unknown-parent",
            "parent-without-witness",
            "governance-refused",
            "unavailable",
        ),
    },
    openapi_extra=json_body("EntryRequest", "a signed reviewer entry (§12.2)"),
)
async def post_entry(request: Request, server: ServerDep) -> JSONResponse:
    """Check a signed entry (signature, session, standing) and log it."""
    data = await read_json(request, server.settings.max_request_bytes)
    appended = await run_in_threadpool(server.reviewers.post_entry, data, session_of(request))
    return JSONResponse(appended.receipt.to_json(), status_code=201 if appended.appended else 200)


@router.get(
    "/entries",
    response_model=IndexedEntries,
    responses=problems(*SESSION, "invalid-request"),
)
def get_indexed_entries(
    request: Request,
    server: ServerDep,
    index: Annotated[int, Query(description="a blind index", json_schema_extra={"minimum": 0})],
    after: Annotated[
        int, Query(description="a log index; answers start after it", json_schema_extra={})
    ] = -1,
) -> dict[str, Any]:
    """The log indexes of the annotations listing blind index `index` (a superset)."""
    _session(request)
    return server.reviewers.with_index(index, after)


@router.post(
    "/ciphertext",
    response_model=CiphertextAnswer,
    responses=problems(
        *JSON_BODY,
        *SESSION,
        "malformed-entry-request",
        "unknown-submission",
        "blob-unknown",
        "unavailable",
    ),
    openapi_extra=json_body("CiphertextRequest", "the submissions to read"),
)
async def post_ciphertext(request: Request, server: ServerDep) -> dict[str, Any]:
    """Log an `access` entry naming the submissions, then hand out their ciphertext."""
    session = _session(request)
    data = await read_json(request, server.settings.max_request_bytes)
    answer = await run_in_threadpool(server.reviewers.ciphertext, data, session)
    return {"access": answer.access.to_json(), "items": answer.items, "blobs": answer.blobs}


@router.get(
    "/blobs/{blob_id}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "the blob's bytes"},
        **problems(*SESSION, "access-not-logged", "blob-unknown", "invalid-request"),
    },
)
def get_blob(
    request: Request,
    server: ServerDep,
    blob_id: str,
    subject: Annotated[
        str, Query(description="the submission holding it", json_schema_extra={"pattern": HEX_ID})
    ],
) -> Response:
    """A blob of a submission whose access by this reviewer is logged.

    ``Range: bytes=<start>-`` resumes a download (``206``); other ranges are
    answered in full.
    """
    session = _session(request)
    server.reviewers.blob_access(blob_id, subject, session)
    size = server.blobs.size(blob_id)
    start = _range_start(request.headers.get("range"), size)
    handle = server.blobs.open(blob_id)
    handle.seek(start)

    def chunks() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(_BLOB_CHUNK):
                yield chunk

    headers = {"Content-Length": str(size - start), "Accept-Ranges": "bytes"}
    if start:
        headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
    return StreamingResponse(
        chunks(),
        status_code=206 if start else 200,
        media_type="application/octet-stream",
        headers=headers,
    )


def _range_start(header: str | None, size: int) -> int:
    """The start of a ``bytes=<start>-`` range within the blob, else 0."""
    if header is None or not header.startswith("bytes=") or not header.endswith("-"):
        return 0
    text = header[len("bytes=") : -1]
    if not text.isdigit() or len(text) > 19:
        return 0
    start = int(text)
    return start if 0 < start < size else 0
