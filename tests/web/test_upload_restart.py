"""An attachment's upload survives the server being killed and started again
mid-file (issue 5; docs/protocol.md §6): Chromium runs the sealing module's
``uploadBlob`` (tus-js-client) against a real ``testimony serve``; the server
is killed with SIGKILL once part of the file is on disk and started again on
the same port and data dir; the client asks for the offset and goes on from
there, and the finished blob is the exact ciphertext the browser sealed,
which a submission can then name.

Nothing sleeps: the test polls the partial upload's size (waiting on the
server process between polls) and the server's readiness, each with a deadline.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from testimony.crypto import hpke, submission
from testimony.crypto.encoding import b64u_decode
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings
from tests.live_server import LiveServer, start_server
from tests.web import browser

pytestmark = pytest.mark.slow

ORIGIN = "restart.test/log"
SIZE = 24 * 1024 * 1024
CHUNK = 1024 * 1024
KILL_AFTER = 4 * CHUNK
DEADLINE = 60.0

START_UPLOAD = """async ({size, chunkSize}) => {
  const s = window.seal;
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, size)));
  const sealed = await s.sealAttachment(new Blob([data]), {name: "video.webm", type: "video/webm"});
  window.upload = s.uploadBlob(sealed.ciphertext, sealed.blob, {
    chunkSize, retryDelays: [0, 250, 500, 1000, 2000, 4000, 8000, 8000],
  }).then((url) => ({url, blob: sealed.blob, descriptor: sealed.descriptor,
                     plaintext: t.enc(data), size: sealed.ciphertext.size}));
  window.upload.catch(() => {});
  return sealed.ciphertext.size;
}"""


def _partial_bytes(data_dir: Path) -> int:
    partial = data_dir / "blobs" / "partial"
    return sum(path.stat().st_size for path in partial.iterdir()) if partial.is_dir() else 0


def _wait_for_bytes_on_disk(server: LiveServer, at_least: int) -> int:
    """Poll the partial upload's size until ``at_least`` bytes are on disk; the
    wait between polls is a wait on the server process, so a server that dies
    ends it at once."""
    deadline = time.monotonic() + DEADLINE
    while (held := _partial_bytes(server.data_dir)) < at_least:
        assert time.monotonic() < deadline, f"only {held} bytes arrived"
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=0.02)
        assert server.process.returncode is None, "the server died during the upload"
    return held


def _serve(body: bytes, kind: str) -> Any:
    def fulfill(route: Any, _request: Any) -> None:
        route.fulfill(body=body, content_type=kind)

    return fulfill


def test_an_upload_resumes_after_the_server_is_killed_mid_file(
    tmp_path: Path, chromium: Any
) -> None:
    seed = os.urandom(32)
    settings = Settings(data_dir=tmp_path / "data")
    init_data_dir(settings, hpke.public_key(seed), origin=ORIGIN)
    data_dir = settings.require_data_dir()
    output = tmp_path / "server-output.txt"
    first = start_server(data_dir, output)
    port = int(first.url.rsplit(":", 1)[1])

    context = chromium.new_context()
    context.set_default_timeout(DEADLINE * 1000)
    # The test page and its script, served at the real server's origin so the
    # uploads are same-origin requests to it, as on the witness pages.
    for name, kind in (("index.html", "text/html"), ("harness.js", "text/javascript")):
        context.route(f"{first.url}/test/{name}", _serve((browser.PAGE / name).read_bytes(), kind))
    # What the page sent, in order (Playwright hands the events over when the
    # test next calls it, so they are ordered, not timed): ("PATCH", offset),
    # and ("failed", 0) for a request the dead server refused.
    events: list[tuple[str, int]] = []

    def sent(request: Any) -> None:
        if request.method == "PATCH":
            events.append(("PATCH", int(request.headers["upload-offset"])))

    page = context.new_page()
    page.on("request", sent)
    page.on("requestfailed", lambda _request: events.append(("failed", 0)))
    second = None
    try:
        page.goto(first.url + "/test/index.html")
        page.wait_for_function("window.harnessReady === true")
        total = page.evaluate(START_UPLOAD, {"size": SIZE, "chunkSize": CHUNK})

        held = _wait_for_bytes_on_disk(first, KILL_AFTER)
        assert held < total
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=DEADLINE)
        kept = _partial_bytes(data_dir)
        second = start_server(data_dir, output, port=port)

        result = page.evaluate("window.upload")
        # A submission naming the blob is accepted by the restarted server.
        manifest = {
            "v": 1,
            "form": {"id": "restart", "version": 1, "sha256": "00" * 32},
            "lang": "en",
            "answers": {},
            "attachments": [],
            "consent": {"share_with": [], "contact": False},
        }
        request = submission.seal_submission(hpke.public_key(seed), manifest).request(
            attachments=[result["blob"]]
        )
        answer = httpx.post(f"{second.url}/api/v1/submissions", json=request, timeout=30)
        assert answer.status_code == 201, answer.text
    finally:
        context.close()
        if second is not None:
            second.stop()

    # Requests failed while the server was down; then the client went on from
    # the offset the restarted server reported (the bytes it holds), never from 0.
    first_failure = events.index(("failed", 0))
    after = [offset for kind, offset in events[first_failure:] if kind == "PATCH"]
    assert after, events
    assert after[0] == kept >= KILL_AFTER
    assert after == sorted(after)
    # The blob is the exact ciphertext sealed in the browser, and opens.
    blob_id = result["blob"]
    stored = (data_dir / "blobs" / blob_id[:2] / blob_id[2:4] / blob_id).read_bytes()
    assert len(stored) == result["size"] == total
    assert hashlib.sha256(stored).hexdigest() == blob_id
    assert submission.open_attachment(result["descriptor"], stored) == b64u_decode(
        result["plaintext"]
    )
    assert "Traceback" not in output.read_text()
