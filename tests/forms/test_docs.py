"""docs/forms.md: its examples are true."""

from __future__ import annotations

import json
import re

from testimony.forms.registry import bundled_forms
from testimony.forms.rules import RULES
from testimony.forms.validate import answer_problems

from .conftest import REPO

DOC = (REPO / "docs" / "forms.md").read_text(encoding="utf-8")


def test_the_kordai_answer_example_validates() -> None:
    match = re.search(r"<!-- example: kordai-2020 answers -->\n```json\n(.*?)\n```", DOC, re.S)
    assert match is not None
    answers = json.loads(match.group(1))
    definition = bundled_forms().latest("kordai-2020").definition
    assert answer_problems(definition, answers, answers["files"]) == []


def test_every_problem_code_is_in_the_guide() -> None:
    tables = [RULES["answers"], RULES["consent"], *RULES["types"].values()]
    for code in {code for table in tables for code in table["codes"]}:
        assert f"`{code}`" in DOC, code
