"""Sealing an envelope with no network (docs/protocol.md §4, by the steps of §3 and §7).

From a saved form definition, a saved intake public key (pinned by its key
id), the witness's answers and consent, and files to attach:

1. each file is streamed through ``STREAM(K_i, pad(file))`` into a temporary
   file beside the output, hashing the plaintext and the ciphertext as it
   goes, so no file is ever held whole in memory (§3 step 1);
2. the answers are validated against the form before any file is read, and
   again with the real blob ids (§3 step 2, §5);
3. the manifest is sealed to the intake key (§3 steps 3 and 4); a body above
   1 MiB travels as ``body_blob``;
4. a fresh receipt code derives the witness keys (§7) that the request
   carries as ``witness`` and ``witness_box``; the code itself is returned to
   the caller to show once and is written nowhere;
5. the envelope is written by :func:`~.envelope.write_envelope`.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testimony.crypto import hpke, padding, stream, submission
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.errors import CryptoError
from testimony.crypto.receipt import ReceiptCode, derive, new_code
from testimony.crypto.submission import seal_submission
from testimony.forms import Consent, FormDefinition, validate_answers

from .envelope import write_envelope
from .errors import SealRefused

__all__ = [
    "AnswersFile",
    "SealedEnvelope",
    "read_answers_file",
    "read_intake_key",
    "seal_envelope",
    "seal_file",
]

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class AnswersFile:
    """What an answers file holds: ``{"answers": {...}, "consent"?: {...}, "lang"?: "ru"}``."""

    answers: dict[str, Any] = field(repr=False)
    consent: Consent | None = None
    lang: str | None = None


@dataclass(frozen=True)
class SealedEnvelope:
    """A written envelope and the receipt code to show the witness once."""

    path: Path
    intake_key_id: str
    receipt_code: ReceiptCode
    request: dict[str, Any] = field(repr=False)


def read_intake_key(path: Path) -> bytes:
    """The S1 public key saved in ``path`` as b64u (surrounding white space allowed).

    Raises :class:`SealRefused` when the file cannot be read or does not hold
    a valid 1216-byte S1 public key.
    """
    try:
        public = b64u_decode(path.read_text(encoding="ascii").strip())
        hpke.seal(public, b"testimony/v1 key check", b"")
    except (OSError, UnicodeDecodeError, CryptoError):
        raise SealRefused(f"{path.name} does not hold a b64u S1 public key") from None
    return public


def read_answers_file(path: Path) -> AnswersFile:
    """Parse an answers file: ``{"answers": {...}, "consent"?: {...}, "lang"?: "..."}``.

    A ``consent`` may name the wording the witness was shown,
    ``"text_sha256": hex(H(JCS(consent document)))`` (v1.1, docs/protocol.md
    §3); it is sealed as given. Raises :class:`SealRefused` when it is not
    JSON of that shape, and :class:`~testimony.forms.ConsentInvalid` for an
    invalid consent (a ``text_sha256`` that is not 64 lowercase hex digits
    among them).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise SealRefused(f"{path.name} is not a readable JSON file") from None
    if (
        not isinstance(data, dict)
        or "answers" not in data
        or set(data) - {"answers", "consent", "lang"}
    ):
        raise SealRefused(f'{path.name} is not {{"answers": {{...}}, "consent": ..., "lang": ...}}')
    lang = data.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise SealRefused(f"{path.name}: `lang` is a language tag")
    consent = Consent.from_manifest(data["consent"]) if "consent" in data else None
    return AnswersFile(answers=data["answers"], consent=consent, lang=lang)


class _PaddedReader:
    """A file read to its end, then the zero bytes of ``pad`` (§3); hashes and
    counts the file's bytes as they pass."""

    def __init__(self, source: Any, size: int, progress: ProgressCallback | None) -> None:
        self._source = source
        self._padding = padding.padding_length(size)
        self._progress = progress
        self.digest = hashlib.sha256()
        self.size = 0

    def readinto(self, buffer: memoryview, /) -> int:
        count = self._source.readinto(buffer)
        if count:
            self.digest.update(buffer[:count])
            self.size += count
            if self._progress is not None:
                self._progress(count)
            return int(count)
        fill = min(self._padding, len(buffer))
        buffer[:fill] = bytes(fill)
        self._padding -= fill
        return fill


class _HashingWriter:
    def __init__(self, sink: Any) -> None:
        self._sink = sink
        self.digest = hashlib.sha256()

    def write(self, data: memoryview, /) -> int:
        self.digest.update(data)
        written: int = self._sink.write(data)
        return written


