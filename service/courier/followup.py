"""The witness coming back with a receipt code (docs/protocol.md §7): read reviewers'
replies and send follow-ups, from a terminal (``testimony replies``,
``testimony followup``).

The receipt code never leaves this process: it derives the witness's Ed25519
key (which signs) and S1 seed (which opens replies) here
(``testimony.crypto.receipt.derive``). The server sees the public key only.

- :func:`fetch_replies`: ``GET /api/v1/replies/challenge``, sign
  ``JCS({"challenge", "witness"})``, ``POST /api/v1/replies``, open each reply.
- :func:`send_followup`: seal the text and files to the server's intake key
  (§3), upload the files (§6), sign with the witness key (v1.1: over
  ``JCS({"type": "followup", "v": 1, "parent", "intake_key", "header", "body",
  "attachments"})`` of hashes, the entry's own members,
  ``testimony.crypto.followup.signed_bytes``), solve the proof of work (§8),
  which is not signed, ``POST /api/v1/followups``, verify the receipt (§10).

Attachments are sealed as the envelopes' are (``seal.seal_file``): each file
is read, encrypted and written to a private temporary folder a chunk at a
time, and uploaded from there in ``testimony.client.tus.PATCH_BYTES`` pieces,
so a large video costs disk space for its ciphertext, not memory. The HTTP
and tus work is the shared client's (``testimony.client``); its errors reach
the user as the courier's (``upload-failed``, ``log-key-mismatch``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from testimony.client import tus
from testimony.client.console import Progress
from testimony.client.errors import UnexpectedAnswer
from testimony.client.http import ServerClient
from testimony.crypto import followup, receipt, submission
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.errors import CryptoError
from testimony.crypto.receipts import verify_receipt

from .errors import UploadFailed, from_client_errors
from .seal import seal_file

__all__ = ["OpenedReply", "Progress", "fetch_replies", "send_followup"]


@dataclass(frozen=True)
class OpenedReply:
    """A reply opened with the witness's key: its entry id, parent and message."""

    id: str
    parent: str
    message: dict[str, Any] = field(repr=False)


def fetch_replies(
    server_url: str, code: str, *, transport: httpx.BaseTransport | None = None
) -> list[OpenedReply]:
    """The reviewers' replies to every submission made with this receipt code, opened.

    Raises ``ReceiptCodeError`` for a code that is not one, :class:`UploadFailed`
    if the server refuses or cannot be reached, or a reply does not open.
    """
    keys = receipt.derive(code)
    with from_client_errors(), ServerClient(server_url, transport=transport) as server:
        offer = server.get_json("/api/v1/replies/challenge", what="the replies challenge")
        if not isinstance(offer, dict) or not isinstance(offer.get("challenge"), str):
            raise UnexpectedAnswer("the replies challenge: the answer has no challenge")
        signed = followup.replies_request(keys, offer["challenge"])
        answer = server.post_json("/api/v1/replies", signed, what="the replies", expect=(200,))
        try:
            items = [(str(i["id"]), str(i["parent"]), str(i["sealed"])) for i in answer["replies"]]
        except (KeyError, TypeError):
            raise UnexpectedAnswer("the replies: the answer is not a list of replies") from None
    opened = []
    for reply_id, parent, sealed in items:
        try:
            message = followup.open_reply(keys.box_seed, b64u_decode(sealed))
        except CryptoError:
            raise UploadFailed("a reply does not open with this receipt code") from None
        opened.append(OpenedReply(id=reply_id, parent=parent, message=message))
    return opened


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
    ``progress(phase, done, total)`` is told, in bytes, how the sealing
    (``"sealing"`` the files) and the uploads (``"uploading"`` their
    ciphertext) advance.
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
        with from_client_errors(), ServerClient(server_url, transport=transport) as server:
            return _send(
                report,
                server,
                keys,
                parent=parent,
                text=text,
                sealed_files=sealed_files,
                log_key=log_key,
            )


def _send(
    report: Progress,
    server: ServerClient,
    keys: receipt.WitnessKeys,
    *,
    parent: str,
    text: str,
    sealed_files: Sequence[tuple[str, dict[str, Any], Path]],
    log_key: str | None,
) -> dict[str, Any]:
    served_key = server.log_key(expected=log_key)
    manifest = followup.followup_manifest(text, [d for _, d, _ in sealed_files])
    sealed = submission.seal_submission(server.intake_key(), manifest)
    total = sum(ciphertext.stat().st_size for _, _, ciphertext in sealed_files)
    uploaded = 0
    for blob, _, ciphertext in sealed_files:

        def advanced(_url: str, offset: int, before: int = uploaded) -> None:
            if offset:  # not the creation: a PATCH went through
                report("uploading", before + offset, total)

        length = ciphertext.stat().st_size
        tus.upload(server, blob, length, tus.file_reader(ciphertext), progress=advanced)
        uploaded += length
    request = followup.followup_request(
        sealed, parent=parent, attachments=[blob for blob, _, _ in sealed_files]
    )
    # Signed before the proof of work, which the signature does not cover.
    signed = followup.sign_followup(keys, request)
    proof = server.proof_of_work()
    if proof is not None:
        signed["pow"] = proof.member()
    logged = server.post_json("/api/v1/followups", signed, what="the follow-up", expect=(201,))
    if not isinstance(logged, dict):
        raise UnexpectedAnswer("the follow-up: the receipt is not a JSON object")
    try:
        verify_receipt(logged, served_key, request=signed)
    except CryptoError as exc:
        raise UploadFailed(f"the receipt does not verify: {exc} ({exc.code})") from None
    return logged
