"""An in-memory stand-in for a Testimony server, behind ``httpx.MockTransport``,
for the shared client's tests: the routes ``testimony.client`` speaks
(docs/protocol.md §5, §6, §8, §9), each answer scriptable.

It checks what a client sends the way the real server does where the tests
need it (``Tus-Resumable``, offsets, the ``sha256`` metadata), and, unlike
today's server, can ask for the proof of work of §6 v1.1 on upload creation
(``uploads_need_pow``): a ``pow`` metadata member whose challenge it issued,
not yet spent, solved to its bits.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from testimony.crypto import hpke, note
from testimony.crypto.encoding import b64u_decode, b64u_encode, sha256
from testimony.crypto.pow import leading_zero_bits

LOG_KEY = note.verifier_key(
    "fake.test/log", Ed25519PrivateKey.generate().public_key().public_bytes_raw()
)
INTAKE_PUBLIC = hpke.public_key(bytes(32))


def problem(status: int, code: str) -> httpx.Response:
    """An RFC 9457 problem document, as the server answers errors (§0)."""
    return httpx.Response(
        status,
        json={
            "type": f"urn:testimony:problem:{code}",
            "title": code,
            "status": status,
            "code": code,
        },
        headers={"Content-Type": "application/problem+json"},
    )


@dataclass
class Upload:
    length: int
    blob: str
    data: bytearray = field(default_factory=bytearray)


@dataclass
class FakeServer:
    """The fake; ``transport()`` is what a ``ServerClient`` is given."""

    pow_bits: int = 0
    uploads_need_pow: bool = False
    log_key: str = LOG_KEY
    requests: list[httpx.Request] = field(default_factory=list)
    uploads: dict[str, Upload] = field(default_factory=dict)
    pow_lengths: list[str | None] = field(default_factory=list)
    creation_metadata: list[dict[str, str]] = field(default_factory=list)
    scripted: dict[str, list[httpx.Response | Callable[[httpx.Request], httpx.Response]]] = field(
        default_factory=dict
    )
    """``"PATCH"``, ``"POST /api/v1/uploads/"``, …: answers given before the normal ones."""
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _issued: set[str] = field(default_factory=set)
    _spent: set[str] = field(default_factory=set)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def script(self, key: str, *answers: httpx.Response | Callable[[httpx.Request], Any]) -> None:
        self.scripted.setdefault(key, []).extend(answers)

    def methods(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]

    # --- the routes ---------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        path = request.url.path
        for key in (f"{request.method} {path}", request.method):
            if self.scripted.get(key):
                answer = self.scripted[key].pop(0)
                return answer(request) if callable(answer) else answer
        if path.startswith("/api/v1/uploads/"):
            if request.headers.get("tus-resumable") != "1.0.0":
                return problem(412, "tus-version-unsupported")
            if request.method == "POST" and path == "/api/v1/uploads/":
                return self._create(request)
            upload = self.uploads.get(path.rsplit("/", 1)[1])
            if upload is None:
                return problem(404, "upload-not-found")
            if request.method == "HEAD":
                return httpx.Response(
                    200,
                    headers={
                        "Upload-Offset": str(len(upload.data)),
                        "Upload-Length": str(upload.length),
                    },
                )
            if request.method == "PATCH":
                return self._patch(request, upload)
        if request.method == "GET" and path == "/api/v1/pow":
            self.pow_lengths.append(request.url.params.get("length"))
            challenge = b64u_encode(next(self._ids).to_bytes(4, "big") + bytes([self.pow_bits]))
            self._issued.add(challenge)
            return httpx.Response(
                200,
                json={
                    "challenge": challenge,
                    "bits": self.pow_bits,
                    "expires": "2030-01-01T00:00:00Z",
                },
            )
        if request.method == "GET" and path == "/api/v1/log/key":
            return httpx.Response(200, text=self.log_key + "\n")
        if request.method == "GET" and path == "/api/v1/forms":
            return httpx.Response(200, json=[{"id": "kordai-2020", "version": 1}])
        if request.method == "GET" and path == "/api/v1/forms/kordai-2020":
            return httpx.Response(
                200,
                json={
                    "id": "kordai-2020",
                    "intake_key": b64u_encode(INTAKE_PUBLIC),
                    "intake_key_id": hpke.key_id(INTAKE_PUBLIC),
                },
            )
        return problem(404, "not-found")

    def _create(self, request: httpx.Request) -> httpx.Response:
        members = {}
        for pair in request.headers.get("upload-metadata", "").split(","):
            key, _, value = pair.strip().partition(" ")
            members[key] = base64.b64decode(value, validate=True).decode("ascii")
        self.creation_metadata.append(members)
        if self.uploads_need_pow and self.pow_bits > 0:
            refused = self._check_pow(members.get("pow"))
            if refused is not None:
                return problem(403, refused)
        upload_id = f"upload{next(self._ids):012d}"
        self.uploads[upload_id] = Upload(int(request.headers["upload-length"]), members["sha256"])
        return httpx.Response(
            201, headers={"Location": f"/api/v1/uploads/{upload_id}", "Upload-Offset": "0"}
        )

    def _check_pow(self, proof: str | None) -> str | None:
        if proof is None:
            return "pow-required"
        challenge, _, nonce = proof.partition(":")
        if challenge not in self._issued:
            return "pow-invalid"
        if challenge in self._spent:
            return "pow-reused"
        if leading_zero_bits(sha256(b64u_decode(challenge) + b64u_decode(nonce))) < self.pow_bits:
            return "pow-insufficient"
        self._spent.add(challenge)
        return None

    def _patch(self, request: httpx.Request, upload: Upload) -> httpx.Response:
        if int(request.headers["upload-offset"]) != len(upload.data):
            return problem(409, "upload-offset-mismatch")
        upload.data += request.content
        if len(upload.data) > upload.length:
            return problem(413, "upload-length-exceeded")
        if (
            len(upload.data) == upload.length
            and hashlib.sha256(upload.data).hexdigest() != upload.blob
        ):
            return problem(422, "upload-hash-mismatch")
        return httpx.Response(204, headers={"Upload-Offset": str(len(upload.data))})
