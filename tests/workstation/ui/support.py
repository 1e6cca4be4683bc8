"""A filled workstation behind the UI, for the UI's tests.

:func:`filled` fills a :class:`~tests.workstation.triage_fixtures.Workstation`
with what a reviewer meets on a first day (a Russian testimony with a photo
and a follow-up, a Kazakh one, an English one, a hostile one; a tag, a note,
an incident with links; villages with coordinates). :class:`UI` is a
:class:`~testimony.workstation.ui.app.Desk` over that directory with an
HTTP client already through the launch exchange (``ui.client``), or, with
:func:`live`, the real server on a free port for Chromium.
"""

from __future__ import annotations

import io
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from testimony.crypto import hpke, keyfile
from testimony.workstation import home as homes
from testimony.workstation import org, triage
from testimony.workstation.ui.app import Desk, create_app
from testimony.workstation.ui.server import bind, make_server

from ..triage_fixtures import RUSSIAN, FakeServer, Workstation, identity

with warnings.catch_warnings():
    # starlette's TestClient prefers the `httpx2` fork; plain httpx works.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PASSPHRASE = "a passphrase for the UI tests"
OTHER = identity(7)
"""A second reviewer of the same organisation."""

HOSTILE_NAME = "invoice\u202egpj.exe"
HOSTILE_TEXT = (
    '<script>alert("x")</script> <a href="javascript:alert(1)">click</a> \u202eevil\u202c'
)

KAZAKH: dict[str, Any] = {
    "lang": "kk",
    "answers": {
        "narrative": "Сортөбе ауылында үйлер өртелді. Полиция келмеді.",
        "when": {"start": "2020-02-07", "end": "2020-02-08"},
        "where": {"id": "sortobe"},
        "what_happened": ["arson", "looting"],
        "perpetrators": ["organised_groups"],
    },
    "consent": RUSSIAN["consent"],
}
ENGLISH: dict[str, Any] = {
    "lang": "en",
    "answers": {
        "narrative": "In Masanchi the shooting started after midnight.",
        "when": {"start": "2020-02-08T00:30"},
        "where": {"id": "masanchi"},
        "what_happened": ["shooting"],
        "perpetrators": ["unknown_persons"],
    },
    "consent": RUSSIAN["consent"],
}
HOSTILE: dict[str, Any] = {
    "lang": "ru",
    "answers": {"narrative": HOSTILE_TEXT, "where": {"text": "село\u202e<b>x</b>"}},
    "consent": RUSSIAN["consent"],
}
WITNESS_KEYS = (bytes([41]) * 32, bytes([42]) * 32)
"""The Russian and the Kazakh witnesses' private keys (replies to them can be opened)."""
COORDINATES = {"masanchi": (42.93, 75.30), "sortobe": (42.86, 75.27), "kordai": (43.04, 74.71)}


def photo(width: int = 64, height: int = 48, *, tail: bytes = b"") -> bytes:
    """A JPEG with an EXIF comment and, if given, bytes after its end (a polyglot's trick)."""
    out = io.BytesIO()
    image = Image.new("RGB", (width, height), (200, 40, 40))
    exif = Image.Exif()
    exif[0x010E] = "CANARY-EXIF-DESCRIPTION"
    image.save(out, "JPEG", exif=exif, comment=b"CANARY-JPEG-COMMENT")
    return out.getvalue() + tail


POLYGLOT_TAIL = b"<html><script>alert('polyglot')</script></html>"


@dataclass
class Filled:
    """The ids of what :func:`filled` made."""

    russian: str
    kazakh: str
    english: str
    hostile: str
    incident: str
    followup: str
    extra: dict[str, str] = field(default_factory=dict)


