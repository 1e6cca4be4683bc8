"""``testimony followup`` and ``testimony replies`` against a real server (docs/protocol.md §7):
the receipt code is read from stdin, a follow-up with a file is logged and its
receipt verified, a reviewer's reply is read back, and errors are one line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from testimony.crypto import hpke, receipt
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.submission import open_attachment, open_submission
from testimony.service.cli import app
from testimony.service.server import init_data_dir, open_server
from testimony.service.settings import Settings
from tests.reviewers_support import admin_session, reply
from tests.service.api.witness_client import WitnessClient
from tests.service.courier.support import INTAKE_SEED, ORIGIN, LiveServer, start_server
from tests.service.courier.support import live as live  # the fixture

CODE = "2020-0207-2330-0000-0042"


def run(*args: str | Path, stdin: str) -> Any:
    result = CliRunner().invoke(app, [str(a) for a in args], input=stdin)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def live_org(tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    """A fresh server as ``live`` is, and the setup token its ``init`` printed
    (to found the organisation whose reviewer replies)."""
    data_dir = tmp_path / "data"
    initialised = init_data_dir(
        Settings(data_dir=data_dir), hpke.public_key(INTAKE_SEED), origin=ORIGIN
    )
    server = start_server(data_dir, tmp_path / "server-output.txt")
    try:
        yield server, initialised.setup_token
    finally:
        output = server.stop()
        assert "Traceback" not in output


def _submit_with_code(live: LiveServer, keys: receipt.WitnessKeys) -> str:
    """Submit a testimony carrying the witness keys of ``keys``; return its id."""
    with httpx.Client(base_url=live.url, timeout=30) as http:
        me = WitnessClient(http, log_key=live.log_key(), origin=ORIGIN)
        sealed = me.seal(hpke.public_key(INTAKE_SEED), {}, {"q": "what I saw"})
        sealed.request["witness"] = keys.witness_b64u
        sealed.request["witness_box"] = keys.witness_box_b64u
        return str(me.submit(sealed)["id"])


def test_a_witness_follows_up_and_reads_a_reply(
    live_org: tuple[LiveServer, str], tmp_path: Path
) -> None:
    live, setup_token = live_org
    keys = receipt.derive(CODE)
    parent = _submit_with_code(live, keys)

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8" + bytes(range(256)) * 40)
    sent = run(
        "followup", "--server", live.url, "--parent", parent, "--text", "Я вспомнил ещё",
        "--attach", photo, "--log-key", live.log_key(), stdin=CODE + "\n",
    )  # fmt: skip
    assert sent.exit_code == 0, sent.output
    match = re.search(r"follow-up logged: ([0-9a-f]{64}) \(receipt verified\)", sent.output)
    assert match is not None
    assert CODE not in sent.output

    # The intake side opens it to what was typed and attached.
    entries = httpx.get(live.url + "/api/v1/log/entries", params={"start": 0, "end": 3}).json()
    entry = json.loads(b64u_decode(entries["entries"][2]))
    assert entry["type"] == "followup" and entry["parent"] == parent
    settings = Settings(data_dir=live.data_dir)
    server = open_server(settings)
    try:
        header = b"".join(server.blobs.read(entry["header"]))
        body = b"".join(server.blobs.read(entry["body"]))
        opened = open_submission(INTAKE_SEED, header, body)
        assert opened.manifest["text"] == "Я вспомнил ещё"
        [descriptor] = opened.manifest["attachments"]
        ciphertext = b"".join(server.blobs.read(descriptor["blob"]))
        assert open_attachment(descriptor, ciphertext) == photo.read_bytes()
    finally:
        server.close()
    # A reviewer's signed reply, sent as a workstation sends it.
    with httpx.Client(base_url=live.url, timeout=30) as http:
        reviewer, token = admin_session(http, setup_token)
        answer = reply(
            http, reviewer, token, parent=parent, witness_box=keys.witness_box, text="Где это было?"
        )
        assert answer.status_code == 201, answer.text

    read = run("replies", "--server", live.url, stdin=CODE + "\n")
    assert read.exit_code == 0, read.output
    assert "reply " in read.output and f"to {parent}:" in read.output
    assert "Где это было?" in read.output

    other = run("replies", "--server", live.url, stdin="1111-1111-1111-1111-1111\n")
    assert other.exit_code == 0 and "no replies yet" in other.output

    bad = run(
        "followup", "--server", live.url, "--parent", "ab" * 32, "--text", "x",
        stdin=CODE + "\n",
    )  # fmt: skip
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines() == [
        "testimony: the follow-up: the server answered 422 (unknown-parent) (upload-failed)"
    ]
    not_a_code = run("replies", "--server", live.url, stdin="12345\n")
    assert not_a_code.exit_code == 1
    assert len(not_a_code.output.strip().splitlines()) == 1
    assert "12345" not in not_a_code.output


def test_a_followup_file_is_sealed_and_uploaded_in_pieces_never_read_whole(
    live: LiveServer, tmp_path: Path, monkeypatch: Any
) -> None:
    """A witness's video goes through a temporary ciphertext file, a chunk at a
    time, and several PATCHes; progress is reported for both phases."""
    from testimony.client import tus
    from testimony.service.courier import followup as courier_followup

    keys = receipt.derive(CODE)
    parent = _submit_with_code(live, keys)

    video = tmp_path / "street.webm"
    video.write_bytes(bytes(range(251)) * 2_000)  # 502,000 bytes
    read_whole = Path.read_bytes

    def refuse_the_video(path: Path) -> bytes:
        assert path != video, "the attachment was read whole"
        return read_whole(path)

    monkeypatch.setattr(Path, "read_bytes", refuse_the_video)
    monkeypatch.setattr(tus, "PATCH_BYTES", 64 << 10)
    seen: dict[str, list[tuple[int, int]]] = {}
    logged = courier_followup.send_followup(
        live.url, CODE, parent=parent, text="", files=[video], log_key=live.log_key(),
        progress=lambda phase, done, total: seen.setdefault(phase, []).append((done, total)),
    )  # fmt: skip
    monkeypatch.undo()

    assert seen["sealing"][-1] == (video.stat().st_size, video.stat().st_size)
    uploaded, total = seen["uploading"][-1]
    assert uploaded == total and len(seen["uploading"]) == -(-total // (64 << 10)) > 1
    entry = json.loads(b64u_decode(logged["entry"]))
    server = open_server(Settings(data_dir=live.data_dir))
    try:
        header = b"".join(server.blobs.read(entry["header"]))
        body = b"".join(server.blobs.read(entry["body"]))
        [descriptor] = open_submission(INTAKE_SEED, header, body).manifest["attachments"]
        assert descriptor["name"] == "street.webm" and descriptor["type"] == "video/webm"
        ciphertext = b"".join(server.blobs.read(descriptor["blob"]))
        assert open_attachment(descriptor, ciphertext) == video.read_bytes()
    finally:
        server.close()
