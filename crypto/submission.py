"""A submission, end to end (docs/protocol.md §3, and its log entry of §9).

The witness's side seals; the server only hashes; the reviewer's side opens::

    attachment i:  K_i fresh;  C_i = STREAM(K_i, pad(file));  blob_i = hex(H(C_i))
    manifest M:    JCS({"v": 1, "form": ..., "lang": ..., "answers": ...,
                        "attachments": [...], "consent": ...})
    CEK fresh;     body   = STREAM(CEK, pad(JCS(M)))
                   header = Seal_S1(intake public key, "testimony/v1 cek", CEK)

The server builds the log entry from the request alone
(:func:`build_submission_entry`, a ``testimony.crypto.entries.SubmissionEntry``;
:func:`submission_entry` gives its bytes) and the entry's id is
``hex(H(0x00 || entry))``.

>>> from datetime import datetime, timezone
>>> from testimony.crypto import hpke
>>> intake_seed = bytes(32)
>>> photo = seal_attachment(b"JPEG bytes", name="IMG_0412.jpg", media_type="image/jpeg")
>>> manifest = {"v": 1, "form": {"id": "f", "version": 1, "sha256": "00" * 32},
...             "lang": "ru", "answers": {"what": "..."},
...             "attachments": [photo.descriptor], "consent": {"share_with": [], "contact": False}}
>>> sealed = seal_submission(hpke.public_key(intake_seed), manifest)
>>> request = sealed.request(attachments=[photo.blob])
>>> entry = submission_entry(request, datetime(2026, 11, 25, 12, tzinfo=timezone.utc))
>>> len(entry_id(entry))
64
>>> opened = open_submission(intake_seed, sealed.header, sealed.body)
>>> opened.manifest == manifest
True
>>> open_attachment(opened.manifest["attachments"][0], photo.ciphertext)
b'JPEG bytes'
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from . import canonical, hpke, merkle, padding, stream
from .encoding import b64u_decode, b64u_encode, hex_decode, sha256
from .entries import SubmissionEntry
from .errors import MalformedInput
from .receipt import WitnessKeys
from .rfc3339 import format_time

__all__ = [
    "HEADER_LENGTH",
    "KEY_LENGTH",
    "MAX_INLINE_BODY",
    "REQUEST_MEMBERS",
    "OpenedSubmission",
    "SealedAttachment",
    "SealedContent",
    "SealedSubmission",
    "build_submission_entry",
    "entry_id",
    "open_attachment",
    "open_body",
    "open_submission",
    "seal_attachment",
    "seal_submission",
    "sealed_content",
    "submission_entry",
]

KEY_LENGTH = 32
HEADER_LENGTH = hpke.ENC_LENGTH + KEY_LENGTH + 16  # 1168
MAX_INLINE_BODY = 1 << 20
"""A body larger than 1 MiB is uploaded as a blob and named by ``body_blob`` (§3 step 6)."""
REQUEST_MEMBERS = frozenset(
    {"intake_key", "header", "body", "body_blob", "attachments", "witness", "witness_box"}
)
"""The members of a §3 step 6 request, ``pow`` aside (an envelope's ``request.json``, §4)."""


@dataclass(frozen=True)
class SealedAttachment:
    """An attachment sealed for upload: ``ciphertext`` goes to ``blob``."""

    key: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)
    blob: str
    descriptor: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class SealedSubmission:
    """A sealed manifest: the ``header`` carrying the CEK, and the ``body``."""

    cek: bytes = field(repr=False)
    header: bytes = field(repr=False)
    body: bytes = field(repr=False)
    intake_key: str

    def request(
        self,
        *,
        attachments: Sequence[str],
        witness: WitnessKeys | None = None,
    ) -> dict[str, Any]:
        """The JSON of §3 step 6 without ``pow`` (as in a §4 envelope).

        The body is inline; a client whose body exceeds 1 MiB uploads it as a
        blob and sends ``body_blob`` (its hex SHA-256) instead of ``body``.
        """
        return {
            "intake_key": self.intake_key,
            "header": b64u_encode(self.header),
            "body": b64u_encode(self.body),
            "attachments": list(attachments),
            "witness": witness.witness_b64u if witness else None,
            "witness_box": witness.witness_box_b64u if witness else None,
        }


