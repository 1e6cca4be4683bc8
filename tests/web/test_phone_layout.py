"""The witness pages at a small phone's size, in real Chromium: the way in is
on the first screen, in every language."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testimony.crypto import hpke
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings
from tests.live_server import LiveServer, start_server

PHONE = {"width": 360, "height": 640}
"""A small phone in CSS pixels (many witnesses' phones are no bigger)."""
LANGUAGES = ["ru", "kk", "ky", "dng", "en"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root: Path = tmp_path_factory.mktemp("phone")
    settings = Settings(data_dir=root / "data")
    init_data_dir(settings, hpke.public_key(os.urandom(32)), origin="phone.test/log")
    live = start_server(settings.require_data_dir(), root / "server-output.txt")
    try:
        yield live
    finally:
        live.stop()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_start_page_shows_the_form_on_the_first_screen(
    server: LiveServer, chromium: Any, lang: str
) -> None:
    context = chromium.new_context(viewport=PHONE, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/{lang}/")
        button = page.locator("ul.forms a.button").first
        box = button.bounding_box()
        assert box is not None
        assert box["y"] + box["height"] <= PHONE["height"], (
            f"the form's button ends {box['y'] + box['height']:.0f} px down"
        )
    finally:
        context.close()
