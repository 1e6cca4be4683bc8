"""Resumable upload of sealed attachments (docs/protocol.md §6) with ``uploadBlob``
(tus-js-client) against a minimal tus endpoint: the bytes and the
``Upload-Metadata: sha256 <base64 of hex>`` the server needs, the creation's
proof of work (``pow <base64 of "<challenge>:<nonce>">``, asked for with
``GET /api/v1/pow?length=``) and a fresh one when a creation's is refused, and
a resume from the last acknowledged byte after the connection drops mid-PATCH."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from testimony.crypto import submission
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.pow import leading_zero_bits
from tests.web.tus import TusServer

# Every test here drives headless Chromium; together they take well over 5 s.
pytestmark = pytest.mark.slow

UPLOAD = """async ({size, chunkSize}) => {
  const s = window.seal;
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, size)));
  const sealed = await s.sealAttachment(new Blob([data]), {name: "video.mp4", type: "video/mp4"});
  const progress = [];
  const url = await s.uploadBlob(sealed.ciphertext, sealed.blob, {
    chunkSize, retryDelays: [0, 10], onProgress: (sent, total) => progress.push([sent, total]),
  });
  return {url, blob: sealed.blob, descriptor: sealed.descriptor, plaintext: t.enc(data),
          size: sealed.ciphertext.size, lastProgress: progress.at(-1)};
}"""


def _upload_of(tus_server: TusServer, url: str) -> Any:
    return tus_server.uploads[url.rsplit("/", 1)[1]]


def test_a_sealed_attachment_uploads_with_its_hash_as_metadata(
    page: Any, tus_server: TusServer
) -> None:
    result = page.evaluate(UPLOAD, {"size": 700_000, "chunkSize": 256 * 1024})
    upload = _upload_of(tus_server, result["url"])
    assert upload.metadata == {"sha256": result["blob"]}
    assert hashlib.sha256(upload.data).hexdigest() == result["blob"]
    assert len(upload.data) == upload.length == result["size"]
    assert result["lastProgress"] == [result["size"], result["size"]]
    plaintext = b64u_decode(result["plaintext"])
    assert submission.open_attachment(result["descriptor"], bytes(upload.data)) == plaintext


def test_an_interrupted_upload_resumes_from_the_last_acknowledged_byte(
    page: Any, tus_server: TusServer
) -> None:
    tus_server.drop_after = 300_000
    result = page.evaluate(UPLOAD, {"size": 3_000_000, "chunkSize": 1 << 20})
    upload = _upload_of(tus_server, result["url"])
    assert tus_server.drop_after is None  # the connection was dropped once
    # The browser may resend the cut PATCH as it was (Chromium retries a request
    # whose reused connection was reset); the server refuses it (409). The
    # client then asks for the offset and goes on exactly where the server's
    # bytes end.
    resumed = [offset for offset in upload.patches if offset]
    assert resumed[0] == 300_000, upload.patches
    assert set(upload.patches[: upload.patches.index(300_000)]) == {0}
    assert hashlib.sha256(upload.data).hexdigest() == result["blob"]
    assert submission.open_attachment(result["descriptor"], bytes(upload.data)) == b64u_decode(
        result["plaintext"]
    )


@contextlib.contextmanager
def _asking_work(tus_server: TusServer, bits: int) -> Iterator[None]:
    tus_server.pow_bits = bits
    try:
        yield
    finally:
        tus_server.pow_bits, tus_server.refuse_next_pow = 0, None


def test_a_creation_carries_the_proof_of_work_asked_for_its_length(
    page: Any, tus_server: TusServer
) -> None:
    asked = len(tus_server.pow_lengths)
    with _asking_work(tus_server, 8):
        result = page.evaluate(UPLOAD, {"size": 100_000, "chunkSize": 1 << 20})
    upload = _upload_of(tus_server, result["url"])
    assert tus_server.pow_lengths[asked:] == [result["size"]]
    assert set(upload.metadata) == {"sha256", "pow"}
    assert upload.metadata["sha256"] == result["blob"]
    challenge, nonce = upload.metadata["pow"].split(":")
    digest = hashlib.sha256(b64u_decode(challenge) + b64u_decode(nonce)).digest()
    assert leading_zero_bits(digest) >= 8
    assert hashlib.sha256(upload.data).hexdigest() == result["blob"]


def test_a_refused_proof_is_replaced_and_the_creation_sent_again(
    page: Any, tus_server: TusServer
) -> None:
    asked, refused = len(tus_server.pow_lengths), len(tus_server.refused)
    with _asking_work(tus_server, 4):
        tus_server.refuse_next_pow = "pow-expired"
        result = page.evaluate(UPLOAD, {"size": 50_000, "chunkSize": 1 << 20})
    assert tus_server.refused[refused:] == ["pow-expired"]
    assert tus_server.pow_lengths[asked:] == [result["size"]] * 2
    upload = _upload_of(tus_server, result["url"])
    assert hashlib.sha256(upload.data).hexdigest() == result["blob"]
