"""A witness's files (docs/workstation.md "Daily triage"): the original kept
sealed and given back byte-exact; images shown only as a re-encoded safe copy
without metadata, decompression bombs refused before any pixel is decoded;
every other type offered for export only; nothing decrypted written outside
the cache but to a file the reviewer names."""

from __future__ import annotations

import io
import stat
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from testimony.workstation import attachments, triage
from testimony.workstation.attachments import UnsafeFile, make_safe_copy
from testimony.workstation.home import WorkstationError
from tests.workstation import triage_fixtures as fixtures
from tests.workstation.triage_fixtures import FakeServer, Workstation, identity

ME = identity(1)
CANARY = "CANARY-EXIF Айгуль, Масанчи, 42.93N 75.30E"


def _jpeg_with_exif(width: int = 40, height: int = 20, orientation: int = 6) -> bytes:
    image = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation: rotate 90° to display
    exif[0x010E] = CANARY  # ImageDescription
    exif[0x010F] = "CANARY-MAKE"  # Make
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), comment=b"CANARY-COMMENT")
    return out.getvalue()


def _png_with_text_and_alpha() -> bytes:
    from PIL import PngImagePlugin

    image = Image.new("RGBA", (30, 10), (0, 0, 255, 128))
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "CANARY-PNG-TEXT")
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` by ``height`` pixels and holds (almost) nothing."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_a_safe_copy_is_re_encoded_upright_and_without_metadata() -> None:
    original = _jpeg_with_exif()
    copy = make_safe_copy(original)
    assert copy.media_type == "image/jpeg" and (copy.width, copy.height) == (20, 40)
    assert copy.data != original
    for needle in (CANARY.encode(), b"CANARY", b"Exif"):
        assert needle not in copy.data
    with Image.open(io.BytesIO(copy.data)) as shown:
        assert shown.size == (20, 40) and not shown.getexif() and "exif" not in shown.info
        red = shown.convert("RGB").getpixel((10, 20))
        assert isinstance(red, tuple) and red[0] > 150


def test_transparency_gives_a_png_and_text_chunks_are_gone() -> None:
    copy = make_safe_copy(_png_with_text_and_alpha())
    assert copy.media_type == "image/png" and b"CANARY" not in copy.data
    with Image.open(io.BytesIO(copy.data)) as shown:
        assert shown.mode == "RGBA" and shown.info.get("Comment") is None


def test_an_animation_gives_its_first_frame_and_a_large_image_is_scaled() -> None:
    frames = [Image.new("P", (16, 16), n) for n in range(3)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    copy = make_safe_copy(out.getvalue())
    assert (copy.width, copy.height) == (16, 16)
    big = io.BytesIO()
    Image.new("L", (5000, 100)).save(big, format="PNG")
    scaled = make_safe_copy(big.getvalue())
    assert scaled.width == attachments.DISPLAY_SIDE and scaled.height == 82


@pytest.mark.parametrize(("width", "height"), [(9000, 9000), (30000, 30000), (25000, 10)])
def test_a_decompression_bomb_is_refused_before_decoding(width: int, height: int) -> None:
    bomb = _png_header_only(width, height)
    assert len(bomb) < 200
    with pytest.raises(UnsafeFile) as caught:
        make_safe_copy(bomb)
    assert caught.value.code == "decompression-bomb"


@pytest.mark.parametrize(
    "data",
    [
        b"<html><script>alert(1)</script></html>",
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        b"%PDF-1.7\n",
        b"\xff\xd8\xff\xe0 not really a JPEG",
    ],
)
def test_what_is_no_image_is_never_decoded_as_one(data: bytes) -> None:
    with pytest.raises(UnsafeFile) as caught:
        make_safe_copy(data)
    assert caught.value.code == "not-a-safe-image"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workstation]:
    workstation = Workstation(tmp_path / "ws", ME)
    yield workstation
    workstation.close()


FILES = [
    (_jpeg_with_exif(), "IMG_0412.jpg", "image/jpeg"),
    (b"%PDF-1.7 CANARY-PDF statement of the village council", "справка.pdf", "application/pdf"),
    (b"<svg onload='alert(1)'/>", "map.svg", "image/svg+xml"),
]


def test_the_original_is_given_back_byte_exact_and_checked(ws: Workstation) -> None:
    testimony = ws.submission(files=FILES)
    triage.refresh(ws.cache)
    listed = attachments.attachments(ws.cache, testimony)
    assert [(a.number, a.name, a.media_type, a.image) for a in listed] == [
        (1, "IMG_0412.jpg", "image/jpeg", True),
        (2, "справка.pdf", "application/pdf", False),
        (3, "map.svg", "image/svg+xml", False),
    ]
    for number, (data, _, _) in enumerate(FILES, 1):
        assert attachments.original(ws.cache, testimony, number)[1] == data
    # A blob altered in the cache, a blob missing, a number that is none: one clear error each.
    blob = listed[1].blob
    ws.cache.put_blob(blob, b"\x00" * 100)
    with pytest.raises(WorkstationError) as caught:
        attachments.original(ws.cache, testimony, 2)
    assert caught.value.code == "attachment-damaged"
    ws.cache.execute("DELETE FROM blobs WHERE id = ?", (blob,))
    with pytest.raises(WorkstationError) as caught:
        attachments.original(ws.cache, testimony, 2)
    assert caught.value.code == "attachment-not-cached"
    with pytest.raises(WorkstationError) as caught:
        attachments.original(ws.cache, testimony, 4)
    assert caught.value.code == "unknown-attachment"


def test_the_safe_copy_is_made_once_and_kept_in_the_cache(ws: Workstation) -> None:
    testimony = ws.submission(files=FILES)
    triage.refresh(ws.cache)
    copy = attachments.safe_copy(ws.cache, testimony, 1)
    assert attachments.safe_copy(ws.cache, testimony, 1) == copy
    assert ws.cache.query("SELECT count(*) FROM ws_safe_copies") == [(1,)]
    with pytest.raises(UnsafeFile):
        attachments.safe_copy(ws.cache, testimony, 3)  # an SVG is offered for export only


def test_an_export_never_overwrites_and_is_private(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    attachments.export(b"data", target)
    assert target.read_bytes() == b"data"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        attachments.export(b"other", target)
    assert target.read_bytes() == b"data"


@pytest.fixture
def desk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Workstation, FakeServer]]:
    workstation, server = fixtures.desk(tmp_path, monkeypatch)
    yield workstation, server
    workstation.close()


def test_show_lists_the_files_and_export_writes_only_where_told(
    desk: tuple[Workstation, FakeServer], tmp_path: Path
) -> None:
    workstation, _ = desk
    testimony = workstation.submission(files=FILES)
    shown = fixtures.command(workstation, "review", "show", testimony[:8])
    assert "1. IMG_0412.jpg  image/jpeg" in shown.stdout and "[image: --safe-copy" in shown.stdout
    assert "2. справка.pdf  application/pdf" in shown.stdout and "[export only]" in shown.stdout
    assert "3. map.svg  image/svg+xml" in shown.stdout
    assert "attachment 1; attachment 2; attachment 3" in shown.stdout  # the answer naming them
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    safe = tmp_path / "photo-safe.jpg"
    result = fixtures.command(
        workstation,
        "review",
        "export-attachment",
        testimony[:8],
        "1",
        "--to",
        str(safe),
        "--safe-copy",
    )
    assert result.exit_code == 0, result.output
    assert CANARY.encode() not in safe.read_bytes()
    pdf = tmp_path / "statement.pdf"
    result = fixtures.command(
        workstation, "review", "export-attachment", testimony[:8], "2", "--to", str(pdf)
    )
    assert result.exit_code == 0 and pdf.read_bytes() == FILES[1][0]
    again = fixtures.command(
        workstation, "review", "export-attachment", testimony[:8], "2", "--to", str(pdf)
    )
    assert again.exit_code == 1 and again.stderr.strip().endswith("(file-exists)")
    refused = fixtures.command(
        workstation,
        "review",
        "export-attachment",
        testimony[:8],
        "3",
        "--to",
        str(tmp_path / "m.png"),
        "--safe-copy",
    )
    assert refused.exit_code == 1 and refused.stderr.strip().endswith("(not-a-safe-image)")
    # Nothing else was written, and nothing decrypted is on disk in the clear but those two files.
    after = {p for p in tmp_path.rglob("*") if p.is_file()}
    written = {p for p in after - before if p.parent != workstation.home}
    assert written == {safe, pdf}
    in_home = b"".join(p.read_bytes() for p in workstation.home.iterdir() if p.is_file())
    for needle in (b"CANARY-PDF", CANARY.encode(), b"CANARY-MAKE"):
        assert needle not in in_home
