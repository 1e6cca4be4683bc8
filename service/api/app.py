"""The intake server's FastAPI application (docs/protocol.md §3, §5, §6, §7, §8, §9, §10).

``create_app(settings)`` opens the data directory (``server.open_server``)
and mounts one thin router per resource, and the witness pages
(``testimony.service.web.pages``) under ``/`` and ``/static/``. The OpenAPI
document (``openapi.document``) is at ``/api/v1/openapi.json``; there is no
interactive documentation page (it would load scripts from a CDN). No path is
redirected to its twin with or without a trailing slash (the framework would
build the ``Location`` from the request's ``Host``). Every answer carries the security headers of
``middleware.SecurityHeaders``, no answer sets a cookie, every error is a
problem document (``errors``), and the client's address is dropped from each
request before any code sees it (``middleware.ForgetClient``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from testimony.service.domain.forms import FormsCatalogue
from testimony.service.server import open_server
from testimony.service.settings import Settings
from testimony.service.web import pages

from . import (
    followups,
    forms,
    health,
    log,
    openapi,
    pow,
    replies,
    reviewers,
    submissions,
    uploads,
)
from .deps import decimal_integers
from .errors import install_error_handlers
from .middleware import CatchUnexpected, ForgetClient, SecurityHeaders
from .roles import authorize

__all__ = ["OPENAPI_URL", "IntakeAPI", "create_app"]

OPENAPI_URL = "/api/v1/openapi.json"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("testimony")
    except PackageNotFoundError:  # pragma: no cover - a bare checkout
        return "unknown"


class IntakeAPI(FastAPI):
    """The FastAPI application, serving the OpenAPI document of ``openapi.document``."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            server = self.state.server
            newest_key = list(server.intake.intake_keys)[-1]
            self.openapi_schema = openapi.document(self, server.settings, intake_key_id=newest_key)
        return self.openapi_schema


def create_app(settings: Settings, *, first: bool = True) -> FastAPI:
    """The application serving the data directory of ``settings``.

    Opens the database, blobs and keys at once (so a broken setup fails here,
    not at the first request) and closes them when the application shuts
    down. ``first`` is ``open_server``'s (False in a forked worker). Raises
    what ``open_server`` raises.
    """
    server = open_server(settings, first=first)
    try:
        catalogue = FormsCatalogue(
            settings.forms, lambda: list(server.intake.intake_keys.values())[-1]
        )
    except BaseException:
        server.close()
        raise

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            server.start_log_witnesses()  # in the serving process, after any fork
            yield
        finally:
            server.close()

    app = IntakeAPI(
        title="Testimony intake API",
        version=_version(),
        description="Sealed submissions, resumable uploads (tus 1.0), follow-ups and "
        "replies, and the append-only log of docs/protocol.md (§3, §5, §6, §7, §8, §9, "
        "§10). Every error answer is an RFC 9457 `application/problem+json` document; "
        "clients branch on its `code`.",
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        # No `/x/` -> `/x` redirects: the framework builds their Location from
        # the request's Host header (issue 12). Each route answers one spelling;
        # the tus endpoint takes both (`uploads.py`).
        redirect_slashes=False,
        dependencies=[Depends(decimal_integers), Depends(authorize)],
        lifespan=lifespan,
    )
    app.state.server = server
    app.state.forms = catalogue
    install_error_handlers(app)
    for module in (health, forms, pow, uploads, submissions, followups, replies, reviewers, log):
        app.include_router(module.router)
    app.include_router(pages.router)  # last: its `/{lang}/` paths must not shadow the API
    # Added inner first: the last added runs first (outermost).
    app.add_middleware(CatchUnexpected)
    app.add_middleware(uploads.MethodOverride)
    app.add_middleware(SecurityHeaders, page_csp=pages.PAGE_CSP)
    app.add_middleware(ForgetClient)
    return app
