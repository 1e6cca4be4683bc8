"""A C2SP ``tlog-witness`` (https://c2sp.org/tlog-witness) for Testimony logs
(docs/protocol.md §13, docs/monitor.md).

The witness knows each log it vouches for by its origin and pinned verifier
key(s), keeps the latest checkpoint it cosigned for each, and serves one
route, ``POST /add-checkpoint``, whose body is::

    old <size the client believes the witness has>
    <consistency proof: one base64 hash a line, at most 63>
    <empty line>
    <the signed checkpoint>

It answers as the specification says, in this order of checks:

=====  ====================================================================
400    the body is malformed (no ``old`` line, a proof line that is not one
       base64 hash, no empty line, a note that is not a checkpoint of the
       protocol), ``old`` is above the checkpoint's size, or a proof is sent
       from size 0
404    the checkpoint's origin is no log the witness knows
403    no signature by a pinned key of that log verifies
409    ``old`` is not the size of the latest checkpoint it cosigned (0 if
       none); the body is that size and a newline, ``text/x.tlog.size``.
       Also for a checkpoint of that same size with another root: a fork
422    the consistency proof from its latest checkpoint does not verify
200    one cosignature line (``cosignature/v1``, ``text/plain``)
=====  ====================================================================

The new latest checkpoint is written to disk (fsync and rename) before the
cosignature is made, under one lock with the check of ``old``: a crash can
lose an answer, never the record of what was cosigned, so the witness never
cosigns two trees that are not consistent. A request refused for a bad proof
or a same-size fork, whose log signature verified, is kept as evidence.

Errors are one line of plain text, as ``tlog-witness`` has them; this is not
the Testimony API, and its problem documents do not apply.

State folder::

    lock                          held while the witness runs
    logs/<hex SHA-256(origin)>.json   the latest cosigned checkpoint of a log:
                                  {"origin", "size", "root", "cosigned_at", "note"}
    evidence/<time>-<origin hash>-<size>.json
                                  a refused request whose log signature verified

The witness's key file is one line, like a signed note's signer key but of
type ``0x04``: ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 || 32-byte
Ed25519 seed)>``, mode 0600 (:func:`new_key`, :func:`load_key`).
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from testimony.crypto import checkpoint as checkpoints
from testimony.crypto import cosignature, merkle
from testimony.crypto import note as notes
from testimony.crypto.encoding import b64_decode, b64_encode, hex_decode, sha256
from testimony.crypto.errors import (
    CryptoError,
    MalformedInput,
    NoteFormatError,
    NoteSignatureError,
    OriginMismatchError,
    ProofError,
    UnknownKeyError,
)

from .files import private_folder, write_atomic

__all__ = [
    "MAX_BODY",
    "MAX_EVIDENCE",
    "MAX_PROOF_LINES",
    "READ_SECONDS",
    "SIZE_TYPE",
    "Answer",
    "Latest",
    "Witness",
    "WitnessError",
    "create_app",
    "load_key",
    "new_key",
    "parse_listen",
    "parse_log",
    "parse_request",
    "serve",
]

MAX_BODY = 64 * 1024
"""The largest request body read, in bytes (a proof of 63 lines and a note
with many cosignatures are a few KiB)."""
READ_SECONDS = 10.0
"""Seconds a client has to send the whole body."""
MAX_PROOF_LINES = 63
"""Consistency proof lines a request may carry (tlog-witness)."""
MAX_EVIDENCE = 1000
"""Refused requests kept as evidence, at most (the first ones are kept)."""
SIZE_TYPE = "text/x.tlog.size"
"""The media type of a 409 answer: the witness's size and a newline."""
TEXT_TYPE = "text/plain; charset=utf-8"
_KEY_PREFIX = "PRIVATE+KEY+"
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})", re.ASCII)


class WitnessError(Exception):
    """The witness cannot start: a bad key file, log, address or state folder."""

    code = "witness-error"


# --- the witness's key ------------------------------------------------------------------


