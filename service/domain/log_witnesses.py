"""The server as a witness client (docs/protocol.md §13; C2SP ``tlog-witness``).

A *log witness* (not a person giving testimony: a service that vouches for
the log) is configured by the organisation as ``<submission prefix>=<verifier
key>``, the key of type ``0x04`` (``crypto/cosignature.py``). The server sends
it the log's checkpoints::

    POST <submission prefix>/add-checkpoint

    old <size the witness last cosigned, 0 at first>
    <base64 consistency proof hash, one a line, none if old is 0 or the size>

    <the checkpoint note>

and keeps the cosignature line it answers once it verifies against the
configured key. ``GET /api/v1/log/checkpoint`` serves the newest checkpoint
with the cosignatures kept for exactly that note (:func:`with_cosignatures`),
so a line of an older checkpoint is never shown under a newer one.

**Which checkpoint is sent.** A cosignature carries the witness's own time in
seconds, and a witness sees when each checkpoint reaches it. Sending each
new checkpoint at once would tell the witness, and everyone the cosignature
is served to, when the entries behind it arrived, to the second: exactly what
the floored times of §9 keep from the record. So the server sends only the
newest *settled* checkpoint: the newest whose time granule has ended (its
``time`` line is before the current granule). It is the last checkpoint of
its granule, which the log shows anyway, and its cosignature's time says no
more than that. A checkpoint is cosigned one granule (plus an interval) after
it is signed at the latest; the newest checkpoint is served at once, with its
cosignatures when it has them.

**Bounded.** One round every ``interval`` seconds at most; one request in
flight per witness; a timeout on each request; answers of at most
:data:`MAX_ANSWER_BYTES`. A ``409`` with a ``text/x.tlog.size`` body corrects
``old`` and is retried once at once; any other failure (a refusal, a
timeout, garbage, a cosignature that does not verify) is logged at WARNING
with the witness's URL and retried after a backoff that doubles up to
:data:`MAX_BACKOFF_SECONDS`. No request concerns a client, so no log line can
name one.

**One process pushes.** Every server process of a data directory runs a
:class:`LogWitnessPusher`, but only the one that holds an exclusive ``flock``
on ``<data dir>/log-witnesses.lock`` (:class:`PushLock`) sends anything; the
others try for the lock each interval, so one takes over within an interval
of the holder's exit. Cosignatures are kept in the store
(``store/cosignatures.py``), where every process reads them and a restart
finds them.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from testimony.crypto import checkpoint as checkpoints
from testimony.crypto import cosignature, note
from testimony.crypto.errors import CryptoError
from testimony.service.store.cosignatures import CosignatureTable
from testimony.service.store.log import LogStore, StoredCheckpoint

from .clock import Clock, Granularity
from .errors import BadSettings

__all__ = [
    "MAX_ANSWER_BYTES",
    "MAX_BACKOFF_SECONDS",
    "MAX_LOG_WITNESSES",
    "LogWitness",
    "LogWitnessPusher",
    "PushLock",
    "add_checkpoint_body",
    "parse_log_witness",
    "with_cosignatures",
]

log = logging.getLogger(__name__)

MAX_LOG_WITNESSES = 32
"""Most log witnesses an organisation may configure (a note holds at most
100 signature lines)."""
MAX_ANSWER_BYTES = 64 << 10
"""The largest answer read from a witness; a longer one is garbage."""
MAX_BACKOFF_SECONDS = 600
"""The longest wait before a failed witness is tried again."""
SIZE_MEDIA_TYPE = "text/x.tlog.size"
_MAX_SIZE_DIGITS = 20


@dataclass(frozen=True)
class LogWitness:
    """A configured log witness: its submission prefix and its cosigning key."""

    url: str
    key: cosignature.CosignerKey

    @property
    def id(self) -> str:
        """``<key name>+<hex key ID>``: how its cosignatures are kept."""
        return f"{self.key.name}+{self.key.key_id.hex()}"

    @property
    def endpoint(self) -> str:
        """``<submission prefix>/add-checkpoint``."""
        return self.url + "/add-checkpoint"


def parse_log_witness(text: str) -> LogWitness:
    """A log witness from ``<submission prefix>=<verifier key>`` (the setting's form).

    The prefix is an ``http`` or ``https`` URL without query, fragment or
    credentials (a trailing ``/`` is dropped); the key a cosigner verifier key
    of type ``0x04``. Raises :class:`BadSettings` otherwise; the message
    quotes neither.
    """
    if not isinstance(text, str):
        raise BadSettings("a log witness is <URL>=<verifier key>")
    url, equals, key_text = text.strip().partition("=")
    if not equals:
        raise BadSettings("a log witness is <URL>=<verifier key>")
    parts = urlsplit(url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username is not None
        or any(ch.isspace() for ch in url)
    ):
        raise BadSettings(
            "a log witness's URL is http(s)://host[/path], without query, fragment or credentials"
        )
    try:
        key = cosignature.parse_cosigner_key(key_text)
    except CryptoError:
        raise BadSettings(
            "a log witness's key is <name>+<hex key ID>+<base64(0x04 || Ed25519 key)>"
        ) from None
    return LogWitness(url.rstrip("/"), key)


def add_checkpoint_body(old: int, proof: Sequence[bytes], checkpoint_note: str) -> bytes:
    """The body of ``POST add-checkpoint``: the old size line, the proof's
    hashes in base64, an empty line, the checkpoint (C2SP ``tlog-witness``)."""
    lines = [f"old {old}\n", *(base64.b64encode(h).decode("ascii") + "\n" for h in proof)]
    return ("".join(lines) + "\n" + checkpoint_note).encode("utf-8")


def with_cosignatures(checkpoint_note: str, lines: Sequence[str]) -> str:
    """``checkpoint_note`` with the cosignature ``lines`` below its own signature."""
    if not lines:
        return checkpoint_note
    return cosignature.add(checkpoint_note, lines)


class PushLock:
    """An exclusive, non-blocking ``flock`` on a file: held by one process at a
    time, released when it closes the file or exits (however it exits)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Whether this process holds the lock (taking it if it is free)."""
        if self._fd is not None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Let go of the lock (nothing if it is not held)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _Failed(Exception):
    """A witness's answer that gives no cosignature: the reason, for the log."""


@dataclass
class _State:
    """What the pusher knows of one witness."""

    old: int | None = None
    """The size the witness last cosigned, once read from the store or a 409."""
    failures: int = 0
    not_before: float = 0.0
    """``time.monotonic()`` before which the witness is not tried again."""
    busy: concurrent.futures.Future[None] | None = None


class LogWitnessPusher:
    """Sends settled checkpoints to the configured log witnesses and keeps
    their cosignatures (see the module docstring). :meth:`start` runs it on a
    thread of its own; :meth:`push_once` runs one round (for tests)."""

    def __init__(
        self,
        witnesses: Sequence[LogWitness],
        *,
        log_store: LogStore,
        cosignatures: CosignatureTable,
        lock: PushLock,
        clock: Clock,
        granularity: Granularity,
        interval_seconds: float,
        timeout_seconds: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._witnesses = list(witnesses)
        self._log = log_store
        self._cosignatures = cosignatures
        self._lock = lock
        self._clock = clock
        self._granularity = granularity
        self._interval = interval_seconds
        self._timeout = timeout_seconds
        self._states = {w.id: _State() for w in self._witnesses}
        self._settled: tuple[int, StoredCheckpoint | None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, len(self._witnesses)), thread_name_prefix="log-witness"
        )
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=False,
            trust_env=False,
            transport=transport,
            # Raw bytes are counted against MAX_ANSWER_BYTES: nothing compressed.
            headers={"User-Agent": "testimony", "Accept-Encoding": "identity"},
        )

    # --- running ---------------------------------------------------------------------

    def start(self) -> None:
        """Run rounds every interval on a daemon thread until :meth:`stop`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="log-witnesses", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the rounds, wait for the requests in flight (each has its
        timeout), let go of the lock."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._pool.shutdown(wait=True)
        self._http.close()
        self._lock.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.push_once()
            except Exception:
                # A round that fails (the database away for a moment) is tried
                # again next interval; the checkpoint route does not depend on it.
                log.warning("the round of log witnesses failed; trying again", exc_info=True)
            self._stop.wait(self._interval)

    def push_once(self, *, wait: bool = False) -> bool:
        """One round: if this process holds the lock, start a request to each
        witness that is idle, not backing off and lacks the cosignature of the
        settled checkpoint. ``wait`` waits for those requests. Returns whether
        this process holds the lock."""
        if not self._lock.acquire():
            return False
        target = self._settled_checkpoint()
        if target is None:
            return True
        started = []
        now = time.monotonic()
        for witness in self._witnesses:
            state = self._states[witness.id]
            if state.busy is not None and not state.busy.done():
                continue
            if now < state.not_before:
                continue
            if state.old is None:
                state.old = self._cosignatures.latest_size(witness.id)
            if state.old >= target.size and self._cosignatures.lines(target.size, [witness.id]):
                continue
            state.busy = self._pool.submit(self._push, witness, state, target)
            started.append(state.busy)
        if wait:
            concurrent.futures.wait(started)
        return True

    # --- choosing the checkpoint -------------------------------------------------------

    def _settled_checkpoint(self) -> StoredCheckpoint | None:
        """The newest checkpoint whose time is before the current granule
        (cached for the granule: no later checkpoint can join it)."""
        granule = self._granularity.floor(self._clock.now())
        key = int(granule.timestamp())
        if self._settled is not None and self._settled[0] == key:
            return self._settled[1]
        found = None
        for stored in self._cosignatures.checkpoints_newest_first():
            if checkpoints.parse(stored.note).time < granule:
                found = stored
                break
        self._settled = (key, found)
        return found

    # --- one witness -------------------------------------------------------------------

    def _push(self, witness: LogWitness, state: _State, target: StoredCheckpoint) -> None:
        try:
            line = self._exchange(witness, state, target)
        except _Failed as failure:
            state.failures += 1
            delay = min(
                self._interval * 2**state.failures, max(self._interval, MAX_BACKOFF_SECONDS)
            )
            state.not_before = time.monotonic() + delay
            log.warning(
                "log witness %s: %s; trying again in %d s", witness.url, failure, round(delay)
            )
            return
        except Exception:
            state.failures += 1
            state.not_before = time.monotonic() + MAX_BACKOFF_SECONDS
            log.warning("log witness %s: the exchange failed", witness.url, exc_info=True)
            return
        self._cosignatures.add(target.size, witness.id, line)
        state.old = target.size
        state.failures = 0
        state.not_before = 0.0

    def _exchange(self, witness: LogWitness, state: _State, target: StoredCheckpoint) -> str:
        """Send ``target``; return the verified cosignature line. Raises
        :class:`_Failed` with the reason."""
        old = state.old or 0
        for attempt in (1, 2):
            if old > target.size:
                raise _Failed(f"it has cosigned size {old}, beyond the settled checkpoint")
            proof = (
                []
                if old in (0, target.size)
                else self._log.consistency_proof(old, target.size).path
            )
            status, media_type, body = self._post(
                witness, add_checkpoint_body(old, proof, target.note)
            )
            if status == 200:
                return self._cosignature_line(witness, target.note, body)
            if status == 409 and media_type == SIZE_MEDIA_TYPE:
                size = _parse_size(body)
                if size == old:
                    # The sizes agree, so the roots do not (C2SP): the witness
                    # holds another tree of that size.
                    raise _Failed(f"answered 409: it cosigned another tree of size {size}")
                if size is not None and attempt == 1:
                    old = state.old = size
                    continue
            raise _Failed(f"answered {status}")
        raise _Failed("answered 409 twice")  # pragma: no cover - the loop raises or returns

    def _post(self, witness: LogWitness, body: bytes) -> tuple[int, str, bytes]:
        """``(status, media type, body of at most MAX_ANSWER_BYTES)``. Raises
        :class:`_Failed` for a transport error, a timeout or a longer body."""
        deadline = time.monotonic() + 2 * self._timeout
        try:
            with self._http.stream("POST", witness.endpoint, content=body) as answer:
                received = bytearray()
                for part in answer.iter_raw():
                    received += part
                    if len(received) > MAX_ANSWER_BYTES:
                        raise _Failed(f"answered more than {MAX_ANSWER_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise _Failed("took too long to answer")
                media_type = answer.headers.get("content-type", "").split(";")[0].strip().lower()
                return answer.status_code, media_type, bytes(received)
        except httpx.TimeoutException:
            raise _Failed("timed out") from None
        except httpx.HTTPError as exc:
            raise _Failed(f"could not be reached ({type(exc).__name__})") from None

    @staticmethod
    def _cosignature_line(witness: LogWitness, checkpoint_note: str, body: bytes) -> str:
        """The witness's line of a ``200`` answer, verified. Lines of other
        keys are ignored (C2SP); raises :class:`_Failed` if none is its, or it
        does not verify."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _Failed("answered a body that is not UTF-8") from None
        if not text.endswith("\n") or not text.strip():
            raise _Failed("answered no signature lines")
        lines = text[:-1].split("\n")
        if any(not line.startswith(note.SIGNATURE_PREFIX) for line in lines):
            raise _Failed("answered something other than signature lines")
        mine = [
            line + "\n"
            for line in lines
            if line[len(note.SIGNATURE_PREFIX) :].partition(" ")[0] == witness.key.name
        ]
        if not mine:
            raise _Failed("answered no cosignature by its key")
        try:
            cosigned = cosignature.add(checkpoint_note, mine)
            if not cosignature.cosignatures(cosigned, [witness.key]):
                raise _Failed("answered no cosignature by its key")
        except CryptoError:
            raise _Failed("answered a cosignature that does not verify with its key") from None
        for signature in note.parse_note(cosigned).signatures:
            if signature.key_name == witness.key.name and signature.key_hash == witness.key.key_id:
                return signature.line()
        raise _Failed("answered no cosignature by its key")  # pragma: no cover - found above


def _parse_size(body: bytes) -> int | None:
    """The tree size of a ``text/x.tlog.size`` body (decimal, a newline), or None."""
    with contextlib.suppress(UnicodeDecodeError):
        text = body.decode("ascii")
        digits = text[:-1] if text.endswith("\n") else text
        if (
            digits.isdigit()
            and len(digits) <= _MAX_SIZE_DIGITS
            and (digits == "0" or digits[0] != "0")
        ):
            return int(digits)
    return None
