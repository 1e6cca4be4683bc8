"""Resumable uploads of blobs over tus 1.0 (docs/protocol.md §6), on a
:class:`~.http.ServerClient`.

A blob is a ciphertext named by ``hex(H(ciphertext))``; it is uploaded under
``/api/v1/uploads/`` before a submission or follow-up names it.

- :func:`create`: ``POST /api/v1/uploads/`` with ``Upload-Length`` and
  ``Upload-Metadata: sha256 <base64 of the blob id>``, and the proof of work
  of §6 v1.1: it first asks ``GET /api/v1/pow?length=<Upload-Length>`` and,
  when ``bits`` > 0, adds ``pow <base64 of "<challenge>:<nonce>">`` (a server
  that does not ask for it ignores the member). A ``403`` ``pow-required``,
  ``pow-invalid``, ``pow-expired``, ``pow-reused`` or ``pow-insufficient``
  (the price rose while it solved) is retried once with a fresh challenge.
- :func:`head`: ``HEAD`` an upload: where it stands, or None once it is gone.
- :func:`send`: ``PATCH`` from an offset to the end, :data:`PATCH_BYTES` a
  request. A ``409 upload-offset-mismatch`` (the server holds other bytes
  than we thought) and a ``423 upload-busy`` (it is still writing an earlier,
  cut-off ``PATCH``) are answered by asking the server's offset with ``HEAD``
  and going on from there: a ``409`` at most :data:`STALL_RETRIES` times in a
  row; a ``423`` after a pause that doubles from :data:`BUSY_BACKOFF_SECONDS`
  to :data:`BUSY_BACKOFF_MAX_SECONDS`, for :data:`BUSY_PATIENCE_SECONDS` in
  all. A server lets go of a stalled ``PATCH`` (a Tor link that died without
  closing the server's side) after ``upload_stall_seconds`` (5 s) and waits
  that long itself before it answers ``423``, so a ``423`` means another
  request is still receiving bytes (docs/uploads.md).
- :func:`upload`: all of it for one blob: resume an earlier upload when its
  URL is given and the server still holds it, else create one; then send.

The bytes come from a :data:`Reader`, ``read(offset, length)``, so a blob is
never held whole in memory (:func:`file_reader` reads a file). ``progress(url,
offset)`` is told every offset the server acknowledges, after the creation,
a ``HEAD`` and each ``PATCH``: a caller keeps it to resume later, or draws a
bar. Every request carries ``Tus-Resumable: 1.0.0``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from .errors import SourceChanged, UnexpectedAnswer, UploadVanished
from .http import Proof, ServerClient, refusal

__all__ = [
    "BUSY_BACKOFF_MAX_SECONDS",
    "BUSY_BACKOFF_SECONDS",
    "BUSY_PATIENCE_SECONDS",
    "PATCH_BYTES",
    "POW_RETRIED",
    "STALL_RETRIES",
    "TUS",
    "UPLOADS",
    "Progress",
    "Reader",
    "UploadState",
    "Uploaded",
    "create",
    "file_reader",
    "head",
    "metadata",
    "send",
    "upload",
]

TUS = {"Tus-Resumable": "1.0.0"}
"""The header every tus request but ``OPTIONS`` carries."""
UPLOADS = "/api/v1/uploads/"
PATCH_BYTES = 8 << 20
"""Bytes sent in one ``PATCH`` (read when :func:`send` runs)."""
STALL_RETRIES = 20
"""``409``/``423`` answers in a row before giving up."""
BUSY_BACKOFF_SECONDS = 0.25
"""The pause after a first ``423 upload-busy``; it doubles at each one in a row."""
BUSY_BACKOFF_MAX_SECONDS = 5.0
BUSY_PATIENCE_SECONDS = 20.0
"""Pauses after ``423`` answers in a row, in all, before giving up."""
POW_RETRIED = frozenset(
    {"pow-required", "pow-invalid", "pow-expired", "pow-reused", "pow-insufficient"}
)
"""Refusals of a creation answered with a fresh challenge, once (``pow-insufficient``:
the price rose while the client solved, as it does when the budget fills)."""
"""The ``403`` codes a creation is retried for, once, with a fresh challenge."""
_READ_BYTES = 1 << 16

Reader = Callable[[int, int], Iterable[bytes]]
"""``read(offset, length)``: the upload's ``length`` bytes from ``offset``, in pieces."""

Progress = Callable[[str, int], None]
"""``progress(url, offset)``: the server holds the upload at ``url`` up to ``offset``."""


@dataclass(frozen=True)
class UploadState:
    """What ``HEAD`` says of an upload."""

    offset: int
    length: int | None


@dataclass(frozen=True)
class Uploaded:
    """A finished upload: its URL, and whether it went on from an earlier one."""

    url: str
    resumed: bool


def metadata(blob: str, proof: Proof | None = None) -> str:
    """``Upload-Metadata`` for blob ``blob``: ``sha256 <base64(blob id)>`` and,
    with a proof, ``,pow <base64("<challenge>:<nonce>")>`` (standard, padded
    base64 of the ASCII text, §0, §6).

    >>> metadata("ab" * 32)[:15]
    'sha256 YWJhYmFi'
    >>> metadata("ab" * 32, Proof("AAAA", "AQ")).split(",")[1]
    'pow QUFBQTpBUQ=='
    """
    members = ["sha256 " + base64.b64encode(blob.encode("ascii")).decode("ascii")]
    if proof is not None:
        members.append("pow " + base64.b64encode(proof.text().encode("ascii")).decode("ascii"))
    return ",".join(members)


