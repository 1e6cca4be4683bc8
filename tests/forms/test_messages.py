"""forms/messages.py: what a witness reads when an answer does not validate."""

from __future__ import annotations

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
