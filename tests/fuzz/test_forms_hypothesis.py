"""Hypothesis properties of the readers of form definitions (issue 12): what an
organisation loads as a form (``forms.schema.load_form``, docs/protocol.md
§5) and what it imports from an XLSForm (``forms.xlsform.convert_xlsform``,
which hands the workbook to ODK's pyxform):

- any bytes, any JSON value, and a valid definition with any one member
  replaced by any JSON value, are a ``FormDefinition`` or ``FormInvalid``;
  a definition that loads hashes to ``form_sha256`` of what it serves and
  loads again from its canonical bytes to the same hash;
- an ``.xlsx`` of hypothesis-drawn sheets and cells (the columns and type
  names XLSForms use, and anything else), the bytes of a real XLSForm with a
  few changed, and raw bytes named ``.xlsx``, ``.xls``, ``.csv`` or ``.md``,
  are converted to a definition that ``load_form`` accepts, or refused with
  ``XLSFormInvalid``.

Every property is bounded (at most 150 examples, fewer for workbooks, no
deadline); the file runs in about fifteen seconds.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from testimony.forms.errors import FormInvalid, XLSFormInvalid
from testimony.forms.schema import FIELD_TYPES, FormDefinition, form_sha256, load_form
from testimony.forms.xlsform import convert_xlsform

BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WORKBOOKS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "testimony"
FORM: dict[str, Any] = json.loads((VECTORS / "submission.json").read_text("utf-8"))["form"]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def _loaded_or_refused(source: Any) -> FormDefinition | None:
    """``load_form``'s answer: the definition, or None when refused (only ever
    with ``FormInvalid``: anything else fails the test)."""
    try:
        definition = load_form(source)
    except FormInvalid:
        return None
    assert definition.sha256 == form_sha256(definition.as_json())
    assert load_form(definition.jcs).sha256 == definition.sha256
    return definition


def test_the_vector_form_loads() -> None:
    assert _loaded_or_refused(FORM) is not None
    assert _loaded_or_refused(json.dumps(FORM).encode("utf-8")) is not None


# --- load_form -------------------------------------------------------------------------


@BOUNDED
@given(st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v).encode("utf-8")))
@example(b'{"id": "a", "id": "b"}')
@example(b"\xef\xbb\xbf{}")
@example(b'{"version": 1e999}')
def test_any_bytes_are_a_form_or_form_invalid(data: bytes) -> None:
    _loaded_or_refused(data)


def test_deeply_nested_bytes_are_form_invalid() -> None:
    _loaded_or_refused(b"[" * 100_000)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every member and item of ``value``, as the keys leading to it."""
    found = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*path, key))
    elif isinstance(value, list):
        for at, inner in enumerate(value):
            found += _paths(inner, (*path, at))
    return found


FORM_PATHS = _paths(FORM)[1:]
FIELD_VALUES = st.sampled_from([*FIELD_TYPES, "en", "ru", "vector-form", "", 0, 2**53, -1, True])


@BOUNDED
@given(st.sampled_from(FORM_PATHS), JSON | FIELD_VALUES, st.booleans())
@example(("fields", 0, "type"), "choice", False)
@example(("languages",), ["en", "en"], False)
@example(("version",), 2**31, False)
@example(("title", "en"), None, True)
def test_a_definition_with_one_member_changed_is_a_form_or_form_invalid(
    path: tuple[Any, ...], value: Any, remove: bool
) -> None:
    changed = copy.deepcopy(FORM)
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    if remove:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    _loaded_or_refused(changed)
    _loaded_or_refused(json.dumps(changed).encode("utf-8"))


@BOUNDED
@given(JSON)
def test_any_json_value_is_a_form_or_form_invalid(value: Any) -> None:
    _loaded_or_refused(value)


# --- XLSForm import ---------------------------------------------------------------------

COLUMNS = [
    "type", "name", "label", "label::English (en)", "label::Russian (ru)", "label::Klingon",
    "label::Xx (not a tag)", "hint", "hint::English (en)", "required", "relevant", "constraint",
    "calculation", "default", "appearance", "choice_filter", "media::image", "list_name",
    "form_title", "form_id", "version", "default_language", "parameters", "or_other",
]  # fmt: skip
CELLS = st.one_of(
    st.sampled_from(
        [
            "text", "integer", "decimal", "date", "datetime", "select_one places",
            "select_multiple places", "select_one yes_no", "select_one missing",
            "select_one places or_other", "begin group", "end group", "begin repeat",
            "end repeat", "note", "geopoint", "image", "calculate", "start", "deviceid",
            "places", "yes_no", "yes", "no", "true", "false", "${x} = 'yes'", "x", "Ж", "q1", "",
        ]
    ),
    st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=10),
    st.integers(-5, 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)  # fmt: skip
