"""The witness pages' routes without a browser (issue 5, "Witness pages"):
status codes, the page CSP beside the API's, no cookie, subresource
integrity values that match the served scripts, 404 pages for unknown
languages and forms, and UI texts in every language with review markers."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from testimony.crypto import hpke
from testimony.forms.registry import bundled_forms
from testimony.service.api.app import create_app
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings
from testimony.service.web.i18n import REVIEW_PREFIX, ui_strings
from testimony.service.web.pages import PAGE_CSP
from tests.service.intake_support import TestClient

LANGUAGES = ["ru", "kk", "ky", "dng", "en"]
SEED = bytes(range(32))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("routes") / "data", pow_bits=0)
    init_data_dir(settings, hpke.public_key(SEED), origin="routes.test/log")
    with TestClient(create_app(settings.replace(forms=bundled_forms()))) as opened:
        yield opened


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data: dict[str, str] = {}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = dict(attrs).get("id") if tag == "script" else None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.data[self._in] = self.data.get(self._in, "") + data


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


@pytest.mark.parametrize(
    "path",
    [
        "/",
        *(f"/{lang}/" for lang in LANGUAGES),
        *(f"/{lang}/forms/kordai-2020" for lang in LANGUAGES),
        "/ru/key",
        *(f"/{lang}/return" for lang in LANGUAGES),
        "/en/offline",
    ],
)
def test_pages_answer_html_with_the_page_csp_and_no_cookie(client: Any, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["content-security-policy"] == PAGE_CSP
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    assert "set-cookie" not in answer.headers
    tags = _parse(answer.text).tags
    assert any(tag == "a" and attrs.get("id") == "leave" for tag, attrs in tags), (
        "every page has the leave-quickly control"
    )
    # Nothing inline: no style attribute, no inline script, no event handler.
    for tag, attrs in tags:
        assert "style" not in attrs and not any(name.startswith("on") for name in attrs)
        if tag == "script":
            assert attrs.get("src") or attrs.get("type") == "application/json"
        if tag in ("script", "link") and (attrs.get("src") or attrs.get("href", "")).startswith(
            "http"
        ):
            pytest.fail(f"a third-party resource: {attrs}")


def test_the_api_keeps_its_own_strict_csp(client: Any) -> None:
    answer = client.get("/api/v1/forms")
    assert answer.headers["content-security-policy"].startswith("default-src 'none'; base-uri")
    assert "script-src" not in answer.headers["content-security-policy"]
    assert (
        client.get("/healthz").headers["content-security-policy"]
        == answer.headers["content-security-policy"]
    )


@pytest.mark.parametrize("path", ["/ru/forms/no-such-form", "/en/forms/kordai-2021"])
def test_unknown_forms_answer_a_404_page(client: Any, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert "Page not found" in answer.text
    assert answer.headers["content-security-policy"] == PAGE_CSP


@pytest.mark.parametrize(
    "path", ["/xx/", "/xx/forms/kordai-2020", "/de/key", "/nowhere", "/static/nope.js"]
)
def test_unknown_languages_and_files_answer_a_404_problem(client: Any, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == 404


def test_a_language_without_a_slash_is_redirected_and_an_unknown_one_is_not(client: Any) -> None:
    answer = client.get("/kk", follow_redirects=False)
    assert answer.status_code == 308 and answer.headers["location"] == "/kk/"
    assert client.get("/zz", follow_redirects=False).status_code == 404


def test_scripts_carry_integrity_values_that_match_what_is_served(client: Any) -> None:
    integrity = client.get("/static/integrity.json").json()
    for path in ("/ru/", "/ru/forms/kordai-2020"):
        for tag, attrs in _parse(client.get(path).text).tags:
            src = attrs.get("src") if tag == "script" else None
            href = attrs.get("href") if tag == "link" and attrs.get("rel") == "stylesheet" else None
            target = src or href
            if not target:
                continue
            served = client.get(target)
            assert served.status_code == 200
            digest = base64.b64encode(hashlib.sha384(served.content).digest()).decode()
            assert attrs["integrity"] == f"sha384-{digest}"
            if src:
                assert attrs["type"] == "module"
                assert integrity[target.rsplit("/", 1)[1]] == attrs["integrity"]
    worker = client.get("/static/seal-worker.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["content-security-policy"] == PAGE_CSP  # a Worker takes its own CSP


@pytest.mark.parametrize("name", ["..%2Fpages.py", "pages.py", "nope.js", "SEAL.JS", ".hidden.js"])
def test_static_serves_only_the_built_files(client: Any, name: str) -> None:
    assert client.get(f"/static/{name}").status_code == 404


def test_the_form_page_pins_the_intake_and_log_keys_and_renders_every_field(client: Any) -> None:
    page = client.get("/ru/forms/kordai-2020").text
    parsed = _parse(page)
    data = json.loads(parsed.data["page-data"])
    form = client.get("/api/v1/forms/kordai-2020").json()
    assert data["intakeKey"] == form["intake_key"] and data["intakeKeyId"] == form["intake_key_id"]
    assert data["form"] == {"definition": form["definition"], "sha256": form["sha256"]}
    assert data["logKey"] == client.get("/api/v1/log/key").text.strip()
    assert data["lang"] == "ru"
    ids = {attrs.get("id") for _, attrs in parsed.tags}
    for field in form["definition"]["fields"]:
        assert f"field-{field['id']}" in ids
    assert {"field-consent-share_with", "field-consent-contact", "f-files-strip"} <= ids
    strip = next(attrs for _, attrs in parsed.tags if attrs.get("id") == "f-files-strip")
    assert "checked" in strip, "location data is removed unless the witness unticks it"
    for place in ("Масанчи", "Сортобе", "Кордай"):
        assert place in page
    assert "Удалить из фотографий данные о местоположении" in page
    form_tag = next(attrs for tag, attrs in parsed.tags if tag == "form")
    assert "action" not in form_tag and form_tag["autocomplete"] == "off"
    send = next(attrs for _, attrs in parsed.tags if attrs.get("id") == "send")
    assert "disabled" in send, "nothing can be sent before the sealing script runs"
    assert "<noscript>" in page and 'href="/ru/offline"' in page


def test_every_label_has_its_control(client: Any) -> None:
    parsed = _parse(client.get("/en/forms/kordai-2020").text)
    controls = {
        attrs["id"]
        for tag, attrs in parsed.tags
        if tag in ("input", "textarea") and attrs.get("type") != "hidden"
    }
    labelled = {attrs["for"] for tag, attrs in parsed.tags if tag == "label"}
    assert controls <= labelled, controls - labelled


def test_the_key_page_shows_the_intake_key_id_in_groups(client: Any) -> None:
    page = client.get("/en/key").text
    key_id = hpke.key_id(hpke.public_key(SEED))
    groups = re.findall(r'<span class="code-group">([0-9a-f]{4})</span>', page)
    assert "".join(groups) == key_id and len(groups) == 8


def test_ui_texts_exist_in_every_language_and_uncertain_ones_are_marked() -> None:
    strings = ui_strings()
    assert list(strings.languages) == LANGUAGES
    assert strings.problems() == []
    for key, texts in strings.texts.items():
        assert texts["dng"] == texts["ru"], "Dungan is a marked Russian placeholder"
        for lang in ("kk", "ky", "dng"):
            assert strings.review[lang][key].startswith(REVIEW_PREFIX)
    assert set(
        json.loads((Path(__file__).parents[2] / "forms" / "messages.json").read_text())["languages"]
    ) == set(LANGUAGES)
