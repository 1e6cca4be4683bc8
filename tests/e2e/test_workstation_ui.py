"""The reviewer's web UI, end to end (issue 14, "Tests"; docs/workstation.md,
"The web UI"): a real ``testimony serve``, a real workstation synced with the
real commands, ``testimony workstation ui`` as a reviewer starts it, and
headless Chromium on both sides.

A witness seals a Russian testimony in Chromium with a photo that is also a
web page (a JPEG with an EXIF comment and a script after its end); another
seals one with ``testimony seal``. The founder adds the villages'
coordinates, syncs and launches the UI. In Chromium the reviewer opens the
one-use address (a second visit is refused), finds the Russian testimony by
searching its Latin transliteration ("Masanchi"), sees its photo as the safe
copy (no metadata, nothing after the image, not the original bytes), tags
it, opens a new incident from it, asks the witness a question; links the
other testimony from the incident page, which then counts two independent
sources and draws the timeline and the map with both villages. The witness
reads the question on the return page. Screenshots of the queue, the
testimony, the incident and the overview are written for review
(``$TESTIMONY_SCREENSHOTS``, else the test's folder; docs/workstation.md
shows them).

Last: the workstation directory and every temporary file of this run
(Chromium's profile included) are searched for the statement, the question
and the photo's canaries — nothing decrypted was written to disk — and
Ctrl-C stops the UI within seconds.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from testimony.crypto import keyfile
from testimony.workstation import home as homes
from tests.e2e.test_reviewers_journey import (
    CODE,
    FORM,
    ORIGIN,
    PAGE_TIMEOUT_MS,
    _files,
    _leaks,
    _replies_on_the_return_page,
    _reviewer_new,
    _seal_and_upload,
    _serving,
)
from tests.web import browser
from tests.workstation.test_session import PASSPHRASE, last_line, ok, run
from tests.workstation.ui.support import POLYGLOT_TAIL, photo

pytestmark = pytest.mark.slow

STATEMENT = (
    "CANARY-UI-STATEMENT-5R1 Ночью 7 февраля в Масанчи подожгли дом, я видел людей в масках."
)
CLI_STATEMENT = "CANARY-UI-CLI-STATEMENT-8W3 В Сортобе ночью забрали моего брата."
QUESTION = "CANARY-UI-QUESTION-3T9 Вы видели, откуда они пришли?"
TITLE = "CANARY-UI-INCIDENT-6Y2 Поджоги в Масанчи"
CANARIES = {
    "statement": [STATEMENT, "CANARY-UI-STATEMENT"],
    "question": [QUESTION, "CANARY-UI-QUESTION"],
    "incident title": [TITLE, "CANARY-UI-INCIDENT"],
    "photo metadata": ["CANARY-EXIF-DESCRIPTION", "CANARY-JPEG-COMMENT"],
}
VILLAGES = {
    "masanchi": ("Masanchi", "Масанчи", 42.93, 75.30),
    "sortobe": ("Sortobe", "Сортобе", 42.86, 75.27),
}


def _seal_with_photo(chromium: Any, url: str, picture: Path) -> tuple[str, str]:
    """The witness page in Russian, with the photo: (submission id, receipt code)."""
    context = chromium.new_context()
    try:
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.goto(f"{url}/ru/forms/kordai-2020")
        page.wait_for_selector("html[data-ready=true]", state="attached")
        page.fill("#f-narrative", STATEMENT)
        page.fill("#f-when-start-date", "2020-02-07")
        page.check("#field-where input[value=masanchi]")
        page.check("#field-what_happened input[value=arson]")
        page.check("#field-perpetrators input[value=unknown_persons]")
        page.set_input_files("#f-files", str(picture))
        page.check("#field-consent-share_with input[value=prosecutor]")
        page.check("#field-consent-contact input[value=true]")
        with page.expect_response(
            lambda r: r.url.endswith("/api/v1/submissions") and r.request.method == "POST",
            timeout=PAGE_TIMEOUT_MS,
        ) as answer:
            page.click("#send")
        assert answer.value.status == 201, answer.value.text()
        page.wait_for_selector("#receipt:not([hidden])", timeout=PAGE_TIMEOUT_MS)
        code = page.inner_text("#receipt-code").strip()
        assert CODE.fullmatch(code), code
        return str(answer.value.json()["id"]), code
    finally:
        context.close()


@contextlib.contextmanager
def _ui(home: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``testimony workstation ui --no-browser`` as a reviewer runs it: (process, launch URL)."""
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
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert process.stderr is not None
        line, deadline = "", time.monotonic() + 60
        while "http://" not in line and time.monotonic() < deadline:
            if select.select([process.stderr], [], [], 1)[0]:
                line = process.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/launch/\S+", line)
        assert found is not None, line
        yield process, found.group()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _submit(page: Page, form: str) -> None:
    """Send a form of the page and wait for the page it leads to."""
    with page.expect_navigation():
        page.locator(form).locator("button[type=submit]").first.click()
    assert page.locator(".flash.error").count() == 0, page.locator(".flash.error").all_inner_texts()


