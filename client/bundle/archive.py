"""The archive forms of an evidence bundle (docs/protocol.md §11), and reading them back safely.

A bundle is a BagIt bag: a directory, written by ``testimony.client.bundle.bag``. For transport
it becomes a ZIP whose single top-level folder is the bag (:func:`zip_bag`), and that ZIP may be
encrypted with age to the recipients' public keys (:func:`encrypt_for`), so that whoever receives
it opens it with the standard ``age`` tool (``age -d -i key.txt bundle.zip.age > bundle.zip``)
or with ``testimony verify --identity key.txt``.

Reading (:func:`open_bag`) accepts all three forms. A ZIP comes from someone else, so it is
checked whole before a single byte is extracted (:func:`check_zip`, the rules of §11): names
that are absolute or climb, names that collide once normalised, links, devices and encrypted
members, and sizes that are implausible (a "zip bomb"). Its members are then extracted one by
one into a private temporary folder, decompressed here with the bytes counted (never more than
the header declares) and their CRC checked, and everything is removed when the reader is done.

Every refusal is an :class:`ArchiveRefused` with a stable ``code``:

=======================  ==============================================================
``not-a-zip``            the file is not a ZIP archive (nor an age file)
``zip-absolute-name``    a member's name is absolute (``/x``, ``\\\\x``, ``C:x``)
``zip-path-traversal``   a member's name has a ``..`` component or a backslash
``zip-bad-name``         a member's name is empty, has an empty or ``.`` component, or a
                         control character (NUL, CR, LF, ...)
``zip-duplicate-name``   two names are one after NFC and case folding, or a file's name
                         is also a folder's
``zip-link-member``      a member is a symlink, a device, a FIFO or a socket
``zip-encrypted-member`` a member is encrypted (ZIP encryption: the bag is encrypted whole
                         with age instead)
``zip-unsupported-method``  a member is compressed with neither STORED nor DEFLATE, or
                         needs a ZIP version the reader does not have
``zip-bomb``             implausible sizes: more than :data:`MAX_MEMBERS` members, more than
                         :data:`MAX_TOTAL` bytes declared, a ratio above :data:`MAX_RATIO`,
                         members that overlap or lie outside the archive, or a member that
                         inflates to more than its header declares
``zip-corrupt``          a member's data is damaged (CRC, truncated, bad deflate stream)
``zip-not-a-bag``        neither ``bagit.txt`` at the root nor one top-level folder with
                         ``bagit.txt`` in it
``bag-symlink``          (writing) a symlink inside the bag directory
``bag-special-file``     (writing) a device, FIFO or socket inside the bag directory
``bag-bad-name``         (writing) a name that is not UTF-8, or that :func:`check_zip` would
                         refuse
``bag-too-large``        (writing) more members or bytes than a reader accepts
``bag-changed``          (writing) a file changed size while it was being archived
``not-a-bag``            (writing) the folder has no ``bagit.txt``
``age-bad-recipient``    a recipient is not an age public key (``age1...``, ``ssh-ed25519``,
                         ``ssh-rsa``)
``age-identity-needed``  an age file was given without ``--identity``
``age-bad-identity``     the identity file holds no age or SSH identity
``age-wrong-identity``   the identity is not one of the file's recipients
``age-corrupt``          the age file is damaged or truncated
``age-encrypt-failed``   the age library failed to encrypt
=======================  ==============================================================
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import io
import os
import re
import shutil
import stat
import struct
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import pyrage
from pyrage import ssh, x25519

from testimony.client.errors import ClientError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = [
    "MAX_MEMBERS",
    "MAX_RATIO",
    "MAX_TOTAL",
    "RATIO_FLOOR",
    "ArchiveRefused",
    "check_zip",
    "encrypt_for",
    "open_bag",
    "zip_bag",
]

MAX_MEMBERS = 200_000
"""The most members a ZIP may have."""

MAX_TOTAL = 64 * 1024**3
"""The most bytes the members of a ZIP may declare, uncompressed, together (64 GiB)."""

MAX_RATIO = 200
"""The most a member may inflate (uncompressed size over compressed size) above :data:`RATIO_FLOOR`."""

RATIO_FLOOR = 1024**2
"""A member of this size or less (uncompressed, 1 MiB) is never refused for its ratio."""

CHUNK = 1024**2
"""Bytes read, compressed, inflated or written at a time: no file is ever whole in memory."""

Progress = Callable[[int, int], None]
"""``progress(done, total)``: bytes done of ``total``."""

_DEFLATED_SUFFIXES = frozenset({".txt", ".json", ".jsonl", ".html"})
_UNIX = 3
_FILE_MODE = 0o644
_DIR_MODE = 0o755
_MSDOS_DIRECTORY = 0x10
_FLAG_ENCRYPTED = 0x01 | 0x40  # traditional PKWARE encryption, strong encryption
_FLAG_UTF8 = 0x800
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_CENTRAL_HEADER = struct.Struct("<4s6H3L5H2L")
_END_RECORD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")
_DRIVE = re.compile(r"[A-Za-z]:")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_AGE_MAGIC = (b"age-encryption.org/", b"-----BEGIN AGE ENCRYPTED FILE-----")
_MAX_IDENTITY_FILE = 1024**2


class ArchiveRefused(ClientError):
    """A bag cannot be archived, or an archive cannot be read; ``code`` says why (module doc)."""

    code = "archive-refused"

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- writing


def zip_bag(bag: Path, out: Path, *, progress: Progress | None = None) -> None:
    """Write the bag directory ``bag`` as the ZIP ``out``.

    The ZIP's single top-level folder is the bag, named ``bag.name``. Members come in a stable
    order: ``bagit.txt`` first, then the other tag files of the bag's root by name, then every
    file below a folder, by path. Photos and ciphertexts do not compress, so members are STORED,
    except ``.txt``, ``.json``, ``.jsonl`` and ``.html`` ones (DEFLATE). Each file is streamed
    in chunks of :data:`CHUNK` bytes. Symlinks are never followed: one inside the bag is
    ``bag-symlink``, a device or FIFO ``bag-special-file``. Every member has mode 0644 (an empty
    folder, which gets an entry of its own, 0755) and the date of the bag's day at 00:00 (its
    ``Bagging-Date``, else today in UTC): no exact time is in the archive (§9's coarse time).
    The names are checked by the rules :func:`check_zip` reads with, so no archive is written
    that a reader would refuse.

    ``progress(done, total)`` is called with the bytes archived. The ZIP is written to
    ``out.partial`` (mode 0600: a bundle holds decrypted testimony), synced, then renamed to
    ``out``; ``out.partial`` is removed on any error. An existing ``out`` is never replaced
    (:class:`FileExistsError`).
    """
    bag = Path(bag)
    out = Path(out)
    if not bag.is_dir():
        raise ArchiveRefused(f"not a folder: {bag}", "not-a-bag")
    if not (bag / "bagit.txt").is_file() or (bag / "bagit.txt").is_symlink():
        raise ArchiveRefused(f"not a bag (no bagit.txt): {bag}", "not-a-bag")
    top = bag.name if bag.name not in ("", ".", "..") else bag.resolve().name
    if out.resolve().is_relative_to(bag.resolve()):
        raise ArchiveRefused(f"the ZIP cannot be written inside the bag: {out}", "bag-bad-name")
    members = _walk(bag)
    names = [f"{top}/{rel}/" if size < 0 else f"{top}/{rel}" for rel, size in members]
    try:
        _check_names(names, [size < 0 for _, size in members])
    except ArchiveRefused as exc:
        raise ArchiveRefused(f"cannot archive the bag: {exc}", "bag-bad-name") from None
    total = sum(max(size, 0) for _, size in members)
    if len(members) > MAX_MEMBERS or total > MAX_TOTAL:
        raise ArchiveRefused(
            f"the bag has {len(members)} files and {total} bytes; a reader accepts at most "
            f"{MAX_MEMBERS} and {MAX_TOTAL}",
            "bag-too-large",
        )
    day = _bag_day(bag)
    if out.exists():
        raise FileExistsError(errno.EEXIST, "file exists", str(out))
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    done = 0
    if progress is not None:
        progress(0, total)
    try:
        with _create_private(partial) as fh:
            with zipfile.ZipFile(fh, "w", allowZip64=True) as zf:
                for (rel, size), name in zip(members, names, strict=True):
                    if size < 0:
                        info = _zip_info(name, day, directory=True)
                        zf.writestr(info, b"")
                        continue
                    info = _zip_info(name, day, directory=False)
                    if Path(rel).suffix.lower() in _DEFLATED_SUFFIXES:
                        info.compress_type = zipfile.ZIP_DEFLATED
                    info.file_size = size
                    done = _copy_member(zf, info, bag / rel, size, done, total, progress)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _walk(bag: Path) -> list[tuple[str, int]]:
    """Every file of the bag as ``(relative POSIX path, size)``, an empty folder with size -1,
    in the archive's order; refuses symlinks, special files and names that are not UTF-8."""
    top_files: list[tuple[str, int]] = []
    below: list[tuple[tuple[str, ...], str, int]] = []

    def visit(folder: Path, parts: tuple[str, ...]) -> None:
        with os.scandir(folder) as entries:
            listing = sorted(entries, key=lambda e: e.name)
        if not listing and parts:
            below.append((parts, "/".join(parts), -1))
        for entry in listing:
            try:
                entry.name.encode("utf-8")
            except UnicodeEncodeError:
                raise ArchiveRefused(
                    f"a name in the bag is not UTF-8: {entry.path!r}", "bag-bad-name"
                ) from None
            here = (*parts, entry.name)
            if entry.is_symlink():
                raise ArchiveRefused(f"a symlink in the bag: {entry.path}", "bag-symlink")
            if entry.is_dir(follow_symlinks=False):
                visit(Path(entry.path), here)
            elif entry.is_file(follow_symlinks=False):
                size = entry.stat(follow_symlinks=False).st_size
                if parts:
                    below.append((here, "/".join(here), size))
                else:
                    top_files.append((entry.name, size))
            else:
                raise ArchiveRefused(
                    f"not a regular file in the bag: {entry.path}", "bag-special-file"
                )

    visit(bag, ())
    first = [f for f in top_files if f[0] == "bagit.txt"]
    rest = [f for f in top_files if f[0] != "bagit.txt"]
    below.sort(key=lambda b: b[0])
    return first + rest + [(rel, size) for _, rel, size in below]


def _bag_day(bag: Path) -> tuple[int, int, int, int, int, int]:
    """The bag's ``Bagging-Date`` at 00:00 as a ZIP date, else today's (UTC)."""
    day = datetime.datetime.now(datetime.UTC).date()
    info = bag / "bag-info.txt"
    if info.is_file() and not info.is_symlink():
        with info.open("r", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                label, _, value = line.partition(":")
                match = _DATE.fullmatch(value.strip())
                if label.strip().lower() == "bagging-date" and match:
                    with contextlib.suppress(ValueError):
                        day = datetime.date(*(int(g) for g in match.groups()))
                    break
    year = min(max(day.year, 1980), 2107)
    if year != day.year:
        return (year, 1, 1, 0, 0, 0)
    return (day.year, day.month, day.day, 0, 0, 0)


def _zip_info(
    name: str, day: tuple[int, int, int, int, int, int], *, directory: bool
) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=day)
    info.create_system = _UNIX
    if directory:
        info.external_attr = (stat.S_IFDIR | _DIR_MODE) << 16 | _MSDOS_DIRECTORY
    else:
        info.external_attr = (stat.S_IFREG | _FILE_MODE) << 16
    info.compress_type = zipfile.ZIP_STORED
    return info


def _copy_member(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    path: Path,
    size: int,
    done: int,
    total: int,
    progress: Progress | None,
) -> int:
    """Stream one file into the ZIP (never following a symlink); the bytes done after it."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as src:
        if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
            raise ArchiveRefused(f"not a regular file in the bag: {path}", "bag-special-file")
        copied = 0
        with zf.open(info, "w") as dst:
            while chunk := src.read(CHUNK):
                copied += len(chunk)
                if copied > size:
                    break
                dst.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    if copied != size:
        raise ArchiveRefused(f"a file changed while it was archived: {path}", "bag-changed")
    return done


@contextlib.contextmanager
def _create_private(path: Path) -> Iterator[BinaryIO]:
    """A new file, mode 0600, never through a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as fh:
        yield fh


# --------------------------------------------------------------------------- checking


def check_zip(path: Path) -> list[zipfile.ZipInfo]:
    """Check the ZIP at ``path`` by §11's rules, reading only its directory; its members.

    Nothing is extracted. The end record and the central directory are read first, and more
    than :data:`MAX_MEMBERS` entries is ``zip-bomb`` before any of them is parsed. Then each
    member, in the archive's order, and the whole (codes in the module doc): encrypted; name
    absolute, climbing, with a backslash or a control character; a symlink, device, FIFO or
    socket by its Unix mode; compressed by another method than STORED or DEFLATE; sizes
    implausible (declared total over :data:`MAX_TOTAL`, a member over :data:`RATIO_FLOOR` that
    inflates more than :data:`MAX_RATIO` times, a STORED member whose two sizes differ, members
    whose data overlap or lie outside the archive); two names equal after NFC and case folding;
    and not a bag (``bagit.txt`` at the root, or one top-level folder with ``bagit.txt``).
    """
    with Path(path).open("rb") as fh, _checked(fh) as (_zf, infos, _root):
        return infos


@contextlib.contextmanager
def _checked(fh: BinaryIO) -> Iterator[tuple[zipfile.ZipFile, list[zipfile.ZipInfo], str]]:
    """The ZIP open on ``fh``, its checked members and the bag's folder in it (``""`` or
    ``"name/"``). The same open file is then read to extract, so what was checked is what is
    extracted."""
    size = os.fstat(fh.fileno()).st_size
    count, cd_start = _scan_directory(fh, size)
    fh.seek(0)
    try:
        zf = zipfile.ZipFile(fh)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        ValueError,
        OverflowError,
        struct.error,
    ):
        raise ArchiveRefused("not a ZIP archive", "not-a-zip") from None
    except NotImplementedError as exc:  # a "version needed to extract" above zipfile's
        raise ArchiveRefused(
            f"not a ZIP archive this reader can read ({exc})", "zip-unsupported-method"
        ) from None
    with zf:
        infos = zf.infolist()
        if len(infos) != count:
            raise ArchiveRefused("not a ZIP archive (its directory is inconsistent)", "not-a-zip")
        root = _check_members(infos, cd_start)
        yield zf, infos, root


