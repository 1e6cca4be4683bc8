"""Headless Chromium and a local test server for the browser sealing module.

Shared by the browser tests (``tests/web/``) and ``bench/bench_browser_seal.py``.

The server serves ``service/web/static/`` under ``/static/`` and other folders
under other prefixes, on 127.0.0.1 only, every response with the strict CSP the
witness pages will use (``'wasm-unsafe-eval'`` is what hash-wasm needs; a
Worker script takes its CSP from its own response). Chromium is Debian's
``/usr/bin/chromium`` (``apt-get install chromium``), driven by Playwright;
Playwright never downloads a browser here.
"""

from __future__ import annotations

import http.server
import mimetypes
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "service" / "web" / "static"
PAGE = Path(__file__).resolve().parent / "page"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CSP = (
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
    "connect-src 'self'; img-src 'self' blob:; style-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
READY_TIMEOUT = 10.0

# An extra route: (handler, method, path) -> None; it writes the whole answer.
Route = Callable[[http.server.BaseHTTPRequestHandler, str, str], bool]


def _handler(
    folders: Mapping[str, Path], route: Route | None
) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests assert on what the page does, not on access logs

        def _dispatch(self, method: str) -> None:
            path = self.path.split("?", 1)[0]
            if route is not None and route(self, method, path):
                return
            if method in ("GET", "HEAD"):
                self._file(path, send_body=method == "GET")
                return
            self._answer(405, b"")

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_HEAD(self) -> None:
            self._dispatch("HEAD")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_OPTIONS(self) -> None:
            self._dispatch("OPTIONS")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _file(self, path: str, *, send_body: bool) -> None:
            if path == "/ping":
                self._answer(200, b"ok", "text/plain", send_body=send_body)
                return
            for prefix, folder in folders.items():
                if not path.startswith(prefix):
                    continue
                target = (folder / path[len(prefix) :]).resolve()
                if target.is_file() and target.is_relative_to(folder.resolve()):
                    kind = "text/javascript" if target.suffix in (".js", ".mjs") else None
                    kind = (
                        kind or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
                    )
                    self._answer(200, target.read_bytes(), kind, send_body=send_body)
                    return
            self._answer(404, b"not found", "text/plain", send_body=send_body)

        def _answer(
            self,
            status: int,
            body: bytes,
            kind: str = "text/plain",
            *,
            send_body: bool = True,
            headers: Mapping[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if send_body:
                self.wfile.write(body)

    return Handler


@contextmanager
def serve(folders: Mapping[str, Path] | None = None, route: Route | None = None) -> Iterator[str]:
    """Serve ``folders`` (prefix -> folder) on 127.0.0.1; yield the base URL.

    By default ``/static/`` is the built module and ``/test/`` the test page.
    Readiness is polled (``/ping``) with a deadline; the server stops on exit.
    """
    mapping = dict(folders or {"/static/": STATIC, "/test/": PAGE})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(mapping, route))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="web-test-server", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        _wait_ready(base + "/ping")
        yield base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=READY_TIMEOUT)


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"the test server at {url} did not answer")


def launch(playwright: Any) -> Any:
    """Debian's Chromium, headless, with the project's flags. Fails if it is missing."""
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: apt-get install chromium (Playwright must not download one)"
        )
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