def filled(ws: Workstation) -> Filled:
    """Testimonies, annotations and an incident, as a sync would leave them."""
    ws.enrol(OTHER)
    for place, (lat, lon) in COORDINATES.items():
        ws.annotate(
            {
                "v": 1,
                "kind": "vocabulary",
                "tag": f"place/{place}",
                "labels": {"en": place.capitalize()},
                "lat": lat,
                "lon": lon,
            },
            ws.founder,
        )
    russian = ws.submission(
        files=[
            (photo(tail=POLYGLOT_TAIL), "дом.jpg", "image/jpeg"),
            (b"%PDF-1.7 CANARY-PDF", "справка.pdf", "application/pdf"),
        ],
        witness_key=WITNESS_KEYS[0],
    )
    kazakh = ws.submission(KAZAKH, witness_key=WITNESS_KEYS[1])
    for testimony, key in ((russian, WITNESS_KEYS[0]), (kazakh, WITNESS_KEYS[1])):
        # As sync keeps it once the server serves it: the witness's box key itself.
        record = ws.cache.record("submission", testimony)
        ws.cache.put_record(
            "submission", testimony, {**record, "witness_box": hpke.public_key(key).hex()}
        )
    english = ws.submission(ENGLISH, witness=False)
    hostile = ws.submission(
        HOSTILE, files=[(b"MZ\x90\x00 CANARY-EXE", HOSTILE_NAME, "application/octet-stream")]
    )
    followup = ws.followup(russian, "Ещё: у соседей сгорел сарай.")
    incident = "0a" * 16
    ws.annotate(
        {
            "v": 1,
            "kind": "incident",
            "incident": incident,
            "fields": {
                "title": "Поджоги в Масанчи",
                "status": "alleged",
                "start": "2020-02-07",
                "end": "2020-02-08",
                "places": [
                    {"place": "place/masanchi", "name": "Масанчи", "lat": 42.93, "lon": 75.30}
                ],
                "acts": [
                    {
                        "violation": "violation/arson",
                        "victims": {"count": 5, "persons": []},
                        "perpetrators": [
                            {"type": "perpetrator/unknown_persons", "count": None, "persons": []}
                        ],
                    }
                ],
                "description": "",
            },
        }
    )
    for testimony, role in ((russian, "eyewitness"), (kazakh, "hearsay")):
        ws.annotate(
            {
                "v": 1,
                "kind": "link",
                "incident": incident,
                "testimony": testimony,
                "role": role,
                "reliability": "cannot-judge",
                "validity": "cannot-judge",
            }
        )
    ws.annotate({"v": 1, "kind": "state", "testimony": kazakh, "state": "in-review"})
    ws.annotate({"v": 1, "kind": "tag", "testimony": russian, "tags": ["violation/arson"]})
    ws.annotate({"v": 1, "kind": "note", "testimony": russian, "text": "Сверить с картой."}, OTHER)
    triage.refresh(ws.cache)
    return Filled(russian, kazakh, english, hostile, incident, followup)


class UI:
    """The desk over a filled workstation, and a client through the launch exchange."""

    def __init__(self, tmp_path: Path, monkeypatch: Any, *, idle_seconds: float = 900) -> None:
        home = tmp_path / "desk"
        homes.create_identity(home, PASSPHRASE, cost=keyfile.FAST_FOR_TESTS)
        self.workstation = Workstation(home, homes.unlock_identity(home, PASSPHRASE))
        self.workstation.cache.put("server", "http://127.0.0.1:9")
        self.workstation.cache.put("log_key", "unused")
        self.server = FakeServer(self.workstation)
        monkeypatch.setattr(org, "bound_client", lambda cache, identity, **_: self.server)
        self.ids = filled(self.workstation)
        self.desk = Desk(home, self.workstation.me, idle_seconds=idle_seconds)
        self.desk.port = 54321
        self.origin = f"http://127.0.0.1:{self.desk.port}"
        self.client = self.new_client()
        secret = self.desk.new_launch()
        answer = self.client.get(f"/launch/{secret}", follow_redirects=False)
        assert answer.status_code == 303, answer.text
        self.csrf = self.desk.session.csrf if self.desk.session else ""

    def new_client(self, *, raise_server_exceptions: bool = True) -> TestClient:
        return TestClient(
            create_app(self.desk),
            base_url=self.origin,
            follow_redirects=False,
            raise_server_exceptions=raise_server_exceptions,
        )

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.client.get(path, **options)

    def post(self, path: str, data: dict[str, Any] | None = None, **options: Any) -> httpx.Response:
        """A change as the page's own form sends it: the token and this origin."""
        headers = {
            "Origin": self.origin,
            "Sec-Fetch-Site": "same-origin",
            **options.pop("headers", {}),
        }
        return self.client.post(
            path, data={"csrf": self.csrf, **(data or {})}, headers=headers, **options
        )

    def close(self) -> None:
        self.client.close()
        self.desk.lock_now()
        self.workstation.close()


def text_of(html: str) -> str:
    """A page's text without its tags (for asserting what a reader sees)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@contextmanager
def live(desk: Desk) -> Iterator[str]:
    """The real server (uvicorn) for ``desk`` on a free port; yields the launch URL."""
    sock = bind(0)
    server = make_server(desk, sock)
    url = f"http://127.0.0.1:{desk.port}/launch/{desk.new_launch()}"
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(2000):
            if server.started:
                break
            thread.join(0.005)  # polls readiness; never a fixed sleep
        assert server.started, "the UI did not start"
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