def _scan_directory(fh: BinaryIO, size: int) -> tuple[int, int]:
    """Count the central directory's entries without parsing them, stopping past
    :data:`MAX_MEMBERS`; the count and where the directory starts. Reads the end record the
    way :mod:`zipfile` does, so both see the same directory."""
    not_zip = ArchiveRefused("not a ZIP archive", "not-a-zip")
    if size < _END_RECORD.size:
        raise not_zip
    fh.seek(size - _END_RECORD.size)
    tail = fh.read()
    tail_start = size - _END_RECORD.size
    if not (tail[:4] == b"PK\x05\x06" and tail[-2:] == b"\0\0"):
        tail_start = max(size - 65535 - _END_RECORD.size, 0)
        fh.seek(tail_start)
        tail = fh.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _END_RECORD.size:
        raise not_zip
    end = tail_start + at
    fields = _END_RECORD.unpack_from(tail, at)
    entries, cd_size, cd_end = fields[4], fields[5], end
    if end >= _ZIP64_LOCATOR.size + _ZIP64_END_RECORD.size:
        fh.seek(end - _ZIP64_LOCATOR.size)
        if fh.read(4) == b"PK\x06\x07":
            fh.seek(end - _ZIP64_LOCATOR.size - _ZIP64_END_RECORD.size)
            record = fh.read(_ZIP64_END_RECORD.size)
            if record[:4] != b"PK\x06\x06":
                raise not_zip
            fields64 = _ZIP64_END_RECORD.unpack(record)
            entries, cd_size = fields64[7], fields64[8]
            cd_end = end - _ZIP64_LOCATOR.size - _ZIP64_END_RECORD.size
    if entries > MAX_MEMBERS:
        raise _bomb(f"{entries} members (at most {MAX_MEMBERS})")
    cd_start = cd_end - cd_size
    if cd_start < 0:
        raise not_zip
    fh.seek(cd_start)
    count = walked = 0
    while walked < cd_size:
        header = fh.read(_CENTRAL_HEADER.size)
        if len(header) < _CENTRAL_HEADER.size or header[:4] != b"PK\x01\x02":
            raise not_zip
        name, extra, comment = struct.unpack_from("<3H", header, 28)
        fh.seek(name + extra + comment, io.SEEK_CUR)
        walked += _CENTRAL_HEADER.size + name + extra + comment
        count += 1
        if count > MAX_MEMBERS:
            raise _bomb(f"more than {MAX_MEMBERS} members")
    return count, cd_start


