"""Ed25519 public keys as points (RFC 8032 §5.1.3), checked where ``cryptography`` does not.

``Ed25519PublicKey.from_public_bytes`` (OpenSSL) loads any 32 bytes: an
encoding that is not a point, a non-canonical one, or a point of small order.
A small-order key is worse than useless: with it, the signature
``R = that point, S = 0`` verifies for *every* message under OpenSSL, so
anyone could sign in the name of a witness key that is one (a follow-up, a
replies request). :func:`check_public_key` refuses anything but the canonical
encoding of a point of the prime-order subgroup — non-canonical encodings,
bytes that name no point of the curve, points of small order and points with
a small-order component ("mixed order") — with libsodium's
``crypto_core_ed25519_is_valid_point`` (through PyNaCl), a maintained
implementation of exactly that check, rather than curve arithmetic of our own.
It costs about 0.07 ms. Every key made from a seed passes.

>>> from testimony.crypto.signing import private_key_from_seed, public_key_bytes
>>> check_public_key(public_key_bytes(private_key_from_seed(bytes(32))))
>>> check_public_key((1).to_bytes(32, "little"))
Traceback (most recent call last):
...
testimony.crypto.errors.MalformedInput: not an Ed25519 public key: not the canonical encoding of a point of prime order
"""

from __future__ import annotations

from nacl.bindings import crypto_core_ed25519_is_valid_point

from .errors import MalformedInput

__all__ = ["PUBLIC_KEY_LENGTH", "check_public_key"]

PUBLIC_KEY_LENGTH = 32


def check_public_key(key: bytes) -> None:
    """Check that ``key`` encodes an Ed25519 public key (see the module docstring).

    Raises :class:`MalformedInput` naming what is wrong.
    """
    if not isinstance(key, bytes) or len(key) != PUBLIC_KEY_LENGTH:
        raise MalformedInput("an Ed25519 public key is 32 bytes")
    if not crypto_core_ed25519_is_valid_point(key):
        raise MalformedInput(
            "not an Ed25519 public key: not the canonical encoding of a point of prime order"
        )
