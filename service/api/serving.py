"""Running the application under uvicorn, in one process or several.

Python runs one thread of Python at a time per process, so one process uses
about one core however many requests it holds. ``workers > 1`` forks that
many processes, each with a listening socket of its own bound to the same
address with ``SO_REUSEPORT`` (all bound before the first fork, so a port
in use fails at once): the kernel spreads new connections evenly over them,
where one shared socket lets whichever worker wakes first take a whole burst
of keep-alive connections. Each worker opens its own
database connections and its own group-commit batcher (``AppendBatcher``),
and appends from all of them serialise on the log's writer lock (SQLite's
write lock, PostgreSQL's advisory lock), as appends from separate servers
always have. Each worker builds its application after the fork: threads and
database connections do not survive one.

The parent does no request work. It forwards SIGINT and SIGTERM to the
workers and waits for them; if a worker dies on its own the others are
stopped and the parent exits non-zero, so a supervisor (systemd, a container
runtime) restarts the whole server rather than running it short of workers.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["run"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_STARTUP_FAILURE = 3  # uvicorn's own exit status when the server cannot start


def _config(app: Any, host: str, port: int, log_config: dict[str, Any]) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,  # it would name every client
        proxy_headers=False,
        server_header=False,
        ws="none",
        log_config=log_config,
        timeout_graceful_shutdown=10,
    )


def run(
    make_app: Callable[[], Any],
    *,
    host: str,
    port: int,
    workers: int,
    log_config: dict[str, Any],
) -> int:
    """Serve ``make_app()`` on ``host:port`` until stopped; returns the exit status.

    With one worker the application is built and served in this process.
    Otherwise the socket is bound here and ``workers`` forked processes each
    build and serve their own (see the module docstring).
    """
    import uvicorn

    if workers <= 1:
        server = uvicorn.Server(_config(make_app(), host, port, log_config))
        server.run()
        return 0 if server.started else _STARTUP_FAILURE

    listeners = [
        socket.create_server((host, port), family=_family(host), backlog=2048, reuse_port=True)
        for _ in range(workers)
    ]
    children: list[int] = []
    for listener in listeners:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, measured by the e2e tests
            status = 1
            try:
                for signum in _STOP_SIGNALS:
                    signal.signal(signum, signal.SIG_DFL)
                for other in listeners:
                    if other is not listener:
                        other.close()
                server = uvicorn.Server(_config(make_app(), host, port, log_config))
                server.run(sockets=[listener])
                status = 0
            except BaseException as exc:  # one line, as every CLI error; then exit
                reason = str(exc).splitlines()[0] if str(exc) else ""
                sys.stderr.write(
                    f"testimony: a server worker stopped: {type(exc).__name__} {reason}\n"
                )
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        children.append(pid)
    for listener in listeners:
        listener.close()
    return _supervise(children)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _supervise(children: list[int]) -> int:
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        _signal_all(children, signal.SIGTERM)

    previous = {signum: signal.signal(signum, stop) for signum in _STOP_SIGNALS}
    status = 0
    try:
        while children:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries os.wait
                continue
            if pid not in children:
                continue
            children.remove(pid)
            if not stopping:
                # A worker stopped on its own: stop the rest, report failure.
                stopping = True
                status = 1
                _signal_all(children, signal.SIGTERM)
            elif os.waitstatus_to_exitcode(wait_status) not in (0, -signal.SIGTERM):
                status = 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status


def _signal_all(children: list[int], signum: int) -> None:
    for pid in children:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            continue