def _check_members(infos: list[zipfile.ZipInfo], cd_start: int) -> str:
    """Refuse what §11 refuses (see :func:`check_zip`); the bag's folder in the ZIP."""
    if len(infos) > MAX_MEMBERS:
        raise _bomb(f"{len(infos)} members (at most {MAX_MEMBERS})")
    total = 0
    for info in infos:
        name = info.orig_filename
        if info.flag_bits & _FLAG_ENCRYPTED:
            raise ArchiveRefused(f"an encrypted member: {name!r}", "zip-encrypted-member")
        _check_name(name)
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            what = "a symlink" if kind == stat.S_IFLNK else "a device, FIFO or socket"
            raise ArchiveRefused(f"{what} member: {name!r}", "zip-link-member")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ArchiveRefused(
                f"a member compressed by method {info.compress_type}: {name!r} "
                "(only STORED and DEFLATE are read)",
                "zip-unsupported-method",
            )
        if name.endswith("/") and info.file_size:
            raise ArchiveRefused(f"a folder entry with content: {name!r}", "zip-bad-name")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise _bomb(f"a stored member with two sizes: {name!r}")
        if info.file_size > RATIO_FLOOR and info.file_size > info.compress_size * MAX_RATIO:
            raise _bomb(
                f"{name!r} declares {info.file_size} bytes from {info.compress_size} "
                f"(more than {MAX_RATIO} times)"
            )
        total += info.file_size
        if total > MAX_TOTAL:
            raise _bomb(f"the members declare more than {MAX_TOTAL} bytes")
    _check_names(
        [info.orig_filename for info in infos], [info.orig_filename.endswith("/") for info in infos]
    )
    _check_layout(infos, cd_start)
    return _bag_root(infos)


