"""Running the application under uvicorn, in one process or several, with
the limits every connection is held to.

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

**Limits** (docs/server.md, "Limits"). The server holds each connection to
them itself, whether nginx is in front or not: :class:`BoundedHttpProtocol`
is uvicorn's httptools protocol with

- a cap on the request head (``max_header_bytes``): the parser is fed at
  most that many bytes of a head (and, for a request pipelined behind
  another, what came in the same read), so a header that never ends costs
  at most the cap; past it, ``431 header-too-large``;
- a deadline for the whole head from its first byte, or from the
  connection's start (``header_timeout_seconds``): ``408 request-timeout``,
  or a silent close if nothing of a request came;
- an idle deadline while a body is awaited (``body_timeout_seconds``, since
  the client's last bytes or the application's last read, whichever is
  later; never while the application is not reading): ``408``; and the same
  deadline for a client to take any byte of an answer, or the connection is
  dropped;
- uvicorn's keep-alive deadline (``keepalive_timeout_seconds``);
- a cap on the connections of the process (``max_connections``, by default
  from the file-descriptor limit, :meth:`Limits.of`): a new connection past
  it closes the connection idle longest (one waiting between requests, or
  still sending its head); if every one holds a request in flight, the new
  one is answered ``503 unavailable`` at once;
- a problem document (``malformed-http``, 400) for any request the parser
  refuses (a bad request line, a duplicate Content-Length, a bad chunk size),
  where uvicorn answers ``text/plain``.

Every such answer is an ``application/problem+json`` document with the
headers the application's answers carry, ``Connection: close``; the server
then stops writing, drops whatever the client still sends for at most
:data:`LINGER_SECONDS` (so that a reset does not destroy the answer before
the client reads it) and closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from testimony.service.domain.errors import BadSettings
from testimony.service.settings import Settings

from .errors import PROBLEM_MEDIA_TYPE, problem_document
from .middleware import SECURITY_HEADERS

__all__ = ["LINGER_SECONDS", "BoundedHttpProtocol", "Limits", "protocol_class", "run"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_STARTUP_FAILURE = 3  # uvicorn's own exit status when the server cannot start

LINGER_SECONDS = 2.0
"""After an error answer, how long the client's further bytes are read and
dropped before the connection is closed (and how long a closing connection
may take to hand over what is left to write before it is dropped)."""

FD_RESERVE = 64
"""File descriptors kept for everything but clients: the listening socket,
the event loop, SQLite's files, logs, the standard streams."""
FDS_PER_CONNECTION = 2
"""A client's socket, and the blob file an upload in flight writes."""
MAX_DEFAULT_CONNECTIONS = 4096
"""The default cap of one process however high the file-descriptor limit."""
MIN_CONNECTIONS = 8
RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class Limits:
    """What one connection may hold, and how many a process holds (the settings'
    ``max_header_bytes``, ``*_timeout_seconds`` and ``max_connections``)."""

    max_header_bytes: int = 16 << 10
    header_timeout: float = 20.0
    body_timeout: float = 60.0
    keepalive_timeout: int = 15
    max_connections: int = MAX_DEFAULT_CONNECTIONS

    @classmethod
    def of(cls, settings: Settings, *, nofile: int | None = None) -> Limits:
        """The limits of ``settings`` for one server process.

        ``max_connections`` 0 (the default) takes what the file-descriptor
        limit ``nofile`` (default: this process's soft ``RLIMIT_NOFILE``)
        leaves once :data:`FD_RESERVE` and the process's PostgreSQL
        connections are set aside, :data:`FDS_PER_CONNECTION` per client, at
        most :data:`MAX_DEFAULT_CONNECTIONS`. Raises :class:`BadSettings` if
        that is under :data:`MIN_CONNECTIONS`, or if ``max_connections`` asks
        for more than the limit allows.

        >>> Limits.of(Settings(), nofile=1024).max_connections
        480
        """
        if nofile is None:
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            nofile = sys.maxsize if soft == resource.RLIM_INFINITY else soft
        reserve = FD_RESERVE
        if (settings.database_url or "").startswith("postgresql"):
            reserve += settings.connections_per_worker
        allowed = max(0, (nofile - reserve) // FDS_PER_CONNECTION)
        if settings.max_connections:
            if settings.max_connections > allowed:
                raise BadSettings(
                    f"max_connections ({settings.max_connections}) is more than the "
                    f"file-descriptor limit ({nofile}) allows ({allowed}); raise the "
                    "limit (LimitNOFILE=) or lower max_connections"
                )
            cap = settings.max_connections
        else:
            cap = min(allowed, MAX_DEFAULT_CONNECTIONS)
            if cap < MIN_CONNECTIONS:
                raise BadSettings(
                    f"the file-descriptor limit ({nofile}) leaves fewer than "
                    f"{MIN_CONNECTIONS} connections; raise it (LimitNOFILE=)"
                )
        return cls(
            max_header_bytes=settings.max_header_bytes,
            header_timeout=float(settings.header_timeout_seconds),
            body_timeout=float(settings.body_timeout_seconds),
            keepalive_timeout=settings.keepalive_timeout_seconds,
            max_connections=cap,
        )


class _Front:
    """The connections of one server (one process), shared by its protocols."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.active: set[BoundedHttpProtocol] = set()
        """Connections counted against the cap."""
        self.idle: dict[BoundedHttpProtocol, None] = {}
        """Connections without a request in flight, the longest idle first."""
        self.lingering: dict[BoundedHttpProtocol, None] = {}
        """Connections answered and closing: the first to go."""

    def make_room(self) -> bool:
        """Close one connection that holds no request; False if there is none."""
        for registry in (self.lingering, self.idle):
            for victim in registry:
                victim.evict()
                return True
        return False

    def forget(self, protocol: BoundedHttpProtocol) -> None:
        self.active.discard(protocol)
        self.idle.pop(protocol, None)
        self.lingering.pop(protocol, None)


class _Flow(FlowControl):
    """uvicorn's flow control, telling the protocol each time the
    application asks for more of the body (``receive`` resumes reading)."""

    def __init__(self, transport: asyncio.Transport, on_read: Callable[[], None]) -> None:
        super().__init__(transport)
        self._on_read = on_read

    def resume_reading(self) -> None:
        super().resume_reading()
        self._on_read()


def _problem_answer(
    status: int,
    code: str,
    detail: str,
    default_headers: list[tuple[bytes, bytes]],
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> bytes:
    body = json.dumps(
        problem_document(code, detail, status), ensure_ascii=False, separators=(",", ":")
    ).encode()
    headers = [
        *default_headers,
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *SECURITY_HEADERS,
        *extra,
    ]
    lines = [STATUS_LINE[status], *(name + b": " + value + b"\r\n" for name, value in headers)]
    return b"".join([*lines, b"\r\n", body])


def _reason(exc: Exception) -> str:
    """The parser's reason (llhttp's fixed texts, never the client's bytes)."""
    text = str(exc).strip() or type(exc).__name__
    text = "".join(char for char in text if char.isascii() and char.isprintable())[:100]
    return text[:1].lower() + text[1:]


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol held to :class:`Limits` (the module docstring).

    A subclass made by :func:`protocol_class` carries the limits and the
    registry of one server's connections in ``front``.
    """

    front: ClassVar[_Front]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.timeout_keep_alive = self.front.limits.keepalive_timeout
        self._head_pending = True
        """Waiting for (the rest of) a request head."""
        self._head_bytes = 0
        self._head_began = False
        """The parser has seen the first byte of the awaited request."""
        self._messages = 0
        self._in_body = False
        self._body_seen = 0.0
        self._write_left = 0
        self._done = False
        """Answered or closing: nothing more is parsed."""
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None

    # --- the connection -------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow = _Flow(transport, self._body_wanted)
        front = self.front
        if len(front.active) >= front.limits.max_connections and not front.make_room():
            self._done = True
            transport.write(
                self._answer(
                    503,
                    "unavailable",
                    "the server holds as many requests as it can; try again",
                    ((b"retry-after", str(RETRY_AFTER_SECONDS).encode()),),
                )
            )
            self._close()
            return
        front.active.add(self)
        front.idle[self] = None
        self._head_timer = self.loop.call_later(
            self.front.limits.header_timeout, self._head_timed_out
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.front.forget(self)
        self._done = True
        for timer in (self._head_timer, self._body_timer, self._write_timer, self._close_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._done:
            return  # answered: what the client still sends is dropped
        self._unset_keepalive_if_required()
        if self._in_body:
            self._body_seen = self.loop.time()
        cap = self.front.limits.max_header_bytes
        while data:
            if not self._head_pending:
                self._feed(data)
                break
            room = cap - self._head_bytes
            if room <= 0:
                self._refuse_head_too_large()
                return
            if len(data) > room:
                piece, data = data[:room], data[room:]
            else:
                piece, data = data, b""
            self._head_bytes += len(piece)
            messages = self._messages
            if not self._feed(piece):
                return
            if data and self._head_pending and self._messages == messages:
                self._refuse_head_too_large()
                return
        # Timers only for what is still awaited once these bytes are parsed
        # (most requests arrive whole, in one read, and need none).
        if self._done:
            return
        if self._head_pending and self._head_began and self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self.front.limits.header_timeout, self._head_timed_out
            )
        elif self._in_body and self._body_timer is None:
            self._body_timer = self.loop.call_later(
                self.front.limits.body_timeout, self._body_check
            )

    def _feed(self, data: bytes) -> bool:
        """Parse ``data``; False once the connection is being answered or closed."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No protocol upgrade is served (uvicorn runs with ws="none"): the
            # request is answered as any other, and the connection then closes.
            if self.cycle is not None:
                self.cycle.keep_alive = False
            self._done = True
            return False
        except httptools.HttpParserError as exc:
            self._refuse(
                400, "malformed-http", f"the request is not valid HTTP/1.1: {_reason(exc)}"
            )
            return False
        return not self._done

    def _refuse_head_too_large(self) -> None:
        limit = self.front.limits.max_header_bytes
        self._refuse(
            431, "header-too-large", f"the request line and headers are over {limit} bytes"
        )

    # --- parser callbacks -----------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_began = True

    def on_headers_complete(self) -> None:
        self._head_pending = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self.front.idle.pop(self, None)  # a request in flight
        self._in_body = True
        self._body_seen = self.loop.time()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_body = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._head_pending = True
        self._head_began = False
        self._head_bytes = 0
        self._messages += 1

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if self.transport.get_write_buffer_size():
            self._watch_writes()  # the client has yet to take (part of) the answer
        if not pipelined and not self._done and not self.transport.is_closing():
            front = self.front
            if self in front.active:
                front.idle.pop(self, None)
                front.idle[self] = None  # the newest idle

    # --- the transport's write buffer -----------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        self._watch_writes()

    def _watch_writes(self) -> None:
        if self._write_timer is None:
            self._write_left = self.transport.get_write_buffer_size()
            self._write_timer = self.loop.call_later(
                self.front.limits.body_timeout, self._write_check
            )

    def _write_check(self) -> None:
        self._write_timer = None
        left = self.transport.get_write_buffer_size()
        if not left:
            return
        if left < self._write_left:  # the client took some: wait again
            self._watch_writes()
            return
        self._drop()  # nothing taken for a whole deadline

    # --- deadlines ------------------------------------------------------------

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._done or not self._head_pending:
            return
        if not self._head_began:  # nothing of a request: nobody to tell
            self.front.forget(self)
            self._done = True
            self._close()
            return
        seconds = self.front.limits.header_timeout
        self._refuse(408, "request-timeout", f"the request head took more than {seconds:g} s")

    def _body_wanted(self) -> None:
        """The application asked for more of the body: the client's wait starts now."""
        self._body_seen = self.loop.time()

    def _body_check(self) -> None:
        self._body_timer = None
        if self._done or not self._in_body:
            return
        timeout = self.front.limits.body_timeout
        waited = self.loop.time() - self._body_seen
        if self.flow.read_paused:  # the application is not reading: not the client's wait
            waited = 0.0
            self._body_seen = self.loop.time()
        if waited < timeout:
            self._body_timer = self.loop.call_later(timeout - waited, self._body_check)
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            self._drop()  # an answer is under way and cannot be replaced
            return
        self._refuse(408, "request-timeout", f"no byte of the body came for {timeout:g} s")

    def timeout_keep_alive_handler(self) -> None:
        if not self.transport.is_closing():
            self.front.forget(self)
            self._done = True
            self._close()

    # --- ending a connection --------------------------------------------------

    def _answer(
        self, status: int, code: str, detail: str, extra: tuple[tuple[bytes, bytes], ...] = ()
    ) -> bytes:
        return _problem_answer(status, code, detail, self.server_state.default_headers, extra)

    def _refuse(self, status: int, code: str, detail: str) -> None:
        """Answer ``status`` (unless an answer has started), then linger and close."""
        self._done = True
        self._stop_request()
        cycle = self.cycle
        if cycle is None or not cycle.response_started or cycle.response_complete:
            self.transport.write(self._answer(status, code, detail))
        front = self.front
        front.idle.pop(self, None)
        if self in front.active:
            front.lingering[self] = None
        if self.transport.can_write_eof():
            self.flow.resume_reading()  # keep reading, to drop what still comes
            self.transport.write_eof()
            self._close_timer = self.loop.call_later(LINGER_SECONDS, self._drop)
        else:  # pragma: no cover - TCP and Unix sockets can
            self._close()

    def _stop_request(self) -> None:
        """Tell a request in flight that its client is gone; stop the deadlines."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def evict(self) -> None:
        """Close this connection (which holds no request) to make room for another."""
        self.front.forget(self)
        if self._done:
            self._drop()
            return
        self._done = True
        self._stop_request()
        if self._head_pending and self._head_began:  # someone to tell
            self.transport.write(
                self._answer(
                    503,
                    "unavailable",
                    "the server holds as many connections as it can; try again",
                    ((b"retry-after", str(RETRY_AFTER_SECONDS).encode()),),
                )
            )
        self._close()

    def _close(self) -> None:
        """Close once what is written is sent, or drop it after :data:`LINGER_SECONDS`."""
        self.transport.close()
        if self._close_timer is None:
            self._close_timer = self.loop.call_later(LINGER_SECONDS, self._drop)

    def _drop(self) -> None:
        self._close_timer = None
        self._done = True
        self.front.forget(self)
        self.transport.abort()


def protocol_class(limits: Limits) -> type[BoundedHttpProtocol]:
    """A :class:`BoundedHttpProtocol` for one server, with its own ``front``."""
    return type("BoundedHttpProtocol", (BoundedHttpProtocol,), {"front": _Front(limits)})


def _config(app: Any, host: str, port: int, log_config: dict[str, Any], limits: Limits) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_class(limits),
        access_log=False,  # it would name every client
        proxy_headers=False,
        server_header=False,
        ws="none",
        log_config=log_config,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=limits.keepalive_timeout,
    )


def run(
    make_app: Callable[[], Any],
    *,
    host: str,
    port: int,
    workers: int,
    log_config: dict[str, Any],
    limits: Limits | None = None,
) -> int:
    """Serve ``make_app()`` on ``host:port`` until stopped; returns the exit status.

    With one worker the application is built and served in this process.
    Otherwise the socket is bound here and ``workers`` forked processes each
    build and serve their own (see the module docstring). Every connection
    is held to ``limits`` (default: :class:`Limits`' defaults); each worker
    has its own ``max_connections``.
    """
    import uvicorn

    limits = limits or Limits()
    if workers <= 1:
        server = uvicorn.Server(_config(make_app(), host, port, log_config, limits))
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
                server = uvicorn.Server(_config(make_app(), host, port, log_config, limits))
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
