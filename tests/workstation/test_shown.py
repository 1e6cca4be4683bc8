"""What a witness wrote cannot drive the reviewer's terminal or reverse a
name on screen: the commands print every control, bidi and invisible
character as a visible mark (workstation/text.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testimony.workstation import triage
from testimony.workstation.text import invisible, marked

from .triage_fixtures import RUSSIAN, command, desk

HOSTILE = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\u202egpj.exe\u200b\u2066x\u2069 Масанчи"


@pytest.mark.parametrize(
    "char",
    [
        "\x1b",
        "\x07",
        "\x00",
        "\x7f",
        "\x9b",
        "\u202e",
        "\u2066",
        "\u200b",
        "\ufeff",
        "\ue000",
        "\u2028",
    ],
)
def test_each_invisible_character_becomes_a_mark(char: str) -> None:
    assert invisible(char)
    assert marked(f"a{char}b") == f"a\u27e6U+{ord(char):04X}\u27e7b"


def test_letters_line_feeds_and_tabs_stay() -> None:
    text = "Масанчи Қордай Masanchi 马山\n\tend"
    assert marked(text) == text


def test_review_show_and_list_print_marks_not_escapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workstation, _server = desk(tmp_path, monkeypatch)
    statement = {**RUSSIAN, "answers": {**RUSSIAN["answers"], "narrative": HOSTILE}}
    testimony = workstation.submission(
        statement,
        files=[
            (b"MZ", HOSTILE, "application/x-msdownload"),
            (b"%PDF", "p\u0430ypal.pdf", "application/pdf"),
        ],
    )
    triage.refresh(workstation.cache)
    for args in (("review", "show", testimony), ("review", "list")):
        result = command(workstation, *args)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\x07" not in result.output
        assert "\u202e" not in result.output and "\u200b" not in result.output
        assert "\u27e6U+001B\u27e7" in result.output and "\u27e6U+202E\u27e7" in result.output
    shown = command(workstation, "review", "show", testimony).output
    assert "look-alike letters: p\u0430ypal mixes two alphabets" in shown
    workstation.close()
