"""Untrusted text made safe to show (docs/workstation.md, "What you see is inert").

Everything a witness or another reviewer wrote (statements, names, file
names, notes, tags' labels) reaches the terminal through :func:`marked` and a
page through ``ui/text.py``'s ``visible`` (escaped for HTML as well), with
every character that could change how the text *looks* without being
seen (bidi overrides and isolates such as U+202E, which turn
``photo\u202egpj.exe`` into "photoexe.jpg"; zero-width characters; control
characters; private-use and unassigned code points) replaced by a visible
mark naming it, never silently dropped. Line feeds and tabs stay (the page
shows them with ``white-space: pre-wrap``).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["invisible", "marked", "mixed_scripts"]

_KEPT = frozenset("\n\t")
_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"})
_ALSO = frozenset(
    # Interlinear annotation and object replacement: they hide or stand for text.
    "\ufff9\ufffa\ufffb\ufffc"
    # Hangul fillers and the Braille blank: letters that draw nothing.
    "\u115f\u1160\u3164\uffa0\u2800"
)


def invisible(char: str) -> bool:
    """Whether ``char`` is one that is shown as a mark rather than as itself."""
    if char in _KEPT:
        return False
    return char in _ALSO or unicodedata.category(char) in _CATEGORIES


def _code(char: str) -> str:
    return f"U+{ord(char):04X}"


def marked(text: str) -> str:
    """``text`` with each invisible character as ``⟦U+202E⟧``: plain text, not
    escaped. An escape character (U+001B) becomes ``⟦U+001B⟧`` too, so a
    statement cannot drive the reviewer's terminal."""
    return "".join(f"\u27e6{_code(c)}\u27e7" if invisible(c) else c for c in text)


_WORD = re.compile(r"\w+")
_ANY_SCRIPT = frozenset({"Zyyy", "Zinh", "Zzzz"})
"""ICU's Common, Inherited and Unknown: digits, marks and signs belong to every script."""


def mixed_scripts(text: str) -> list[str]:
    """The words of ``text`` that mix letters of two scripts — ``p\u0430ypal``
    with a Cyrillic a, a Latin M at the head of a Cyrillic word —, the look-alike trick
    that makes one name pass for another (UTS #39's mixed-script confusables,
    judged per word with ICU's script of each letter)."""
    import icu  # type: ignore[import-untyped]

    found = []
    for word in _WORD.findall(text):
        scripts = {icu.Script.getScript(ord(c)).getShortName() for c in word} - _ANY_SCRIPT
        if len(scripts) > 1:
            found.append(word)
    return found
