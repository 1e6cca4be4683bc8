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

A PATCH holds its upload (the store's lock) only while bytes come: once its
body has been quiet for ``upload_stall_seconds`` it lets go (:class:`_Pieces`
says so, :func:`_append_body` writes the body in such runs), so that the
client's new request, after a link that died without closing the server's
side, takes the upload over at once; a PATCH that finds the upload busy waits
that long for it (:func:`_append_run`) before it answers 423. A stalled PATCH
whose bytes come again goes on if the upload is still where it left it, and
ends (409) once another request has moved it on. See ``docs/uploads.md``.

Errors: 403 the creation's proof of work, 404 unknown upload, 410 expired,
409 wrong offset, 413 limits, 415 wrong content type, 422 the finished bytes
do not hash to the declared id, 423 another request is still receiving bytes
for the upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from email.utils import format_datetime
from typing import Annotated, Final

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Response
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from testimony.service.domain.errors import MalformedUpload, UploadBusy, UploadOffsetMismatch
from testimony.service.domain.uploads import Uploads, UploadState
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

__all__ = [
    "BUSY_RETRY_SECONDS",
    "FLUSH_SECONDS",
    "PIECE_BYTES",
    "PREFIX",
    "TAKEOVER_MARGIN_SECONDS",
    "MethodOverride",
    "router",
]

PREFIX = "/api/v1/uploads"
PIECE_BYTES = 1 << 20
"""Bytes gathered from the connection before they are handed to the blob store."""
FLUSH_SECONDS = 0.5
"""The longest received bytes wait in memory before they go to the blob store."""
READ_AHEAD = 4
"""Pieces received ahead of the one being written (memory: at most 5 pieces per PATCH)."""
BUSY_RETRY_SECONDS = 0.25
"""How often a PATCH that finds its upload busy asks again while it waits."""
TAKEOVER_MARGIN_SECONDS = 1.0
"""How much longer than ``upload_stall_seconds`` a PATCH waits for a busy
upload before it answers 423: room for the stalled writer to write its last
piece and let go, and for this request's next try."""

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


Piece = list[bytes] | Exception | None
"""What the reader hands the writer: the chunks of a piece; then None at the
end of the body, or the exception that ended it (a dropped connection)."""


class _Stalled:
    """The body has been quiet for the stall interval: the writer lets go."""


STALLED: Final = _Stalled()


class _Pieces:
    """The request body gathered into pieces for the writer: each the list of
    the chunks received (never copied into one buffer), handed over at
    :data:`PIECE_BYTES`, after :data:`FLUSH_SECONDS`, or at the end.

    The writer asks :meth:`next`, which answers :data:`STALLED` instead once
    nothing has come for ``stall_seconds`` while it waited; :meth:`resumed`
    then waits, holding no lock and no thread, for the body to go on."""

    def __init__(self, queue: asyncio.Queue[Piece], stall_seconds: float) -> None:
        self._queue = queue
        self.stall_seconds = stall_seconds
        self._piece: list[bytes] = []
        self._size = 0
        self._since = 0.0
        self._received = asyncio.get_running_loop().time()
        """When the last chunk came, or the reader last got room for one (at
        first: when the request was taken up)."""
        self._held: list[Piece] = []
        """What :meth:`resumed` took from the queue, for :meth:`next` to give first."""
        self.stalled = False
        """Whether the writer's last :meth:`next` answered :data:`STALLED`."""

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
                self._received = loop.time()
                if not self._piece:
                    self._since = self._received
                self._piece.append(chunk)
                self._size += len(chunk)
                if self._size >= PIECE_BYTES or loop.time() - self._since >= FLUSH_SECONDS:
                    await self._queue.put(self._take())
                    # Time spent waiting for room in the queue is not the
                    # client's: the quiet is counted from when reading resumes.
                    self._received = loop.time()
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

    async def next(self) -> Piece | _Stalled:
        """The writer's next piece, or :data:`STALLED` once no byte has come
        for the stall interval while the reader was free to take it. A piece
        received but not yet handed over is given first: a stall never leaves
        received bytes behind."""
        if self._held:
            return self._held.pop(0)
        loop = asyncio.get_running_loop()
        while True:
            quiet_until = self._received + self.stall_seconds
            try:
                async with asyncio.timeout(max(0.0, quiet_until - loop.time())):
                    return await self._queue.get()
            except TimeoutError:
                pass
            if not self._queue.empty():
                continue  # a piece came as the wait ended
            if self._piece:
                return self._take()
            if loop.time() >= self._received + self.stall_seconds:
                self.stalled = True
                return STALLED

    async def resumed(self, moved_on: Callable[[], Awaitable[bool]]) -> bool:
        """After a stall, wait for the body to go on (a piece, its end or its
        failure, kept for :meth:`next`); False then. Every stall interval,
        ask ``moved_on`` whether another request has taken the upload over:
        True then, and the body is left unread."""
        self.stalled = False
        while True:
            try:
                async with asyncio.timeout(self.stall_seconds):
                    self._held.append(await self._queue.get())
                    return False
            except TimeoutError:
                pass
            if self._piece or not self._queue.empty():
                continue  # bytes came: they are handed over in a moment
            if await moved_on():
                return True

    def ending(self) -> bool:
        """Whether what :meth:`resumed` kept is the end of the body (True) or
        more of it (False); raises the exception that ended the body instead."""
        held = self._held[0]
        if isinstance(held, Exception):
            raise held
        return held is None

    def body(self) -> Iterator[bytes]:
        """The chunks for the store, in the worker thread: each piece is taken
        from the event loop (:meth:`next`); a stall ends them, as the body's
        end does; the exception that ended the body is raised."""
        while True:
            piece = anyio.from_thread.run(self.next)
            if piece is None or isinstance(piece, _Stalled):
                return
            if isinstance(piece, Exception):
                raise piece
            yield from piece


async def _append_run(
    uploads: Uploads,
    upload_id: str,
    offset: int,
    declared: int | None,
    pieces: _Pieces,
    *,
    patience: float,
) -> UploadState:
    """Append what the body brings at ``offset`` until it ends or stalls.

    An upload busy with another request is asked again every
    :data:`BUSY_RETRY_SECONDS` for ``patience`` seconds (a stalled writer
    lets go within the stall interval), then :class:`UploadBusy` is raised:
    the store refuses a busy upload before it takes a byte of the body, so
    nothing is lost by asking again. An upload that moves on while this
    request waits is held by a request still receiving: :class:`UploadBusy`
    too, at once (423 for a concurrent writer, not 409)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    waited = False
    while True:
        try:
            return await anyio.to_thread.run_sync(
                functools.partial(
                    uploads.append, upload_id, offset, pieces.body(), declared_length=declared
                )
            )
        except UploadBusy:
            if loop.time() + BUSY_RETRY_SECONDS > deadline:
                raise
            waited = True
            await asyncio.sleep(BUSY_RETRY_SECONDS)
        except UploadOffsetMismatch:
            if not waited:
                raise
            # The request holding the upload wrote while this one waited: it
            # is receiving bytes, not stalled, and keeps the upload.
            raise UploadBusy("another request is writing to the upload") from None


async def _moved_on(uploads: Uploads, upload_id: str, offset: int) -> bool:
    """Whether the upload is no longer at ``offset`` (another request wrote to it)."""
    state = await anyio.to_thread.run_sync(uploads.status, upload_id)
    return state.offset != offset


async def _append_body(
    uploads: Uploads, upload_id: str, offset: int, declared: int | None, pieces: _Pieces
) -> UploadState:
    """Append the whole body at ``offset``, in runs: each run holds the
    upload while bytes come and lets go when they stall (module docstring).
    Raises :class:`UploadOffsetMismatch` for a stalled request whose upload
    another request has moved on meanwhile."""
    patience = pieces.stall_seconds + TAKEOVER_MARGIN_SECONDS
    while True:
        state = await _append_run(uploads, upload_id, offset, declared, pieces, patience=patience)
        if not pieces.stalled:
            return state  # the body ended
        if declared is not None:
            declared -= state.offset - offset
        offset = state.offset
        if await pieces.resumed(functools.partial(_moved_on, uploads, upload_id, offset)):
            raise UploadOffsetMismatch(
                "another request took the upload over while this one received nothing"
            )
        if pieces.ending():
            return state
        patience = 0.0  # a stalled request never waits for the one that took over


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
    queue: asyncio.Queue[Piece] = asyncio.Queue(READ_AHEAD)
    pieces = _Pieces(queue, float(server.settings.upload_stall_seconds))
    tasks = [
        asyncio.create_task(pieces.read(request)),
        asyncio.create_task(pieces.flush_when_quiet()),
    ]
    try:
        state = await _append_body(server.uploads, upload_id, offset, content_length, pieces)
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
