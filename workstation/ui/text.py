"""Untrusted text made safe to show (docs/workstation.md, "What you see is inert").

Everything a witness or another reviewer wrote (statements, names, file
names, notes, tags' labels) reaches a page through :func:`visible` (HTML) or
:func:`marked` (plain text, for SVG ``<text>`` and attributes): escaped, and
with every character that could change how the text *looks* without being
seen (bidi overrides and isolates such as U+202E, which turn
``photo\u202egpj.exe`` into "photoexe.jpg"; zero-width characters; control
characters; private-use and unassigned code points) replaced by a visible
mark naming it, never silently dropped. Line feeds and tabs stay (the page
shows them with ``white-space: pre-wrap``).
"""

from __future__ import annotations

import unicodedata

from markupsafe import Markup, escape

__all__ = ["invisible", "marked", "visible"]

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


def _name(char: str) -> str:
    return unicodedata.name(char, "") or "control character"


def _code(char: str) -> str:
    return f"U+{ord(char):04X}"


def marked(text: str) -> str:
    """``text`` with each invisible character as ``⟦U+202E⟧``: plain text, not escaped."""
    return "".join(f"\u27e6{_code(c)}\u27e7" if invisible(c) else c for c in text)


def visible(text: object) -> Markup:
    """``text`` escaped for HTML, each invisible character a visible, labelled mark.

    The mark is ``<span class="cc" title="RIGHT-TO-LEFT OVERRIDE">U+202E</span>``:
    it reads as what it is and, being a mark rather than the character, has
    no effect on the text around it."""
    if text is None:
        return Markup("")
    value = str(text)
    if not any(invisible(c) for c in value):
        return escape(value)
    parts: list[str] = []
    for char in value:
        if invisible(char):
            parts.append(f'<span class="cc" title="{escape(_name(char))}">{_code(char)}</span>')
        else:
            parts.append(str(escape(char)))
    return Markup("".join(parts))  # noqa: S704 - every part is escaped above
