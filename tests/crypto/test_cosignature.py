"""C2SP cosignature/v1 on checkpoints (docs/protocol.md §13; crypto/cosignature.py):
the key ID and signed message exactly as tlog-cosignature states them, checked
by hand against the spec's bytes; a witness's line verifies and adds to the
log's note without disturbing its signature; a forged, altered, repeated or
misplaced cosignature is refused; unknown witnesses are skipped; ``require``
counts distinct pinned witnesses."""

from __future__ import annotations

import base64
import hashlib
import struct
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from testimony.crypto import checkpoint, cosignature, note
from testimony.crypto.errors import (
    CosignatureError,
    MalformedInput,
    NoteFormatError,
    TooFewCosignatures,
)

LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
LOG_NAME = "cosign.test/log"
VKEY = note.verifier_key(LOG_NAME, LOG_KEY.public_key().public_bytes_raw())
AT = datetime(2026, 12, 7, 23, tzinfo=UTC)
NOTE = checkpoint.sign(LOG_NAME, 42, bytes(32), LOG_KEY, LOG_NAME, AT)
WITNESSES = [
    cosignature.CosignerSigner(
        f"witness.test/w{i}", Ed25519PrivateKey.from_private_bytes(bytes([i + 1]) * 32)
    )
    for i in range(3)
]
KEYS = [w.key for w in WITNESSES]
TIME = 1_700_000_000


def test_the_key_id_and_message_are_the_spec_s_bytes() -> None:
    signer = WITNESSES[0]
    public = signer.private_key.public_key().public_bytes_raw()
    by_hand = hashlib.sha256(b"witness.test/w0\n\x04" + public).digest()[:4]
    assert cosignature.key_id("witness.test/w0", public) == by_hand
    # A note key of type 0x01 hashes differently: the two are never confused.
    assert note.key_hash("witness.test/w0", public) != by_hand
    text = note.parse_note(NOTE).text
    assert cosignature.signed_message(text, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + text.encode()
    )
    line = cosignature.cosign(NOTE, signer, TIME)
    name, encoded = line.removeprefix("\u2014 ").rstrip("\n").split(" ")
    raw = base64.b64decode(encoded)
    assert name == "witness.test/w0" and raw[:4] == by_hand and len(raw) == 76
    assert struct.unpack(">Q", raw[4:12]) == (TIME,)
    Ed25519PublicKey.from_public_bytes(public).verify(
        raw[12:], b"cosignature/v1\ntime %d\n" % TIME + text.encode()
    )


def test_a_vkey_round_trips_and_a_wrong_one_is_refused() -> None:
    key = KEYS[0]
    text = str(key)
    assert cosignature.parse_cosigner_key(text) == key
    assert text == cosignature.cosigner_key(key.name, key.public_key)
    for wrong in (
        text.replace("+", "-", 1),
        VKEY,  # a note key (type 0x01)
        text[:-4] + "AAA=",
        f"{key.name}+00000000+{text.split('+', 2)[2]}",
    ):
        with pytest.raises(MalformedInput):
            cosignature.parse_cosigner_key(wrong)


def test_cosignatures_add_to_the_note_and_verify() -> None:
    cosigned = cosignature.add(
        NOTE, [cosignature.cosign(NOTE, w, TIME + i) for i, w in enumerate(WITNESSES)]
    )
    assert checkpoint.verify(cosigned, VKEY).size == 42  # the log's signature still holds
    found = cosignature.cosignatures(cosigned, KEYS)
    assert [(c.name, c.timestamp) for c in found] == [
        (w.name, TIME + i) for i, w in enumerate(WITNESSES)
    ]
    assert len(cosignature.require(cosigned, KEYS, 3)) == 3
    # Adding the same line again changes nothing.
    assert cosignature.add(cosigned, [cosignature.cosign(NOTE, WITNESSES[0], TIME + 9)]) == cosigned


def test_unknown_witnesses_are_skipped_and_counted_out() -> None:
    stranger = cosignature.CosignerSigner("stranger.test/w", Ed25519PrivateKey.generate())
    cosigned = cosignature.add(
        NOTE,
        [cosignature.cosign(NOTE, stranger, TIME), cosignature.cosign(NOTE, WITNESSES[1], TIME)],
    )
    assert [c.name for c in cosignature.cosignatures(cosigned, KEYS)] == ["witness.test/w1"]
    with pytest.raises(TooFewCosignatures, match="1 valid cosignatures of pinned witnesses, 2"):
        cosignature.require(cosigned, KEYS, 2)


def test_a_forged_or_moved_cosignature_is_refused() -> None:
    line = cosignature.cosign(NOTE, WITNESSES[0], TIME)
    name, encoded = line.removeprefix("\u2014 ").rstrip("\n").split(" ")
    raw = bytearray(base64.b64decode(encoded))
    for at in (5, 20, 75):  # the time, the signature
        changed = bytearray(raw)
        changed[at] ^= 1
        forged = cosignature.add(
            NOTE, [f"\u2014 {name} {base64.b64encode(bytes(changed)).decode()}\n"]
        )
        with pytest.raises(CosignatureError):
            cosignature.cosignatures(forged, KEYS)
    # The same cosignature on another checkpoint (another size) does not verify.
    other = checkpoint.sign(LOG_NAME, 43, bytes(32), LOG_KEY, LOG_NAME, AT)
    with pytest.raises(CosignatureError):
        cosignature.cosignatures(cosignature.add(other, [line]), KEYS)
    # Two lines of one witness.
    twice = note.parse_note(cosignature.add(NOTE, [line])).serialize() + line
    with pytest.raises(NoteFormatError):
        cosignature.cosignatures(twice, KEYS)
    short = cosignature.add(NOTE, [f"\u2014 {name} {base64.b64encode(bytes(raw[:40])).decode()}\n"])
    with pytest.raises(CosignatureError, match="not 72 bytes"):
        cosignature.cosignatures(short, KEYS)


def test_a_timestamp_out_of_range_is_refused() -> None:
    text = note.parse_note(NOTE).text
    for bad in (-1, 1 << 63, True):
        with pytest.raises(MalformedInput):
            cosignature.signed_message(text, bad)  # type: ignore[arg-type]
