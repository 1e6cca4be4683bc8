"""The UI's strings (workstation/ui/strings.json): every key a template or a
page asks for exists in English and in Russian, and the two have the same keys."""

from __future__ import annotations

import re
import string
from pathlib import Path

from testimony.workstation.ui import render

UI = Path(__file__).resolve().parents[3] / "workstation" / "ui"
KEY = re.compile(r"""\bt\(\s*["']([a-z0-9_.-]+)["']\s*([,)+])""")


def _used() -> tuple[set[str], set[str]]:
    """Keys asked for literally, and prefixes of keys built at run time (``t("lang." + code)``)."""
    keys, prefixes = set(), set()
    for path in [*UI.glob("templates/*.html"), *UI.glob("pages/*.py"), *UI.glob("*.py")]:
        for key, after in KEY.findall(path.read_text(encoding="utf-8")):
            (prefixes if after == "+" else keys).add(key)
    return keys, prefixes


def test_english_and_russian_have_the_same_keys() -> None:
    strings = render.catalogue()
    assert set(render.LANGUAGES) <= set(strings)
    assert set(strings["en"]) == set(strings["ru"]), set(strings["en"]) ^ set(strings["ru"])


def test_every_key_used_exists_and_its_placeholders_agree() -> None:
    strings = render.catalogue()
    keys, prefixes = _used()
    assert keys, "no key found: the pattern is wrong"
    for lang in render.LANGUAGES:
        missing = sorted(k for k in keys if k not in strings[lang])
        assert not missing, (lang, missing)
        for prefix in prefixes:
            assert any(k.startswith(prefix) for k in strings[lang]), (lang, prefix)
    for key, text in strings["en"].items():
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f}
        other = {f for _, f, _, _ in string.Formatter().parse(strings["ru"][key]) if f}
        assert fields == other, key


def test_the_russian_is_russian() -> None:
    """A key copied over untranslated is caught (names and codes aside)."""
    strings = render.catalogue()
    same = [
        k
        for k, v in strings["en"].items()
        if strings["ru"][k] == v
        and re.search("[a-z]{4,}", v)
        and not k.startswith("lang.")
        and k != "app.name"
    ]
    assert not same, same
