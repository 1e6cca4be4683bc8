"""Hostile requests to every route of the web UI (issue 12, "hostile input"):
whatever the query or the form holds — control characters, bidi overrides,
huge values, repeated and missing fields, wrong ids —, a route answers a
page, a redirect or a clear refusal, never an internal error, and the answer
shows what it was given only escaped. Generated from the route table, so a
new route is fuzzed as soon as it lands."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Mount, Route

from .support import UI

NAMES = [
    "q", "state", "tag", "place", "language", "lang", "incident", "assigned", "since", "until",
    "sort", "page", "fragment", "kind", "testimonies", "status", "violation", "merged", "id",
    "testimony", "role", "reliability", "validity", "reviewer", "duplicate_of", "note_text",
    "translation_text", "translation_lang", "reply_text", "title", "start", "end", "places",
    "acts", "description", "other", "action", "value", "back", "all",
]  # fmt: skip
HOSTILE = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "\u202e<script>alert(1)</script>",
            "javascript:alert(1)",
            "//evil.example/",
            "https://evil.example/",
            "0" * 64,
            "ff" * 40,
            "place/masanchi",
            "violation/arson",
            "2020-13-45",
            "-1",
            "99999999999999999999",
            "\x00\x1b[2J",
            "Масанчи",
            "a" * 5000,
        ]
    ),
)
FIELDS = st.lists(st.tuples(st.sampled_from(NAMES), HOSTILE), max_size=8)
ALLOWED = {200, 303, 400, 403, 404, 409, 422}


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    monkeypatch = pytest.MonkeyPatch()
    opened = UI(tmp_path_factory.mktemp("hostile"), monkeypatch, idle_seconds=10**6)
    yield opened
    opened.close()
    monkeypatch.undo()


def _routes(ui: UI) -> list[tuple[str, str]]:
    app: Any = ui.client.app
    values = {
        "secret": "x",
        "ref": ui.ids.russian,
        "id": ui.ids.russian,
        "incident": ui.ids.incident,
        "n": "1",
        "number": "1",
    }
    found = []
    for route in app.app.routes:
        if isinstance(route, Mount) or not isinstance(route, Route):
            continue
        if route.path in ("/launch/{secret}", "/unlock", "/lock"):
            continue  # they end the session this test runs in (tests/workstation/ui/test_guard.py)
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], route.path)
        found.extend((m, path) for m in sorted(route.methods or ()) if m != "HEAD")
    return found


def _check(answer: Any, method: str, path: str) -> None:
    assert answer.status_code in ALLOWED, (method, path, answer.status_code, answer.text[:300])
    if answer.status_code == 303:
        return
    kind = answer.headers.get("content-type", "")
    if not kind.startswith(("text/html", "application/problem+json")):
        # a file: the original only as a download, the copies only as images or audio
        assert kind.startswith(("application/octet-stream", "image/", "audio/")), kind
        if kind.startswith("application/octet-stream"):
            assert answer.headers["content-disposition"].startswith("attachment;")
        return
    body = answer.text
    assert "Traceback" not in body
    found = body.find("<script>alert")
    assert found < 0, (method, path, body[max(0, found - 300) : found + 50])
    assert 'href="javascript' not in body
    # What the reviewer typed comes back in the form as typed (a query, a draft); anything
    # else holds no raw bidi control.
    shown = re.sub(r'value="[^"]*"', "", re.sub(r"<textarea[^>]*>[^<]*</textarea>", "", body))
    found = shown.find("\u202e")
    assert found < 0, (method, path, shown[max(0, found - 300) : found + 50])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fields=FIELDS, pick=st.integers(min_value=0))
def test_no_query_makes_a_page_fail(ui: UI, fields: list[tuple[str, str]], pick: int) -> None:
    gets = [path for method, path in _routes(ui) if method == "GET"]
    path = gets[pick % len(gets)]
    answer = ui.client.get(path, params=fields)
    _check(answer, "GET", path)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fields=FIELDS, pick=st.integers(min_value=0))
def test_no_form_makes_a_change_fail(ui: UI, fields: list[tuple[str, str]], pick: int) -> None:
    posts = [path for method, path in _routes(ui) if method == "POST" and path != "/sync"]
    path = posts[pick % len(posts)]
    answer = ui.post(path, dict(fields))
    _check(answer, "POST", path)
    if answer.status_code == 303:
        location = answer.headers["location"]
        assert location.startswith("/") and not location.startswith("//"), location
        _check(ui.client.get(location), "GET", location)


def test_a_body_that_is_not_a_form_changes_nothing(ui: UI) -> None:
    size = ui.workstation.size
    for content_type, body in (
        ("application/json", b'{"csrf": "x", "note_text": "hi"}'),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\n--x--"),
        ("application/x-www-form-urlencoded", b"\xff\xfe" * 100),
        ("application/x-www-form-urlencoded", b"a=" + b"x" * (2 << 20)),
    ):
        answer = ui.client.post(
            f"/testimony/{ui.ids.russian}/note",
            content=body,
            headers={"Content-Type": content_type, "X-CSRF-Token": ui.csrf, "Origin": ui.origin},
        )
        assert answer.status_code in (303, 400), (content_type, answer.status_code)
    assert ui.workstation.size == size  # no annotation was sent


def test_sync_with_the_server_unreachable_is_a_message(
    ui: UI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real client, to a port nobody listens on: the page says so, in one message."""
    from testimony.workstation import org
    from testimony.workstation.session import ReviewerClient

    monkeypatch.setattr(
        org,
        "bound_client",
        lambda cache, identity, **_: ReviewerClient("http://127.0.0.1:9", identity, log_key="x"),
    )
    answer = ui.post("/sync", {"back": "/queue"})
    assert answer.status_code == 303 and answer.headers["location"] == "/queue"
    page = ui.client.get("/queue")
    assert page.status_code == 200 and "Traceback" not in page.text
    assert 'class="flash error"' in page.text
