"""C2SP signed notes (crypto/note.py), against golang/mod's sumdb/note vectors."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from testimony.crypto import note
from testimony.crypto.encoding import b64_decode, b64_encode
from testimony.crypto.errors import (
    MalformedInput,
    NoteFormatError,
    NoteSignatureError,
    UnknownKeyError,
)
from tests.vectors.loader import load_json

GO = load_json("signed-note/go-note.json")
EM_DASH = "\u2014"

KEY_A = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
KEY_B = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))


def public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def signature_lines(signed: str) -> list[str]:
    return signed[signed.rindex("\n\n") + 2 :].splitlines(keepends=True)


def forged_line(name: str, hash_: bytes, signature: bytes = bytes(64)) -> str:
    return f"{EM_DASH} {name} {b64_encode(hash_ + signature)}\n"


# --- the Go vectors -----------------------------------------------------------


def test_go_signer_key_signs_the_text_byte_for_byte() -> None:
    signer = note.parse_signer_key(GO["signer_key"])
    assert note.sign_note(GO["text"], signer.private_key, signer.name) == GO["signed_note"]


def test_go_signed_note_verifies_and_returns_its_text() -> None:
    assert note.verify_note(GO["signed_note"], GO["verifier_key"]) == GO["text"]


@pytest.mark.parametrize("key", ["verifier_key", "second_verifier_key"])
def test_go_note_with_two_signatures_verifies_with_either_key(key: str) -> None:
    assert note.verify_note(GO["note_with_two_signatures"], GO[key]) == GO["text"]


def test_go_signer_key_yields_the_go_verifier_key() -> None:
    signer = note.parse_signer_key(GO["signer_key"])
    assert str(signer.verifier()) == GO["verifier_key"]
    assert note.signer_key(signer.name, signer.private_key) == GO["signer_key"]


@pytest.mark.parametrize("bad", GO["bad_verifier_keys"])
def test_go_bad_verifier_keys_are_rejected(bad: str) -> None:
    with pytest.raises(MalformedInput):
        note.parse_verifier_key(bad)


def test_go_verifier_key_round_trips() -> None:
    parsed = note.parse_verifier_key(GO["verifier_key"])
    assert parsed.name == "PeterNeumann"
    assert parsed.key_hash.hex() == "c74f20a3"
    assert note.key_hash(parsed.name, parsed.public_key) == parsed.key_hash
    assert note.verifier_key(parsed.name, parsed.public_key) == GO["verifier_key"]
    assert note.parse_verifier_key(note.verifier_key(parsed.name, parsed.public_key)) == parsed


def test_second_go_signature_is_skipped_as_unknown_signer() -> None:
    # Only the second line is by EnochRoot; verifying with Peter's key ignores it.
    second_only = GO["text"] + "\n" + signature_lines(GO["note_with_two_signatures"])[1]
    assert note.verify_note(second_only, GO["second_verifier_key"]) == GO["text"]
    with pytest.raises(UnknownKeyError):
        note.verify_note(second_only, GO["verifier_key"])


# --- keys ---------------------------------------------------------------------


def test_signer_key_repr_shows_no_secret() -> None:
    signer = note.parse_signer_key(GO["signer_key"])
    seed_b64 = GO["signer_key"].rsplit("+", 1)[1]
    assert seed_b64 not in repr(signer)
    assert "private_key" not in repr(signer)


def test_key_hash_is_the_c2sp_formula() -> None:
    expected = hashlib.sha256(b"example.org/log\n\x01" + public(KEY_A)).digest()[:4]
    assert note.key_hash("example.org/log", public(KEY_A)) == expected


@pytest.mark.parametrize(
    "name",
    ["", "a b", "a+b", "a\tb", "a\nb", "a\x01b", "a\u00a0b", "a\u2003b", "a\u3000b", "a\ud800"],
)
def test_invalid_key_names_are_refused_everywhere(name: str) -> None:
    with pytest.raises(MalformedInput):
        note.key_hash(name, public(KEY_A))
    with pytest.raises(MalformedInput):
        note.verifier_key(name, public(KEY_A))
    with pytest.raises(MalformedInput):
        note.sign_note("text\n", KEY_A, name)


@pytest.mark.parametrize("public_key", [bytes(31), bytes(33), b"", "0" * 32])
def test_public_key_must_be_32_bytes(public_key: object) -> None:
    with pytest.raises(MalformedInput):
        note.verifier_key("example.org/log", public_key)  # type: ignore[arg-type]


def _vkey(name: str, hash_hex: str, typed_key: bytes) -> str:
    return f"{name}+{hash_hex}+{b64_encode(typed_key)}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "example.org/log",
        "example.org/log+",
        "example.org/log+0011",
        "a b+"
        + note.key_hash("a", public(KEY_A)).hex()
        + "+"
        + b64_encode(b"\x01" + public(KEY_A)),
        # uppercase hex
        _vkey(
            "example.org/log",
            note.key_hash("example.org/log", public(KEY_A)).hex().upper(),
            b"\x01" + public(KEY_A),
        ),
        # key hash of another name
        _vkey(
            "example.org/log", note.key_hash("other", public(KEY_A)).hex(), b"\x01" + public(KEY_A)
        ),
        # signature type other than Ed25519
        _vkey(
            "example.org/log",
            note.key_hash("example.org/log", public(KEY_A)).hex(),
            b"\x02" + public(KEY_A),
        ),
        # 31-byte key
        _vkey("example.org/log", "00000000", b"\x01" + bytes(31)),
        # padding where none belongs
        _vkey(
            "example.org/log",
            note.key_hash("example.org/log", public(KEY_A)).hex(),
            b"\x01" + public(KEY_A),
        )
        + "=",
    ],
)
def test_malformed_verifier_keys_are_rejected(text: str) -> None:
    with pytest.raises(MalformedInput):
        note.parse_verifier_key(text)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.removeprefix("PRIVATE+KEY+"),
        lambda s: s.replace("PRIVATE+KEY+", "private+key+"),
        lambda s: s.replace("+c74f20a3+", "+c74f20a4+"),
        lambda s: s.replace("PeterNeumann", "PeterNeuman"),
        lambda s: s[:-1],
    ],
    ids=["no-prefix", "lowercase-prefix", "wrong-hash", "wrong-name", "truncated"],
)
def test_malformed_signer_keys_are_rejected(mutate: Callable[[str], str]) -> None:
    with pytest.raises(MalformedInput):
        note.parse_signer_key(mutate(GO["signer_key"]))


# --- signing ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "no final newline", "carriage\r\n", "tab\there\n", "nul\x00\n", "surrogate \ud800\n"],
)
def test_sign_note_refuses_texts_that_are_not_note_texts(text: str) -> None:
    with pytest.raises(MalformedInput):
        note.sign_note(text, KEY_A, "example.org/log")


def test_sign_note_refuses_a_key_that_is_not_ed25519() -> None:
    with pytest.raises(MalformedInput):
        note.sign_note("text\n", public(KEY_A), "example.org/log")  # type: ignore[arg-type]


def test_text_with_blank_lines_is_signed_and_verified_whole() -> None:
    # C2SP: the text may contain empty lines; it ends at the note's last one.
    text = "first\n\nthird\n\n"
    signed = note.sign_note(text, KEY_A, "example.org/log")
    assert note.verify_note(signed, note.verifier_key("example.org/log", public(KEY_A))) == text
    assert note.parse_note(signed).text == text


_LINE = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=40)


@given(lines=st.lists(_LINE, min_size=1, max_size=6))
def test_any_note_text_round_trips_through_sign_and_verify(lines: list[str]) -> None:
    text = "".join(line + "\n" for line in lines)
    signed = note.sign_note(text, KEY_A, "example.org/log")
    assert note.verify_note(signed, note.verifier_key("example.org/log", public(KEY_A))) == text
    parsed = note.parse_note(signed)
    assert parsed.text == text
    assert parsed.serialize() == signed


def test_note_serialize_round_trips_with_several_signatures() -> None:
    parsed = note.parse_note(GO["note_with_two_signatures"])
    assert [s.key_name for s in parsed.signatures] == ["PeterNeumann", "EnochRoot"]
    assert parsed.serialize() == GO["note_with_two_signatures"]
    assert note.parse_note(parsed.serialize()) == parsed


# --- verifying ----------------------------------------------------------------

NAME = "example.org/log"
VKEY_A = note.verifier_key(NAME, public(KEY_A))
TEXT = "hello\nworld\n"
SIGNED_A = note.sign_note(TEXT, KEY_A, NAME)


def test_signature_by_another_key_of_the_same_name_is_unknown() -> None:
    signed_b = note.sign_note(TEXT, KEY_B, NAME)
    with pytest.raises(UnknownKeyError):
        note.verify_note(signed_b, VKEY_A)


def test_signer_sharing_only_name_or_only_hash_is_skipped() -> None:
    # C2SP: ignore unknown keys even if they share a name or a key ID (not both).
    hash_a = note.key_hash(NAME, public(KEY_A))
    same_name = forged_line(NAME, bytes(b ^ 0xFF for b in hash_a))
    same_hash = forged_line("example.org/other", hash_a)
    forged = TEXT + "\n" + same_name + same_hash + signature_lines(SIGNED_A)[0]
    assert note.verify_note(forged, VKEY_A) == TEXT
    with pytest.raises(UnknownKeyError):
        note.verify_note(TEXT + "\n" + same_name + same_hash, VKEY_A)


def test_matching_name_and_hash_with_a_bad_signature_fails() -> None:
    forged = TEXT + "\n" + forged_line(NAME, note.key_hash(NAME, public(KEY_A)))
    with pytest.raises(NoteSignatureError):
        note.verify_note(forged, VKEY_A)


@pytest.mark.parametrize("length", [1, 63, 65, 128])
def test_signature_of_the_wrong_length_by_the_key_fails(length: int) -> None:
    forged = TEXT + "\n" + forged_line(NAME, note.key_hash(NAME, public(KEY_A)), bytes(length))
    with pytest.raises(NoteSignatureError):
        note.verify_note(forged, VKEY_A)


def test_signature_over_another_text_fails() -> None:
    other = note.sign_note("other\n", KEY_A, NAME)
    with pytest.raises(NoteSignatureError):
        note.verify_note(TEXT + "\n" + signature_lines(other)[0], VKEY_A)


def test_a_bad_signature_by_the_key_fails_even_beside_a_good_one_by_another() -> None:
    good_b = note.sign_note(TEXT, KEY_B, "example.org/b")
    bad_a = forged_line(NAME, note.key_hash(NAME, public(KEY_A)))
    with pytest.raises(NoteSignatureError):
        note.verify_note(TEXT + "\n" + signature_lines(good_b)[0] + bad_a, VKEY_A)


def test_two_signatures_by_the_key_are_refused() -> None:
    line = signature_lines(SIGNED_A)[0]
    with pytest.raises(NoteFormatError):
        note.verify_note(SIGNED_A + line, VKEY_A)


def test_repeated_unknown_signatures_are_skipped() -> None:
    unknown = forged_line("witness.example", b"\x12\x34\x56\x78")
    assert note.verify_note(SIGNED_A + unknown + unknown, VKEY_A) == TEXT


def test_exactly_max_signatures_are_accepted_and_one_more_is_refused() -> None:
    witnesses = [forged_line(f"w{i}.example", b"\x00\x00\x00\x01") for i in range(200)]
    fits = SIGNED_A + "".join(witnesses[: note.MAX_SIGNATURES - 1])
    assert note.verify_note(fits, VKEY_A) == TEXT
    with pytest.raises(NoteFormatError):
        note.verify_note(fits + witnesses[-1], VKEY_A)


def test_oversized_note_is_refused() -> None:
    big = "x" * note.MAX_NOTE_BYTES + "\n"
    with pytest.raises(NoteFormatError):
        note.parse_note(big + "\n" + signature_lines(SIGNED_A)[0])
    # Multi-byte characters count in bytes, not characters.
    wide = "\u00e9" * (note.MAX_NOTE_BYTES // 2) + "\n"
    with pytest.raises(NoteFormatError):
        note.parse_note(wide + "\n" + signature_lines(SIGNED_A)[0])
    with pytest.raises(MalformedInput):
        note.sign_note(wide, KEY_A, NAME)


@pytest.mark.parametrize(
    ("signed", "why"),
    [
        (TEXT + signature_lines(SIGNED_A)[0], "no blank line"),
        (SIGNED_A[:-1], "no final newline"),
        (SIGNED_A.replace("\n", "\r\n"), "CRLF"),
        (SIGNED_A.replace(EM_DASH, "--"), "ASCII dashes"),
        (SIGNED_A.replace(EM_DASH, "\u2013"), "en dash"),
        (SIGNED_A.replace(EM_DASH + " ", EM_DASH), "no space after the dash"),
        (SIGNED_A.replace(f" {NAME} ", f" {NAME}  "), "two spaces"),
        (SIGNED_A.replace(f" {NAME} ", " "), "no key name"),
        (SIGNED_A.replace("=\n", "\n"), "unpadded base64"),
        (SIGNED_A + "\n", "trailing blank line"),
        (SIGNED_A + "not a signature\n", "stray line"),
        (TEXT + "\n" + forged_line(NAME, b"\x00\x00\x00", b""), "3-byte signature"),
        (TEXT + "\n" + forged_line(NAME, b"\x00\x00\x00\x00", b""), "key hash only"),
        (TEXT + "\n", "no signature"),
        ("\n" + signature_lines(SIGNED_A)[0], "only the separator"),
    ],
)
def test_malformed_notes_are_refused(signed: str, why: str) -> None:
    with pytest.raises(NoteFormatError):
        note.verify_note(signed, VKEY_A)
    with pytest.raises(NoteFormatError):
        note.parse_note(signed)


def test_non_canonical_signature_base64_is_refused() -> None:
    line = signature_lines(SIGNED_A)[0]
    encoded = line.rsplit(" ", 1)[1].rstrip("\n")
    raw = b64_decode(encoded)
    # 68 bytes: the last base64 character carries 2 unused bits; set one.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    stray = alphabet[alphabet.index(encoded[-2]) ^ 1]
    non_canonical = encoded[:-2] + stray + "="
    assert len(raw) == 68
    with pytest.raises(NoteFormatError):
        note.verify_note(SIGNED_A.replace(encoded, non_canonical), VKEY_A)


def test_verify_note_refuses_a_non_string() -> None:
    with pytest.raises(MalformedInput):
        note.verify_note(SIGNED_A.encode(), VKEY_A)  # type: ignore[arg-type]
