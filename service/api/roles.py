"""Who may call each route: one table (docs/reviewers-api.md, "Roles of routes").

Every route of the application has exactly one entry in :data:`ROUTE_ROLES`,
by method and path template; ``tests/api/test_roles.py`` builds its cases from
the application's own routes, so a route added without a rule fails the
suite, and each reviewer route is called without a session and with a session
of every role it does not admit.

:func:`authorize` is an application-wide dependency: for a route whose role
needs a session it checks the ``Authorization`` header (``Sessions.authenticate``)
before the route runs and leaves the session in ``request.state.session``; a
route missing from the table is refused (``role-forbidden``), never served.
The bearer token is read here and nowhere else, and never logged.
"""

from __future__ import annotations

from typing import Literal

from fastapi import Request

from testimony.service.domain.errors import RoleForbidden
from testimony.service.domain.reviewers import ROLES_ADMITTED, ReviewerSession

__all__ = ["ROUTE_ROLES", "Role", "authorize", "session_of"]

Role = Literal["anonymous", "witness", "signed", "reader", "reviewer", "admin"]

_WEB = ("/", "/static/{name}", "/{lang}", "/{lang}/", "/{lang}/forms/{form_id}", "/{lang}/key")
_WEB_MORE = ("/{lang}/return", "/{lang}/offline", "/{lang}/offline/{form_id}.html")
_UPLOAD = "/api/v1/uploads/{upload_id}"

ROUTE_ROLES: dict[tuple[str, str], Role] = {
    # the witness pages and the public log
    **{("GET", path): "anonymous" for path in (*_WEB, *_WEB_MORE)},
    ("GET", "/healthz"): "anonymous",
    ("GET", "/api/v1/openapi.json"): "anonymous",
    ("HEAD", "/api/v1/openapi.json"): "anonymous",
    ("GET", "/api/v1/forms"): "anonymous",
    ("GET", "/api/v1/forms/{form_id}"): "anonymous",
    ("GET", "/api/v1/forms/{form_id}/{version}"): "anonymous",
    ("GET", "/api/v1/pow"): "anonymous",
    ("GET", "/api/v1/log/checkpoint"): "anonymous",
    ("GET", "/api/v1/log/key"): "anonymous",
    ("GET", "/api/v1/log/proof/inclusion"): "anonymous",
    ("GET", "/api/v1/log/proof/consistency"): "anonymous",
    ("GET", "/api/v1/log/entries"): "anonymous",
    # a witness: anonymous, but with proof of work, or signed by a witness key
    ("POST", "/api/v1/submissions"): "anonymous",
    ("OPTIONS", "/api/v1/uploads"): "anonymous",
    ("OPTIONS", "/api/v1/uploads/"): "anonymous",
    ("POST", "/api/v1/uploads"): "anonymous",
    ("POST", "/api/v1/uploads/"): "anonymous",
    ("HEAD", _UPLOAD): "anonymous",
    ("PATCH", _UPLOAD): "anonymous",
    ("DELETE", _UPLOAD): "anonymous",
    ("POST", "/api/v1/followups"): "witness",
    ("GET", "/api/v1/replies/challenge"): "anonymous",
    ("POST", "/api/v1/replies"): "witness",
    # reviewers (docs/reviewers-api.md)
    ("GET", "/api/v1/session/challenge"): "anonymous",
    ("POST", "/api/v1/session"): "anonymous",
    ("POST", "/api/v1/entries"): "signed",
    ("GET", "/api/v1/entries"): "reader",
    ("POST", "/api/v1/ciphertext"): "reviewer",
    ("GET", "/api/v1/blobs/{blob_id}"): "reviewer",
}
"""The role of every route, by (method, path template)."""

_SESSION_OPTIONAL = "signed"
"""``POST /api/v1/entries`` decides per entry: a session if one is sent."""


async def authorize(request: Request) -> None:
    """Check the request against its route's role (see the module docstring).

    Raises ``RoleForbidden`` for a route without a rule, and what
    ``Sessions.authenticate`` raises for a missing, invalid or insufficient
    session. ``async``: it awaits nothing, but a plain ``def`` dependency
    would cost a hand-off to a worker thread on every request.
    """
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return
    role = ROUTE_ROLES.get((request.method, path))
    if role is None:
        raise RoleForbidden("this route has no role; it is not served")
    header = request.headers.get("authorization")
    if role in ROLES_ADMITTED:
        request.state.session = request.app.state.server.sessions.authenticate(header, role)
    elif role == _SESSION_OPTIONAL and header is not None:
        request.state.session = request.app.state.server.sessions.authenticate(header, "reader")


def session_of(request: Request) -> ReviewerSession | None:
    """The session :func:`authorize` checked for this request, or None."""
    session: ReviewerSession | None = getattr(request.state, "session", None)
    return session
