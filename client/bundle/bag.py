"""A BagIt 1.0 bag (RFC 8493), written as a stream and checked file by file
(docs/protocol.md §11).

:class:`BagWriter` writes a bag the way §11 needs it: the payload first, each
file hashed with SHA-256 *while* it is written, 1 MiB at a time, so a bundle
of a gigabyte of files never holds a file in memory; then
:meth:`~BagWriter.finish_payload` writes ``bagit.txt``, ``bag-info.txt`` (with
``Payload-Oxum``) and ``manifest-sha256.txt`` and returns the manifest's
SHA-256, which the export entry commits to; then tag files (the export
receipt) with :meth:`~BagWriter.add_tag_file`; and :meth:`~BagWriter.close`
writes ``tagmanifest-sha256.txt`` over every tag file. Nothing is ever
overwritten: every file is created exclusively.

>>> import tempfile, pathlib, bagit
>>> root = pathlib.Path(tempfile.mkdtemp()) / "bag"
>>> bag = BagWriter(root, {"Source-Organization": "Example", "External-Identifier": "b1"})
>>> len(bag.add_bytes("hello.txt", b"hello"))
64
>>> len(bag.finish_payload())
64
>>> bag.add_tag_file("receipt.json", b"{}")
>>> bag.close()
>>> check_bag(root)
[]
>>> bagit.Bag(str(root)).is_valid()
True

:func:`read_bag` (and :func:`check_bag`, its list of problems) checks a bag as
§11 asks: ``bagit.txt`` says 1.0; ``bag-info.txt`` has the four tags §11 names
and its ``Payload-Oxum`` is right; ``manifest-sha256.txt`` lists every payload
file and nothing else, each with its hash; ``tagmanifest-sha256.txt`` lists
every tag file, each with its hash; there is no ``fetch.txt``, no link and
nothing but folders and plain files. Paths are compared as RFC 8493 says
(``layout.decode_path``: percent-decoded, NFC).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO

from . import layout

__all__ = [
    "BAGIT_TXT",
    "BAG_INFO",
    "CHUNK",
    "MANIFEST",
    "REQUIRED_INFO",
    "TAG_MANIFEST",
    "BagCheck",
    "BagWriteError",
    "BagWriter",
    "Problem",
    "check_bag",
    "read_bag",
]

CHUNK = 1 << 20
"""Bytes written or read at a time."""
BAGIT_TXT = "bagit.txt"
BAG_INFO = "bag-info.txt"
MANIFEST = "manifest-sha256.txt"
TAG_MANIFEST = "tagmanifest-sha256.txt"
REQUIRED_INFO = ("Source-Organization", "Bagging-Date", "External-Identifier", "Payload-Oxum")
"""The ``bag-info.txt`` tags §11 requires."""
_BAGIT_LINES = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
_RESERVED = re.compile(r"(bagit|bag-info|fetch)\.txt|(tag)?manifest-[^/]+\.txt")
_LABEL = re.compile(r"[^\s:][^:\r\n]*[^\s:]|[^\s:]")
_MANIFEST_LINE = re.compile(r"([0-9a-fA-F]{64})[ \t]+(.+)")
_OXUM = re.compile(r"([0-9]{1,20})\.([0-9]{1,20})")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MAX_TAG_TEXT = 16 << 20
"""The largest ``bagit.txt``, ``bag-info.txt`` or manifest read (a bag of a
million files has a manifest of about a hundred MB; this refuses a trap)."""


class BagWriteError(ValueError):
    """A path or tag a bag cannot hold, or a call out of order."""

    code = "bag-write-refused"


def _payload_path(path: str) -> str:
    """``path`` (relative to ``data/``) checked and NFC-normalised."""
    if not isinstance(path, str) or not path:
        raise BagWriteError("a payload path is a non-empty text")
    path = layout.normalise(path)
    parts = path.split("/")
    if "\x00" in path or any(part in ("", ".", "..") for part in parts):
        raise BagWriteError(f"{path!r} is no relative path inside the bag")
    return path


def _check_info(info: Mapping[str, str]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for label, value in info.items():
        if not isinstance(label, str) or not _LABEL.fullmatch(label):
            raise BagWriteError(f"{label!r} is no bag-info label")
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            raise BagWriteError(f"the bag-info value of {label} is one line of text")
        if label == "Payload-Oxum":
            raise BagWriteError("Payload-Oxum is written by the bag itself")
        checked[label] = value
    return checked


class _Sink:
    """One file being written: created exclusively, hashed as it is written.
    It is flushed to the disk by the bag's :meth:`BagWriter.close` (one
    ``sync`` for the whole bag), not file by file: 8,000 ``fsync`` calls, each a
    journal commit, were two thirds of an export of 1,000 testimonies."""

    def __init__(self, target: Path, made: set[Path] | None = None) -> None:
        if made is None or target.parent not in made:
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if made is not None:
                made.add(target.parent)
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO = os.fdopen(descriptor, "wb", buffering=0)
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        for start in range(0, len(view), CHUNK):
            piece = view[start : start + CHUNK]
            self._hash.update(piece)
            written = 0
            while written < len(piece):
                written += self._file.write(piece[written:]) or 0
            self.size += len(piece)

    def close(self) -> str:
        self._file.close()
        return self._hash.hexdigest()

    def abandon(self) -> None:
        self._file.close()


class BagWriter:
    """A new bag at ``root`` (which must not exist), written as a stream.

    ``info`` are the ``bag-info.txt`` tags in the order given (§11 needs
    ``Source-Organization`` and ``External-Identifier``; ``Bagging-Date`` is
    today's UTC date unless given; ``Payload-Oxum`` is always computed). Paths
    given to the ``add_*`` methods are relative to ``data/``. Raises
    :class:`BagWriteError` for a path outside the bag, a path written twice, or
    a call out of order, and ``FileExistsError`` if ``root`` exists.
    """

    def __init__(self, root: Path, info: Mapping[str, str]) -> None:
        self.root = Path(root)
        self._info = _check_info(info)
        self.root.mkdir(mode=0o700)
        (self.root / layout.DATA).mkdir(mode=0o700)
        self._payload: dict[str, tuple[str, int]] = {}
        self._tags: dict[str, str] = {}
        self._manifest: str | None = None
        self._closed = False
        self._made: set[Path] = set()
        """Folders of data/ made so far (a mkdir costs as much as a file's creation)."""

    @classmethod
    def resume(cls, root: Path) -> BagWriter:
        """A bag written up to its tag files, not yet closed (no
        ``tagmanifest-sha256.txt``), opened again to add tag files and close
        it: an export that waited for approvals (docs/bundles.md). Its tag
        files are hashed from disk; nothing more goes into ``data/``. Raises
        :class:`BagWriteError` if ``root`` is no such bag."""
        root = Path(root)
        if (root / TAG_MANIFEST).exists() or not (root / MANIFEST).is_file():
            raise BagWriteError(f"{root} is no bag waiting for its tag files")
        writer = cls.__new__(cls)
        writer.root = root
        writer._info = {}
        writer._payload = {}
        writer._tags = {}
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root).as_posix()
            if relative.split("/")[0] == layout.DATA or path.is_dir():
                continue
            if path.is_symlink() or not path.is_file():
                raise BagWriteError(f"{relative} is no regular file")
            writer._tags[relative] = _hash_file(path)[0]
        writer._manifest = writer._tags[MANIFEST]
        writer._closed = False
        writer._made = set()
        return writer

    # --- the payload -----------------------------------------------------------------

    @property
    def payload(self) -> Mapping[str, tuple[str, int]]:
        """Every payload file written so far: path -> (hex SHA-256, size)."""
        return dict(self._payload)

    def _start(self, path: str) -> tuple[str, _Sink]:
        if self._manifest is not None:
            raise BagWriteError("the payload is finished: nothing more goes into data/")
        path = _payload_path(path)
        if path in self._payload:
            raise BagWriteError(f"data/{path} is written already")
        return path, _Sink(self.root / layout.DATA / path, self._made)

    def add_chunks(self, path: str, chunks: Iterable[bytes | bytearray | memoryview]) -> str:
        """Write the file ``data/<path>`` from ``chunks`` (an iterator: each is
        written and let go before the next is asked for); returns its hex
        SHA-256. If ``chunks`` raises, the file is removed and the error
        raised."""
        path, sink = self._start(path)
        target = self.root / layout.DATA / path
        try:
            for chunk in chunks:
                sink.write(chunk)
            digest = sink.close()
        except BaseException:
            sink.abandon()
            target.unlink(missing_ok=True)
            raise
        self._payload[path] = (digest, sink.size)
        return digest

    def add_bytes(self, path: str, data: bytes | bytearray | memoryview) -> str:
        """Write ``data`` as ``data/<path>``; returns its hex SHA-256."""
        return self.add_chunks(path, [data])

    def add_file(self, path: str, source: Path) -> str:
        """Copy the file ``source`` to ``data/<path>``, 1 MiB at a time."""

        def read() -> Iterator[bytes]:
            with open(source, "rb") as handle:
                while piece := handle.read(CHUNK):
                    yield piece

        return self.add_chunks(path, read())

    def finish_payload(self) -> str:
        """Write ``bagit.txt``, ``bag-info.txt`` and ``manifest-sha256.txt``;
        return the hex SHA-256 of the manifest's bytes (what an ``export``
        entry commits to, §12.7). Nothing more goes into ``data/`` after."""
        if self._manifest is not None:
            raise BagWriteError("the payload is finished already")
        octets = sum(size for _digest, size in self._payload.values())
        info = dict(self._info)
        info.setdefault("Bagging-Date", datetime.now(UTC).date().isoformat())
        info["Payload-Oxum"] = f"{octets}.{len(self._payload)}"
        lines = sorted(
            f"{digest} {layout.DATA}/{layout.encode_path(path)}\n"
            for path, (digest, _size) in self._payload.items()
        )
        manifest = "".join(lines).encode("utf-8")
        self._write_tag(BAGIT_TXT, _BAGIT_LINES)
        self._write_tag(BAG_INFO, "".join(f"{k}: {v}\n" for k, v in info.items()).encode("utf-8"))
        self._write_tag(MANIFEST, manifest)
        self._manifest = hashlib.sha256(manifest).hexdigest()
        return self._manifest

    # --- tag files -----------------------------------------------------------------

    def _write_tag(self, name: str, data: bytes) -> None:
        sink = _Sink(self.root / name)
        try:
            sink.write(data)
            self._tags[name] = sink.close()
        except BaseException:
            sink.abandon()
            raise

    def add_tag_file(self, name: str, data: bytes) -> None:
        """Write a tag file (a path relative to the bag's root, outside
        ``data/``, not one of BagIt's own), listed in the tag manifest."""
        if self._closed:
            raise BagWriteError("the bag is closed")
        name = _payload_path(name)
        if name.split("/")[0] == layout.DATA or _RESERVED.fullmatch(name):
            raise BagWriteError(f"{name!r} cannot be a tag file of its own")
        if name in self._tags:
            raise BagWriteError(f"{name} is written already")
        self._write_tag(name, data)

    def close(self) -> None:
        """Write ``tagmanifest-sha256.txt`` over every tag file, then flush
        everything written to the disk (``os.sync``: one flush for the whole
        bag, which ``export`` renames into place only after): the bag is
        complete."""
        if self._manifest is None:
            raise BagWriteError("finish the payload before closing the bag")
        if self._closed:
            return
        lines = sorted(
            f"{digest} {layout.encode_path(name)}\n" for name, digest in self._tags.items()
        )
        sink = _Sink(self.root / TAG_MANIFEST)
        try:
            sink.write("".join(lines).encode("utf-8"))
            sink.close()
        except BaseException:
            sink.abandon()
            raise
        os.sync()  # every file of the bag (and its folders) on the disk
        self._closed = True


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """What is wrong with a bag: the path concerned (relative to the bag's
    root; ``""`` for the bag as a whole) and why."""

    path: str
    message: str


@dataclass
class BagCheck:
    """What :func:`read_bag` found."""

    problems: list[Problem] = field(default_factory=list)
    info: dict[str, list[str]] = field(default_factory=dict)
    """``bag-info.txt``'s tags (each may repeat)."""
    payload: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Every payload file found, by its path relative to ``data/`` (NFC): its
    real hex SHA-256 and size, as read from the disk."""
    disk_names: dict[str, Path] = field(default_factory=dict)
    """The file on disk of each payload path."""
    manifest_sha256: str | None = None
    """The hex SHA-256 of ``manifest-sha256.txt`` (None: absent)."""
    tag_files: dict[str, str] = field(default_factory=dict)
    """Every tag file (outside ``data/``, the tag manifest aside): its real hex SHA-256."""

    @property
    def ok(self) -> bool:
        return not self.problems


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while piece := handle.read(CHUNK):
            digest.update(piece)
            size += len(piece)
    return digest.hexdigest(), size


def _read_text(check: BagCheck, root: Path, name: str) -> str | None:
    path = root / name
    try:
        if not path.is_file() or path.is_symlink():
            return None
        if path.stat().st_size > _MAX_TAG_TEXT:
            check.problems.append(Problem(name, "is too large to be read"))
            return None
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        check.problems.append(Problem(name, "is not UTF-8"))
        return None


def _lines(text: str) -> list[str]:
    """Lines ended by LF, CRLF or CR (RFC 8493 §2.1.2 allows each)."""
    return re.split(r"\r\n|\n|\r", text.removesuffix("\n").removesuffix("\r"))


def _tags(check: BagCheck, name: str, text: str) -> dict[str, list[str]]:
    """``Label: value`` lines; a line starting with white space continues the previous."""
    tags: dict[str, list[str]] = {}
    last: tuple[str, int] | None = None
    for line in _lines(text) if text else []:
        if line[:1] in (" ", "\t") and last is not None:
            label, at = last
            tags[label][at] += " " + line.strip()
            continue
        label, colon, value = line.partition(":")
        if not colon or not _LABEL.fullmatch(label):
            check.problems.append(Problem(name, "has a line that is no `Label: value`"))
            last = None
            continue
        tags.setdefault(label, []).append(value.strip())
        last = (label, len(tags[label]) - 1)
    return tags


def _walk(check: BagCheck, root: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """Every plain file under ``root``: ``(payload by NFC path, tag files by NFC
    path)``; links and special files are problems, never followed."""
    payload: dict[str, Path] = {}
    tags: dict[str, Path] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        for name in sorted([*dirs, *files]):
            path = here / name
            relative = path.relative_to(root).as_posix()
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                check.problems.append(Problem(relative, "is a symbolic link (§11 allows none)"))
                continue
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                check.problems.append(Problem(relative, "is neither a folder nor a plain file"))
                continue
            normal = layout.normalise(relative)
            inside = normal.split("/", 1)
            into = payload if inside[0] == layout.DATA and len(inside) == 2 else tags
            key = inside[1] if into is payload else normal
            if key in into:
                check.problems.append(
                    Problem(relative, "has the name of another file once normalised (NFC)")
                )
                continue
            into[key] = path
        dirs[:] = [d for d in dirs if not (here / d).is_symlink()]
    return payload, tags


def _manifest(check: BagCheck, name: str, text: str, *, payload: bool) -> dict[str, str]:
    """The entries of a manifest: path (NFC, relative to the bag's root) -> hex."""
    entries: dict[str, str] = {}
    for line in _lines(text) if text else []:
        if not line.strip():
            continue
        match = _MANIFEST_LINE.fullmatch(line)
        if match is None:
            check.problems.append(Problem(name, "has a line that is no `<sha256> <path>`"))
            continue
        digest, path = match.group(1).lower(), layout.decode_path(match.group(2))
        parts = path.split("/")
        if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            check.problems.append(Problem(name, f"names a path outside the bag: {path!r}"))
            continue
        if payload != (parts[0] == layout.DATA and len(parts) > 1):
            where = "outside data/" if payload else "inside data/"
            check.problems.append(Problem(name, f"names a file {where}: {path}"))
            continue
        if path in entries:
            check.problems.append(Problem(name, f"names {path} twice"))
            continue
        entries[path] = digest
    return entries


def read_bag(root: Path) -> BagCheck:
    """Check the bag at ``root`` (see the module docstring), hashing every file once."""
    check = BagCheck()
    root = Path(root)
    if root.is_symlink() or not root.is_dir():
        check.problems.append(Problem("", "is not a folder"))
        return check
    payload_files, tag_paths = _walk(check, root)

    bagit = _read_text(check, root, BAGIT_TXT)
    if bagit is None:
        check.problems.append(Problem(BAGIT_TXT, "is missing: this is no BagIt bag"))
    else:
        declared = _tags(check, BAGIT_TXT, bagit)
        if declared.get("BagIt-Version") != ["1.0"]:
            check.problems.append(Problem(BAGIT_TXT, "does not say `BagIt-Version: 1.0`"))
        if declared.get("Tag-File-Character-Encoding") != ["UTF-8"]:
            check.problems.append(
                Problem(BAGIT_TXT, "does not say `Tag-File-Character-Encoding: UTF-8`")
            )
    if (root / "fetch.txt").exists() or (root / "fetch.txt").is_symlink():
        check.problems.append(Problem("fetch.txt", "is present (§11 allows none)"))

    info_text = _read_text(check, root, BAG_INFO)
    if info_text is None:
        check.problems.append(Problem(BAG_INFO, "is missing"))
    else:
        check.info = _tags(check, BAG_INFO, info_text)
        for label in REQUIRED_INFO:
            values = check.info.get(label, [])
            if len(values) != 1:
                check.problems.append(
                    Problem(BAG_INFO, f"has {len(values) or 'no'} `{label}` (§11 needs one)")
                )
        for day in check.info.get("Bagging-Date", [])[:1]:
            try:
                valid = bool(_DAY.fullmatch(day)) and date.fromisoformat(day) is not None
            except ValueError:
                valid = False
            if not valid:
                check.problems.append(Problem(BAG_INFO, "`Bagging-Date` is no YYYY-MM-DD day"))

    for name in sorted(tag_paths):
        if (
            "/" not in name
            and re.fullmatch(r"(tag)?manifest-.+\.txt", name)
            and name not in (MANIFEST, TAG_MANIFEST)
        ):
            check.problems.append(Problem(name, "only SHA-256 manifests are allowed"))

    # The payload manifest, against the files.
    manifest_text = _read_text(check, root, MANIFEST)
    if manifest_text is None:
        check.problems.append(Problem(MANIFEST, "is missing"))
        listed: dict[str, str] = {}
    else:
        check.manifest_sha256 = _hash_file(root / MANIFEST)[0]
        listed = {
            path.split("/", 1)[1]: digest
            for path, digest in _manifest(check, MANIFEST, manifest_text, payload=True).items()
        }
    check.disk_names = payload_files
    for path in sorted(payload_files):
        digest, size = _hash_file(payload_files[path])
        check.payload[path] = (digest, size)
        if path not in listed:
            check.problems.append(Problem(f"data/{path}", "is not in manifest-sha256.txt"))
        elif listed[path] != digest:
            check.problems.append(
                Problem(f"data/{path}", "does not match its SHA-256 in manifest-sha256.txt")
            )
    for path in sorted(set(listed) - set(payload_files)):
        check.problems.append(Problem(f"data/{path}", "is in manifest-sha256.txt but missing"))
    for oxum in check.info.get("Payload-Oxum", [])[:1]:
        match = _OXUM.fullmatch(oxum)
        octets = sum(size for _digest, size in check.payload.values())
        if match is None or (int(match.group(1)), int(match.group(2))) != (
            octets,
            len(check.payload),
        ):
            check.problems.append(
                Problem(BAG_INFO, f"`Payload-Oxum` is not {octets}.{len(check.payload)}")
            )

    # The tag manifest, against every tag file.
    tagged_text = _read_text(check, root, TAG_MANIFEST)
    tag_files = {name: path for name, path in tag_paths.items() if name != TAG_MANIFEST}
    for name in sorted(tag_files):
        check.tag_files[name] = _hash_file(tag_files[name])[0]
    if tagged_text is None:
        check.problems.append(Problem(TAG_MANIFEST, "is missing (§11 needs one)"))
        return check
    tagged = _manifest(check, TAG_MANIFEST, tagged_text, payload=False)
    for name in sorted(tag_files):
        if name not in tagged:
            check.problems.append(Problem(name, "is a tag file missing from the tag manifest"))
        elif tagged[name] != check.tag_files[name]:
            check.problems.append(
                Problem(name, "does not match its SHA-256 in tagmanifest-sha256.txt")
            )
    for name in sorted(set(tagged) - set(tag_files)):
        check.problems.append(Problem(name, "is in tagmanifest-sha256.txt but missing"))
    return check


def check_bag(root: Path) -> list[Problem]:
    """The problems of the bag at ``root`` (empty: a valid bag, by §11's rules)."""
    return read_bag(root).problems
