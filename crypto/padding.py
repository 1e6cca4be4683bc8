"""Padmé padding of plaintext lengths (docs/protocol.md §3).

Ciphertext lengths must not give away exact sizes. ``pad(x)`` appends zero
bytes up to ``padme(len(x))`` (Nikitin et al., "Reducing Metadata Leakage from
Encrypted Files and Communication with PURBs", PETS 2019): at most 12 % more,
leaking O(log log L) bits of the length.

Readers never require padding: an attachment's plaintext is cut to the
``size`` the manifest declares (:func:`unpad_attachment`), and a body's
trailing zero bytes are stripped (:func:`unpad_body`; JSON never ends in one).

>>> [padme(n) for n in (0, 1, 9, 100, 1000, 70000)]
[0, 1, 10, 104, 1024, 71680]
>>> pad(b"abc")
b'abc'
>>> len(pad(bytes(70000)))
71680
>>> unpad_body(b'{"v":1}\\x00\\x00')
b'{"v":1}'
"""

from __future__ import annotations

from .errors import MalformedInput, PaddingError

__all__ = ["pad", "padding_length", "padme", "unpad_attachment", "unpad_body"]


def padme(length: int) -> int:
    """The Padmé length of ``length``: for L >= 2, E = floor(log2 L),
    S = floor(log2 E) + 1, z = E - S, round L up to a multiple of 2**z."""
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise MalformedInput("a length is a non-negative integer")
    if length < 2:
        return length
    e = length.bit_length() - 1
    s = e.bit_length()  # floor(log2 E) + 1
    mask = (1 << (e - s)) - 1
    return (length + mask) & ~mask


def padding_length(length: int) -> int:
    """How many zero bytes :func:`pad` appends to ``length`` bytes."""
    return padme(length) - length


def pad(data: bytes) -> bytes:
    """``data`` followed by zero bytes up to its Padmé length."""
    return bytes(data) + bytes(padding_length(len(data)))


def unpad_body(plaintext: bytes) -> bytes:
    """A submission body's plaintext without its trailing zero bytes."""
    return plaintext.rstrip(b"\x00")


def unpad_attachment(plaintext: bytes, size: int) -> bytes:
    """The first ``size`` bytes of an attachment's plaintext.

    Raises :class:`PaddingError` when the plaintext is shorter than ``size``.
    What follows ``size`` is ignored, as §3 says (a conforming client writes
    zeros there; a reader never requires padding).
    """
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise MalformedInput("a size is a non-negative integer")
    if len(plaintext) < size:
        raise PaddingError()
    return plaintext[:size]
