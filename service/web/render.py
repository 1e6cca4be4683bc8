"""What the witness pages (``pages``) and the offline page (``offline``) both
render with: the Jinja templates, the forms' rules and messages as the browser
reads them, JSON safe inside a script element, and the view of one field.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

__all__ = ["field_view", "forms_data", "key_groups", "script_json", "templates"]

_HERE = Path(__file__).resolve().parent


@cache
def templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def forms_data() -> tuple[Any, Any]:
    """``forms/static/rules.json`` and ``forms/messages.json``, as the browser reads them."""
    forms = resources.files("testimony.forms")
    rules = json.loads(forms.joinpath("static", "rules.json").read_text(encoding="utf-8"))
    messages = json.loads(forms.joinpath("messages.json").read_text(encoding="utf-8"))
    return rules, messages


def script_json(value: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">`` (no ``<``, ``>``, ``&``),
    marked safe for the template (HTML entities are not decoded inside a script)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(raw, escaped)
    return Markup(text)  # noqa: S704 - escaped above: no markup can start inside it


def key_groups(key_id: str) -> list[str]:
    """A key id in groups of four characters, as the pages show it to compare aloud."""
    return [key_id[i : i + 4] for i in range(0, len(key_id), 4)]


def field_view(field: dict[str, Any], lang: str, messages: Any) -> dict[str, Any]:
    """What the template needs of one field, in ``lang``."""
    text = messages["messages"]
    view: dict[str, Any] = {
        "id": field["id"],
        "type": field["type"],
        "label": field["label"][lang],
        "help": field["help"][lang],
        "required": field["required"],
        "options": [],
        "free_text": None,
    }
    kind = field["type"]
    if kind in ("choice", "multichoice"):
        view["options"] = [
            {"value": choice["id"], "label": choice["label"][lang]} for choice in field["choices"]
        ]
        if field.get("other"):
            view["free_text"] = {
                "value": "__other",
                "suffix": "other",
                "label": text["field.other"][lang],
            }
    elif kind == "place":
        view["options"] = [
            {"value": place["id"], "label": place["label"][lang]} for place in field["places"]
        ]
        view["free_text"] = {
            "value": "__text",
            "suffix": "text",
            "label": text["field.place-text"][lang],
        }
    elif kind == "boolean":
        view["options"] = [
            {"value": "true", "label": text["field.yes"][lang]},
            {"value": "false", "label": text["field.no"][lang]},
        ]
    return view
