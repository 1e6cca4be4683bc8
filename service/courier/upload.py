"""Delivering envelopes to a server (docs/protocol.md §4, by §6, §8, §3 step 6 and §10).

For each envelope, :meth:`Courier.deliver`:

1. reads it strictly (:func:`~.envelope.read_envelope`); a malformed envelope
   uploads nothing;
2. if ``FILE.receipt.json`` is already there, only verifies it again and
   stops (delivery is idempotent);
3. uploads every blob it names over tus (§6), resuming a partial upload: the
   upload URLs and last acknowledged offsets are kept in ``FILE.upload.json``
   beside the envelope, and the real offset is always asked of the server
   with ``HEAD`` before going on;
4. solves the server's proof of work when it asks for one (§8);
5. posts the request (§3 step 6) and verifies the receipt (§10) with
   :func:`~testimony.crypto.receipts.verify_receipt` against the log key, which
   is given (``--log-key``) or pinned on first use per server URL in a small
   file (by default ``$XDG_CONFIG_HOME/testimony/log-keys.json``);
6. writes the receipt to ``FILE.receipt.json`` and removes the upload state.

Nothing sensitive is written: the state file holds upload URLs and offsets,
the receipt file the server's §10 answer.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin

import httpx

from testimony.crypto.errors import CryptoError
from testimony.crypto.pow import solve
from testimony.crypto.receipts import verify_receipt

from .envelope import Envelope, read_envelope
from .errors import CourierError, LogKeyMismatch, UploadFailed

__all__ = [
    "PATCH_BYTES",
    "Courier",
    "Delivery",
    "default_pins_path",
    "receipt_path",
    "state_path",
]

TUS = {"Tus-Resumable": "1.0.0"}
UPLOADS = "/api/v1/uploads/"
PATCH_BYTES = 8 << 20
"""Bytes sent in one PATCH; the state file records the offset after each."""
_READ_BYTES = 1 << 16
BUSY_RETRIES = 20
BUSY_BACKOFF_SECONDS = 0.25

Status = Literal["ok", "resumed", "already", "failed"]


@dataclass(frozen=True)
class Delivery:
    """What became of one envelope."""

    envelope: Path
    status: Status
    receipt_id: str | None = None
    error: CourierError | None = None


def receipt_path(envelope: Path) -> Path:
    """``FILE.receipt.json`` beside ``FILE``."""
    return envelope.with_name(envelope.name + ".receipt.json")


def state_path(envelope: Path) -> Path:
    """``FILE.upload.json`` beside ``FILE``: upload URLs and offsets only."""
    return envelope.with_name(envelope.name + ".upload.json")


def default_pins_path() -> Path:
    """Where log keys are pinned on first use: ``$XDG_CONFIG_HOME/testimony/log-keys.json``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "testimony" / "log-keys.json"


def _write_json_atomically(path: Path, value: Any) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".partial")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as sink:
            json.dump(value, sink, indent=1)
            sink.write("\n")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _refusal(answer: httpx.Response, what: str) -> UploadFailed:
    """The error for an answer the courier did not expect (the server's problem code)."""
    code = "http-" + str(answer.status_code)
    with contextlib.suppress(ValueError, AttributeError):
        document = answer.json()
        code = str(document.get("code") or code)
    return UploadFailed(f"{what}: the server answered {answer.status_code} ({code})")


