"""Byte encodings of docs/protocol.md §0: ``b64u`` (base64url, no padding), ``hex``,
standard padded base64 (checkpoints, §9) and ``H`` (SHA-256).

Decoders are strict: they reject padding where there must be none, characters
outside the alphabet, and non-canonical encodings (stray low bits), so that one
value has exactly one spelling.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from .errors import MalformedInput

_B64U = re.compile(r"[A-Za-z0-9_-]*")
_B64STD = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_HEX = re.compile(r"[0-9a-f]*")


def sha256(data: bytes) -> bytes:
    """``H(data)``: the SHA-256 digest."""
    return hashlib.sha256(data).digest()


def b64u_encode(data: bytes) -> str:
    """base64url without padding.

    >>> b64u_encode(b"\\xfb\\xff")
    '-_8'
    """
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Decode base64url without padding, strictly.

    >>> b64u_decode("-_8")
    b'\\xfb\\xff'
    """
    if not isinstance(text, str) or len(text) % 4 == 1 or _B64U.fullmatch(text) is None:
        raise MalformedInput("not base64url without padding")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64u_encode(data) != text:
        raise MalformedInput("not canonical base64url")
    return data


def b64_encode(data: bytes) -> str:
    """Standard base64 with padding (used in signed notes)."""
    return base64.b64encode(data).decode("ascii")


def b64_decode(text: str) -> bytes:
    """Decode standard padded base64, strictly (canonical form only)."""
    if not isinstance(text, str) or _B64STD.fullmatch(text) is None:
        raise MalformedInput("not standard base64")
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error as exc:  # pragma: no cover - the pattern rules this out
        raise MalformedInput("not standard base64") from exc
    if b64_encode(data) != text:
        raise MalformedInput("not canonical base64")
    return data


def hex_decode(text: str, length: int | None = None) -> bytes:
    """Decode lowercase hexadecimal, optionally of an exact byte length."""
    if not isinstance(text, str) or len(text) % 2 or _HEX.fullmatch(text) is None:
        raise MalformedInput("not lowercase hexadecimal")
    data = bytes.fromhex(text)
    if length is not None and len(data) != length:
        raise MalformedInput(f"expected {length} bytes of hexadecimal")
    return data