SHEET = st.tuples(
    st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=6, unique=True),
    st.lists(st.lists(CELLS, max_size=6), max_size=6),
)
SHEETS = st.dictionaries(
    st.sampled_from(["survey", "choices", "settings", "external_choices", "Survey", "other"]),
    SHEET,
    min_size=1,
    max_size=3,
)

_NAMES = itertools.count()


def _workbook(sheets: dict[str, tuple[list[str], list[list[Any]]]]) -> bytes:
    workbook = openpyxl.Workbook()
    for index, (title, (columns, rows)) in enumerate(sheets.items()):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        assert sheet is not None
        sheet.title = title
        sheet.append(columns)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _converted_or_refused(folder: Path, data: bytes, suffix: str = ".xlsx") -> bool:
    """Whether the file converts (to a definition ``load_form`` accepts); a
    refusal is only ever ``XLSFormInvalid``."""
    path = folder / f"form{next(_NAMES)}{suffix}"
    path.write_bytes(data)
    try:
        result = convert_xlsform(path)
    except XLSFormInvalid:
        return False
    finally:
        path.unlink()
    load_form(result.definition)
    assert all(isinstance(line, str) for line in result.warnings)
    return True


VALID_SHEETS: dict[str, tuple[list[str], list[list[Any]]]] = {
    "survey": (
        ["type", "name", "label::English (en)", "label::Russian (ru)", "required"],
        [
            ["text", "what", "What happened?", "Что случилось?", "yes"],
            ["select_one places", "where", "Where?", "Где?", ""],
            ["date", "when", "When?", "Когда?", ""],
        ],
    ),
    "choices": (
        ["list_name", "name", "label::English (en)", "label::Russian (ru)"],
        [
            ["places", "masanchi", "Masanchi", "Масанчи"],
            ["places", "sortobe", "Sortobe", "Сортобе"],
        ],
    ),
    "settings": (["form_id", "version", "form_title"], [["fuzz_form", "3", "Fuzz"]]),
}
VALID_XLSX = _workbook(VALID_SHEETS)
with zipfile.ZipFile(io.BytesIO(VALID_XLSX)) as _archive:
    _sheet = _archive.getinfo("xl/worksheets/sheet1.xml")
SHEET_DATA = _sheet.header_offset + 30 + len(_sheet.filename)
"""Where the first sheet's deflate stream starts in :data:`VALID_XLSX`."""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xlsform")


def test_the_seed_xlsform_converts(folder: Path) -> None:
    assert _converted_or_refused(folder, VALID_XLSX)


@WORKBOOKS
@given(SHEETS, st.booleans())
def test_any_workbook_is_a_form_or_xlsform_invalid(
    folder: Path, sheets: dict[str, tuple[list[str], list[list[Any]]]], seeded: bool
) -> None:
    """``seeded``: the drawn sheets are added to (or replace) the valid ones."""
    _converted_or_refused(folder, _workbook({**VALID_SHEETS, **sheets} if seeded else sheets))


@WORKBOOKS
@given(
    st.lists(st.tuples(st.integers(0, len(VALID_XLSX) - 1), st.integers(0, 255)), max_size=4),
    st.none() | st.integers(0, len(VALID_XLSX)),
)
@example([(SHEET_DATA, VALID_XLSX[SHEET_DATA] ^ 0xFF)], None)
def test_a_changed_xlsx_is_a_form_or_xlsform_invalid(
    folder: Path, changes: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(VALID_XLSX)
    for at, byte in changes:
        data[at] = byte
    _converted_or_refused(folder, bytes(data[:cut]))


@WORKBOOKS
@given(st.binary(max_size=400), st.sampled_from([".xlsx", ".xls", ".csv", ".md"]))
@example(b"", ".xlsx")
@example(b"PK\x03\x04", ".xlsx")
@example(b"| survey |\n| | type | name | label |\n| | text | a | A |\n", ".md")
@example(b"survey,type,name,label\n,text,a,A\n", ".csv")
def test_raw_bytes_are_a_form_or_xlsform_invalid(folder: Path, data: bytes, suffix: str) -> None:
    _converted_or_refused(folder, data, suffix)
