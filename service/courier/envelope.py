"""Offline sealed envelopes, the ``.testimony`` file (docs/protocol.md §4).

An envelope is a ZIP whose members are *stored*, not deflated:

- ``request.json``: the JSON of §3 step 6 without ``pow``;
- ``blobs/<hex>``: for every blob the request names (each attachment, and
  the body blob when the body is sent as ``body_blob``), its ciphertext, whose
  SHA-256 is ``<hex>``.

Reading is strict: :func:`read_envelope` refuses any other member, a name that
could escape a folder, a name given twice, a compressed or encrypted member,
a blob whose bytes do not hash to its name, a named blob that is missing, a
blob the request does not name, and a request that is not §3 step 6 without
``pow``. A file whose ZIP structure is damaged (sizes past its end, a header
outside it, a "version needed" no reader supports, a name flagged UTF-8 that
is not) is refused the same way: :func:`read_envelope` raises
:class:`~.errors.EnvelopeInvalid` naming the file, and nothing else, for
anything wrong inside a file it could open. Writing (:func:`write_envelope`)
stamps every member with the ZIP epoch (1980-01-01) so the file does not
record when it was sealed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from testimony.crypto import canonical, submission
from testimony.crypto.errors import CryptoError, MalformedInput
from testimony.crypto.submission import submission_entry

from .errors import EnvelopeInvalid

__all__ = [
    "BLOB_PREFIX",
    "REQUEST_MEMBER",
    "Envelope",
    "is_damage",
    "named_blobs",
    "read_envelope",
    "write_envelope",
]

REQUEST_MEMBER = "request.json"
BLOB_PREFIX = "blobs/"
MAX_REQUEST_BYTES = 4 << 20
"""A request carries at most a 1 MiB body inline (about 1.4 MB as b64u)."""

_BLOB_NAME = re.compile(r"blobs/([0-9a-f]{64})")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_COPY_BYTES = 1 << 20


@dataclass(frozen=True)
class Envelope:
    """An envelope that passed every check of :func:`read_envelope`."""

    path: Path
    request: dict[str, Any] = field(repr=False)
    blob_sizes: dict[str, int]
    """Every blob the request names, in request order, with its size in bytes."""

    @property
    def blobs(self) -> tuple[str, ...]:
        """The blob ids the request names (attachments, then the body blob)."""
        return tuple(self.blob_sizes)

    def open_blob(self, blob: str) -> contextlib.AbstractContextManager[IO[bytes]]:
        """A binary reader of a blob's ciphertext (a ZIP member; seekable)."""
        if blob not in self.blob_sizes:
            raise KeyError(blob)
        return _MemberReader(self.path, BLOB_PREFIX + blob)


class _MemberReader(contextlib.AbstractContextManager[IO[bytes]]):
    def __init__(self, path: Path, member: str) -> None:
        self._archive = zipfile.ZipFile(path)
        self._member = member

    def __enter__(self) -> IO[bytes]:
        try:
            return self._archive.open(self._member)
        except BaseException:
            self._archive.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self._archive.close()


def named_blobs(request: Mapping[str, Any]) -> list[str]:
    """The blob ids a §3 request names: its attachments, then ``body_blob`` if any."""
    blobs = [str(blob) for blob in request.get("attachments", [])]
    if "body_blob" in request:
        blobs.append(str(request["body_blob"]))
    return blobs


def parse_request(data: bytes) -> dict[str, Any]:
    """The request of ``request.json``, checked as §3 step 6 without ``pow``.

    Raises :class:`EnvelopeInvalid` for anything else.
    """
    try:
        request = canonical.loads(data)
    except MalformedInput:
        raise EnvelopeInvalid("request.json is not well-formed JSON") from None
    if not isinstance(request, dict):
        raise EnvelopeInvalid("request.json is not a JSON object")
    unknown = sorted(set(request) - submission.REQUEST_MEMBERS)
    if unknown:
        raise EnvelopeInvalid(f"request.json has members §4 does not allow: {', '.join(unknown)}")
    try:
        submission_entry(request, datetime(2000, 1, 1, tzinfo=UTC))
    except CryptoError as exc:
        raise EnvelopeInvalid(f"request.json is not a §3 request: {exc}") from None
    return request


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if name.startswith(("/", "\\")) or "\\" in name or ".." in name.split("/") or ":" in name:
        return f"member {name!r} could escape its folder"
    if info.flag_bits & 0x1:
        return f"member {name!r} is encrypted"
    if info.compress_type != zipfile.ZIP_STORED:
        return f"member {name!r} is compressed; §4 members are stored"
    if info.compress_size != info.file_size:
        return f"member {name!r} is stored but gives two different sizes"
    if name != REQUEST_MEMBER and _BLOB_NAME.fullmatch(name) is None:
        return f"member {name!r} is not one §4 lists"
    return None


def _hash_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    digest = hashlib.sha256()
    with archive.open(info) as member:
        while piece := member.read(_COPY_BYTES):
            digest.update(piece)
    return digest.hexdigest()


