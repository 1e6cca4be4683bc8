"""The witness coming back with a receipt code (docs/protocol.md §7): read reviewers'
replies and send follow-ups, from a terminal (``testimony replies``,
``testimony followup``).

The receipt code never leaves this process: it derives the witness's Ed25519
key (which signs) and S1 seed (which opens replies) here
(``testimony.crypto.receipt.derive``). The server sees the public key only.

- :func:`fetch_replies`: ``GET /api/v1/replies/challenge``, sign
  ``JCS({"challenge", "witness"})``, ``POST /api/v1/replies``, open each reply.
- :func:`send_followup`: seal the text and files to the server's intake key
  (§3), upload the files (§6), solve the proof of work (§8), sign the request
  with the witness key, ``POST /api/v1/followups``, verify the receipt (§10).

Attachments are sealed as the envelopes' are (``seal.seal_file``): each file
is read, encrypted and written to a private temporary folder a chunk at a
time, and uploaded from there in ``PATCH_BYTES`` pieces, so a large video
costs disk space for its ciphertext, not memory.
"""

from __future__ import annotations

import base64
import contextlib
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from testimony.crypto import followup, receipt, submission
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.errors import CryptoError
from testimony.crypto.pow import solve
from testimony.crypto.receipts import verify_receipt

from .errors import LogKeyMismatch, UploadFailed
from .seal import seal_file

__all__ = ["OpenedReply", "Progress", "fetch_replies", "send_followup"]

TUS = {"Tus-Resumable": "1.0.0"}
PATCH_BYTES = 8 << 20


@dataclass(frozen=True)
class OpenedReply:
    """A reply opened with the witness's key: its entry id, parent and message."""

    id: str
    parent: str
    message: dict[str, Any] = field(repr=False)


def _refusal(answer: httpx.Response, what: str) -> UploadFailed:
    code = "http-" + str(answer.status_code)
    with contextlib.suppress(ValueError, AttributeError):
        code = str(answer.json().get("code") or code)
    return UploadFailed(f"{what}: the server answered {answer.status_code} ({code})")


def _client(server_url: str, transport: httpx.BaseTransport | None) -> httpx.Client:
    return httpx.Client(base_url=server_url.rstrip("/"), transport=transport, timeout=60.0)


def fetch_replies(
    server_url: str, code: str, *, transport: httpx.BaseTransport | None = None
) -> list[OpenedReply]:
    """The reviewers' replies to every submission made with this receipt code, opened.

    Raises ``ReceiptCodeError`` for a code that is not one, :class:`UploadFailed`
    if the server refuses or cannot be reached, or a reply does not open.
    """
    keys = receipt.derive(code)
    with _client(server_url, transport) as http:
        try:
            offer = http.get("/api/v1/replies/challenge")
            if offer.status_code != 200:
                raise _refusal(offer, "the replies challenge")
            signed = followup.replies_request(keys, str(offer.json()["challenge"]))
            answer = http.post("/api/v1/replies", json=signed)
        except httpx.TransportError:
            raise UploadFailed("the connection to the server failed") from None
        if answer.status_code != 200:
            raise _refusal(answer, "the replies")
        opened = []
        for item in answer.json()["replies"]:
            try:
                message = followup.open_reply(keys.box_seed, b64u_decode(item["sealed"]))
            except CryptoError:
                raise UploadFailed("a reply does not open with this receipt code") from None
            opened.append(OpenedReply(id=item["id"], parent=item["parent"], message=message))
        return opened


def _intake_key(http: httpx.Client) -> bytes:
    listed = http.get("/api/v1/forms")
    if listed.status_code != 200 or not listed.json():
        raise _refusal(listed, "the intake key (no form is published)")
    form = http.get(f"/api/v1/forms/{listed.json()[0]['id']}")
    if form.status_code != 200:
        raise _refusal(form, "the intake key")
    return b64u_decode(form.json()["intake_key"])


