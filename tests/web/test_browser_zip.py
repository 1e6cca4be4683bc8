"""The browser's envelope writer (``zip-store.js``, docs/protocol.md §4): what it
writes, plain or ZIP64, is read by ``read_envelope`` (the judge), Python's
``zipfile`` and Info-ZIP's ``unzip -t``, byte for byte.

An envelope passes 4 GiB with a few long videos (the server takes blobs up to
4 GiB each); writing gigabytes in a test would take minutes, so the writer's
``zip64At`` brings the ZIP64 layout down to a few hundred bytes: the same
code paths, with every size, offset and end record in its 64-bit form.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from testimony.crypto import hpke, submission
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.service.courier.envelope import read_envelope

pytestmark = pytest.mark.slow

INTAKE_PUBLIC = hpke.public_key(bytes(range(7, 39)))
MANIFEST_BASE = {
    "v": 1,
    "form": {"id": "kordai-2020", "version": 1, "sha256": "ab" * 32},
    "lang": "ru",
    "answers": {"what": "Ночью горели дома"},
    "consent": {"share_with": [], "contact": False},
}


def _members() -> list[tuple[str, bytes]]:
    attachments = [
        submission.seal_attachment(
            bytes([n]) * (300 + 97 * n), name=f"{n}.jpg", media_type="image/jpeg"
        )
        for n in range(3)
    ]
    manifest = {**MANIFEST_BASE, "attachments": [a.descriptor for a in attachments]}
    request = submission.seal_submission(INTAKE_PUBLIC, manifest).request(
        attachments=[a.blob for a in attachments]
    )
    return [
        ("request.json", json.dumps(request, ensure_ascii=False).encode()),
        *((f"blobs/{a.blob}", a.ciphertext) for a in attachments),
    ]


def _zip_in_browser(page: Any, members: list[tuple[str, bytes]], zip64_at: int | None) -> bytes:
    encoded = page.evaluate(
        """async ({members, zip64At}) => {
          const parts = members.map(([name, data]) => ({name, data: t.dec(data)}));
          const options = zip64At === null ? {} : {zip64At};
          return t.read(await seal.storedZip(parts, "application/octet-stream", options));
        }""",
        {"members": [[n, b64u_encode(d)] for n, d in members], "zip64At": zip64_at},
    )
    return b64u_decode(encoded)


def _check_readers(path: Path, members: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert [(i.filename, archive.read(i)) for i in archive.infolist()] == members
        for info in archive.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
    envelope = read_envelope(path)
    assert envelope.request == json.loads(members[0][1])
    for name, data in members[1:]:
        blob_id = name.removeprefix("blobs/")
        with envelope.open_blob(blob_id) as blob:
            stored = blob.read()
        assert stored == data and hashlib.sha256(stored).hexdigest() == blob_id
    if shutil.which("unzip"):
        tested = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True)
        assert tested.returncode == 0, tested.stdout + tested.stderr


def _end_records(data: bytes) -> tuple[bool, bool]:
    """(ZIP64 end record present, ZIP64 locator present), found where they must be."""
    end = data.rindex(b"PK\x05\x06")
    locator = end - 20
    has_locator = data[locator : locator + 4] == b"PK\x06\x07"
    has_record = False
    if has_locator:
        (record_offset,) = struct.unpack_from("<Q", data, locator + 8)
        has_record = data[record_offset : record_offset + 4] == b"PK\x06\x06"
    return has_record, has_locator


def test_a_small_envelope_is_plain_zip(page: Any, tmp_path: Path) -> None:
    members = _members()
    data = _zip_in_browser(page, members, None)
    assert _end_records(data) == (False, False)
    assert b"\x01\x00\x10\x00" not in data  # no ZIP64 extra field (id 1, 16 bytes)
    path = tmp_path / "small.testimony"
    path.write_bytes(data)
    _check_readers(path, members)


def test_an_envelope_past_the_32_bit_limits_is_zip64(page: Any, tmp_path: Path) -> None:
    """Sizes and offsets at or above ``zip64At`` take their 64-bit forms."""
    members = _members()
    data = _zip_in_browser(page, members, 400)
    assert _end_records(data) == (True, True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
    # Members of 400 bytes or more carry their sizes in the ZIP64 extra field,
    # those from offset 400 on their offset; the first (small, at 0) neither.
    for info in infos:
        big_size = info.file_size >= 400
        big_offset = info.header_offset >= 400
        assert (b"\x01\x00" in info.extra[:2]) == (big_size or big_offset), info.filename
        signature, version = struct.unpack_from("<IH", data, info.header_offset)
        size, _, _, extra_length = struct.unpack_from("<IIHH", data, info.header_offset + 18)
        assert signature == 0x04034B50
        # A ZIP64 local header: both sizes 0xffffffff, and in a 20-byte extra field.
        assert (size == 0xFFFFFFFF) == big_size
        assert version == (45 if big_size else 20)
        assert extra_length == (20 if big_size else 0)
    assert any(i.header_offset >= 400 for i in infos) and any(i.file_size >= 400 for i in infos)
    path = tmp_path / "zip64.testimony"
    path.write_bytes(data)
    _check_readers(path, members)
