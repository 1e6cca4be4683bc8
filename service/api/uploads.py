"""Resumable uploads: the part of tus 1.0 that docs/protocol.md §6 needs, under
``/api/v1/uploads/``. Why not ``tuspyserver``: see ``docs/uploads.md``.

| request | answer |
| --- | --- |
| ``OPTIONS /api/v1/uploads/`` | 204, ``Tus-Version``, ``Tus-Extension: creation,termination,expiration``, ``Tus-Max-Size`` |
| ``POST /api/v1/uploads/`` with ``Upload-Length`` and ``Upload-Metadata: sha256 <base64 of hex>,pow <base64 of "<challenge>:<nonce>">`` | 201, ``Location: /api/v1/uploads/<id>``, ``Upload-Expires`` |
| ``HEAD /api/v1/uploads/<id>`` | 200, ``Upload-Offset``, ``Upload-Length`` |
| ``PATCH /api/v1/uploads/<id>`` (``application/offset+octet-stream``, ``Upload-Offset``) | 204, the new ``Upload-Offset`` |
| ``DELETE /api/v1/uploads/<id>`` | 204 |

Every request but OPTIONS carries ``Tus-Resumable: 1.0.0`` (else 412); every
answer does too. ``X-HTTP-Method-Override`` on a POST is honoured
(:class:`MethodOverride`). The tus headers are read in ``api.tus``; the
domain gets the length, the blob id and the proof of work (the creation's
price: ``GET /api/v1/pow?length=``, ``api.pow``).

A PATCH body is streamed to the blob store in pieces (the chunks as received,
at most :data:`READ_AHEAD` pieces waiting); it is never held whole in memory.
A piece goes to the store once it holds :data:`PIECE_BYTES`, once its first
byte has waited :data:`FLUSH_SECONDS` (a slow link: a Tor circuit at tens of
KB/s fills a piece in a minute), and when the body ends or the connection
drops: the bytes received are kept, and ``HEAD`` reports them, at that grain.
Errors: 403 the creation's proof of work, 404 unknown upload, 410 expired,
409 wrong offset, 413 limits, 415 wrong content type, 422 the finished bytes
do not hash to the declared id, 423 another request is writing to the upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Iterator
from email.utils import format_datetime
from typing import Annotated

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Response
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from testimony.service.domain.errors import MalformedUpload
from testimony.service.domain.uploads import UploadState
from testimony.service.server import Server

from .deps import get_server
from .openapi import TUS_CREATE, TUS_DELETE, TUS_HEAD, TUS_OPTIONS, TUS_PATCH
from .tus import (
    TUS_EXTENSIONS,
    TUS_VERSION,
    parse_metadata,
    require_offset_media_type,
    require_tus,
    whole_number,
)

__all__ = ["FLUSH_SECONDS", "PIECE_BYTES", "PREFIX", "MethodOverride", "router"]

PREFIX = "/api/v1/uploads"
PIECE_BYTES = 1 << 20
"""Bytes gathered from the connection before they are handed to the blob store."""
FLUSH_SECONDS = 0.5
"""The longest received bytes wait in memory before they go to the blob store."""
READ_AHEAD = 4
"""Pieces received ahead of the one being written (memory: at most 5 pieces per PATCH)."""

router = APIRouter(prefix=PREFIX, tags=["uploads (tus 1.0)"])
ServerDep = Annotated[Server, Depends(get_server)]


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
@router.options("/", status_code=204, response_class=Response, responses=TUS_OPTIONS["responses"])
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
@router.post(
    "/",
    status_code=201,
    response_class=Response,
    responses=TUS_CREATE["responses"],
    openapi_extra=TUS_CREATE["openapi_extra"],
)
def create(request: Request, server: ServerDep) -> Response:
    """Create an upload of `Upload-Length` bytes hashing to the metadata's `sha256`,
    paid with the proof of work in its `pow` (`GET /api/v1/pow?length=`)."""
    require_tus(request.headers)
    if "upload-defer-length" in request.headers:
        raise MalformedUpload("Upload-Defer-Length is not supported; send Upload-Length")
    length = whole_number(request.headers.get("upload-length"), "Upload-Length")
    metadata = parse_metadata(request.headers.get("upload-metadata"))
    state = server.uploads.create(length, metadata.blob_id, metadata.proof)
    headers = _state_headers(state)
    del headers["Upload-Length"]
    # A relative Location (RFC 9110 §10.2.2): never built from a client's Host header.
    headers["Location"] = f"{PREFIX}/{state.id}"
    return Response(status_code=201, headers=headers)


@router.head(
    "/{upload_id}",
    response_class=Response,
    responses=TUS_HEAD["responses"],
    openapi_extra=TUS_HEAD["openapi_extra"],
)
def status(upload_id: str, request: Request, server: ServerDep) -> Response:
    """The upload's offset and length."""
    require_tus(request.headers)
    state = server.uploads.status(upload_id)
    return Response(status_code=200, headers=_state_headers(state))


