"""Ed25519 signatures (docs/protocol.md §1) over canonical JSON (§0, §7, §9).

Signed requests and log entries are JSON objects whose ``signature`` member is
the b64u Ed25519 signature over the JCS bytes of the object *without* that
member. :func:`sign_json` adds it; :func:`verify_json` checks it and raises.

>>> key = private_key_from_seed(bytes(range(32)))
>>> signed = sign_json(key, {"type": "approval", "n": 1})
>>> sorted(signed)
['n', 'signature', 'type']
>>> verify_json(public_key_bytes(key), signed)
>>> verify_json(public_key_bytes(key), dict(signed, n=2))
Traceback (most recent call last):
...
testimony.crypto.errors.SignatureError: The Ed25519 signature does not verify.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import canonical
from .ed25519 import check_public_key
from .encoding import b64u_decode, b64u_encode
from .errors import MalformedInput, SignatureError

__all__ = [
    "SIGNATURE_FIELD",
    "private_key_from_seed",
    "public_key_bytes",
    "sign",
    "sign_json",
    "verify",
    "verify_json",
]

SIGNATURE_FIELD = "signature"


def private_key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    """The Ed25519 private key of a 32-byte seed (RFC 8032)."""
    if not isinstance(seed, bytes) or len(seed) != 32:
        raise MalformedInput("an Ed25519 seed is 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of the public half of ``key``."""
    return key.public_key().public_bytes_raw()


def _public_key(public_key: bytes) -> Ed25519PublicKey:
    # OpenSSL loads any 32 bytes, small-order points included, with which
    # R = that point, S = 0 verifies for every message (crypto/ed25519.py).
    check_public_key(public_key)
    try:
        return Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError as exc:  # pragma: no cover - any 32 bytes load
        raise MalformedInput("not an Ed25519 public key") from exc


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``message``."""
    return key.sign(message)


def verify(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Check an Ed25519 signature; raise :class:`SignatureError` if it fails."""
    pub = _public_key(public_key)
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise SignatureError()
    try:
        pub.verify(signature, message)
    except InvalidSignature:
        raise SignatureError() from None


def _unsigned(obj: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        raise MalformedInput("a signed object is a JSON object")
    return {k: v for k, v in obj.items() if k != SIGNATURE_FIELD}


def sign_json(key: Ed25519PrivateKey, obj: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``obj`` with ``signature`` = b64u(Ed25519(JCS(obj without signature)))."""
    unsigned = _unsigned(obj)
    signature = sign(key, canonical.dumps(unsigned))
    return {**unsigned, SIGNATURE_FIELD: b64u_encode(signature)}


def verify_json(public_key: bytes, obj: Mapping[str, Any]) -> None:
    """Check the ``signature`` member of ``obj``; raise :class:`SignatureError`."""
    unsigned = _unsigned(obj)
    encoded = obj.get(SIGNATURE_FIELD)
    if not isinstance(encoded, str):
        raise SignatureError()
    try:
        signature = b64u_decode(encoded)
    except MalformedInput:
        raise SignatureError() from None
    verify(public_key, canonical.dumps(unsigned), signature)