def new_key(name: str, out: Path) -> cosignature.CosignerSigner:
    """A new witness key named ``name``, written to ``out`` (created, mode 0600;
    an existing file is never replaced: :class:`WitnessError`)."""
    try:
        signer = cosignature.CosignerSigner(name, Ed25519PrivateKey.generate())
        key = signer.key
    except MalformedInput:
        raise WitnessError("a witness's name is non-empty, without spaces or '+'") from None
    seed = signer.private_key.private_bytes_raw()
    line = f"{_KEY_PREFIX}{name}+{key.key_id.hex()}+{b64_encode(bytes([0x04]) + seed)}\n"
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise WitnessError(f"{out} exists already; a witness key is never replaced") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
    return signer


def load_key(path: Path) -> cosignature.CosignerSigner:
    """The witness key in ``path`` (see the module docstring). Raises
    :class:`WitnessError` if others may read it or it is not one such key; the
    message never repeats the file's content."""
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise WitnessError(f"{path} may be read by others; make it private (chmod 600)")
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    malformed = WitnessError(f"{path} is not a witness key (PRIVATE+KEY+<name>+<id>+<key>)")
    if not text.startswith(_KEY_PREFIX):
        raise malformed
    parts = text[len(_KEY_PREFIX) :].split("+", 2)
    if len(parts) != 3:
        raise malformed
    name, id_hex, seed_b64 = parts
    try:
        typed = b64_decode(seed_b64)
        if len(typed) != 33 or typed[0] != cosignature.COSIGNATURE_TYPE:
            raise malformed
        signer = cosignature.CosignerSigner(name, Ed25519PrivateKey.from_private_bytes(typed[1:]))
        if signer.key.key_id != hex_decode(id_hex, 4):
            raise malformed
    except MalformedInput:
        raise malformed from None
    return signer


# --- what the witness is told on its command line -----------------------------------------


def parse_log(spec: str) -> tuple[str, str]:
    """``ORIGIN=VKEY`` as ``(origin, verifier key)``; raises :class:`WitnessError`."""
    origin, equals, vkey = spec.partition("=")
    try:
        if not equals or not origin or origin != origin.strip():
            raise MalformedInput("no origin")
        notes.parse_verifier_key(vkey.strip())
    except MalformedInput:
        raise WitnessError("a log is given as ORIGIN=VKEY (the log's verifier key)") from None
    return origin, vkey.strip()


