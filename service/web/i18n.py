"""The witness pages' own texts in every page language (issue 5, "Witness pages").

``service/web/strings.json`` holds ``{"languages": [...], "strings": {key:
{lang: text}}, "autonyms": {lang: name}}``; uncertain translations are listed
in ``strings.review.json`` beside it, in the format of the forms' review
sidecars (``docs/forms.md``, "Languages and review markers"): ``{lang: {key:
"needs native-speaker review: ..."}}``. The texts a form brings (labels, help,
problem messages, consent wording) come from ``testimony.forms``, not from here.

A language is only ever chosen by the URL (``/{lang}/...``): nothing here
reads a cookie, a header such as ``Accept-Language``, or anything stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["REVIEW_PREFIX", "UiStrings", "ui_strings"]

REVIEW_PREFIX = "needs native-speaker review:"


@dataclass(frozen=True)
class UiStrings:
    """The pages' texts: ``texts[key][lang]``, the languages in display order,
    each language's own name, and the review markers."""

    languages: tuple[str, ...]
    texts: Mapping[str, Mapping[str, str]]
    autonyms: Mapping[str, str]
    review: Mapping[str, Mapping[str, str]]

    def for_language(self, language: str) -> dict[str, str]:
        """Every text in ``language``. Raises ``KeyError`` for a language the
        pages do not have."""
        if language not in self.languages:
            raise KeyError(language)
        return {key: texts[language] for key, texts in self.texts.items()}

    def problems(self) -> list[str]:
        """What is wrong with the catalogue (empty when it is sound): a text
        missing in a language, a review marker naming nothing or without its
        prefix, a Dungan text identical to the Russian one left unmarked."""
        found: list[str] = []
        for key, texts in self.texts.items():
            missing = [lang for lang in self.languages if not texts.get(lang)]
            extra = sorted(set(texts) - set(self.languages))
            if missing or extra:
                found.append(f"{key}: missing {missing}, unknown {extra}")
        if set(self.autonyms) != set(self.languages):
            found.append("autonyms: not exactly the page languages")
        for lang, markers in self.review.items():
            if lang not in self.languages:
                found.append(f"review: unknown language {lang}")
            for key, reason in markers.items():
                if key not in self.texts and key != "autonyms":
                    found.append(f"review.{lang}.{key}: no such text")
                if not reason.startswith(REVIEW_PREFIX):
                    found.append(f"review.{lang}.{key}: does not start with {REVIEW_PREFIX!r}")
        if "dng" in self.languages and "ru" in self.languages:
            for key, texts in self.texts.items():
                if texts["dng"] == texts["ru"] and key not in self.review.get("dng", {}):
                    found.append(f"{key}: the Dungan text is the Russian one and is not marked")
        return found


@cache
def ui_strings() -> UiStrings:
    """The bundled catalogue (``strings.json`` with ``strings.review.json``).

    Raises ``ValueError`` if the package data is broken (a test keeps it sound).
    """
    folder = resources.files(__package__)
    data = json.loads(folder.joinpath("strings.json").read_text(encoding="utf-8"))
    review = json.loads(folder.joinpath("strings.review.json").read_text(encoding="utf-8"))
    strings = UiStrings(
        languages=tuple(data["languages"]),
        texts=data["strings"],
        autonyms=data["autonyms"],
        review=review,
    )
    broken = strings.problems()
    if broken:
        raise ValueError("service/web/strings.json: " + "; ".join(broken))
    return strings
