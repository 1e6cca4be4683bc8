"""forms/static/validate.js gives exactly the problems forms/validate.py gives.

The browser validates before sealing and the workstation after opening; a
testimony accepted by one and refused by the other would be lost or
misreported, so both interpreters run the same cases (tests/forms/cases.py)
and thousands of random answers, under node, and must agree problem for problem.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from testimony.forms.consent import consent_problems
from testimony.forms.rules import SHARE_WITH
from testimony.forms.schema import FormDefinition
from testimony.forms.validate import answer_problems

from .cases import ANSWER_CASES, CONSENT_CASES, FORMS, A, B
from .conftest import REPO

RUNNER = Path(__file__).with_name("run_validate.mjs")
VALIDATE_JS = REPO / "forms" / "static" / "validate.js"
RULES_JSON = REPO / "forms" / "static" / "rules.json"


def run_js(cases: list[dict[str, Any]], tmp_path: Path) -> list[Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (20 or later) is needed to test the browser validator")
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({"forms": FORMS, "cases": cases}), encoding="utf-8")
    completed = subprocess.run(
        [node, str(RUNNER), str(VALIDATE_JS), str(RULES_JSON), str(batch)],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr.decode()
    results: list[Any] = json.loads(completed.stdout)
    return results


def python_results(case_forms: dict[str, FormDefinition], cases: list[dict[str, Any]]) -> list[Any]:
    results = []
    for case in cases:
        if "consent" in case:
            problems = consent_problems(case["consent"])
        else:
            problems = answer_problems(
                case_forms[case["form"]], case["answers"], case["attachments"]
            )
        results.append([list(problem) for problem in problems])
    return results


def test_js_matches_the_case_table(tmp_path: Path) -> None:
    cases = ANSWER_CASES + CONSENT_CASES
    results = run_js(cases, tmp_path)
    mismatches = [
        (case.get("answers", case.get("consent")), case["problems"], got)
        for case, got in zip(cases, results, strict=True)
        if got != case["problems"]
    ]
    assert mismatches == []


# Values near every rule's edges, and junk, composed at random.
_ATOMS: list[Any] = [
    None, True, False, 0, 1, -1.5, 91, -180.5, 1e300, 2**70, 10**400,
    "", " ", "\u200b", "\u3000", "x", "y", "z", "q", "other", "village_a", "village_b",
    A, B, "c" * 64, "2020", "2020-02", "2020-02-29", "2019-02-29", "2021", "2020-12",
    "2020-02-07T10:00", "2020-02-07T24:00", "2020-02-07T09:59", "0000", "2020-2-7",
    "x" * 1000, "x" * 1001, "\U0001f600" * 1000, "\U0001f600" * 1001, "é", "\U0001f600",
    *SHARE_WITH, "police",
]  # fmt: skip
_KEYS = ["start", "end", "id", "text", "lat", "lon", "other", "share_with", "contact", "x"]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth >= 2 or roll < 0.45:
        return rng.choice(_ATOMS)
    if roll < 0.7:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = rng.sample(_KEYS, rng.randint(0, 3))
    return {key: _random_value(rng, depth + 1) for key in keys}


def _random_cases(seed: int, count: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    cases: list[dict[str, Any]] = []
    for _ in range(count):
        if rng.random() < 0.1:
            consent = {
                key: _random_value(rng, 1) for key in rng.sample(_KEYS[-3:], rng.randint(0, 3))
            }
            if rng.random() < 0.3:
                consent["share_with"] = rng.sample([*SHARE_WITH, "police", 5], rng.randint(0, 3))
            cases.append({"consent": consent})
            continue
        form = rng.choice(list(FORMS))
        field_ids = [field["id"] for field in FORMS[form]["fields"]] + ["extra", "Z"]
        answers = {
            field_id: _random_value(rng) for field_id in rng.sample(field_ids, rng.randint(0, 6))
        }
        cases.append(
            {
                "form": form,
                "answers": answers if rng.random() > 0.02 else _random_value(rng),
                "attachments": rng.sample([A, B], rng.randint(0, 2)),
            }
        )
    return cases


def test_js_matches_python_on_random_answers(
    case_forms: dict[str, FormDefinition], tmp_path: Path
) -> None:
    cases = _random_cases(seed=20200207, count=4000)
    expected = python_results(case_forms, cases)
    results = run_js(cases, tmp_path)
    mismatches = [
        (case, want, got)
        for case, want, got in zip(cases, expected, results, strict=True)
        if want != got
    ]
    assert mismatches[:3] == []
    # The random cases reach every problem code, so no rule goes untested.
    reached = {problem[1] for problems in expected for problem in problems}
    assert reached >= {"wrong-type", "unknown-field", "too-long", "bad-date", "unknown-choice"}


def test_the_bundled_form_validates_the_same_in_js(tmp_path: Path) -> None:
    definition = json.loads(
        (REPO / "forms" / "definitions" / "kordai-2020.json").read_text("utf-8")
    )
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (20 or later) is needed to test the browser validator")
    answers = {
        "narrative": "   ",
        "when": {"start": "2020-02-07T22:00", "end": "2020-02-08"},
        "where": {"id": "masanchi"},
        "what_happened": ["arson", "looting", {"other": "cars burned"}],
        "perpetrators": ["unknown_persons", "police", "police"],
        "files": [A],
    }
    batch = tmp_path / "batch.json"
    batch.write_text(
        json.dumps(
            {
                "forms": {"kordai": definition},
                "cases": [{"form": "kordai", "answers": answers, "attachments": [A]}],
            }
        ),
        encoding="utf-8",
    )
    completed = subprocess.run(
        [node, str(RUNNER), str(VALIDATE_JS), str(RULES_JSON), str(batch)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert json.loads(completed.stdout) == [
        [
            ["narrative", "required", "required"],
            ["perpetrators", "duplicate-choice", "duplicate-choice"],
        ]
    ]
