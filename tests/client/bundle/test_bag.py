"""The streaming BagIt writer and the bag reader (client/bundle/bag.py): bags the
Library of Congress ``bagit`` tool validates, file names as RFC 8493 writes
them, a large file written without ever being held in memory, and every
problem the reader reports."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import bagit
import pytest

from testimony.client.bundle import bag as bags
from testimony.client.bundle.bag import BagWriteError, BagWriter, check_bag, read_bag

INFO = {
    "Source-Organization": "Test organisation",
    "Bagging-Date": "2026-11-25",
    "External-Identifier": "bundle-1",
}


def _bag(root: Path, files: dict[str, bytes], *, tags: dict[str, bytes] | None = None) -> str:
    writer = BagWriter(root, INFO)
    for path, data in files.items():
        writer.add_bytes(path, data)
    manifest = writer.finish_payload()
    for name, data in (tags or {}).items():
        writer.add_tag_file(name, data)
    writer.close()
    return manifest


def test_a_written_bag_is_valid_for_bagit_and_for_the_reader(tmp_path: Path) -> None:
    root = tmp_path / "bag"
    files = {
        "bundle.json": b"{}",
        "testimonies/ab/files/0-Масанчи.jpg": os.urandom(3000),
        "testimonies/ab/files/1-e\u0301te\u0301 line\nbreak.txt": b"x",  # NFC, LF encoded
        "empty": b"",
    }
    manifest = _bag(root, files, tags={"export-receipt.json": b'{"id": 1}'})
    assert manifest == hashlib.sha256((root / "manifest-sha256.txt").read_bytes()).hexdigest()
    assert check_bag(root) == []
    lib = bagit.Bag(str(root))
    lib.validate()
    assert lib.info["Payload-Oxum"] == f"{sum(map(len, files.values()))}.{len(files)}"
    assert lib.info["External-Identifier"] == "bundle-1"
    assert (root / "bagit.txt").read_text() == (
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    )
    lines = (root / "manifest-sha256.txt").read_text().splitlines()
    assert any(
        line.endswith("data/testimonies/ab/files/1-\u00e9t\u00e9 line%0Abreak.txt")
        for line in lines
    )
    tagged = (root / "tagmanifest-sha256.txt").read_text()
    for name in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt", "export-receipt.json"):
        assert f" {name}\n" in tagged


def test_a_percent_sign_is_encoded_as_rfc_8493_says(tmp_path: Path) -> None:
    root = tmp_path / "bag"
    _bag(root, {"files/0-100% true.txt": b"x"})
    assert "data/files/0-100%25 true.txt" in (root / "manifest-sha256.txt").read_text()
    assert check_bag(root) == []
    assert read_bag(root).payload["files/0-100% true.txt"][1] == 1


def _gigantic(size: int) -> Iterator[bytes]:
    block = os.urandom(bags.CHUNK)
    for _ in range(size // bags.CHUNK):
        yield block


def test_a_large_file_is_never_held_in_memory(tmp_path: Path) -> None:
    size = 96 * bags.CHUNK
    source = tmp_path / "large.bin"
    with open(source, "wb") as handle:
        for block in _gigantic(size):
            handle.write(block)
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    writer = BagWriter(tmp_path / "bag", INFO)
    tracemalloc.start()
    try:
        assert writer.add_file("files/0-large.bin", source) == expected
        writer.add_chunks("files/1-stream.bin", _gigantic(size))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * bags.CHUNK, peak  # a few chunks, not 96 MiB
    writer.finish_payload()
    writer.close()
    assert check_bag(tmp_path / "bag") == []


def test_a_writer_refuses_what_a_bag_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(FileExistsError):
        BagWriter(tmp_path, INFO)
    writer = BagWriter(tmp_path / "bag", INFO)
    writer.add_bytes("a.txt", b"a")
    for bad in ("a.txt", "../x", "/etc/passwd", "a//b", "./a", "", "x\x00y"):
        with pytest.raises(BagWriteError):
            writer.add_bytes(bad, b"b")
    assert not (tmp_path / "x").exists()
    for reserved in ("bagit.txt", "manifest-md5.txt", "tagmanifest-sha256.txt", "data/x"):
        with pytest.raises(BagWriteError):
            writer.add_tag_file(reserved, b"")
    with pytest.raises(BagWriteError):
        writer.close()  # the payload is not finished
    writer.finish_payload()
    with pytest.raises(BagWriteError):
        writer.add_bytes("late.txt", b"")
    with pytest.raises(BagWriteError):
        BagWriter(tmp_path / "other", {"Payload-Oxum": "1.1"})
    with pytest.raises(BagWriteError):
        BagWriter(tmp_path / "other", {"Source-Organization": "two\nlines"})


def test_a_stream_that_fails_leaves_no_file(tmp_path: Path) -> None:
    writer = BagWriter(tmp_path / "bag", INFO)

    def failing() -> Iterator[bytes]:
        yield b"some plaintext"
        raise ValueError("the tag did not verify")

    with pytest.raises(ValueError):
        writer.add_chunks("files/0-x", failing())
    assert not (tmp_path / "bag" / "data" / "files" / "0-x").exists()
    assert "files/0-x" not in writer.payload


def _messages(root: Path) -> list[str]:
    return [f"{p.path}: {p.message}" for p in check_bag(root)]


def test_the_reader_reports_every_problem(tmp_path: Path) -> None:
    root = tmp_path / "bag"
    _bag(root, {"a.txt": b"a", "b.txt": b"b"}, tags={"receipt.json": b"{}"})
    (root / "data" / "a.txt").write_bytes(b"AA")  # changed (and longer)
    (root / "data" / "b.txt").unlink()  # gone
    (root / "data" / "c.txt").write_bytes(b"c")  # not listed
    (root / "receipt.json").write_bytes(b"[]")  # a tag file changed
    (root / "extra.txt").write_bytes(b"")  # a tag file not listed
    os.symlink("/etc/passwd", root / "data" / "link")
    (root / "fetch.txt").write_text("http://example.org/x 1 data/x\n")
    found = "\n".join(_messages(root))
    for expected in (
        "data/a.txt: does not match its SHA-256",
        "data/b.txt: is in manifest-sha256.txt but missing",
        "data/c.txt: is not in manifest-sha256.txt",
        "receipt.json: does not match its SHA-256 in tagmanifest-sha256.txt",
        "extra.txt: is a tag file missing from the tag manifest",
        "data/link: is a symbolic link",
        "fetch.txt: is present",
        "Payload-Oxum",
    ):
        assert expected in found, found


def test_the_reader_refuses_bad_manifests_and_bag_info(tmp_path: Path) -> None:
    root = tmp_path / "bag"
    _bag(root, {"a.txt": b"a"})
    digest = hashlib.sha256(b"a").hexdigest()
    (root / "manifest-sha256.txt").write_text(
        f"{digest} data/a.txt\n{digest} data/a.txt\n{digest} data/../../x\nnot a line\n"
    )
    (root / "bag-info.txt").write_text("Source-Organization: x\nBagging-Date: 2026-13-45\n")
    (root / "bagit.txt").write_text("BagIt-Version: 0.97\n")
    (root / "manifest-md5.txt").write_text("")
    found = "\n".join(_messages(root))
    for expected in (
        "names data/a.txt twice",
        "names a path outside the bag",
        "has a line that is no `<sha256> <path>`",
        "`Bagging-Date` is no YYYY-MM-DD day",
        "has no `External-Identifier`",
        "does not say `BagIt-Version: 1.0`",
        "manifest-md5.txt: only SHA-256 manifests are allowed",
    ):
        assert expected in found, found
    assert check_bag(tmp_path / "nothing") != []
