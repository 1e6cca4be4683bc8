"""Reading and writing §4 envelopes strictly (service/courier/envelope.py)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from testimony.crypto.encoding import b64u_decode
from testimony.service.courier.envelope import read_envelope, write_envelope
from testimony.service.courier.errors import EnvelopeInvalid
from tests.vectors.loader import path as vector_path

from .support import VECTOR

VECTOR_ENVELOPE = vector_path("testimony/submission.testimony")


def test_the_independent_vector_envelope_reads_to_its_request_and_blobs() -> None:
    envelope = read_envelope(VECTOR_ENVELOPE)
    assert envelope.request == VECTOR["request"]
    assert set(envelope.blobs) == set(VECTOR["blobs"])
    for blob in envelope.blobs:
        with envelope.open_blob(blob) as member:
            assert member.read() == b64u_decode(VECTOR["blobs"][blob])


def members(**overrides: bytes | None) -> dict[str, bytes]:
    """The vector's members, with some replaced (None removes one)."""
    with zipfile.ZipFile(VECTOR_ENVELOPE) as archive:
        result = {name: archive.read(name) for name in archive.namelist()}
    for name, data in overrides.items():
        if data is None:
            result.pop(name.replace("__", "/"), None)
        else:
            result[name.replace("__", "/")] = data
    return result


def write_zip(
    path: Path, entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED
) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return path


BLOB = next(iter(VECTOR["blobs"]))
SMALL_BLOB = "d811ced836f27789474ce0b6f5b9f9dce8e26140a179a4971a7dd400e38f384a"


def _request_with(**changes: object) -> bytes:
    request = dict(VECTOR["request"])
    request.update(changes)
    return json.dumps(request).encode()


MALFORMED = {
    "unknown member": lambda: [*members().items(), ("notes.txt", b"hello")],
    "path traversal": lambda: [*members().items(), ("blobs/../../evil", b"x")],
    "absolute path": lambda: [*members().items(), ("/etc/evil", b"x")],
    "duplicate name": lambda: [*members().items(), ("request.json", members()["request.json"])],
    "missing blob": lambda: list(members(**{f"blobs__{SMALL_BLOB}": None}).items()),
    "unnamed blob": lambda: [*members().items(), ("blobs/" + "ab" * 32, b"x")],
    "blob hash differs": lambda: list(members(**{f"blobs__{SMALL_BLOB}": b"not the blob"}).items()),
    "no request": lambda: [(k, v) for k, v in members().items() if k != "request.json"],
    "request with pow": lambda: list(
        members(request__json=_request_with(pow={"challenge": "AA", "nonce": "AA"})).items()
    ),
    "request not JSON": lambda: list(members(request__json=b"{").items()),
    "request with duplicate key": lambda: list(
        members(request__json=b'{"intake_key": "a", "intake_key": "b"}').items()
    ),
    "request with a short header": lambda: list(
        members(request__json=_request_with(header="AAAA")).items()
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_each_strictness_rule_refuses_its_envelope(tmp_path: Path, case: str) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name it writes
        path = write_zip(tmp_path / "bad.testimony", MALFORMED[case]())
    with pytest.raises(EnvelopeInvalid):
        read_envelope(path)


def test_a_compressed_member_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "deflated.testimony", list(members().items()), zipfile.ZIP_DEFLATED)
    with pytest.raises(EnvelopeInvalid, match="compressed"):
        read_envelope(path)


def test_a_file_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.testimony"
    path.write_bytes(b"PK not really")
    with pytest.raises(EnvelopeInvalid, match="not a ZIP"):
        read_envelope(path)


def test_written_envelopes_are_stored_undated_and_read_back(tmp_path: Path) -> None:
    blobs = {}
    for blob, data in VECTOR["blobs"].items():
        blobs[blob] = tmp_path / blob
        blobs[blob].write_bytes(b64u_decode(data))
        assert hashlib.sha256(blobs[blob].read_bytes()).hexdigest() == blob
    out = write_envelope(tmp_path / "copy.testimony", VECTOR["request"], blobs)
    with zipfile.ZipFile(out) as archive:
        infos = archive.infolist()
    assert infos[0].filename == "request.json"
    assert {info.compress_type for info in infos} == {zipfile.ZIP_STORED}
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert read_envelope(out).request == VECTOR["request"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_writing_refuses_blobs_the_request_does_not_name(tmp_path: Path) -> None:
    stray = tmp_path / "stray"
    stray.write_bytes(b"x")
    with pytest.raises(EnvelopeInvalid):
        write_envelope(tmp_path / "x.testimony", VECTOR["request"], {"ab" * 32: stray})
    assert not (tmp_path / "x.testimony").exists()
