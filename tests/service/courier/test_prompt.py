"""The interactive questionnaire answered by a scripted stdin, in Russian
(service/courier/prompt.py)."""

from __future__ import annotations

import io

import pytest

from testimony.forms import bundled_forms, bundled_messages, validate_answers
from testimony.forms.consent import consent_text_sha256
from testimony.service.courier.prompt import PromptAborted, ask_language, interview

KORDAI = bundled_forms().latest("kordai-2020").definition

SCRIPT = [
    # narrative (longtext, required): two lines, then an empty line
    "Ночью подожгли дома.",
    "Мы убежали к соседям.",
    "",
    # when: an impossible month first, then a valid range
    "2020-13-07",
    "",
    "2020-02-07",
    "2020-02-08",
    # where: Masanchi by number
    "1",
    # what happened: arson and "other" with its text
    "3,13",
    "стреляли в воздух",
    # perpetrators: unknown persons
    "4",
    # victims, other witnesses: skipped
    "",
    "",
    # consent: prosecutor and human-rights organisations; follow-ups allowed
    "1,3",
    "1",
]


def test_a_russian_witness_answers_and_corrects_a_date_after_a_russian_message() -> None:
    stdout = io.StringIO()
    result = interview(KORDAI, "ru", stdin=io.StringIO("\n".join(SCRIPT) + "\n"), stdout=stdout)
    assert result.answers == {
        "narrative": "Ночью подожгли дома.\nМы убежали к соседям.",
        "when": {"start": "2020-02-07", "end": "2020-02-08"},
        "where": {"id": "masanchi"},
        "what_happened": ["arson", {"other": "стреляли в воздух"}],
        "perpetrators": ["unknown_persons"],
    }
    validate_answers(KORDAI, result.answers, [])
    assert result.consent.to_manifest() == {
        "share_with": ["prosecutor", "human_rights_org"],
        "contact": True,
        "text_sha256": consent_text_sha256(),
    }
    shown = stdout.getvalue()
    assert KORDAI.field("narrative").label["ru"] in shown
    assert "Масанчи" in shown and "Masanchi" not in shown
    bad_date = bundled_messages().text("bad-date", "ru")
    assert shown.count(bad_date) == 1
    assert "YYYY-MM-DD" in shown  # the date format hint


def test_a_required_answer_left_empty_is_asked_again_in_russian() -> None:
    stdout = io.StringIO()
    script = ["", "Видел пожар.", "", *SCRIPT[3:]]
    result = interview(KORDAI, "ru", stdin=io.StringIO("\n".join(script) + "\n"), stdout=stdout)
    assert result.answers["narrative"] == "Видел пожар."
    assert bundled_messages().text("required", "ru") in stdout.getvalue()


def test_the_end_of_input_aborts_without_answers() -> None:
    with pytest.raises(PromptAborted):
        interview(KORDAI, "ru", stdin=io.StringIO("Только начало\n"), stdout=io.StringIO())


def test_the_language_is_chosen_by_number_and_shown_in_itself() -> None:
    stdout = io.StringIO()
    assert ask_language(KORDAI, io.StringIO("9\n1\n"), stdout) == KORDAI.languages[0]
    assert KORDAI.title["ru"] in stdout.getvalue()
