"""The bundled questionnaire, the consent wording and the messages: complete in
every language, and every uncertain translation marked for review."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testimony.forms.consent import consent_wording
from testimony.forms.errors import ReviewMarkersInvalid
from testimony.forms.messages import bundled_messages
from testimony.forms.registry import bundled_forms
from testimony.forms.review import REVIEW_PREFIX, check_review_markers, form_texts
from testimony.forms.schema import FormDefinition, load_form
from testimony.forms.validate import answer_problems

from .conftest import REPO

FORMS_DIR = REPO / "forms"
DEFINITIONS = sorted(
    path
    for path in (FORMS_DIR / "definitions").glob("*.json")
    if not path.name.endswith(".review.json")
)
LOCALISED_FORMS = [*DEFINITIONS, FORMS_DIR / "consent.json"]
LANGUAGES = ["ru", "kk", "ky", "dng", "en"]


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".json") + ".review.json")


def _review(path: Path) -> dict[str, dict[str, str]]:
    sidecar = _sidecar(path)
    return json.loads(sidecar.read_text("utf-8")) if sidecar.exists() else {}


@pytest.mark.parametrize("path", LOCALISED_FORMS, ids=lambda p: p.name)
def test_every_text_exists_in_every_language(path: Path) -> None:
    definition = load_form(path.read_bytes())
    for text_path, texts in form_texts(definition).items():
        assert list(texts) == definition.languages, text_path
        if not text_path.endswith(".help"):
            assert all(text.strip() for text in texts.values()), text_path


@pytest.mark.parametrize("path", LOCALISED_FORMS, ids=lambda p: p.name)
def test_every_review_marker_points_at_an_existing_text(path: Path) -> None:
    definition = load_form(path.read_bytes())
    markers = check_review_markers(
        _sidecar(path).read_bytes(), languages=definition.languages, paths=form_texts(definition)
    )
    assert markers == _review(path)


def test_message_review_markers_point_at_existing_messages() -> None:
    messages = bundled_messages()
    markers = check_review_markers(
        (FORMS_DIR / "messages.review.json").read_bytes(),
        languages=messages.languages,
        paths=messages.texts,
    )
    assert markers == json.loads((FORMS_DIR / "messages.review.json").read_text("utf-8"))
    assert messages.languages == tuple(LANGUAGES)


def _all_localised() -> list[tuple[str, dict[str, dict[str, str]], dict[str, dict[str, str]]]]:
    documents = []
    for path in [*DEFINITIONS, FORMS_DIR / "consent.json"]:
        documents.append((path.name, form_texts(load_form(path.read_bytes())), _review(path)))
    messages = bundled_messages()
    review = json.loads((FORMS_DIR / "messages.review.json").read_text("utf-8"))
    documents.append(
        ("messages.json", {key: dict(texts) for key, texts in messages.texts.items()}, review)
    )
    return documents


def test_no_dungan_placeholder_goes_unmarked() -> None:
    # Dungan texts that are really Russian placeholders must say so.
    unmarked = [
        (name, text_path)
        for name, texts, review in _all_localised()
        for text_path, by_language in texts.items()
        if "dng" in by_language
        and by_language["dng"] == by_language["ru"]
        and text_path not in review.get("dng", {})
    ]
    assert unmarked == []


def test_no_marker_in_the_source_languages() -> None:
    for name, _, review in _all_localised():
        assert not set(review) & {"ru", "en"}, name


@pytest.mark.parametrize(
    "review",
    [
        {"dng": {"fields.nope.label": REVIEW_PREFIX + "x"}},
        {"xx": {"title": REVIEW_PREFIX + "x"}},
        {"dng": {"title": "check this"}},
        {"dng": {"title": REVIEW_PREFIX}},
        {"dng": ["title"]},
        ["dng"],
    ],
)
def test_a_marker_for_nothing_is_refused(review: Any) -> None:
    definition = bundled_forms().latest("kordai-2020").definition
    with pytest.raises(ReviewMarkersInvalid):
        check_review_markers(review, languages=definition.languages, paths=form_texts(definition))


def _kordai() -> FormDefinition:
    return bundled_forms().get_version("kordai-2020", 1).definition


def test_kordai_2020_asks_what_issue_5_lists() -> None:
    definition = _kordai()
    assert definition.languages == LANGUAGES
    types = {field.id: field.type for field in definition.fields}
    assert types == {
        "narrative": "longtext",
        "when": "datetime_range",
        "where": "place",
        "what_happened": "multichoice",
        "perpetrators": "multichoice",
        "victims": "longtext",
        "other_witnesses": "longtext",
        "files": "attachments",
    }
    assert [field.id for field in definition.fields if field.required] == ["narrative"]
    assert definition.field("where").option_ids == {
        "masanchi",
        "sortobe",
        "bular_batyr",
        "aukhatty",
        "kordai",
    }
    assert definition.field("what_happened").option_ids == {
        "killing",
        "injury",
        "arson",
        "looting",
        "property_destruction",
        "shooting",
        "threats",
        "unlawful_search",
        "arbitrary_detention",
        "torture_in_custody",
        "denial_of_lawyer",
        "forced_displacement",
    }
    assert definition.field("perpetrators").option_ids == {
        "police",
        "special_forces_or_military",
        "organised_groups",
        "unknown_persons",
    }
    assert definition.field("what_happened").allows_other
    assert definition.field("perpetrators").allows_other


def test_kordai_2020_every_field_explains_itself() -> None:
    for field in _kordai().fields:
        assert all(text.strip() for text in field.help.values()), field.id


def test_a_full_kordai_2020_testimony_validates() -> None:
    blob = "d" * 64
    answers = {
        "narrative": "Ночью 7 февраля в Масанчи подожгли дом соседа. Я видела это сама.",
        "when": {"start": "2020-02-07T22:00", "end": "2020-02-08"},
        "where": {"text": "улица у мечети", "lat": 43.2, "lon": 75.0},
        "what_happened": ["arson", "shooting", {"other": "сожгли машины"}],
        "perpetrators": ["unknown_persons"],
        "victims": "Двое раненых, пожилой мужчина.",
        "other_witnesses": "Двое соседей.",
        "files": [blob],
    }
    assert answer_problems(_kordai(), answers, [blob]) == []


def test_bundled_kordai_2020_hash_is_stable() -> None:
    # Version 1 is published: changing it changes its hash and breaks every
    # submission that names it. Make version 2 instead (docs/forms.md).
    assert _kordai().sha256 == "6fad351fb96d6d3623fbf7a240c3d135291499afb9e7fc308c85fb9ccb086478"
    assert (
        consent_wording().sha256
        == "57e4fa26009b31c1d605e1e50c68db6ecbfee4f62bd193fa596b89e00af558c3"
    )
