"""STREAM: chunked AES-256-GCM encryption of one byte string (docs/protocol.md §2).

A 32-byte key ``K`` encrypts one plaintext only. The plaintext is cut into
:data:`CHUNK`-byte chunks (the last may be shorter; an empty plaintext is one
empty chunk), and chunk ``i`` of ``n`` is sealed as
``AESGCM(K).encrypt(i as 11 bytes || (0x01 if i == n-1 else 0x00), chunk, None)``.
The ciphertext is those sealed chunks concatenated, with no header. A writer
never ends with an empty chunk after a full one: a plaintext of exactly
65,536 bytes is one full final chunk.

A reader cuts the ciphertext into :data:`CIPHERTEXT_CHUNK`-byte chunks; a chunk
is the final one exactly when the input ends with it. Chunks are checked in
order, and each failure has its own error (all are :class:`StreamError`):

- no chunk at all (empty input): :class:`StreamTruncatedError`;
- the final chunk is shorter than a tag, or is an empty chunk (exactly a tag)
  after other chunks, which no writer produces: :class:`StreamShortChunkError`.
  This is decided by length alone, before any tag is checked, and
  :func:`plaintext_length` rejects the same lengths;
- a chunk does not authenticate in its place. It is then tried with the other
  value of the final flag, which tells what happened:

  - a final chunk that authenticates as *non-final*: the stream was cut after
    it, :class:`StreamTruncatedError`;
  - a non-final chunk that authenticates as *final*: the real last chunk is
    followed by more data. When that data begins with a chunk that
    authenticates as the next chunk of this stream, a final flag was set in
    the middle of a stream: :class:`StreamMisplacedFinalError`; otherwise it is
    foreign data after the end: :class:`StreamTrailingDataError`;
  - otherwise: :class:`StreamTagError` (wrong key, altered or reordered data).

Bytes appended to a stream whose final chunk is short become part of that
chunk, so they show as a :class:`StreamTagError`; only bytes after a *full*
final chunk can be told apart as trailing data. Finding the old end inside a
chunk would mean trying every shorter length, which a reader must not do.

Plaintext is released only chunk by chunk, each after its tag verifies. The
streaming decrypters (:func:`decrypt_chunks`, :func:`decrypt_file`) release
earlier chunks before a later one fails, so their output is untrusted until
they finish without an error: discard it on any error. :func:`decrypt`
returns nothing unless the whole stream verifies. Memory use of the streaming
functions is a few chunks, whatever the size of the plaintext.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import (
    MalformedInput,
    StreamError,
    StreamMisplacedFinalError,
    StreamShortChunkError,
    StreamTagError,
    StreamTrailingDataError,
    StreamTruncatedError,
)

__all__ = [
    "CHUNK",
    "CIPHERTEXT_CHUNK",
    "KEY_SIZE",
    "TAG",
    "SupportsReadinto",
    "SupportsWrite",
    "ciphertext_length",
    "decrypt",
    "decrypt_chunks",
    "decrypt_file",
    "encrypt",
    "encrypt_chunks",
    "encrypt_file",
    "plaintext_length",
]

KEY_SIZE = 32
"""Bytes in a STREAM key."""
CHUNK = 65536
"""Bytes of plaintext in every chunk but the last."""
TAG = 16
"""Bytes of the AES-GCM tag that ends every sealed chunk."""
CIPHERTEXT_CHUNK = CHUNK + TAG
"""Bytes in every sealed chunk but the last (65,552)."""

_COUNTER_BYTES = 11
_NON_FINAL = b"\x00"
_FINAL = b"\x01"

_Bytes = bytes | bytearray | memoryview


class SupportsReadinto(Protocol):
    """A binary source such as ``open(path, "rb")`` or :class:`io.BytesIO`."""

    def readinto(self, buffer: memoryview, /) -> int | None:
        """Fill ``buffer`` from the start; return the count, 0 at the end."""
        ...


class SupportsWrite(Protocol):
    """A binary sink such as ``open(path, "wb")`` or :class:`io.BytesIO`."""

    def write(self, data: memoryview, /) -> int | None:
        """Take ``data``, copying it; return how much was taken (None: all of it)."""
        ...


# --- lengths -----------------------------------------------------------------


def ciphertext_length(plaintext_len: int) -> int:
    """The length of ``STREAM(K, P)`` for a plaintext of ``plaintext_len`` bytes.

    Raises :class:`MalformedInput` if ``plaintext_len`` is not a non-negative int.
    """
    _check_length(plaintext_len)
    chunks = max(1, -(-plaintext_len // CHUNK))
    return plaintext_len + chunks * TAG


def plaintext_length(ciphertext_len: int) -> int:
    """The plaintext length of a STREAM ciphertext of ``ciphertext_len`` bytes.

    Raises, as :func:`decrypt` would for a ciphertext of that length,
    :class:`StreamTruncatedError` for 0 and :class:`StreamShortChunkError` when
    the final chunk would be shorter than a tag or an empty non-first chunk;
    :class:`MalformedInput` if ``ciphertext_len`` is not a non-negative int.
    """
    _check_length(ciphertext_len)
    full, final_len = divmod(ciphertext_len, CIPHERTEXT_CHUNK)
    if final_len == 0 and full > 0:
        full, final_len = full - 1, CIPHERTEXT_CHUNK
    if final_len == 0:
        raise StreamTruncatedError("the STREAM ciphertext is empty: no final chunk")
    _check_final_length(full, final_len)
    return full * CHUNK + final_len - TAG


# --- whole byte strings ----------------------------------------------------------


def encrypt(key: bytes, data: bytes) -> bytes:
    """``STREAM(key, data)``: the sealed chunks of ``data``, concatenated.

    ``data`` may be any bytes-like object. Raises :class:`MalformedInput` if
    ``key`` is not 32 bytes or ``data`` is not bytes-like.
    """
    aead = _aead(key)
    sealed = io.BytesIO()
    _write_each(_sealed(aead, _slices(_byte_view(data), CHUNK)), sealed)
    return sealed.getvalue()


def decrypt(key: bytes, data: bytes) -> bytes:
    """The plaintext of the STREAM ciphertext ``data`` under ``key``.

    Returns only when every chunk verifies. Raises :class:`MalformedInput` if
    ``key`` is not 32 bytes or ``data`` is not bytes-like, else a
    :class:`StreamError` subclass as the module docstring describes:
    :class:`StreamTruncatedError` (empty, or cut after a chunk),
    :class:`StreamShortChunkError`, :class:`StreamTagError`,
    :class:`StreamMisplacedFinalError` or :class:`StreamTrailingDataError`.
    """
    aead = _aead(key)
    opened = io.BytesIO()
    _write_each(_opened(aead, _slices(_byte_view(data), CIPHERTEXT_CHUNK)), opened)
    return opened.getvalue()


# --- iterators -------------------------------------------------------------------


def encrypt_chunks(key: bytes, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Encrypt a plaintext given as pieces of any sizes, one sealed chunk at a time.

    The pieces are re-cut into :data:`CHUNK`-byte chunks; each value yielded
    is one sealed chunk, and together they are ``encrypt(key, b"".join(chunks))``.
    It looks one chunk ahead to know which chunk is final, so memory use is a
    few chunks. Pieces other than ``bytes`` are copied, so a producer may reuse
    a ``bytearray`` buffer.

    Raises :class:`MalformedInput` at once if ``key`` is not 32 bytes, and
    while iterating if a piece is not bytes-like.
    """
    aead = _aead(key)
    return (bytes(view) for view in _sealed(aead, _rechunk(chunks, CHUNK)))


