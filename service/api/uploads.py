"""Resumable uploads: the part of tus 1.0 that docs/protocol.md §6 needs, under
``/api/v1/uploads/``. Why not ``tuspyserver``: see ``docs/uploads.md``.

| request | answer |
| --- | --- |
| ``OPTIONS /api/v1/uploads/`` | 204, ``Tus-Version``, ``Tus-Extension: creation,termination,expiration``, ``Tus-Max-Size`` |
| ``POST /api/v1/uploads/`` with ``Upload-Length`` and ``Upload-Metadata: sha256 <base64 of hex>`` | 201, ``Location: /api/v1/uploads/<id>``, ``Upload-Expires`` |
| ``HEAD /api/v1/uploads/<id>`` | 200, ``Upload-Offset``, ``Upload-Length`` |
| ``PATCH /api/v1/uploads/<id>`` (``application/offset+octet-stream``, ``Upload-Offset``) | 204, the new ``Upload-Offset`` |
| ``DELETE /api/v1/uploads/<id>`` | 204 |

Every request but OPTIONS carries ``Tus-Resumable: 1.0.0`` (else 412); every
answer does too. ``X-HTTP-Method-Override`` on a POST is honoured
(:class:`MethodOverride`). A PATCH body is streamed to the blob store in
pieces of about :data:`PIECE_BYTES` (the chunks as received, at most
:data:`READ_AHEAD` pieces waiting); it is never held whole in memory.
Errors: 404 unknown upload, 410 expired, 409 wrong offset, 413 limits, 415
wrong content type, 422 the finished bytes do not hash to the declared id,
423 another request is writing to the upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Iterator
from email.utils import format_datetime
from typing import Annotated, Any

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Response
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from testimony.service.domain.errors import (
    MalformedUpload,
    TusVersionUnsupported,
    UnsupportedMediaType,
)
from testimony.service.domain.uploads import UploadState, parse_metadata
from testimony.service.server import Server

from .deps import get_server
from .schemas import Problem

__all__ = ["PIECE_BYTES", "PREFIX", "MethodOverride", "router"]

PREFIX = "/api/v1/uploads"
TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,expiration"
OFFSET_MEDIA_TYPE = "application/offset+octet-stream"
PIECE_BYTES = 1 << 20
"""Bytes gathered from the connection before they are handed to the blob store."""
READ_AHEAD = 4
"""Pieces received ahead of the one being written (memory: at most 5 pieces per PATCH)."""

router = APIRouter(prefix=PREFIX, tags=["uploads (tus 1.0)"])
ServerDep = Annotated[Server, Depends(get_server)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem} for status in (400, 404, 409, 410, 412, 413, 415, 422, 423)
}


class MethodOverride:
    """tus: a POST under the upload prefix with ``X-HTTP-Method-Override`` is that method."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].startswith(PREFIX)
        ):
            for name, value in scope.get("headers", []):
                if name == b"x-http-method-override":
                    method = value.decode("latin-1").strip().upper()
                    if method in ("PATCH", "DELETE", "HEAD"):
                        scope = {**scope, "method": method}
                    break
        await self.app(scope, receive, send)


def _require_tus(request: Request) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise TusVersionUnsupported()


def _whole_number(text: str | None, name: str) -> int:
    if text is None or not text.isascii() or not text.isdigit() or len(text) > 19:
        raise MalformedUpload(f"{name} is a whole number of bytes")
    return int(text)


def _state_headers(state: UploadState) -> dict[str, str]:
    headers = {
        "Tus-Resumable": TUS_VERSION,
        "Upload-Offset": str(state.offset),
        "Upload-Length": str(state.length),
    }
    if not state.finished:
        headers["Upload-Expires"] = format_datetime(state.expires, usegmt=True)
    return headers


@router.options("", status_code=204, include_in_schema=False)
@router.options("/", status_code=204)
def options(server: ServerDep) -> Response:
    """What this tus server supports."""
    return Response(
        status_code=204,
        headers={
            "Tus-Resumable": TUS_VERSION,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(server.uploads.limits.max_blob_bytes),
        },
    )


