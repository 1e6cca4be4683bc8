"""Damaged envelopes for the tests: the independent vector envelope
(``tests/vectors/testimony/submission.testimony``) with fields of its ZIP
structure changed, one symptom at a time, and a seeded mutator that flips,
truncates and inserts bytes, mostly in the ZIP's headers (where damage
reaches the parser rather than a blob's hash).

The ZIP layout (APPNOTE 4.3.7, 4.3.12, 4.3.16) is read from the vector once:
its local file headers, its central directory entries and its end of
central directory record.
"""

from __future__ import annotations

import random
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tests.vectors.loader import path as vector_path

__all__ = [
    "HEADER_POSITIONS",
    "LAYOUT",
    "SOURCE",
    "VECTOR_ENVELOPE",
    "bad_version_needed",
    "invalid_utf8_name",
    "mutate",
    "offsets_before_the_start",
    "sizes_past_the_end",
    "write",
]

VECTOR_ENVELOPE = vector_path("testimony/submission.testimony")
SOURCE = VECTOR_ENVELOPE.read_bytes()

_LOCAL_HEADER = 30
_CENTRAL_HEADER = 46
_END_RECORD = 22


@dataclass(frozen=True)
class Layout:
    """Where the vector's ZIP structures start."""

    names: tuple[str, ...]
    local: tuple[int, ...]
    """The offset of each member's local file header."""
    central: tuple[int, ...]
    """The offset of each member's central directory entry."""
    end: int
    """The offset of the end of central directory record."""

    def local_header(self, index: int) -> range:
        return range(self.local[index], self.local[index] + _LOCAL_HEADER + len(self.names[index]))


def _layout(data: bytes) -> Layout:
    end = data.rfind(b"PK\x05\x06")
    _, _, _, _, count, size, start, _ = struct.unpack("<4s4H2LH", data[end : end + _END_RECORD])
    central = []
    at = start
    for _ in range(count):
        assert data[at : at + 4] == b"PK\x01\x02"
        name_length, extra_length, comment_length = struct.unpack("<3H", data[at + 28 : at + 34])
        central.append(at)
        at += _CENTRAL_HEADER + name_length + extra_length + comment_length
    assert at == start + size == end
    with zipfile.ZipFile(VECTOR_ENVELOPE) as archive:
        infos = archive.infolist()
    return Layout(
        names=tuple(info.filename for info in infos),
        local=tuple(info.header_offset for info in infos),
        central=tuple(central),
        end=end,
    )


LAYOUT = _layout(SOURCE)
HEADER_POSITIONS = tuple(
    sorted(
        {
            *(p for index in range(len(LAYOUT.names)) for p in LAYOUT.local_header(index)),
            *range(LAYOUT.central[0], len(SOURCE)),
        }
    )
)
"""Every byte of the vector that is ZIP structure, not member data."""


def _put(data: bytearray, at: int, fmt: str, value: int) -> None:
    data[at : at + struct.calcsize(fmt)] = struct.pack(fmt, value)


def sizes_past_the_end(index: int, extra: int = 1000) -> bytes:
    """Member ``index``'s sizes (central directory and local header) grown by
    ``extra`` bytes, so it runs past the end of the file."""
    data = bytearray(SOURCE)
    size = struct.unpack("<L", SOURCE[LAYOUT.central[index] + 20 : LAYOUT.central[index] + 24])[0]
    for field in (20, 24):
        _put(data, LAYOUT.central[index] + field, "<L", size + len(SOURCE) + extra)
    for field in (18, 22):
        _put(data, LAYOUT.local[index] + field, "<L", size + len(SOURCE) + extra)
    return bytes(data)


def bad_version_needed(index: int = 0, version: int = 0xFFFF) -> bytes:
    """Member ``index``'s "version needed to extract" set to ``version``."""
    data = bytearray(SOURCE)
    _put(data, LAYOUT.central[index] + 6, "<H", version)
    _put(data, LAYOUT.local[index] + 4, "<H", version)
    return bytes(data)


def invalid_utf8_name(index: int = 1, *, where: str = "central") -> bytes:
    """Member ``index`` with the UTF-8 flag (bit 11) set and a byte of its name
    replaced by 0xFF, which is not UTF-8: in the central directory's copy of
    the name (``where="central"``), or only in the local header's
    (``where="local"``)."""
    data = bytearray(SOURCE)
    flags = struct.unpack("<H", SOURCE[LAYOUT.central[index] + 8 : LAYOUT.central[index] + 10])[0]
    _put(data, LAYOUT.central[index] + 8, "<H", flags | 0x800)
    _put(data, LAYOUT.local[index] + 6, "<H", flags | 0x800)
    name_at = (
        LAYOUT.central[index] + _CENTRAL_HEADER
        if where == "central"
        else LAYOUT.local[index] + _LOCAL_HEADER
    )
    data[name_at + 8] = 0xFF
    return bytes(data)


def offsets_before_the_start(shift: int = 100) -> bytes:
    """The end record's central directory offset grown by ``shift``: a reader
    then places every local header ``shift`` bytes earlier, the first one
    before the start of the file (an ``EINVAL`` seek)."""
    data = bytearray(SOURCE)
    start = struct.unpack("<L", SOURCE[LAYOUT.end + 16 : LAYOUT.end + 20])[0]
    _put(data, LAYOUT.end + 16, "<L", start + shift)
    return bytes(data)


_WIDTHS = (1, 2, 4, 8)


def mutate(rng: random.Random, data: bytes = SOURCE) -> bytes:
    """One to three random edits of ``data``: a byte or a 2-, 4- or 8-byte
    field of the ZIP structure set to a random or boundary value, a bit flip
    anywhere, a truncation, or an insertion."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        choice = rng.random()
        if choice < 0.7 and out:
            at = rng.choice(HEADER_POSITIONS) % len(out)
            width = rng.choice(_WIDTHS)
            limit = 1 << (8 * width)
            value = (
                rng.choice(
                    [0, 1, limit - 1, limit >> 1, len(data), len(data) + 1, rng.randrange(limit)]
                )
                % limit
            )
            out[at : at + width] = value.to_bytes(width, "little")
        elif choice < 0.8 and out:
            at = rng.randrange(len(out))
            out[at] ^= 1 << rng.randrange(8)
        elif choice < 0.9:
            out = out[: rng.randrange(len(out) + 1)]
        else:
            at = rng.randrange(len(out) + 1)
            out[at:at] = rng.randbytes(rng.randint(1, 16))
    return bytes(out)


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path