def decrypt_chunks(key: bytes, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decrypt a STREAM ciphertext given as pieces of any sizes, chunk by chunk.

    The pieces are re-cut into :data:`CIPHERTEXT_CHUNK`-byte chunks; each
    value yielded is the plaintext of one chunk whose tag verified. It looks
    one chunk ahead to know which chunk is final, so memory use is a few chunks.
    Pieces other than ``bytes`` are copied, so a producer may reuse a buffer.

    **The output is untrusted until the iterator is exhausted without an
    error**: a later chunk may still fail after earlier plaintext has been
    yielded. On any error, discard everything yielded.

    Raises :class:`MalformedInput` at once if ``key`` is not 32 bytes; while
    iterating, :class:`MalformedInput` if a piece is not bytes-like, and the
    :class:`StreamError` subclasses that :func:`decrypt` raises, in the same cases.
    """
    aead = _aead(key)
    return (bytes(view) for view in _opened(aead, _rechunk(chunks, CIPHERTEXT_CHUNK)))


# --- files -----------------------------------------------------------------------


def encrypt_file(key: bytes, src: SupportsReadinto, dst: SupportsWrite) -> int:
    """Encrypt everything ``src`` holds, from its position to its end, into ``dst``.

    Returns the number of bytes written: ``ciphertext_length`` of the bytes
    read. This is the fast path: it reads with ``readinto`` into two fixed
    buffers and writes views of a third, reused one, so ``dst.write`` must copy
    what it is given (every :mod:`io` class does). Memory use is three chunks.

    Raises :class:`MalformedInput` if ``key`` is not 32 bytes, before reading.
    Errors from ``src`` and ``dst`` propagate unchanged.
    """
    aead = _aead(key)
    return _write_each(_sealed(aead, _read_chunks(src, CHUNK)), dst)


def decrypt_file(key: bytes, src: SupportsReadinto, dst: SupportsWrite) -> int:
    """Decrypt the STREAM ciphertext ``src`` holds, from its position, into ``dst``.

    Returns the number of plaintext bytes written. Each chunk's plaintext is
    written once its tag verifies, so **on any error ``dst`` holds the
    plaintext of the chunks before the failing one and must be discarded**:
    the stream as a whole is authentic only if this function returns.
    ``dst.write`` must copy what it is given (every :mod:`io` class does).
    Memory use is three chunks.

    Raises :class:`MalformedInput` if ``key`` is not 32 bytes, before reading,
    and the :class:`StreamError` subclasses that :func:`decrypt` raises, in
    the same cases. Errors from ``src`` and ``dst`` propagate unchanged.
    """
    aead = _aead(key)
    return _write_each(_opened(aead, _read_chunks(src, CIPHERTEXT_CHUNK)), dst)


# --- the rules of §2, shared by every path above ----------------------------------


def _nonce(index: int, final: bool) -> bytes:
    """``nonce_i = i as 11 bytes || (0x01 if final else 0x00)`` (§2 step 2)."""
    return index.to_bytes(_COUNTER_BYTES, "big") + (_FINAL if final else _NON_FINAL)


def _placed(
    chunks: Iterator[_Bytes], *, sealed: bool
) -> Iterator[tuple[int, _Bytes, _Bytes | None]]:
    """Each chunk with its index and the chunk after it (None for the final one).

    ``chunks`` are all full but the last. With no chunks at all, a plaintext
    is one empty chunk and a ``sealed`` ciphertext is truncated. It reads one
    chunk ahead, so a source may reuse a buffer two chunks later.
    """
    current = next(chunks, None)
    if current is None:
        if sealed:
            raise StreamTruncatedError("the STREAM ciphertext is empty: no final chunk")
        current = b""
    index = 0
    for following in chunks:
        yield index, current, following
        current = following
        index += 1
    yield index, current, None


def _sealed(aead: AESGCM, chunks: Iterator[_Bytes]) -> Iterator[memoryview]:
    """Each plaintext chunk sealed in its place: views of one buffer, each valid
    until the next is asked for."""
    buffer = memoryview(bytearray(CIPHERTEXT_CHUNK))
    for index, chunk, following in _placed(chunks, sealed=False):
        nonce = _nonce(index, following is None)
        yield buffer[: aead.encrypt_into(nonce, chunk, None, buffer[: len(chunk) + TAG])]


def _opened(aead: AESGCM, chunks: Iterator[_Bytes]) -> Iterator[memoryview]:
    """The plaintext of each sealed chunk that verifies in its place: views of
    one buffer, each valid until the next is asked for."""
    buffer = memoryview(bytearray(CHUNK))
    for index, chunk, following in _placed(chunks, sealed=True):
        nonce = _chunk_nonce(index, chunk, following)
        try:
            opened_len = aead.decrypt_into(nonce, chunk, None, buffer[: len(chunk) - TAG])
        except InvalidTag as exc:
            raise _diagnose(aead, index, chunk, following) from exc
        yield buffer[:opened_len]


def _write_each(views: Iterator[memoryview], dst: SupportsWrite) -> int:
    """Write every view to ``dst``; the number of bytes written."""
    return sum(_write_all(dst, view) for view in views)


def _chunk_nonce(index: int, chunk: _Bytes, following: _Bytes | None) -> bytes:
    """The nonce chunk ``index`` must verify under, once a final chunk's length is checked."""
    if following is None:
        _check_final_length(index, len(chunk))
    return _nonce(index, following is None)


def _check_final_length(index: int, final_len: int) -> None:
    """A final chunk holds a tag, and more than a tag unless it is the only chunk."""
    if final_len < TAG:
        raise StreamShortChunkError(f"STREAM final chunk {index} is shorter than a tag")
    if final_len == TAG and index > 0:
        raise StreamShortChunkError(
            f"STREAM final chunk {index} is empty and follows other chunks; no writer makes that"
        )


def _diagnose(aead: AESGCM, index: int, chunk: _Bytes, following: _Bytes | None) -> StreamError:
    """Why chunk ``index`` does not verify in its place (see the module docstring)."""
    if not _verifies(aead, _nonce(index, following is not None), chunk):
        return StreamTagError(
            f"STREAM chunk {index} does not authenticate (wrong key, altered or reordered data)"
        )
    if following is None:
        return StreamTruncatedError(f"STREAM ciphertext ends after non-final chunk {index}")
    if _verifies(aead, _nonce(index + 1, False), following) or _verifies(
        aead, _nonce(index + 1, True), following
    ):
        return StreamMisplacedFinalError(
            f"STREAM chunk {index} is marked final but the stream goes on"
        )
    return StreamTrailingDataError(f"STREAM ciphertext has data after its final chunk {index}")


def _verifies(aead: AESGCM, nonce: bytes, chunk: _Bytes) -> bool:
    try:
        aead.decrypt(nonce, chunk, None)
    except InvalidTag:
        return False
    return True


# --- inputs and outputs --------------------------------------------------------------


def _aead(key: bytes) -> AESGCM:
    """The AES-256-GCM instance for ``key``, after checking it is 32 bytes."""
    key_view = _byte_view(key, what="key")
    if len(key_view) != KEY_SIZE:
        raise MalformedInput(f"a STREAM key is {KEY_SIZE} bytes, not {len(key_view)}")
    return AESGCM(key_view)


def _byte_view(data: object, what: str = "data") -> memoryview:
    """``data`` as a flat view of bytes; raises MalformedInput if it is not bytes-like."""
    if isinstance(data, str):
        raise MalformedInput(f"STREAM {what} must be bytes, not str")
    try:
        view = memoryview(data)  # type: ignore[arg-type]  # checked at run time
        return view if view.format == "B" and view.ndim == 1 else view.cast("B")
    except TypeError as exc:
        raise MalformedInput(f"STREAM {what} must be bytes-like") from exc


def _check_length(length: int) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise MalformedInput("a STREAM length must be a non-negative int")


def _slices(data: memoryview, size: int) -> Iterator[memoryview]:
    """``data`` in consecutive ``size``-byte views, the last shorter; none if empty."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _rechunk(pieces: Iterable[_Bytes], size: int) -> Iterator[_Bytes]:
    """Pieces of any sizes re-cut into ``size``-byte chunks, the last shorter.

    Yields nothing for no data, and never an empty chunk. Chunks of a mutable
    piece are copies, so a producer may reuse its buffers; chunks of a
    ``bytes`` piece are views of it.
    """
    pending = bytearray()
    for piece in pieces:
        view = _byte_view(piece)
        immutable = isinstance(piece, bytes)
        start = 0
        if pending:
            start = min(size - len(pending), len(view))
            pending += view[:start]
            if len(pending) < size:
                continue
            yield bytes(pending)
            pending.clear()
        while len(view) - start >= size:
            chunk = view[start : start + size]
            yield chunk if immutable else bytes(chunk)
            start += size
        pending += view[start:]
    if pending:
        yield bytes(pending)


def _read_chunks(src: SupportsReadinto, size: int) -> Iterator[memoryview]:
    """Consecutive ``size``-byte chunks of ``src``, the last shorter; none if empty.

    Two buffers take turns, so a chunk stays intact while the next one is read.
    """
    buffers = (memoryview(bytearray(size)), memoryview(bytearray(size)))
    turn = 0
    while True:
        buffer = buffers[turn]
        filled = 0
        while filled < size:
            count = src.readinto(buffer[filled:])
            if count is None:
                raise BlockingIOError("STREAM needs a blocking source; readinto returned None")
            if count == 0:
                break
            filled += count
        if filled:
            yield buffer[:filled]
        if filled < size:
            return
        turn ^= 1


def _write_all(dst: SupportsWrite, data: memoryview) -> int:
    """Write all of ``data``, retrying short writes; a ``write`` returning None took all."""
    remaining = data
    while remaining:
        count = dst.write(remaining)
        if count is None or count >= len(remaining):
            break
        if count <= 0:
            raise OSError("STREAM output: write made no progress")
        remaining = remaining[count:]
    return len(data)