class _Pieces:
    """The request body gathered into pieces for the writer: each the list of
    the chunks received (never copied into one buffer), handed over at
    :data:`PIECE_BYTES`, after :data:`FLUSH_SECONDS`, or at the end."""

    def __init__(self, queue: asyncio.Queue[list[bytes] | Exception | None]) -> None:
        self._queue = queue
        self._piece: list[bytes] = []
        self._size = 0
        self._since = 0.0

    def _take(self) -> list[bytes]:
        piece, self._piece, self._size = self._piece, [], 0
        return piece

    async def read(self, request: Request) -> None:
        """Read the body into the queue; then None, or the exception that
        ended it (a dropped connection) after every byte received."""
        loop = asyncio.get_running_loop()
        try:
            async for chunk in request.stream():
                if not chunk:
                    continue
                if not self._piece:
                    self._since = loop.time()
                self._piece.append(chunk)
                self._size += len(chunk)
                if self._size >= PIECE_BYTES or loop.time() - self._since >= FLUSH_SECONDS:
                    await self._queue.put(self._take())
        except Exception as exc:  # the writer keeps what came, then re-raises it
            if self._piece:
                await self._queue.put(self._take())
            await self._queue.put(exc)
            return
        if self._piece:
            await self._queue.put(self._take())
        await self._queue.put(None)

    async def flush_when_quiet(self) -> None:
        """While the link is quiet, hand over a piece that has waited
        :data:`FLUSH_SECONDS` (if the writer has room: if not, it is busy and
        the piece follows soon). Runs beside :meth:`read` until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            if (
                self._piece
                and loop.time() - self._since >= FLUSH_SECONDS
                and not self._queue.full()
            ):
                self._queue.put_nowait(self._take())


@router.patch(
    "/{upload_id}",
    status_code=204,
    response_class=Response,
    responses=TUS_PATCH["responses"],
    openapi_extra=TUS_PATCH["openapi_extra"],
)
async def append(upload_id: str, request: Request, server: ServerDep) -> Response:
    """Append the body at `Upload-Offset`; the blob is verified when the last byte arrives."""
    require_tus(request.headers)
    require_offset_media_type(request.headers)
    offset = whole_number(request.headers.get("upload-offset"), "Upload-Offset")
    declared = request.headers.get("content-length")
    content_length = None if declared is None else whole_number(declared, "Content-Length")

    # The event loop reads ahead while the worker thread hashes and writes,
    # so receiving and writing overlap; at most READ_AHEAD pieces wait.
    queue: asyncio.Queue[list[bytes] | Exception | None] = asyncio.Queue(READ_AHEAD)
    pieces = _Pieces(queue)

    def body() -> Iterator[bytes]:
        # Runs in the worker thread: each piece is taken from the event loop's queue.
        while (piece := anyio.from_thread.run(queue.get)) is not None:
            if isinstance(piece, Exception):
                raise piece
            yield from piece

    tasks = [
        asyncio.create_task(pieces.read(request)),
        asyncio.create_task(pieces.flush_when_quiet()),
    ]
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
        for task in tasks:
            task.cancel()  # a refused append stops reading the rest
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return Response(status_code=204, headers=_state_headers(state))


@router.delete(
    "/{upload_id}",
    status_code=204,
    response_class=Response,
    responses=TUS_DELETE["responses"],
    openapi_extra=TUS_DELETE["openapi_extra"],
)
def terminate(upload_id: str, request: Request, server: ServerDep) -> Response:
    """Remove an upload (tus termination)."""
    require_tus(request.headers)
    server.uploads.terminate(upload_id)
    return Response(status_code=204, headers={"Tus-Resumable": TUS_VERSION})
