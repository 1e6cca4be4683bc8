"""Answer and consent cases run through both validators (Python and the browser's JS).

Each case names a form of ``FORMS``, the answers, the blob ids of
``M.attachments`` and the exact problem list both validators must report.
"""

from __future__ import annotations

from typing import Any

A = "a" * 64
B = "b" * 64


def _texts(text: str) -> dict[str, str]:
    return {"en": text, "ru": text}


def _field(
    field_id: str, field_type: str, *, required: bool = False, **extra: Any
) -> dict[str, Any]:
    return {
        "id": field_id,
        "type": field_type,
        "label": _texts(field_id),
        "help": _texts(""),
        "required": required,
        **extra,
    }


def _options(*ids: str) -> list[dict[str, Any]]:
    return [{"id": option, "label": _texts(option)} for option in ids]


FORMS: dict[str, dict[str, Any]] = {
    "all": {
        "id": "all-types",
        "version": 1,
        "title": _texts("Every field type"),
        "languages": ["en", "ru"],
        "fields": [
            _field("t", "text"),
            _field("lt", "longtext"),
            _field("d", "date"),
            _field("r", "datetime_range"),
            _field("c", "choice", choices=_options("x", "y"), other=True),
            _field("c2", "choice", choices=_options("x", "y")),
            _field("m", "multichoice", choices=_options("x", "y", "z"), other=True),
            _field("m2", "multichoice", choices=_options("x", "y"), other=False),
            _field("p", "place", places=_options("village_a", "village_b")),
            _field("n", "number"),
            _field("b", "boolean"),
            _field("f", "attachments"),
        ],
    },
    "required": {
        "id": "required-fields",
        "version": 1,
        "title": _texts("Required fields"),
        "languages": ["en", "ru"],
        "fields": [
            _field("rt", "text", required=True),
            _field("rl", "longtext", required=True),
            _field("rm", "multichoice", required=True, choices=_options("x")),
            _field("rf", "attachments", required=True),
            _field("rb", "boolean", required=True),
            _field("rc", "choice", required=True, choices=_options("x")),
            _field("opt", "text"),
        ],
    },
}

ANSWERS_CODES = {
    "wrong-type": "wrong-type.answers",
    "unknown-field": "unknown-field",
    "required": "required",
}


def _p(field_id: str | None, code: str, key: str | None = None) -> list[Any]:
    return [field_id, code, key if key is not None else code]


def _wt(field_id: str, kind: str) -> list[Any]:
    return [field_id, "wrong-type", f"wrong-type.{kind}"]


def _one(field_id: str, value: Any, *problems: list[Any], form: str = "all") -> dict[str, Any]:
    return {
        "form": form,
        "answers": {field_id: value},
        "attachments": [A, B],
        "problems": list(problems),
    }


_VALID_ALL = {
    "t": "hello",
    "lt": "Ночью 7 февраля подожгли дом соседа.\n" * 3,
    "d": "2020-02-07",
    "r": {"start": "2020-02", "end": None},
    "c": "x",
    "c2": "y",
    "m": ["x", {"other": "burned cars"}],
    "m2": [],
    "p": {"id": "village_a"},
    "n": 3.5,
    "b": False,
    "f": [A],
}

