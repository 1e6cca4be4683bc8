"""A witness's files, handled safely (docs/workstation.md, "Daily triage").

A file a witness sends may be made to attack the person who opens it: a
document with active content, an image that exploits a decoder or expands to
gigabytes. So the workstation

- **never opens a file with an active viewer** (no ``xdg-open``, no browser,
  no office suite: nothing here starts another program);
- keeps the **original byte-exact and sealed**: the attachment's ciphertext,
  as the witness sealed it, stays in the encrypted cache (the sync's
  ``submission`` and ``followup`` records); it is decrypted in memory only,
  and its SHA-256 is checked against the manifest's each time;
- shows an **image** only as a **safe copy**: the decoded pixels, re-encoded
  by Pillow into a fresh PNG (if the image has transparency) or JPEG — so
  nothing of the original file's structure survives, EXIF and every other
  metadata (GPS position, camera serial, thumbnails) included. The format is
  recognised from the bytes, never from the name or the declared type, among
  JPEG, PNG, GIF (its first frame) and WebP; the decoder of no other format is
  ever run. Before any pixel is decoded, an image of more than
  :data:`MAX_PIXELS` pixels or :data:`MAX_SIDE` pixels a side is refused (a
  decompression bomb); the copy is turned upright by its EXIF orientation and
  scaled to at most :data:`DISPLAY_SIDE` pixels a side. Safe copies are kept
  in the cache (``ws_safe_copies``);
- offers **every other type for export only**: ``testimony review
  export-attachment ID N --to FILE`` writes the original (or, with
  ``--safe-copy``, the safe copy) to a file the reviewer names, never
  overwriting one, mode 0600, for opening in an isolated environment.

No decrypted byte is written anywhere else: no temporary file is made.
"""

from __future__ import annotations

import io
import os
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from testimony.crypto.encoding import sha256
from testimony.crypto.errors import CryptoError
from testimony.crypto.submission import open_attachment

from .cache import Cache
from .home import WorkstationError
from .text import invisible

__all__ = [
    "DISPLAY_SIDE",
    "MAX_PIXELS",
    "MAX_SIDE",
    "Attachment",
    "SafeCopy",
    "UnsafeFile",
    "attachments",
    "audio_type",
    "export",
    "export_name",
    "make_safe_copy",
    "original",
    "safe_copy",
    "sniff",
]

MAX_PIXELS = 50_000_000
"""Pixels an image may have (about 8,700 x 5,800); more is refused undecoded."""
MAX_SIDE = 20_000
DISPLAY_SIDE = 4096
MAX_INPUT = 256 << 20
"""Bytes of an image to decode at most (a larger one is offered for export only)."""
JPEG_QUALITY = 90

_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)
_SCHEMA = """CREATE TABLE IF NOT EXISTS ws_safe_copies (
    sha256 TEXT PRIMARY KEY, media_type TEXT NOT NULL, width INTEGER NOT NULL,
    height INTEGER NOT NULL, data BLOB NOT NULL)"""


class UnsafeFile(WorkstationError):
    """A file that is no image the workstation decodes, or one it refuses to."""

    code = "not-a-safe-image"


@dataclass(frozen=True)
class SafeCopy:
    media_type: str
    width: int
    height: int
    data: bytes


@dataclass(frozen=True)
class Attachment:
    """One file of a testimony, numbered as ``review show`` lists them (from
    1: the submission's files, then each follow-up's)."""

    number: int
    blob: str
    name: str
    media_type: str
    size: int
    sha256: str
    source: str
    """``submission`` or the follow-up's id."""
    image: bool
    """Whether its declared type is one the workstation may show as a safe copy."""
    _item: Mapping[str, Any]


