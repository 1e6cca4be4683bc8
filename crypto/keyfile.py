"""Secrets sealed under a passphrase, for files at rest on a reviewer's
machine (the workstation's identity, its keyring): pure, no I/O.

A sealed file is JCS JSON::

    {"v": 1, "kdf": {"name": "argon2id", "salt": b64u (16 bytes),
                     "iterations": t, "lanes": p, "memory_kib": m},
     "label": "<what it holds>", "public": {...}, "nonce": b64u (12 bytes),
     "sealed": b64u AES-256-GCM(K, nonce, JCS(secret), aad = JCS(the file without "sealed"))}

``K = Argon2id(passphrase as UTF-8 (NFC), salt, t, p, m, length 32)``.
Everything but ``sealed`` is bound as associated data, so neither the KDF's
parameters nor the public part can be changed without the file failing to
open. A wrong passphrase and an altered file are one error
(:class:`KeyfileError`): they cannot be told apart, and the message holds
neither.

>>> sealed = seal({"seed": "AAAA"}, "correct horse", label="test", cost=FAST_FOR_TESTS)
>>> open_(sealed, "correct horse")
{'seed': 'AAAA'}
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from . import canonical
from .encoding import b64u_decode, b64u_encode
from .errors import CryptoError, MalformedInput

__all__ = ["DEFAULT_COST", "FAST_FOR_TESTS", "Cost", "KeyfileError", "open_", "public_part", "seal"]


class KeyfileError(CryptoError):
    """The passphrase does not open this file, or the file was altered."""

    code = "wrong-passphrase"


@dataclass(frozen=True)
class Cost:
    """Argon2id's parameters."""

    iterations: int
    lanes: int
    memory_kib: int


DEFAULT_COST = Cost(iterations=3, lanes=4, memory_kib=256 * 1024)
"""About a second on a laptop core: unlocking is rare, guessing must be dear
(RFC 9106's second recommended option, with 256 MiB instead of 64)."""
FAST_FOR_TESTS = Cost(iterations=1, lanes=1, memory_kib=8 * 1024)
_LIMITS = Cost(iterations=64, lanes=16, memory_kib=4 * 1024 * 1024)
_MEMBERS = frozenset({"v", "kdf", "label", "public", "nonce", "sealed"})


def _key(passphrase: str, salt: bytes, cost: Cost) -> bytes:
    if not isinstance(passphrase, str) or not passphrase:
        raise MalformedInput("a passphrase is a non-empty string")
    return Argon2id(
        salt=salt,
        length=32,
        iterations=cost.iterations,
        lanes=cost.lanes,
        memory_cost=cost.memory_kib,
    ).derive(unicodedata.normalize("NFC", passphrase).encode("utf-8"))


def seal(
    secret: Mapping[str, Any],
    passphrase: str,
    *,
    label: str,
    public: Mapping[str, Any] | None = None,
    cost: Cost = DEFAULT_COST,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> bytes:
    """The sealed file (JCS bytes) holding ``secret`` under ``passphrase``."""
    salt, nonce = random_bytes(16), random_bytes(12)
    head = {
        "v": 1,
        "kdf": {
            "name": "argon2id",
            "salt": b64u_encode(salt),
            "iterations": cost.iterations,
            "lanes": cost.lanes,
            "memory_kib": cost.memory_kib,
        },
        "label": label,
        "public": dict(public or {}),
        "nonce": b64u_encode(nonce),
    }
    key = _key(passphrase, salt, cost)
    sealed = AESGCM(key).encrypt(nonce, canonical.dumps(dict(secret)), canonical.dumps(head))
    return canonical.dumps({**head, "sealed": b64u_encode(sealed)})


def _head(data: bytes) -> tuple[dict[str, Any], bytes, Cost, bytes, bytes]:
    try:
        file = canonical.loads(data)
        if not isinstance(file, dict) or set(file) != _MEMBERS or file["v"] != 1:
            raise MalformedInput("not a Testimony key file")
        kdf = file["kdf"]
        if not isinstance(kdf, dict) or kdf.get("name") != "argon2id":
            raise MalformedInput("the key file names an unknown key derivation")
        cost = Cost(int(kdf["iterations"]), int(kdf["lanes"]), int(kdf["memory_kib"]))
        salt, nonce = b64u_decode(kdf["salt"]), b64u_decode(file["nonce"])
        sealed = b64u_decode(file["sealed"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedInput("not a Testimony key file") from exc
    if not (
        1 <= cost.iterations <= _LIMITS.iterations
        and 1 <= cost.lanes <= _LIMITS.lanes
        and 8 * cost.lanes <= cost.memory_kib <= _LIMITS.memory_kib
        and len(salt) == 16
        and len(nonce) == 12
    ):
        raise MalformedInput("the key file's parameters are out of range")
    head = {k: v for k, v in file.items() if k != "sealed"}
    return head, salt, cost, nonce, sealed


def public_part(data: bytes) -> tuple[str, dict[str, Any]]:
    """The file's label and public part, read without the passphrase (not
    authenticated until the file is opened)."""
    head, *_ = _head(data)
    return str(head["label"]), dict(head["public"])


def open_(data: bytes, passphrase: str) -> dict[str, Any]:
    """The secret sealed in ``data``. Raises :class:`KeyfileError` for a wrong
    passphrase or an altered file, ``MalformedInput`` for what is no key file."""
    head, salt, cost, nonce, sealed = _head(data)
    key = _key(passphrase, salt, cost)
    try:
        plaintext = AESGCM(key).decrypt(nonce, sealed, canonical.dumps(head))
    except InvalidTag:
        raise KeyfileError() from None
    value = canonical.loads(plaintext)
    if not isinstance(value, dict):
        raise KeyfileError()
    return value