ANSWER_CASES: list[dict[str, Any]] = [
    {"form": "all", "answers": {}, "attachments": [], "problems": []},
    {"form": "all", "answers": _VALID_ALL, "attachments": [A, B], "problems": []},
    # The answers object itself.
    *(
        {
            "form": "all",
            "answers": value,
            "attachments": [],
            "problems": [_p(None, "wrong-type", "wrong-type.answers")],
        }
        for value in ([], None, "t", 5, True)
    ),
    {
        "form": "all",
        "answers": {"zeta": 1, "Alpha": 2, "é": 3, "\U0001f600": 4, "\uff5e": 5, "t": "ok"},
        "attachments": [],
        # sorted by UTF-16 code units: U+1F600 is D83D DE00, before U+FF5E
        "problems": [
            _p("Alpha", "unknown-field"),
            _p("zeta", "unknown-field"),
            _p("é", "unknown-field"),
            _p("\U0001f600", "unknown-field"),
            _p("\uff5e", "unknown-field"),
        ],
    },
    {
        # Keys that mean something to JavaScript objects are plain unknown fields.
        "form": "all",
        "answers": {"__proto__": {"t": 1}, "constructor": "x", "hasOwnProperty": 1},
        "attachments": [],
        "problems": [
            _p("__proto__", "unknown-field"),
            _p("constructor", "unknown-field"),
            _p("hasOwnProperty", "unknown-field"),
        ],
    },
    {
        "form": "all",
        "answers": {"zz": 1, "b": 1, "t": 2},
        "attachments": [],
        "problems": [_p("zz", "unknown-field"), _wt("t", "text"), _wt("b", "boolean")],
    },
    # text, longtext
    _one("t", 5, _wt("t", "text")),
    _one("t", None, _wt("t", "text")),
    _one("t", ["a"], _wt("t", "text")),
    _one("t", ""),
    _one("t", "x" * 1000),
    _one("t", "x" * 1001, _p("t", "too-long")),
    _one("t", "\U0001f600" * 1000),
    _one("t", "\U0001f600" * 1001, _p("t", "too-long")),
    _one("lt", "x" * 100_000),
    _one("lt", "x" * 100_001, _p("lt", "too-long")),
    _one("lt", {"text": "x"}, _wt("lt", "text")),
    # date
    *(
        _one("d", value)
        for value in ("2020", "2020-02", "2020-02-29", "2000-02-29", "0001-01-01", "9999-12-31")
    ),
    *(
        _one("d", value, _p("d", "bad-date"))
        for value in (
            "2019-02-29",
            "1900-02-29",
            "2020-13",
            "2020-00",
            "2020-04-31",
            "2020-01-00",
            "0000",
            "20",
            "",
            "2020-2-7",
            "2020-02-07T10:00",
            "2020-02-07\n",
            "\uff12\uff10\uff12\uff10",
            "\u0662\u0660\u0662\u0660",
            " 2020",
            "2020/02/07",
            "07.02.2020",
        )
    ),
    _one("d", 2020, _wt("d", "date")),
    _one("d", None, _wt("d", "date")),
    # datetime_range
    *(
        _one("r", value)
        for value in (
            {"start": "2020-02-07T22:30", "end": "2020-02-08T01:00"},
            {"start": "2020", "end": "2020-02-07"},
            {"start": "2020-02-07", "end": "2020-02-07T10:00"},
            {"start": "2020-02-07T10:00", "end": "2020-02-07"},
            {"start": "2020-02", "end": "2020-02-01"},
            {"start": "2020-02-07T10:00", "end": "2020-02-07T10:00"},
            {"start": "2020-02-29T00:00", "end": None},
        )
    ),
    *(
        _one("r", value, _p("r", "end-before-start"))
        for value in (
            {"start": "2020-02-08", "end": "2020-02-07"},
            {"start": "2020-02-07T10:00", "end": "2020-02-07T09:59"},
            {"start": "2021", "end": "2020-12"},
            {"start": "2020-02-08T00:00", "end": "2020-02-07"},
        )
    ),
    *(
        _one("r", value, _p("r", "bad-date"))
        for value in (
            {"start": "2020-02-30", "end": None},
            {"start": "2020-02-07T24:00", "end": None},
            {"start": "2020-02-07T10:60", "end": None},
            {"start": "2020-02-07 10:00", "end": None},
            {"start": "2020", "end": "2020-02-07T10"},
            {"start": "2020-02-07T10:00:00", "end": None},
            {"start": "", "end": None},
        )
    ),
    *(
        _one("r", value, _wt("r", "datetime_range"))
        for value in (
            {"start": "2020"},
            {"end": None},
            {"start": "2020", "end": None, "x": 1},
            {"start": None, "end": None},
            {"start": "2020", "end": 5},
            {"start": 2020, "end": None},
            "2020",
            [],
        )
    ),
    # choice
    _one("c", "x"),
    _one("c", {"other": "a tractor"}),
    _one("c", "q", _p("c", "unknown-choice")),
    _one("c", "", _p("c", "unknown-choice")),
    _one("c2", {"other": "a tractor"}, _p("c2", "other-not-allowed")),
    _one("c", {"other": ""}, _p("c", "empty-text")),
    _one("c", {"other": " \u3000\n\u200b\ufeff"}, _p("c", "empty-text")),
    _one("c", {"other": 5}, _wt("c", "choice")),
    _one("c", {"other": "x" * 1000}),
    _one("c", {"other": "x" * 1001}, _p("c", "too-long")),
    _one("c", {"other": "a", "x": 1}, _wt("c", "choice")),
    _one("c", {}, _wt("c", "choice")),
    _one("c", 5, _wt("c", "choice")),
    _one("c", ["x"], _wt("c", "choice")),
    # multichoice
    _one("m", []),
    _one("m", ["x", "y", "z"]),
    _one("m", ["x", "x"], _p("m", "duplicate-choice")),
    _one("m", ["x", "q"], _p("m", "unknown-choice")),
    _one("m", ["q", "q"], _p("m", "unknown-choice")),
    _one("m", [{"other": "a"}, {"other": "b"}], _p("m", "too-many-other")),
    _one("m2", [{"other": "a"}], _p("m2", "other-not-allowed")),
    _one("m", ["x", 5, None], _wt("m", "multichoice")),
    _one("m", "x", _wt("m", "multichoice")),
    _one(
        "m",
        ["q", "x", "x", {"other": ""}, {"other": "b"}, 7],
        _p("m", "unknown-choice"),
        _p("m", "duplicate-choice"),
        _p("m", "empty-text"),
        _p("m", "too-many-other"),
        _wt("m", "multichoice"),
    ),
    # place
    *(
        _one("p", value)
        for value in (
            {"id": "village_a"},
            {"text": "near the mosque"},
            {"id": "village_a", "lat": 43.1, "lon": 74.9},
            {"text": "x", "lat": -90, "lon": 180},
            {"text": "x", "lat": 0, "lon": -180.0},
        )
    ),
    _one("p", {"id": "zzz"}, _p("p", "unknown-place")),
    *(
        _one("p", value, _wt("p", "place"))
        for value in (
            {"id": "village_a", "text": "x"},
            {},
            {"lat": 1, "lon": 2},
            {"id": "village_a", "name": "x"},
            {"id": 5},
            {"text": None},
            "village_a",
            ["village_a"],
        )
    ),
    _one("p", {"text": ""}, _p("p", "empty-text")),
    _one("p", {"text": "x" * 1001}, _p("p", "too-long")),
    *(
        _one("p", value, _p("p", "bad-coordinates"))
        for value in (
            {"id": "village_a", "lat": 91, "lon": 0},
            {"id": "village_a", "lat": 0, "lon": -180.5},
            {"id": "village_a", "lat": 0},
            {"id": "village_a", "lon": 0},
            {"id": "village_a", "lat": "43", "lon": "74"},
            {"id": "village_a", "lat": True, "lon": 0},
            {"id": "village_a", "lat": None, "lon": None},
        )
    ),
    _one(
        "p",
        {"id": "zzz", "lat": 100, "lon": 0},
        _p("p", "unknown-place"),
        _p("p", "bad-coordinates"),
    ),
    # number, boolean
    *(_one("n", value) for value in (0, -1.5, 1e300, 2**70, -(2**53))),
    *(_one("n", value, _wt("n", "number")) for value in (True, False, "3", None, [1], 10**400)),
    _one("b", True),
    *(_one("b", value, _wt("b", "boolean")) for value in (0, 1, "true", None)),
    # attachments
    _one("f", [A, B]),
    _one("f", []),
    _one("f", [A, A], _p("f", "duplicate-attachment")),
    _one("f", ["c" * 64], _p("f", "unknown-attachment")),
    _one("f", [5, None], _wt("f", "attachments")),
    _one("f", A, _wt("f", "attachments")),
    {
        "form": "all",
        "answers": {"f": [A]},
        "attachments": [],
        "problems": [_p("f", "unknown-attachment")],
    },
    # required fields
    {
        "form": "required",
        "answers": {},
        "attachments": [],
        "problems": [_p(field_id, "required") for field_id in ("rt", "rl", "rm", "rf", "rb", "rc")],
    },
    {
        "form": "required",
        "answers": {"rt": "", "rl": " \n\t", "rm": [], "rf": [], "rb": False, "rc": "x"},
        "attachments": [A],
        "problems": [_p(field_id, "required") for field_id in ("rt", "rl", "rm", "rf")],
    },
    {
        "form": "required",
        "answers": {"rt": "\u200b", "rl": "a", "rm": ["x"], "rf": [A], "rb": True, "rc": "x"},
        "attachments": [A],
        "problems": [_p("rt", "required")],
    },
    {
        "form": "required",
        "answers": {"rt": 5, "rl": "a", "rm": "x", "rf": [B], "rb": None, "rc": {"other": "a"}},
        "attachments": [A],
        "problems": [
            _wt("rt", "text"),
            _wt("rm", "multichoice"),
            _p("rf", "unknown-attachment"),
            _wt("rb", "boolean"),
            _p("rc", "other-not-allowed"),
        ],
    },
    {
        "form": "required",
        "answers": {
            "rt": "a",
            "rl": "b",
            "rm": ["x"],
            "rf": [A],
            "rb": False,
            "rc": "x",
            "opt": "",
        },
        "attachments": [A],
        "problems": [],
    },
]


