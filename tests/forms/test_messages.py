"""forms/messages.py: what a witness reads when an answer does not validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from testimony.forms.errors import FormInvalid, Problem
from testimony.forms.messages import bundled_messages, load_messages
from testimony.forms.registry import bundled_forms
from testimony.forms.validate import answer_problems


def test_problems_read_in_the_witness_language() -> None:
    messages = bundled_messages()
    definition = bundled_forms().latest("kordai-2020").definition
    (problem,) = answer_problems(definition, {}, [])
    assert problem == Problem("narrative", "required", "required")
    assert messages.problem(problem, "ru") == "Пожалуйста, ответьте на этот вопрос перед отправкой."
    assert messages.problem(problem, "en") == "Please answer this question before sending."
    assert messages.problem(problem, "kk") != messages.problem(problem, "en")


def test_an_unknown_language_falls_back_to_the_first() -> None:
    messages = bundled_messages()
    assert messages.text("too-long", "fr") == messages.text("too-long", "ru")


@pytest.mark.parametrize(
    "catalogue",
    [
        {"languages": ["en"], "messages": {"a": {"en": "x", "ru": "y"}}},
        {"languages": ["en", "ru"], "messages": {"a": {"en": "x"}}},
        {"languages": ["en"], "messages": {"a": {"en": " "}}},
        {"languages": ["EN"], "messages": {}},
        {"languages": ["en"]},
    ],
)
def test_an_incomplete_catalogue_is_refused(catalogue: dict) -> None:
    with pytest.raises(FormInvalid):
        load_messages(catalogue)


# --- one line for a courier or witness: which field, what is wrong, what shape ---

KORDAI = Path(__file__).resolve().parents[2] / "forms" / "definitions" / "kordai-2020.json"


def _explained(answers: object, language: str) -> str:
    from testimony.forms import AnswersInvalid, load_form, validate_answers

    form = load_form(KORDAI.read_bytes())
    with pytest.raises(AnswersInvalid) as caught:
        validate_answers(form, answers, [])
    return caught.value.explain(form, language)


def test_an_explanation_names_each_field_and_the_shape_it_expects() -> None:
    line = _explained({"what_happened": 5, "when": "yesterday"}, "en")
    assert "\n" not in line
    assert "`narrative` (In your own words, what happened?): required" in line
    assert "`what_happened` (What happened?): wrong-type" in line
    assert "Expected: a list of distinct choice ids (killing, injury, arson" in line
    assert "`when` (When did it happen?): wrong-type" in line
    assert 'Expected: {"start": a date' in line


def test_an_explanation_speaks_the_witness_s_language() -> None:
    line = _explained({"narrative": ""}, "ru")
    assert "`narrative` (Расскажите своими словами: что произошло?): required" in line
    assert "Пожалуйста, ответьте на этот вопрос" in line


def test_an_explanation_never_repeats_an_answer() -> None:
    canary = "CANARY-4471 the name of a witness"
    line = _explained({"narrative": canary, "what_happened": canary, "where": canary}, "en")
    assert "CANARY" not in line
    assert "`what_happened`" in line and "`where`" in line
