"""The witness pages in headless Chromium against a real ``testimony serve``
(issue 5, items 2, 3 and 6): a testimony typed in Russian with a photo arrives
sealed to the intake key and opens, with ``testimony.crypto`` alone, to exactly
the answers typed and the photo without its location data (or the photo as it
was, when the witness unticks removal); errors are shown in the witness's
language; without JavaScript the page says sealing needs it and links the
offline tool; no page loads anything from elsewhere or breaks its CSP; the
language lives only in the URL; "leave quickly" leaves no history entry.

The server runs with SQLite, proof of work at a few bits, and an intake key
whose private seed only this test holds. Nothing sleeps: the server is
awaited on ``/healthz`` with a deadline, the pages on their elements.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from testimony.crypto import hpke, padding, receipt, stream
from testimony.crypto.encoding import b64u_decode
from testimony.forms.consent import consent_text_sha256
from testimony.service.server import init_data_dir, open_server
from testimony.service.settings import Settings
from tests.live_server import start_server
from tests.reviewers_support import admin_session, reply
from tests.service.api.witness_client import WitnessClient
from tests.web import browser
from tests.web.jpeg import photo_with_gps

ORIGIN = "pages.test/log"
POW_BITS = 4
SUBMIT_TIMEOUT_MS = 90_000
FORM = "kordai-2020"
MESSAGES = json.loads(
    (Path(__file__).resolve().parents[2] / "forms" / "messages.json").read_text(encoding="utf-8")
)["messages"]
# Collects CSP violations in every page of a context (init scripts are not subject to CSP).
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@dataclass
class Live:
    url: str
    seed: bytes
    data_dir: Path
    process: subprocess.Popen[bytes]
    setup_token: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("pages")
    seed = os.urandom(32)
    settings = Settings(data_dir=root / "data")
    initialised = init_data_dir(settings, hpke.public_key(seed), origin=ORIGIN)
    server = start_server(
        settings.require_data_dir(), root / "server-output.txt", pow_bits=POW_BITS
    )
    try:
        yield Live(server.url, seed, server.data_dir, server.process, initialised.setup_token)
    finally:
        output = server.stop()
    assert "Traceback" not in output


class Watched:
    """A fresh browser context whose requests, CSP violations and errors are recorded."""

    def __init__(self, chromium: Any, *, javascript: bool = True) -> None:
        self.context = chromium.new_context(java_script_enabled=javascript)
        self.context.set_default_timeout(30_000)
        self.context.add_init_script(WATCH_CSP)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )

    def csp_violations(self) -> list[str]:
        violations: list[str] = self.page.evaluate("window.__csp || []")
        return violations

    def assert_clean(self, base: str) -> None:
        foreign = [url for url in self.requests if not url.startswith(base + "/")]
        assert foreign == [], f"requests to elsewhere: {foreign}"
        assert self.csp_violations() == []
        assert self.errors == [], self.errors


@pytest.fixture
def watched(chromium: Any) -> Iterator[Watched]:
    opened = Watched(chromium)
    yield opened
    opened.context.close()


def _send(page: Any) -> Any:
    """Click Send and return the answer to the page's ``POST /api/v1/submissions``."""
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/submissions") and r.request.method == "POST",
        timeout=SUBMIT_TIMEOUT_MS,
    ) as answer:
        page.click("#send")
    return answer.value


def _ready(page: Any) -> None:
    """Wait until the page's script has wired the form."""
    page.wait_for_selector("html[data-ready=true]", state="attached")


def _raw_submission(live: Live, submission_id: str, out: Path) -> Path:
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "testimony"),
            "raw",
            submission_id,
            "--data-dir",
            str(live.data_dir),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _open_manifest(intake_seed: bytes, header: bytes, body: bytes) -> dict[str, Any]:
    """The manifest of a sealed header and body, opened with ``testimony.crypto`` only."""
    cek = hpke.open(intake_seed, b"testimony/v1 cek", header)
    manifest: dict[str, Any] = json.loads(padding.unpad_body(stream.decrypt(cek, body)))
    return manifest


