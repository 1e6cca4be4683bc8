"""Fixtures of the browser tests: one local server and one headless Chromium per
session, and one page of the test harness per test module (opening a page
costs about half a second; the module under test keeps no state between
calls). After each test the page must have had no CSP violation and no
uncaught error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from tests.web import browser, tus

PAGE_TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def tus_server() -> tus.TusServer:
    return tus.TusServer()


@pytest.fixture(scope="session")
def base_url(tus_server: tus.TusServer) -> Iterator[str]:
    with browser.serve(route=tus_server.route) as url:
        yield url


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    # Package scope: the sync API's loop ends with tests/web, so that a later test
    # (tests/workstation/ui) can start Playwright of its own.
    with sync_playwright() as playwright:
        instance = browser.launch(playwright)
        yield instance
        instance.close()


class _Harness:
    def __init__(self, chromium: Any, base_url: str) -> None:
        self.context = chromium.new_context()
        self.context.set_default_timeout(PAGE_TIMEOUT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(base_url + "/test/index.html")
        self.page.wait_for_function("window.harnessReady === true")


@pytest.fixture(scope="module")
def harness(chromium: Any, base_url: str) -> Iterator[_Harness]:
    opened = _Harness(chromium, base_url)
    yield opened
    opened.context.close()


@pytest.fixture
def page(harness: _Harness) -> Iterator[Any]:
    """The test page with the built module loaded as ``window.seal``."""
    yield harness.page
    violations = harness.page.evaluate("window.cspViolations.splice(0)")
    errors, harness.errors[:] = list(harness.errors), []
    assert violations == [], f"CSP violations: {violations}"
    assert errors == [], f"uncaught page errors: {errors}"
