"""Localised texts for validation problems and for rendering fields (docs/protocol.md §5).

``forms/messages.json`` holds ``{"languages": [...], "messages": {key: {lang: text}}}``:
one message for every message key in ``forms/rules.py`` (what a witness reads
when an answer does not validate), plus the few labels every form needs to
render its fields (``field.*``: "Other", the two ends of a range...). Its
translation-review markers are in ``forms/messages.review.json``. The browser
reads the same file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .errors import FormInvalid, Problem
from .rules import RULES
from .schema import is_language_tag

__all__ = ["RENDERING_KEYS", "Messages", "bundled_messages", "load_messages", "rule_message_keys"]

#: Labels a page needs to render any form, beside the problem messages.
RENDERING_KEYS: tuple[str, ...] = (
    "field.other",
    "field.place-text",
    "field.range-start",
    "field.range-end",
    "field.yes",
    "field.no",
    "field.optional",
)


def rule_message_keys() -> frozenset[str]:
    """Every message key the rules table can report."""
    tables = [RULES["answers"], RULES["consent"], *RULES["types"].values()]
    return frozenset(key for table in tables for key in table["codes"].values())


@dataclass(frozen=True)
class Messages:
    """A message catalogue: ``texts[key][language]``."""

    languages: tuple[str, ...]
    texts: Mapping[str, Mapping[str, str]]

    def text(self, key: str, language: str) -> str:
        """The text of ``key`` in ``language``, or in the first language of the
        catalogue when ``language`` is not one of them. Raises ``KeyError`` for
        an unknown key."""
        texts = self.texts[key]
        return texts.get(language) or texts[self.languages[0]]

    def problem(self, problem: Problem, language: str) -> str:
        """What a witness reads for ``problem`` in ``language``."""
        return self.text(problem.message_key, language)


def load_messages(source: bytes | Mapping[str, Any]) -> Messages:
    """Parse a message catalogue. Raises :class:`FormInvalid` when it is not
    ``{"languages": [BCP 47 tags], "messages": {key: {lang: non-empty text}}}``
    with every message in exactly those languages."""
    data = json.loads(source) if isinstance(source, bytes | bytearray) else source
    problems: list[str] = []
    if not isinstance(data, Mapping) or set(data) != {"languages", "messages"}:
        raise FormInvalid("a message catalogue is {'languages': [...], 'messages': {...}}")
    languages, messages = data["languages"], data["messages"]
    if (
        not isinstance(languages, list)
        or not languages
        or not all(isinstance(tag, str) and is_language_tag(tag) for tag in languages)
    ):
        raise FormInvalid("messages: 'languages' must list BCP 47 language tags")
    if not isinstance(messages, Mapping):
        raise FormInvalid("messages: 'messages' must be an object")
    for key, texts in messages.items():
        if not isinstance(texts, Mapping) or set(texts) != set(languages):
            problems.append(f"{key}: needs exactly the languages {languages}")
        elif not all(isinstance(text, str) and text.strip() for text in texts.values()):
            problems.append(f"{key}: every text must be non-empty")
    if problems:
        raise FormInvalid("the message catalogue is incomplete", problems)
    return Messages(
        languages=tuple(languages),
        texts={key: dict(texts) for key, texts in messages.items()},
    )


def bundled_messages() -> Messages:
    """The catalogue shipped in ``forms/messages.json``."""
    return load_messages(resources.files(__package__).joinpath("messages.json").read_bytes())
