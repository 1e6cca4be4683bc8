"""STREAM chunked encryption (docs/protocol.md §2): vectors, properties, memory."""

from __future__ import annotations

import hashlib
import io
import random
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from itertools import pairwise

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import example, given, settings
from hypothesis import strategies as st

from testimony.crypto import stream
from testimony.crypto.encoding import b64u_encode
from testimony.crypto.errors import (
    MalformedInput,
    StreamError,
    StreamMisplacedFinalError,
    StreamShortChunkError,
    StreamTagError,
    StreamTrailingDataError,
    StreamTruncatedError,
)
from tests.vectors.loader import load_json, path

VECTORS = load_json("testimony/stream.json")
KEY = bytes.fromhex(VECTORS["key"])
OTHER_KEY = bytes(range(1, 33))
CHUNK = stream.CHUNK
SEALED = stream.CIPHERTEXT_CHUNK
PATTERN_PERIOD = bytes((7 * i + 3) % 256 for i in range(256))


def pattern(length: int) -> bytes:
    """The vectors' plaintext: byte i is (7*i + 3) mod 256 (period 256)."""
    return (PATTERN_PERIOD * (length // 256 + 1))[:length]


def random_bytes(length: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(length)


def nonce(index: int, final: bool) -> bytes:
    """docs/protocol.md §2 step 2, written out here independently of the module."""
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def seal_by_hand(key: bytes, chunks: list[tuple[bytes, bool]]) -> bytes:
    """Chunks sealed with raw AES-GCM and the final flags given, to build odd streams."""
    aead = AESGCM(key)
    return b"".join(aead.encrypt(nonce(i, final), c, None) for i, (c, final) in enumerate(chunks))


def odd_pieces(data: bytes, sizes: Iterable[int] = (1, 4097, 0, 65537, 13, 70001)) -> list[bytes]:
    """``data`` cut at sizes that never line up with chunks, with an empty piece
    among them; every other piece is a bytearray (which the module must copy)."""
    pieces: list[bytes] = []
    start, cycle = 0, list(sizes)
    while start < len(data):
        size = cycle[len(pieces) % len(cycle)]
        piece = data[start : start + size]
        pieces.append(bytearray(piece) if len(pieces) % 2 else piece)  # type: ignore[arg-type]
        start += size
    return pieces


class ShortWrites(io.RawIOBase):
    """A sink that takes at most 1000 bytes per call, as a raw file may."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        taken = memoryview(b)[:1000]  # type: ignore[arg-type]
        self.data += taken
        return len(taken)


class ShortReads(io.RawIOBase):
    """A source that returns at most 5000 bytes per read, as a pipe may."""

    def __init__(self, data: bytes) -> None:
        self.source = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: object) -> int:
        view = memoryview(buffer)  # type: ignore[arg-type]
        return self.source.readinto(view[:5000])


def encryptions(key: bytes, plaintext: bytes) -> dict[str, bytes]:
    """The ciphertext from each encryption path."""
    by_file = io.BytesIO()
    written = stream.encrypt_file(key, io.BytesIO(plaintext), by_file)
    assert written == len(by_file.getvalue())
    short = ShortWrites()
    stream.encrypt_file(key, ShortReads(plaintext), short)
    return {
        "encrypt": stream.encrypt(key, plaintext),
        "encrypt_chunks": b"".join(stream.encrypt_chunks(key, odd_pieces(plaintext))),
        "encrypt_file": by_file.getvalue(),
        "encrypt_file (short reads and writes)": bytes(short.data),
    }


def decryptions(key: bytes, ciphertext: bytes) -> dict[str, tuple[bytes, type[StreamError] | None]]:
    """What each decryption path released, and the StreamError class it raised (or None)."""
    results: dict[str, tuple[bytes, type[StreamError] | None]] = {}
    try:
        results["decrypt"] = (stream.decrypt(key, ciphertext), None)
    except StreamError as exc:
        results["decrypt"] = (b"", type(exc))
    released: list[bytes] = []
    try:
        for opened in stream.decrypt_chunks(key, odd_pieces(ciphertext)):
            released.append(opened)
        results["decrypt_chunks"] = (b"".join(released), None)
    except StreamError as exc:
        results["decrypt_chunks"] = (b"".join(released), type(exc))
    for name, src, dst in [
        ("decrypt_file", io.BytesIO(ciphertext), io.BytesIO()),
        ("decrypt_file (short reads and writes)", ShortReads(ciphertext), ShortWrites()),
    ]:
        try:
            written = stream.decrypt_file(key, src, dst)
            error = None
        except StreamError as exc:
            written, error = -1, type(exc)
        data = bytes(dst.getvalue() if isinstance(dst, io.BytesIO) else dst.data)
        assert written in (-1, len(data))
        results[name] = (data, error)
    return results


def assert_round_trip(key: bytes, plaintext: bytes) -> bytes:
    """Every encryption path agrees and every decryption path gives ``plaintext`` back."""
    ciphertexts = encryptions(key, plaintext)
    ciphertext = ciphertexts["encrypt"]
    assert set(ciphertexts.values()) == {ciphertext}, "the encryption paths disagree"
    assert len(ciphertext) == stream.ciphertext_length(len(plaintext))
    assert stream.plaintext_length(len(ciphertext)) == len(plaintext)
    for name, (opened, error) in decryptions(key, ciphertext).items():
        assert error is None, name
        assert opened == plaintext, name
    return ciphertext


def assert_rejected(
    key: bytes,
    ciphertext: bytes,
    plaintext: bytes,
    expected: type[StreamError] | None = None,
) -> type[StreamError]:
    """Every decryption path rejects ``ciphertext`` with the same class (``expected`` if
    given), and released nothing but whole, authentic chunks of ``plaintext`` before it."""
    results = decryptions(key, ciphertext)
    errors = {name: error for name, (_, error) in results.items()}
    assert None not in errors.values(), f"accepted: {errors}"
    assert len(set(errors.values())) == 1, f"the decryption paths disagree: {errors}"
    error = errors["decrypt"]
    assert error is not None
    if expected is not None:
        assert error is expected
    assert results["decrypt"][0] == b""
    for name, (released, _) in results.items():
        assert len(released) % CHUNK == 0, name
        assert plaintext.startswith(released), f"{name} released altered plaintext"
    return error


# --- vectors (tests/vectors/testimony/stream.json) --------------------------------------


def test_vector_file_is_the_one_described() -> None:
    assert VECTORS["chunk"] == CHUNK == 65536
    assert stream.TAG == 16
    assert SEALED == 65552
    assert len(KEY) == stream.KEY_SIZE == 32


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: f"len{c['plaintext_len']}")
def test_vector_ciphertexts_are_reproduced_and_open(case: dict) -> None:
    plaintext = pattern(case["plaintext_len"])
    for name, ciphertext in encryptions(KEY, plaintext).items():
        assert len(ciphertext) == case["ciphertext_len"], name
        assert hashlib.sha256(ciphertext).hexdigest() == case["ciphertext_sha256"], name
        if "ciphertext" in case:
            assert b64u_encode(ciphertext) == case["ciphertext"], name
    assert_round_trip(KEY, plaintext)


def _flip(data: bytes, position: int, mask: int) -> bytes:
    edited = bytearray(data)
    edited[position] ^= mask
    return bytes(edited)


def _full_then_empty_final(ciphertext: bytes) -> bytes:
    """A full non-final chunk, then an empty final chunk: built with raw AES-GCM."""
    return seal_by_hand(KEY, [(pattern(CHUNK), False), (b"", True)])


# Each edit the vector file describes: how to rebuild it from the original
# ciphertext, and the error docs/protocol.md §2 implies (how the module tells them
# apart is in the docstring of crypto/stream.py).
REJECT_EDITS: dict[str, tuple[Callable[[bytes], bytes], type[StreamError]]] = {
    # The input now ends with a chunk that verifies only as non-final: the
    # final chunk is missing ("a missing final chunk (truncation)").
    "truncated after the first chunk (no final chunk)": (
        lambda c: c[:SEALED],
        StreamTruncatedError,
    ),
    "truncated after the second chunk (no final chunk)": (
        lambda c: c[: 2 * SEALED],
        StreamTruncatedError,
    ),
    # Two full chunks, then 16 bytes: by its length alone the final chunk is
    # "an empty non-first final chunk", which no writer produces; that is
    # decided before any tag is checked, as plaintext_length() decides it.
    "last byte removed": (lambda c: c[:-1], StreamShortChunkError),
    # The byte joins the (short) final chunk, whose tag then fails. A reader
    # cannot find the old end inside a chunk without trying every length, so
    # this is "a wrong tag"; bytes after a *full* final chunk are trailing data
    # (test_bytes_after_a_full_final_chunk_are_trailing_data).
    "one byte appended": (lambda c: c + b"\x00", StreamTagError),
    # Chunk 1 in place 0 verifies under neither nonce of place 0.
    "first two chunks swapped": (
        lambda c: c[SEALED : 2 * SEALED] + c[:SEALED] + c[2 * SEALED :],
        StreamTagError,
    ),
    "bit 0 of byte 70000 flipped": (lambda c: _flip(c, 70000, 0x01), StreamTagError),
    # The file does not say which bit; its SHA-256 is that of the top bit (0x80).
    "last tag byte flipped": (lambda c: _flip(c, len(c) - 1, 0x80), StreamTagError),
    # Two full chunks and 10 bytes: "a chunk shorter than 16 bytes".
    "final chunk shorter than a tag": (lambda c: c[: 2 * SEALED + 10], StreamShortChunkError),
    # Both chunks verify in place, but "an empty non-first final chunk" is
    # rejected (the writer ends with one full final chunk instead).
    "a full non-final chunk followed by an empty final chunk (must be rejected: the writer "
    "ends with a full final chunk instead)": (_full_then_empty_final, StreamShortChunkError),
}


def test_every_reject_vector_has_an_expected_error() -> None:
    assert {entry["edit"] for entry in VECTORS["reject"]} == set(REJECT_EDITS)


@pytest.mark.parametrize("entry", VECTORS["reject"], ids=lambda e: e["edit"][:40])
def test_reject_vectors_fail_with_the_protocols_error(entry: dict) -> None:
    plaintext = pattern(entry["of_plaintext_len"])
    build, expected = REJECT_EDITS[entry["edit"]]
    edited = build(stream.encrypt(KEY, plaintext))
    assert len(edited) == entry["ciphertext_len"]
    assert hashlib.sha256(edited).hexdigest() == entry["ciphertext_sha256"]
    if "ciphertext" in entry:
        assert path(f"testimony/{entry['ciphertext']}").read_bytes() == edited
    assert_rejected(KEY, edited, plaintext, expected)


# --- round trips -------------------------------------------------------------------------

BOUNDARY_SIZES = [0, 1] + [k * CHUNK + d for k in (1, 2, 3) for d in (-1, 0, 1)]


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_round_trip_around_every_chunk_boundary(size: int) -> None:
    ciphertext = assert_round_trip(KEY, random_bytes(size, seed=size))
    chunks = max(1, -(-size // CHUNK))
    assert len(ciphertext) == size + 16 * chunks


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 3 * CHUNK + 100), seed=st.integers(0, 2**32))
def test_round_trip_at_random_sizes(size: int, seed: int) -> None:
    assert_round_trip(KEY, random_bytes(size, seed))


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(0, 2 * CHUNK + 100),
    cuts=st.lists(st.integers(0, 2 * SEALED + 200), max_size=8),
)
def test_pieces_of_any_sizes_give_the_same_stream(size: int, cuts: list[int]) -> None:
    plaintext = random_bytes(size, seed=size)
    ciphertext = stream.encrypt(KEY, plaintext)
    edges = sorted({0, len(plaintext), *(c for c in cuts if c <= len(plaintext))})
    pieces = [plaintext[a:b] for a, b in pairwise(edges)]
    assert b"".join(stream.encrypt_chunks(KEY, pieces)) == ciphertext
    edges = sorted({0, len(ciphertext), *(c for c in cuts if c <= len(ciphertext))})
    pieces = [ciphertext[a:b] for a, b in pairwise(edges)]
    assert b"".join(stream.decrypt_chunks(KEY, pieces)) == plaintext


def test_iterators_yield_one_chunk_at_a_time() -> None:
    plaintext = random_bytes(2 * CHUNK + 5, seed=1)
    sealed = list(stream.encrypt_chunks(KEY, [plaintext]))
    assert [len(c) for c in sealed] == [SEALED, SEALED, 5 + 16]
    opened = list(stream.decrypt_chunks(KEY, [b"".join(sealed)]))
    assert [len(c) for c in opened] == [CHUNK, CHUNK, 5]


def test_a_producer_may_reuse_its_buffer() -> None:
    plaintext = random_bytes(4 * CHUNK + 77, seed=2)

    def reused_buffer(data: bytes) -> Iterator[memoryview]:
        # Over two chunks, so whole chunks come straight from it, and the
        # second fill overwrites a chunk the reader still holds as look-ahead.
        buffer = memoryview(bytearray(150_000))
        for start in range(0, len(data), len(buffer)):
            piece = data[start : start + len(buffer)]
            buffer[: len(piece)] = piece
            yield buffer[: len(piece)]

    ciphertext = b"".join(stream.encrypt_chunks(KEY, reused_buffer(plaintext)))
    assert ciphertext == stream.encrypt(KEY, plaintext)
    assert b"".join(stream.decrypt_chunks(KEY, reused_buffer(ciphertext))) == plaintext


def test_bytes_like_inputs_are_accepted() -> None:
    plaintext = random_bytes(CHUNK + 3, seed=3)
    ciphertext = stream.encrypt(KEY, plaintext)
    assert stream.encrypt(bytearray(KEY), memoryview(plaintext)) == ciphertext  # type: ignore[arg-type]
    assert stream.decrypt(KEY, bytearray(ciphertext)) == plaintext  # type: ignore[arg-type]


def test_file_functions_start_at_the_current_position() -> None:
    plaintext = random_bytes(1000, seed=4)
    src, sealed = io.BytesIO(b"header" + plaintext), io.BytesIO(b"prefix")
    src.seek(6)
    sealed.seek(0, io.SEEK_END)
    assert stream.encrypt_file(KEY, src, sealed) == 1016
    assert sealed.getvalue() == b"prefix" + stream.encrypt(KEY, plaintext)
    sealed.seek(6)
    opened = io.BytesIO()
    assert stream.decrypt_file(KEY, sealed, opened) == 1000
    assert opened.getvalue() == plaintext


def _final_chunk_len(ciphertext_len: int) -> int:
    """The length of the chunk a ciphertext of this length ends with (0 if empty)."""
    return ciphertext_len - (ciphertext_len - 1) // SEALED * SEALED if ciphertext_len else 0


# --- lengths ------------------------------------------------------------------------------


@given(st.integers(0, 2**40))
@example(0)
@example(CHUNK)
@example(CHUNK + 1)
def test_plaintext_length_inverts_ciphertext_length(plaintext_len: int) -> None:
    assert stream.plaintext_length(stream.ciphertext_length(plaintext_len)) == plaintext_len


@given(st.integers(0, 10 * SEALED))
def test_every_possible_length_is_one_plaintexts(ciphertext_len: int) -> None:
    try:
        plaintext_len = stream.plaintext_length(ciphertext_len)
    except (StreamTruncatedError, StreamShortChunkError):
        final_len = _final_chunk_len(ciphertext_len)
        assert ciphertext_len == 0 or final_len < 16 or (final_len == 16 and ciphertext_len > 16)
    else:
        assert stream.ciphertext_length(plaintext_len) == ciphertext_len


@pytest.mark.parametrize(
    ("ciphertext_len", "error"),
    [
        (0, StreamTruncatedError),
        (1, StreamShortChunkError),
        (15, StreamShortChunkError),
        (SEALED + 15, StreamShortChunkError),
        (SEALED + 16, StreamShortChunkError),
        (3 * SEALED + 16, StreamShortChunkError),
    ],
)
def test_impossible_lengths_are_refused_as_decrypt_refuses_them(
    ciphertext_len: int, error: type[StreamError]
) -> None:
    with pytest.raises(error):
        stream.plaintext_length(ciphertext_len)
    # Whole chunks that verify as non-final, then the impossible remainder.
    plaintext = random_bytes(4 * CHUNK, seed=5)
    whole_chunks = stream.encrypt(KEY, plaintext)[: ciphertext_len // SEALED * SEALED]
    ciphertext = whole_chunks + bytes(ciphertext_len % SEALED)
    assert_rejected(KEY, ciphertext, plaintext, error)


@pytest.mark.parametrize("bad", [-1, 1.0, "16", True, None])
def test_lengths_must_be_non_negative_ints(bad: object) -> None:
    with pytest.raises(MalformedInput):
        stream.ciphertext_length(bad)  # type: ignore[arg-type]
    with pytest.raises(MalformedInput):
        stream.plaintext_length(bad)  # type: ignore[arg-type]


# --- tampering ------------------------------------------------------------------------------

TAMPER_PLAINTEXT = random_bytes(2 * CHUNK + 1000, seed=6)
TAMPER_CIPHERTEXT = stream.encrypt(KEY, TAMPER_PLAINTEXT)
CHUNK_STARTS = [0, SEALED, 2 * SEALED]
CHUNK_ENDS = [SEALED, 2 * SEALED, len(TAMPER_CIPHERTEXT)]
# Each chunk's first and last plaintext byte, and every byte of each tag.
FLIP_POSITIONS = sorted(
    {p for start, end in zip(CHUNK_STARTS, CHUNK_ENDS, strict=True) for p in (start, end - 17)}
    | {p for end in CHUNK_ENDS for p in range(end - 16, end)}
)


def _chunk_of(position: int) -> int:
    return position // SEALED


@pytest.mark.parametrize("position", FLIP_POSITIONS)
def test_a_flipped_bit_in_any_chunk_or_tag_is_a_tag_error(position: int) -> None:
    for bit in (0, 7):
        edited = _flip(TAMPER_CIPHERTEXT, position, 1 << bit)
        assert_rejected(KEY, edited, TAMPER_PLAINTEXT, StreamTagError)
        # Chunks before the altered one may be released; nothing from it or after.
        released, _ = decryptions(KEY, edited)["decrypt_chunks"]
        assert released == TAMPER_PLAINTEXT[: _chunk_of(position) * CHUNK]


@settings(max_examples=200, deadline=None)
@given(position=st.integers(0, len(TAMPER_CIPHERTEXT) - 1), bit=st.integers(0, 7))
def test_every_single_bit_flip_is_rejected(position: int, bit: int) -> None:
    edited = _flip(TAMPER_CIPHERTEXT, position, 1 << bit)
    assert_rejected(KEY, edited, TAMPER_PLAINTEXT, StreamTagError)


def _truncation_error(length: int) -> type[StreamError]:
    """What cutting TAMPER_CIPHERTEXT to ``length`` bytes must raise (module docstring)."""
    final_len = _final_chunk_len(length)
    if length == 0 or final_len == SEALED:
        return StreamTruncatedError  # ends with a whole non-final chunk
    if final_len < 16 or (final_len == 16 and length > SEALED):
        return StreamShortChunkError
    return StreamTagError  # part of a chunk


@settings(max_examples=200, deadline=None)
@given(length=st.integers(0, len(TAMPER_CIPHERTEXT) - 1))
@example(0)
@example(SEALED)
@example(2 * SEALED)
@example(2 * SEALED + 16)
@example(2 * SEALED + 15)
@example(SEALED + 17)
@example(len(TAMPER_CIPHERTEXT) - 1)
def test_every_truncation_is_rejected(length: int) -> None:
    edited = TAMPER_CIPHERTEXT[:length]
    assert_rejected(KEY, edited, TAMPER_PLAINTEXT, _truncation_error(length))


SWAP_PLAINTEXT = random_bytes(3 * CHUNK + 500, seed=7)
SWAP_CHUNKS = odd_pieces(stream.encrypt(KEY, SWAP_PLAINTEXT), [SEALED])


@pytest.mark.parametrize(("first", "second"), [(i, j) for i in range(4) for j in range(i + 1, 4)])
def test_swapping_any_two_chunks_is_rejected(first: int, second: int) -> None:
    swapped = list(SWAP_CHUNKS)
    swapped[first], swapped[second] = swapped[second], swapped[first]
    error = assert_rejected(KEY, b"".join(swapped), SWAP_PLAINTEXT)
    if second < 3:  # two full chunks: the first out of place fails its tag
        assert error is StreamTagError


@settings(max_examples=50, deadline=None)
@given(size=st.integers(0, 2 * CHUNK + 100), appended=st.binary(min_size=1, max_size=40))
@example(size=CHUNK, appended=b"\x00")
@example(size=2 * CHUNK, appended=b"\x00" * 16)
@example(size=0, appended=b"\x00")
def test_appended_bytes_are_rejected(size: int, appended: bytes) -> None:
    plaintext = random_bytes(size, seed=size)
    ciphertext = stream.encrypt(KEY, plaintext)
    final_is_full = size > 0 and size % CHUNK == 0
    # After a full final chunk the bytes form a chunk of their own: trailing
    # data. Otherwise they join the final chunk, whose tag then fails.
    expected = StreamTrailingDataError if final_is_full else StreamTagError
    assert_rejected(KEY, ciphertext + appended, plaintext, expected)


def test_bytes_after_a_full_final_chunk_are_trailing_data() -> None:
    plaintext = random_bytes(2 * CHUNK, seed=8)
    ciphertext = stream.encrypt(KEY, plaintext)
    for trailer in (b"\x00", bytes(16), ciphertext[-SEALED:], ciphertext):
        assert_rejected(KEY, ciphertext + trailer, plaintext, StreamTrailingDataError)


def test_a_final_flag_in_the_middle_is_a_misplaced_final_chunk() -> None:
    first, second = random_bytes(CHUNK, seed=9), random_bytes(100, seed=10)
    # A writer that marks every chunk final.
    every_chunk_final = seal_by_hand(KEY, [(first, True), (second, True)])
    assert_rejected(KEY, every_chunk_final, first + second, StreamMisplacedFinalError)
    # A final chunk followed by a correct non-final one and a final one.
    third = random_bytes(CHUNK, seed=11)
    middle_final = seal_by_hand(KEY, [(first, True), (third, False), (second, True)])
    assert_rejected(KEY, middle_final, first + third + second, StreamMisplacedFinalError)


def test_a_stream_cut_after_a_non_final_chunk_is_truncated() -> None:
    chunks = [(random_bytes(CHUNK, seed=12), False), (random_bytes(CHUNK, seed=13), False)]
    assert_rejected(
        KEY, seal_by_hand(KEY, chunks), chunks[0][0] + chunks[1][0], StreamTruncatedError
    )


def test_empty_input_is_truncated() -> None:
    assert_rejected(KEY, b"", b"", StreamTruncatedError)
    with pytest.raises(StreamTruncatedError):
        list(stream.decrypt_chunks(KEY, [b"", b""]))


def test_an_empty_plaintext_is_one_empty_final_chunk() -> None:
    assert stream.encrypt(KEY, b"") == AESGCM(KEY).encrypt(nonce(0, True), b"", None)
    assert list(stream.encrypt_chunks(KEY, [])) == [stream.encrypt(KEY, b"")]
    assert list(stream.encrypt_chunks(KEY, [b"", b""])) == [stream.encrypt(KEY, b"")]
    assert list(stream.decrypt_chunks(KEY, [stream.encrypt(KEY, b"")])) == [b""]


@settings(max_examples=30, deadline=None)
@given(size=st.integers(0, 2 * CHUNK + 100))
def test_the_wrong_key_is_a_tag_error(size: int) -> None:
    plaintext = random_bytes(size, seed=size)
    assert_rejected(OTHER_KEY, stream.encrypt(KEY, plaintext), plaintext, StreamTagError)


# --- inputs and messages ------------------------------------------------------------------

ALL_FUNCTIONS: list[Callable[[bytes], object]] = [
    lambda key: stream.encrypt(key, b""),
    lambda key: stream.decrypt(key, b""),
    lambda key: stream.encrypt_chunks(key, iter(())),
    lambda key: stream.decrypt_chunks(key, iter(())),
    lambda key: stream.encrypt_file(key, io.BytesIO(), io.BytesIO()),
    lambda key: stream.decrypt_file(key, io.BytesIO(), io.BytesIO()),
]


@pytest.mark.parametrize("function", range(len(ALL_FUNCTIONS)))
@pytest.mark.parametrize("key", [b"", bytes(16), bytes(24), bytes(31), bytes(33), "k" * 32])
def test_the_key_is_checked_first(function: int, key: bytes) -> None:
    # Before any data is looked at: the empty inputs would otherwise give a
    # ciphertext or a StreamTruncatedError, and the iterators raise at the call.
    with pytest.raises(MalformedInput):
        ALL_FUNCTIONS[function](key)


def test_data_must_be_bytes() -> None:
    with pytest.raises(MalformedInput):
        stream.encrypt(KEY, "testimony")  # type: ignore[arg-type]
    with pytest.raises(MalformedInput):
        list(stream.encrypt_chunks(KEY, ["testimony"]))  # type: ignore[list-item]
    with pytest.raises(MalformedInput):
        list(stream.decrypt_chunks(KEY, [None]))  # type: ignore[list-item]


def test_errors_reveal_no_key_or_plaintext() -> None:
    key = bytes(range(100, 132))
    plaintext = b"the soldiers came at night " * 5000
    ciphertext = stream.encrypt(key, plaintext)
    attempts = [
        (OTHER_KEY, ciphertext),
        (key, ciphertext[:-1]),
        (key, ciphertext[:SEALED]),
        (key, ciphertext + b"\x00"),
        (key, _flip(ciphertext, 100, 1)),
        (key, ciphertext[:10]),
        (key, b""),
    ]
    messages = []
    for attempt_key, data in attempts:
        with pytest.raises(StreamError) as caught:
            stream.decrypt(attempt_key, data)
        messages.append(f"{caught.value} {caught.value!r}")
    with pytest.raises(MalformedInput) as caught:
        stream.encrypt(key[:31], plaintext)
    messages.append(f"{caught.value} {caught.value!r}")
    for message in messages:
        for secret in (key, key[:31], OTHER_KEY):
            assert secret.hex() not in message
            assert repr(secret)[2:20] not in message
        assert "soldiers" not in message


# --- memory ---------------------------------------------------------------------------------

LARGE = 64 * 1024 * 1024
MEMORY_LIMIT = 1024 * 1024


class LazyPattern(io.RawIOBase):
    """``pattern(size)`` made on demand, in reads of at most 50,000 bytes."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.offset = 0
        self.block = memoryview(pattern(256 + 50_000))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: object) -> int:
        view = memoryview(buffer)  # type: ignore[arg-type]
        count = min(len(view), self.remaining, 50_000)
        start = self.offset % 256
        view[:count] = self.block[start : start + count]
        self.offset += count
        self.remaining -= count
        return count


class IterReader(io.RawIOBase):
    """A file-like view of an iterator of byte strings (one piece held at a time)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self.pieces = pieces
        self.piece = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: object) -> int:
        view = memoryview(buffer)  # type: ignore[arg-type]
        while not self.piece:
            piece = next(self.pieces, None)
            if piece is None:
                return 0
            self.piece = memoryview(piece)
        count = min(len(view), len(self.piece))
        view[:count] = self.piece[:count]
        self.piece = self.piece[count:]
        return count


class HashingSink:
    """A sink that keeps only the SHA-256 and the length of what it is given."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.length = 0

    def write(self, data: memoryview) -> int:
        self.hash.update(data)
        self.length += len(data)
        return len(data)


def _lazy_pieces(size: int) -> Iterator[bytes]:
    reader = LazyPattern(size)
    while piece := reader.read(40_000):
        yield piece


def _peak_while(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_large_streams_use_a_few_chunks_of_memory() -> None:
    expected_plaintext = hashlib.sha256()
    for piece in _lazy_pieces(LARGE):
        expected_plaintext.update(piece)

    sealed_by_file = HashingSink()
    peak = _peak_while(lambda: stream.encrypt_file(KEY, LazyPattern(LARGE), sealed_by_file))
    assert peak < MEMORY_LIMIT
    assert sealed_by_file.length == stream.ciphertext_length(LARGE)

    sealed_by_chunks, opened_by_file = HashingSink(), HashingSink()

    def sealed_pieces() -> Iterator[bytes]:
        for sealed in stream.encrypt_chunks(KEY, _lazy_pieces(LARGE)):
            sealed_by_chunks.write(memoryview(sealed))
            yield sealed

    peak = _peak_while(
        lambda: stream.decrypt_file(KEY, IterReader(sealed_pieces()), opened_by_file)
    )
    assert peak < MEMORY_LIMIT
    assert sealed_by_chunks.hash.digest() == sealed_by_file.hash.digest()
    assert opened_by_file.hash.digest() == expected_plaintext.digest()

    opened_by_chunks = HashingSink()

    def chained() -> None:
        sealed = stream.encrypt_chunks(KEY, _lazy_pieces(LARGE))
        for opened in stream.decrypt_chunks(KEY, sealed):
            opened_by_chunks.write(memoryview(opened))

    assert _peak_while(chained) < MEMORY_LIMIT
    assert opened_by_chunks.hash.digest() == expected_plaintext.digest()
