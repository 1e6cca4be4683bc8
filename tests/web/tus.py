"""A minimal in-memory tus 1.0 endpoint (creation, HEAD, PATCH) for the
browser tests of ``uploadBlob`` (docs/protocol.md §6). It records what the client
sent, and can drop the connection once in the middle of a PATCH so that the
test sees the client resume from the last acknowledged byte.

It also answers ``GET /api/v1/pow?length=`` (§8) with ``pow_bits`` and, when
they are above 0, checks the ``pow <base64 of "<challenge>:<nonce>">`` member of
each creation's metadata as the real server does: a challenge it issued,
spent once, solved to its bits. ``refuse_next_pow`` answers the next creation
with that 403 problem code instead (a challenge that expired meanwhile)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import itertools
import json
import os
import threading
import urllib.parse
from dataclasses import dataclass, field

from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.pow import leading_zero_bits

PREFIX = "/api/v1/uploads/"
POW = "/api/v1/pow"


@dataclass
class Upload:
    length: int
    metadata: dict[str, str]
    data: bytearray = field(default_factory=bytearray)
    patches: list[int] = field(default_factory=list)  # Upload-Offset of each PATCH


class TusServer:
    """Uploads by id; ``drop_after`` makes the next PATCH stop after that many bytes."""

    def __init__(self) -> None:
        self.uploads: dict[str, Upload] = {}
        self.drop_after: int | None = None
        self.pow_bits = 0
        self.pow_lengths: list[int | None] = []  # the `length` of each challenge asked for
        self.refuse_next_pow: str | None = None
        self.refused: list[str] = []
        self._issued: dict[str, int] = {}  # challenge -> bits, until spent
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def route(self, handler: http.server.BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if method == "GET" and path == POW:
            self._challenge(handler)
            return True
        if not path.startswith(PREFIX):
            return False
        upload_id = path[len(PREFIX) :]
        with self._lock:
            if method == "POST" and not upload_id:
                self._create(handler)
            elif method == "HEAD" and upload_id in self.uploads:
                upload = self.uploads[upload_id]
                self._reply(
                    handler,
                    200,
                    {"Upload-Offset": str(len(upload.data)), "Upload-Length": str(upload.length)},
                )
            elif method == "PATCH" and upload_id in self.uploads:
                self._patch(handler, self.uploads[upload_id])
            else:
                self._reply(handler, 404, {})
        return True

    def _challenge(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(handler.path).query)
        with self._lock:
            self.pow_lengths.append(int(query["length"][0]) if "length" in query else None)
            challenge = b64u_encode(os.urandom(42))
            self._issued[challenge] = self.pow_bits
        body = json.dumps(
            {"challenge": challenge, "bits": self.pow_bits, "expires": "2099-01-01T00:00:00Z"}
        ).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Cache-Control", "no-store")
        handler.end_headers()
        handler.wfile.write(body)

    def _pow_refusal(self, metadata: dict[str, str]) -> str | None:
        """The 403 code a creation with this metadata earns, or None."""
        if self.pow_bits == 0:
            return None
        if self.refuse_next_pow is not None:
            code, self.refuse_next_pow = self.refuse_next_pow, None
            return code
        if "pow" not in metadata:
            return "pow-required"
        challenge, _, nonce = metadata["pow"].partition(":")
        bits = self._issued.pop(challenge, None)
        if bits is None:
            return "pow-invalid"
        digest = hashlib.sha256(b64u_decode(challenge) + b64u_decode(nonce)).digest()
        return None if leading_zero_bits(digest) >= bits else "pow-insufficient"

    def _create(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        metadata = {}
        for pair in filter(None, handler.headers.get("Upload-Metadata", "").split(",")):
            key, _, value = pair.strip().partition(" ")
            metadata[key] = base64.b64decode(value, validate=True).decode("utf-8")
        refusal = self._pow_refusal(metadata)
        if refusal is not None:
            self.refused.append(refusal)
            body = json.dumps({"code": refusal, "status": 403}).encode()
            handler.send_response(403)
            handler.send_header("Tus-Resumable", "1.0.0")
            handler.send_header("Content-Type", "application/problem+json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        upload_id = str(next(self._ids))
        self.uploads[upload_id] = Upload(int(handler.headers["Upload-Length"]), metadata)
        self._reply(handler, 201, {"Location": PREFIX + upload_id})

    def _patch(self, handler: http.server.BaseHTTPRequestHandler, upload: Upload) -> None:
        offset = int(handler.headers["Upload-Offset"])
        length = int(handler.headers["Content-Length"])
        upload.patches.append(offset)
        if offset != len(upload.data):
            self._reply(handler, 409, {})
            return
        if self.drop_after is not None and self.drop_after < length:
            # Keep what arrived before the cut, then close without an answer.
            upload.data += handler.rfile.read(self.drop_after)
            self.drop_after = None
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        upload.data += handler.rfile.read(length)
        self._reply(handler, 204, {"Upload-Offset": str(len(upload.data))})

    @staticmethod
    def _reply(
        handler: http.server.BaseHTTPRequestHandler, status: int, headers: dict[str, str]
    ) -> None:
        handler.send_response(status)
        handler.send_header("Tus-Resumable", "1.0.0")
        handler.send_header("Content-Length", "0")
        handler.send_header("Cache-Control", "no-store")
        handler.send_header(
            "Access-Control-Expose-Headers", "Location, Upload-Offset, Upload-Length"
        )
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
