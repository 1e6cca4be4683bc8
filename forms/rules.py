"""The answer rules of docs/protocol.md §5, as one declarative table.

The Python validator (``forms/validate.py``) and the browser validator
(``forms/static/validate.js``) both interpret this table, so a limit, a pattern,
a problem code or a message key is written once, here. The browser's copy is
generated::

    python -m testimony.forms.rules > forms/static/rules.json

and a test fails when the two differ.

The table holds:

- ``types``: for each field type, the ``check`` that interprets its value, the
  check's parameters (``max_length``...), how a present value can still count
  as missing for a required field (``missing``: ``"blank"`` text or an
  ``"empty-list"``), and the problem ``codes`` it may report, each mapped to
  the key of its localised message in ``forms/messages.json``;
- ``answers``: problems with the answers object as a whole (unknown field,
  required field missing, not an object);
- ``patterns``: the date shapes, matched against the *whole* string
  (Python ``re.fullmatch``; JavaScript ``^(?:...)$`` with the ``u`` flag);
- ``blank``: the code points that count as blank (both languages' own
  "whitespace" differ, so the set is listed);
- ``consent``: the shape of ``M.consent`` (docs/protocol.md §3) and its sharing
  vocabulary.

Lengths are counted in Unicode code points. Problem codes are stable: clients
and translations rely on them.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Final

__all__ = ["PROBLEM_CODES", "RULES", "SHARE_WITH", "rules_json"]

#: Every problem code a validator can report, and what it means.
PROBLEM_CODES: Final[dict[str, str]] = {
    "wrong-type": "the value has the wrong JSON shape for the field type",
    "unknown-field": "an answer names a field the form does not have",
    "required": "a required field is missing (or blank, or an empty list)",
    "too-long": "a text is longer than the type allows",
    "bad-date": "not YYYY, YYYY-MM, YYYY-MM-DD (or YYYY-MM-DDTHH:MM in a range), or no such date",
    "end-before-start": "a range ends before it starts",
    "unknown-choice": "a choice id the field does not list",
    "duplicate-choice": "a choice id given twice",
    "other-not-allowed": "a free-text 'other' answer where the field does not allow it",
    "too-many-other": "more than one free-text 'other' answer",
    "empty-text": "a free-text 'other' or place text that is blank",
    "unknown-place": "a place id the field does not list",
    "bad-coordinates": "lat/lon not both given, not numbers, or out of range",
    "unknown-attachment": "a blob id that is not one of the submission's attachments",
    "duplicate-attachment": "a blob id given twice",
}

#: Who a witness may allow a testimony to be shared with (``M.consent.share_with``).
SHARE_WITH: Final[tuple[str, ...]] = ("prosecutor", "un_treaty_body", "human_rights_org", "media")

_TEXT_MAX = 1_000
_LONGTEXT_MAX = 100_000

_CHOICE_CODES = {
    "unknown-choice": "unknown-choice",
    "other-not-allowed": "other-not-allowed",
    "empty-text": "empty-text",
    "too-long": "too-long",
}

# Unicode White_Space, plus ZERO WIDTH SPACE and BYTE ORDER MARK.
_BLANK = [
    *range(0x09, 0x0E),
    0x20,
    0x85,
    0xA0,
    0x1680,
    *range(0x2000, 0x200C),
    0x2028,
    0x2029,
    0x202F,
    0x205F,
    0x3000,
    0xFEFF,
]

RULES: Final[dict[str, Any]] = {
    "rules_version": 1,
    "protocol": "docs/protocol.md §5",
    "answers": {
        "codes": {
            "wrong-type": "wrong-type.answers",
            "unknown-field": "unknown-field",
            "required": "required",
        },
    },
    "types": {
        "text": {
            "check": "string",
            "max_length": _TEXT_MAX,
            "missing": "blank",
            "codes": {"wrong-type": "wrong-type.text", "too-long": "too-long"},
        },
        "longtext": {
            "check": "string",
            "max_length": _LONGTEXT_MAX,
            "missing": "blank",
            "codes": {"wrong-type": "wrong-type.text", "too-long": "too-long"},
        },
        "date": {
            "check": "date",
            "codes": {"wrong-type": "wrong-type.date", "bad-date": "bad-date"},
        },
        "datetime_range": {
            "check": "datetime_range",
            "codes": {
                "wrong-type": "wrong-type.datetime_range",
                "bad-date": "bad-date",
                "end-before-start": "end-before-start",
            },
        },
        "choice": {
            "check": "choice",
            "other_max_length": _TEXT_MAX,
            "codes": {"wrong-type": "wrong-type.choice", **_CHOICE_CODES},
        },
        "multichoice": {
            "check": "multichoice",
            "other_max_length": _TEXT_MAX,
            "max_other": 1,
            "missing": "empty-list",
            "codes": {
                "wrong-type": "wrong-type.multichoice",
                **_CHOICE_CODES,
                "duplicate-choice": "duplicate-choice",
                "too-many-other": "too-many-other",
            },
        },
        "place": {
            "check": "place",
            "text_max_length": _TEXT_MAX,
            "lat": [-90, 90],
            "lon": [-180, 180],
            "codes": {
                "wrong-type": "wrong-type.place",
                "unknown-place": "unknown-place",
                "empty-text": "empty-text",
                "too-long": "too-long",
                "bad-coordinates": "bad-coordinates",
            },
        },
        "number": {"check": "number", "codes": {"wrong-type": "wrong-type.number"}},
        "boolean": {"check": "boolean", "codes": {"wrong-type": "wrong-type.boolean"}},
        "attachments": {
            "check": "attachments",
            "missing": "empty-list",
            "codes": {
                "wrong-type": "wrong-type.attachments",
                "unknown-attachment": "unknown-attachment",
                "duplicate-attachment": "duplicate-attachment",
            },
        },
    },
    "patterns": {
        "date": "([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?",
        "local_datetime": "([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})",
    },
    "year_min": 1,
    "blank": _BLANK,
    "consent": {
        "share_with": list(SHARE_WITH),
        "codes": {
            "wrong-type": "wrong-type.consent",
            "unknown-field": "unknown-field",
            "required": "required",
            "unknown-choice": "unknown-choice",
            "duplicate-choice": "duplicate-choice",
        },
    },
}


def rules_json() -> str:
    """The table as the browser gets it (``forms/static/rules.json``): stable bytes."""
    return json.dumps(RULES, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main() -> None:
    """Write the table to standard output as JSON."""
    sys.stdout.write(rules_json())


if __name__ == "__main__":
    main()
