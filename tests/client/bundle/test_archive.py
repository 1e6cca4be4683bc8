"""The bundle's archive forms (client/bundle/archive.py, docs/protocol.md §11): a bag as a ZIP
and as an age-encrypted ZIP, and reading them back. A hostile ZIP is refused before a byte of
it is written; a lying one is stopped while it is extracted, leaving nothing behind; an age
file is what Debian's ``age`` reads and writes."""

from __future__ import annotations

import io
import os
import shutil
import stat
import struct
import subprocess
import unicodedata
import warnings
import zipfile
from pathlib import Path

import bagit
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from testimony.client.bundle import archive
from testimony.client.bundle.archive import (
    ArchiveRefused,
    check_zip,
    encrypt_for,
    open_bag,
    zip_bag,
)

DAY = "2024-05-17"
PHOTO = os.urandom(3 * 1024 * 1024 + 17)
BLOB = os.urandom(200_000)


# --- helpers ------------------------------------------------------------------------------


def tool(name: str) -> str:
    """Debian's ``age`` tools, or skip (fail in CI, where ``make test`` installs them)."""
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{name} is missing; `make bundle-deps` installs it")
    pytest.skip(f"{name} is not installed (make bundle-deps)")


def make_bag(where: Path, name: str = "bundle-1") -> Path:
    bag = where / name
    (bag / "testimonies" / "t1" / "blobs").mkdir(parents=True)
    (bag / "testimonies" / "t1" / "files").mkdir()
    (bag / "bundle.json").write_text('{"v": 1, "id": "b1"}\n')
    (bag / "report.html").write_text("<!doctype html><p>report</p>\n" * 500)
    (bag / "testimonies" / "t1" / "blobs" / "ab12").write_bytes(BLOB)
    (bag / "testimonies" / "t1" / "files" / "0-Ébène photo.jpg").write_bytes(PHOTO)
    (bag / "testimonies" / "t1" / "manifest.json").write_text('{"answers": {}}')
    (bag / "custody").mkdir()
    (bag / "custody" / "events.jsonl").write_text('{"id": "e1"}\n{"id": "e2"}\n')
    bagit.make_bag(
        str(bag),
        {"Source-Organization": "Org", "External-Identifier": "b1", "Bagging-Date": DAY},
        checksums=["sha256"],
    )
    return bag


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def everything(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture
def bag(tmp_path: Path) -> Path:
    return make_bag(tmp_path / "src")


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    where = tmp_path / "scratch" / "deep"
    where.mkdir(parents=True)
    return where


def zip_of(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


BAG_MEMBERS: list[tuple[str | zipfile.ZipInfo, bytes]] = [
    ("b/bagit.txt", b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"),
    ("b/data/ok.txt", b"fine"),
]


def headers(data: bytes) -> dict[str, tuple[int, int]]:
    """Each member's name -> (offset of its local header, offset of its central header)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos, pos = zf.infolist(), zf.start_dir
    central = {}
    while data[pos : pos + 4] == b"PK\x01\x02":
        n, m, k = struct.unpack_from("<3H", data, pos + 28)
        central[data[pos + 46 : pos + 46 + n].decode()] = pos
        pos += 46 + n + m + k
    return {i.orig_filename: (i.header_offset, central[i.orig_filename]) for i in infos}


# Field offsets: (in the local header, in the central header).
FLAGS, CRC, COMPRESSED, SIZE = (6, 8), (14, 16), (18, 20), (22, 24)
LOCAL_OFFSET = 42


def patch(path: Path, name: str, field: tuple[int, int], fmt: str, value: int) -> None:
    data = bytearray(path.read_bytes())
    local, central = headers(bytes(data))[name]
    struct.pack_into(fmt, data, local + field[0], value)
    struct.pack_into(fmt, data, central + field[1], value)
    path.write_bytes(bytes(data))


def refused(path: Path, code: str, scratch: Path) -> ArchiveRefused:
    """``path`` refused with ``code`` by check_zip and by open_bag, nothing written anywhere."""
    top = scratch.parent.parent
    before = everything(top)
    with pytest.raises(ArchiveRefused) as checked:
        check_zip(path)
    assert checked.value.code == code, checked.value
    with pytest.raises(ArchiveRefused) as opened, open_bag(path, scratch=scratch):
        pytest.fail("a hostile ZIP was opened")
    assert opened.value.code == code
    assert list(scratch.iterdir()) == []
    assert everything(top) == before
    assert not Path("/tmp/x").exists()
    return opened.value


# --- writing and reading back -------------------------------------------------------------


def test_a_bag_zipped_and_opened_is_the_same_bag_byte_for_byte(
    bag: Path, tmp_path: Path, scratch: Path
) -> None:
    out = tmp_path / "bundle.zip"
    seen: list[tuple[int, int]] = []
    zip_bag(bag, out, progress=lambda done, total: seen.append((done, total)))
    assert not (tmp_path / "bundle.zip.partial").exists()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    total = sum(len(b) for b in tree(bag).values())
    assert seen[0] == (0, total) and seen[-1] == (total, total)

    with open_bag(out, scratch=scratch) as opened:
        assert opened.name == "bundle-1"
        assert tree(opened) == tree(bag)
        bagit.Bag(str(opened)).validate()
        extracted = opened
    assert not extracted.exists()
    assert list(scratch.iterdir()) == []


def test_the_zip_is_stable_stored_or_deflated_0644_and_dated_to_the_day(
    bag: Path, tmp_path: Path
) -> None:
    zip_bag(bag, tmp_path / "one.zip")
    zip_bag(bag, tmp_path / "two.zip")
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()

    with zipfile.ZipFile(tmp_path / "one.zip") as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names[0] == "bundle-1/bagit.txt"
    assert all(n.startswith("bundle-1/") for n in names)
    tags = [n for n in names if n.count("/") == 1]
    assert tags == ["bundle-1/bagit.txt", *sorted(tags[1:])]
    assert names.index(tags[-1]) == len(tags) - 1, "tag files before the payload"
    assert names[len(tags) :] == sorted(names[len(tags) :])
    assert len(names) == len(set(names)) == len(tree(bag))
    for info in infos:
        assert info.date_time == (2024, 5, 17, 0, 0, 0)
        assert info.external_attr >> 16 == stat.S_IFREG | 0o644
        assert info.create_system == 3
        deflated = info.filename.endswith((".txt", ".json", ".jsonl", ".html"))
        assert info.compress_type == (zipfile.ZIP_DEFLATED if deflated else zipfile.ZIP_STORED)
        assert info.extra == b"", "no extra field (no exact time)"
    photo = unicodedata.normalize("NFC", "bundle-1/data/testimonies/t1/files/0-Ébène photo.jpg")
    assert photo in [unicodedata.normalize("NFC", n) for n in names]


def test_an_empty_folder_survives_and_a_zip_at_the_root_is_a_bag_too(
    bag: Path, tmp_path: Path, scratch: Path
) -> None:
    (bag / "data" / "empty").mkdir()
    zip_bag(bag, tmp_path / "b.zip")
    with open_bag(tmp_path / "b.zip", scratch=scratch) as opened:
        assert (opened / "data" / "empty").is_dir()
        bagit.Bag(str(opened)).validate()

    rooted = tmp_path / "rooted.zip"
    with zipfile.ZipFile(rooted, "w") as zf:
        for rel, data in tree(bag).items():
            zf.writestr(rel, data)
    with open_bag(rooted, scratch=scratch) as opened:
        assert tree(opened) == tree(bag)
        bagit.Bag(str(opened)).validate()
    assert list(scratch.iterdir()) == []


def test_a_directory_is_opened_as_it_is(bag: Path, scratch: Path) -> None:
    with open_bag(bag, scratch=scratch) as opened:
        assert opened == bag
    assert bag.exists()


def test_a_symlink_or_a_fifo_in_the_bag_is_refused_and_no_zip_is_left(
    bag: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundle.zip"
    (bag / "data" / "link").symlink_to("/etc/passwd")
    with pytest.raises(ArchiveRefused) as exc:
        zip_bag(bag, out)
    assert exc.value.code == "bag-symlink"
    (bag / "data" / "link").unlink()
    os.mkfifo(bag / "data" / "fifo")
    with pytest.raises(ArchiveRefused) as exc:
        zip_bag(bag, out)
    assert exc.value.code == "bag-special-file"
    assert not out.exists() and not (tmp_path / "bundle.zip.partial").exists()


def test_names_a_reader_would_refuse_are_not_archived(bag: Path, tmp_path: Path) -> None:
    (bag / "data" / "A.txt").write_text("a")
    (bag / "data" / "a.txt").write_text("a")
    with pytest.raises(ArchiveRefused) as exc:
        zip_bag(bag, tmp_path / "bundle.zip")
    assert exc.value.code == "bag-bad-name"
    assert list(tmp_path.glob("bundle.zip*")) == []


def test_an_error_midway_removes_the_partial_zip(
    bag: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "bundle.zip"

    def fail(done: int, total: int) -> None:
        if done > 1_000_000:
            raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        zip_bag(bag, out, progress=fail)
    assert list(tmp_path.glob("bundle.zip*")) == []


def test_an_existing_zip_is_never_replaced(bag: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle.zip"
    out.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        zip_bag(bag, out)
    assert out.read_bytes() == b"keep"


def test_a_bagging_date_is_the_zip_date_and_none_is_today(tmp_path: Path) -> None:
    bag = tmp_path / "plain"
    (bag / "data").mkdir(parents=True)
    (bag / "bagit.txt").write_text("BagIt-Version: 1.0\n")
    (bag / "data" / "x.bin").write_bytes(b"x")
    zip_bag(bag, tmp_path / "p.zip")
    with zipfile.ZipFile(tmp_path / "p.zip") as zf:
        hours = {i.date_time[3:] for i in zf.infolist()}
    assert hours == {(0, 0, 0)}


# --- hostile ZIPs: refused before anything is written -------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("/tmp/x", "zip-absolute-name"),
        ("C:/x", "zip-absolute-name"),
        ("\\\\server\\share\\x", "zip-absolute-name"),
        ("../../tmp/x", "zip-path-traversal"),
        ("b/../../tmp/x", "zip-path-traversal"),
        ("b/data/a\\..\\b", "zip-path-traversal"),
        ("b/data/line\nbreak", "zip-bad-name"),
        ("b//data/x", "zip-bad-name"),
        ("b/./data/x", "zip-bad-name"),
    ],
)
def test_a_name_that_escapes_or_misleads_is_refused(
    name: str, code: str, tmp_path: Path, scratch: Path
) -> None:
    path = zip_of(tmp_path / "hostile.zip", [*BAG_MEMBERS, (name, b"pwned")])
    refused(path, code, scratch)


def test_a_name_with_a_nul_is_refused(tmp_path: Path, scratch: Path) -> None:
    """zipfile cuts a name at its NUL; the name as stored is what is checked."""
    path = zip_of(tmp_path / "nul.zip", [*BAG_MEMBERS, ("b/data/evil.txtQ.jpg", b"x")])
    path.write_bytes(path.read_bytes().replace(b"evil.txtQ.jpg", b"evil.txt\0.jpg"))
    with zipfile.ZipFile(path) as zf:
        assert "b/data/evil.txt" in zf.namelist()
    refused(path, "zip-bad-name", scratch)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("b/data/A.txt", "b/data/a.txt"),
        ("b/data/\u00e9.txt", "b/data/e\u0301.txt"),
        ("b/data/STRASSE", "b/data/straße"),
        ("b/data/x", "b/data/x/y"),
        ("b/data/ok.txt", "b/data/ok.txt"),
    ],
)
def test_names_that_collide_once_normalised_are_refused(
    first: str, second: str, tmp_path: Path, scratch: Path
) -> None:
    path = tmp_path / "dup.zip"
    with zipfile.ZipFile(path, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name it writes
        for name, data in [*BAG_MEMBERS, (first, b"1"), (second, b"2")]:
            zf.writestr(name, data)
    error = refused(path, "zip-duplicate-name", scratch)
    assert repr(second) in str(error)


@pytest.mark.parametrize(
    "kind", [stat.S_IFLNK, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK]
)
def test_a_link_device_or_fifo_member_is_refused(kind: int, tmp_path: Path, scratch: Path) -> None:
    info = zipfile.ZipInfo("b/data/link")
    info.create_system = 3
    info.external_attr = (kind | 0o777) << 16
    path = zip_of(tmp_path / "link.zip", [*BAG_MEMBERS, (info, b"/etc/passwd")])
    refused(path, "zip-link-member", scratch)


def test_an_encrypted_member_is_refused(tmp_path: Path, scratch: Path) -> None:
    path = zip_of(tmp_path / "enc.zip", [*BAG_MEMBERS, ("b/data/secret", b"x" * 100)])
    patch(path, "b/data/secret", FLAGS, "<H", 0x1)
    refused(path, "zip-encrypted-member", scratch)


def test_another_compression_method_is_refused(tmp_path: Path, scratch: Path) -> None:
    path = tmp_path / "bz.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in BAG_MEMBERS:
            zf.writestr(name, data)
        zf.writestr("b/data/x.bz2", b"x" * 1000, compress_type=zipfile.ZIP_BZIP2)
    refused(path, "zip-unsupported-method", scratch)


def test_a_zip_version_the_reader_lacks_is_refused_not_a_traceback(
    tmp_path: Path, scratch: Path
) -> None:
    """Found by tests/fuzz/fuzz_bundle.py: a "version needed to extract" above
    zipfile's let NotImplementedError out of check_zip, open_bag and verify."""
    path = tmp_path / "version.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in BAG_MEMBERS:
            zf.writestr(name, data)
    data = bytearray(path.read_bytes())
    data[data.rfind(b"PK\x01\x02") + 6] = 0xFF
    path.write_bytes(bytes(data))
    refused(path, "zip-unsupported-method", scratch)


@pytest.fixture(scope="module")
def gigabyte_of_zeros(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A truthful bomb: 1 GiB of zeros deflated to about 1 MiB (a ratio over 1000)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    zero = bytes(1024 * 1024)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in BAG_MEMBERS:
            zf.writestr(name, data)
        info = zipfile.ZipInfo("b/data/zeros.bin")
        info.compress_type = zipfile.ZIP_DEFLATED
        info.file_size = 1024**3
        with zf.open(info, "w") as dst:
            for _ in range(1024):
                dst.write(zero)
    return path


def test_a_member_that_inflates_more_than_the_ratio_is_refused(
    gigabyte_of_zeros: Path, scratch: Path
) -> None:
    with zipfile.ZipFile(gigabyte_of_zeros) as zf:
        bomb = zf.getinfo("b/data/zeros.bin")
    assert bomb.file_size == 1024**3 and bomb.file_size > 1000 * bomb.compress_size
    error = refused(gigabyte_of_zeros, "zip-bomb", scratch)
    assert "zeros.bin" in str(error)


def test_a_header_that_lies_about_its_size_is_stopped_while_extracting(
    tmp_path: Path, scratch: Path
) -> None:
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in BAG_MEMBERS:
            zf.writestr(name, data)
        zf.writestr("b/data/aaa-first.bin", os.urandom(3 * archive.CHUNK))
        zf.writestr("b/data/liar.bin", bytes(16 * 1024 * 1024))
    patch(path, "b/data/liar.bin", SIZE, "<L", 4096)
    infos = check_zip(path)  # plausible on its face: 4 KiB declared
    assert [i.file_size for i in infos if i.filename.endswith("liar.bin")] == [4096]

    before = everything(tmp_path)
    with pytest.raises(ArchiveRefused) as exc, open_bag(path, scratch=scratch):
        pytest.fail("a lying ZIP was opened")
    assert exc.value.code == "zip-bomb"
    assert "liar.bin" in str(exc.value)
    assert list(scratch.iterdir()) == [], "the partial output is removed"
    assert everything(tmp_path) == before


def test_a_damaged_member_is_refused_while_extracting(tmp_path: Path, scratch: Path) -> None:
    path = zip_of(tmp_path / "crc.zip", [*BAG_MEMBERS, ("b/data/x.bin", b"y" * 5000)])
    patch(path, "b/data/x.bin", CRC, "<L", 0xDEADBEEF)
    check_zip(path)
    with pytest.raises(ArchiveRefused) as exc, open_bag(path, scratch=scratch):
        pytest.fail("a damaged ZIP was opened")
    assert exc.value.code == "zip-corrupt"
    assert list(scratch.iterdir()) == []


def test_too_many_members_is_refused_before_they_are_parsed(
    tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "MAX_MEMBERS", 10)
    path = zip_of(tmp_path / "many.zip", [*BAG_MEMBERS, *((f"b/data/{i}", b"") for i in range(9))])
    with monkeypatch.context() as parsing:

        def parse(*args: object, **kwargs: object) -> None:
            raise AssertionError("the directory was parsed")

        parsing.setattr(zipfile, "ZipFile", parse)
        refused(path, "zip-bomb", scratch)
        # An end record that understates the count: the entries are counted, not believed.
        data = bytearray(path.read_bytes())
        struct.pack_into("<2H", data, data.rfind(b"PK\x05\x06") + 8, 2, 2)
        path.write_bytes(bytes(data))
        refused(path, "zip-bomb", scratch)
    monkeypatch.setattr(archive, "MAX_MEMBERS", 11)
    check_zip(path)


def test_a_declared_total_over_the_bound_is_refused(
    tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "MAX_TOTAL", 1024 * 1024)
    path = zip_of(
        tmp_path / "big.zip",
        [*BAG_MEMBERS, ("b/data/1", os.urandom(600_000)), ("b/data/2", os.urandom(600_000))],
    )
    refused(path, "zip-bomb", scratch)


def test_members_that_overlap_are_refused(tmp_path: Path, scratch: Path) -> None:
    path = zip_of(
        tmp_path / "overlap.zip", [*BAG_MEMBERS, ("b/data/x1", b"1" * 999), ("b/data/x2", b"2")]
    )
    first = headers(path.read_bytes())["b/data/x1"][0]
    data = bytearray(path.read_bytes())
    struct.pack_into("<L", data, headers(bytes(data))["b/data/x2"][1] + LOCAL_OFFSET, first)
    path.write_bytes(bytes(data))
    refused(path, "zip-bomb", scratch)


def test_a_stored_member_with_two_sizes_is_refused(tmp_path: Path, scratch: Path) -> None:
    path = zip_of(tmp_path / "two.zip", [*BAG_MEMBERS, ("b/data/x", b"x" * 100)])
    patch(path, "b/data/x", SIZE, "<L", 2_000_000_000)
    refused(path, "zip-bomb", scratch)


def test_zip64_records_are_read(tmp_path: Path, scratch: Path) -> None:
    """Over 65535 members the end record is ZIP64's; a member may have a ZIP64 header."""
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in BAG_MEMBERS:
            zf.writestr(name, data)
        for i in range(65_536):
            zf.writestr(f"b/data/{i}", b"")
    assert b"PK\x06\x06" in path.read_bytes()[-200:]
    assert len(check_zip(path)) == 65_538

    wide = tmp_path / "wide.zip"
    with zipfile.ZipFile(wide, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in BAG_MEMBERS:
            zf.writestr(name, data)
        info = zipfile.ZipInfo("b/data/photo.jpg")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as dst:
            dst.write(PHOTO)
    with open_bag(wide, scratch=scratch) as opened:
        assert (opened / "data" / "photo.jpg").read_bytes() == PHOTO


@pytest.mark.parametrize(
    "names",
    [
        ["a/bagit.txt", "b/bagit.txt"],
        ["b/data/x"],
        ["b/BAGIT.TXT", "b/data/x"],
        ["b/inner/bagit.txt"],
    ],
)
def test_not_a_bag_is_refused(names: list[str], tmp_path: Path, scratch: Path) -> None:
    path = zip_of(tmp_path / "nobag.zip", [(n, b"BagIt-Version: 1.0\n") for n in names])
    refused(path, "zip-not-a-bag", scratch)


@pytest.mark.parametrize("content", [b"", b"hello, not a zip", os.urandom(70_000), b"PK\x05\x06"])
def test_not_a_zip_is_refused(content: bytes, tmp_path: Path, scratch: Path) -> None:
    path = tmp_path / "bundle.zip"
    path.write_bytes(content)
    refused(path, "not-a-zip", scratch)


def test_a_truncated_zip_is_refused(bag: Path, tmp_path: Path, scratch: Path) -> None:
    zip_bag(bag, tmp_path / "whole.zip")
    cut = tmp_path / "cut.zip"
    cut.write_bytes((tmp_path / "whole.zip").read_bytes()[:-200])
    refused(cut, "not-a-zip", scratch)


# --- age ----------------------------------------------------------------------------------


@pytest.fixture
def age_key(tmp_path: Path) -> tuple[Path, str]:
    key = tmp_path / "key.txt"
    subprocess.run([tool("age-keygen"), "-o", str(key)], check=True, capture_output=True)
    public = subprocess.run(
        [tool("age-keygen"), "-y", str(key)], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert public.startswith("age1")
    return key, public


@pytest.fixture
def zipped(bag: Path, tmp_path: Path) -> Path:
    out = tmp_path / "bundle.zip"
    zip_bag(bag, out)
    return out


def age_decrypt(path: Path, key: Path) -> bytes:
    return subprocess.run(
        [tool("age"), "-d", "-i", str(key), str(path)], check=True, capture_output=True
    ).stdout


def test_debian_age_decrypts_what_encrypt_for_writes(
    zipped: Path, age_key: tuple[Path, str], tmp_path: Path
) -> None:
    key, public = age_key
    other = tmp_path / "other.txt"
    subprocess.run([tool("age-keygen"), "-o", str(other)], check=True, capture_output=True)
    other_public = subprocess.run(
        [tool("age-keygen"), "-y", str(other)], check=True, capture_output=True, text=True
    ).stdout.strip()
    out = tmp_path / "bundle.zip.age"
    seen: list[tuple[int, int]] = []
    encrypt_for(zipped, out, [public, other_public], progress=lambda d, t: seen.append((d, t)))
    assert out.read_bytes().startswith(b"age-encryption.org/v1\n")
    assert not (tmp_path / "bundle.zip.age.partial").exists()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    size = zipped.stat().st_size
    assert seen[-1] == (size, size)
    assert age_decrypt(out, key) == zipped.read_bytes()
    assert age_decrypt(out, other) == zipped.read_bytes()


def test_an_age_file_opens_as_the_bag_with_its_identity(
    bag: Path, zipped: Path, age_key: tuple[Path, str], tmp_path: Path, scratch: Path
) -> None:
    key, public = age_key
    out = tmp_path / "bundle.zip.age"
    encrypt_for(zipped, out, [public])
    with open_bag(out, identity=key, scratch=scratch) as opened:
        assert tree(opened) == tree(bag)
        bagit.Bag(str(opened)).validate()
        assert [p.name for p in scratch.iterdir()] != []
        assert not list(scratch.rglob("*.zip")), "the decrypted ZIP is gone once extracted"
    assert list(scratch.iterdir()) == []


def test_what_debian_age_encrypts_armored_opens_too(
    bag: Path, zipped: Path, age_key: tuple[Path, str], tmp_path: Path, scratch: Path
) -> None:
    key, public = age_key
    out = tmp_path / "armored.age"
    subprocess.run(
        [tool("age"), "-a", "-r", public, "-o", str(out), str(zipped)],
        check=True,
        capture_output=True,
    )
    with open_bag(out, identity=key, scratch=scratch) as opened:
        assert tree(opened) == tree(bag)


def test_an_ssh_ed25519_recipient_works_both_ways(
    bag: Path, zipped: Path, tmp_path: Path, scratch: Path
) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    key = tmp_path / "id_ed25519"
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    out = tmp_path / "bundle.zip.age"
    encrypt_for(zipped, out, [f"{public} someone@example"])
    assert age_decrypt(out, key) == zipped.read_bytes()
    with open_bag(out, identity=key, scratch=scratch) as opened:
        assert tree(opened) == tree(bag)


def test_a_wrong_identity_is_one_clear_error_and_leaves_nothing(
    zipped: Path, age_key: tuple[Path, str], tmp_path: Path, scratch: Path
) -> None:
    _, public = age_key
    out = tmp_path / "bundle.zip.age"
    encrypt_for(zipped, out, [public])
    wrong = tmp_path / "wrong.txt"
    subprocess.run([tool("age-keygen"), "-o", str(wrong)], check=True, capture_output=True)
    with pytest.raises(ArchiveRefused) as exc, open_bag(out, identity=wrong, scratch=scratch):
        pytest.fail("opened with the wrong key")
    assert exc.value.code == "age-wrong-identity"
    assert list(scratch.iterdir()) == []

    with pytest.raises(ArchiveRefused) as exc, open_bag(out, scratch=scratch):
        pytest.fail("opened without a key")
    assert exc.value.code == "age-identity-needed"

    garbage = tmp_path / "garbage.txt"
    garbage.write_text("# a comment\nAGE-SECRET-KEY-1NOTAKEY\n")
    with pytest.raises(ArchiveRefused) as exc, open_bag(out, identity=garbage, scratch=scratch):
        pytest.fail("opened with garbage")
    assert exc.value.code == "age-bad-identity"
    assert "NOTAKEY" not in str(exc.value), "an identity line is never echoed"


def test_a_damaged_or_cut_age_file_is_refused(
    zipped: Path, age_key: tuple[Path, str], tmp_path: Path, scratch: Path
) -> None:
    key, public = age_key
    out = tmp_path / "bundle.zip.age"
    encrypt_for(zipped, out, [public])
    data = out.read_bytes()
    flipped = bytearray(data)
    flipped[-5000] ^= 1
    for name, content in [("flipped.age", bytes(flipped)), ("cut.age", data[:-70_000])]:
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(ArchiveRefused) as exc, open_bag(bad, identity=key, scratch=scratch):
            pytest.fail("opened a damaged file")
        assert exc.value.code == "age-corrupt", name
        assert list(scratch.iterdir()) == []


def test_an_age_file_holding_a_hostile_zip_is_refused_too(
    age_key: tuple[Path, str], tmp_path: Path, scratch: Path
) -> None:
    key, public = age_key
    hostile = zip_of(tmp_path / "hostile.zip", [*BAG_MEMBERS, ("../../tmp/x", b"pwned")])
    out = tmp_path / "hostile.zip.age"
    encrypt_for(hostile, out, [public])
    with pytest.raises(ArchiveRefused) as exc, open_bag(out, identity=key, scratch=scratch):
        pytest.fail("opened")
    assert exc.value.code == "zip-path-traversal"
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize(
    "recipient",
    ["age1notakey", "", "bob@example.org", "ssh-ed25519 AAAAnotakey", "ssh-dss AAAA"],
)
def test_a_bad_recipient_is_refused_by_name(
    recipient: str, zipped: Path, age_key: tuple[Path, str], tmp_path: Path
) -> None:
    _, public = age_key
    out = tmp_path / "bundle.zip.age"
    with pytest.raises(ArchiveRefused) as exc:
        encrypt_for(zipped, out, [public, recipient])
    assert exc.value.code == "age-bad-recipient"
    assert repr(recipient) in str(exc.value)
    assert list(tmp_path.glob("bundle.zip.age*")) == []


def test_a_secret_key_given_as_a_recipient_is_refused_without_echoing_it(
    zipped: Path, age_key: tuple[Path, str], tmp_path: Path
) -> None:
    key, _ = age_key
    secret = next(line for line in key.read_text().splitlines() if line.startswith("AGE-SECRET"))
    with pytest.raises(ArchiveRefused) as exc:
        encrypt_for(zipped, tmp_path / "x.age", [secret])
    assert exc.value.code == "age-bad-recipient"
    assert secret not in str(exc.value) and secret[15:40] not in str(exc.value)
    with pytest.raises(ArchiveRefused) as exc:
        encrypt_for(zipped, tmp_path / "x.age", [])
    assert exc.value.code == "age-bad-recipient"