def _open_attachment(descriptor: dict[str, Any], ciphertext: bytes) -> bytes:
    key = b64u_decode(descriptor["key"])
    return padding.unpad_attachment(stream.decrypt(key, ciphertext), descriptor["size"])


def _fill_russian(page: Any, photo: Path, *, strip: bool) -> dict[str, Any]:
    """Fill kordai-2020 as a Russian-speaking witness would; return the answers expected."""
    narrative = "Ночью 7 февраля в Масанчи подожгли дом соседа.\nЯ видела это сама."
    page.fill("#f-narrative", narrative)
    page.fill("#f-when-start-date", "2020-02-07")
    page.fill("#f-when-start-time", "22:00")
    page.fill("#f-when-end-date", "2020-02-08")
    page.check("#field-where input[value=masanchi]")
    page.check("#field-what_happened input[value=arson]")
    page.check("#field-what_happened input[value=shooting]")
    page.check("#field-what_happened input[value=__other]")
    page.fill("#f-what_happened-other", "сожгли машины")
    page.check("#field-perpetrators input[value=unknown_persons]")
    page.fill("#f-victims", "Двое раненых, пожилой мужчина.")
    page.set_input_files("#f-files", str(photo))
    if not strip:
        page.uncheck("#f-files-strip")
    page.check("#field-consent-share_with input[value=prosecutor]")
    page.check("#field-consent-share_with input[value=un_treaty_body]")
    page.check("#field-consent-contact input[value=true]")
    return {
        "narrative": narrative,
        "when": {"start": "2020-02-07T22:00", "end": "2020-02-08"},
        "where": {"id": "masanchi"},
        "what_happened": ["arson", "shooting", {"other": "сожгли машины"}],
        "perpetrators": ["unknown_persons"],
        "victims": "Двое раненых, пожилой мужчина.",
    }


@pytest.mark.slow
@pytest.mark.parametrize("strip", [True, False], ids=["location-removed", "location-kept"])
def test_a_testimony_typed_in_russian_arrives_sealed_and_opens_to_what_was_typed(
    live: Live, watched: Watched, tmp_path: Path, strip: bool
) -> None:
    photo, without_location = photo_with_gps()
    photo_path = tmp_path / "IMG_0412.jpg"
    photo_path.write_bytes(photo)
    page = watched.page
    page.goto(f"{live.url}/ru/forms/{FORM}")
    _ready(page)
    expected_answers = _fill_russian(page, photo_path, strip=strip)

    answer = _send(page)
    assert answer.status == 201
    sent = answer.request.post_data_json
    submission_id = answer.json()["id"]
    page.wait_for_selector("#receipt:not([hidden])", timeout=SUBMIT_TIMEOUT_MS)

    # The receipt page: the code shown large and grouped, verified in the browser.
    assert page.get_attribute("#receipt", "data-state") == "verified"
    assert page.is_visible("#receipt-verified")
    code = page.inner_text("#receipt-code").strip()
    assert re.fullmatch(r"[0-9]{4}(-[0-9]{4}){4}", code), code
    assert "Запишите код на бумаге" in page.inner_text("#receipt")
    assert not page.is_visible("#witness-form")
    # The code derives the witness keys the request named (§7), and never left the page.
    keys = receipt.derive(code)
    assert sent["witness"] == keys.witness_b64u
    assert sent["witness_box"] == keys.witness_box_b64u
    assert code.replace("-", "") not in json.dumps(sent)
    assert sent["pow"]["challenge"] and sent["pow"]["nonce"]

    # Python, with testimony.crypto only, opens what the log holds.
    raw = _raw_submission(live, submission_id, tmp_path / "raw")
    manifest = _open_manifest(
        live.seed, (raw / "header.bin").read_bytes(), (raw / "body.bin").read_bytes()
    )
    assert manifest["v"] == 1 and manifest["lang"] == "ru"
    assert manifest["form"]["id"] == FORM and manifest["form"]["version"] == 2  # the latest
    forms = httpx.get(f"{live.url}/api/v1/forms/{FORM}").json()
    assert manifest["form"]["sha256"] == forms["sha256"]
    assert manifest["consent"] == {
        "share_with": ["prosecutor", "un_treaty_body"],
        "contact": True,
        "text_sha256": consent_text_sha256(),  # v1.1: the wording the page showed
    }
    [attachment] = manifest["attachments"]
    assert manifest["answers"] == {**expected_answers, "files": [attachment["blob"]]}
    assert attachment["name"] == "IMG_0412.jpg" and attachment["type"] == "image/jpeg"
    ciphertext = (raw / "blobs" / attachment["blob"]).read_bytes()
    opened = _open_attachment(attachment, ciphertext)
    assert opened == (without_location if strip else photo)
    watched.assert_clean(live.url)