def _c(field_id: str | None, code: str) -> list[Any]:
    key = {"wrong-type": "wrong-type.consent"}.get(code, code)
    return [field_id, code, key]


CONSENT_CASES: list[dict[str, Any]] = [
    {"consent": {"share_with": ["prosecutor", "un_treaty_body"], "contact": True}, "problems": []},
    {"consent": {"share_with": [], "contact": False}, "problems": []},
    {
        "consent": {
            "share_with": ["media", "human_rights_org", "prosecutor", "un_treaty_body"],
            "contact": False,
        },
        "problems": [],
    },
    {"consent": {}, "problems": [_c("share_with", "required"), _c("contact", "required")]},
    *({"consent": value, "problems": [_c(None, "wrong-type")]} for value in ([], None, "all", 1)),
    {
        "consent": {"share_with": ["police"], "contact": True},
        "problems": [_c("share_with", "unknown-choice")],
    },
    {
        "consent": {"share_with": ["media", "media"], "contact": True},
        "problems": [_c("share_with", "duplicate-choice")],
    },
    {
        "consent": {"share_with": "media", "contact": "yes"},
        "problems": [_c("share_with", "wrong-type"), _c("contact", "wrong-type")],
    },
    {
        "consent": {"share_with": [], "contact": True, "name": "x", "a": 1},
        "problems": [_c("a", "unknown-field"), _c("name", "unknown-field")],
    },
    {
        "consent": {"share_with": [5, "x", 5], "contact": 1},
        "problems": [
            _c("share_with", "wrong-type"),
            _c("share_with", "unknown-choice"),
            _c("contact", "wrong-type"),
        ],
    },
    # v1.1: text_sha256, the hash of the consent wording shown, is optional and
    # checked for its shape only: 64 lowercase hex digits, else wrong-type.
    *(
        {
            "consent": {"share_with": ["media"], "contact": True, "text_sha256": value},
            "problems": [],
        }
        for value in ("0" * 64, "0123456789abcdef" * 4)
    ),
    *(
        {
            "consent": {"share_with": [], "contact": False, "text_sha256": value},
            "problems": [_c("text_sha256", "wrong-type")],
        }
        for value in (
            "AB" * 32,  # upper case
            "ab" * 31 + "aB",
            "ab" * 32 + "a",  # 65 digits
            "ab" * 31 + "a",  # 63
            "",
            "ab" * 32 + "\n",  # a trailing newline: a fullmatch, not Python's "$"
            " " + "ab" * 32,
            "g" * 64,
            "\u0660" * 64,  # Arabic-Indic digits are not [0-9]
            "\uff10" * 64,  # nor fullwidth ones
            None,
            5,
            True,
            ["ab" * 32],
            {"sha256": "ab" * 32},
        )
    ),
    {
        # Unknown keys first, then share_with, contact, text_sha256.
        "consent": {"text_sha256": "x", "share_with": ["police"], "TEXT_SHA256": "ab" * 32},
        "problems": [
            _c("TEXT_SHA256", "unknown-field"),
            _c("share_with", "unknown-choice"),
            _c("contact", "required"),
            _c("text_sha256", "wrong-type"),
        ],
    },
]
