"""forms/validate.py: the answer rules of docs/protocol.md §5, in Python."""

from __future__ import annotations

import math

import pytest

from testimony.forms.errors import AnswersInvalid, Problem
from testimony.forms.schema import FormDefinition, load_form
from testimony.forms.validate import answer_problems, validate_answers
from tests.vectors.loader import load_json

from .cases import ANSWER_CASES, A


def _as_lists(problems: list[Problem]) -> list[list[object]]:
    return [list(problem) for problem in problems]


@pytest.mark.parametrize("case", ANSWER_CASES, ids=lambda case: repr(case["answers"])[:60])
def test_answer_case(case_forms: dict[str, FormDefinition], case: dict) -> None:
    problems = answer_problems(case_forms[case["form"]], case["answers"], case["attachments"])
    assert _as_lists(problems) == case["problems"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_not_numbers(
    case_forms: dict[str, FormDefinition], value: float
) -> None:
    # JSON has no NaN or Infinity, but Python's json module accepts them.
    problems = answer_problems(case_forms["all"], {"n": value}, [])
    assert problems == [Problem("n", "wrong-type", "wrong-type.number")]


def test_validate_answers_raises_with_every_problem(case_forms: dict[str, FormDefinition]) -> None:
    with pytest.raises(AnswersInvalid) as caught:
        validate_answers(case_forms["required"], {"rt": 5}, [])
    assert caught.value.code == "answers-invalid"
    assert caught.value.problems[0] == Problem("rt", "wrong-type", "wrong-type.text")
    assert [p.field_id for p in caught.value.problems[1:]] == ["rl", "rm", "rf", "rb", "rc"]


def test_valid_answers_return_none(case_forms: dict[str, FormDefinition]) -> None:
    assert validate_answers(case_forms["all"], {"f": [A]}, [A]) is None


def test_errors_never_carry_the_witness_answer(case_forms: dict[str, FormDefinition]) -> None:
    secret = "the officer's name was Secretov " * 40
    answers = {"t": secret, "c": {"other": secret}, "unknown " + secret[:20]: secret}
    with pytest.raises(AnswersInvalid) as caught:
        validate_answers(case_forms["all"], answers, [])
    error = caught.value
    for text in (str(error), repr(error), error.diagnostics()):
        assert "Secretov" not in text
    # Unknown field ids are named: they come from the client, not from the witness's words.
    assert {p.code for p in error.problems} == {"unknown-field", "too-long"}


def test_problem_order_is_unknown_fields_then_form_order(
    case_forms: dict[str, FormDefinition],
) -> None:
    answers = {"f": 1, "b": 1, "zz": 1, "t": 1, "aa": 1}
    fields = [p.field_id for p in answer_problems(case_forms["all"], answers, [])]
    assert fields == ["aa", "zz", "t", "b", "f"]


def test_the_protocol_vector_manifest_validates() -> None:
    vector = load_json("testimony/submission.json")
    manifest = _manifest(vector)
    definition = load_form(vector["form"])
    assert manifest["form"]["sha256"] == definition.sha256
    blobs = [attachment["blob"] for attachment in manifest["attachments"]]
    validate_answers(definition, manifest["answers"], blobs)


def _manifest(vector: dict) -> dict:
    import base64
    import json

    encoded = vector["manifest_jcs"]
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
