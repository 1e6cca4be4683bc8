"""Signed checkpoints (crypto/checkpoint.py, docs/protocol.md §9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from testimony.crypto import checkpoint, merkle, note
from testimony.crypto.encoding import b64_decode, b64_encode, b64u_decode
from testimony.crypto.errors import (
    CheckpointError,
    MalformedInput,
    NoteFormatError,
    NoteSignatureError,
    OriginMismatchError,
    UnknownKeyError,
)
from tests.vectors.loader import load_json

VECTOR = load_json("testimony/checkpoint.json")
KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTOR["signing_seed"]))
NAME = VECTOR["key_name"]
VKEY = VECTOR["verifier_key"]
ROOT = bytes.fromhex(VECTOR["root"])
TIME = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
NOTE = VECTOR["note"]
BODY = NOTE[: NOTE.index("\n\n") + 1]  # the four lines, each with its newline
SIGNATURE_LINE = NOTE[NOTE.index("\n\n") + 2 :]
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def sign_text(text: str, key: Ed25519PrivateKey = KEY, name: str = NAME) -> str:
    """A note over an arbitrary text, signed by the log key: reaches the body checks."""
    return note.sign_note(text, key, name)


# --- the vector ---------------------------------------------------------------


def test_vector_leaves_hash_to_the_vector_root() -> None:
    leaves = [merkle.leaf_hash(b64u_decode(leaf)) for leaf in VECTOR["leaves_jcs"]]
    assert len(leaves) == VECTOR["size"]
    assert merkle.root(leaves) == ROOT


def test_vector_time_is_the_checkpoint_time() -> None:
    assert VECTOR["time"] == "2026-11-25T12:00:00Z"


def test_signing_the_vector_gives_its_note_byte_for_byte() -> None:
    signed = checkpoint.sign(VECTOR["origin"], VECTOR["size"], ROOT, KEY, NAME, TIME)
    assert signed == NOTE


def test_vector_note_verifies_to_its_fields() -> None:
    assert checkpoint.verify(NOTE, VKEY) == checkpoint.Checkpoint(
        origin=VECTOR["origin"], size=VECTOR["size"], root=ROOT, time=TIME
    )


def test_vector_verifier_key_is_derived_from_the_seed() -> None:
    assert checkpoint.verifier_key(NAME, KEY.public_key().public_bytes_raw()) == VKEY


def test_parse_reads_the_fields_without_a_key() -> None:
    assert checkpoint.parse(NOTE) == checkpoint.verify(NOTE, VKEY)


def test_parse_does_not_check_the_signature() -> None:
    # Display only: a note by an unknown key still parses; verify refuses it.
    foreign = checkpoint.sign(NAME, 1, bytes(32), OTHER_KEY, NAME, TIME)
    assert checkpoint.parse(foreign).size == 1
    with pytest.raises(UnknownKeyError):
        checkpoint.verify(foreign, VKEY)


# --- tampering ----------------------------------------------------------------


def _substitute(text: str, index: int) -> list[str]:
    replacements = {"A", "0", "\n", " "} - {text[index]}
    return [text[:index] + r + text[index + 1 :] for r in sorted(replacements)]


@pytest.mark.parametrize("index", range(len(BODY)))
def test_every_changed_body_character_is_refused(index: int) -> None:
    last_newline = index == len(BODY) - 1
    for changed in _substitute(BODY, index):
        tampered = changed + "\n" + SIGNATURE_LINE
        # The body's last newline is half of the blank line that ends the text:
        # without it the note has no text. Anything else leaves a well-formed
        # note whose signature fails.
        with pytest.raises(NoteFormatError if last_newline else NoteSignatureError):
            checkpoint.verify(tampered, VKEY)
    deleted = BODY[:index] + BODY[index + 1 :] + "\n" + SIGNATURE_LINE
    with pytest.raises(NoteFormatError if last_newline else NoteSignatureError):
        checkpoint.verify(deleted, VKEY)


@pytest.mark.parametrize("index", range(len(SIGNATURE_LINE)))
def test_every_changed_signature_line_character_is_refused(index: int) -> None:
    for changed in _substitute(SIGNATURE_LINE, index):
        with pytest.raises(CheckpointError):
            checkpoint.verify(BODY + "\n" + changed, VKEY)


def _reencoded(key_hash_and_signature: bytes) -> str:
    return BODY + "\n" + f"\u2014 {NAME} {b64_encode(key_hash_and_signature)}\n"


def _raw_signature() -> bytes:
    return b64_decode(SIGNATURE_LINE.rstrip("\n").rsplit(" ", 1)[1])


@pytest.mark.parametrize("bit", [0, 7, 8 * 4, 8 * 4 + 1, 8 * 35, 8 * 68 - 1])
def test_a_flipped_signature_bit_is_refused(bit: int) -> None:
    raw = bytearray(_raw_signature())
    raw[bit // 8] ^= 1 << (bit % 8)
    # Bits 0..31 are the key hash: the signature is then by an unknown key.
    expected = UnknownKeyError if bit < 32 else NoteSignatureError
    with pytest.raises(expected):
        checkpoint.verify(_reencoded(bytes(raw)), VKEY)


def test_a_truncated_signature_is_refused() -> None:
    with pytest.raises(NoteSignatureError):
        checkpoint.verify(_reencoded(_raw_signature()[:-1]), VKEY)


def test_an_expected_origin_other_than_the_checkpoints_is_refused() -> None:
    with pytest.raises(OriginMismatchError):
        checkpoint.verify(NOTE, VKEY, origin="testimony.example.org/other")


def test_a_checkpoint_of_another_origin_signed_by_the_key_is_refused() -> None:
    other = checkpoint.sign("example.org/other-log", 7, ROOT, KEY, NAME, TIME)
    with pytest.raises(OriginMismatchError):
        checkpoint.verify(other, VKEY)
    # When that origin is the one expected, the same note is accepted.
    assert checkpoint.verify(other, VKEY, origin="example.org/other-log").size == 7


def test_a_checkpoint_signed_only_by_an_unknown_key_is_refused() -> None:
    foreign = checkpoint.sign(NAME, 42, ROOT, OTHER_KEY, NAME, TIME)
    with pytest.raises(UnknownKeyError):
        checkpoint.verify(foreign, VKEY)


def test_a_duplicated_signature_line_is_refused() -> None:
    with pytest.raises(NoteFormatError):
        checkpoint.verify(NOTE + SIGNATURE_LINE, VKEY)


def _cosignature(i: int) -> str:
    return f"\u2014 witness{i}.example {b64_encode(i.to_bytes(4, 'big') + bytes(64))}\n"


def test_a_cosigned_checkpoint_verifies() -> None:
    # C2SP: at least 16 signatures must be accepted; unknown signers are skipped.
    cosigned = NOTE + "".join(_cosignature(i) for i in range(15))
    assert checkpoint.verify(cosigned, VKEY).size == 42
    before = BODY + "\n" + _cosignature(0) + SIGNATURE_LINE
    assert checkpoint.verify(before, VKEY).size == 42


def test_too_many_signature_lines_are_refused() -> None:
    flooded = NOTE + "".join(_cosignature(i) for i in range(note.MAX_SIGNATURES))
    with pytest.raises(NoteFormatError):
        checkpoint.verify(flooded, VKEY)


def test_non_canonical_root_base64_is_refused() -> None:
    root_b64 = b64_encode(ROOT)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    # 32 bytes: the last base64 character before '=' has 2 unused bits.
    stray = root_b64[:-2] + alphabet[alphabet.index(root_b64[-2]) ^ 1] + "="
    with pytest.raises(NoteFormatError):
        checkpoint.verify(sign_text(BODY.replace(root_b64, stray)), VKEY)


@pytest.mark.parametrize(
    "root_line",
    [
        b64_encode(bytes(31)),
        b64_encode(bytes(33)),
        b64_encode(b""),
        b64_encode(ROOT).rstrip("="),
        b64_encode(ROOT).replace("+", "-").replace("/", "_"),
        VECTOR["root"],
    ],
    ids=["31-bytes", "33-bytes", "empty", "unpadded", "base64url", "hex"],
)
def test_a_root_that_is_not_32_bytes_of_base64_is_refused(root_line: str) -> None:
    body = BODY.replace(b64_encode(ROOT), root_line)
    with pytest.raises(NoteFormatError):
        checkpoint.verify(sign_text(body), VKEY)


@pytest.mark.parametrize(
    "size_line",
    [
        *["042", "00", "+42", "-1", " 42", "42 ", "4 2", "0x2a", "4_2", "1e3", ""],
        "\u0664\u0662",  # ARABIC-INDIC DIGITS FOUR, TWO: int() would read 42
        str(2**64),
        "2" * 21,
    ],
)
def test_a_size_that_is_not_canonical_decimal_is_refused(size_line: str) -> None:
    body = BODY.replace("\n42\n", f"\n{size_line}\n")
    with pytest.raises(NoteFormatError):
        checkpoint.verify(sign_text(body), VKEY)


@pytest.mark.parametrize("size", [0, 1, 2**64 - 1])
def test_sizes_at_the_edges_verify(size: int) -> None:
    signed = checkpoint.sign(NAME, size, ROOT, KEY, NAME, TIME)
    assert f"\n{size}\n" in signed
    assert checkpoint.verify(signed, VKEY).size == size


@pytest.mark.parametrize(
    "time_line",
    [
        "time 2026-11-25T12:00:00.000Z",
        "time 2026-11-25T12:00:00+00:00",
        "time 2026-11-25T12:00:00z",
        "time 2026-11-25t12:00:00Z",
        "time 2026-11-25 12:00:00Z",
        "time 2026-11-25T12:00Z",
        "time  2026-11-25T12:00:00Z",
        "time 2026-11-25T12:00:00Z ",
        "Time 2026-11-25T12:00:00Z",
        "time=2026-11-25T12:00:00Z",
        "2026-11-25T12:00:00Z",
        "time 2026-02-30T00:00:00Z",
        "time 2026-11-25T24:00:00Z",
        "time 2016-12-31T23:59:60Z",
        "time 0000-01-01T00:00:00Z",
        "time 1764072000",
        "time",
    ],
)
def test_a_time_line_that_is_not_exactly_rfc3339_utc_is_refused(time_line: str) -> None:
    body = BODY.replace("time 2026-11-25T12:00:00Z", time_line)
    with pytest.raises(NoteFormatError):
        checkpoint.verify(sign_text(body), VKEY)


def test_a_missing_time_line_is_refused() -> None:
    body = BODY.replace("time 2026-11-25T12:00:00Z\n", "")
    with pytest.raises(NoteFormatError):
        checkpoint.verify(sign_text(body), VKEY)


@pytest.mark.parametrize(
    "body",
    [
        BODY + "extension line\n",
        BODY + "time 2026-11-25T12:00:00Z\n",
        BODY.replace("\n42\n", "\n\n42\n"),
        "\n" + BODY,
        BODY.replace(NAME + "\n", "\n"),
        "\n".join(reversed(BODY.rstrip("\n").split("\n"))) + "\n",
    ],
    ids=["extension", "second-time", "blank-inside", "leading-blank", "empty-origin", "reversed"],
)
def test_a_body_of_other_lines_is_refused(body: str) -> None:
    with pytest.raises(NoteFormatError):
        checkpoint.verify(sign_text(body), VKEY)


def test_crlf_line_endings_are_refused() -> None:
    with pytest.raises(NoteFormatError):
        checkpoint.verify(NOTE.replace("\n", "\r\n"), VKEY)
    with pytest.raises(NoteFormatError):
        checkpoint.parse(NOTE.replace("\n", "\r\n"))


def test_a_missing_final_newline_is_refused() -> None:
    with pytest.raises(NoteFormatError):
        checkpoint.verify(NOTE.rstrip("\n"), VKEY)


@pytest.mark.parametrize("bad", ["", "example.org/log+00000000+AA==", NAME])
def test_a_malformed_verifier_key_is_refused(bad: str) -> None:
    with pytest.raises(MalformedInput):
        checkpoint.verify(NOTE, bad)


# --- signing inputs -----------------------------------------------------------


@pytest.mark.parametrize(
    "time",
    [
        datetime(2026, 11, 25, 12, 0, 0),
        datetime(2026, 11, 25, 14, 0, 0, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 11, 25, 12, 0, 0, 1, tzinfo=UTC),
        "2026-11-25T12:00:00Z",
    ],
    ids=["naive", "offset", "microseconds", "string"],
)
def test_sign_refuses_a_time_that_is_not_utc_whole_seconds(time: object) -> None:
    with pytest.raises(MalformedInput):
        checkpoint.sign(NAME, 42, ROOT, KEY, NAME, time)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [
        ("", 42, ROOT),
        ("a\nb", 42, ROOT),
        ("a\rb", 42, ROOT),
        (NAME, -1, ROOT),
        (NAME, 2**64, ROOT),
        (NAME, True, ROOT),
        (NAME, 42.0, ROOT),
        (NAME, 42, ROOT[:31]),
        (NAME, 42, ROOT + b"\x00"),
        (NAME, 42, ROOT.hex()),
    ],
)
def test_sign_refuses_malformed_fields(origin: object, size: object, root: object) -> None:
    with pytest.raises(MalformedInput):
        checkpoint.sign(origin, size, root, KEY, NAME, TIME)  # type: ignore[arg-type]


def test_sign_refuses_an_invalid_key_name() -> None:
    with pytest.raises(MalformedInput):
        checkpoint.sign(NAME, 42, ROOT, KEY, "log key", TIME)


def test_checkpoint_time_is_normalised_to_utc() -> None:
    from zoneinfo import ZoneInfo

    checkpoint_ = checkpoint.Checkpoint(NAME, 1, ROOT, TIME.replace(tzinfo=ZoneInfo("UTC")))
    assert checkpoint_.time.tzinfo is UTC
    assert checkpoint_.note_text().endswith("time 2026-11-25T12:00:00Z\n")


# --- round trip ---------------------------------------------------------------

_KEY_NAME_CHARACTERS = st.characters(
    codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), exclude_characters="+"
)
_ORIGINS = st.text(_KEY_NAME_CHARACTERS, min_size=1, max_size=40).filter(
    lambda s: not any(c.isspace() for c in s)
)
# Every year from 1, so years before 1000 prove the four-digit padding.
_TIMES = st.datetimes(
    min_value=datetime(1, 1, 1),
    max_value=datetime(9999, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
).map(lambda t: t.replace(microsecond=0))


@given(
    origin=_ORIGINS,
    size=st.integers(min_value=0, max_value=2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    time=_TIMES,
)
def test_parse_of_sign_returns_the_fields(
    origin: str, size: int, root: bytes, time: datetime
) -> None:
    signed = checkpoint.sign(origin, size, root, OTHER_KEY, origin, time)
    expected = checkpoint.Checkpoint(origin, size, root, time)
    assert checkpoint.parse(signed) == expected
    vkey = checkpoint.verifier_key(origin, OTHER_KEY.public_key().public_bytes_raw())
    assert checkpoint.verify(signed, vkey) == expected