def sniff(data: bytes) -> str | None:
    """The image format the bytes begin with (``JPEG``, ``PNG``, ``GIF``, ``WEBP``) or None."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def make_safe_copy(data: bytes) -> SafeCopy:
    """The safe copy of an image (see the module docstring). Raises
    :class:`UnsafeFile` for anything else, or a refused image."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    kind = sniff(data)
    if kind is None:
        raise UnsafeFile(
            "this file is no JPEG, PNG, GIF or WebP image: it is offered for export only"
        )
    if len(data) > MAX_INPUT:
        raise UnsafeFile(
            "this image is too large to decode here: export it instead", "image-too-large"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                width, height = image.size
                if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
                    raise UnsafeFile(
                        f"this image claims {width} x {height} pixels: refused undecoded "
                        "(a decompression bomb?)",
                        "decompression-bomb",
                    )
                image.seek(0)
                image.load()
                upright = ImageOps.exif_transpose(image) or image
                alpha = upright.mode in ("RGBA", "LA", "PA") or (
                    upright.mode == "P" and "transparency" in upright.info
                )
                mode = "RGBA" if alpha else ("L" if upright.mode in ("1", "L") else "RGB")
                pixels = upright.convert(mode)
                pixels.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
                # A fresh image of the pixels alone: no info, EXIF, ICC, XMP or comment.
                clean = Image.frombytes(mode, pixels.size, pixels.tobytes())
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnsafeFile(
            "this image is a decompression bomb: refused undecoded", "decompression-bomb"
        ) from None
    except UnsafeFile:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, UnidentifiedImageError):
        raise UnsafeFile("this image does not decode: it is offered for export only") from None
    out = io.BytesIO()
    if alpha:
        clean.save(out, format="PNG", optimize=False)
        media_type = "image/png"
    else:
        clean.save(out, format="JPEG", quality=JPEG_QUALITY)
        media_type = "image/jpeg"
    return SafeCopy(media_type, clean.width, clean.height, out.getvalue())


_DISPLAYABLE = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def attachments(cache: Cache, testimony_id: str) -> list[Attachment]:
    """The testimony's files: its own, then each follow-up's in log order."""
    record = cache.record("submission", testimony_id)
    sources: list[tuple[str, Any]] = []
    if isinstance(record, dict):
        sources.append(("submission", record.get("attachments") or []))
    followups = cache.query(
        "SELECT id FROM ws_followups WHERE parent = ? ORDER BY idx", (testimony_id,)
    )
    for (followup_id,) in followups:
        followup = cache.record("followup", str(followup_id))
        if isinstance(followup, dict):
            sources.append((str(followup_id), followup.get("attachments") or []))
    found: list[Attachment] = []
    for source, items in sources:
        for item in items:
            if not isinstance(item, dict):
                continue
            descriptor = item.get("descriptor")
            described = descriptor if isinstance(descriptor, dict) else {}
            media_type = str(described.get("type", "application/octet-stream"))
            found.append(
                Attachment(
                    number=len(found) + 1,
                    blob=str(item.get("blob", "")),
                    name=str(described.get("name", "(not described by the manifest)")),
                    media_type=media_type,
                    size=int(described.get("size", 0)),
                    sha256=str(described.get("sha256", "")),
                    source=source,
                    image=media_type in _DISPLAYABLE,
                    _item=item,
                )
            )
    return found


def _attachment(cache: Cache, testimony_id: str, number: int) -> Attachment:
    found = attachments(cache, testimony_id)
    if not 1 <= number <= len(found):
        raise WorkstationError(
            f"testimony {testimony_id[:12]} has {len(found)} attachment(s); there is no number {number}",
            "unknown-attachment",
        )
    return found[number - 1]