def parse_listen(spec: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as ``(host, port)``; port 0 picks a free one."""
    host, colon, port = spec.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise WitnessError("--listen is HOST:PORT, such as 127.0.0.1:7380")
    return host, int(port)


# --- a request ------------------------------------------------------------------------


class _Malformed(ValueError):
    """The request body is not what tlog-witness describes (the message says how)."""


def parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    """``(old size, consistency proof, checkpoint note)`` of an ``add-checkpoint``
    body. Raises ``ValueError`` (with a one-line reason) if it is malformed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Malformed("the request is not UTF-8") from None
    head, newline, rest = text.partition("\n")
    if not newline or _OLD.fullmatch(head) is None:
        raise _Malformed("the request starts with an 'old <size>' line")
    old = int(head[4:])
    if old > checkpoints.MAX_TREE_SIZE:
        raise _Malformed("the old size fits in 64 bits")
    proof: list[bytes] = []
    while True:
        line, newline, rest = rest.partition("\n")
        if not newline:
            raise _Malformed("the request has an empty line before the checkpoint")
        if line == "":
            return old, proof, rest
        if len(proof) == MAX_PROOF_LINES:
            raise _Malformed(f"a consistency proof has at most {MAX_PROOF_LINES} lines")
        try:
            node = b64_decode(line)
        except MalformedInput:
            node = b""
        if len(node) != checkpoints.ROOT_HASH_BYTES:
            raise _Malformed("a consistency proof line is one base64 SHA-256 hash")
        proof.append(node)


# --- the witness ------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What ``add-checkpoint`` answers: status, body, media type."""

    status: int
    body: str
    content_type: str = TEXT_TYPE


@dataclass(frozen=True)
class Latest:
    """The latest checkpoint the witness cosigned for a log."""

    origin: str
    size: int
    root: bytes
    cosigned_at: int
    note: str

    def to_json(self) -> bytes:
        record = {
            "origin": self.origin,
            "size": self.size,
            "root": b64_encode(self.root),
            "cosigned_at": self.cosigned_at,
            "note": self.note,
        }
        return json.dumps(record, indent=1).encode("utf-8") + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Latest:
        record = json.loads(data)
        latest = cls(
            str(record["origin"]),
            int(record["size"]),
            b64_decode(record["root"]),
            int(record["cosigned_at"]),
            str(record["note"]),
        )
        if len(latest.root) != checkpoints.ROOT_HASH_BYTES:
            raise ValueError("not a root hash")
        return latest


class Witness:
    """The witness's rules over its state folder (see the module docstring).

    ``logs`` maps each origin to its pinned verifier keys (a log rotating its
    key may have two); ``clock`` gives POSIX seconds. The state is read once,
    here: a state file that does not read is an error, never a fresh start
    (which would let a log fork past the witness). Thread-safe:
    :meth:`add_checkpoint` holds one lock from the check of ``old`` to the
    record of the new checkpoint.
    """

    def __init__(
        self,
        signer: cosignature.CosignerSigner,
        logs: Mapping[str, Sequence[str]],
        state: Path,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signer = signer
        self.logs = {origin: list(keys) for origin, keys in logs.items()}
        self.clock = clock
        self._folder = private_folder(state / "logs")
        self._evidence = state / "evidence"
        self._lock = threading.Lock()
        self._latest: dict[str, Latest] = {}
        for origin in self.logs:
            path = self._path(origin)
            if not path.exists():
                continue
            try:
                latest = Latest.from_json(path.read_bytes())
            except (ValueError, KeyError, TypeError, CryptoError):
                raise WitnessError(f"{path} does not read as a witness's state") from None
            if latest.origin != origin:
                raise WitnessError(f"{path} is the state of another log")
            self._latest[origin] = latest

    def _path(self, origin: str) -> Path:
        return self._folder / (sha256(origin.encode("utf-8")).hex() + ".json")

    def latest(self, origin: str) -> Latest | None:
        """The latest checkpoint cosigned for ``origin``, or None."""
        with self._lock:
            return self._latest.get(origin)

    def add_checkpoint(self, body: bytes) -> Answer:
        """Answer one ``add-checkpoint`` request body (see the module docstring)."""
        try:
            old, proof, note = parse_request(body)
        except _Malformed as error:
            return Answer(400, f"{error}\n")
        try:
            text = notes.parse_note(note).text
        except CryptoError:
            return Answer(400, "the checkpoint is not a signed note\n")
        origin = text.split("\n", 1)[0]
        keys = self.logs.get(origin)
        if not keys:
            return Answer(404, "the witness knows no log of that origin\n")
        checkpoint = None
        for key in keys:
            try:
                checkpoint = checkpoints.verify(note, key, origin=origin)
                break
            except (UnknownKeyError, NoteSignatureError):
                continue
            except (NoteFormatError, OriginMismatchError):
                return Answer(400, "the note is not a checkpoint of a Testimony log\n")
        if checkpoint is None:
            return Answer(403, "no signature by the log's key verifies\n")
        if old > checkpoint.size:
            return Answer(400, "the old size is above the checkpoint's size\n")
        with self._lock:
            return self._extend(origin, old, proof, note, checkpoint)

    def _extend(
        self,
        origin: str,
        old: int,
        proof: list[bytes],
        note: str,
        checkpoint: checkpoints.Checkpoint,
    ) -> Answer:
        latest = self._latest.get(origin)
        have = latest.size if latest is not None else 0
        if old != have:
            return Answer(409, f"{have}\n", SIZE_TYPE)
        if latest is not None and checkpoint.size == latest.size:
            if checkpoint.root != latest.root:
                self._keep(latest, note, old, proof, "another root at the size cosigned: a fork")
                return Answer(409, f"{have}\n", SIZE_TYPE)
            if proof:
                return Answer(422, "the consistency proof between equal sizes is empty\n")
        elif old == 0:
            if proof:
                return Answer(400, "a consistency proof from size 0 is empty\n")
        else:
            assert latest is not None
            try:
                merkle.verify_consistency(old, checkpoint.size, latest.root, checkpoint.root, proof)
            except ProofError:
                self._keep(latest, note, old, proof, "the consistency proof does not verify")
                return Answer(422, "the consistency proof does not verify\n")
        now = max(int(self.clock()), latest.cosigned_at if latest is not None else 0)
        new = Latest(origin, checkpoint.size, checkpoint.root, now, note)
        try:
            write_atomic(self._path(origin), new.to_json())
        except OSError:
            return Answer(500, "the witness could not record the checkpoint; it cosigned nothing\n")
        self._latest[origin] = new
        return Answer(200, cosignature.cosign(note, self.signer, now))

    def _keep(self, latest: Latest, note: str, old: int, proof: list[bytes], why: str) -> None:
        """Keep a refused request whose log signature verified: it may prove the
        log misbehaved (tlog-witness allows it; the first :data:`MAX_EVIDENCE`)."""
        try:
            folder = private_folder(self._evidence)
            if sum(1 for _ in folder.iterdir()) >= MAX_EVIDENCE:
                return
            at = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            name = f"{at}-{sha256(latest.origin.encode()).hex()[:16]}-{old}.json"
            record: dict[str, Any] = {
                "why": why,
                "witness": str(self.signer.key),
                "cosigned": latest.note,
                "old": old,
                "proof": [b64_encode(node) for node in proof],
                "refused": note,
            }
            write_atomic(folder / name, json.dumps(record, indent=1).encode("utf-8") + b"\n")
        except OSError:
            return  # evidence is kept when it can be; the refusal stands either way


# --- HTTP -----------------------------------------------------------------------------


def create_app(
    witness: Witness, *, max_body: int = MAX_BODY, read_seconds: float = READ_SECONDS
) -> Starlette:
    """The witness's ASGI application: ``POST /add-checkpoint`` and nothing else.

    A body above ``max_body`` bytes is refused with 413 before it is read
    further; one not sent whole within ``read_seconds``, with 408. The rules
    run in a worker thread (they fsync), one request at a time.
    """

    async def add_checkpoint(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_body):
            return _plain(413, "the request is too large\n")
        chunks: list[bytes] = []
        size = 0
        try:
            with anyio.fail_after(read_seconds):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > max_body:
                        return _plain(413, "the request is too large\n")
                    chunks.append(chunk)
        except TimeoutError:
            return _plain(408, "the request was not sent in time\n")
        except ClientDisconnect:
            return _plain(400, "the request was cut short\n")
        answer = await anyio.to_thread.run_sync(witness.add_checkpoint, b"".join(chunks))
        return _plain(answer.status, answer.body, answer.content_type)

    return Starlette(routes=[Route("/add-checkpoint", add_checkpoint, methods=["POST"])])


def _plain(status: int, body: str, content_type: str = TEXT_TYPE) -> Response:
    # The media type exactly as given: `text/x.tlog.size` takes no charset.
    return Response(
        body.encode("utf-8"),
        status_code=status,
        headers={"Content-Type": content_type, "Cache-Control": "no-store"},
    )


def serve(
    witness: Witness,
    host: str,
    port: int,
    *,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``witness`` on ``host:port`` until SIGINT or SIGTERM; ``ready(url)``
    once listening (with the real port when ``port`` is 0).

    uvicorn with h11 (headers bounded to 16 KiB), no access log (it would
    hold clients' addresses), at most 64 connections, 5 s keep-alive.
    """
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family, backlog=64)
    except OSError as error:
        raise WitnessError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.set_inheritable(True)
    config = uvicorn.Config(
        create_app(witness),
        http="h11",
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
        limit_concurrency=64,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=2,
        h11_max_incomplete_event_size=16 * 1024,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    if ready is not None:
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        original = server.startup

        async def startup(sockets: list[socket.socket] | None = None) -> None:
            await original(sockets=sockets)
            ready(f"http://{shown}:{bound}")

        server.startup = startup  # type: ignore[method-assign]
    server.run(sockets=[sock])
