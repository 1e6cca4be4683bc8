"""Load with slow, Tor-like clients (issue 12): high latency, small windows,
many concurrent resumable uploads, some of them cut mid-``PATCH`` and resumed.

A real ``testimony serve`` (with proof of work) runs behind a throttling TCP
proxy in this module (:class:`ThrottlingProxy`, asyncio on a thread of its
own). Each client gets a link of its own, as a Tor circuit is, and every
connection over it:

- waits :data:`LATENCY` seconds each way (a Tor circuit's round trip is about
  0.3 s and more);
- is paced to :data:`UP_RATE` bytes a second towards the server and
  :data:`DOWN_RATE` back, read and written in slices of :data:`SLICE` bytes;
- has small windows: :data:`WINDOW` bytes of ``SO_RCVBUF``/``SO_SNDBUF`` on
  both of its sockets, and as little buffered in the proxy itself.

:data:`CLIENTS` clients at once upload a random blob of about 256 KiB each
with the shared tus client (``testimony.client.tus``: the proof of work the
server asks, then ``PATCH``es of :data:`PATCH_BYTES`); every third one has its
link cut once in the middle of a ``PATCH`` body (the proxy forwards part of
it, then closes the server's side with a FIN, as a Tor exit does when the
circuit is torn down, and resets the client's), and resumes with ``HEAD`` and
``PATCH`` from the offset the server reports. (A cut that leaves the server's
side open is ``tests/service/test_patch_takeover.py``'s: the stalled ``PATCH``
lets go of the upload after ``upload_stall_seconds``.) Then:

- every upload completes: its last answer, and a ``HEAD`` afterwards, give the
  whole length and no ``Upload-Expires`` (finished), and the blob store holds
  a file under the declared id whose bytes hash to it;
- no answer is a 5xx, and nothing but the cut connections fails;
- a cut upload resumes from no less than the bytes acknowledged before the
  cut and no more than the bytes the server was given;
- the server's memory stays bounded (:data:`RSS_GROWTH_BOUND`);
- progress is fair: the slowest client finishes within :data:`FAIRNESS` times
  the median client's time;
- ``/healthz`` from an unthrottled client answers within
  :data:`HEALTH_BOUND` seconds throughout.

First, a sanity check of the proxy: 128 KiB through a link takes at least
:data:`SANITY_SECONDS` (128 KiB at 40 KB/s is 3.3 s), and a ``HEAD`` at
least the round trip. The figures measured
are recorded as test properties (``record_property``) and printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from testimony.client import tus
from testimony.client.errors import ConnectionFailed
from testimony.client.http import ServerClient
from testimony.service.testing import LiveServer, start_server
from tests.security.live_log import blob_store_problems
from tests.service.courier.support import init_data

pytestmark = pytest.mark.slow

SEED = 20261212
POW_BITS = 8
"""The server's base difficulty: every creation solves a real challenge."""
CLIENTS = 28
CUT_EVERY = 3
"""Every third client has its link cut once, mid-``PATCH``."""
BLOB_BYTES = 256 << 10
BLOB_SPREAD = 16 << 10
"""Blobs are BLOB_BYTES ± BLOB_SPREAD bytes of random data."""
PATCH_BYTES = 64 << 10

LATENCY = 0.150
"""Seconds each way, per link (a round trip of 0.3 s, like a Tor circuit's)."""
UP_RATE = 40_000
"""Bytes a second towards the server, per connection."""
DOWN_RATE = 80_000
"""Bytes a second back to the client, per connection."""
SLICE = 2048
"""Bytes read and written at a time by the proxy."""
WINDOW = 8 << 10
"""``SO_RCVBUF``/``SO_SNDBUF`` of the proxy's sockets (Linux doubles it), and
what the proxy buffers beside them."""

SANITY_BYTES = 128 << 10
SANITY_SECONDS = 3.0
"""At least, for SANITY_BYTES at UP_RATE: 3.3 s of pacing, plus the latency."""
RSS_GROWTH_BOUND = 64 << 20
"""The server's resident memory may grow by at most this under the load. What
it holds per upload in flight is at most one ``PATCH`` body in pieces
(``READ_AHEAD`` + 1 pieces, none larger than the 64 KiB body), uvicorn's
read buffer (its flow control pauses reading at 64 KiB) and a worker
thread's touched stack: well under 1 MiB each, under 28 MiB for CLIENTS at
once; the bound leaves room for the allocator's fragmentation on top."""
FAIRNESS = 3.0
"""The slowest client's time at most this many times the median's."""
HEALTH_BOUND = 1.0
"""Seconds ``/healthz`` may take, unthrottled, under the load."""
HEALTH_EVERY = 0.1
"""Seconds between two ``/healthz`` probes."""
RSS_EVERY = 0.05
"""Seconds between two samples of the server's resident memory."""
DEADLINE = 50.0
"""Seconds the whole load may take before the test gives up on it."""
TIMEOUT = 30.0
"""The clients' connect and read timeout (httpx, per step)."""


