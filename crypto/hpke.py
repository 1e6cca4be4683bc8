"""HPKE suite S1 (docs/protocol.md §1): RFC 9180 base mode with the hybrid
post-quantum KEM MLKEM768-X25519 (X-Wing, KEM id 0x647a), HKDF-SHA256 and
AES-256-GCM, through ``cryptography.hazmat.primitives.hpke``.

A private key is a 32-byte seed: ``e = SHAKE256(seed, 96)``; ``e[0:64]`` is
the ML-KEM-768 seed ``d || z`` (FIPS 203) and ``e[64:96]`` the X25519 private
key. A public key is the ML-KEM-768 encapsulation key (1184 bytes) followed by
the X25519 public key (32 bytes). ``seal`` returns ``enc (1120 bytes) || ct``
with an empty AAD, exactly what ``Suite.encrypt`` returns.

>>> seed = bytes(32)
>>> pub = public_key(seed)
>>> len(pub), key_id(pub)
(1216, '3bb0b003f553f49f38bab31546b7f4fd')
>>> sealed = seal(pub, INFO_CEK, b"a content key")
>>> len(sealed)
1149
>>> open(seed, INFO_CEK, sealed)
b'a content key'
>>> open(seed, INFO_REPLY, sealed)
Traceback (most recent call last):
...
testimony.crypto.errors.HPKEOpenError: The sealed message does not open (wrong key, wrong info or altered data).
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hpke as _hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from .encoding import sha256
from .errors import CryptoError, HPKEOpenError, MalformedInput

__all__ = [
    "ENC_LENGTH",
    "INFO_CEK",
    "INFO_REPLY",
    "PUBLIC_KEY_LENGTH",
    "SEED_LENGTH",
    "key_id",
    "open",
    "public_key",
    "seal",
]

SEED_LENGTH = 32
MLKEM768_PUBLIC_LENGTH = 1184
X25519_LENGTH = 32
PUBLIC_KEY_LENGTH = MLKEM768_PUBLIC_LENGTH + X25519_LENGTH  # 1216
ENC_LENGTH = 1120
AEAD_TAG_LENGTH = 16

#: ``info`` of the header that carries a submission's content key (§3 step 4).
INFO_CEK = b"testimony/v1 cek"
#: ``info`` of a reviewer's reply sealed to a witness (§7).
INFO_REPLY = b"testimony/v1 reply"


class BackendUnsupported(CryptoError):
    """This build of ``cryptography`` has no ML-KEM, so suite S1 cannot run."""

    code = "hpke-unsupported"


def _suite() -> _hpke.Suite:
    try:
        return _hpke.Suite(_hpke.KEM.MLKEM768_X25519, _hpke.KDF.HKDF_SHA256, _hpke.AEAD.AES_256_GCM)
    except (AttributeError, UnsupportedAlgorithm) as exc:  # pragma: no cover - backend check
        raise BackendUnsupported() from exc


_SUITE = _suite()


def _check_seed(seed: bytes) -> None:
    if not isinstance(seed, bytes) or len(seed) != SEED_LENGTH:
        raise MalformedInput("an S1 private key is a 32-byte seed")


def _private_key(seed: bytes) -> _hpke.MLKEM768X25519PrivateKey:
    return _hpke.MLKEM768X25519PrivateKey(*_parts(seed))


def _parts(seed: bytes) -> tuple[mlkem.MLKEM768PrivateKey, x25519.X25519PrivateKey]:
    _check_seed(seed)
    expanded = hashlib.shake_256(seed).digest(96)
    return (
        mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]),
        x25519.X25519PrivateKey.from_private_bytes(expanded[64:]),
    )


def public_key(private_seed: bytes) -> bytes:
    """The 1216-byte S1 public key of a 32-byte private seed."""
    kem_key, dh_key = _parts(private_seed)
    return kem_key.public_key().public_bytes_raw() + dh_key.public_key().public_bytes_raw()


def _load_public(public: bytes) -> _hpke.MLKEM768X25519PublicKey:
    if not isinstance(public, bytes) or len(public) != PUBLIC_KEY_LENGTH:
        raise MalformedInput("an S1 public key is 1216 bytes")
    try:
        return _hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(public[:MLKEM768_PUBLIC_LENGTH]),
            x25519.X25519PublicKey.from_public_bytes(public[MLKEM768_PUBLIC_LENGTH:]),
        )
    except ValueError as exc:
        raise MalformedInput("not an S1 public key") from exc


def key_id(public: bytes) -> str:
    """The key id of an S1 public key: ``hex(H(public key))[:32]``."""
    if not isinstance(public, bytes) or len(public) != PUBLIC_KEY_LENGTH:
        raise MalformedInput("an S1 public key is 1216 bytes")
    return sha256(public).hex()[:32]


def seal(public: bytes, info: bytes, plaintext: bytes) -> bytes:
    """``Seal_S1(pk, info, pt)``: ``enc || ct`` with a fresh ephemeral key.

    Raises :class:`MalformedInput` for a public key that is not 1216 bytes of a
    valid ML-KEM-768 and X25519 key.
    """
    if not isinstance(info, bytes) or not isinstance(plaintext, bytes):
        raise MalformedInput("info and plaintext are bytes")
    return _SUITE.encrypt(plaintext, _load_public(public), info=info)


def open(private_seed: bytes, info: bytes, sealed: bytes) -> bytes:
    """``Open_S1``: the plaintext of ``sealed``, or :class:`HPKEOpenError` if it
    was sealed to another key, with another ``info``, or altered."""
    if not isinstance(info, bytes) or not isinstance(sealed, bytes):
        raise MalformedInput("info and sealed data are bytes")
    key = _private_key(private_seed)
    if len(sealed) < ENC_LENGTH + AEAD_TAG_LENGTH:
        raise HPKEOpenError()
    try:
        return _SUITE.decrypt(sealed, key, info=info)
    except (InvalidTag, ValueError):
        raise HPKEOpenError() from None
