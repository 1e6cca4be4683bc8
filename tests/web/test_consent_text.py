"""``M.consent.text_sha256`` (docs/protocol.md §3, v1.1) as the witness's pages
write it, in headless Chromium: a testimony sealed on the form page of a real
``testimony serve`` and one sealed on the offline page (opened from
``file://`` with the network off) both open, with the vector's intake seed and
``testimony.crypto`` alone, to a consent that names
``consent_text_sha256()``, the hash of the wording the page showed
(``forms/consent.json``); the page data carries that document as
``consentDocument``. The courier's prompt is ``tests/service/test_cli_courier.py``'s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from testimony.crypto import hpke
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.submission import open_submission
from testimony.forms import bundled_forms
from testimony.forms.consent import consent_text_sha256, consent_wording
from testimony.service.courier.envelope import read_envelope
from testimony.service.domain.raw import write_raw_submission
from testimony.service.server import open_log
from testimony.service.settings import Settings
from testimony.service.web.offline import offline_page
from tests.service.courier.support import (
    INTAKE_SEED,
    LiveServer,
    live,  # noqa: F401 - the live-server fixture
)

pytestmark = pytest.mark.slow

FORM = "kordai-2020"
TIMEOUT_MS = 90_000
NARRATIVE = "Ночью 7 февраля в Масанчи подожгли дом соседа."


@pytest.fixture
def context(chromium: Any) -> Iterator[tuple[Any, list[str]]]:
    """A fresh browser context, and the uncaught page errors it records (each
    page also records its CSP violations in ``window.__csp``)."""
    opened = chromium.new_context(accept_downloads=True)
    opened.set_default_timeout(TIMEOUT_MS)
    opened.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    errors: list[str] = []
    opened.on("page", lambda page: page.on("pageerror", lambda error: errors.append(str(error))))
    yield opened, errors
    opened.close()


def _page_data(page: Any) -> dict[str, Any]:
    text = page.evaluate("document.getElementById('page-data').textContent")
    data: dict[str, Any] = json.loads(text)
    return data


def _fill(page: Any) -> None:
    """The one required answer, and the consent (share with a prosecutor, no contact)."""
    page.fill("#f-narrative", NARRATIVE)
    page.check("#field-consent-share_with input[value=prosecutor]")
    page.check("#field-consent-contact input[value=false]")


def _assert_consent(manifest: dict[str, Any]) -> None:
    assert manifest["answers"]["narrative"] == NARRATIVE
    assert manifest["consent"] == {
        "share_with": ["prosecutor"],
        "contact": False,
        "text_sha256": consent_text_sha256(),
    }


def test_the_form_page_seals_the_hash_of_the_consent_wording_it_showed(
    live: LiveServer,  # noqa: F811 - the fixture imported above
    context: tuple[Any, list[str]],
    tmp_path: Path,
) -> None:
    browser_context, errors = context
    page = browser_context.new_page()
    page.goto(f"{live.url}/ru/forms/{FORM}")
    page.wait_for_selector("html[data-ready=true]", state="attached")
    # The page data carries the consent document, whose JCS hash is Python's.
    document = _page_data(page)["consentDocument"]
    assert document == consent_wording().as_json()
    assert rfc8785.dumps(document) == consent_wording().jcs
    _fill(page)
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/submissions") and r.request.method == "POST",
        timeout=TIMEOUT_MS,
    ) as answer:
        page.click("#send")
    assert answer.value.status == 201, answer.value.text()
    submission_id = answer.value.json()["id"]
    page.wait_for_selector("#receipt:not([hidden])")
    assert page.evaluate("window.__csp") == []
    assert errors == []

    # What the log holds opens, with the intake seed, to the hash of that wording.
    out = tmp_path / "raw"
    with open_log(Settings(data_dir=live.data_dir)) as (log, blobs):
        write_raw_submission(log, blobs, submission_id, out)
    opened = open_submission(
        INTAKE_SEED, (out / "header.bin").read_bytes(), (out / "body.bin").read_bytes()
    )
    _assert_consent(opened.manifest)


def test_the_offline_page_seals_the_hash_of_the_consent_wording_it_showed(
    context: tuple[Any, list[str]], tmp_path: Path
) -> None:
    definition = bundled_forms().latest(FORM).definition
    generated = offline_page(definition, hpke.public_key(INTAKE_SEED), ["ru"])
    page_file = tmp_path / "offline.html"
    page_file.write_bytes(generated.html)
    browser_context, errors = context
    browser_context.set_offline(True)
    browser_context.route(
        re.compile(r"^(?!file:|blob:|data:)"), lambda route: route.abort("blockedbyclient")
    )
    page = browser_context.new_page()
    page.goto(page_file.as_uri())
    page.wait_for_selector("html[data-ready=true]")
    assert _page_data(page)["consentDocument"] == consent_wording().as_json()
    _fill(page)
    page.click("#send")
    page.wait_for_selector("#receipt:not([hidden])")
    with page.expect_download() as download:
        page.click("#download")
    envelope_path = tmp_path / "sealed.testimony"
    download.value.save_as(envelope_path)
    assert page.evaluate("window.__csp") == []
    assert errors == []

    request = read_envelope(envelope_path).request
    opened = open_submission(
        INTAKE_SEED, b64u_decode(request["header"]), b64u_decode(request["body"])
    )
    _assert_consent(opened.manifest)
