"""service/api/tus.py: the tus headers read into plain values for the domain
(docs/protocol.md §6): the blob id of ``Upload-Metadata``'s ``sha256`` member
and the creation's proof of work from its ``pow`` member."""

from __future__ import annotations

import base64

import pytest

from testimony.service.api.tus import UploadMetadata, parse_metadata, whole_number
from testimony.service.domain.errors import MalformedUpload

SHA = base64.b64encode(b"ab" * 32).decode()
BLOB = "ab" * 32


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"sha256 {SHA}", BLOB),
        (f"filename eC5qcGc=,sha256 {SHA}", BLOB),
        (f"sha256 {SHA},flag", BLOB),
        ("sha256 NjE2MjYz", None),
        (f"sha256 {SHA},sha256 {SHA}", None),
        (f"sha256  {SHA}", None),
        ("", None),
        (None, None),
    ],
)
def test_upload_metadata_names_the_blob(header: str | None, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(MalformedUpload):
            parse_metadata(header)
    else:
        assert parse_metadata(header) == UploadMetadata(expected, None)


@pytest.mark.parametrize(
    ("member", "proof"),
    [
        (f"pow {_b64('AAEC:AAAAAAAAAAA')}", {"challenge": "AAEC", "nonce": "AAAAAAAAAAA"}),
        (f"pow {_b64('AAEC:')}", {"challenge": "AAEC", "nonce": ""}),
        # Present but not a challenge and a nonce: the domain refuses it (403
        # pow-invalid) when it asks for work, and ignores it when it does not.
        ("pow", {}),
        ("pow !!!!", {}),
        (f"pow {_b64('no colon')}", {}),
        (f"pow {_b64('a:b:c')}", {}),
        (f"pow {base64.b64encode('é:x'.encode()).decode()}", {}),
    ],
)
def test_the_pow_member_is_the_creations_proof_of_work(member: str, proof: dict[str, str]) -> None:
    assert parse_metadata(f"sha256 {SHA},{member}") == UploadMetadata(BLOB, proof)
    assert parse_metadata(f"{member},sha256 {SHA}").proof == proof


@pytest.mark.parametrize("text", [None, "", "-1", "1.0", "+1", " 1", "١", "1" * 20])
def test_a_length_or_offset_is_a_whole_number(text: str | None) -> None:
    with pytest.raises(MalformedUpload):
        whole_number(text, "Upload-Length")


def test_whole_numbers_are_read() -> None:
    assert whole_number("0", "Upload-Offset") == 0
    assert whole_number("9" * 19, "Upload-Length") == int("9" * 19)