@pytest.mark.slow
def test_a_missing_narrative_is_shown_in_russian_next_to_the_field_and_in_the_summary(
    live: Live, watched: Watched
) -> None:
    page = watched.page
    page.goto(f"{live.url}/ru/forms/{FORM}")
    _ready(page)
    page.fill("#f-narrative", "   ")
    page.check("#field-consent-contact input[value=false]")
    page.click("#send")
    page.wait_for_selector("#error-summary:not([hidden])")
    required = MESSAGES["required"]["ru"]
    assert page.inner_text("#err-narrative") == required
    assert page.get_attribute("#f-narrative", "aria-invalid") == "true"
    summary = page.inner_text("#error-summary")
    assert "Пожалуйста, проверьте эти ответы" in summary and required in summary
    assert page.evaluate("document.activeElement.id") == "error-summary"
    # The summary's link takes the keyboard to the field.
    page.click("#error-list a")
    assert page.evaluate("document.activeElement.id") == "f-narrative"
    assert not any("/api/v1/" in url for url in watched.requests), "nothing is sent"
    watched.assert_clean(live.url)


@pytest.mark.slow
def test_without_javascript_the_form_says_sealing_needs_it_and_links_the_offline_tool(
    live: Live, chromium: Any
) -> None:
    watched = Watched(chromium, javascript=False)
    try:
        page = watched.page
        page.goto(f"{live.url}/ru/forms/{FORM}")
        notice = page.locator("#noscript")
        assert notice.is_visible()
        assert "нужен JavaScript" in notice.inner_text()
        assert page.is_disabled("#send")
        assert page.is_visible("#f-narrative")  # the questions can still be read
        page.click("#noscript a")
        page.wait_for_url(f"{live.url}/ru/offline")
        assert "testimony seal" in page.inner_text("main")
        assert watched.requests and all(url.startswith(live.url) for url in watched.requests)
    finally:
        watched.context.close()


@pytest.mark.slow
def test_no_page_loads_anything_from_elsewhere_or_breaks_its_csp(
    live: Live, watched: Watched
) -> None:
    page = watched.page
    for path in ("/", "/ru/", "/kk/", f"/ky/forms/{FORM}", f"/dng/forms/{FORM}", "/en/key"):
        page.goto(live.url + path)
        page.wait_for_load_state("load")
        assert page.locator("#leave").is_visible()
        assert watched.csp_violations() == [], path
    page.goto(f"{live.url}/en/forms/{FORM}")
    _ready(page)
    assert page.get_attribute("script[type=module]", "integrity").startswith("sha384-")
    watched.assert_clean(live.url)


@pytest.mark.slow
def test_the_language_lives_only_in_the_url(live: Live, watched: Watched) -> None:
    page = watched.page
    page.goto(f"{live.url}/ru/forms/{FORM}")
    _ready(page)
    page.click("nav.languages a[hreflang=kk]")
    page.wait_for_url(f"{live.url}/kk/forms/{FORM}")
    _ready(page)
    assert page.get_attribute("html", "lang") == "kk"
    page.goto(f"{live.url}/en/")
    assert watched.context.cookies() == []
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    watched.assert_clean(live.url)