# --- the throttling proxy ---------------------------------------------------------------------


def _small_windows(sock: socket.socket) -> None:
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        sock.setsockopt(socket.SOL_SOCKET, option, WINDOW)
        # Linux doubles the value asked for (for its bookkeeping), and has a floor.
        assert sock.getsockopt(socket.SOL_SOCKET, option) <= 2 * WINDOW


@dataclass
class Cut:
    """Cut a link once, ``body_bytes`` into the body of its ``patch``-th
    ``PATCH`` (counted from 0): those bytes reach the server, then both sides
    of the connection are closed (the server's with a FIN, the client's with
    a reset) and whatever else was in flight is lost."""

    patch: int
    body_bytes: int
    done: threading.Event = field(default_factory=threading.Event)


class Link:
    """One client's path to the server, a listening port of the proxy (a Tor
    circuit): each connection over it is throttled on its own."""

    def __init__(self, cut: Cut | None = None) -> None:
        self.cut = cut
        self.port = 0
        self.connections = 0
        self.patches = -1
        """Index of the last ``PATCH`` whose head went over the link."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _Requests:
    """Where one connection's bytes towards the server stand in its HTTP/1.1
    requests, framed by ``Content-Length`` (all that the tus client sends):
    a head, then its body."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.head = b""
        self.method = b""
        self.body_left = 0
        self.body_seen = 0

    def forward(self, data: bytes) -> tuple[bytes, bool]:
        """The part of ``data`` to forward, and whether the link is cut after it."""
        cut, position = self.link.cut, 0
        while position < len(data):
            if self.body_left == 0:
                self.head += data[position:]
                end = self.head.find(b"\r\n\r\n")
                if end < 0:
                    return data, False
                rest = len(self.head) - (end + 4)  # bytes of data after the head
                head, self.head = self.head[: end + 4], b""
                position = len(data) - rest
                lines = head.split(b"\r\n")
                self.method = lines[0].split(b" ", 1)[0]
                lengths = [
                    int(line.split(b":", 1)[1])
                    for line in lines[1:]
                    if line.lower().startswith(b"content-length:")
                ]
                self.body_left, self.body_seen = (lengths or [0])[0], 0
                if self.method == b"PATCH":
                    self.link.patches += 1
                continue
            step = min(self.body_left, len(data) - position)
            if (
                cut is not None
                and not cut.done.is_set()
                and self.method == b"PATCH"
                and self.link.patches == cut.patch
                and self.body_seen + step >= cut.body_bytes
            ):
                cut.done.set()
                return data[: position + cut.body_bytes - self.body_seen], True
            self.body_left -= step
            self.body_seen += step
            position += step
        return data, False


_LINK_ENDS = (ConnectionError, OSError, asyncio.IncompleteReadError)
"""How a connection ends when its other side goes: not a fault of the proxy."""


