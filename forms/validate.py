"""Validate ``M.answers`` against a form version (docs/protocol.md §5).

This module interprets the table in ``forms/rules.py``; the browser runs the
same table through ``forms/static/validate.js``, and a test requires both to
report identical problem lists for the same cases. Change a rule in the
table, or in both interpreters at once.

Problems are reported in a fixed order: unknown field ids first (sorted by
UTF-16 code units, as JavaScript sorts), then the form's fields in form order;
within a field, each ``(code, message key)`` at most once, in order of
discovery. A problem names the field and the code, never the answer.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any

from .errors import AnswersInvalid, Problem
from .rules import RULES
from .schema import FormDefinition, FormField

__all__ = ["answer_problems", "validate_answers"]

_BLANK = frozenset(chr(code_point) for code_point in RULES["blank"])
_DATE = re.compile(RULES["patterns"]["date"])
_LOCAL_DATETIME = re.compile(RULES["patterns"]["local_datetime"])
_YEAR_MIN: int = RULES["year_min"]

# A date value as comparable bounds "YYYY-MM-DDTHH:MM" (fixed width, ASCII).
_Bounds = tuple[str, str]


def _is_blank(text: str) -> bool:
    return all(character in _BLANK for character in text)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond any double, which JSON.parse makes Infinity
        return False


def _utf16_order(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")


def _calendar_date(year: int, month: int, day: int) -> bool:
    return (
        year >= _YEAR_MIN and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
    )


def _moment_bounds(text: str) -> _Bounds | None:
    """The earliest and latest minute a date or local date-time can mean, or None."""
    match = _LOCAL_DATETIME.fullmatch(text)
    if match:
        year, month, day, hour, minute = (int(part) for part in match.groups())
        if not _calendar_date(year, month, day) or hour > 23 or minute > 59:
            return None
        return text, text
    match = _DATE.fullmatch(text)
    if not match:
        return None
    year_text, month_text, day_text = match.groups()
    year = int(year_text)
    month = int(month_text) if month_text is not None else 1
    day = int(day_text) if day_text is not None else 1
    if not _calendar_date(year, month, day):
        return None
    earliest = f"{year_text}-{month_text or '01'}-{day_text or '01'}T00:00"
    latest = f"{year_text}-{month_text or '12'}-{day_text or '31'}T23:59"
    return earliest, latest


def _is_date(text: str) -> bool:
    return _DATE.fullmatch(text) is not None and _moment_bounds(text) is not None


def _code_points(text: str) -> int:
    return len(text)


# Each check yields problem codes for one value; see forms/static/validate.js.
_Check = Callable[[FormField, Mapping[str, Any], Any, frozenset[str]], Iterable[str]]


def _check_string(
    field: FormField, rule: Mapping[str, Any], value: Any, _: frozenset[str]
) -> Iterator[str]:
    if not isinstance(value, str):
        yield "wrong-type"
    elif _code_points(value) > rule["max_length"]:
        yield "too-long"


def _check_date(
    field: FormField, rule: Mapping[str, Any], value: Any, _: frozenset[str]
) -> Iterator[str]:
    if not isinstance(value, str):
        yield "wrong-type"
    elif not _is_date(value):
        yield "bad-date"


def _check_datetime_range(
    field: FormField, rule: Mapping[str, Any], value: Any, _: frozenset[str]
) -> Iterator[str]:
    if not _is_object(value) or set(value) != {"start", "end"}:
        yield "wrong-type"
        return
    start, end = value["start"], value["end"]
    if not isinstance(start, str) or not (end is None or isinstance(end, str)):
        yield "wrong-type"
        return
    start_bounds = _moment_bounds(start)
    end_bounds = _moment_bounds(end) if end is not None else None
    if start_bounds is None or (end is not None and end_bounds is None):
        yield "bad-date"
        return
    if end_bounds is not None and end_bounds[1] < start_bounds[0]:
        yield "end-before-start"


def _other_text(field: FormField, rule: Mapping[str, Any], text: Any) -> Iterator[str]:
    if not field.allows_other:
        yield "other-not-allowed"
    elif not isinstance(text, str):
        yield "wrong-type"
    elif _is_blank(text):
        yield "empty-text"
    elif _code_points(text) > rule["other_max_length"]:
        yield "too-long"


def _is_other(value: Any) -> bool:
    return _is_object(value) and set(value) == {"other"}


def _check_choice(
    field: FormField, rule: Mapping[str, Any], value: Any, _: frozenset[str]
) -> Iterator[str]:
    if isinstance(value, str):
        if value not in field.option_ids:
            yield "unknown-choice"
    elif _is_other(value):
        yield from _other_text(field, rule, value["other"])
    else:
        yield "wrong-type"


def _check_multichoice(
    field: FormField, rule: Mapping[str, Any], value: Any, _: frozenset[str]
) -> Iterator[str]:
    if not isinstance(value, list):
        yield "wrong-type"
        return
    seen: set[str] = set()
    others = 0
    for item in value:
        if isinstance(item, str):
            if item not in field.option_ids:
                yield "unknown-choice"
            elif item in seen:
                yield "duplicate-choice"
            seen.add(item)
        elif _is_other(item):
            others += 1
            if others > rule["max_other"]:
                yield "too-many-other"
            yield from _other_text(field, rule, item["other"])
        else:
            yield "wrong-type"


def _coordinate_ok(value: Any, bounds: list[int]) -> bool:
    return _is_number(value) and bounds[0] <= value <= bounds[1]


def _check_place(
    field: FormField, rule: Mapping[str, Any], value: Any, _: frozenset[str]
) -> Iterator[str]:
    if not _is_object(value) or not set(value) <= {"id", "text", "lat", "lon"}:
        yield "wrong-type"
        return
    if ("id" in value) == ("text" in value):
        yield "wrong-type"
        return
    if "id" in value:
        if not isinstance(value["id"], str):
            yield "wrong-type"
        elif value["id"] not in field.option_ids:
            yield "unknown-place"
    else:
        text = value["text"]
        if not isinstance(text, str):
            yield "wrong-type"
        elif _is_blank(text):
            yield "empty-text"
        elif _code_points(text) > rule["text_max_length"]:
            yield "too-long"
    if ("lat" in value or "lon" in value) and not (
        "lat" in value
        and "lon" in value
        and _coordinate_ok(value["lat"], rule["lat"])
        and _coordinate_ok(value["lon"], rule["lon"])
    ):
        yield "bad-coordinates"


def _check_number(
    field: FormField, rule: Mapping[str, Any], value: Any, _: frozenset[str]
) -> Iterator[str]:
    if not _is_number(value):
        yield "wrong-type"


def _check_boolean(
    field: FormField, rule: Mapping[str, Any], value: Any, _: frozenset[str]
) -> Iterator[str]:
    if not isinstance(value, bool):
        yield "wrong-type"


def _check_attachments(
    field: FormField, rule: Mapping[str, Any], value: Any, attachments: frozenset[str]
) -> Iterator[str]:
    if not isinstance(value, list):
        yield "wrong-type"
        return
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, str):
            yield "wrong-type"
        elif item not in attachments:
            yield "unknown-attachment"
        elif item in seen:
            yield "duplicate-attachment"
        else:
            seen.add(item)


_CHECKS: dict[str, _Check] = {
    "string": _check_string,
    "date": _check_date,
    "datetime_range": _check_datetime_range,
    "choice": _check_choice,
    "multichoice": _check_multichoice,
    "place": _check_place,
    "number": _check_number,
    "boolean": _check_boolean,
    "attachments": _check_attachments,
}


def _counts_as_missing(rule: Mapping[str, Any], value: Any) -> bool:
    missing = rule.get("missing")
    if missing == "blank":
        return isinstance(value, str) and _is_blank(value)
    if missing == "empty-list":
        return isinstance(value, list) and not value
    return False


def _field_problems(field: FormField, value: Any, attachments: frozenset[str]) -> list[Problem]:
    rule = RULES["types"][field.type]
    problems: list[Problem] = []
    for code in _CHECKS[rule["check"]](field, rule, value, attachments):
        problem = Problem(field.id, code, rule["codes"][code])
        if problem not in problems:
            problems.append(problem)
    if not problems and field.required and _counts_as_missing(rule, value):
        problems.append(Problem(field.id, "required", RULES["answers"]["codes"]["required"]))
    return problems


def answer_problems(
    definition: FormDefinition, answers: Any, attachments: Collection[str]
) -> list[Problem]:
    """Every problem with ``answers`` (the parsed JSON of ``M.answers``), in a fixed order.

    ``attachments`` are the blob ids of ``M.attachments``. Returns an empty list
    when the answers are valid. Raises nothing for any JSON value.
    """
    codes = RULES["answers"]["codes"]
    if not _is_object(answers):
        return [Problem(None, "wrong-type", codes["wrong-type"])]
    known = {form_field.id for form_field in definition.fields}
    problems = [
        Problem(field_id, "unknown-field", codes["unknown-field"])
        for field_id in sorted((key for key in answers if key not in known), key=_utf16_order)
    ]
    blobs = frozenset(blob for blob in attachments if isinstance(blob, str))
    for form_field in definition.fields:
        if form_field.id not in answers:
            if form_field.required:
                problems.append(Problem(form_field.id, "required", codes["required"]))
            continue
        problems.extend(_field_problems(form_field, answers[form_field.id], blobs))
    return problems


def validate_answers(
    definition: FormDefinition, answers: Any, attachments: Collection[str]
) -> None:
    """Check ``M.answers`` against ``definition`` (docs/protocol.md §5).

    ``attachments`` are the blob ids listed in ``M.attachments``. Returns
    ``None`` when the answers are valid; raises :class:`AnswersInvalid`, whose
    ``problems`` list ``(field_id, code, message_key)``, when they are not.
    """
    problems = answer_problems(definition, answers, attachments)
    if problems:
        raise AnswersInvalid(problems)
