"""Proof of work, the client's side (docs/protocol.md §8): pure, no I/O.

The server hands out an opaque challenge and a difficulty ``bits``; a client
finds a ``nonce`` such that ``H(challenge bytes || nonce)`` has at least
``bits`` leading zero bits. The server's side (issuing, MACing, spending
challenges) is ``testimony.service.domain.pow``; both use these functions, so
client and server count bits the same way.

>>> from testimony.crypto.encoding import b64u_decode, sha256
>>> nonce = solve("AAAA", 8)
>>> leading_zero_bits(sha256(b64u_decode("AAAA") + b64u_decode(nonce))) >= 8
True
"""

from __future__ import annotations

from .encoding import b64u_decode, b64u_encode, sha256

__all__ = ["MAX_BITS", "MAX_NONCE_BYTES", "leading_zero_bits", "solve"]

MAX_BITS = 64
"""Highest difficulty a server may ask for."""

MAX_NONCE_BYTES = 64
"""Longest nonce a server accepts."""


def leading_zero_bits(digest: bytes) -> int:
    """The number of leading zero bits of ``digest``.

    >>> leading_zero_bits(bytes([0, 0x10]) + bytes(30))
    11
    """
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def solve(challenge: str, bits: int) -> str:
    """Find a nonce for the b64u ``challenge``; returns the b64u nonce.

    Costs about ``2**bits`` hashes. Raises ``MalformedInput`` for a
    challenge that is not b64u and ``ValueError`` for ``bits`` outside
    0..:data:`MAX_BITS`.
    """
    if not 0 <= bits <= MAX_BITS:
        raise ValueError(f"proof-of-work bits are 0 to {MAX_BITS}")
    raw = b64u_decode(challenge)
    counter = 0
    while True:
        nonce = counter.to_bytes(8, "big")
        if leading_zero_bits(sha256(raw + nonce)) >= bits:
            return b64u_encode(nonce)
        counter += 1
