"""C2SP signed notes (https://c2sp.org/signed-note), the envelope of the
checkpoints of docs/protocol.md §9.

A signed note is a text, a blank line, and one or more signature lines::

    <text: lines, each ending in a newline>
    <blank line>
    — <key name> <base64(key hash (4 bytes) || signature)>
    ...

The signature covers the text: every line above the blank line, each with its
newline. Only Ed25519 keys (signature type ``0x01``) are supported; their key
hash is ``H(key name || 0x0A || 0x01 || public key)[:4]``. A verifier key is
published as ``<name>+<hex key hash>+<base64(0x01 || public key)>``; a signer
key, in the format of Go's ``golang.org/x/mod/sumdb/note``, as
``PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 || 32-byte seed)>``.

Verification (:func:`verify_note`) follows the C2SP rules and is stricter where
they leave room:

1. the whole note is at most :data:`MAX_NOTE_BYTES` of UTF-8 with no ASCII
   control character other than newline (so CRLF is refused);
2. the text ends at the *last* blank line; everything after it is signature
   lines, each ending in a newline, at most :data:`MAX_SIGNATURES` of them;
3. every signature line, known signer or not, is well formed: em dash, space,
   a valid key name, one space, canonical standard base64 of at least 5 bytes;
4. a signature is the expected key's only when both its key name and its key
   hash match; any other signature is skipped, unverified (witness cosignatures,
   rotated keys);
5. the expected key signs at most once, and its signature must verify.

Checks raise; nothing returns ``False``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeGuard

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .encoding import b64_decode, b64_encode, hex_decode, sha256
from .errors import MalformedInput, NoteFormatError, NoteSignatureError, UnknownKeyError

__all__ = [
    "ED25519_SIGNATURE_TYPE",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "SIGNATURE_PREFIX",
    "Note",
    "Signature",
    "SignerKey",
    "VerifierKey",
    "key_hash",
    "parse_note",
    "parse_signer_key",
    "parse_verifier_key",
    "sign_note",
    "signer_key",
    "verifier_key",
    "verify_note",
]

ED25519_SIGNATURE_TYPE = 0x01
"""The C2SP signature type byte of Ed25519."""

SIGNATURE_PREFIX = "\u2014 "
"""What every signature line starts with: EM DASH (U+2014) and a space."""

MAX_SIGNATURES = 100
"""Most signature lines a note may carry (C2SP: a verifier must accept 16)."""

MAX_NOTE_BYTES = 1 << 20
"""Largest note accepted, in UTF-8 bytes (1 MiB)."""

_KEY_HASH_BYTES = 4
_ED25519_KEY_BYTES = 32
_ED25519_SIGNATURE_BYTES = 64
_PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"


def _is_valid_key_name(name: object) -> TypeGuard[str]:
    # C2SP: non-empty, no Unicode space, no '+'. A name also lives inside a
    # note, so it must be encodable UTF-8 without control characters.
    # str.isspace() covers every Unicode White_Space character (and more).
    return (
        isinstance(name, str)
        and name != ""
        and "+" not in name
        and not any(ch.isspace() or ord(ch) < 0x20 for ch in name)
        and _is_utf8(name)
    )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def _has_control_character(text: str) -> bool:
    return any(ord(ch) < 0x20 and ch != "\n" for ch in text)


def _check_key_name(name: object) -> str:
    if not _is_valid_key_name(name):
        raise MalformedInput("a key name is non-empty, without spaces or '+'")
    return name


def _check_text(text: object) -> str:
    if (
        not isinstance(text, str)
        or not text.endswith("\n")
        or not _is_utf8(text)
        or _has_control_character(text)
    ):
        raise MalformedInput(
            "note text is UTF-8 ending in a newline, without control characters but newline"
        )
    return text


def _check_public_key(public_key: object) -> bytes:
    if not isinstance(public_key, bytes) or len(public_key) != _ED25519_KEY_BYTES:
        raise MalformedInput("an Ed25519 public key is 32 bytes")
    return public_key


def key_hash(name: str, public_key: bytes) -> bytes:
    """The 4-byte C2SP key hash ``H(name || 0x0A || 0x01 || public_key)[:4]``.

    Raises :class:`MalformedInput` if ``name`` is not a valid key name or
    ``public_key`` is not 32 bytes.
    """
    name = _check_key_name(name)
    public_key = _check_public_key(public_key)
    digest = sha256(name.encode("utf-8") + b"\n" + bytes([ED25519_SIGNATURE_TYPE]) + public_key)
    return digest[:_KEY_HASH_BYTES]


@dataclass(frozen=True)
class VerifierKey:
    """A named Ed25519 public key that checks note signatures."""

    name: str
    key_hash: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        if key_hash(self.name, self.public_key) != self.key_hash:
            raise MalformedInput("the key hash does not match the key name and public key")
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError:  # pragma: no cover - the backend loads any 32 bytes
            raise MalformedInput("not an Ed25519 public key") from None

    def __str__(self) -> str:
        encoded = b64_encode(bytes([ED25519_SIGNATURE_TYPE]) + self.public_key)
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"


@dataclass(frozen=True)
class SignerKey:
    """A named Ed25519 private key that signs notes. Its ``repr`` shows no secret."""

    name: str
    key_hash: bytes
    private_key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise MalformedInput("a signer key holds an Ed25519 private key")
        public_key = self.private_key.public_key().public_bytes_raw()
        if key_hash(self.name, public_key) != self.key_hash:
            raise MalformedInput("the key hash does not match the key name and public key")

    def verifier(self) -> VerifierKey:
        """The verifier key of this signer."""
        return VerifierKey(
            self.name, self.key_hash, self.private_key.public_key().public_bytes_raw()
        )


def verifier_key(name: str, public_key: bytes) -> str:
    """The verifier key string ``<name>+<hex key hash>+<base64(0x01 || public_key)>``.

    Raises :class:`MalformedInput` if ``name`` is not a valid key name or
    ``public_key`` is not 32 bytes.
    """
    return str(VerifierKey(name, key_hash(name, public_key), public_key))


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse a verifier key string (see :func:`verifier_key`).

    Raises :class:`MalformedInput` if it is not exactly one: an invalid name, a
    key hash that is not 8 lowercase hex digits or does not match, base64 that
    is not canonical standard base64, a signature type other than Ed25519, or a
    public key that is not 32 bytes.
    """
    if not isinstance(text, str):
        raise MalformedInput("a verifier key is a string")
    # The name has no '+'; the base64 key may, so split twice only.
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise MalformedInput("a verifier key is <name>+<hex key hash>+<base64 key>")
    name, hash_hex, key_b64 = parts
    _check_key_name(name)
    expected_hash = hex_decode(hash_hex, _KEY_HASH_BYTES)
    typed_key = b64_decode(key_b64)
    if len(typed_key) != 1 + _ED25519_KEY_BYTES or typed_key[0] != ED25519_SIGNATURE_TYPE:
        raise MalformedInput("a verifier key is 0x01 followed by a 32-byte Ed25519 key")
    return VerifierKey(name, expected_hash, typed_key[1:])


def signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """The signer key string ``PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 || seed)>``.

    This string is the private key: store it as a secret. Raises
    :class:`MalformedInput` if ``name`` is not a valid key name or
    ``private_key`` is not an Ed25519 private key.
    """
    if not isinstance(private_key, Ed25519PrivateKey):
        raise MalformedInput("a signer key holds an Ed25519 private key")
    public_key = private_key.public_key().public_bytes_raw()
    seed = private_key.private_bytes_raw()
    encoded = b64_encode(bytes([ED25519_SIGNATURE_TYPE]) + seed)
    return f"{_PRIVATE_KEY_PREFIX}{name}+{key_hash(name, public_key).hex()}+{encoded}"


def parse_signer_key(text: str) -> SignerKey:
    """Parse a signer key string (see :func:`signer_key`).

    Raises :class:`MalformedInput` if it is not exactly one, including when its
    key hash does not match the name and the public key of its seed. The error
    never repeats the string.
    """
    if not isinstance(text, str) or not text.startswith(_PRIVATE_KEY_PREFIX):
        raise MalformedInput("a signer key starts with PRIVATE+KEY+")
    parts = text[len(_PRIVATE_KEY_PREFIX) :].split("+", 2)
    if len(parts) != 3:
        raise MalformedInput("a signer key is PRIVATE+KEY+<name>+<hex key hash>+<base64 seed>")
    name, hash_hex, seed_b64 = parts
    _check_key_name(name)
    expected_hash = hex_decode(hash_hex, _KEY_HASH_BYTES)
    typed_seed = b64_decode(seed_b64)
    if len(typed_seed) != 1 + _ED25519_KEY_BYTES or typed_seed[0] != ED25519_SIGNATURE_TYPE:
        raise MalformedInput("a signer key is 0x01 followed by a 32-byte Ed25519 seed")
    private_key = Ed25519PrivateKey.from_private_bytes(typed_seed[1:])
    return SignerKey(name, expected_hash, private_key)


@dataclass(frozen=True)
class Signature:
    """One signature line: the key's name, its 4-byte key hash and the signature bytes."""

    key_name: str
    key_hash: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _check_key_name(self.key_name)
        if not isinstance(self.key_hash, bytes) or len(self.key_hash) != _KEY_HASH_BYTES:
            raise MalformedInput("a key hash is 4 bytes")
        if not isinstance(self.signature, bytes) or not self.signature:
            raise MalformedInput("a signature is at least one byte")

    def line(self) -> str:
        """The signature line, with its newline."""
        encoded = b64_encode(self.key_hash + self.signature)
        return f"{SIGNATURE_PREFIX}{self.key_name} {encoded}\n"