def _check_name(name: str) -> None:
    """One member's name: relative, no climbing, no backslash, no control character."""
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise ArchiveRefused(f"an absolute name: {name!r}", "zip-absolute-name")
    if "\\" in name:
        raise ArchiveRefused(f"a name with a backslash: {name!r}", "zip-path-traversal")
    parts = name.removesuffix("/").split("/")
    if ".." in parts:
        raise ArchiveRefused(f"a name that climbs (..): {name!r}", "zip-path-traversal")
    if not name or "" in parts or "." in parts:
        raise ArchiveRefused(f"a name with an empty or '.' part: {name!r}", "zip-bad-name")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise ArchiveRefused(f"a name with a control character: {name!r}", "zip-bad-name")


def _fold(name: str) -> str:
    """The form two names are compared in: NFC, case folded (canonical caseless matching)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", name).casefold())


def _check_names(names: Sequence[str], folders: Sequence[bool]) -> None:
    """Each name acceptable, no two equal after NFC and case folding, no file also a folder."""
    seen: dict[str, str] = {}
    parents: dict[str, str] = {}
    files: dict[str, str] = {}
    for name, folder in zip(names, folders, strict=True):
        _check_name(name)
        key = _fold(name.removesuffix("/"))
        if key in seen:
            raise ArchiveRefused(
                f"two members name the same file: {seen[key]!r} and {name!r}",
                "zip-duplicate-name",
            )
        seen[key] = name
        if not folder:
            files[key] = name
        parts = key.split("/")
        for i in range(1, len(parts)):
            parents.setdefault("/".join(parts[:i]), name)
    for key, name in files.items():
        if key in parents:
            raise ArchiveRefused(
                f"a file is also a folder: {name!r} and {parents[key]!r}", "zip-duplicate-name"
            )


def _check_layout(infos: list[zipfile.ZipInfo], cd_start: int) -> None:
    """Each member's data within the archive, before the directory, overlapping no other."""
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for info, after in zip(ordered, [*ordered[1:], None], strict=True):
        limit = cd_start if after is None else after.header_offset
        encoding = "utf-8" if info.flag_bits & _FLAG_UTF8 else "cp437"
        try:
            name_len = len(info.orig_filename.encode(encoding))
        except UnicodeEncodeError:
            name_len = 0
        if info.header_offset < 0 or (
            info.header_offset + _LOCAL_HEADER.size + name_len + info.compress_size > limit
        ):
            raise _bomb(
                f"a member's data overlaps another's or the directory: {info.orig_filename!r}"
            )