_DAMAGE = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    ValueError,
    OverflowError,
    OSError,
)
"""What :mod:`zipfile` may raise on a damaged file, beside ``BadZipFile``: a
member read past the end (``EOFError``), an unsupported "version needed"
(``NotImplementedError``), a name flagged UTF-8 that is not
(``UnicodeDecodeError``, a ``ValueError``), a header before the start
(``OSError`` ``EINVAL``) or past any possible file (``OverflowError``)."""


def _damage(exc: BaseException) -> str | None:
    """What a ZIP reader's exception says about the file, or None when it is
    not about the file's bytes (an ``OSError`` of the disk)."""
    if isinstance(exc, EOFError):
        return "a member runs past the end of the file"
    if isinstance(exc, UnicodeDecodeError):
        return "a member's name is flagged UTF-8 but is not UTF-8"
    if isinstance(exc, NotImplementedError):
        return f"it asks for a ZIP feature no envelope uses ({exc})"
    if isinstance(exc, zipfile.BadZipFile | zlib.error):
        return str(exc) or type(exc).__name__
    if isinstance(exc, OverflowError | ValueError) or (
        isinstance(exc, OSError) and exc.errno == errno.EINVAL
    ):
        return "a member lies outside the file"
    return None


def is_damage(exc: BaseException) -> bool:
    """Whether an exception met while reading a ZIP says its bytes are damaged."""
    return _damage(exc) is not None


def read_envelope(path: str | os.PathLike[str]) -> Envelope:
    """Open and check an envelope (every rule in the module docstring).

    Hashes every blob, so it reads the whole file once. Raises
    :class:`EnvelopeInvalid` naming the first rule broken, or the damage
    found, and nothing else for any bytes a readable file may hold;
    ``OSError`` (naming the file) only when the file cannot be read.
    """
    source = Path(path)
    with source.open("rb") as raw:
        try:
            return _read_envelope(source, raw)
        except _DAMAGE as exc:
            why = _damage(exc)
            if why is not None:
                raise EnvelopeInvalid(f"{source.name} is a damaged ZIP file: {why}") from None
            if isinstance(exc, OSError) and exc.filename is None:
                raise OSError(exc.errno, exc.strerror, str(source)) from exc
            raise


def _read_envelope(source: Path, raw: IO[bytes]) -> Envelope:
    try:
        archive = zipfile.ZipFile(raw)
    except zipfile.BadZipFile:
        raise EnvelopeInvalid(f"{source.name} is not a ZIP file") from None
    with archive:
        infos = archive.infolist()
        seen: set[str] = set()
        for info in infos:
            if info.filename in seen:
                raise EnvelopeInvalid(f"member {info.filename!r} appears twice")
            seen.add(info.filename)
            problem = _member_problem(info)
            if problem is not None:
                raise EnvelopeInvalid(problem)
        if REQUEST_MEMBER not in seen:
            raise EnvelopeInvalid("the envelope has no request.json")
        request_info = archive.getinfo(REQUEST_MEMBER)
        if request_info.file_size > MAX_REQUEST_BYTES:
            raise EnvelopeInvalid("request.json is too large")
        request = parse_request(archive.read(request_info))
        present = {
            info.filename.removeprefix(BLOB_PREFIX): info
            for info in infos
            if info.filename != REQUEST_MEMBER
        }
        named = named_blobs(request)
        missing = [blob for blob in named if blob not in present]
        if missing:
            raise EnvelopeInvalid(f"blob {missing[0]} is named but missing")
        extra = sorted(set(present) - set(named))
        if extra:
            raise EnvelopeInvalid(f"blob {extra[0]} is not named by the request")
        for blob in named:
            if _hash_member(archive, present[blob]) != blob:
                raise EnvelopeInvalid(f"blob {blob} does not hash to its name")
    return Envelope(
        path=source,
        request=request,
        blob_sizes={blob: present[blob].file_size for blob in named},
    )


def _stored(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o600 << 16
    return info


def write_envelope(
    out: str | os.PathLike[str], request: Mapping[str, Any], blob_files: Mapping[str, Path]
) -> Path:
    """Write an envelope holding ``request`` and each named blob from its file.

    ``blob_files`` maps every blob the request names to a file holding its
    ciphertext. The file is written beside ``out`` under a temporary name and
    renamed into place only when complete, so an interrupted write leaves
    nothing behind. Raises :class:`EnvelopeInvalid` if the request is not
    §3 step 6 without ``pow`` or the blobs differ from those it names, and
    ``FileExistsError`` if ``out`` exists.
    """
    target = Path(out)
    if target.exists():
        raise FileExistsError(f"{target} exists; choose another name")
    request_bytes = json.dumps(dict(request), ensure_ascii=False).encode("utf-8")
    parse_request(request_bytes)
    named = named_blobs(request)
    if sorted(named) != sorted(blob_files):
        raise EnvelopeInvalid("the blobs given are not exactly those the request names")
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(_stored(REQUEST_MEMBER), request_bytes)
            for blob in named:
                with (
                    blob_files[blob].open("rb") as source,
                    zf.open(_stored(BLOB_PREFIX + blob), "w", force_zip64=True) as member,
                ):
                    shutil.copyfileobj(source, member, _COPY_BYTES)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return target