def seal_file(
    path: Path,
    folder: Path,
    random_bytes: Callable[[int], bytes] = os.urandom,
    progress: ProgressCallback | None = None,
) -> tuple[str, dict[str, Any], Path]:
    """Seal one file into ``folder``, streamed (§3 step 1): its blob id,
    manifest descriptor and ciphertext file.

    The file is read and written a chunk at a time, whatever its size.
    Raises :class:`SealRefused` if the file changed size while it was read,
    and ``OSError``.
    """
    key = random_bytes(stream.KEY_SIZE)
    size = path.stat().st_size
    with tempfile.NamedTemporaryFile(dir=folder, delete=False) as sink:
        ciphertext_path = Path(sink.name)
        with path.open("rb") as source:
            reader = _PaddedReader(source, size, progress)
            writer = _HashingWriter(sink)
            stream.encrypt_file(key, reader, writer)
    if reader.size != size:
        raise SealRefused(f"{path.name} changed while it was being sealed")
    blob = writer.digest.hexdigest()
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    descriptor = {
        "blob": blob,
        "key": b64u_encode(key),
        "name": path.name,
        "type": media_type,
        "size": size,
        "sha256": reader.digest.hexdigest(),
    }
    return blob, descriptor, ciphertext_path


def _with_attachments(
    form: FormDefinition, answers: Mapping[str, Any], blob_of: Mapping[str, str]
) -> dict[str, Any]:
    """``answers`` with file names in ``attachments`` fields replaced by blob ids.

    When no ``attachments`` field is answered and files are attached, the
    form's first ``attachments`` field lists them all.
    """
    result = dict(answers)
    fields = [f.id for f in form.fields if f.type == "attachments"]
    answered = [field_id for field_id in fields if field_id in result]
    for field_id in answered:
        value = result[field_id]
        if isinstance(value, list):
            result[field_id] = [
                blob_of.get(item, item) if isinstance(item, str) else item for item in value
            ]
    if not answered and fields and blob_of:
        result[fields[0]] = list(blob_of.values())
    return result


def check_language_and_files(form: FormDefinition, lang: str, attachments: Sequence[Path]) -> None:
    """Raise :class:`SealRefused` for a language the form lacks, or an attachment
    that is not a readable file or shares its name with another."""
    if lang not in form.languages:
        raise SealRefused(f"the form has no language {lang!r}; it has {', '.join(form.languages)}")
    names = [path.name for path in attachments]
    if len(set(names)) != len(names):
        raise SealRefused("two attachments have the same file name")
    for path in attachments:
        if not path.is_file():
            raise SealRefused(f"{path.name} is not a readable file")


def check_inputs(
    form: FormDefinition, lang: str, answers: Mapping[str, Any], attachments: Sequence[Path]
) -> None:
    """Check everything that can be checked before a file is read.

    Raises :class:`SealRefused` as :func:`check_language_and_files` does, and
    :class:`~testimony.forms.AnswersInvalid` when the answers do not validate
    (with placeholder blob ids).
    """
    check_language_and_files(form, lang, attachments)
    names = [path.name for path in attachments]
    placeholders = {name: f"{index:064x}" for index, name in enumerate(names)}
    validate_answers(form, _with_attachments(form, answers, placeholders), placeholders.values())


def seal_envelope(
    *,
    form: FormDefinition,
    intake_public_key: bytes,
    lang: str,
    answers: Mapping[str, Any],
    consent: Consent,
    attachments: Sequence[Path],
    out: Path,
    progress: ProgressCallback | None = None,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> SealedEnvelope:
    """Seal a testimony into a new envelope at ``out`` (the steps in the module docstring).

    ``progress`` is called with the number of file bytes sealed as they pass.
    Raises :class:`SealRefused` or :class:`~testimony.forms.AnswersInvalid` as
    :func:`check_inputs` does, ``FileExistsError`` if ``out`` exists, and
    ``OSError`` when a file cannot be read or written. On any error (and on
    Ctrl-C) nothing is left behind.
    """
    if out.exists():
        raise FileExistsError(f"{out} exists; choose another name")
    check_inputs(form, lang, answers, attachments)
    intake_key_id = hpke.key_id(intake_public_key)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".testimony-") as folder:
        blob_files: dict[str, Path] = {}
        blob_of: dict[str, str] = {}
        descriptors = []
        for path in attachments:
            blob, descriptor, ciphertext = seal_file(path, Path(folder), random_bytes, progress)
            blob_files[blob], blob_of[path.name] = ciphertext, blob
            descriptors.append(descriptor)
        final_answers = _with_attachments(form, answers, blob_of)
        validate_answers(form, final_answers, blob_of.values())
        manifest = {
            "v": 1,
            "form": {"id": form.id, "version": form.version, "sha256": form.sha256},
            "lang": lang,
            "answers": final_answers,
            "attachments": descriptors,
            "consent": consent.to_manifest(),
        }
        sealed = seal_submission(intake_public_key, manifest, random_bytes=random_bytes)
        code = new_code(random_bytes=random_bytes)
        request = sealed.request(attachments=list(blob_of.values()), witness=derive(code))
        if len(sealed.body) > submission.MAX_INLINE_BODY:
            body_path = Path(folder) / "body"
            body_path.write_bytes(sealed.body)
            body_blob = hashlib.sha256(sealed.body).hexdigest()
            del request["body"]
            request["body_blob"] = body_blob
            blob_files[body_blob] = body_path
        write_envelope(out, request, blob_files)
    return SealedEnvelope(path=out, intake_key_id=intake_key_id, receipt_code=code, request=request)