def _offset(answer: httpx.Response, what: str) -> int:
    value = answer.headers.get("upload-offset", "")
    if not value.isascii() or not value.isdigit():
        raise UnexpectedAnswer(f"{what}: the answer has no Upload-Offset")
    return int(value)


def create(client: ServerClient, blob: str, length: int) -> str:
    """Create the upload of blob ``blob`` (``length`` bytes), with a proof of
    work when the server asks for one; its absolute URL.

    Raises :class:`~.errors.ServerRefused` (``413 blob-too-large``,
    ``upload-quota-exceeded``, a ``pow-*`` refusal met twice, …),
    :class:`~.errors.ConnectionFailed` and :class:`~.errors.UnexpectedAnswer`.
    """
    what = "creating an upload"
    for attempt in (1, 2):
        proof = client.proof_of_work(length)
        answer = client.request(
            "POST",
            UPLOADS,
            what=what,
            expect=None,
            headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(blob, proof)},
        )
        if answer.status_code == 201:
            location = answer.headers.get("location")
            if not location:
                raise UnexpectedAnswer(f"{what}: the answer has no Location")
            return client.url(location)
        refused = refusal(answer, what)
        if attempt == 1 and refused.status == 403 and refused.problem in POW_RETRIED:
            continue
        raise refused
    raise AssertionError("unreachable")  # pragma: no cover


def head(client: ServerClient, url: str) -> UploadState | None:
    """Where the upload at ``url`` stands (``HEAD``), or None if the server no
    longer holds it (``404``, ``410``)."""
    what = "an upload's offset"
    answer = client.request("HEAD", url, what=what, expect=(200, 404, 410), headers=TUS)
    if answer.status_code != 200:
        return None
    length = answer.headers.get("upload-length", "")
    return UploadState(
        _offset(answer, what), int(length) if length.isascii() and length.isdigit() else None
    )


def send(
    client: ServerClient,
    url: str,
    length: int,
    read: Reader,
    *,
    offset: int = 0,
    patch_bytes: int | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    what: str = "uploading a blob",
) -> None:
    """``PATCH`` the bytes of ``read`` from ``offset`` until the upload at
    ``url`` holds all ``length`` of them (the rules in the module docstring).

    Raises :class:`~.errors.ServerRefused` (``422 upload-hash-mismatch``,
    ``410 upload-expired``, …), :class:`~.errors.UploadVanished` when a
    ``HEAD`` finds the upload gone, :class:`~.errors.UnexpectedAnswer` when
    the server's offset does not advance, :class:`~.errors.ConnectionFailed`,
    and whatever ``read`` raises; ``what`` names the step in their messages.
    """
    size = patch_bytes or PATCH_BYTES
    stalls = STALL_RETRIES
    pause, waited = BUSY_BACKOFF_SECONDS, 0.0
    while offset < length:
        count = min(size, length - offset)
        answer = client.request(
            "PATCH",
            url,
            what=what,
            expect=None,
            content=read(offset, count),
            headers={
                **TUS,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(count),
            },
        )
        if answer.status_code == 204:
            reached = _offset(answer, what)
            if not offset < reached <= length:
                raise UnexpectedAnswer(f"{what}: the server's offset did not advance")
            offset, stalls = reached, STALL_RETRIES
            pause, waited = BUSY_BACKOFF_SECONDS, 0.0
        elif (answer.status_code == 409 and stalls > 0) or (
            answer.status_code == 423 and waited < BUSY_PATIENCE_SECONDS
        ):
            if answer.status_code == 409:
                stalls -= 1
            else:
                sleep(pause)
                waited += pause
                pause = min(pause * 2, BUSY_BACKOFF_MAX_SECONDS)
            state = head(client, url)
            if state is None:
                raise UploadVanished("an upload disappeared from the server; run again")
            if state.offset > length:
                raise UnexpectedAnswer(f"{what}: the server holds more than the upload's length")
            offset = state.offset
        else:
            raise refusal(answer, what)
        if progress is not None:
            progress(url, offset)


def upload(
    client: ServerClient,
    blob: str,
    length: int,
    read: Reader,
    *,
    resume: str | None = None,
    patch_bytes: int | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Uploaded:
    """Upload blob ``blob`` of ``length`` bytes, going on from the upload at
    ``resume`` if the server still holds it (only a URL under this server's
    ``/api/v1/uploads/`` is followed), else from a new one (:func:`create`).

    ``progress`` hears the URL and offset after the creation or ``HEAD`` and
    after each ``PATCH``. Raises what :func:`create` and :func:`send` raise.
    """
    state = None
    if resume is not None and resume.startswith(client.url(UPLOADS)):
        state = head(client, resume)
        if state is not None and (state.length not in (None, length) or state.offset > length):
            state = None
    if resume is not None and state is not None:
        url, offset = resume, state.offset
    else:
        url, offset = create(client, blob, length), 0
    if progress is not None:
        progress(url, offset)
    send(
        client,
        url,
        length,
        read,
        offset=offset,
        patch_bytes=patch_bytes,
        progress=progress,
        sleep=sleep,
        what=f"uploading blob {blob[:12]}",
    )
    return Uploaded(url, resumed=offset > 0)


def file_reader(path: Path) -> Reader:
    """A :data:`Reader` of the file at ``path``, opened anew for each ``PATCH``
    and read :data:`_READ_BYTES` at a time; raises
    :class:`~.errors.SourceChanged` if the file ends early."""

    def read(offset: int, length: int) -> Iterator[bytes]:
        with path.open("rb") as source:
            source.seek(offset)
            remaining = length
            while remaining:
                data = source.read(min(_READ_BYTES, remaining))
                if not data:
                    raise SourceChanged(f"{path.name} changed while it was being uploaded")
                remaining -= len(data)
                yield data

    return read
