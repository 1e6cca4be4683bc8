"""Coverage-guided fuzzing, with atheris (libFuzzer for Python), of the parsers
that read what a hostile server or client sends, besides the envelope reader
(``fuzz_envelope.py``) and the bundle readers (``fuzz_bundle.py``):

====  =============================================================  ============================
byte  target                                                         may raise
====  =============================================================  ============================
0     signed notes: ``note.parse_note``, ``note.verify_note`` with   ``NoteFormatError`` (parse),
      a key of the signed-note vector or of the checkpoint vector    ``CheckpointError`` (verify)
1     checkpoints: ``checkpoint.parse``, ``checkpoint.verify``       ``NoteFormatError`` (parse),
      with the log key and origin of the checkpoint vector           ``CheckpointError`` (verify)
2     key strings: ``note.parse_verifier_key``,                      ``MalformedInput``
      ``note.parse_signer_key``
3     tus headers as the server reads them (``service/api/tus.py``): ``MalformedUpload`` (400);
      ``whole_number`` of ``Upload-Length``, ``Upload-Offset`` or    ``TusVersionUnsupported``;
      ``Content-Length``, ``parse_metadata``, ``require_tus``,       ``UnsupportedMediaType``
      ``require_offset_media_type``
4     receipts: ``receipts.verify_receipt`` of the JSON the rest     ``ReceiptError``,
      of the input is, alone or laid over an honest receipt, with    ``CheckpointError``
      no request, a submission's or a follow-up's
5     receipt codes: ``receipt.normalise``                           ``ReceiptCodeError``, with
                                                                     its one fixed message
6     STREAM (§2): ``stream.decrypt`` with a fixed key               ``StreamError``
7     log entries (§9, §12): ``entries.parse_entry``, logged or      ``EntryMalformed``
      sent
8     cosignatures (§13): ``cosignature.cosignatures`` of pinned     ``CheckpointError``
      witnesses on a note
9     form definitions (§5): ``forms.schema.load_form``              ``FormInvalid``
====  =============================================================  ============================

The first byte of an input picks the target (modulo 10), the second, for
targets with several modes, the mode; the rest is the text (UTF-8, with
bytes that are not UTF-8 as lone surrogates, as a JSON string can carry
them), the header (Latin-1, as Starlette decodes headers) or the JSON.
What a target accepts must also be what it says: a note serialises back to
its text, a checkpoint that verifies parses to the same fields, a key prints
back as the string it was read from, a header is a number or a blob id of
the right shape, a receipt verifies to its own id and index, a code is 20
ASCII digits found in what was typed, a STREAM that opens is what its
plaintext seals to, an entry read is the entry type its bytes name, a
cosignature counted is a pinned witness's, a form read hashes its own JCS.

::

    .venv/bin/python tests/fuzz/fuzz_parsers.py -runs=100000
    .venv/bin/python tests/fuzz/fuzz_parsers.py -max_total_time=600 corpus/

Every libFuzzer flag works (``-seed=``, ``-timeout=``, a corpus folder, a
crash file to run again). Anything escaping a target but what the table
allows, or a broken promise above, is a crash, which libFuzzer reports with
the input that caused it (``crash-<sha1>``) and a non-zero exit; an input
that runs past ``-timeout`` seconds (10 unless given) is a hang.

The inputs start from valid ones, written at start-up to a seed corpus that
is added to the folders libFuzzer reads: the signed checkpoint of
``tests/vectors/testimony/checkpoint.json`` (alone and with a witness's
cosignature), the notes of ``tests/vectors/signed-note/go-note.json``, their
key strings, honest receipts (an entry of the checkpoint vector's own tree
under its own signed checkpoint, and the submission of
``tests/vectors/testimony/submission.json`` and a follow-up to it, under
checkpoints signed with that vector's log key), the headers
``testimony.client.tus`` writes, and the receipt codes of
``tests/vectors/testimony/receipt.json``, with a few near misses at the
limits (a tree size past 64 bits, 100 and 101 signature lines). A
dictionary of the formats' tokens (``-dict=``) goes with them unless one is
given. Only the parsers' modules, and the ``base64``, ``json`` and
``_strptime`` they call, are instrumented for coverage: instrumenting all
that the server and client import takes minutes. The seed corpus, the
dictionary and what libFuzzer adds to the corpus are in a private folder
that a parent process removes when the fuzzing ends, however it ends
(libFuzzer leaves without running ``atexit``).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import shutil
import sys
import tempfile
import types
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import atheris

from testimony.client import tus as client_tus
from testimony.client.http import Proof
from testimony.crypto import (
    checkpoint,
    cosignature,
    entries,
    followup,
    merkle,
    note,
    receipt,
    receipts,
    signing,
    stream,
)
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.errors import (
    CheckpointError,
    EntryMalformed,
    MalformedInput,
    NoteFormatError,
    ReceiptCodeError,
    ReceiptError,
    StreamError,
)
from testimony.crypto.submission import SealedSubmission
from testimony.forms.errors import FormInvalid
from testimony.forms.schema import load_form
from testimony.service.api import tus
from testimony.service.api.errors import UnsupportedMediaType
from testimony.service.domain.errors import MalformedUpload

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _vector(relative: str) -> Any:
    return json.loads((VECTORS / relative).read_text("utf-8"))


CHECKPOINT: dict[str, Any] = _vector("testimony/checkpoint.json")
GO_NOTE: dict[str, Any] = _vector("signed-note/go-note.json")
SUBMISSION: dict[str, Any] = _vector("testimony/submission.json")
CODES: dict[str, Any] = _vector("testimony/receipt.json")

ORIGIN: str = CHECKPOINT["origin"]
LOG_VERIFIER: str = CHECKPOINT["verifier_key"]
LOG_KEY = signing.private_key_from_seed(bytes.fromhex(CHECKPOINT["signing_seed"]))
TIME = datetime(2026, 11, 25, 12, tzinfo=UTC)
WITNESS_KEY = signing.private_key_from_seed(bytes(range(160, 192)))
WITNESS_NAME = "witness.example.org"

NOTE_KEYS = (
    GO_NOTE["verifier_key"],
    GO_NOTE["second_verifier_key"],
    LOG_VERIFIER,
    checkpoint.verifier_key(WITNESS_NAME, signing.public_key_bytes(WITNESS_KEY)),
)
"""The keys a note is verified with (the input's second byte picks one)."""

TUS_HEADERS = (
    "Upload-Length",
    "Upload-Offset",
    "Content-Length",
    "Upload-Metadata",
    "Tus-Resumable",
    "Content-Type",
)
"""The header a tus input is (the input's second byte picks one)."""

NOTE, CHECKPOINT_TARGET, KEY, TUS, RECEIPT, CODE, STREAM, ENTRY, COSIGNED, FORM = range(10)
TARGETS = 10
STREAM_KEY = bytes(range(32))
COSIGNERS = tuple(
    cosignature.CosignerSigner(
        f"witness.example.org/w{i}", signing.private_key_from_seed(bytes([i + 7]) * 32)
    )
    for i in range(2)
)


def _text(data: bytes) -> str:
    """Text as a client reads it: UTF-8, any other byte a lone surrogate."""
    return data.decode("utf-8", errors="surrogateescape")


# --- the targets ---------------------------------------------------------------------------


def fuzz_note(mode: int, data: bytes) -> None:
    """``parse_note`` reads a note or raises ``NoteFormatError``; ``verify_note``
    returns the note's text or raises a ``CheckpointError``."""
    text = _text(data)
    parsed: note.Note | None = None
    with contextlib.suppress(NoteFormatError):
        parsed = note.parse_note(text)
        assert parsed.serialize() == text, "a note read does not serialise back to its text"
    with contextlib.suppress(CheckpointError):
        verified = note.verify_note(text, NOTE_KEYS[mode % len(NOTE_KEYS)])
        assert parsed is not None and verified == parsed.text


def fuzz_checkpoint(data: bytes) -> None:
    """``checkpoint.parse`` reads a checkpoint or raises ``NoteFormatError``;
    ``checkpoint.verify`` returns the same fields or raises a ``CheckpointError``."""
    text = _text(data)
    parsed: checkpoint.Checkpoint | None = None
    with contextlib.suppress(NoteFormatError):
        parsed = checkpoint.parse(text)
    for origin in (ORIGIN, None):
        with contextlib.suppress(CheckpointError):
            verified = checkpoint.verify(text, LOG_VERIFIER, origin=origin)
            assert verified == parsed and verified.origin == ORIGIN


def fuzz_key(data: bytes) -> None:
    """A key string is one key, which prints back as that string, or ``MalformedInput``."""
    text = _text(data)
    with contextlib.suppress(MalformedInput):
        assert str(note.parse_verifier_key(text)) == text, "a verifier key has two spellings"
    with contextlib.suppress(MalformedInput):
        signer = note.parse_signer_key(text)
        assert note.signer_key(signer.name, signer.private_key) == text, (
            "a signer key has two spellings"
        )


def fuzz_tus(mode: int, data: bytes) -> None:
    """A tus header, as the server reads it, is a value or a 400/412/415 refusal."""
    name = TUS_HEADERS[mode % len(TUS_HEADERS)]
    value = data.decode("latin-1")
    headers = {name.lower(): value}
    try:
        if name == "Tus-Resumable":
            tus.require_tus(headers)
            assert value == tus.TUS_VERSION
        elif name == "Content-Type":
            tus.require_offset_media_type(headers)
        elif name == "Upload-Metadata":
            metadata = tus.parse_metadata(value)
            assert len(metadata.blob_id) == 64 and metadata.blob_id.isascii()
            assert metadata.proof is None or set(metadata.proof) in (set(), {"challenge", "nonce"})
        else:
            number = tus.whole_number(value, name)
            assert 0 <= number < 10**19 and str(number) == value.lstrip("0").rjust(1, "0")
    except MalformedUpload as exc:
        assert exc.code == "malformed-upload"
    except (tus.TusVersionUnsupported, UnsupportedMediaType):
        assert name in ("Tus-Resumable", "Content-Type")


def fuzz_receipt(mode: int, data: bytes) -> None:
    """``verify_receipt`` verifies a receipt or raises a ``ReceiptError`` or a
    ``CheckpointError``, whatever JSON it is given and whatever request it is checked against."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # not JSON: the client's reader refuses it first
        return
    honest, request = RECEIPTS[mode % len(RECEIPTS)]
    candidate = _laid_over(honest, value) if (mode // len(RECEIPTS)) % 2 else value
    try:
        verified = receipts.verify_receipt(candidate, LOG_VERIFIER, origin=ORIGIN, request=request)
    except (ReceiptError, CheckpointError):
        return
    assert verified.id == candidate["id"] and verified.index == candidate["index"]
    assert verified.checkpoint.origin == ORIGIN


def fuzz_code(data: bytes) -> None:
    """A receipt code is 20 ASCII digits of what was typed, or ``ReceiptCodeError``
    with its one fixed message (never the input)."""
    text = _text(data)
    try:
        code = receipt.normalise(text)
    except ReceiptCodeError as exc:
        assert str(exc) == ReceiptCodeError.__doc__
        return
    assert code.digits.isascii() and code.digits.isdigit() and len(code.digits) == 20
    assert code.digits in text.replace("-", "").replace(" ", "")


def fuzz_stream(data: bytes) -> None:
    """``stream.decrypt`` opens a STREAM or raises ``StreamError``; what opens
    seals back to the same bytes (the nonces are the chunks' positions)."""
    try:
        plain = stream.decrypt(STREAM_KEY, data)
    except StreamError:
        return
    assert stream.encrypt(STREAM_KEY, plain) == data, "a STREAM opened to another sealing"


def fuzz_entry(mode: int, data: bytes) -> None:
    """``parse_entry`` reads an entry of the protocol or raises ``EntryMalformed``."""
    logged = (True, False, None)[mode % 3]
    try:
        parsed = entries.parse_entry(data, logged=logged)
    except EntryMalformed:
        return
    assert json.loads(data)["type"] == parsed.TYPE, "an entry read as another type"


def fuzz_cosigned(data: bytes) -> None:
    """``cosignatures`` counts the pinned witnesses' valid lines on a note or
    raises a ``CheckpointError`` (a malformed note, a forged line)."""
    text = _text(data)
    keys = [c.key for c in COSIGNERS]
    try:
        found = cosignature.cosignatures(text, keys)
    except CheckpointError:
        return
    assert {c.name for c in found} <= {k.name for k in keys} and len(found) <= len(keys)


def fuzz_form(data: bytes) -> None:
    """``load_form`` reads a form of §5 or raises ``FormInvalid``."""
    try:
        form = load_form(data)
    except FormInvalid:
        return
    assert form.sha256 == hashlib.sha256(form.jcs).hexdigest() and form.fields


def _laid_over(honest: Mapping[str, Any], value: Any) -> Any:
    """An object's members in place of the honest receipt's (``inclusion``'s one
    by one); any other JSON value stands for the whole receipt. An ``entry``
    given as JSON, not as b64u text, stands for its bytes, and the ``id`` is
    theirs unless one is given too (a hostile server can make both), so the
    entry's own reading is reached."""
    if not isinstance(value, dict):
        return value
    laid = {**honest, **value}
    if isinstance(value.get("inclusion"), dict):
        laid["inclusion"] = {**honest["inclusion"], **value["inclusion"]}
    if "entry" in value and not isinstance(value["entry"], str):
        entry = json.dumps(
            value["entry"], ensure_ascii=False, sort_keys=True, separators=(",", ":")
        ).encode("utf-8", errors="surrogatepass")
        laid["entry"] = b64u_encode(entry)
        if "id" not in value:
            laid["id"] = merkle.leaf_hash(entry).hex()
    return laid


def one_input(data: bytes) -> None:
    """libFuzzer's target: the first byte picks a target (the module docstring)."""
    if len(data) < 2:
        return
    target, mode, rest = data[0] % TARGETS, data[1], data[2:]
    if target == NOTE:
        fuzz_note(mode, rest)
    elif target == CHECKPOINT_TARGET:
        fuzz_checkpoint(data[1:])
    elif target == KEY:
        fuzz_key(data[1:])
    elif target == TUS:
        fuzz_tus(mode, rest)
    elif target == RECEIPT:
        fuzz_receipt(mode, rest)
    elif target == CODE:
        fuzz_code(data[1:])
    elif target == STREAM:
        fuzz_stream(data[1:])
    elif target == ENTRY:
        fuzz_entry(mode, rest)
    elif target == COSIGNED:
        fuzz_cosigned(data[1:])
    else:
        fuzz_form(data[1:])


# --- the seeds ------------------------------------------------------------------------------


def _receipt_for(leaves: list[bytes], index: int, signed: str | None = None) -> dict[str, Any]:
    """The honest §10 receipt of ``leaves[index]`` in the tree of ``leaves``,
    under ``signed`` (else a checkpoint of that tree signed with the log key)."""
    store = merkle.MemoryHashStore()
    grown = merkle.append(0, [merkle.leaf_hash(leaf) for leaf in leaves], store)
    store.write_nodes(grown.nodes)
    size = len(leaves)
    if signed is None:
        signed = checkpoint.sign(ORIGIN, size, grown.root, LOG_KEY, ORIGIN, TIME)
    return {
        "id": merkle.leaf_hash(leaves[index]).hex(),
        "index": index,
        "entry": b64u_encode(leaves[index]),
        "checkpoint": signed,
        "inclusion": {
            "index": index,
            "size": size,
            "path": [node.hex() for node in merkle.inclusion_proof(index, size, store)],
        },
    }


def _followup_request() -> dict[str, Any]:
    """A follow-up to the submission vector, signed with the key its receipt code derives."""
    sent = SUBMISSION["request"]
    sealed = SealedSubmission(
        cek=b"",
        header=b64u_decode(sent["header"]),
        body=b64u_decode(sent["body"]),
        intake_key=sent["intake_key"],
    )
    unsigned = followup.followup_request(sealed, parent=SUBMISSION["id"], attachments=[])
    return followup.sign_followup(receipt.derive(SUBMISSION["receipt_code"]), unsigned)


def _build_receipts() -> tuple[tuple[dict[str, Any], dict[str, Any] | None], ...]:
    """The honest receipts and the requests they are checked against: an entry of
    the checkpoint vector's tree under its signed note; the submission vector's
    entry; a follow-up's entry."""
    vector_leaves = [b64u_decode(leaf) for leaf in CHECKPOINT["leaves_jcs"]]
    submitted = b64u_decode(SUBMISSION["entry"])
    request = _followup_request()
    witness = b64u_decode(SUBMISSION["request"]["witness"])
    followed = followup.followup_entry(request, witness=witness, received=TIME)
    logged = [*vector_leaves[:2], submitted, followed]
    return (
        (_receipt_for(vector_leaves, 7, CHECKPOINT["note"]), None),
        (_receipt_for(logged[:3], 2), SUBMISSION["request"]),
        (_receipt_for(logged, 3), request),
    )


RECEIPTS = _build_receipts()


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def seeds() -> list[bytes]:
    """Valid inputs of every target and mode (and a few near misses)."""
    signed = CHECKPOINT["note"]
    text = signed[: signed.index("\n\n") + 1]
    cosigned = (
        signed
        + note.Signature(
            WITNESS_NAME,
            note.key_hash(WITNESS_NAME, signing.public_key_bytes(WITNESS_KEY)),
            WITNESS_KEY.sign(text.encode("utf-8")),
        ).line()
    )
    notes = [GO_NOTE["signed_note"], GO_NOTE["note_with_two_signatures"], signed, cosigned]
    out = [
        bytes([NOTE, mode]) + item.encode("utf-8")
        for mode in range(len(NOTE_KEYS))
        for item in notes
    ]
    # Near misses at the limits: a tree size past 64 bits, 100 and 101 signature lines.
    too_large = signed.replace("\n42\n", f"\n{checkpoint.MAX_TREE_SIZE + 1}\n", 1)
    out += [
        bytes([CHECKPOINT_TARGET]) + item.encode("utf-8") for item in (signed, cosigned, too_large)
    ]
    out += [
        bytes([NOTE, 0]) + (text + "\n" + "\u2014 a AAAAAAA=\n" * count).encode("utf-8")
        for count in (note.MAX_SIGNATURES, note.MAX_SIGNATURES + 1)
    ]
    keys = [
        GO_NOTE["signer_key"],
        *NOTE_KEYS,
        *GO_NOTE["bad_verifier_keys"],
        note.signer_key(WITNESS_NAME, WITNESS_KEY),
    ]
    out += [bytes([KEY]) + item.encode("utf-8") for item in keys]
    blob = SUBMISSION["id"]
    headers = {
        "Upload-Length": ["1048576", "0", "9" * 19],
        "Upload-Offset": ["65536", "0"],
        "Content-Length": ["4096"],
        "Upload-Metadata": [
            client_tus.metadata(blob),
            client_tus.metadata(blob, Proof(b64u_encode(bytes(16)), b64u_encode(b"\x01\x02"))),
            client_tus.metadata(blob) + ",filename ZS5qcGc=,empty",
        ],
        "Tus-Resumable": [tus.TUS_VERSION],
        "Content-Type": [tus.OFFSET_MEDIA_TYPE, tus.OFFSET_MEDIA_TYPE + "; charset=binary"],
    }
    out += [
        bytes([TUS, TUS_HEADERS.index(name)]) + value.encode("latin-1")
        for name, values in headers.items()
        for value in values
    ]
    for mode, (honest, _) in enumerate(RECEIPTS):
        out.append(bytes([RECEIPT, mode]) + _json(honest))
        laid = mode + len(RECEIPTS)
        out += [
            bytes([RECEIPT, laid]) + _json(patch)
            for patch in (
                {"entry": json.loads(b64u_decode(honest["entry"]))},
                {"index": honest["index"] + 1},
                {"inclusion": {"size": honest["inclusion"]["size"] + 1}},
                {"checkpoint": cosigned},
                {"checkpoint": None, "inclusion": {"path": "00"}},
            )
        ]
    out += [
        bytes([CODE]) + item.encode("utf-8")
        for item in [*CODES["accept"], *CODES["reject"], *(d["code"] for d in CODES["derive"])]
    ]
    out += [
        bytes([STREAM]) + stream.encrypt(STREAM_KEY, bytes(size))
        for size in (0, 1, stream.CHUNK, stream.CHUNK + 1)
    ]
    logged = [b64u_decode(honest["entry"]) for honest, _ in RECEIPTS]
    out += [bytes([ENTRY, mode]) + data for data in logged for mode in range(3)]
    out += [
        bytes([COSIGNED])
        + cosignature.add(
            signed, [cosignature.cosign(signed, c, 1_800_000_000) for c in COSIGNERS[:count]]
        ).encode("utf-8")
        for count in (1, 2)
    ]
    forms = Path(__file__).resolve().parents[2] / "forms" / "definitions"
    out += [
        bytes([FORM]) + path.read_bytes()
        for path in sorted(forms.glob("kordai-2020*.json"))
        if not path.name.endswith(".review.json")
    ]
    return out


TOKENS = (
    "\u2014 ",
    "\n\n",
    "time ",
    "T12:00:00Z",
    "+",
    "PRIVATE+KEY+",
    "=",
    '"id"',
    '"index"',
    '"entry"',
    '"checkpoint"',
    '"inclusion"',
    '"size"',
    '"path"',
    '"parent"',
    '"witness"',
    '"signature"',
    '"type":"followup"',
    "sha256 ",
    "pow ",
    ",",
    tus.TUS_VERSION,
    tus.OFFSET_MEDIA_TYPE,
    "-",
    "0000",
)
"""The formats' own tokens, for libFuzzer's dictionary."""


def _dictionary() -> str:
    """``TOKENS`` in libFuzzer's dictionary format (quoted, bytes escaped)."""

    def quoted(token: str) -> str:
        raw = token.encode("utf-8")
        return (
            '"'
            + "".join(
                chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02X}" for b in raw
            )
            + '"'
        )

    return "".join(f"{quoted(token)}\n" for token in TOKENS)


# --- running ----------------------------------------------------------------------------------


def _work_folder() -> Path:
    """A private folder, removed by a parent process when this one ends."""
    work = Path(tempfile.mkdtemp(prefix="testimony-fuzz-parsers-"))
    child = os.fork()
    if child:
        _, status = os.waitpid(child, 0)
        shutil.rmtree(work, ignore_errors=True)
        code = os.waitstatus_to_exitcode(status)
        os._exit(code if code >= 0 else 128 - code)
    return work


INSTRUMENTED = (
    "testimony.crypto",
    "testimony.forms.schema",
    "testimony.service.api.tus",
    "base64",
    "json",
    "_strptime",
)
"""The modules whose code is instrumented for coverage: the parsers and what
they call, not the whole server and client they were imported with."""


def _instrument(modules: tuple[str, ...] = INSTRUMENTED) -> int:
    """Instrument the functions of ``modules`` (and their submodules); how many."""
    count = 0
    for obj in gc.get_objects():
        module = getattr(obj, "__module__", None)
        if (
            isinstance(obj, types.FunctionType)
            and isinstance(module, str)
            and any(module == name or module.startswith(name + ".") for name in modules)
        ):
            atheris.instrument_func(obj)
            count += 1
    return count


def _check_seeds(check: Callable[[bytes], None]) -> None:
    """Every honest receipt verifies, and every seed runs without a crash."""
    for honest, request in RECEIPTS:
        receipts.verify_receipt(honest, LOG_VERIFIER, origin=ORIGIN, request=request)
    for seed in seeds():
        check(seed)


def main(argv: list[str]) -> None:
    flags = [arg for arg in argv[1:] if arg.startswith("-")]
    inputs = [arg for arg in argv[1:] if not arg.startswith("-")]
    if not any(arg.startswith("-timeout=") for arg in flags):
        flags.append("-timeout=10")
    _check_seeds(one_input)
    if inputs and all(Path(item).is_file() for item in inputs):
        run = [argv[0], *flags, *inputs]  # running given inputs again: no corpus to add
    else:
        work = _work_folder()
        corpus = work / "seeds"
        corpus.mkdir()
        for n, seed in enumerate(seeds()):
            (corpus / f"seed-{n:03d}").write_bytes(seed)
        if not any(arg.startswith("-dict=") for arg in flags):
            (work / "tokens.dict").write_text(_dictionary(), "utf-8")
            flags.append(f"-dict={work / 'tokens.dict'}")
        # libFuzzer writes what it finds to the first folder: the caller's, else the seeds'.
        run = [argv[0], *flags, *inputs, str(corpus)]
    atheris.enabled_hooks.add("str")
    _instrument()
    atheris.Setup(run, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
