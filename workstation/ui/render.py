"""Pages from templates (``workstation/ui/templates/``) and the UI's strings
(``workstation/ui/strings.json``: one catalogue, ``{"en": {key: text}, "ru":
{...}}``; English is complete and every other language falls back to it key
by key; ``tests/workstation/ui/test_strings.py`` checks that every key a
template or a page uses exists in English and Russian).

Jinja2 escapes everything (``autoescape``); untrusted text additionally goes
through the ``show`` filter (:func:`~testimony.workstation.ui.text.visible`),
which makes bidi and control characters visible.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from .text import marked, visible

__all__ = [
    "LANGUAGES",
    "catalogue",
    "environment",
    "moment",
    "short",
    "size",
    "translate",
]

LANGUAGES = ("en", "ru")
"""The UI's own languages (a form's labels come in every language the form has)."""


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """The strings of every UI language."""
    text = resources.files(__package__).joinpath("strings.json").read_text(encoding="utf-8")
    strings: dict[str, dict[str, str]] = json.loads(text)
    return strings


def translate(lang: str, key: str, values: Mapping[str, Any] | None = None) -> str:
    """The string ``key`` in ``lang`` (else English), with ``{name}`` filled in."""
    strings = catalogue()
    text = strings.get(lang, {}).get(key)
    if text is None:
        text = strings["en"].get(key)
    if text is None:
        raise KeyError(f"no UI string {key!r}")
    return text.format(**values) if values else text


def short(identifier: object, digits: int = 12) -> str:
    return "-" if not identifier else str(identifier)[:digits]


def moment(received: object) -> str:
    """A logged time (RFC 3339, coarse by §9) as ``YYYY-MM-DD HH:MM``."""
    if not received:
        return "-"
    return str(received).replace("T", " ")[:16]


def size(value: int) -> str:
    if value < 1024:
        return f"{value} B"
    number = float(value)
    for unit in ("KiB", "MiB", "GiB"):
        number /= 1024
        if number < 1024 or unit == "GiB":
            break
    return f"{number:.1f} {unit}"


@cache
def environment() -> Environment:
    """The templates' environment: autoescaped, strict about undefined names."""
    folder = resources.files(__package__).joinpath("templates")
    env = Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["show"] = visible
    env.filters["marked"] = marked
    env.filters["short"] = short
    env.filters["moment"] = moment
    env.filters["size"] = size
    env.globals["Markup"] = Markup
    return env
