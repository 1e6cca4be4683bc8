"""Delivering envelopes to a server (docs/protocol.md §4, by §6, §8, §3 step 6 and §10).

For each envelope, :meth:`Courier.deliver`:

1. reads it strictly (:func:`~.envelope.read_envelope`); a malformed envelope
   uploads nothing;
2. if ``FILE.receipt.json`` is already there, only verifies it again and
   stops (delivery is idempotent);
3. uploads every blob it names over tus (§6, :func:`testimony.client.tus.upload`,
   with the proof of work of an upload's creation when the server asks for
   it), resuming a partial upload: the upload URLs and last acknowledged
   offsets are kept in ``FILE.upload.json`` beside the envelope, and the real
   offset is always asked of the server with ``HEAD`` before going on;
4. solves the server's proof of work when it asks for one (§8);
5. posts the request (§3 step 6) and verifies the receipt (§10) with
   :func:`~testimony.crypto.receipts.verify_receipt` against the log key, which
   is given (``--log-key``) or pinned on first use per server URL in a small
   file (by default ``$XDG_CONFIG_HOME/testimony/log-keys.json``);
6. writes the receipt to ``FILE.receipt.json`` and removes the upload state.

Nothing sensitive is written: the state file holds upload URLs and offsets,
the receipt file the server's §10 answer. The HTTP and tus work is the
shared client's (``testimony.client``); its errors reach the user as the
courier's (``upload-failed``, ``log-key-mismatch``). A damaged envelope fails
alone, as ``envelope-invalid``, and the others of the same run are still
delivered.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from testimony.client import tus
from testimony.client.console import WORK_PHASE, Progress
from testimony.client.errors import ClientError
from testimony.client.http import DEFAULT_TIMEOUT, ServerClient
from testimony.crypto.errors import CryptoError
from testimony.crypto.receipts import verify_receipt

from .envelope import Envelope, is_damage, read_envelope
from .errors import CourierError, UploadFailed, from_client, from_client_errors

__all__ = [
    "Courier",
    "Delivery",
    "default_pins_path",
    "receipt_path",
    "state_path",
]

_READ_BYTES = 1 << 16

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


class Courier:
    """Delivers envelopes to one server.

    ``log_key`` is the verifier key to trust (else the one pinned in
    ``pins_path`` for ``server_url``, else the server's, which is then pinned).
    ``transport`` lets tests interpose on the connection; ``patch_bytes``
    is the size of one ``PATCH`` (default :data:`testimony.client.tus.PATCH_BYTES`);
    ``progress(phase, done, total)`` is told how each proof of work goes
    (phase :data:`~testimony.client.console.WORK_PHASE`, counted in hashes).
    Raises :class:`UploadFailed` for a server URL that is not one.
    """

    def __init__(
        self,
        server_url: str,
        *,
        log_key: str | None = None,
        pins_path: Path | None = None,
        transport: httpx.BaseTransport | None = None,
        patch_bytes: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        progress: Progress | None = None,
    ) -> None:
        report = progress
        work = None if report is None else (lambda done, total: report(WORK_PHASE, done, total))
        with from_client_errors():
            self._client = ServerClient(
                server_url, transport=transport, timeout=timeout, work_progress=work
            )
        self.server_url = self._client.base_url
        self._given_key = log_key.strip() if log_key else None
        self._pins_path = pins_path or default_pins_path()
        self._patch_bytes = patch_bytes
        self._log_key: str | None = None

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

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
        served_key = self._client.log_key(expected=pinned)
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
        except ClientError as exc:
            return Delivery(path, "failed", error=from_client(exc))
        except OSError as exc:
            name = Path(exc.filename).name if exc.filename else Path(path).name
            message = f"{exc.strerror or 'input/output error'}: {name}"
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

            def save(url: str, offset: int, blob: str = blob) -> None:
                uploads[blob] = {"url": url, "offset": offset}
                _write_json_atomically(state_file, {"uploads": uploads})

            entry = uploads.get(blob)
            url = entry.get("url") if isinstance(entry, dict) else None
            done = tus.upload(
                self._client,
                blob,
                size,
                self._reader(envelope, blob),
                resume=url if isinstance(url, str) else None,
                patch_bytes=self._patch_bytes,
                progress=save,
            )
            resumed |= done.resumed
        return resumed

    @staticmethod
    def _reader(envelope: Envelope, blob: str) -> tus.Reader:
        """A blob's ciphertext from an offset, read from its ZIP member."""

        def read(offset: int, length: int) -> Iterator[bytes]:
            try:
                with envelope.open_blob(blob) as member:
                    member.seek(offset)
                    remaining = length
                    while remaining:
                        data = member.read(min(_READ_BYTES, remaining))
                        if not data:
                            raise UploadFailed("the envelope changed while it was being uploaded")
                        remaining -= len(data)
                        yield data
            except Exception as exc:
                if not is_damage(exc):
                    raise
                raise UploadFailed("the envelope changed while it was being uploaded") from None

        return read

    # --- §8 and §3 step 6 -------------------------------------------------------------

    def _submit(self, envelope: Envelope) -> Any:
        request = dict(envelope.request)
        proof = self._client.proof_of_work()
        if proof is not None:
            request["pow"] = proof.member()
        return self._client.post_json(
            "/api/v1/submissions", request, what="the submission", expect=(201,)
        )
