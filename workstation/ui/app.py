"""The workstation's web UI as an ASGI application (docs/workstation.md, "The web UI").

:class:`Desk` is the unlocked workstation a launch serves: the reviewer's
keys and the open encrypted cache while unlocked, nothing of either once
locked. It holds at most one browser :class:`~.guard.Session`. Requests are
served one at a time under the desk's lock (one reviewer, one cache
connection; a page answers in milliseconds).

Pages are functions ``(here: Here) -> Response`` registered with
:func:`page`; each page module (``workstation/ui/pages/``) lists its routes
in ``ROUTES``. :class:`Here` gives a page what it needs: the cache, the
identity, the language, the parsed query and form, ``render`` and
``back`` (a redirect with a message). A page stays thin: it reads through
``triage``, ``incidents``, ``search``, ``reading`` and changes through
``actions``, as the commands do.
"""

from __future__ import annotations

import hmac
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import sqlcipher3
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, QueryParams, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from testimony.client.errors import ClientError, ServerRefused
from testimony.crypto.errors import CryptoError
from testimony.crypto.keyring import Identity

from .. import annotations as notes
from .. import home as homes
from .. import org, triage
from ..cache import Cache
from ..home import WorkstationError
from . import render
from .guard import COOKIE, Guard, Session, new_secret

__all__ = ["Desk", "Here", "create_app", "page"]

DEFAULT_IDLE_MINUTES = 15
UNLOCK_WAIT_MAX = 60.0
"""Seconds, at most, a wrong passphrase makes the next try wait."""


class Desk:
    """The workstation as one launch of the UI serves it."""

    def __init__(
        self,
        home: Path,
        identity: Identity,
        *,
        idle_seconds: float = DEFAULT_IDLE_MINUTES * 60,
        lang: str = "en",
        opener: Callable[[Path, Identity], Cache] = Cache,
    ) -> None:
        self.home = home
        self.idle_seconds = idle_seconds
        self.lang = lang if lang in render.LANGUAGES else "en"
        self.port = 0
        self.lock = threading.RLock()
        self._opener = opener
        self.identity: Identity | None = None
        self.cache: Cache | None = None
        self.session: Session | None = None
        self.launch_secret: str | None = None
        self.clock: Callable[[], float] = time.monotonic
        self._failures = 0
        self._next_try = 0.0
        self._open(identity)

    # --- unlocking and locking ----------------------------------------------------------------

    def _open(self, identity: Identity) -> None:
        cache = self._opener(self.home, identity)
        triage.refresh(cache)
        self.identity, self.cache = identity, cache

    def new_launch(self) -> str:
        """A fresh one-use secret for the launch URL (the previous one is spent)."""
        with self.lock:
            self.launch_secret = new_secret()
            return self.launch_secret

    def exchange(self, secret: str) -> Session | None:
        """The launch secret for a new session, once."""
        with self.lock:
            expected = self.launch_secret
            if expected is None or self.cache is None:
                return None
            if not hmac.compare_digest(secret.encode(), expected.encode()):
                return None
            self.launch_secret = None
            self.session = Session(lang=self.lang)
            return self.session

    def unlock(self, passphrase: str) -> Session:
        """The passphrase for a new session (opens the cache again if locked).

        After a wrong passphrase the next try waits: 1 s, then twice as long
        after each wrong one in a row, up to :data:`UNLOCK_WAIT_MAX` (another
        local process cannot try passphrases faster than that); a try too soon
        is refused with ``too-soon`` before any work."""
        with self.lock:
            wait = self._next_try - self.clock()
            if wait > 0:
                raise WorkstationError(
                    f"too soon after a wrong passphrase: try again in {wait:.0f} s", "too-soon"
                )
            try:
                identity = homes.unlock_identity(self.home, passphrase)
            except CryptoError:
                self._failures += 1
                self._next_try = self.clock() + min(2.0 ** (self._failures - 1), UNLOCK_WAIT_MAX)
                raise
            self._failures, self._next_try = 0, 0.0
            if self.identity is not None and identity.id != self.identity.id:
                raise WorkstationError("that is another workstation's key", "wrong-identity")
            if self.cache is None:
                self._open(identity)
            self.launch_secret = None
            lang = self.session.lang if self.session is not None else self.lang
            self.session = Session(lang=lang)
            return self.session

    def lock_now(self) -> None:
        """End the session, close the cache and drop the keys."""
        with self.lock:
            if self.session is not None:
                self.lang = self.session.lang
            self.session = None
            self.launch_secret = None
            cache, self.cache, self.identity = self.cache, None, None
            if cache is not None:
                cache.close()

    def session_for(self, cookie: str | None) -> Session | None:
        """The session this cookie opens, if the desk is unlocked and not idle too long."""
        with self.lock:
            session = self.session
            if session is None or cookie is None or self.cache is None:
                return None
            if not hmac.compare_digest(cookie.encode(), session.cookie.encode()):
                return None
            now = time.monotonic()
            if now - session.last_seen > self.idle_seconds:
                self.lock_now()
                return None
            session.last_seen = now
            return session

    def lock_if_idle(self) -> bool:
        """Lock when the session has been idle too long (the watchdog calls it)."""
        with self.lock:
            session = self.session
            if session is not None and time.monotonic() - session.last_seen > self.idle_seconds:
                self.lock_now()
                return True
            return False