class ThrottlingProxy:
    """Links to the server at ``upstream`` (``host``, ``port``), served by an
    asyncio loop on a thread of its own (:meth:`start`, :meth:`stop`). A fault
    of the proxy itself is kept in :attr:`errors`."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.errors: list[BaseException] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        async def close() -> None:
            for server in self._servers:
                server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def link(self, cut: Cut | None = None) -> Link:
        """A new link, listening once this returns."""
        link = Link(cut)
        asyncio.run_coroutine_threadsafe(self._listen(link), self.loop).result(10)
        return link

    async def _listen(self, link: Link) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        _small_windows(listener)  # before listen(): the accepted sockets inherit it
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.setblocking(False)
        link.port = listener.getsockname()[1]

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            try:
                await self._connection(link, reader, writer)
            except asyncio.CancelledError:
                writer.transport.abort()
            except Exception as exc:
                writer.transport.abort()
                self.errors.append(exc)
            finally:
                self._tasks.discard(task)

        self._servers.append(await asyncio.start_server(accepted, sock=listener, limit=WINDOW))

    async def _connection(
        self, link: Link, from_client: asyncio.StreamReader, to_client: asyncio.StreamWriter
    ) -> None:
        link.connections += 1
        accepted = to_client.get_extra_info("socket")
        assert accepted.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) <= 2 * WINDOW
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        _small_windows(upstream)
        upstream.setblocking(False)
        try:
            await self.loop.sock_connect(upstream, self.upstream)
        except OSError:
            upstream.close()
            raise
        from_server, to_server = await asyncio.open_connection(sock=upstream, limit=WINDOW)
        for writer in (to_client, to_server):
            writer.transport.set_write_buffer_limits(high=WINDOW)
        requests = _Requests(link)
        up = asyncio.create_task(self._pipe(from_client, to_server, UP_RATE, requests.forward))
        down = asyncio.create_task(self._pipe(from_server, to_client, DOWN_RATE))
        pending: set[asyncio.Task[bool]] = {up, down}
        cut = False
        try:
            while pending and not cut:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if isinstance(task.exception(), _LINK_ENDS):
                        return  # one side is gone: drop the other (finally)
                    if task.result():
                        cut = True
                    else:  # an end of stream: pass it on, the other way goes on
                        with contextlib.suppress(*_LINK_ENDS):
                            (to_server if task is up else to_client).write_eof()
            if not cut:
                to_client.close()
                to_server.close()
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            to_server.close()  # a FIN after what was forwarded
            if cut or not to_client.is_closing():
                to_client.transport.abort()  # a reset: the client's request failed

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        rate: float,
        forward: Callable[[bytes], tuple[bytes, bool]] | None = None,
    ) -> bool:
        """Carry ``reader`` to ``writer`` at ``rate`` bytes a second, each
        slice :data:`LATENCY` late; True if ``forward`` cut the link, False at
        the end of the stream."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def deliver() -> None:
            while (item := await queue.get()) is not None:
                due, data = item
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        delivering = asyncio.create_task(deliver())
        free, cut = loop.time(), False
        try:
            while not cut and (data := await reader.read(SLICE)):
                if forward is not None:
                    data, cut = forward(data)
                now = loop.time()
                free = max(now, free) + len(data) / rate  # the slice is on the wire until then
                await asyncio.sleep(free - now)  # and nothing more is read before: pacing
                queue.put_nowait((free + LATENCY, data))
        except BaseException:
            delivering.cancel()
            raise
        queue.put_nowait(None)
        await delivering
        return cut


@contextlib.contextmanager
def _proxy_to(server: LiveServer) -> Iterator[ThrottlingProxy]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    proxy = ThrottlingProxy((host, int(port)))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


# --- the clients ------------------------------------------------------------------------


class _Recording(httpx.HTTPTransport):
    """httpx's transport, noting each answer's method and status."""

    def __init__(self, statuses: list[tuple[str, int]]) -> None:
        super().__init__()
        self.statuses = statuses

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.statuses.append((request.method, response.status_code))
        return response


@dataclass
class Witness:
    """One client's upload and what it saw."""

    data: bytes
    link: Link
    blob: str = ""
    url: str = ""
    seconds: float = 0.0
    failures: int = 0
    statuses: list[tuple[str, int]] = field(default_factory=list)
    acknowledged_at_cut: int = -1
    """The last offset the server had acknowledged when the link was cut."""
    resumed_from: int = -1
    """The offset ``HEAD`` reported after the cut."""
    resumed: bool = False

    def __post_init__(self) -> None:
        self.blob = hashlib.sha256(self.data).hexdigest()


def _upload(witness: Witness, start: threading.Barrier) -> Witness:
    """Upload the witness's blob over its link with the shared tus client; a
    link cut is answered as a client does: ``HEAD``, then ``PATCH`` on."""
    data = witness.data
    offsets: list[int] = []

    def progress(url: str, offset: int) -> None:
        witness.url = url
        offsets.append(offset)

    with ServerClient(
        witness.link.url, timeout=TIMEOUT, transport=_Recording(witness.statuses)
    ) as client:
        start.wait(DEADLINE)
        began = time.monotonic()
        resumed_at = None
        while True:
            try:
                uploaded = tus.upload(
                    client,
                    witness.blob,
                    len(data),
                    lambda offset, count: [data[offset : offset + count]],
                    resume=witness.url or None,
                    patch_bytes=PATCH_BYTES,
                    progress=progress,
                )
            except ConnectionFailed:
                witness.failures += 1
                if witness.failures > 1 or not offsets:
                    raise
                witness.acknowledged_at_cut, resumed_at = offsets[-1], len(offsets)
                continue
            break
        witness.seconds = time.monotonic() - began
    witness.resumed = uploaded.resumed
    if resumed_at is not None:
        witness.resumed_from = offsets[resumed_at]
    return witness


