"""Codes a person reads aloud or types: the setup token and invite codes
(docs/protocol.md §12.3, §12.4; docs/reviewers-api.md).

A code is 20 random bytes in Crockford's base32 (digits and capital letters
without I, L, O and U), eight groups of four joined by ``-``. It never begins
with ``-`` (a command line would take it for an option), has no letters that
look alike, and survives being read over a bad telephone line: a typed code is
normalised before use (case, spaces and hyphens do not matter; ``I`` and ``L``
are read as ``1``, ``O`` as ``0``). The log and the server keep only
:func:`code_hash` of the normalised code.

>>> code = new_code(lambda n: bytes(range(n)))
>>> code
'000G-40R4-0M30-E209-185G-R38E-1W81-24GK'
>>> normalise_code(" 000g 40r4-0m3o-e2o9-185g r38e 1w8l-24gk ") == code
True
>>> code_hash(code) == code_hash(code.lower())
True
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

from .errors import MalformedInput

__all__ = ["CODE_BYTES", "code_hash", "new_code", "normalise_code"]

CODE_BYTES = 20
"""Random bytes in a code: 160 bits, 32 base32 digits."""

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
_DIGITS = CODE_BYTES * 8 // 5
_GROUP = 4


def _group(digits: str) -> str:
    return "-".join(digits[i : i + _GROUP] for i in range(0, len(digits), _GROUP))


def new_code(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """A fresh code, grouped for reading (see the module docstring)."""
    value = int.from_bytes(random_bytes(CODE_BYTES), "big")
    digits = "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(_DIGITS)))
    return _group(digits)


def normalise_code(text: str) -> str:
    """The code ``text`` spells, in its printed form.

    Raises :class:`~testimony.crypto.errors.MalformedInput` (without echoing
    the text, which may be a secret) if it is not 32 base32 digits.
    """
    if not isinstance(text, str):
        raise MalformedInput("a code is text")
    digits = "".join(text.split()).replace("-", "").upper().translate(_READ_AS)
    if len(digits) != _DIGITS or any(c not in _ALPHABET for c in digits):
        raise MalformedInput(f"a code is {_DIGITS} letters and digits, in groups of {_GROUP}")
    return _group(digits)


def code_hash(text: str) -> str:
    """``hex(SHA-256(normalised code))``: what the log and the server keep."""
    return hashlib.sha256(normalise_code(text).encode("ascii")).hexdigest()
