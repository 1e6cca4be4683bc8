"""Delivering envelopes to a real server, resuming a cut-off upload
(service/courier/upload.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testimony.crypto import hpke
from testimony.crypto.receipts import verify_receipt
from testimony.forms import Consent, bundled_forms
from testimony.service.courier.seal import seal_envelope
from testimony.service.courier.upload import Courier, receipt_path, state_path

from .support import INTAKE_SEED, LiveServer

KORDAI = bundled_forms().latest("kordai-2020").definition
CUT_AFTER = (3 << 20) + 12345


class _CutStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, after: int) -> None:
        self.inner, self.after = inner, after

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        for chunk in self.inner:
            if sent + len(chunk) >= self.after:
                yield chunk[: self.after - sent]
                raise httpx.WriteError("the connection was cut")
            sent += len(chunk)
            yield chunk


class CuttingTransport(httpx.BaseTransport):
    """Cuts the first PATCH after ``after`` bytes; records every PATCH's offset."""

    def __init__(self, after: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.after = after
        self.cut = False
        self.patch_offsets: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            self.patch_offsets.append(int(request.headers["upload-offset"]))
            if not self.cut:
                self.cut = True
                assert isinstance(request.stream, httpx.SyncByteStream)
                request.stream = _CutStream(request.stream, self.after)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class RecordingTransport(CuttingTransport):
    def __init__(self) -> None:
        super().__init__(after=0)
        self.cut = True


@pytest.mark.slow
def test_a_cut_off_upload_resumes_from_the_servers_offset(live: LiveServer, tmp_path: Path) -> None:
    video = tmp_path / "video.mp4"
    video.write_bytes(os.urandom(6 << 20))
    envelope = seal_envelope(
        form=KORDAI,
        intake_public_key=hpke.public_key(INTAKE_SEED),
        lang="ru",
        answers={"narrative": "Горели дома."},
        consent=Consent(share_with=frozenset(), contact=False),
        attachments=[video],
        out=tmp_path / "one.testimony",
    ).path

    first = CuttingTransport(CUT_AFTER)
    with Courier(live.url, transport=first) as courier:
        failed = courier.deliver(envelope)
    assert failed.status == "failed" and failed.error is not None
    assert not receipt_path(envelope).exists()
    state = json.loads(state_path(envelope).read_text())
    (entry,) = state["uploads"].values()
    assert set(state) == {"uploads"} and set(entry) == {"url", "offset"}

    second = RecordingTransport()
    with Courier(live.url, transport=second) as courier:
        delivered = courier.deliver(envelope)
    assert delivered.status == "resumed", delivered.error
    # The second run began where the server said the first one stopped.
    assert second.patch_offsets and 0 < second.patch_offsets[0] <= CUT_AFTER
    receipt = json.loads(receipt_path(envelope).read_text())
    from testimony.service.courier.envelope import read_envelope

    verified = verify_receipt(receipt, live.log_key(), request=read_envelope(envelope).request)
    assert verified.id == delivered.receipt_id
    assert not state_path(envelope).exists()


@pytest.mark.slow
def test_a_server_restarted_mid_file_on_the_same_data_is_resumed(
    live: LiveServer, tmp_path: Path
) -> None:
    from .support import start_server

    video = tmp_path / "clip.mp4"
    video.write_bytes(os.urandom(5 << 20))
    envelope = seal_envelope(
        form=KORDAI,
        intake_public_key=hpke.public_key(INTAKE_SEED),
        lang="ru",
        answers={"narrative": "Стреляли."},
        consent=Consent(share_with=frozenset({"prosecutor"}), contact=True),
        attachments=[video],
        out=tmp_path / "two.testimony",
    ).path
    with Courier(live.url, transport=CuttingTransport(CUT_AFTER)) as courier:
        assert courier.deliver(envelope).status == "failed"
    port = int(live.url.rsplit(":", 1)[1])
    live.stop()
    restarted = start_server(live.data_dir, live.output, port=port)
    try:
        with Courier(restarted.url) as courier:
            delivered = courier.deliver(envelope)
        assert delivered.status == "resumed", delivered.error
        with Courier(restarted.url) as courier:
            again = courier.deliver(envelope)
        assert again.status == "already" and again.receipt_id == delivered.receipt_id
    finally:
        restarted.stop()
