"""A light HTTP/1.1 load generator for the intake benchmarks.

The server and the client share this machine's two cores, so a client that
spends a millisecond of CPU per request (httpx in threads does) caps what
the benchmark can show long before the server does. This one sends
pre-encoded requests over ``clients`` keep-alive connections from one
asyncio loop (uvloop when installed) and parses only the status line,
``Content-Length`` and the body: a few tens of microseconds per request.

Each connection sends its share of the requests one after another, waiting
for each answer (a client waiting for its receipt), as ``clients``
independent witnesses would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Answer", "get", "post_json", "run"]


@dataclass(frozen=True)
class Answer:
    status: int
    content: bytes


def _request(method: str, path: str, host: str, body: bytes | None, content_type: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if body is not None:
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (body or b"")


def post_json(url: str, path: str, body: bytes) -> bytes:
    """The bytes of ``POST path`` with a JSON ``body`` to the server at ``url``."""
    return _request("POST", path, urlsplit(url).netloc, body, "application/json")


def get(url: str, path: str) -> bytes:
    """The bytes of ``GET path`` to the server at ``url``."""
    return _request("GET", path, urlsplit(url).netloc, None, "")


async def _read_answer(reader: asyncio.StreamReader) -> Answer:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif name.strip().lower() == b"transfer-encoding":
            raise RuntimeError("the load generator reads Content-Length answers only")
    if length is None:
        raise RuntimeError("an answer without Content-Length")
    return Answer(status, await reader.readexactly(length))


async def _run(
    url: str, requests: Sequence[bytes], clients: int
) -> tuple[list[Answer], list[float]]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    answers: list[Answer | None] = [None] * len(requests)
    latencies = [0.0] * len(requests)
    connections = [await asyncio.open_connection(host, port) for _ in range(clients)]
    start = asyncio.Event()

    async def client(k: int) -> None:
        reader, writer = connections[k]
        await start.wait()
        clock = time.perf_counter
        for i in range(k, len(requests), clients):
            started = clock()
            writer.write(requests[i])
            answers[i] = await _read_answer(reader)
            latencies[i] = clock() - started

    tasks = [asyncio.create_task(client(k)) for k in range(clients)]
    await asyncio.sleep(0)
    start.set()
    try:
        await asyncio.gather(*tasks)
    finally:
        for _, writer in connections:
            writer.close()
    return [a for a in answers if a is not None], latencies


def run(url: str, requests: Sequence[bytes], clients: int) -> tuple[list[Answer], list[float]]:
    """Send ``requests`` (from :func:`post_json`, :func:`get`) over ``clients``
    connections; connection ``k`` sends requests ``k, k + clients, ...``.

    Returns the answers in request order and each request's latency in
    seconds. Raises whatever a connection raised (a refused connection, an
    answer cut short).
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of the server
        return asyncio.run(_run(url, requests, clients))
    return uvloop.run(_run(url, requests, clients))
