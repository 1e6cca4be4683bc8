"""The UI's search: one box, transliterating both ways, the matched words marked."""

# ruff: noqa: RUF003 - Cyrillic on purpose
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testimony.workstation.ui.pages.search import snippets

from .support import UI, text_of


@pytest.fixture
def ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[UI]:
    opened = UI(tmp_path, monkeypatch)
    yield opened
    opened.close()


def test_latin_finds_cyrillic_and_marks_the_word(ui: UI) -> None:
    page = ui.get("/search", params={"q": "Masanchi"})
    assert page.status_code == 200
    assert f'href="/testimony/{ui.ids.russian}"' in page.text
    assert "<mark>Масанчи</mark>" in page.text  # the Russian statement's own spelling
    assert "<mark>Masanchi</mark>" in page.text  # and the English one's
    assert f'href="/testimony/{ui.ids.kazakh}"' not in page.text


def test_cyrillic_finds_latin_and_kazakh_spellings(ui: UI) -> None:
    page = ui.get("/search", params={"q": "Сортобе"})
    assert f'href="/testimony/{ui.ids.kazakh}"' in page.text
    assert "<mark>Сортөбе</mark>" in page.text
    english = ui.get("/search", params={"q": "Масанчи", "kind": "testimony"})
    assert f'href="/testimony/{ui.ids.english}"' in english.text


def test_incidents_are_found_by_their_title(ui: UI) -> None:
    page = ui.get("/search", params={"q": "Masanchi", "kind": "incident"})
    assert f'href="/incident/{ui.ids.incident}"' in page.text
    assert f'href="/testimony/{ui.ids.russian}"' not in page.text


def test_notes_and_follow_ups_are_searched_and_say_where(ui: UI) -> None:
    page = ui.get("/search", params={"q": "сарай"})
    assert f'href="/testimony/{ui.ids.russian}"' in page.text
    assert "follow-up:" in text_of(page.text)
    note = ui.get("/search", params={"q": "kartoy"})  # Сверить с картой, typed in Latin
    assert "note:" in text_of(note.text)


def test_a_hostile_statement_found_is_inert(ui: UI) -> None:
    page = ui.get("/search", params={"q": "click"})
    assert f'href="/testimony/{ui.ids.hostile}"' in page.text
    assert "<script>alert" not in page.text
    assert 'href="javascript' not in page.text
    assert "\u202e" not in page.text
    assert "U+202E" in page.text


def test_nothing_found_and_an_empty_query_say_so(ui: UI) -> None:
    assert "0 found" in text_of(ui.get("/search", params={"q": "zzzzqqq"}).text)
    empty = ui.get("/search")
    assert empty.status_code == 200 and "found" not in text_of(empty.text)


def test_snippets_mark_only_the_words_and_keep_the_rest() -> None:
    runs = snippets("aaa Масанчи bbb", {"masanchi"})
    assert runs == [[("aaa ", False), ("Масанчи", True), (" bbb", False)]]
    long = "x " * 100 + "Масанчи" + " y" * 100
    (window,) = snippets(long, {"masanchi"})
    assert window[0] == ("…", False) and window[-1] == ("…", False)
    assert "".join(t for t, _ in window).count("Масанчи") == 1