def _shoot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"ui-{name}.png"), full_page=True)


def test_a_reviewer_works_in_the_web_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        homes,
        "create_identity",
        functools.partial(homes.create_identity, cost=keyfile.FAST_FOR_TESTS),
    )
    shots = Path(os.environ.get("TESTIMONY_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    # Short: Chromium's profile goes here too, and a socket path has at most 107 bytes.
    scratch = Path(tempfile.mkdtemp(prefix="tui-", dir="/tmp"))
    operator = tmp_path / "operator"
    operator.mkdir()
    seed, public = operator / "intake.seed", operator / "intake.pub"
    ok(run("intake-key", "new", "--private", seed, "--public", public))
    data_dir = operator / "data"
    initialised = ok(
        run("init", "--data-dir", data_dir, "--intake-public-key", public, "--origin", ORIGIN)
    )
    setup_token = last_line(initialised)
    (log_key,) = re.findall(r"log key: (\S+)\n", initialised)
    picture = tmp_path / "дом.jpg"
    original = photo(640, 480, tail=POLYGLOT_TAIL)
    picture.write_bytes(original)
    assert FORM.exists()

    with contextlib.ExitStack() as stack:
        server = stack.enter_context(_serving(data_dir, operator / "server-output.txt"))
        url = server.url
        # From here on, every temporary file of this process and of Chromium is in `scratch`.
        monkeypatch.setenv("TMPDIR", str(scratch))
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        playwright = stack.enter_context(sync_playwright())
        chromium = browser.launch(playwright)
        stack.callback(chromium.close)

        founder = tmp_path / "founder"
        _reviewer_new(founder)
        ok(
            run(
                "org", "init", "--workstation", founder, "--server", url,
                "--setup-token", setup_token, "--intake-seed", seed, "--log-key", log_key,
            )
        )  # fmt: skip
        web_id, code = _seal_with_photo(chromium, url, picture)
        cli_id, _cli_code = _seal_and_upload(
            tmp_path / "witness", url, log_key, public, CLI_STATEMENT
        )
        for village, (en, ru, lat, lon) in VILLAGES.items():
            ok(
                run(
                    "review", "vocab", "add", f"place/{village}", f"--label=en={en}",
                    f"--label=ru={ru}", "--lat", lat, "--lon", lon, "--workstation", founder,
                )
            )  # fmt: skip
        synced = ok(run("sync", "--workstation", founder))
        assert "read: 2 testimonies" in synced and "2 attachments fetched" in synced, synced

        env = {**os.environ, "TESTIMONY_PASSPHRASE": PASSPHRASE, "TMPDIR": str(scratch)}
        process, launch = stack.enter_context(_ui(founder, env))
        context = chromium.new_context(viewport={"width": 1360, "height": 900}, locale="en-GB")
        stack.callback(context.close)
        context.set_default_timeout(30_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        # --- the one-use address, the queue ---------------------------------------------------
        page.goto(launch)
        assert page.url.endswith("/queue"), page.url
        assert page.locator(f"a[href='/testimony/{web_id}']").count() >= 1
        other = chromium.new_context()
        stack.callback(other.close)
        spent = other.new_page()
        spent.goto(launch)
        assert "/unlock" in spent.url  # the address works once
        _shoot(page, shots, "queue")

        # --- search in Latin, find the Russian testimony ---------------------------------------
        page.fill("#global-search", "Masanchi")
        with page.expect_navigation():
            page.press("#global-search", "Enter")
        assert page.locator("mark", has_text="Масанчи").count() >= 1
        with page.expect_navigation():
            page.locator(f"a[href='/testimony/{web_id}']").first.click()
        assert STATEMENT in page.locator("main").inner_text()

        # --- the photo is its safe copy -------------------------------------------------------
        image = page.locator("img[src$='/safe']").first
        image.wait_for()
        assert page.evaluate(
            "(img) => img.complete && img.naturalWidth > 0", image.element_handle()
        )
        base = launch.split("/launch/")[0]
        served = context.request.get(base + str(image.get_attribute("src")))
        assert served.ok and served.headers["content-type"] in ("image/jpeg", "image/png")
        assert served.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in served.headers["content-security-policy"]
        copy = served.body()
        assert copy != original and b"<script" not in copy
        assert b"CANARY-EXIF" not in copy and b"CANARY-JPEG-COMMENT" not in copy
        assert Image.open(io.BytesIO(copy)).size == (640, 480)

        # --- tag, a new incident from it, a question to the witness ---------------------------
        page.fill("#tag-input", "violation/shooting")
        _submit(page, "form[action$='/tag']")
        page.fill("#new-incident-title", TITLE)
        page.select_option("#new-role", "eyewitness")
        _submit(page, "form[action$='/new-incident']")
        page.goto(f"{base}/testimony/{web_id}")
        page.fill("#reply-text", QUESTION)
        _submit(page, "form[action$='/reply']")
        main = page.locator("main").inner_text()
        assert QUESTION in main and TITLE in main
        _shoot(page, shots, "testimony")

        # --- the incident: link the other testimony; corroboration, timeline, map --------------
        with page.expect_navigation():
            page.locator("a[href^='/incident/']").first.click()
        page.fill("#edit-start", "2020-02-07")
        page.fill("#edit-end", "2020-02-08")
        page.fill("#edit-places", "Масанчи")
        page.fill("#edit-acts", "arson; victims=2; by=unknown_persons*10")
        _submit(page, "form[action$='/edit']")
        page.fill("#link-testimony", cli_id[:10])
        page.select_option("#link-role", "victim")
        _submit(page, "form[action$='/link']")
        assert page.inner_text("#corroboration-sources").strip() == "2"
        assert page.locator("svg rect.tl-incident title").count() >= 1  # a bar, not the legend
        assert page.locator("svg .tl-testimony").count() >= 2
        labels = " ".join(page.locator("svg .map-label").all_text_contents())
        assert "Masanchi" in labels and "Sortobe" in labels, labels
        _shoot(page, shots, "incident")

        page.goto(f"{base}/overview")
        assert page.locator("svg.chart").count() >= 4
        _shoot(page, shots, "overview")
        page.goto(f"{base}/queue")
        _shoot(page, shots, "queue")
        assert not [e for e in errors if "Content Security Policy" in e], errors

        # --- the witness reads the question ---------------------------------------------------
        assert QUESTION in _replies_on_the_return_page(chromium, url, code)

        # --- Ctrl-C: stopped within seconds, locked ------------------------------------------
        stopped = time.monotonic()
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=15)
        assert time.monotonic() - stopped < 5 and process.returncode == 0
        assert "locked" in err and "Traceback" not in err and "CANARY" not in err

    # --- nothing decrypted on disk ----------------------------------------------------------------
    try:
        places = {**_files(founder), **_files(scratch)}
        assert places, "the search looked at nothing"
        assert _leaks(places, CANARIES) == []
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
