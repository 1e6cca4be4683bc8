"""C2SP cosignatures (https://c2sp.org/tlog-cosignature, ``cosignature/v1``,
Ed25519) on the log's checkpoints (docs/protocol.md §13): pure, no I/O.

A witness that has checked a checkpoint's consistency with every checkpoint
of the log it saw before adds a signature line to the note::

    — <witness key name> base64(key ID (4) || timestamp (8, big-endian) || signature (64))

where the key ID is ``H(name || 0x0A || 0x04 || public key)[:4]`` (type
``0x04``: a cosignature/v1 key, never a note key of type ``0x01``), and the
signature is Ed25519 over::

    cosignature/v1
    time <timestamp, decimal, no leading zeros>
    <the checkpoint's whole note text, with its final newline>

A witness's key is published as a verifier key of type ``0x04``:
``<name>+<hex key ID>+<base64(0x04 || public key)>``.

:func:`cosignatures` returns the pinned witnesses' valid cosignatures of a
note and raises for a line that claims to be a pinned witness's (its name and
key ID) but does not verify: that is a forgery, not an absence. Lines of other
signers (the log's own, unknown witnesses) are skipped. A client asks for
``n`` of them with :func:`require`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import note as notes
from .encoding import b64_decode, b64_encode, hex_decode, sha256
from .errors import CosignatureError, MalformedInput, NoteFormatError, TooFewCosignatures

__all__ = [
    "COSIGNATURE_TYPE",
    "MAX_TIMESTAMP",
    "Cosignature",
    "CosignerKey",
    "CosignerSigner",
    "add",
    "cosign",
    "cosignatures",
    "cosigner_key",
    "key_id",
    "parse_cosigner_key",
    "require",
    "signed_message",
]

COSIGNATURE_TYPE = 0x04
"""The C2SP signature type byte of an Ed25519 cosignature/v1 key."""
MAX_TIMESTAMP = (1 << 63) - 1
"""The latest timestamp a cosignature may carry (C2SP)."""
_HEADER = "cosignature/v1\n"
_KEY_BYTES = 32
_SIGNATURE_BYTES = 64
_ID_BYTES = 4


def key_id(name: str, public_key: bytes) -> bytes:
    """``H(name || 0x0A || 0x04 || public_key)[:4]``. Raises
    :class:`MalformedInput` for an invalid key name or a key not of 32 bytes."""
    if not notes._is_valid_key_name(name):
        raise MalformedInput("not a valid key name")
    if not isinstance(public_key, bytes) or len(public_key) != _KEY_BYTES:
        raise MalformedInput("an Ed25519 public key is 32 bytes")
    return sha256(name.encode("utf-8") + b"\n" + bytes([COSIGNATURE_TYPE]) + public_key)[:_ID_BYTES]


@dataclass(frozen=True)
class CosignerKey:
    """A witness's public cosigning key, with its name."""

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        if key_id(self.name, self.public_key) != self.key_id:
            raise MalformedInput("the key ID does not match the key name and public key")

    def __str__(self) -> str:
        encoded = b64_encode(bytes([COSIGNATURE_TYPE]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


@dataclass(frozen=True)
class CosignerSigner:
    """A witness's private cosigning key, with its name. Its ``repr`` shows no secret."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    @property
    def key(self) -> CosignerKey:
        public = self.private_key.public_key().public_bytes_raw()
        return CosignerKey(self.name, key_id(self.name, public), public)


def cosigner_key(name: str, public_key: bytes) -> str:
    """The verifier key string of a witness: ``<name>+<hex key ID>+<base64(0x04 || key)>``."""
    return str(CosignerKey(name, key_id(name, public_key), public_key))


def parse_cosigner_key(text: str) -> CosignerKey:
    """Parse a witness's verifier key (see :func:`cosigner_key`). Raises
    :class:`MalformedInput` unless it is exactly one, of type ``0x04``."""
    if not isinstance(text, str):
        raise MalformedInput("a witness key is a string")
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise MalformedInput("a witness key is <name>+<hex key ID>+<base64 key>")
    name, id_hex, key_b64 = parts
    typed = b64_decode(key_b64)
    if len(typed) != 1 + _KEY_BYTES or typed[0] != COSIGNATURE_TYPE:
        raise MalformedInput("a witness key is 0x04 followed by a 32-byte Ed25519 key")
    return CosignerKey(name, hex_decode(id_hex, _ID_BYTES), typed[1:])


def signed_message(text: str, timestamp: int) -> bytes:
    """What a cosignature signs: the header line, the time line, the note text."""
    if type(timestamp) is not int or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedInput("a cosignature's timestamp is 0 to 2^63 - 1")
    return (_HEADER + f"time {timestamp}\n" + text).encode("utf-8")


def cosign(note: str, signer: CosignerSigner, timestamp: int) -> str:
    """The cosignature line (with its newline) of ``signer`` on the note's text
    at ``timestamp`` (POSIX seconds). The note's own signatures are not
    checked here: a witness checks the log's signature and consistency first."""
    text = notes.parse_note(note).text
    signature = signer.private_key.sign(signed_message(text, timestamp))
    raw = signer.key.key_id + struct.pack(">Q", timestamp) + signature
    return f"{notes.SIGNATURE_PREFIX}{signer.name} {b64_encode(raw)}\n"


def add(note: str, lines: Sequence[str]) -> str:
    """``note`` with the signature ``lines`` appended (each once; a line the
    note holds already, or another by the same key, is left out)."""
    parsed = notes.parse_note(note)
    have = {(s.key_name, s.key_hash) for s in parsed.signatures}
    extra = []
    for line in lines:
        signature = notes._parse_signature_line(line.rstrip("\n"))
        if (signature.key_name, signature.key_hash) not in have:
            have.add((signature.key_name, signature.key_hash))
            extra.append(signature)
    return notes.Note(parsed.text, (*parsed.signatures, *extra)).serialize()


@dataclass(frozen=True)
class Cosignature:
    """A pinned witness's valid cosignature: who, and when it says it saw the checkpoint."""

    name: str
    timestamp: int


def cosignatures(note: str, keys: Sequence[CosignerKey]) -> list[Cosignature]:
    """The valid cosignatures of ``note`` by the witnesses ``keys``, in the
    order of ``keys``. Raises :class:`NoteFormatError` for a malformed note or
    two lines of one witness, and :class:`NoteSignatureError` for a line with a
    pinned witness's name and key ID that does not verify."""
    parsed = notes.parse_note(note)
    found: list[Cosignature] = []
    for key in keys:
        mine = [s for s in parsed.signatures if s.key_name == key.name and s.key_hash == key.key_id]
        if not mine:
            continue
        if len(mine) > 1:
            raise NoteFormatError("a note carries one cosignature per witness")
        raw = mine[0].signature
        if len(raw) != 8 + _SIGNATURE_BYTES:
            raise CosignatureError(f"the cosignature of {key.name} is not 72 bytes")
        (timestamp,) = struct.unpack(">Q", raw[:8])
        if timestamp > MAX_TIMESTAMP:
            raise CosignatureError(f"the cosignature of {key.name} has an impossible time")
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(
                raw[8:], signed_message(parsed.text, timestamp)
            )
        except InvalidSignature:
            raise CosignatureError(f"the cosignature of {key.name} does not verify") from None
        found.append(Cosignature(key.name, timestamp))
    return found


def require(note: str, keys: Sequence[CosignerKey], n: int) -> list[Cosignature]:
    """At least ``n`` valid cosignatures by distinct pinned witnesses, else
    :class:`TooFewCosignatures`; returns them."""
    found = cosignatures(note, keys)
    if len(found) < n:
        raise TooFewCosignatures(
            f"the checkpoint carries {len(found)} valid cosignatures of pinned witnesses, "
            f"{n} are required"
        )
    return found