def original(cache: Cache, testimony_id: str, number: int) -> tuple[Attachment, bytes]:
    """The original file, byte-exact: its ciphertext, as the sync kept it in
    the cache (``Cache.blob``), decrypted in memory with the key the manifest
    gives and checked against the manifest's SHA-256."""
    attachment = _attachment(cache, testimony_id, number)
    descriptor = attachment._item.get("descriptor")
    if not isinstance(descriptor, dict):
        raise WorkstationError(
            f"attachment {number} is not described by the witness's manifest: it has no key",
            "attachment-undescribed",
        )
    ciphertext = cache.blob(attachment.blob)
    if ciphertext is None:
        raise WorkstationError(
            f"the file of attachment {number} is not in the cache (run `testimony sync`; "
            "it may also have been shredded)",
            "attachment-not-cached",
        )
    if sha256(ciphertext).hex() != attachment.blob:
        raise WorkstationError(
            f"attachment {number} in the cache is not the blob its entry names",
            "attachment-damaged",
        )
    try:
        data = open_attachment(descriptor, ciphertext)
    except CryptoError:
        raise WorkstationError(
            f"attachment {number} does not decrypt to the file its manifest describes",
            "attachment-damaged",
        ) from None
    return attachment, data


def safe_copy(cache: Cache, testimony_id: str, number: int) -> SafeCopy:
    """The safe copy of an image attachment, made once and kept in the cache."""
    cache.execute(_SCHEMA)
    attachment = _attachment(cache, testimony_id, number)
    rows = cache.query(
        "SELECT media_type, width, height, data FROM ws_safe_copies WHERE sha256 = ?",
        (attachment.sha256,),
    )
    if rows:
        media_type, width, height, data = rows[0]
        return SafeCopy(str(media_type), int(width), int(height), bytes(data))
    _, data = original(cache, testimony_id, number)
    copy = make_safe_copy(data)
    with cache.transaction():
        cache.execute(
            "INSERT OR REPLACE INTO ws_safe_copies (sha256, media_type, width, height, data) "
            "VALUES (?, ?, ?, ?, ?)",
            (attachment.sha256, copy.media_type, copy.width, copy.height, copy.data),
        )
    return copy


def export(data: bytes, path: Path) -> None:
    """Write ``data`` to a new file of mode 0600 that the reviewer names; never
    overwrite (``FileExistsError``)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


# --- audio, and names for the file system ------------------------------------------------

_MP4_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})


def audio_type(data: bytes) -> tuple[str, str] | None:
    """``(media type, extension)`` of audio the bytes begin with, or None.

    Known: Ogg, FLAC, MP3 (an ID3 tag or an MPEG audio frame), AAC (ADTS),
    WAV (RIFF/WAVE), M4A (an MP4 ``ftyp`` of an audio brand) and WebM. The
    witness's declared type and the file's name play no part."""
    head = bytes(data[:64])
    if head.startswith(b"OggS"):
        return "audio/ogg", "ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac", "flac"
    if head.startswith(b"ID3"):
        return "audio/mpeg", "mp3"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav", "wav"
    if head[4:8] == b"ftyp" and head[8:12] in _MP4_AUDIO_BRANDS:
        return "audio/mp4", "m4a"
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head:
        return "audio/webm", "webm"
    if len(head) >= 3 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
        if layer == 0 and head[1] & 0xF6 == 0xF0:
            return "audio/aac", "aac"
        bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
        if layer != 0 and version != 1 and bitrate not in (0, 15) and rate != 3:
            return "audio/mpeg", "mp3"
    return None


_RESERVED = frozenset('/\\:*?"<>|')
"""Path separators, and what no file system of the usual three takes in a name."""


def export_name(name: str) -> str:
    """The witness's file name as a file system name for an export: without
    path separators, reserved characters, or any control, bidi or invisible
    character (so ``invoice\u202egpj.exe`` is ``invoicegpj.exe``, whose
    extension reads as what it is), no leading or trailing dots or spaces,
    at most 150 characters with its extension kept; ``attachment`` if
    nothing is left."""
    cleaned = "".join(
        c for c in unicodedata.normalize("NFC", name) if c not in _RESERVED and not invisible(c)
    )
    cleaned = cleaned.replace("\n", " ").replace("\t", " ").strip(" .")
    if len(cleaned) > 150:
        suffix = PurePosixPath(cleaned).suffix[:20]
        cleaned = cleaned[: 150 - len(suffix)].rstrip(" .") + suffix
    return cleaned or "attachment"