@dataclass
class Here:
    """What a page is given: one request, on an unlocked desk."""

    request: Request
    desk: Desk
    session: Session
    cache: Cache
    identity: Identity
    query: QueryParams
    form: FormData | None

    @property
    def lang(self) -> str:
        return self.session.lang

    def t(self, key: str, **values: Any) -> str:
        return render.translate(self.lang, key, values)

    def field(self, name: str, default: str = "") -> str:
        """A form field as text (the query's for GET)."""
        source: Mapping[str, Any] = self.form if self.form is not None else self.query
        value = source.get(name, default)
        return value if isinstance(value, str) else default

    def fields(self, name: str) -> list[str]:
        source: Any = self.form if self.form is not None else self.query
        return [v for v in source.getlist(name) if isinstance(v, str)]

    def role(self) -> str | None:
        return notes.Organisation.from_cache(self.cache).role(self.identity.id)

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        flashes, self.session.flashes = self.session.flashes, []
        body = (
            render.environment()
            .get_template(template)
            .render(
                t=self.t,
                lang=self.lang,
                languages=render.LANGUAGES,
                csrf=self.session.csrf,
                me=homes.fingerprint(self.identity.id),
                role=self.role(),
                path=self.request.url.path,
                flashes=flashes,
                idle_seconds=int(self.desk.idle_seconds),
                draft=self.draft,
                **context,
            )
        )
        return HTMLResponse(body, status_code=status)

    def flash(self, kind: str, text: str) -> None:
        self.session.flashes.append((kind, text))

    def keep(self, name: str, value: str) -> None:
        """Keep what the reviewer typed (a change refused): the form shows it again."""
        self.session.drafts[name] = value

    def draft(self, name: str) -> str:
        return self.session.drafts.pop(name, "")

    def back(self, to: str, ok: str | None = None) -> RedirectResponse:
        """303 to ``to`` (a path of this UI), with a message for that page."""
        if ok:
            self.flash("ok", ok)
        return RedirectResponse(_local(to), status_code=303)


def _referrer(request: Request) -> str:
    """The page a change came from (same origin only: the Referrer-Policy), else the queue."""
    parts = urlsplit(request.headers.get("referer", ""))
    if parts.netloc != request.headers.get("host") or not parts.path:
        return "/queue"
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _local(to: str) -> str:
    """``to`` if it is a path of this UI, else ``/`` (no open redirect)."""
    parts = urlsplit(to)
    if parts.scheme or parts.netloc or not to.startswith("/") or to.startswith("//"):
        return "/"
    return to


