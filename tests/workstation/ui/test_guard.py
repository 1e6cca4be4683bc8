"""What protects the web UI from other local processes and other web pages
(workstation/ui/guard.py): the one-use launch secret, the session cookie,
the Host check, CSRF and the idle lock; and, generated from the route table,
every route and every kind of caller, so that a route without a rule fails."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from testimony.workstation.ui import app as ui_app
from testimony.workstation.ui.guard import COOKIE, CSP

from .support import PASSPHRASE, UI

PUBLIC = {"/launch/{secret}", "/unlock"}
"""The only routes served without a session (and /static, which holds no data)."""


@pytest.fixture
def ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[UI]:
    opened = UI(tmp_path, monkeypatch)
    yield opened
    opened.close()


def _cookie(answer: httpx.Response) -> str | None:
    header = answer.headers.get("set-cookie", "")
    found = re.search(rf"{COOKIE}=([^;]+)", header)
    return found.group(1) if found else None


def test_the_launch_secret_gives_a_strict_httponly_cookie_once(ui: UI) -> None:
    secret = ui.desk.new_launch()
    fresh = ui.new_client()
    first = fresh.get(f"/launch/{secret}")
    assert first.status_code == 303 and first.headers["location"] == "/"
    header = first.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=strict" in header and "path=/" in header
    assert fresh.get("/search").status_code == 200
    again = ui.new_client().get(f"/launch/{secret}")
    assert again.status_code == 303 and again.headers["location"] == "/unlock?spent=1"
    assert _cookie(again) is None
    # the launch gave a new session: the one before it no longer opens anything
    assert ui.get("/search").status_code == 303


def test_a_wrong_secret_opens_nothing(ui: UI) -> None:
    ui.desk.new_launch()
    answer = ui.new_client().get("/launch/" + "A" * 43)
    assert answer.status_code == 303 and _cookie(answer) is None


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:54321", "127.0.0.1:8000", "127.0.0.1", "[::1]:54321"]
)
def test_a_foreign_host_is_refused_even_with_the_cookie(ui: UI, host: str) -> None:
    for path in ("/search", "/unlock", "/static/ui.css", "/launch/x"):
        answer = ui.get(path, headers={"Host": host})
        assert answer.status_code == 421, (path, host)
        assert answer.json()["code"] == "wrong-host"
        assert answer.headers["content-security-policy"] == CSP


def test_localhost_by_name_is_the_same_ui(ui: UI) -> None:
    assert ui.get("/search", headers={"Host": f"localhost:{ui.desk.port}"}).status_code == 200


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"Origin": "https://evil.example"}, "foreign-origin"),
        ({"Origin": "http://127.0.0.1:1"}, "foreign-origin"),
        ({"Origin": "null"}, "foreign-origin"),
        ({"Sec-Fetch-Site": "cross-site"}, "cross-site"),
        ({"Sec-Fetch-Site": "same-site"}, "cross-site"),
    ],
)
def test_a_change_from_elsewhere_is_refused_even_with_the_token(
    ui: UI, headers: dict[str, str], code: str
) -> None:
    answer = ui.client.post("/language", data={"csrf": ui.csrf, "lang": "ru"}, headers=headers)
    assert answer.status_code == 403 and answer.json()["code"] == code
    assert ui.desk.session is not None and ui.desk.session.lang == "en"


@pytest.mark.parametrize("token", [None, "", "wrong", "x" * 43])
def test_a_change_without_the_token_is_refused(ui: UI, token: str | None) -> None:
    data: dict[str, Any] = {"lang": "ru"} if token is None else {"lang": "ru", "csrf": token}
    answer = ui.client.post("/language", data=data, headers={"Origin": ui.origin})
    assert answer.status_code == 403 and answer.json()["code"] == "csrf"
    assert ui.desk.session is not None and ui.desk.session.lang == "en"


def test_the_token_also_comes_as_a_header(ui: UI) -> None:
    answer = ui.client.post(
        "/language",
        data={"lang": "ru"},
        headers={"X-CSRF-Token": ui.csrf, "Origin": ui.origin, "Sec-Fetch-Site": "same-origin"},
    )
    assert answer.status_code == 303
    assert ui.desk.session is not None and ui.desk.session.lang == "ru"


def test_every_answer_carries_the_strict_headers(ui: UI) -> None:
    for answer in (
        ui.get("/search?q=Masanchi"),
        ui.get("/unlock"),
        ui.get("/static/ui.css"),
        ui.get("/no-such-page"),
        ui.new_client().get("/queue"),
    ):
        headers = answer.headers
        assert headers["content-security-policy"] == CSP
        assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["x-frame-options"] == "DENY"
        assert "server" not in headers


def test_idle_too_long_locks_the_workstation_and_the_passphrase_unlocks_it(ui: UI) -> None:
    session = ui.desk.session
    assert session is not None
    old_cookie = session.cookie
    session.last_seen -= ui.desk.idle_seconds + 1
    answer = ui.get("/search")
    assert answer.status_code == 303 and answer.headers["location"] == "/unlock"
    assert ui.desk.cache is None and ui.desk.identity is None  # the keys are dropped
    page = ui.get("/unlock")
    assert page.status_code == 200 and 'type="password"' in page.text
    wrong = ui.client.post("/unlock", data={"passphrase": "not it"}, headers={"Origin": ui.origin})
    assert wrong.status_code == 403 and ui.desk.cache is None
    assert "does not open" in wrong.text and "not it" not in wrong.text
    later = ui.desk.clock() + 2
    ui.desk.clock = lambda: later  # the wait after a wrong try has passed
    right = ui.client.post(
        "/unlock", data={"passphrase": PASSPHRASE}, headers={"Origin": ui.origin}
    )
    assert right.status_code == 303
    cookie = _cookie(right)
    assert cookie is not None and cookie != old_cookie
    assert ui.desk.cache is not None
    assert ui.get("/search").status_code == 200  # the client keeps the new cookie
    stale = ui.new_client()
    stale.cookies.set(COOKIE, old_cookie)
    assert stale.get("/search").status_code == 303


def test_wrong_passphrases_make_the_next_try_wait(ui: UI) -> None:
    now = [1000.0]
    ui.desk.clock = lambda: now[0]
    ui.desk.lock_now()
    tries: list[int] = []
    for wait in (1, 2, 4):
        wrong = ui.client.post(
            "/unlock", data={"passphrase": "not it"}, headers={"Origin": ui.origin}
        )
        tries.append(wrong.status_code)
        # Too soon: refused before any work, even with the right passphrase.
        early = ui.client.post(
            "/unlock", data={"passphrase": PASSPHRASE}, headers={"Origin": ui.origin}
        )
        assert early.status_code == 429 and "Too soon" in early.text
        assert ui.desk.cache is None
        now[0] += wait
    assert tries == [403, 403, 403]
    right = ui.client.post(
        "/unlock", data={"passphrase": PASSPHRASE}, headers={"Origin": ui.origin}
    )
    assert right.status_code == 303 and ui.desk.cache is not None
    # A success forgets the wrong tries.
    ui.desk.lock_now()
    ui.client.post("/unlock", data={"passphrase": "not it"}, headers={"Origin": ui.origin})
    now[0] += 1
    assert (
        ui.client.post(
            "/unlock", data={"passphrase": PASSPHRASE}, headers={"Origin": ui.origin}
        ).status_code
        == 303
    )


def test_the_watchdog_locks_without_a_request(ui: UI) -> None:
    assert ui.desk.lock_if_idle() is False
    assert ui.desk.session is not None
    ui.desk.session.last_seen -= ui.desk.idle_seconds + 1
    assert ui.desk.lock_if_idle() is True
    assert ui.desk.cache is None and ui.desk.session is None


def test_the_lock_button_ends_the_session(ui: UI) -> None:
    answer = ui.post("/lock")
    assert answer.status_code == 303 and answer.headers["location"] == "/unlock"
    assert ui.desk.cache is None
    assert ui.get("/search").status_code == 303
    assert ui.post("/language", {"lang": "ru"}).status_code == 401


def test_a_bug_is_one_line_with_no_message_and_no_data(
    ui: UI, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from testimony.workstation import search

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("CANARY-DECRYPTED-TEXT")

    monkeypatch.setattr(search, "search", broken)
    client = ui.new_client(raise_server_exceptions=False)
    client.cookies = ui.client.cookies
    answer = client.get("/search?q=Masanchi")
    assert answer.status_code == 500
    assert "CANARY" not in answer.text and "Traceback" not in answer.text
    err = capsys.readouterr().err
    assert "CANARY" not in err
    assert "internal error RuntimeError at" in err


# --- every route, every caller --------------------------------------------------------------


def _routes(ui: UI) -> list[tuple[str, str, str]]:
    """Every (method, path, route template) of the UI, its parameters filled with real ids."""
    app: Any = ui.client.app
    values = {
        "secret": "x",
        "id": ui.ids.russian,
        "ref": ui.ids.russian,
        "testimony": ui.ids.russian,
        "incident": ui.ids.incident,
        "n": "1",
        "number": "1",
    }
    found = []
    for route in app.app.routes:
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route), route
        for name in route.param_convertors:
            assert name in values, f"a new route parameter {name!r}: give it a value here"
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], route.path)
        found.extend((m, path, route.path) for m in sorted(route.methods or ()) if m != "HEAD")
    return found


def test_every_route_refuses_a_caller_without_the_session(ui: UI) -> None:
    routes = _routes(ui)
    assert len(routes) >= 6
    stranger = ui.new_client()
    for method, path, template in routes:
        if template in PUBLIC:
            continue
        answer = stranger.request(
            method, path, data={"csrf": ui.csrf} if method == "POST" else None
        )
        if method == "GET":
            assert answer.status_code == 303 and answer.headers["location"] == "/unlock", path
        else:
            assert answer.status_code == 401 and answer.json()["code"] == "locked", path


def test_every_change_refuses_a_missing_token_and_a_foreign_origin(ui: UI) -> None:
    for method, path, template in _routes(ui):
        if method != "POST" or template in PUBLIC:
            continue
        bare = ui.client.post(path, data={}, headers={"Origin": ui.origin})
        assert bare.status_code == 403 and bare.json()["code"] == "csrf", path
        foreign = ui.client.post(
            path, data={"csrf": ui.csrf}, headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403 and foreign.json()["code"] == "foreign-origin", path


def test_every_route_refuses_a_foreign_host(ui: UI) -> None:
    for method, path, _template in _routes(ui):
        answer = ui.client.request(method, path, headers={"Host": "evil.example"})
        assert answer.status_code == 421, path


def test_the_public_routes_are_only_those_named() -> None:
    """A route served without a session is a decision: it is named in PUBLIC."""
    from testimony.workstation.ui.guard import PUBLIC_PREFIXES

    assert set(PUBLIC_PREFIXES) == {"/static/", "/launch/", "/unlock", "/favicon.ico"}
    paths = {r.path for r in ui_app._routes() if isinstance(r, Route)}
    assert {p for p in paths if p.startswith(PUBLIC_PREFIXES)} == PUBLIC


# --- the command ----------------------------------------------------------------------------


def test_the_command_serves_until_ctrl_c_and_leaves_it_locked(tmp_path: Path) -> None:
    from testimony.crypto import keyfile
    from testimony.workstation import home as homes

    from ..triage_fixtures import Workstation

    home = tmp_path / "desk"
    homes.create_identity(home, PASSPHRASE, cost=keyfile.FAST_FOR_TESTS)
    Workstation(home, homes.unlock_identity(home, PASSPHRASE)).close()
    env = {**os.environ, "TESTIMONY_PASSPHRASE": PASSPHRASE}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from testimony.service.cli import main; main()",
            "workstation",
            "ui",
            "--no-browser",
            "--workstation",
            str(home),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = ""
        deadline = time.monotonic() + 60
        while "http://" not in line and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stderr], [], [], 1)
            if ready:
                line = process.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/launch/\S+", line)
        assert url is not None, line
        with httpx.Client(follow_redirects=False) as client:
            first = client.get(url.group())
            assert first.status_code == 303 and _cookie(first)
            assert client.get(url.group()).headers["location"] == "/unlock?spent=1"
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=15)
        assert time.monotonic() - started < 5
        assert process.returncode == 0
        assert "locked" in err and "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