def _bag_root(infos: list[zipfile.ZipInfo]) -> str:
    """``""`` when the bag is the ZIP's root, ``"name/"`` when it is its single top-level
    folder; else ``zip-not-a-bag``."""
    files = {i.orig_filename for i in infos if not i.orig_filename.endswith("/")}
    if "bagit.txt" in files:
        return ""
    tops = {i.orig_filename.split("/", 1)[0] for i in infos}
    if len(tops) == 1:
        top = next(iter(tops))
        if f"{top}/bagit.txt" in files:
            return f"{top}/"
    shown = ", ".join(sorted(repr(t) for t in tops)[:5]) or "nothing"
    raise ArchiveRefused(
        f"not a bag: no bagit.txt at the root nor in a single top-level folder (found {shown})",
        "zip-not-a-bag",
    )


def _bomb(what: str) -> ArchiveRefused:
    return ArchiveRefused(f"implausible sizes: {what}", "zip-bomb")


# --------------------------------------------------------------------------- reading


@contextlib.contextmanager
def open_bag(
    path: Path, *, identity: Path | None = None, scratch: Path | None = None
) -> Iterator[Path]:
    """The bag at ``path`` as a directory to read, for the duration of the ``with``.

    - A directory is yielded as it is.
    - A ZIP is checked whole by :func:`check_zip` (nothing written before), then extracted
      into a private temporary folder (mode 0700, under ``scratch``, else ``TMPDIR``), member
      by member: each inflated here, counting the bytes actually written and stopping with
      ``zip-bomb`` as soon as they exceed what the header declares (a lying header), and with
      ``zip-corrupt`` on a bad CRC or a short member. Files are 0600, folders 0700. The bag
      yielded is the ZIP's root or its single top-level folder.
    - An age file (binary or armored, told by its first bytes, whatever its name) is decrypted
      with the identities of the file ``identity`` (``age-keygen``'s format: ``AGE-SECRET-KEY-1``
      lines and ``#`` comments; or an unencrypted OpenSSH private key) through pyrage, streamed
      into a temporary ZIP in that private folder, which is then read as a ZIP and removed
      once extracted.

    Everything temporary is removed on leaving, by an error or not.
    """
    path = Path(path)
    if path.is_dir():
        yield path
        return
    with path.open("rb") as fh:
        head = fh.read(64)
    if head.startswith(_AGE_MAGIC):
        if identity is None:
            raise ArchiveRefused(
                f"{path.name} is encrypted with age: give the identity (--identity)",
                "age-identity-needed",
            )
        identities = _load_identities(Path(identity))
        with _private_dir(scratch) as tmp:
            inner = tmp / "bundle.zip"
            _decrypt(path, inner, identities)
            with inner.open("rb") as fh, _checked(fh) as (_zf, infos, root):
                _extract(fh, infos, tmp / "bag")
            inner.unlink()
            yield tmp / "bag" / root if root else tmp / "bag"
        return
    with path.open("rb") as fh, _checked(fh) as (_zf, infos, root), _private_dir(scratch) as tmp:
        _extract(fh, infos, tmp / "bag")
        yield tmp / "bag" / root if root else tmp / "bag"