@pytest.mark.slow
def test_leave_quickly_replaces_the_page_and_leaves_no_history_entry(
    live: Live, watched: Watched
) -> None:
    page = watched.page
    neutral = "https://www.wikipedia.org/"
    watched.context.route(
        neutral + "**", lambda route: route.fulfill(body="neutral", content_type="text/plain")
    )
    page.goto(f"{live.url}/ru/")
    page.goto(f"{live.url}/ru/forms/{FORM}")
    _ready(page)
    page.fill("#f-narrative", "секрет")
    before = page.evaluate("history.length")
    page.click("#leave")
    page.wait_for_url(neutral)
    assert page.evaluate("history.length") == before
    page.go_back()
    assert page.url == f"{live.url}/ru/"  # the form page is gone from the history


@pytest.mark.slow
def test_a_spoken_account_recorded_in_the_page_is_sealed_like_a_file(
    live: Live, chromium: Any, tmp_path: Path
) -> None:
    # Chromium's fake microphone (a tone) stands in for the witness's voice,
    # and its fake permission prompt says yes.
    recording_browser = chromium.browser_type.launch(
        executable_path=str(browser.CHROMIUM),
        headless=True,
        args=[
            *browser.CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
        ],
    )
    context = recording_browser.new_context()
    context.set_default_timeout(30_000)
    context.grant_permissions(["microphone"], origin=live.url)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{live.url}/ru/forms/{FORM}")
        _ready(page)
        photo_path = tmp_path / "IMG_0412.jpg"
        photo_path.write_bytes(photo_with_gps()[0])
        _fill_russian(page, photo_path, strip=True)
        page.set_input_files("#f-files", [])  # the recording is the only attachment

        record = page.locator("#f-files-record")
        assert record.is_visible()
        record.click()
        page.wait_for_selector("#f-files-record[aria-pressed=true]")
        # A second of sound, timed by the page's own clock (no server is waited for).
        page.evaluate("new Promise((done) => setTimeout(done, 1000))")
        record.click()
        page.wait_for_selector("#f-files-recordings li")
        assert page.get_attribute("#f-files-record", "aria-pressed") == "false"

        answer = _send(page)
        assert answer.status == 201
        submission_id = answer.json()["id"]
        page.wait_for_selector("#receipt:not([hidden])", timeout=SUBMIT_TIMEOUT_MS)
    finally:
        context.close()
        recording_browser.close()
    assert errors == []

    raw = _raw_submission(live, submission_id, tmp_path / "raw")
    manifest = _open_manifest(
        live.seed, (raw / "header.bin").read_bytes(), (raw / "body.bin").read_bytes()
    )
    [attachment] = manifest["attachments"]
    assert manifest["answers"]["files"] == [attachment["blob"]]
    assert attachment["type"] in {"audio/webm", "audio/ogg", "audio/mp4"}
    assert attachment["name"].endswith((".webm", ".ogg", ".m4a"))
    ciphertext = (raw / "blobs" / attachment["blob"]).read_bytes()
    audio = _open_attachment(attachment, ciphertext)
    assert len(audio) > 1000  # a second of sound, not an empty file
    if attachment["type"] == "audio/webm":
        assert audio.startswith(b"\x1a\x45\xdf\xa3")  # the EBML header of a WebM file


RETURN_CODE = "4821-0057-3390-1264-7719"


def _entry_at(url: str, index: int) -> dict[str, Any]:
    page = httpx.get(f"{url}/api/v1/log/entries", params={"start": index, "end": index + 1})
    [entry] = page.json()["entries"]
    decoded: dict[str, Any] = json.loads(b64u_decode(entry))
    return decoded


