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

import hashlib
from collections.abc import Callable

from .encoding import b64u_decode, b64u_encode

__all__ = ["MAX_BITS", "MAX_NONCE_BYTES", "REPORT_EVERY", "leading_zero_bits", "solve"]

MAX_BITS = 64
"""Highest difficulty a server may ask for."""

MAX_NONCE_BYTES = 64
"""Longest nonce a server accepts."""

REPORT_EVERY = 1 << 16
"""Hashes between two calls of :func:`solve`'s ``progress``."""


def leading_zero_bits(digest: bytes) -> int:
    """The number of leading zero bits of ``digest``.

    >>> leading_zero_bits(bytes([0, 0x10]) + bytes(30))
    11
    """
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def solve(challenge: str, bits: int, progress: Callable[[int, int], None] | None = None) -> str:
    """Find a nonce for the b64u ``challenge``; returns the b64u nonce.

    Costs about ``2**bits`` hashes; ``progress(tried, expected)``, if given,
    is told every :data:`REPORT_EVERY` hashes (``expected`` is ``2**bits``:
    the search may end before or after it). Raises ``MalformedInput`` for a
    challenge that is not b64u and ``ValueError`` for ``bits`` outside
    0..:data:`MAX_BITS`.
    """
    if not 0 <= bits <= MAX_BITS:
        raise ValueError(f"proof-of-work bits are 0 to {MAX_BITS}")
    prefix = hashlib.sha256(b64u_decode(challenge))
    # A digest has at least `bits` leading zero bits exactly when, read as a
    # number, it is below 2**(256 - bits).
    bound = 1 << (256 - bits)
    expected = 1 << bits
    counter = 0
    while True:
        for counter in range(counter, counter + REPORT_EVERY):  # noqa: B020 - resumes the count
            nonce = counter.to_bytes(8, "big")
            attempt = prefix.copy()
            attempt.update(nonce)
            if int.from_bytes(attempt.digest(), "big") < bound:
                return b64u_encode(nonce)
        counter += 1
        if progress is not None:
            progress(counter, expected)