def _rss(server: LiveServer) -> int:
    """The resident memory of the server's processes now, in bytes."""
    total = 0
    for pid in server.processes():
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


class _Watch:
    """Beside the load: the server's memory, sampled every :data:`RSS_EVERY`,
    and ``/healthz`` from an unthrottled client every :data:`HEALTH_EVERY`."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.stopping = threading.Event()
        self.rss_peak = 0
        self.health: list[float] = []
        self.health_statuses: list[int] = []
        self._threads = [
            threading.Thread(target=self._sample, daemon=True),
            threading.Thread(target=self._probe, daemon=True),
        ]

    def __enter__(self) -> _Watch:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(TIMEOUT)

    def _sample(self) -> None:
        while not self.stopping.is_set():
            self.rss_peak = max(self.rss_peak, _rss(self.server))
            self.stopping.wait(RSS_EVERY)

    def _probe(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=TIMEOUT) as http:
            while not self.stopping.is_set():
                began = time.monotonic()
                try:
                    status = http.get("/healthz").status_code
                except httpx.HTTPError:
                    status = -1  # no answer: fails the test
                self.health.append(time.monotonic() - began)
                self.health_statuses.append(status)
                self.stopping.wait(HEALTH_EVERY)


def _finished(direct: ServerClient, witness: Witness) -> httpx.Response:
    """``HEAD`` of the witness's upload, straight to the server."""
    path = httpx.URL(witness.url).path
    return direct.request("HEAD", path, what="a finished upload", headers=tus.TUS)


def _stored(data_dir: Path, blob: str) -> bytes:
    return (data_dir / "blobs" / blob[:2] / blob[2:4] / blob).read_bytes()


# --- the test -------------------------------------------------------------------------------