@dataclass(frozen=True)
class Note:
    """A note text and its signatures, verified or not.

    Building one checks its structure only; :func:`verify_note` checks a signature.
    """

    text: str
    signatures: tuple[Signature, ...]

    def __post_init__(self) -> None:
        _check_text(self.text)
        if not isinstance(self.signatures, tuple) or not all(
            isinstance(s, Signature) for s in self.signatures
        ):
            raise MalformedInput("a note's signatures are a tuple of Signature")
        if not 1 <= len(self.signatures) <= MAX_SIGNATURES:
            raise MalformedInput(f"a note has 1 to {MAX_SIGNATURES} signatures")

    def serialize(self) -> str:
        """The signed note: text, blank line, signature lines."""
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


def _parse_signature_line(line: str) -> Signature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteFormatError("a signature line starts with an em dash and a space")
    name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not space or not _is_valid_key_name(name):
        raise NoteFormatError("a signature line names a valid key")
    try:
        raw = b64_decode(encoded)
    except MalformedInput:
        raise NoteFormatError("a signature is canonical standard base64") from None
    if len(raw) <= _KEY_HASH_BYTES:
        raise NoteFormatError("a signature is a key hash and at least one byte")
    return Signature(name, raw[:_KEY_HASH_BYTES], raw[_KEY_HASH_BYTES:])


def parse_note(note: str) -> Note:
    """Split a signed note into its text and signatures, verifying nothing.

    The text is only to be trusted after :func:`verify_note`. Raises
    :class:`NoteFormatError` if the note (a string, else
    :class:`MalformedInput`) is larger than :data:`MAX_NOTE_BYTES`,
    is not UTF-8, contains a control character other than newline, has no
    blank line, does not end in a newline, has more than
    :data:`MAX_SIGNATURES` signature lines or a malformed one.
    """
    if not isinstance(note, str):
        raise MalformedInput("a note is a string")
    # 1. Size, encoding and characters, before any other work.
    if len(note) > MAX_NOTE_BYTES or not _is_utf8(note):
        raise NoteFormatError("a note is UTF-8 and at most 1 MiB")
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
        raise NoteFormatError("a note is at most 1 MiB")
    if _has_control_character(note):
        raise NoteFormatError("a note has no control characters but newline")
    # 2. The text ends at the last blank line (C2SP: the text may itself
    #    contain blank lines). The text keeps its final newline.
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteFormatError("a note has a blank line before its signatures")
    text, signature_block = note[: split + 1], note[split + 2 :]
    if not signature_block.endswith("\n"):
        raise NoteFormatError("a note ends with a signature line and a newline")
    lines = signature_block[:-1].split("\n")
    # 3. Cap the signature lines before parsing any.
    if len(lines) > MAX_SIGNATURES:
        raise NoteFormatError(f"a note has at most {MAX_SIGNATURES} signatures")
    signatures = tuple(_parse_signature_line(line) for line in lines)
    return Note(text, signatures)


def sign_note(text: str, signing_key: Ed25519PrivateKey, key_name: str) -> str:
    """Sign ``text`` with ``signing_key`` under ``key_name``; return the signed note.

    Raises :class:`MalformedInput` if ``text`` is not a note text (UTF-8 ending
    in a newline, no control character but newline), ``key_name`` is not a
    valid key name, ``signing_key`` is not an Ed25519 private key, or the
    note would be larger than :data:`MAX_NOTE_BYTES`.
    """
    text = _check_text(text)
    if not isinstance(signing_key, Ed25519PrivateKey):
        raise MalformedInput("a note is signed with an Ed25519 private key")
    public_key = signing_key.public_key().public_bytes_raw()
    signature = signing_key.sign(text.encode("utf-8"))
    note = Note(text, (Signature(key_name, key_hash(key_name, public_key), signature),))
    signed = note.serialize()
    if len(signed.encode("utf-8")) > MAX_NOTE_BYTES:
        raise MalformedInput("the signed note would be larger than 1 MiB")
    return signed


def verify_note(note: str, verifier_key: str | VerifierKey) -> str:
    """Check ``note``'s signature by ``verifier_key``; return the verified text.

    Signatures by other keys (another name or another key hash) are skipped.
    Raises :class:`MalformedInput` if ``verifier_key`` does not parse,
    :class:`NoteFormatError` if the note is malformed (see :func:`parse_note`)
    or carries two signatures by the key, :class:`UnknownKeyError` if it has
    no signature by the key, and :class:`NoteSignatureError` if that
    signature does not verify.
    """
    key = (
        verifier_key if isinstance(verifier_key, VerifierKey) else parse_verifier_key(verifier_key)
    )
    parsed = parse_note(note)
    mine = [s for s in parsed.signatures if s.key_name == key.name and s.key_hash == key.key_hash]
    if not mine:
        raise UnknownKeyError()
    if len(mine) > 1:
        raise NoteFormatError("a note carries one signature per key")
    signature = mine[0].signature
    if len(signature) != _ED25519_SIGNATURE_BYTES:
        raise NoteSignatureError()
    try:
        Ed25519PublicKey.from_public_bytes(key.public_key).verify(
            signature, parsed.text.encode("utf-8")
        )
    except InvalidSignature:
        raise NoteSignatureError() from None
    return parsed.text