def _upload(http: httpx.Client, ciphertext: Path, blob_id: str) -> Iterator[int]:
    """Upload the file ``ciphertext`` (whose SHA-256 is ``blob_id``) over tus,
    ``PATCH_BYTES`` at a time; yields the bytes each ``PATCH`` added."""
    length = ciphertext.stat().st_size
    created = http.post(
        "/api/v1/uploads/",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": "sha256 " + base64.b64encode(blob_id.encode()).decode(),
        },
    )
    if created.status_code != 201:
        raise _refusal(created, "creating an upload")
    url = urljoin(str(http.base_url).rstrip("/") + "/", created.headers["location"])
    offset = 0
    with ciphertext.open("rb") as source:
        while offset < length:
            source.seek(offset)
            answer = http.patch(
                url,
                content=source.read(PATCH_BYTES),
                headers={
                    **TUS,
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            if answer.status_code != 204:
                raise _refusal(answer, "uploading an attachment")
            reached = int(answer.headers["upload-offset"])
            if not offset < reached <= length:
                raise UploadFailed("uploading an attachment: the server's offset did not advance")
            yield reached - offset
            offset = reached


def _proof_of_work(http: httpx.Client) -> dict[str, str] | None:
    offer = http.get("/api/v1/pow")
    if offer.status_code != 200:
        raise _refusal(offer, "the proof-of-work challenge")
    bits = int(offer.json().get("bits", 0))
    if bits == 0:
        return None
    challenge = str(offer.json()["challenge"])
    return {"challenge": challenge, "nonce": solve(challenge, bits)}


Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``: bytes done of ``total`` in ``phase``
(``"sealing"`` the files, then ``"uploading"`` their ciphertext)."""


def send_followup(
    server_url: str,
    code: str,
    *,
    parent: str,
    text: str,
    files: Sequence[Path] = (),
    log_key: str | None = None,
    transport: httpx.BaseTransport | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Seal, sign and send a follow-up to submission ``parent``; return its verified receipt.

    ``log_key`` is the log verifier key to trust (else the server's own);
    ``progress`` is told how the sealing and the uploads advance.
    Raises ``ReceiptCodeError``, ``OSError`` for an unreadable file,
    ``SealRefused`` for a file that changed while it was sealed,
    :class:`LogKeyMismatch` if the served log key is not ``log_key``, and
    :class:`UploadFailed` if the server refuses, cannot be reached, or its
    receipt does not verify.
    """
    keys = receipt.derive(code)
    report = progress or (lambda _phase, _done, _total: None)
    with tempfile.TemporaryDirectory(prefix="testimony-followup-") as folder:
        total = sum(path.stat().st_size for path in files)
        sealed_bytes = 0

        def sealed(count: int) -> None:
            nonlocal sealed_bytes
            sealed_bytes += count
            report("sealing", sealed_bytes, total)

        sealed_files = [seal_file(path, Path(folder), progress=sealed) for path in files]
        return _send(
            report,
            server_url,
            keys,
            parent=parent,
            text=text,
            sealed_files=sealed_files,
            log_key=log_key,
            transport=transport,
        )


def _send(
    report: Progress,
    server_url: str,
    keys: receipt.WitnessKeys,
    *,
    parent: str,
    text: str,
    sealed_files: Sequence[tuple[str, dict[str, Any], Path]],
    log_key: str | None,
    transport: httpx.BaseTransport | None,
) -> dict[str, Any]:
    with _client(server_url, transport) as http:
        try:
            served_key = http.get("/api/v1/log/key").text.strip()
            if log_key is not None and served_key != log_key.strip():
                raise LogKeyMismatch("the server's log key is not the one given")
            manifest = followup.followup_manifest(text, [d for _, d, _ in sealed_files])
            sealed = submission.seal_submission(_intake_key(http), manifest)
            total = sum(ciphertext.stat().st_size for _, _, ciphertext in sealed_files)
            uploaded = 0
            for blob, _, ciphertext in sealed_files:
                for count in _upload(http, ciphertext, blob):
                    uploaded += count
                    report("uploading", uploaded, total)
            request = followup.followup_request(
                sealed, parent=parent, attachments=[blob for blob, _, _ in sealed_files]
            )
            work = _proof_of_work(http)
            if work is not None:
                request["pow"] = work
            signed = followup.sign_followup(keys, request)
            answer = http.post("/api/v1/followups", json=signed)
        except httpx.TransportError:
            raise UploadFailed("the connection to the server failed") from None
    if answer.status_code != 201:
        raise _refusal(answer, "the follow-up")
    logged: dict[str, Any] = answer.json()
    try:
        verify_receipt(logged, served_key, request=signed)
    except CryptoError as exc:
        raise UploadFailed(f"the receipt does not verify: {exc} ({exc.code})") from None
    return logged