@contextlib.contextmanager
def _private_dir(scratch: Path | None) -> Iterator[Path]:
    where = tempfile.mkdtemp(prefix="testimony-bundle-", dir=scratch)
    try:
        yield Path(where)
    finally:
        shutil.rmtree(where)


def _extract(fh: BinaryIO, infos: list[zipfile.ZipInfo], dest: Path) -> None:
    """Extract checked members under ``dest`` (created, 0700)."""
    dest.mkdir(mode=0o700)
    for info in infos:
        parts = info.orig_filename.removesuffix("/").split("/")
        target = dest.joinpath(*parts)
        if info.orig_filename.endswith("/"):
            target.mkdir(mode=0o700, parents=True, exist_ok=True)
            continue
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _create_private(target) as out:
            _inflate(fh, info, out)


def _inflate(fh: BinaryIO, info: zipfile.ZipInfo, out: BinaryIO) -> None:
    """Copy one member's data to ``out``, inflating it here: never more bytes than its header
    declares (``zip-bomb`` at the first byte past it), and its CRC and size checked."""
    name = info.orig_filename
    fh.seek(info.header_offset)
    header = fh.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise ArchiveRefused(f"a member without its local header: {name!r}", "zip-corrupt")
    name_len, extra_len = _LOCAL_HEADER.unpack(header)[9:11]
    encoding = "utf-8" if info.flag_bits & _FLAG_UTF8 else "cp437"
    if fh.read(name_len) != name.encode(encoding):
        raise ArchiveRefused(f"a member's two names differ: {name!r}", "zip-corrupt")
    fh.seek(extra_len, io.SEEK_CUR)
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    left = info.compress_size
    written = 0
    crc = 0

    def put(data: bytes) -> None:
        nonlocal written, crc
        written += len(data)
        if written > info.file_size:
            raise _bomb(f"{name!r} inflates to more than the {info.file_size} bytes it declares")
        crc = zlib.crc32(data, crc)
        out.write(data)

    try:
        while left > 0:
            data = fh.read(min(CHUNK, left))
            if not data:
                raise ArchiveRefused(f"a member is cut short: {name!r}", "zip-corrupt")
            left -= len(data)
            if inflater is None:
                put(data)
                continue
            while data:
                put(inflater.decompress(data, CHUNK))
                data = inflater.unconsumed_tail
        if inflater is not None:
            while not inflater.eof and (more := inflater.decompress(b"", CHUNK)):
                put(more)
            put(inflater.flush())
            if not inflater.eof:
                raise ArchiveRefused(
                    f"a member's deflate stream is cut short: {name!r}", "zip-corrupt"
                )
    except zlib.error:
        raise ArchiveRefused(
            f"a member's deflate stream is damaged: {name!r}", "zip-corrupt"
        ) from None
    if written != info.file_size:
        raise ArchiveRefused(f"a member is shorter than it declares: {name!r}", "zip-corrupt")
    if crc != info.CRC:
        raise ArchiveRefused(f"a member's CRC does not match: {name!r}", "zip-corrupt")