def test_many_slow_tor_like_clients_upload_fairly_with_bounded_memory(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    rng = random.Random(SEED)
    data_dir = init_data(tmp_path)
    output = tmp_path / "server-output.txt"
    server = start_server(data_dir, output, pow_bits=POW_BITS)
    figures: dict[str, object] = {}
    try:
        with _proxy_to(server) as proxy, ServerClient(server.url, timeout=TIMEOUT) as direct:
            # The proxy throttles: SANITY_BYTES in one PATCH take their time at UP_RATE.
            sanity = rng.randbytes(SANITY_BYTES)
            sanity_blob = hashlib.sha256(sanity).hexdigest()
            with ServerClient(proxy.link().url, timeout=TIMEOUT) as slow:
                url = tus.create(slow, sanity_blob, len(sanity))
                began = time.monotonic()
                tus.send(slow, url, len(sanity), lambda o, n: [sanity[o : o + n]])
                sanity_seconds = time.monotonic() - began
                began = time.monotonic()
                assert tus.head(slow, url) == tus.UploadState(SANITY_BYTES, SANITY_BYTES)
                round_trip = time.monotonic() - began
            assert round_trip >= 2 * LATENCY, f"the proxy added no latency: {round_trip}"
            assert sanity_seconds >= SANITY_SECONDS, f"the proxy did not throttle: {sanity_seconds}"
            assert hashlib.sha256(_stored(data_dir, sanity_blob)).hexdigest() == sanity_blob
            figures["sanity_seconds"] = round(sanity_seconds, 2)
            figures["sanity_head_round_trip_seconds"] = round(round_trip, 3)
            figures["sanity_rate_kB_s"] = round(SANITY_BYTES / sanity_seconds / 1000, 1)

            baseline_rss, baseline_hwm = _rss(server), server.peak_rss()
            witnesses = []
            for n in range(CLIENTS):
                size = BLOB_BYTES + rng.randint(-BLOB_SPREAD, BLOB_SPREAD)
                cut = None
                if n % CUT_EVERY == 0:
                    cut = Cut(rng.randrange(size // PATCH_BYTES), rng.randint(4 << 10, 48 << 10))
                witnesses.append(Witness(rng.randbytes(size), proxy.link(cut)))
            start = threading.Barrier(CLIENTS + 1)
            threads: list[threading.Thread] = []
            results: dict[int, Witness | BaseException] = {}

            def run(n: int) -> None:
                try:
                    results[n] = _upload(witnesses[n], start)
                except BaseException as exc:
                    results[n] = exc

            with _Watch(server) as watch:
                for n in range(CLIENTS):
                    threads.append(threading.Thread(target=run, args=(n,), daemon=True))
                    threads[-1].start()
                start.wait(DEADLINE)
                began = time.monotonic()
                for thread in threads:
                    thread.join(max(0.0, began + DEADLINE - time.monotonic()))
                wall = time.monotonic() - began
            assert all(not thread.is_alive() for thread in threads), "the load did not end"
            failed = {n: r for n, r in results.items() if isinstance(r, BaseException)}
            assert not failed, f"uploads failed: {failed}"
            assert not proxy.errors, proxy.errors
            peak_hwm = server.peak_rss()

            # Every upload is complete, as the blob the client declared.
            for witness in witnesses:
                head = _finished(direct, witness)
                assert head.headers["upload-offset"] == head.headers["upload-length"]
                assert int(head.headers["upload-offset"]) == len(witness.data)
                assert "upload-expires" not in head.headers  # finished
                stored = _stored(data_dir, witness.blob)
                assert hashlib.sha256(stored).hexdigest() == witness.blob
                assert stored == witness.data
            assert blob_store_problems(data_dir) == []
            assert not any((data_dir / "blobs" / "partial").iterdir())

            # No errors: no 5xx; a cut link, and only that, failed once and resumed.
            statuses = [s for w in witnesses for _, s in w.statuses]
            assert not [s for s in statuses if s >= 500]
            retried = [s for s in statuses if s in (409, 423)]
            assert set(statuses) <= {200, 201, 204, 409, 423}, sorted(set(statuses))
            cut, kept, lost = [], [], []
            for witness in witnesses:
                if witness.link.cut is None:
                    assert witness.failures == 0 and not witness.resumed
                    assert {s for _, s in witness.statuses} <= {200, 201, 204}
                    continue
                cut.append(witness)
                assert witness.link.cut.done.is_set() and witness.failures == 1
                assert witness.resumed and witness.link.connections >= 2
                acknowledged, given = witness.acknowledged_at_cut, witness.link.cut.body_bytes
                assert acknowledged == witness.link.cut.patch * PATCH_BYTES
                # The server keeps what it was given of the cut PATCH (not more).
                assert acknowledged <= witness.resumed_from <= acknowledged + given
                kept.append(witness.resumed_from - acknowledged)
                lost.append(acknowledged + given - witness.resumed_from)

            # Bounded memory, fair progress, a server that still answers.
            times = sorted(w.seconds for w in witnesses)
            median = statistics.median(times)
            figures |= {
                "uploads": len(witnesses),
                "cut_and_resumed": len(cut),
                "answers": len(statuses),
                "answers_409_423": len(retried),
                "bytes_lost_per_cut_min_max": (min(lost), max(lost)),
                "bytes_kept_of_cut_patch_min_max": (min(kept), max(kept)),
                "wall_seconds": round(wall, 2),
                "client_seconds_min_median_max": (
                    round(times[0], 2),
                    round(median, 2),
                    round(times[-1], 2),
                ),
                "uncut_seconds_max": round(
                    max(w.seconds for w in witnesses if w.link.cut is None), 2
                ),
                "cut_seconds_max": round(max(w.seconds for w in cut), 2),
                "rss_baseline_MiB": round(baseline_rss / 2**20, 1),
                "rss_peak_sampled_MiB": round(watch.rss_peak / 2**20, 1),
                "vmhwm_before_after_MiB": (
                    round(baseline_hwm / 2**20, 1),
                    round(peak_hwm / 2**20, 1),
                ),
                "healthz_probes": len(watch.health),
                "healthz_seconds_median_max": (
                    round(statistics.median(watch.health), 3),
                    round(max(watch.health), 3),
                ),
            }
            for name, value in figures.items():
                record_property(name, value)
            print("\nslow clients:", figures)
            assert watch.rss_peak <= baseline_rss + RSS_GROWTH_BOUND
            assert peak_hwm <= baseline_hwm + RSS_GROWTH_BOUND
            assert times[-1] <= FAIRNESS * median, figures
            assert watch.health and set(watch.health_statuses) == {200}
            assert max(watch.health) < HEALTH_BOUND, figures
    finally:
        printed = server.stop()
    assert "Traceback" not in printed