@dataclass(frozen=True)
class OpenedSubmission:
    """What the reviewer's side reads from a header and body."""

    cek: bytes = field(repr=False)
    manifest: dict[str, Any] = field(repr=False)


def _fresh_key(random_bytes: Callable[[int], bytes]) -> bytes:
    key = random_bytes(KEY_LENGTH)
    if len(key) != KEY_LENGTH:
        raise MalformedInput("the random source returned the wrong length")
    return key


def seal_attachment(
    data: bytes,
    *,
    name: str,
    media_type: str,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> SealedAttachment:
    """Seal one file held in memory (§3 step 1) and describe it for the manifest.

    Large files are sealed with the streaming functions of
    :mod:`testimony.crypto.stream` over ``pad``-ed input instead.
    """
    key = _fresh_key(random_bytes)
    ciphertext = stream.encrypt(key, padding.pad(data))
    blob = sha256(ciphertext).hex()
    descriptor = {
        "blob": blob,
        "key": b64u_encode(key),
        "name": name,
        "type": media_type,
        "size": len(data),
        "sha256": sha256(data).hex(),
    }
    return SealedAttachment(key=key, ciphertext=ciphertext, blob=blob, descriptor=descriptor)


def seal_submission(
    intake_public_key: bytes,
    manifest: Mapping[str, Any],
    *,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> SealedSubmission:
    """Seal a manifest to the intake key (§3 steps 3 and 4)."""
    cek = _fresh_key(random_bytes)
    body = stream.encrypt(cek, padding.pad(canonical.dumps(dict(manifest))))
    header = hpke.seal(intake_public_key, hpke.INFO_CEK, cek)
    return SealedSubmission(
        cek=cek, header=header, body=body, intake_key=hpke.key_id(intake_public_key)
    )


def open_body(cek: bytes, body: bytes) -> dict[str, Any]:
    """Decrypt a body with its CEK to the manifest object.

    Raises a :class:`~testimony.crypto.errors.StreamError` if the body does not
    decrypt, and :class:`MalformedInput` if it is not a JSON object.
    """
    plaintext = padding.unpad_body(stream.decrypt(cek, body))
    try:
        manifest = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedInput("the manifest is not JSON") from exc
    if not isinstance(manifest, dict):
        raise MalformedInput("the manifest is not a JSON object")
    return manifest


def open_submission(intake_seed: bytes, header: bytes, body: bytes) -> OpenedSubmission:
    """Open the header with the intake private seed, then the body (§3)."""
    cek = hpke.open(intake_seed, hpke.INFO_CEK, header)
    if len(cek) != KEY_LENGTH:
        raise MalformedInput("the header does not carry a 32-byte key")
    return OpenedSubmission(cek=cek, manifest=open_body(cek, body))


def open_attachment(descriptor: Mapping[str, Any], ciphertext: bytes) -> bytes:
    """Decrypt an attachment with the key its manifest entry names, cut to its
    ``size``, and check its ``sha256``.

    Raises :class:`MalformedInput` for a malformed descriptor or a file whose
    hash differs from the manifest's, and a ``StreamError`` when the ciphertext
    does not decrypt.
    """
    try:
        key = b64u_decode(descriptor["key"])
        size = descriptor["size"]
        expected = hex_decode(descriptor["sha256"], 32)
    except (KeyError, TypeError) as exc:
        raise MalformedInput("the attachment entry lacks key, size or sha256") from exc
    if len(key) != KEY_LENGTH:
        raise MalformedInput("an attachment key is 32 bytes")
    data = padding.unpad_attachment(stream.decrypt(key, ciphertext), size)
    if sha256(data) != expected:
        raise MalformedInput("the attachment does not match its manifest hash")
    return data


def _field_bytes(request: Mapping[str, Any], name: str) -> bytes:
    value = request.get(name)
    if not isinstance(value, str):
        raise MalformedInput(f"`{name}` is a b64u string")
    return b64u_decode(value)


def _blob_id(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise MalformedInput(f"{what} is a lowercase hex SHA-256")
    hex_decode(value, 32)
    return value


class SealedContent(NamedTuple):
    """What a sealed request (a submission's, a follow-up's) names, as its entry
    names it: the intake key id, ``hex(H(header))``, ``hex(H(body))`` and the
    attachments' blob ids, sorted."""

    intake_key: str
    header: str
    body: str
    attachments: tuple[str, ...]


def sealed_content(request: Mapping[str, Any]) -> SealedContent:
    """Check the members every sealed request has (§3 step 6: ``intake_key``,
    ``header``, ``body`` or ``body_blob``, ``attachments``) and hash them.

    Checks structure only: lengths and encodings, not that blobs exist.
    Raises :class:`MalformedInput`.
    """
    if not isinstance(request, Mapping):
        raise MalformedInput("the request is a JSON object")
    intake_key = request.get("intake_key")
    if not isinstance(intake_key, str) or len(intake_key) != 32:
        raise MalformedInput("`intake_key` is a 32-character key id")
    hex_decode(intake_key)
    header = _field_bytes(request, "header")
    if len(header) != HEADER_LENGTH:
        raise MalformedInput(f"`header` is {HEADER_LENGTH} bytes")
    has_body, has_blob = "body" in request, "body_blob" in request
    if has_body == has_blob:
        raise MalformedInput("a request has exactly one of `body` and `body_blob`")
    if has_body:
        body_hash = sha256(_field_bytes(request, "body")).hex()
    else:
        body_hash = _blob_id(request["body_blob"], "`body_blob`")
    attachments = request.get("attachments", [])
    if not isinstance(attachments, list):
        raise MalformedInput("`attachments` is a list of blob ids")
    blobs = sorted(_blob_id(blob, "an attachment") for blob in attachments)
    if len(set(blobs)) != len(blobs):
        raise MalformedInput("an attachment is named twice")
    return SealedContent(intake_key, sha256(header).hex(), body_hash, tuple(blobs))


def build_submission_entry(request: Mapping[str, Any], received: datetime) -> SubmissionEntry:
    """The §9 submission entry for a §3 step 6 request (``pow`` aside).

    ``received`` must already be floored to the server's granularity (§9).
    Checks structure only: lengths and encodings, not that blobs exist.
    Raises :class:`MalformedInput`.
    """
    content = sealed_content(request)
    witness = request.get("witness")
    witness_box = request.get("witness_box")
    if (witness is None) != (witness_box is None):
        raise MalformedInput("`witness` and `witness_box` come together")
    witness_key = witness_box_hash = None
    if witness is not None:
        witness_key = _field_bytes(request, "witness")
        if len(witness_key) != 32:
            raise MalformedInput("`witness` is a 32-byte Ed25519 public key")
        box = _field_bytes(request, "witness_box")
        if len(box) != hpke.PUBLIC_KEY_LENGTH:
            raise MalformedInput("`witness_box` is a 1216-byte S1 public key")
        witness_box_hash = sha256(box).hex()
    format_time(received)  # refuses, with its own message, a time not in whole UTC seconds
    return SubmissionEntry(
        intake_key=content.intake_key,
        header=content.header,
        body=content.body,
        attachments=content.attachments,
        witness=witness_key,
        witness_box=witness_box_hash,
        received=received,
    )


def submission_entry(request: Mapping[str, Any], received: datetime) -> bytes:
    """The JCS bytes of the §9 submission entry for a §3 step 6 request
    (:func:`build_submission_entry`'s, as logged)."""
    return build_submission_entry(request, received).to_json()


def entry_id(entry: bytes) -> str:
    """A log entry's id: ``hex(H(0x00 || entry))`` (§9)."""
    return merkle.leaf_hash(entry).hex()
