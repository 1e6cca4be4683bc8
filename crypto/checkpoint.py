"""Signed log checkpoints of docs/protocol.md §9: a C2SP tlog-checkpoint
(https://c2sp.org/tlog-checkpoint) carried in a C2SP signed note
(:mod:`testimony.crypto.note`).

The note text is exactly four lines::

    <origin>
    <tree size, decimal>
    <base64 (standard, padded) of the 32-byte root hash>
    time <RFC 3339 UTC, Z, whole seconds>

In C2SP's terms the ``time`` line is an extension line. docs/protocol.md §9 defines
this one and no other, so a text with any further line is refused: an
extension no one here defines would be signed but unread, and log monitors
cannot audit it.

:func:`verify` is the one way to read a checkpoint that is relied on:

1. the verifier key parses;
2. the note carries a signature by that key (key name *and* key hash), which
   verifies; other signers (witness cosignatures) are skipped;
3. the signed text is exactly the four lines above, each in its one canonical
   spelling;
4. the origin is the expected one (by default the verifier key's name).

:func:`parse` reads a checkpoint without checking any signature, for display.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .encoding import b64_decode, b64_encode
from .errors import MalformedInput, NoteFormatError, OriginMismatchError
from .note import parse_note, parse_verifier_key, sign_note, verifier_key, verify_note
from .rfc3339 import format_time, parse_time

__all__ = [
    "MAX_TREE_SIZE",
    "ROOT_HASH_BYTES",
    "Checkpoint",
    "parse",
    "sign",
    "verifier_key",
    "verify",
]

ROOT_HASH_BYTES = 32
"""Length of a root hash (SHA-256, RFC 9162 §2.1)."""

MAX_TREE_SIZE = (1 << 64) - 1
"""Largest tree size a checkpoint may state (an unsigned 64-bit integer)."""

_BODY_LINES = 4
_TIME_PREFIX = "time "
# ASCII digits only: re's \d and int() would also take other Unicode digits.
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}", re.ASCII)


def _is_line(text: str) -> bool:
    return text != "" and not any(ord(ch) < 0x20 for ch in text)


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, root hash and (floored) time.

    Building one checks its fields and raises :class:`MalformedInput` if the
    origin is empty or not a single line without control characters, the size
    is not an ``int`` in ``0..MAX_TREE_SIZE``, the root is not 32 bytes, or the
    time is not a timezone-aware UTC ``datetime`` in whole seconds. ``time`` is
    stored with ``tzinfo=datetime.UTC``.
    """

    origin: str
    size: int
    root: bytes
    time: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not _is_line(self.origin):
            raise MalformedInput("an origin is a non-empty line without control characters")
        try:
            self.origin.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedInput("an origin is UTF-8 text") from None
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or not 0 <= self.size <= MAX_TREE_SIZE
        ):
            raise MalformedInput("a tree size is an integer from 0 to 2**64 - 1")
        if not isinstance(self.root, bytes) or len(self.root) != ROOT_HASH_BYTES:
            raise MalformedInput("a root hash is 32 bytes")
        format_time(self.time)  # MalformedInput unless aware UTC in whole seconds (§0)
        object.__setattr__(self, "time", self.time.replace(tzinfo=UTC))

    def note_text(self) -> str:
        """The note text that is signed: four lines, each ending in a newline."""
        return (
            f"{self.origin}\n{self.size}\n{b64_encode(self.root)}\n"
            f"{_TIME_PREFIX}{format_time(self.time)}\n"
        )


def _parse_text(text: str) -> Checkpoint:
    lines = text[:-1].split("\n") if text.endswith("\n") else []
    if len(lines) != _BODY_LINES:
        raise NoteFormatError("a checkpoint is origin, size, root and time lines, nothing else")
    origin_line, size_line, root_line, time_line = lines
    if not _is_line(origin_line):
        raise NoteFormatError("a checkpoint's origin line is not empty")
    if _SIZE.fullmatch(size_line) is None:
        raise NoteFormatError("a tree size is decimal without sign or leading zeros")
    size = int(size_line)
    if size > MAX_TREE_SIZE:
        raise NoteFormatError("a tree size fits in 64 bits")
    try:
        root = b64_decode(root_line)
    except MalformedInput:
        raise NoteFormatError("a root hash is canonical standard base64") from None
    if len(root) != ROOT_HASH_BYTES:
        raise NoteFormatError("a root hash is 32 bytes")
    if not time_line.startswith(_TIME_PREFIX):
        raise NoteFormatError("a checkpoint's fourth line is 'time YYYY-MM-DDTHH:MM:SSZ'")
    try:
        time = parse_time(time_line[len(_TIME_PREFIX) :])
    except MalformedInput:
        raise NoteFormatError("a checkpoint's time is RFC 3339 UTC, Z, whole seconds") from None
    return Checkpoint(origin_line, size, root, time)


def sign(
    origin: str,
    size: int,
    root: bytes,
    signing_key: Ed25519PrivateKey,
    key_name: str,
    time: datetime,
) -> str:
    """Sign the checkpoint ``(origin, size, root, time)``; return the signed note.

    ``time`` must already be floored to the log's time granularity (§9); it is
    written as given. Raises :class:`MalformedInput` if a field is invalid (see
    :class:`Checkpoint`; ``time`` must be timezone-aware UTC with zero
    microseconds), ``key_name`` is not a valid key name, or ``signing_key`` is
    not an Ed25519 private key.
    """
    checkpoint = Checkpoint(origin, size, root, time)
    return sign_note(checkpoint.note_text(), signing_key, key_name)


def verify(note: str, verifier_key: str, *, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint with the log's ``verifier_key``; return its fields.

    The expected origin is ``origin``, or the verifier key's name when it is
    ``None``. Raises :class:`MalformedInput` if ``verifier_key`` or ``origin``
    is malformed; :class:`NoteFormatError` if the note or its text is not a
    well-formed checkpoint (wrong line count, non-canonical size or base64, a
    root that is not 32 bytes, a bad time line, CRLF, too many signatures, two
    signatures by the key); :class:`UnknownKeyError` if no signature is by the
    key; :class:`NoteSignatureError` if the key's signature does not verify;
    :class:`OriginMismatchError` if the checkpoint names another origin.
    """
    # 1. The key, and the origin it vouches for.
    key = parse_verifier_key(verifier_key)
    if origin is not None and (not isinstance(origin, str) or not _is_line(origin)):
        raise MalformedInput("an expected origin is a non-empty line")
    expected_origin = key.name if origin is None else origin
    # 2. The signature, before anything in the text is read.
    text = verify_note(note, key)
    # 3. The signed text, strictly.
    checkpoint = _parse_text(text)
    # 4. The log it speaks for.
    if checkpoint.origin != expected_origin:
        raise OriginMismatchError()
    return checkpoint


def parse(note: str) -> Checkpoint:
    """Read a checkpoint's fields WITHOUT checking any signature (for display only).

    Anything relied on must come from :func:`verify`. Raises
    :class:`NoteFormatError` if the note or its text is not a well-formed
    checkpoint (:class:`MalformedInput` if ``note`` is not a string).
    """
    return _parse_text(parse_note(note).text)