@router.post("", status_code=201, include_in_schema=False)
@router.post("/", status_code=201, responses=_ERRORS)
def create(request: Request, server: ServerDep) -> Response:
    """Create an upload of `Upload-Length` bytes hashing to the metadata's `sha256`."""
    _require_tus(request)
    if "upload-defer-length" in request.headers:
        raise MalformedUpload("Upload-Defer-Length is not supported; send Upload-Length")
    length = _whole_number(request.headers.get("upload-length"), "Upload-Length")
    blob_id = parse_metadata(request.headers.get("upload-metadata"))
    state = server.uploads.create(length, blob_id)
    headers = _state_headers(state)
    del headers["Upload-Length"]
    # A relative Location (RFC 9110 §10.2.2): never built from a client's Host header.
    headers["Location"] = f"{PREFIX}/{state.id}"
    return Response(status_code=201, headers=headers)


@router.head("/{upload_id}", responses=_ERRORS)
def status(upload_id: str, request: Request, server: ServerDep) -> Response:
    """The upload's offset and length."""
    _require_tus(request)
    state = server.uploads.status(upload_id)
    return Response(status_code=200, headers=_state_headers(state))


async def _pieces(request: Request) -> AsyncIterator[list[bytes]]:
    """The request body in pieces of about :data:`PIECE_BYTES`, each the list
    of the chunks the server received (never copied into one buffer)."""
    piece: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        if chunk:
            piece.append(chunk)
            size += len(chunk)
        if size >= PIECE_BYTES:
            yield piece
            piece, size = [], 0
    if piece:
        yield piece


@router.patch("/{upload_id}", status_code=204, responses=_ERRORS)
async def append(upload_id: str, request: Request, server: ServerDep) -> Response:
    """Append the body at `Upload-Offset`; the blob is verified when the last byte arrives."""
    _require_tus(request)
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != OFFSET_MEDIA_TYPE:
        raise UnsupportedMediaType(f"a PATCH body is {OFFSET_MEDIA_TYPE}")
    offset = _whole_number(request.headers.get("upload-offset"), "Upload-Offset")
    declared = request.headers.get("content-length")
    content_length = None if declared is None else _whole_number(declared, "Content-Length")

    # The event loop reads ahead while the worker thread hashes and writes,
    # so receiving and writing overlap; at most READ_AHEAD pieces wait.
    queue: asyncio.Queue[list[bytes] | Exception | None] = asyncio.Queue(READ_AHEAD)

    async def read_ahead() -> None:
        try:
            async for piece in _pieces(request):
                await queue.put(piece)
            await queue.put(None)
        except Exception as exc:  # a dropped connection: the writer re-raises it
            await queue.put(exc)

    def body() -> Iterator[bytes]:
        # Runs in the worker thread: each piece is taken from the event loop's queue.
        while (piece := anyio.from_thread.run(queue.get)) is not None:
            if isinstance(piece, Exception):
                raise piece
            yield from piece

    reader = asyncio.create_task(read_ahead())
    try:
        state = await anyio.to_thread.run_sync(
            functools.partial(
                server.uploads.append, upload_id, offset, body(), declared_length=content_length
            )
        )
    except ClientDisconnect:
        # The bytes received are kept; the client resumes from HEAD's offset.
        return Response(status_code=204)
    finally:
        reader.cancel()  # a refused append stops reading the rest
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
    return Response(status_code=204, headers=_state_headers(state))


@router.delete("/{upload_id}", status_code=204, responses=_ERRORS)
def terminate(upload_id: str, request: Request, server: ServerDep) -> Response:
    """Remove an upload (tus termination)."""
    _require_tus(request)
    server.uploads.terminate(upload_id)
    return Response(status_code=204, headers={"Tus-Resumable": TUS_VERSION})
