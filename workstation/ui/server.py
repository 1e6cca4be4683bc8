"""Serving the UI: 127.0.0.1 only, on a free port, until Ctrl-C.

:func:`serve` binds the socket itself (so the port is known before the first
request, for the ``Host`` check and the launch URL), runs uvicorn on it with
no access log (a URL names testimonies, and the launch URL holds the
secret), bounded connections and short timeouts, and a watchdog thread that
locks the desk once the session has been idle too long. On Ctrl-C (or
SIGTERM) uvicorn stops within :data:`STOP_SECONDS`, and the desk is locked:
the cache closed, the keys dropped. Nothing decrypted is ever written to
disk by the UI: pages, safe copies and thumbnails are made in memory and
sent with ``no-store``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import uvicorn

from .app import Desk, create_app

__all__ = ["STOP_SECONDS", "bind", "make_server", "serve"]

STOP_SECONDS = 2
WATCH_SECONDS = 5.0


def bind(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1 (``port`` 0: a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def make_server(desk: Desk, sock: socket.socket) -> uvicorn.Server:
    """uvicorn for ``desk``, to run on ``sock`` (its port is the desk's from now on)."""
    desk.port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        create_app(desk),
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
        limit_concurrency=32,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=STOP_SECONDS,
        h11_max_incomplete_event_size=64 * 1024,
        lifespan="off",
    )
    return uvicorn.Server(config)


def serve(
    desk: Desk,
    sock: socket.socket,
    *,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``desk`` on ``sock`` until stopped; ``ready(url)`` once listening,
    with the launch URL (its secret good for one use)."""
    server = make_server(desk, sock)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(WATCH_SECONDS):
            desk.lock_if_idle()

    watchdog = threading.Thread(target=watch, name="idle-lock", daemon=True)
    watchdog.start()

    if ready is not None:
        url = f"http://127.0.0.1:{desk.port}/launch/{desk.new_launch()}"
        original = server.startup

        async def startup(sockets: list[socket.socket] | None = None) -> None:
            await original(sockets=sockets)
            ready(url)

        server.startup = startup  # type: ignore[method-assign]
    try:
        server.run(sockets=[sock])
    finally:
        stop.set()
        desk.lock_now()
