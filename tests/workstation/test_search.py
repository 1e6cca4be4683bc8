"""Search over the decrypted cache (docs/workstation.md "Daily triage"): one
name in Cyrillic and Latin, and in the romanisations' variants, is found
alike — by ICU's transliteration and a fuzzy step, not a table of names —;
the index follows every change and lives only inside the encrypted cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testimony.workstation import search, triage
from testimony.workstation.cache import CACHE_FILE
from tests.workstation.triage_fixtures import ENGLISH, RUSSIAN, Workstation, identity

ME = identity(1)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workstation]:
    workstation = Workstation(tmp_path / "ws", ME)
    yield workstation
    workstation.close()


def _found(ws: Workstation, query: str, kind: str = "testimony") -> list[str]:
    triage.refresh(ws.cache)
    return [hit.doc for hit in search.search(ws.cache, query, kinds=(kind,))]


@pytest.mark.parametrize(
    ("word", "key"),
    [
        ("Масанчи", "masanchi"),  # Russian
        ("Масанчы", "masanchi"),  # Kyrgyz
        ("Masanchy", "masanchi"),
        ("Масаншы", "masanshi"),  # Kazakh: one edit from masanchi
        ("Сортөбе", "sortobe"),
        ("Sortobe", "sortobe"),
        ("Аухатты", "aukhati"),
        ("Қордай", "qordai"),
        ("Αθήνα", "athena"),  # any script ICU knows, not a table of our names
    ],
)
def test_words_are_reduced_by_icu_transliteration_and_a_fuzzy_fold(word: str, key: str) -> None:
    assert search.fold_word(word.casefold()) == key


@pytest.mark.parametrize(
    "query", ["Масанчи", "Masanchi", "Masanchy", "МАСАНЧЫ", "Масаншы", "masanch"]
)
def test_masanchi_is_found_however_it_is_spelt(ws: Workstation, query: str) -> None:
    # The witness wrote "в Масанчи" in the narrative, and chose no village.
    russian = {**RUSSIAN, "answers": {**RUSSIAN["answers"], "where": {"text": "у мечети"}}}
    a = ws.submission(russian)
    ws.submission(ENGLISH)
    assert _found(ws, query) == [a]


@pytest.mark.parametrize("query", ["Сортобе", "Sortobe", "Сортөбе", "sortobe road"])
def test_sortobe_is_found_in_latin_and_cyrillic(ws: Workstation, query: str) -> None:
    ws.submission()
    b = ws.submission(ENGLISH)  # "the road out of Sortobe"
    assert _found(ws, query) == [b]


def test_every_word_must_match_and_exact_matches_rank_first(ws: Workstation) -> None:
    exact = ws.submission({**RUSSIAN, "answers": {"narrative": "Пожар в Масанчи, горели дома."}})
    fuzzy = ws.submission({**RUSSIAN, "answers": {"narrative": "Пожар в Масаншы."}})
    ws.submission({**RUSSIAN, "answers": {"narrative": "Задержания в Сортобе."}})
    triage.refresh(ws.cache)
    hits = search.search(ws.cache, "masanchi пожар")
    assert [h.doc for h in hits] == [exact, fuzzy] and hits[0].score > hits[1].score
    assert _found(ws, "Масанчи Сортобе") == []
    assert _found(ws, "") == [] and _found(ws, "  ,. ") == []


def test_short_words_match_exactly_only(ws: Workstation) -> None:
    a = ws.submission({**RUSSIAN, "answers": {"narrative": "дом сгорел"}})
    assert _found(ws, "дом") == [a]
    assert _found(ws, "дым") == []  # one edit away, but too short to be the same word


def test_the_index_follows_notes_translations_tags_follow_ups_and_incidents(
    ws: Workstation,
) -> None:
    a = ws.submission(ENGLISH)
    assert _found(ws, "Карасу") == []
    ws.annotate({"v": 1, "kind": "note", "testimony": a, "text": "Сверить с рассказом из Карасу"})
    assert _found(ws, "Karasu") == [a]
    ws.annotate(
        {"v": 1, "kind": "translation", "testimony": a, "lang": "ru", "text": "Дядя сказал"}
    )
    assert _found(ws, "дядя") == [a]
    ws.followup(a, "They were wearing black uniforms.")
    assert _found(ws, "uniforms") == [a]
    # A tag's labels in every language are searchable, and go with the tag.
    ws.annotate({"v": 1, "kind": "tag", "testimony": a, "tags": ["violation/looting"]})
    assert _found(ws, "мародёрство") == [a]
    ws.annotate({"v": 1, "kind": "untag", "testimony": a, "tags": ["violation/looting"]})
    assert _found(ws, "мародёрство") == []
    incident = "a1" * 16
    ws.annotate(
        {"v": 1, "kind": "incident", "incident": incident, "fields": {"title": "Поджоги в Масанчи"}}
    )
    assert _found(ws, "masanchy", "incident") == [incident]
    ws.annotate({"v": 1, "kind": "incident", "incident": incident, "fields": {"title": "Arson"}})
    assert _found(ws, "masanchy", "incident") == []


def test_the_index_is_kept_inside_the_encrypted_cache(ws: Workstation, tmp_path: Path) -> None:
    ws.submission({**RUSSIAN, "answers": {"narrative": "CANARYWORD Айгерим видела пожар"}})
    assert _found(ws, "canaryword") != []
    ws.cache.close()
    on_disk = b"".join(p.read_bytes() for p in (tmp_path / "ws").iterdir() if p.is_file())
    for needle in ("canaryword", "CANARYWORD", "aigerim", "Айгерим"):
        assert needle.encode() not in on_disk
    assert (tmp_path / "ws" / CACHE_FILE).exists()
    ws.cache = type(ws.cache)(tmp_path / "ws", ME)
