"""The tus 1.0 headers of docs/protocol.md §6, read into plain values.

The domain (``domain.uploads``) takes a length, a blob id and a proof of work;
this module is where they come from:

- ``Tus-Resumable: 1.0.0`` on every request but ``OPTIONS``
  (:func:`require_tus`, else :class:`TusVersionUnsupported`, 412);
- ``Upload-Length`` and ``Upload-Offset``, whole numbers (:func:`whole_number`);
- ``Upload-Metadata``, comma-separated ``key base64value`` pairs
  (:func:`parse_metadata`): ``sha256`` is the standard, padded base64 of the
  blob id's 64 lowercase hex digits, and ``pow`` that of the ASCII text
  ``<challenge>:<nonce>`` (the §8 challenge and the b64u nonce). Other members
  are allowed and ignored (never stored);
- a ``PATCH`` body's media type, ``application/offset+octet-stream``
  (:func:`require_offset_media_type`).

A malformed header is :class:`~testimony.service.domain.errors.MalformedUpload`
(400). A ``pow`` member that is not a challenge and a nonce is read as an
empty proof, which the domain refuses (403 ``pow-invalid``) while it asks for
work and ignores while it does not.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass

from testimony.service.domain.errors import MalformedUpload

from .errors import ApiError, UnsupportedMediaType

__all__ = [
    "OFFSET_MEDIA_TYPE",
    "TUS_EXTENSIONS",
    "TUS_VERSION",
    "TusVersionUnsupported",
    "UploadMetadata",
    "parse_metadata",
    "require_offset_media_type",
    "require_tus",
    "whole_number",
]

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,expiration"
OFFSET_MEDIA_TYPE = "application/offset+octet-stream"

_HEX_ID = re.compile(r"[0-9a-f]{64}")
_METADATA_KEY = re.compile(r"[!-+\--~]+")  # printable ASCII without space and comma
_SHA256_MISSING = "Upload-Metadata must carry `sha256 <base64 of the hex SHA-256>`"


class TusVersionUnsupported(ApiError):
    """The request does not speak tus 1.0.0 (Tus-Resumable: 1.0.0)."""

    code = "tus-version-unsupported"


@dataclass(frozen=True)
class UploadMetadata:
    """What a creation's ``Upload-Metadata`` says: the blob id, and the proof
    of work (``{"challenge", "nonce"}``; ``{}`` if malformed; None if absent)."""

    blob_id: str
    proof: dict[str, str] | None


def require_tus(headers: Mapping[str, str]) -> None:
    """Raise :class:`TusVersionUnsupported` unless ``Tus-Resumable: 1.0.0``."""
    if headers.get("tus-resumable") != TUS_VERSION:
        raise TusVersionUnsupported()


def require_offset_media_type(headers: Mapping[str, str]) -> None:
    """Raise ``UnsupportedMediaType`` unless the body is ``application/offset+octet-stream``."""
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != OFFSET_MEDIA_TYPE:
        raise UnsupportedMediaType(f"a PATCH body is {OFFSET_MEDIA_TYPE}")


def whole_number(text: str | None, name: str) -> int:
    """The value of header ``name``: ASCII digits, at most 19. Raises ``MalformedUpload``."""
    if text is None or not text.isascii() or not text.isdigit() or len(text) > 19:
        raise MalformedUpload(f"{name} is a whole number of bytes")
    return int(text)


def _members(header: str) -> dict[str, str]:
    members: dict[str, str] = {}
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        if not 1 <= len(parts) <= 2 or _METADATA_KEY.fullmatch(parts[0]) is None:
            raise MalformedUpload("Upload-Metadata is `key base64value` pairs, comma-separated")
        if parts[0] in members:
            raise MalformedUpload("Upload-Metadata names a key twice")
        members[parts[0]] = parts[1] if len(parts) == 2 else ""
    return members


def _ascii(encoded: str) -> str | None:
    try:
        return base64.b64decode(encoded, validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        # binascii.Error for bad base64; a plain ValueError for text that is
        # not ASCII (headers are read as latin-1, so any byte may arrive).
        return None


def _proof(encoded: str) -> dict[str, str]:
    text = _ascii(encoded) if encoded else None
    if text is None or text.count(":") != 1:
        return {}
    challenge, nonce = text.split(":")
    return {"challenge": challenge, "nonce": nonce}


def parse_metadata(header: str | None) -> UploadMetadata:
    """The blob id and proof of work a creation's ``Upload-Metadata`` declares.

    Raises ``MalformedUpload`` if the header is missing or malformed, has no
    ``sha256`` member, or that member is not the base64 of 64 lowercase hex
    digits.
    """
    if header is None or header.strip() == "":
        raise MalformedUpload(_SHA256_MISSING)
    members = _members(header)
    encoded = members.get("sha256")
    if not encoded:
        raise MalformedUpload(_SHA256_MISSING)
    blob_id = _ascii(encoded)
    if blob_id is None:
        raise MalformedUpload("the sha256 metadata is not base64")
    if _HEX_ID.fullmatch(blob_id) is None:
        raise MalformedUpload("the sha256 metadata is not 64 lowercase hex digits")
    proof = _proof(members["pow"]) if "pow" in members else None
    return UploadMetadata(blob_id, proof)