class Courier:
    """Delivers envelopes to one server.

    ``log_key`` is the verifier key to trust (else the one pinned in
    ``pins_path`` for ``server_url``, else the server's, which is then pinned).
    ``transport`` lets tests interpose on the connection.
    """

    def __init__(
        self,
        server_url: str,
        *,
        log_key: str | None = None,
        pins_path: Path | None = None,
        transport: httpx.BaseTransport | None = None,
        patch_bytes: int = PATCH_BYTES,
        timeout: float = 60.0,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self._given_key = log_key.strip() if log_key else None
        self._pins_path = pins_path or default_pins_path()
        self._patch_bytes = patch_bytes
        self._http = httpx.Client(base_url=self.server_url, transport=transport, timeout=timeout)
        self._log_key: str | None = None

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Courier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the log key ------------------------------------------------------------

    def _pins(self) -> dict[str, str]:
        pins = _read_json(self._pins_path)
        return pins if isinstance(pins, dict) else {}

    def _trusted_key(self, *, offline: bool) -> str | None:
        """The key to verify with: given, else pinned; fetched and pinned unless ``offline``."""
        if self._log_key is not None:
            return self._log_key
        pinned = self._given_key or self._pins().get(self.server_url)
        if offline:
            return pinned
        served = self._http.get("/api/v1/log/key")
        if served.status_code != 200:
            raise _refusal(served, "the log key")
        served_key = served.text.strip()
        if pinned is not None and served_key != pinned:
            raise LogKeyMismatch(
                "the server's log key is not the pinned one; check it before trusting this server"
            )
        if pinned is None:
            pins = self._pins()
            pins[self.server_url] = served_key
            self._pins_path.parent.mkdir(parents=True, exist_ok=True)
            _write_json_atomically(self._pins_path, pins)
        self._log_key = served_key
        return served_key

    # --- one envelope -------------------------------------------------------------

    def deliver(self, path: Path) -> Delivery:
        """Deliver one envelope (the steps in the module docstring); never raises a
        :class:`CourierError`, returning it in a ``failed`` :class:`Delivery`."""
        try:
            return self._deliver(path)
        except CourierError as exc:
            return Delivery(path, "failed", error=exc)
        except httpx.TransportError:
            return Delivery(
                path, "failed", error=UploadFailed("the connection to the server failed")
            )
        except OSError as exc:
            message = f"{exc.strerror or 'input/output error'}: {Path(str(exc.filename)).name}"
            return Delivery(path, "failed", error=UploadFailed(message))

    def _deliver(self, path: Path) -> Delivery:
        envelope = read_envelope(path)
        existing = receipt_path(path)
        if existing.exists():
            receipt = _read_json(existing)
            key = self._trusted_key(offline=True) or self._trusted_key(offline=False)
            assert key is not None
            receipt_id = self._verify(receipt, key, envelope)
            return Delivery(path, "already", receipt_id)
        key = self._trusted_key(offline=False)
        assert key is not None
        resumed = self._upload_blobs(envelope)
        receipt = self._submit(envelope)
        receipt_id = self._verify(receipt, key, envelope)
        _write_json_atomically(existing, receipt)
        state_path(path).unlink(missing_ok=True)
        return Delivery(path, "resumed" if resumed else "ok", receipt_id)

    @staticmethod
    def _verify(receipt: Any, key: str, envelope: Envelope) -> str:
        try:
            verified = verify_receipt(receipt, key, request=envelope.request)
        except CryptoError as exc:
            raise UploadFailed(f"the receipt does not verify: {exc} ({exc.code})") from None
        return verified.id

    # --- §6 uploads ---------------------------------------------------------------------

    def _upload_blobs(self, envelope: Envelope) -> bool:
        """Upload every blob; whether any upload resumed from a partial one."""
        state_file = state_path(envelope.path)
        state = _read_json(state_file)
        uploads: dict[str, Any] = {}
        if isinstance(state, dict) and isinstance(state.get("uploads"), dict):
            uploads = state["uploads"]
        resumed = False
        for blob, size in envelope.blob_sizes.items():
            resumed |= self._upload_blob(envelope, blob, size, uploads, state_file)
        return resumed

    def _head(self, url: str) -> int | None:
        """The server's offset of an upload, or None if it no longer exists."""
        answer = self._http.head(url, headers=TUS)
        if answer.status_code in (404, 410):
            return None
        if answer.status_code != 200:
            raise _refusal(answer, "an upload's offset")
        return int(answer.headers["upload-offset"])

    def _upload_blob(
        self, envelope: Envelope, blob: str, size: int, uploads: dict[str, Any], state_file: Path
    ) -> bool:
        def save(url: str, offset: int) -> None:
            uploads[blob] = {"url": url, "offset": offset}
            _write_json_atomically(state_file, {"uploads": uploads})

        entry = uploads.get(blob)
        offset: int | None = None
        url = entry.get("url") if isinstance(entry, dict) else None
        if isinstance(url, str) and url.startswith(self.server_url + UPLOADS):
            offset = self._head(url)
        resumed = offset is not None and offset > 0
        if offset is None or not isinstance(url, str):
            created = self._http.post(
                UPLOADS,
                headers={
                    **TUS,
                    "Upload-Length": str(size),
                    "Upload-Metadata": "sha256 " + base64.b64encode(blob.encode()).decode(),
                },
            )
            if created.status_code != 201:
                raise _refusal(created, "creating an upload")
            url = urljoin(self.server_url + "/", created.headers["location"])
            offset = 0
            save(url, offset)
        busy_retries = BUSY_RETRIES
        while offset < size:
            length = min(self._patch_bytes, size - offset)
            answer = self._http.patch(
                url,
                content=self._piece(envelope, blob, offset, length),
                headers={
                    **TUS,
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                    "Content-Length": str(length),
                },
            )
            if answer.status_code == 423 and busy_retries > 0:
                # The server is still writing an earlier, cut-off PATCH.
                busy_retries -= 1
                time.sleep(BUSY_BACKOFF_SECONDS)
                offset = self._head(url)
                if offset is None:
                    raise UploadFailed("an upload disappeared from the server; run again")
            elif answer.status_code == 409:
                offset = self._head(url)
                if offset is None:
                    raise UploadFailed("an upload disappeared from the server; run again")
            elif answer.status_code == 204 and "upload-offset" in answer.headers:
                offset = int(answer.headers["upload-offset"])
            else:
                raise _refusal(answer, f"uploading blob {blob[:12]}")
            save(url, offset)
        return resumed

    @staticmethod
    def _piece(envelope: Envelope, blob: str, offset: int, length: int) -> Iterator[bytes]:
        with envelope.open_blob(blob) as member:
            member.seek(offset)
            remaining = length
            while remaining:
                data = member.read(min(_READ_BYTES, remaining))
                if not data:
                    raise UploadFailed("the envelope changed while it was being uploaded")
                remaining -= len(data)
                yield data

    # --- §8 and §3 step 6 -------------------------------------------------------------

    def _submit(self, envelope: Envelope) -> Any:
        request = dict(envelope.request)
        challenge = self._http.get("/api/v1/pow")
        if challenge.status_code != 200:
            raise _refusal(challenge, "the proof-of-work challenge")
        offer = challenge.json()
        if int(offer.get("bits", 0)) > 0:
            request["pow"] = {
                "challenge": offer["challenge"],
                "nonce": solve(offer["challenge"], int(offer["bits"])),
            }
        answer = self._http.post("/api/v1/submissions", json=request)
        if answer.status_code != 201:
            raise _refusal(answer, "the submission")
        try:
            return answer.json()
        except ValueError:
            raise UploadFailed("the server's receipt is not JSON") from None
