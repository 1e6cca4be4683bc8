"""Untrusted text made safe to show in a page: :func:`visible` (HTML) and
:func:`marked` (plain text, for SVG ``<text>``); the rules are
``workstation/text.py``'s, which the commands use for the terminal."""

from __future__ import annotations

import unicodedata

from markupsafe import Markup, escape

from ..text import invisible, marked

__all__ = ["invisible", "marked", "visible"]


def _name(char: str) -> str:
    return unicodedata.name(char, "") or "control character"


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
            parts.append(f'<span class="cc" title="{escape(_name(char))}">U+{ord(char):04X}</span>')
        else:
            parts.append(str(escape(char)))
    return Markup("".join(parts))  # noqa: S704 - every part is escaped above
