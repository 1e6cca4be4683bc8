"""Nothing sensitive at rest or in the logs (DESIGN.md's threat model: a
seized server holds ciphertext and pseudonyms only).

A witness's whole journey runs against a real ``testimony serve`` through the
real commands — seal, upload, follow up, read replies — plus requests that
carry client addresses in every proxy header, malformed bodies that quote
canaries, and a disconnect. Then every byte the server left behind (the
database and its WAL, the blob store and its temporary folder, its output) is
searched for each canary: the plaintext of the statement, an attachment and
the follow-up, the receipt code (with and without its dashes), the client
addresses and the user agent.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testimony.service.testing import LiveServer, start_server
from tests.service.courier.support import init_data, intake_key_file

pytestmark = pytest.mark.slow

FORM = Path(__file__).resolve().parents[2] / "forms" / "definitions" / "kordai-2020.json"
STATEMENT = "CANARY-STATEMENT Айгуль видела, как горел дом на улице Ленина"
ATTACHMENT = b"CANARY-ATTACHMENT " + bytes(range(256)) * 40
FOLLOWUP = "CANARY-FOLLOWUP сосед тоже видел"
USER_AGENT = "CANARY-AGENT/1.0"
ADDRESSES = ("203.0.113.77", "198.51.100.23", "192.0.2.55", "2001:db8::7")
PROXY_HEADERS = {
    "X-Forwarded-For": f"{ADDRESSES[0]}, {ADDRESSES[1]}",
    "X-Real-IP": ADDRESSES[2],
    "Forwarded": f'for="[{ADDRESSES[3]}]";proto=https',
    "True-Client-IP": ADDRESSES[0],
    "User-Agent": USER_AGENT,
}
CODE = re.compile(r"receipt code: ([0-9]{4}(?:-[0-9]{4}){4})")


def _testimony(
    *args: object, tmp: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTIMONY_")}
    env.update(TMPDIR=str(tmp), XDG_CONFIG_HOME=str(tmp / "config"))
    return subprocess.run(
        [sys.executable, "-c", "from testimony.service.cli import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        input=stdin,
        env=env,
        timeout=120,
    )


@pytest.fixture
def journey(tmp_path: Path) -> Iterator[tuple[LiveServer, Path, str, list[str], Path]]:
    """A witness's journey against a live server; yields the server, the data
    dir, the receipt code and the error answers the server gave."""
    data_dir = init_data(tmp_path)
    server = start_server(data_dir, tmp_path / "server-output.txt", pow_bits=4)
    answers_seen: list[str] = []
    try:
        witness = tmp_path / "witness"
        witness.mkdir()
        (witness / "photo.jpg").write_bytes(ATTACHMENT)
        answers = witness / "answers.json"
        answers.write_text(
            json.dumps({"answers": {"narrative": STATEMENT}, "lang": "ru"}, ensure_ascii=False),
            encoding="utf-8",
        )
        envelope = witness / "w.testimony"
        sealed = _testimony(
            "seal", "--form", FORM, "--intake-key", intake_key_file(witness), "--out", envelope,
            "--answers", answers, "--attach", witness / "photo.jpg", "--share-with", "prosecutor",
            tmp=witness,
        )  # fmt: skip
        assert sealed.returncode == 0, sealed.stderr
        (code,) = CODE.findall(sealed.stdout)
        delivered = _testimony("upload", envelope, "--server", server.url, tmp=witness)
        assert delivered.returncode == 0, delivered.stdout + delivered.stderr
        receipt = json.loads(envelope.with_name(envelope.name + ".receipt.json").read_text())
        followed = _testimony(
            "followup", "--server", server.url, "--parent", receipt["id"], "--text", FOLLOWUP,
            tmp=witness, stdin=code + "\n",
        )  # fmt: skip
        assert followed.returncode == 0, followed.stdout + followed.stderr
        replies = _testimony("replies", "--server", server.url, tmp=witness, stdin=code + "\n")
        assert replies.returncode == 0, replies.stderr
        with httpx.Client(base_url=server.url, headers=PROXY_HEADERS, timeout=30) as http:
            for path in ("/healthz", "/api/v1/forms", "/ru/", "/api/v1/log/checkpoint"):
                assert http.get(path).status_code == 200
            for body in (
                f'{{"intake_key": "{STATEMENT}", "header": "{code}"',
                json.dumps({"header": STATEMENT, "body": code, "intake_key": "x"}),
            ):
                answer = http.post(
                    "/api/v1/submissions",
                    content=body.encode(),
                    headers={"Content-Type": "application/json"},
                )
                assert answer.status_code >= 400
                answers_seen.append(answer.text)
            answer = http.post(
                "/api/v1/uploads/",
                headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10", "Upload-Metadata": code},
            )
            answers_seen.append(answer.text)
        _disconnect_mid_body(server.url)
        yield server, data_dir, code, answers_seen, witness
    finally:
        server.stop()


def _disconnect_mid_body(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-Forwarded-For: " + ADDRESSES[0].encode() + b"\r\nContent-Length: 5000\r\n\r\n"
            b'{"header": "' + STATEMENT.encode() + b'"'
        )


def _needles(code: str) -> dict[str, list[bytes]]:
    def forms(text: str) -> list[bytes]:
        return [text.encode("utf-8"), text.encode("utf-16-le"), json.dumps(text).encode()]

    return {
        "statement": forms(STATEMENT) + forms("CANARY-STATEMENT"),
        "follow-up": forms(FOLLOWUP) + forms("CANARY-FOLLOWUP"),
        "attachment": [ATTACHMENT[:32], b"CANARY-ATTACHMENT"],
        "receipt code": forms(code) + forms(code.replace("-", "")),
        "user agent": forms(USER_AGENT),
        "client address": [a.encode() for a in ADDRESSES],
    }


def _files(folder: Path) -> Iterator[Path]:
    yield from (path for path in folder.rglob("*") if path.is_file())


def test_nothing_sensitive_is_left_at_rest_or_in_the_logs(
    journey: tuple[LiveServer, Path, str, list[str], Path],
) -> None:
    server, data_dir, code, error_answers, witness = journey
    # The search can find what it looks for: the witness's own files hold it.
    needles = _needles(code)
    assert any(n in (witness / "answers.json").read_bytes() for n in needles["statement"])
    assert any(n in (witness / "photo.jpg").read_bytes() for n in needles["attachment"])
    output = server.stop()
    places: dict[str, bytes] = {str(p): p.read_bytes() for p in _files(data_dir)}
    places["server output"] = output.encode("utf-8")
    for index, text in enumerate(error_answers):
        places[f"error answer {index}"] = text.encode("utf-8")
    assert any(name.endswith("testimony.sqlite3") for name in places)
    assert [p for p in places if "/blobs/" in p]  # the attachment's ciphertext at least
    for what, kinds in needles.items():
        for place, data in places.items():
            for needle in kinds:
                assert needle not in data, f"the {what} is in {place}"
    for text in error_answers:
        assert "Traceback" not in text
    assert "Traceback" not in output