# --------------------------------------------------------------------------- age

_Identity = x25519.Identity | ssh.Identity
_Recipient = x25519.Recipient | ssh.Recipient


def encrypt_for(
    zip_path: Path, out: Path, recipients: Sequence[str], *, progress: Progress | None = None
) -> None:
    """Encrypt the ZIP at ``zip_path`` with age to every one of ``recipients``, as ``out``.

    A recipient is an age X25519 public key (``age1...``, as ``age-keygen`` prints it) or an
    SSH public key line (``ssh-ed25519 ...``, ``ssh-rsa ...``); anything else is
    ``age-bad-recipient``, naming it (a secret key given by mistake is not echoed). The output
    is binary age v1, which ``age -d -i key`` decrypts. It is streamed through pyrage's
    ``encrypt_io`` (read and encrypted 8 KiB at a time: memory does not grow with the ZIP),
    reporting ``progress(done, total)`` in bytes read; written to ``out.partial`` (0600),
    synced, then renamed to ``out``, which is never replaced (:class:`FileExistsError`);
    ``out.partial`` is removed on any error.
    """
    zip_path = Path(zip_path)
    out = Path(out)
    parsed = [_recipient(r) for r in recipients]
    if not parsed:
        raise ArchiveRefused("no recipient to encrypt to", "age-bad-recipient")
    if out.exists():
        raise FileExistsError(errno.EEXIST, "file exists", str(out))
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with zip_path.open("rb") as src, _create_private(partial) as dst:
            reader = _Tap(src, progress, os.fstat(src.fileno()).st_size)
            writer = _Tap(dst)
            try:
                pyrage.encrypt_io(reader, writer, parsed)
            except (pyrage.EncryptError, OSError) as exc:
                reader.reraise()
                writer.reraise()
                raise ArchiveRefused(
                    f"age encryption failed: {exc}", "age-encrypt-failed"
                ) from None
            reader.reraise()
            writer.reraise()
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _recipient(text: str) -> _Recipient:
    value = text.strip()
    if value.upper().startswith("AGE-SECRET-KEY-"):
        raise ArchiveRefused(
            "a secret key was given as a recipient: give its public key (age1...), "
            "which age-keygen -y prints",
            "age-bad-recipient",
        )
    shown = value.splitlines()[0][:100] if value else ""
    try:
        if value.startswith("age1"):
            return x25519.Recipient.from_str(value)
        if value.startswith(("ssh-ed25519 ", "ssh-rsa ")):
            return ssh.Recipient.from_str(value)
    except pyrage.RecipientError:
        pass
    raise ArchiveRefused(
        f"not an age recipient (age1..., ssh-ed25519 or ssh-rsa public key): {shown!r}",
        "age-bad-recipient",
    )