@pytest.mark.slow
def test_a_witness_back_with_the_receipt_code_reads_a_question_and_answers_it(
    live: Live, watched: Watched, tmp_path: Path
) -> None:
    keys = receipt.derive(RETURN_CODE)
    # Two testimonies sent earlier with this code (as the form page sends them)...
    sent_before = []
    with httpx.Client(base_url=live.url, timeout=30) as http:
        me = WitnessClient(http, log_key=http.get("/api/v1/log/key").text.strip(), origin=ORIGIN)
        for narrative in ("Подожгли дом.", "Забрали брата."):
            sealed = me.seal(hpke.public_key(live.seed), {}, {"narrative": narrative})
            sealed.request["witness"] = keys.witness_b64u
            sealed.request["witness_box"] = keys.witness_box_b64u
            sent_before.append(me.submit(sealed)["id"])
        parent = sent_before[0]  # the witness answers the question about the first
        # ...and a reviewer's signed question to it, sent as a workstation sends
        # it: the organisation founded, a session opened, the reply posted.
        question = "Когда это началось? Кто ещё это видел?"
        reviewer, token = admin_session(http, live.setup_token)
        asked = reply(
            http, reviewer, token, parent=parent, witness_box=keys.witness_box, text=question
        )
        assert asked.status_code == 201, asked.text

    page = watched.page
    page.goto(f"{live.url}/ru/return")
    _ready(page)
    # A code that is not one is refused at once; one that sent nothing finds nothing.
    page.fill("#receipt-code-input", "1234")
    page.click("#open")
    page.locator("#code-status", has_text="20 цифр").wait_for()
    page.fill("#receipt-code-input", "1111 2222 3333 4444 5555")
    page.click("#open")
    page.locator("#code-status", has_text="рассказ не отправлялся").wait_for()
    # The witness's own code, typed with spaces: the question, in the clear, only here.
    page.fill("#receipt-code-input", RETURN_CODE.replace("-", " "))
    page.click("#open")
    page.wait_for_selector("#witness-view:not([hidden])")
    assert page.inner_text("#replies li p") == question
    assert page.input_value("#receipt-code-input") == ""
    # Two testimonies under this code: the latest is chosen unless the witness picks another.
    assert page.is_visible("#followup-parent")
    options = page.locator("#followup-parent option")
    assert options.count() == 2
    assert page.input_value("#followup-parent") == sent_before[1]
    assert "(последний)" in options.nth(1).inner_text()
    page.select_option("#followup-parent", parent)

    # The answer, with a photo whose location is removed before sealing.
    photo, without_location = photo_with_gps()
    photo_path = tmp_path / "IMG_0413.jpg"
    photo_path.write_bytes(photo)
    answer = "Началось около 22:00. Видела соседка Айгуль."
    page.fill("#followup-text", answer)
    page.set_input_files("#followup-files", str(photo_path))
    size_before = int(httpx.get(f"{live.url}/api/v1/log/checkpoint").text.split("\n")[1])
    page.click("#send-followup")
    page.wait_for_selector("#followup-progress[data-state=sent]", timeout=SUBMIT_TIMEOUT_MS)
    watched.assert_clean(live.url)
    # The code and its keys never left the page.
    sent = " ".join(watched.requests)
    assert RETURN_CODE.replace("-", "") not in sent

    # Python, with testimony.crypto only, opens the follow-up the log holds.
    entry = _entry_at(live.url, size_before)
    assert entry["type"] == "followup" and entry["parent"] == parent
    assert entry["witness"] == keys.witness_b64u
    reader = open_server(Settings(data_dir=live.data_dir, pow_bits=POW_BITS))
    try:
        header = b"".join(reader.blobs.read(entry["header"]))
        body = b"".join(reader.blobs.read(entry["body"]))
        [blob_id] = entry["attachments"]
        ciphertext = b"".join(reader.blobs.read(blob_id))
    finally:
        reader.close()
    manifest = _open_manifest(live.seed, header, body)
    assert manifest["v"] == 1 and manifest["text"] == answer
    [attachment] = manifest["attachments"]
    assert attachment["blob"] == blob_id and attachment["type"] == "image/jpeg"
    opened = _open_attachment(attachment, ciphertext)
    assert opened == without_location
