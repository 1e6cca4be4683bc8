"""What stands between the decrypted cache and everything else on the
reviewer's machine (docs/workstation.md, "The web UI: what protects it").

The UI listens on 127.0.0.1 only. Other local processes can reach that
port, and any web page the reviewer opens can make the browser send
requests to it; so every request passes these checks, in this order:

1. **Host** must be ``127.0.0.1:PORT`` or ``localhost:PORT``: a page of
   ``evil.example`` whose name an attacker re-points at 127.0.0.1 (DNS
   rebinding) sends its own name and is refused (``421``).
2. **The session**: ``GET /launch/SECRET`` with the random secret printed at
   launch is exchanged, once, for an ``HttpOnly; SameSite=Strict`` cookie
   (the secret is then spent: the URL does not work a second time); after
   that only a request with the cookie reaches a page. Without it a page
   answers ``303`` to ``/unlock``, where the passphrase gives a new session.
3. **Changes** (every method but GET and HEAD) are refused (``403``) when
   ``Sec-Fetch-Site`` is ``cross-site`` or ``same-site``, when ``Origin`` is
   present and not this UI's, or without the session's CSRF token (a form
   field ``csrf`` or the header ``X-CSRF-Token``), compared in constant time.
4. **Idle**: a session unused for the configured time is over, and the
   workstation locks itself: the cache is closed and the keys dropped (see
   ``app.Desk.lock``).

Every answer carries a strict Content-Security-Policy (scripts, styles and
images from this origin only; no inline script, no ``eval``; nothing from
any other host), ``nosniff``, ``no-store``, no referrer and no framing.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "COOKIE",
    "CSP",
    "SECURITY_HEADERS",
    "Guard",
    "Session",
    "new_secret",
]

COOKIE = "testimony_ui"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    # same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null` on our
    # own forms; nothing leaves for another origin either way (there is no link out).
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)
SAFE_METHODS = frozenset({"GET", "HEAD"})
PUBLIC_PREFIXES = ("/static/", "/launch/", "/unlock", "/favicon.ico")
"""Paths served without a session (the lock page and what it needs)."""


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class Session:
    """The one browser session of this launch (or of the last unlock)."""

    cookie: str = field(default_factory=new_secret)
    csrf: str = field(default_factory=new_secret)
    last_seen: float = field(default_factory=time.monotonic)
    lang: str = "en"
    flashes: list[tuple[str, str]] = field(default_factory=list)
    """Messages for the next page: (``ok`` or ``error``, text)."""
    drafts: dict[str, str] = field(default_factory=dict)
    """What a reviewer typed into a form whose change was refused: given back, never lost."""


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        key = name.decode("latin-1").lower()
        if key in found:  # a repeated header of these is never honest
            found[key] = "\x00repeated"
        else:
            found[key] = value.decode("latin-1")
    return found


def _cookie(header: str) -> str | None:
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == COOKIE:
            return value
    return None


class Guard:
    """The ASGI middleware that applies the checks above to every request.

    ``desk`` gives the current :class:`Session` (or None when locked), the
    port, and ``touch``/``expired`` for the idle lock; the endpoints find the
    session checked in ``scope["state"]["session"]``."""

    def __init__(self, app: ASGIApp, desk: Any) -> None:
        self.app = app
        self.desk = desk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(h for h in SECURITY_HEADERS if h[0] not in present),
                ]
            await send(message)

        headers = _headers(scope)
        port = self.desk.port
        if headers.get("host") not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            await _refuse(secured, 421, "wrong-host", "This address is not the workstation's.")
            return
        method = scope["method"]
        if method not in SAFE_METHODS:
            site = headers.get("sec-fetch-site")
            origin = headers.get("origin")
            if site is not None and site not in ("same-origin", "none"):
                await _refuse(secured, 403, "cross-site", "A change from another site is refused.")
                return
            if origin is not None and origin not in (
                f"http://127.0.0.1:{port}",
                f"http://localhost:{port}",
            ):
                await _refuse(
                    secured, 403, "foreign-origin", "A change from another origin is refused."
                )
                return
        path = scope["path"]
        public = path.startswith(PUBLIC_PREFIXES)
        session = self.desk.session_for(_cookie(headers.get("cookie", "")))
        scope.setdefault("state", {})["session"] = session
        if session is None and not public:
            if method in SAFE_METHODS:
                await _redirect(secured, "/unlock")
            else:
                await _refuse(secured, 401, "locked", "The workstation is locked: unlock it again.")
            return
        if method not in SAFE_METHODS and session is not None and not path.startswith("/unlock"):
            token = headers.get("x-csrf-token")
            if token is None:
                token, receive = await _form_token(receive)
            if token is None or not hmac.compare_digest(token.encode(), session.csrf.encode()):
                await _refuse(
                    secured, 403, "csrf", "This change lacks the page's token: reload the page."
                )
                return
        await self.app(scope, receive, secured)


async def _form_token(receive: Receive) -> tuple[str | None, Receive]:
    """The ``csrf`` field of an urlencoded or multipart body, and a ``receive``
    that replays the body for the endpoint. Bodies are small forms (at most 1 MiB)."""
    chunks: list[bytes] = []
    total = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > 1 << 20:
            return None, receive
        chunks.append(chunk)
        more = bool(message.get("more_body"))
    body = b"".join(chunks)
    replayed = False

    async def replay() -> MutableMapping[str, Any]:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    token = None
    from urllib.parse import parse_qs

    try:
        values = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10_000)
        found = values.get("csrf")
        token = found[0] if found else None
    except (UnicodeDecodeError, ValueError):
        token = None
    return token, replay


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    import json

    body = json.dumps(
        {"type": "about:blank", "status": status, "code": code, "title": message}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})
