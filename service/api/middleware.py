"""ASGI middleware that keeps the API anonymous and locked down (DESIGN.md,
"Threat model"; issue 4, "Anonymity").

From the outside in:

- :class:`ForgetClient` removes the client's address and port from the ASGI
  scope before anything else sees it, so no route, log line or error report
  can ever read it.
- :class:`SecurityHeaders` puts the same headers on every answer: a strict
  Content-Security-Policy (``default-src 'none'``; the witness pages, which
  are every path outside ``/api/`` and ``/healthz``, get the page policy they
  are given instead), ``Referrer-Policy:
  no-referrer``, ``X-Content-Type-Options: nosniff``, no framing, no caching;
  it removes any ``Server`` and ``Set-Cookie`` header.
- :class:`CatchUnexpected` answers an unexpected exception with a 500 problem
  document and logs its class name only. The expected ends of a request are
  not errors and log nothing: the client left mid-request
  (``ClientDisconnect``), or the request was cancelled (the server stopping
  after its grace period; a client still connected is answered 503
  ``unavailable``). Logging them would let anyone write a line, stamped with
  the exact time, at will.

They are plain ASGI (not ``BaseHTTPMiddleware``), so a streamed upload is
never buffered.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import extra_headers, log_unexpected, problem_response

__all__ = ["API_PREFIXES", "SECURITY_HEADERS", "CatchUnexpected", "ForgetClient", "SecurityHeaders"]

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"interest-cohort=(), browsing-topics=()"),
    (b"cache-control", b"no-store"),
)
_REMOVED = {b"server", b"set-cookie", *(name for name, _ in SECURITY_HEADERS)}


class ForgetClient:
    """Drop ``client`` (address, port) from every HTTP scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = dict(scope)
            scope["client"] = None
        await self.app(scope, receive, send)


API_PREFIXES = ("/api/", "/healthz")
"""Paths that always get the API's policy, whatever ``page_csp`` says."""


class SecurityHeaders:
    """Set :data:`SECURITY_HEADERS` on every response; remove Server and Set-Cookie.

    With ``page_csp``, answers to paths outside :data:`API_PREFIXES` (the
    witness pages and their scripts) carry that Content-Security-Policy
    instead of the API's.
    """

    def __init__(self, app: ASGIApp, page_csp: str | None = None) -> None:
        self.app = app
        self.page_headers = (
            SECURITY_HEADERS
            if page_csp is None
            else tuple(
                (name, page_csp.encode("ascii") if name == b"content-security-policy" else value)
                for name, value in SECURITY_HEADERS
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        added = SECURITY_HEADERS if path.startswith(API_PREFIXES) else self.page_headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in _REMOVED
                ]
                headers.extend(added)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CatchUnexpected:
    """Answer 500 ``internal-error`` to an exception no handler took; log its class only.

    A client gone mid-request is answered nothing and logged nothing; a
    cancelled request is answered 503 ``unavailable`` if nothing was sent yet
    (the client may still be there) and logged nothing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            return  # nobody to answer; an expected end, not an error
        except asyncio.CancelledError:
            # Cancelled from outside (uvicorn stopping after its grace period):
            # the request ends here, as if it had finished, so the server logs
            # no "Exception in ASGI application" for it either.
            if not started:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await self._answer(scope, "unavailable", "the server is stopping; try again")(
                        scope, receive, send
                    )
            return
        except Exception as exc:
            log_unexpected(exc)
            if not started:
                response = self._answer(
                    scope, "internal-error", "the server failed to answer this request"
                )
                await response(scope, receive, send)

    @staticmethod
    def _answer(scope: Scope, code: str, detail: str) -> Response:
        headers = extra_headers(scope.get("path", ""), code)
        return problem_response(code, detail, headers=headers)
