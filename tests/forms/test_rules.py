"""forms/rules.py: one table for both validators, and the browser's copy of it."""

from __future__ import annotations

import json
import subprocess
import sys

from testimony.forms.messages import RENDERING_KEYS, bundled_messages, rule_message_keys
from testimony.forms.rules import PROBLEM_CODES, RULES, rules_json
from testimony.forms.schema import FIELD_TYPES

from .conftest import REPO


def test_the_browser_copy_is_the_table() -> None:
    static = (REPO / "forms" / "static" / "rules.json").read_text(encoding="utf-8")
    assert static == rules_json(), "run: python -m testimony.forms.rules > forms/static/rules.json"
    assert json.loads(static) == RULES


def test_the_module_prints_the_table() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "testimony.forms.rules"], capture_output=True, check=True, timeout=60
    )
    assert completed.stdout.decode("utf-8") == rules_json()


def test_every_field_type_has_a_rule() -> None:
    assert set(RULES["types"]) == set(FIELD_TYPES)


def test_every_code_is_documented_and_used() -> None:
    tables = [RULES["answers"], RULES["consent"], *RULES["types"].values()]
    used = {code for table in tables for code in table["codes"]}
    assert used == set(PROBLEM_CODES)


def test_every_message_key_has_a_message_and_every_message_a_use() -> None:
    messages = bundled_messages()
    assert set(messages.texts) == rule_message_keys() | set(RENDERING_KEYS)


def test_limits_are_those_of_the_protocol() -> None:
    # docs/protocol.md §5: text at most 1,000 characters, longtext at most 100,000.
    assert RULES["types"]["text"]["max_length"] == 1_000
    assert RULES["types"]["longtext"]["max_length"] == 100_000