def _load_identities(path: Path) -> list[_Identity]:
    """The identities of an identity file; its lines are never echoed (they are secrets)."""
    with path.open("rb") as fh:
        data = fh.read(_MAX_IDENTITY_FILE + 1)
    if len(data) > _MAX_IDENTITY_FILE:
        raise ArchiveRefused(f"not an age identity file (too large): {path}", "age-bad-identity")
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data or b"-----BEGIN RSA PRIVATE KEY-----" in data:
        try:
            return [ssh.Identity.from_buffer(data)]
        except pyrage.IdentityError:
            raise ArchiveRefused(
                f"the SSH key cannot be used (an encrypted SSH key is not supported): {path}",
                "age-bad-identity",
            ) from None
    identities: list[_Identity] = []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise ArchiveRefused(
                f"line {number} of {path} is not an age identity (AGE-SECRET-KEY-1...)",
                "age-bad-identity",
            ) from None
    if not identities:
        raise ArchiveRefused(f"no age identity in {path}", "age-bad-identity")
    return identities


def _decrypt(src: Path, dst: Path, identities: list[_Identity]) -> None:
    """Stream the age file ``src`` to the new private file ``dst``."""
    with src.open("rb") as fin, _create_private(dst) as fout:
        reader, writer = _Tap(fin), _Tap(fout)
        try:
            pyrage.decrypt_io(reader, writer, identities)
        except pyrage.DecryptError as exc:
            reader.reraise()
            writer.reraise()
            if "no matching keys" in str(exc).lower():
                raise ArchiveRefused(
                    f"the identity does not open {src.name}: it was encrypted to other recipients",
                    "age-wrong-identity",
                ) from None
            raise ArchiveRefused(
                f"not a readable age file: {src.name} ({exc})", "age-corrupt"
            ) from None
        except OSError:
            reader.reraise()
            writer.reraise()
            raise ArchiveRefused(
                f"the age file is damaged or cut short: {src.name}", "age-corrupt"
            ) from None
        reader.reraise()
        writer.reraise()


class _Tap(io.BufferedIOBase):
    """A file handed to pyrage: passes reads and writes through, counts the bytes read for
    ``progress``, and keeps the first error of the file itself, so that a disk error is told
    from a decryption error (pyrage reports both as failures of its own)."""

    def __init__(self, fh: BinaryIO, progress: Progress | None = None, total: int = 0) -> None:
        super().__init__()
        self._fh = fh
        self._progress = progress
        self._total = total
        self._done = self._shown = 0
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def read(self, size: int | None = -1, /) -> bytes:
        try:
            data = self._fh.read(-1 if size is None else size)
        except BaseException as exc:
            self.error = self.error or exc
            raise
        self._done += len(data)
        if self._progress is not None and (not data or self._done - self._shown >= CHUNK):
            self._shown = self._done
            self._progress(self._done, self._total)
        return data

    def write(self, data: ReadableBuffer, /) -> int:
        try:
            return self._fh.write(data)
        except BaseException as exc:
            self.error = self.error or exc
            raise

    def reraise(self) -> None:
        if self.error is not None:
            raise self.error
