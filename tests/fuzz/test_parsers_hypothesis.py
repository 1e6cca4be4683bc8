"""Hypothesis properties of the parsers a hostile server or client can feed
(issue 12), besides the envelope reader (``fuzz_envelope.py``, atheris) and
the entries' own properties of valid-but-changed entries
(``tests/crypto/test_entries.py``):

- signed notes and checkpoints (``crypto/note.py``, ``crypto/checkpoint.py``):
  any text is read or refused with a ``CheckpointError`` (``MalformedInput``
  for a key string), a signed checkpoint round-trips, and no one-byte change of
  a signed checkpoint (a byte replaced, inserted or removed) still verifies;
- receipts (``crypto/receipts.py``) and receipt codes (``crypto/receipt.py``):
  any JSON is verified or refused with a ``ReceiptError`` or ``CheckpointError``,
  an honest receipt with any one member replaced never verifies, codes
  round-trip in every spelling a witness may type;
- tus headers (``service/api/tus.py``): ``Upload-Length``/``Upload-Offset``
  and ``Upload-Metadata`` are read or refused with ``MalformedUpload`` (a 400),
  and what the client writes (``testimony.client.tus.metadata``) the server
  reads back;
- ``crypto.entries.parse_entry``: any bytes, any JSON object, however deep, are
  an entry or ``EntryMalformed``.

Every property is bounded (at most 200 examples, no deadline) and the whole
file runs in seconds. The bugs it found (a non-ASCII ``Upload-Metadata`` byte answered 500, a deeply
nested receipt entry raising ``RecursionError``) are fixed; these tests keep them so.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import string
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from testimony.client import tus as client_tus
from testimony.client.http import Proof
from testimony.crypto import checkpoint, entries, merkle, note, receipt, receipts, signing
from testimony.crypto.encoding import b64u_encode
from testimony.crypto.errors import (
    CheckpointError,
    EntryMalformed,
    MalformedInput,
    ReceiptCodeError,
    ReceiptError,
)
from testimony.service.api import tus
from testimony.service.domain.errors import MalformedUpload

BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SMALL = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEY = signing.private_key_from_seed(bytes(range(64, 96)))
ORIGIN = "fuzz.example.org/log"
VERIFIER = checkpoint.verifier_key(ORIGIN, signing.public_key_bytes(KEY))
TIME = datetime(2026, 11, 25, 12, tzinfo=UTC)

# Text that looks like notes: their punctuation, base64, digits, and anything else.
_NOTE_ALPHABET = st.sampled_from(list("\n\n\n — +=/:TZ-" + string.ascii_letters + string.digits))
NOTE_LIKE = st.text(_NOTE_ALPHABET | st.characters(), max_size=300)
ANY_TEXT = st.text(st.characters(codec=None), max_size=300) | NOTE_LIKE

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


# --- signed notes and checkpoints ----------------------------------------------------


def _signed_checkpoint(size: int, root: bytes, time: datetime = TIME) -> str:
    return checkpoint.sign(ORIGIN, size, root, KEY, ORIGIN, time)


SIGNED = st.builds(
    _signed_checkpoint,
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
    ).map(lambda t: t.replace(microsecond=0)),
)


VALID = _signed_checkpoint(5, bytes(32))


@st.composite
def spliced(draw: st.DrawFn, valid: str = VALID) -> str:
    """A valid signed checkpoint with a piece of note-like text put in, or a piece cut out."""
    at = draw(st.integers(0, len(valid)))
    end = draw(st.integers(at, min(len(valid), at + 12)))
    return valid[:at] + draw(NOTE_LIKE.map(lambda t: t[:12])) + valid[end:]


@BOUNDED
@given(ANY_TEXT)
@example("")
@example("\n\n")
@example("a\n\n\u2014 a AAAAAAA=\n")
@example("a\n\n" + "\u2014 a AAAAAAA=\n" * 101)
def test_any_text_is_a_note_or_a_note_format_error(text: str) -> None:
    try:
        parsed = note.parse_note(text)
    except CheckpointError:
        return
    # What parses serialises back to exactly the same text.
    assert parsed.serialize() == text


@BOUNDED
@given(ANY_TEXT | spliced())
def test_any_text_verifies_as_a_checkpoint_or_is_a_checkpoint_error(text: str) -> None:
    for read in (checkpoint.parse, lambda t: checkpoint.verify(t, VERIFIER, origin=ORIGIN)):
        with contextlib.suppress(CheckpointError):
            read(text)


@BOUNDED
@given(spliced())
def test_a_spliced_checkpoint_never_verifies(changed: str) -> None:
    assume(changed != VALID)
    with pytest.raises(CheckpointError):
        checkpoint.verify(changed, VERIFIER, origin=ORIGIN)


@BOUNDED
@given(ANY_TEXT)
@example("a+00000000+AQ==")
@example("PRIVATE+KEY+a+00000000+AQ==")
def test_any_text_is_a_key_or_malformed_input(text: str) -> None:
    for read in (note.parse_verifier_key, note.parse_signer_key):
        with contextlib.suppress(MalformedInput):
            read(text)


@SMALL
@given(SIGNED)
def test_a_signed_checkpoint_round_trips(signed: str) -> None:
    verified = checkpoint.verify(signed, VERIFIER, origin=ORIGIN)
    assert checkpoint.parse(signed) == verified
    assert _signed_checkpoint(verified.size, verified.root, verified.time) == signed
    assert note.parse_note(signed).serialize() == signed


@BOUNDED
@given(SIGNED, st.data())
def test_no_one_byte_change_of_a_signed_checkpoint_verifies(
    signed: str, data: st.DataObject
) -> None:
    raw = bytearray(signed.encode("utf-8"))
    how = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    at = data.draw(st.integers(0, len(raw) - (0 if how == "insert" else 1)))
    if how == "delete":
        del raw[at]
    else:
        byte = data.draw(st.integers(0, 255))
        if how == "replace":
            assume(raw[at] != byte)
            raw[at] = byte
        else:
            raw.insert(at, byte)
    # Bytes that are not UTF-8 reach the parser as lone surrogates.
    changed = bytes(raw).decode("utf-8", errors="surrogateescape")
    assume(changed != signed)
    with pytest.raises(CheckpointError):
        checkpoint.verify(changed, VERIFIER, origin=ORIGIN)


# --- receipts ----------------------------------------------------------------------------


def _honest_receipt(index: int = 2, size: int = 5) -> dict[str, Any]:
    leaves = [b'{"n":%d,"type":"filler"}' % n for n in range(size)]
    store = merkle.MemoryHashStore()
    result = merkle.append(0, [merkle.leaf_hash(leaf) for leaf in leaves], store)
    store.write_nodes(result.nodes)
    return {
        "id": merkle.leaf_hash(leaves[index]).hex(),
        "index": index,
        "entry": b64u_encode(leaves[index]),
        "checkpoint": _signed_checkpoint(size, result.root),
        "inclusion": {
            "index": index,
            "size": size,
            "path": [p.hex() for p in merkle.inclusion_proof(index, size, store)],
        },
    }


HONEST = _honest_receipt()
MEMBERS = ("id", "index", "entry", "checkpoint", "inclusion")


def test_the_honest_receipt_verifies() -> None:
    assert receipts.verify_receipt(HONEST, VERIFIER, origin=ORIGIN).index == 2


def _verified_or_refused(candidate: Any) -> bool:
    """Whether ``candidate`` verifies; a refusal is only ever a ReceiptError or a
    CheckpointError (anything else escaping fails the test)."""
    try:
        receipts.verify_receipt(candidate, VERIFIER, origin=ORIGIN)
    except (ReceiptError, CheckpointError):
        return False
    return True


@BOUNDED
@given(JSON)
def test_any_json_is_a_receipt_or_refused_with_a_receipt_or_checkpoint_error(value: Any) -> None:
    _verified_or_refused(value)


@BOUNDED
@given(st.data())
def test_an_honest_receipt_with_a_member_replaced_never_verifies(data: st.DataObject) -> None:
    candidate = json.loads(json.dumps(HONEST))
    name = data.draw(
        st.sampled_from((*MEMBERS, "inclusion.index", "inclusion.size", "inclusion.path"))
    )
    value = data.draw(JSON | st.integers(-2, 8))
    if name.startswith("inclusion."):
        candidate["inclusion"][name.split(".")[1]] = value
    else:
        candidate[name] = value
    assume(candidate != HONEST)
    assert not _verified_or_refused(candidate)


@BOUNDED
@given(st.sampled_from(MEMBERS), st.data())
def test_an_honest_receipt_with_one_character_changed_never_verifies(
    name: str, data: st.DataObject
) -> None:
    candidate = json.loads(json.dumps(HONEST))
    text = json.dumps(candidate[name])
    at = data.draw(st.integers(0, len(text) - 1))
    changed = text[:at] + data.draw(st.characters(codec="ascii")) + text[at + 1 :]
    try:
        candidate[name] = json.loads(changed)
    except ValueError:
        return
    assume(candidate != HONEST)
    assert not _verified_or_refused(candidate)


def test_a_receipt_whose_entry_nests_deeply_is_refused_with_a_receipt_error() -> None:
    entry = b"[" * 100_000
    candidate = {**HONEST, "id": merkle.leaf_hash(entry).hex(), "entry": b64u_encode(entry)}
    assert not _verified_or_refused(candidate)


_CODE_ALPHABET = st.sampled_from([*(string.digits * 3 + " -\t\n"), "\u0663", "\uff11"])


@BOUNDED
@given(st.text(_CODE_ALPHABET, max_size=30) | ANY_TEXT)
def test_any_text_is_a_receipt_code_or_a_receipt_code_error(text: str) -> None:
    try:
        code = receipt.normalise(text)
    except ReceiptCodeError as exc:
        assert str(exc) == ReceiptCodeError.__doc__  # one fixed message: never the input
        return
    assert code.digits.isascii() and len(code.digits) == 20
    assert code.digits in text.replace("-", "").replace(" ", "")


@BOUNDED
@given(
    st.text(st.sampled_from(string.digits), min_size=20, max_size=20),
    st.sampled_from(["-", " ", ""]),
)
def test_a_receipt_code_round_trips_in_every_spelling(digits: str, separator: str) -> None:
    code = receipt.ReceiptCode(digits)
    spelled = separator.join(digits[i : i + 4] for i in range(0, 20, 4))
    assert receipt.normalise(f"  {spelled}\n") == code
    assert receipt.normalise(code.grouped) == code


# --- tus headers ------------------------------------------------------------------------


@BOUNDED
@given(st.none() | ANY_TEXT | st.integers(0, 10**20).map(str))
@example("0")
@example("9" * 19)
@example("9" * 20)
@example("\u0661")  # an Arabic-Indic one: a digit to str.isdigit, not to tus
@example("+1")
def test_a_length_or_offset_header_is_a_whole_number_or_malformed_upload(text: str | None) -> None:
    try:
        value = tus.whole_number(text, "Upload-Length")
    except MalformedUpload as exc:
        assert exc.code == "malformed-upload"
        return
    assert text is not None and value >= 0 and str(value) == text.lstrip("0").rjust(1, "0")


_B64 = st.binary(max_size=80).map(lambda b: base64.b64encode(b).decode("ascii"))
_KEYS = st.sampled_from(["sha256", "pow", "filename", "x"]) | st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=8
)
_PAIR = st.tuples(_KEYS, st.none() | _B64 | st.text(string.printable, max_size=20)).map(
    lambda kv: kv[0] if kv[1] is None else f"{kv[0]} {kv[1]}"
)
_METADATA_LIKE = st.lists(_PAIR, max_size=4).map(",".join)
ASCII_HEADER = st.text(st.characters(codec="ascii"), max_size=200) | _METADATA_LIKE
BLOB = st.binary(min_size=32, max_size=32).map(bytes.hex)


def _read_metadata(header: str | None) -> tus.UploadMetadata | None:
    try:
        metadata = tus.parse_metadata(header)
    except MalformedUpload as exc:
        assert exc.code == "malformed-upload"
        return None
    assert len(metadata.blob_id) == 64
    assert metadata.proof is None or set(metadata.proof) in (set(), {"challenge", "nonce"})
    return metadata


@BOUNDED
@given(st.none() | ASCII_HEADER)
@example("sha256")
@example("sha256 ,sha256 YQ==")
@example("sha256 " + base64.b64encode(b"ab" * 32).decode() + ",pow")
def test_ascii_upload_metadata_is_read_or_refused_as_malformed_upload(header: str | None) -> None:
    _read_metadata(header)


@BOUNDED
@given(
    BLOB,
    st.none() | st.tuples(st.binary(min_size=1, max_size=40), st.binary(min_size=1, max_size=8)),
)
def test_what_the_client_writes_as_upload_metadata_the_server_reads(
    blob: str, work: tuple[bytes, bytes] | None
) -> None:
    proof = None if work is None else Proof(b64u_encode(work[0]), b64u_encode(work[1]))
    metadata = tus.parse_metadata(client_tus.metadata(blob, proof))
    assert metadata.blob_id == blob
    assert metadata.proof == (None if proof is None else proof.member())


@settings(max_examples=50, deadline=None, database=None)
@given(st.text(st.characters(max_codepoint=0xFF), max_size=60) | _METADATA_LIKE)
@example("sha256 \xe9")
def test_any_latin1_upload_metadata_is_read_or_refused_as_malformed_upload(header: str) -> None:
    _read_metadata(header)


def test_a_non_ascii_upload_metadata_value_is_answered_400_over_http(tmp_path: Path) -> None:
    from testimony.crypto import hpke
    from testimony.service.api.app import create_app
    from testimony.service.server import init_data_dir
    from testimony.service.settings import Settings
    from tests.service.intake_support import TestClient

    settings_ = Settings(data_dir=tmp_path / "data")
    init_data_dir(settings_, hpke.public_key(bytes(32)), origin=ORIGIN)
    blob = base64.b64encode(hashlib.sha256(b"x").hexdigest().encode()).decode()
    with TestClient(create_app(settings_), raise_server_exceptions=False) as client:
        # An unreadable `sha256` is a malformed upload; an unreadable `pow` is a proof
        # of work that is not one, as for any other undecodable value.
        for value, status, code in (
            (b"sha256 \xe9", 400, "malformed-upload"),
            (b"sha256 " + blob.encode() + b",pow \xe9", 403, "pow-invalid"),
        ):
            answer = client.post(
                "/api/v1/uploads/",
                headers=[
                    (b"Tus-Resumable", b"1.0.0"),
                    (b"Upload-Length", b"1"),
                    (b"Upload-Metadata", value),
                ],
            )
            assert (answer.status_code, answer.json()["code"]) == (status, code)


# --- log entries ---------------------------------------------------------------------------


def _entry_or_malformed(data: bytes) -> None:
    try:
        parsed = entries.parse_entry(data)
    except EntryMalformed:
        pass
    else:
        assert parsed.to_json() == data  # only JCS bytes of an entry parse
    known = None
    with contextlib.suppress(EntryMalformed):
        known = entries.parse_known_entry(data)
    assert known is None or known.to_json() == data


_TYPES = st.sampled_from(sorted(entries.ENTRY_TYPES))
_MEMBER_NAMES = st.sampled_from(
    sorted(
        {name for forms in entries._FORMS.values() for cls in forms.values() for name in cls._NAMES}
    )
)
_HEXISH = st.binary(min_size=16, max_size=32).map(bytes.hex)
_VALUES = JSON | _HEXISH | st.just("2026-11-25T12:00:00Z") | st.just(1)
ENTRY_LIKE = st.builds(
    lambda kind, members: {"type": kind, "v": 1, **members},
    _TYPES,
    st.dictionaries(_MEMBER_NAMES, _VALUES, max_size=9),
)


@BOUNDED
@given(st.binary(max_size=400))
@example(b"[" * 100_000)
@example(b'{"type":"submission"' + b',"x":[' * 50_000)
@example(b"\xef\xbb\xbf{}")
def test_any_bytes_are_an_entry_or_entry_malformed(data: bytes) -> None:
    _entry_or_malformed(data)


@BOUNDED
@given(ENTRY_LIKE)
def test_any_object_with_an_entry_type_is_an_entry_or_entry_malformed(obj: dict[str, Any]) -> None:
    try:
        data = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except ValueError:
        return
    _entry_or_malformed(data)
    with contextlib.suppress(EntryMalformed):
        entries.entry_from_object(obj)


@BOUNDED
@given(JSON)
def test_any_json_value_is_an_entry_object_or_entry_malformed(value: Any) -> None:
    with contextlib.suppress(EntryMalformed):
        entries.entry_from_object(value)
