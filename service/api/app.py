"""The intake server's FastAPI application (docs/protocol.md §3, §5, §6, §7, §8, §9, §10).

``create_app(settings)`` opens the data directory (``domain.setup.open_server``)
and mounts one thin router per resource, and the witness pages
(``testimony.service.web.pages``) under ``/`` and ``/static/``. The OpenAPI document is at
``/api/v1/openapi.json``; there is no interactive documentation page (it would
load scripts from a CDN). Every answer carries the security headers of
``middleware.SecurityHeaders``, no answer sets a cookie, every error is a
problem document (``errors``), and the client's address is dropped from each
request before any code sees it (``middleware.ForgetClient``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from testimony.service.domain.forms import FormsCatalogue
from testimony.service.server import open_server
from testimony.service.settings import Settings
from testimony.service.web import pages

from . import followups, forms, health, log, pow, replies, submissions, uploads
from .errors import install_error_handlers
from .middleware import CatchUnexpected, ForgetClient, SecurityHeaders

__all__ = ["OPENAPI_URL", "create_app"]

OPENAPI_URL = "/api/v1/openapi.json"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("testimony")
    except PackageNotFoundError:  # pragma: no cover - a bare checkout
        return "unknown"


def create_app(settings: Settings, *, first: bool = True) -> FastAPI:
    """The application serving the data directory of ``settings``.

    Opens the database, blobs and keys at once (so a broken setup fails here,
    not at the first request) and closes them when the application shuts
    down. ``first`` is ``open_server``'s (False in a forked worker). Raises
    what ``open_server`` raises.
    """
    server = open_server(settings, first=first)
    try:
        intake_keys = list(server.intake.intake_keys.values())
        catalogue = FormsCatalogue(settings.forms, intake_keys[-1])
    except BaseException:
        server.close()
        raise

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            server.close()

    app = FastAPI(
        title="Testimony intake API",
        version=_version(),
        description="Sealed submissions, resumable uploads and the append-only log "
        "of docs/protocol.md (§3, §5, §6, §8, §9, §10).",
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.server = server
    app.state.forms = catalogue
    install_error_handlers(app)
    for module in (health, forms, pow, uploads, submissions, followups, replies, log):
        app.include_router(module.router)
    app.include_router(pages.router)  # last: its `/{lang}/` paths must not shadow the API
    # Added inner first: the last added runs first (outermost).
    app.add_middleware(CatchUnexpected)
    app.add_middleware(uploads.MethodOverride)
    app.add_middleware(SecurityHeaders, page_csp=pages.PAGE_CSP)
    app.add_middleware(ForgetClient)
    return app