PageFunction = Callable[[Here], Response]
MAX_FORM = 1 << 20


async def read_form(request: Request) -> FormData:
    """An ``application/x-www-form-urlencoded`` body (every form of the UI is
    one; nothing is uploaded to it) of at most 1 MiB; anything else is empty."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return FormData()
    if kind != "application/x-www-form-urlencoded":
        return FormData()
    try:
        pairs: list[tuple[str, str | UploadFile]] = list(
            parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10_000)
        )
    except (UnicodeDecodeError, ValueError):
        return FormData()
    return FormData(pairs)


def _error_text(error: BaseException) -> tuple[str, str] | None:
    """A refusal worth showing as a message: (text, code); None for a bug."""
    if isinstance(error, ServerRefused):
        return f"{error.what}: the server answered {error.status}", str(error.problem)
    if isinstance(error, WorkstationError | CryptoError | ClientError):
        lines = str(error).splitlines()
        return (lines[0] if lines else type(error).__name__), str(getattr(error, "code", "error"))
    if isinstance(error, sqlcipher3.DatabaseError) and type(error) is sqlcipher3.DatabaseError:
        return "the workstation's cache is damaged: a page of it fails its check", "cache-damaged"
    return None


def page(
    path: str,
    function: PageFunction,
    *,
    methods: Sequence[str] = ("GET",),
    keep: Sequence[str] = (),
) -> Route:
    """A route to a page function, run in a thread under the desk's lock.

    A refusal of a change (a :class:`WorkstationError`, the server's problem)
    goes back to the page it came from (the form's ``back`` field, else the
    referring path) as a message, with the fields named in ``keep`` kept as
    drafts so nothing typed is lost; on a GET it is an error page."""

    async def endpoint(request: Request) -> Response:
        desk: Desk = request.app.state.desk
        session: Session | None = request.scope.get("state", {}).get("session")
        form = await read_form(request) if request.method == "POST" else None

        def run() -> Response:
            with desk.lock:
                if session is None or desk.cache is None or desk.identity is None:
                    return RedirectResponse("/unlock", status_code=303)
                here = Here(
                    request, desk, session, desk.cache, desk.identity, request.query_params, form
                )
                try:
                    return function(here)
                except Exception as error:
                    shown = _error_text(error)
                    if shown is None:
                        raise
                    text, code = shown
                    if request.method == "GET":
                        status = 404 if code.startswith("unknown") else 400
                        return here.render("error.html", status=status, message=text, code=code)
                    for name in keep:
                        if here.field(name):
                            here.keep(name, here.field(name))
                    here.flash("error", f"{text} ({code})")
                    return here.back(here.field("back") or _referrer(request))

        return await run_in_threadpool(run)

    return Route(path, endpoint, methods=list(methods))


# --- the pages every launch has ---------------------------------------------------------------


async def launch(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    session = desk.exchange(str(request.path_params["secret"]))
    if session is None:
        return RedirectResponse("/unlock?spent=1", status_code=303)
    response = RedirectResponse("/", status_code=303)
    _set_cookie(response, session)
    return response


def _set_cookie(response: Response, session: Session) -> None:
    response.set_cookie(COOKIE, session.cookie, httponly=True, samesite="strict", path="/")


async def unlock_page(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    lang = desk.session.lang if desk.session is not None else desk.lang
    lang = request.query_params.get("lang", lang)
    lang = lang if lang in render.LANGUAGES else "en"
    error = ""
    status = 200
    if request.method == "POST":
        form = await read_form(request)
        passphrase = form.get("passphrase")
        try:
            if not isinstance(passphrase, str) or not passphrase:
                raise WorkstationError("give the passphrase", "no-passphrase")
            session = await run_in_threadpool(desk.unlock, passphrase)
        except (WorkstationError, CryptoError) as refused:
            soon = isinstance(refused, WorkstationError) and refused.code == "too-soon"
            error = render.translate(lang, "unlock.too-soon" if soon else "unlock.wrong")
            status = 429 if soon else 403 if not isinstance(refused, WorkstationError) else 400
        else:
            session.lang = lang
            response = RedirectResponse("/", status_code=303)
            _set_cookie(response, session)
            return response
    body = (
        render.environment()
        .get_template("unlock.html")
        .render(
            t=lambda key, **v: render.translate(lang, key, v),
            lang=lang,
            languages=render.LANGUAGES,
            error=error,
            spent=request.query_params.get("spent") == "1",
            me=homes.fingerprint(homes.read_public_identity(desk.home).id),
        )
    )
    return HTMLResponse(body, status_code=status)


def lock(here: Here) -> Response:
    here.desk.lock_now()
    response = RedirectResponse("/unlock", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def language(here: Here) -> Response:
    wanted = here.field("lang")
    if wanted in render.LANGUAGES:
        here.session.lang = wanted
    return here.back(here.field("back") or "/")


def sync_now(here: Here) -> Response:
    """Bring the log and what this reviewer may read into the cache (as ``testimony sync``)."""
    from ..sync import sync

    with org.bound_client(here.cache, here.identity) as client:
        report = sync(here.cache, client, here.identity)
    triage.refresh(here.cache)
    return here.back(
        here.field("back") or "/",
        ok=here.t(
            "sync.done",
            entries=report.log.new,
            testimonies=report.submissions,
            annotations=report.annotations,
        ),
    )


def home_page(here: Here) -> Response:
    return here.back("/queue")


def _routes() -> list[BaseRoute]:
    from .pages import incidents, overview, queue, search, testimony

    static = resources.files(__package__).joinpath("static")
    return [
        Route("/launch/{secret}", launch, methods=["GET"]),
        Route("/unlock", unlock_page, methods=["GET", "POST"]),
        page("/", home_page),
        page("/lock", lock, methods=["POST"]),
        page("/language", language, methods=["POST"]),
        page("/sync", sync_now, methods=["POST"]),
        *queue.ROUTES,
        *testimony.ROUTES,
        *incidents.ROUTES,
        *overview.ROUTES,
        *search.ROUTES,
        Mount("/static", app=StaticFiles(directory=str(static)), name="static"),
    ]


def create_app(desk: Desk) -> Guard:
    """The UI for ``desk``, behind its :class:`~.guard.Guard`."""
    app = Starlette(routes=_routes())
    app.state.desk = desk

    async def not_found(request: Request, exc: Exception) -> Response:
        return HTMLResponse(
            '<!doctype html><title>Not found</title><p>Not found. <a href="/">Back</a></p>',
            status_code=404,
        )

    async def internal(request: Request, exc: Exception) -> Response:
        # One line, no message and no traceback: an error's text could quote decrypted data.
        frame = exc.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        where = (
            f"{Path(frame.tb_frame.f_code.co_filename).name}:{frame.tb_lineno}" if frame else "?"
        )
        print(f"testimony ui: internal error {type(exc).__name__} at {where}", file=sys.stderr)
        return HTMLResponse(
            "<!doctype html><title>Error</title><p>Something went wrong inside the "
            'workstation; nothing was changed. <a href="/">Back</a></p>',
            status_code=500,
        )

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return HTMLResponse(
            "<!doctype html><title>Not here</title><p>This address takes no such request. "
            '<a href="/">Back</a></p>',
            status_code=405,
        )

    app.add_exception_handler(404, not_found)
    app.add_exception_handler(405, not_allowed)
    app.add_exception_handler(Exception, internal)
    return Guard(app, desk)


def quoted(value: str) -> str:
    """A value for a URL path segment."""
    return quote(value, safe="")
