"""forms/xlsform.py: XLSForm → docs/protocol.md §5, read by ODK's pyxform, losses named."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from testimony.forms.errors import XLSFormInvalid
from testimony.forms.registry import load_forms_dir
from testimony.forms.schema import load_form
from testimony.forms.xlsform import convert_xlsform, import_xlsform, run_import

RU, EN = "label::Russian (ru)", "label::English (en)"
HINT_RU, HINT_EN = "hint::Russian (ru)", "hint::English (en)"


def write_xlsform(
    path: Path,
    survey: list[dict[str, Any]],
    choices: Sequence[dict[str, Any]] = (),
    settings: dict[str, Any] | None = None,
) -> Path:
    """An .xlsx with survey/choices/settings sheets; each row a {column: value} dict."""
    workbook = openpyxl.Workbook()
    sheets: list[tuple[str, list[dict[str, Any]]]] = [
        ("survey", survey),
        ("choices", list(choices)),
    ]
    if settings is not None:
        sheets.append(("settings", [settings]))
    for index, (title, rows) in enumerate(sheets):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        assert sheet is not None
        sheet.title = title
        columns = list(dict.fromkeys(column for row in rows for column in row))
        sheet.append(columns or ["list_name", "name", "label"])
        for row in rows:
            sheet.append([row.get(column, "") for column in columns])
    workbook.save(path)
    return path


SETTINGS = {
    "form_title": "Kordai",
    "form_id": "kordai_xls",
    "version": "3",
    "default_language": "Russian (ru)",
}
VILLAGES = [
    {"list_name": "village", "name": "masanchi", RU: "Масанчи", EN: "Masanchi"},
    {"list_name": "village", "name": "sortobe", RU: "Сортобе", EN: "Sortobe"},
]


def _field(definition: dict[str, Any], field_id: str) -> dict[str, Any]:
    return next(field for field in definition["fields"] if field["id"] == field_id)


def test_types_labels_and_languages(tmp_path: Path) -> None:
    survey = [
        {
            "type": "text",
            "name": "name",
            RU: "Имя",
            EN: "Name",
            HINT_RU: "Если хотите",
            HINT_EN: "If you like",
        },
        {
            "type": "text",
            "name": "story",
            RU: "Рассказ",
            EN: "Story",
            "appearance": "multiline",
            "required": "yes",
        },
        {"type": "date", "name": "day", RU: "День", EN: "Day"},
        {"type": "datetime", "name": "moment", RU: "Когда", EN: "When"},
        {"type": "select_one village", "name": "where", RU: "Где", EN: "Where"},
        {"type": "select_multiple village", "name": "places", RU: "Места", EN: "Places"},
        {"type": "integer", "name": "count", RU: "Сколько", EN: "How many"},
        {"type": "decimal", "name": "weight", RU: "Вес", EN: "Weight"},
        {"type": "geopoint", "name": "point", RU: "Точка", EN: "Point"},
        {"type": "image", "name": "photo", RU: "Фото", EN: "Photo"},
        {"type": "audio", "name": "voice", RU: "Голос", EN: "Voice"},
        {"type": "video", "name": "film", RU: "Видео", EN: "Video"},
        {"type": "file", "name": "doc", RU: "Документ", EN: "Document"},
        {"type": "acknowledge", "name": "ok", RU: "Понятно", EN: "Understood"},
    ]
    definition, warnings = import_xlsform(
        write_xlsform(tmp_path / "f.xlsx", survey, VILLAGES, SETTINGS)
    )
    load_form(definition)  # valid §5
    assert (definition["id"], definition["version"]) == ("kordai-xls", 3)
    assert definition["languages"] == ["ru", "en"]
    types = {field["id"]: field["type"] for field in definition["fields"]}
    assert types == {
        "name": "text",
        "story": "longtext",
        "day": "date",
        "moment": "datetime_range",
        "where": "choice",
        "places": "multichoice",
        "count": "number",
        "weight": "number",
        "point": "place",
        "photo": "attachments",
        "voice": "attachments",
        "film": "attachments",
        "doc": "attachments",
        "ok": "boolean",
    }
    name = _field(definition, "name")
    assert name["label"] == {"ru": "Имя", "en": "Name"}
    assert name["help"] == {"ru": "Если хотите", "en": "If you like"}
    assert name["required"] is False and _field(definition, "story")["required"] is True
    assert _field(definition, "where")["choices"] == [
        {"id": "masanchi", "label": {"ru": "Масанчи", "en": "Masanchi"}},
        {"id": "sortobe", "label": {"ru": "Сортобе", "en": "Sortobe"}},
    ]
    assert _field(definition, "point")["places"] == []
    assert any("'whole numbers only' is not carried over" in line for line in warnings)
    assert any("'moment': a date and time became a date range" in line for line in warnings)


DROPPED = [
    ({"type": "text", "name": "a", RU: "А", "relevant": "${b} = 'x'"}, "field 'a': relevance (skip logic) is not carried over (${b} = 'x')"),
    ({"type": "integer", "name": "a", RU: "А", "constraint": ". < 150"}, "field 'a': constraint is not carried over (. < 150)"),
    ({"type": "integer", "name": "a", RU: "А", "constraint": ". < 9", "constraint_message::Russian (ru)": "Мало"}, "field 'a': constraint_message is not carried over"),
    ({"type": "text", "name": "a", RU: "А", "required": "yes", "required_message::Russian (ru)": "Нужно"}, "field 'a': required_message is not carried over"),
    ({"type": "text", "name": "a", RU: "А", "required": "${b} = 'x'"}, "field 'a': conditional required (${b} = 'x') is not carried over; the field is optional"),
    ({"type": "text", "name": "a", RU: "А", "calculation": "concat('a', 'b')"}, "field 'a': calculation is not carried over"),
    ({"type": "text", "name": "a", RU: "А", "default": "x"}, "field 'a': default value is not carried over"),
    ({"type": "text", "name": "a", RU: "А", "read_only": "yes"}, "field 'a': read_only is not carried over"),
    ({"type": "select_one village", "name": "a", RU: "А", "choice_filter": "name != 'x'"}, "field 'a': choice_filter is not carried over"),
    ({"type": "select_one village", "name": "a", RU: "А", "appearance": "minimal"}, "field 'a': appearance 'minimal' is not carried over"),
    ({"type": "text", "name": "a", RU: "А", "guidance_hint::Russian (ru)": "для интервьюера"}, "field 'a': guidance_hint is not carried over"),
    ({"type": "image", "name": "a", RU: "А", "parameters": "max-pixels=1024"}, "field 'a': parameters (max-pixels=1024) are not carried over"),
    ({"type": "text", "name": "a", RU: "А", "media::image::Russian (ru)": "a.png"}, "field 'a': media (image/audio/video on the label) is not carried over"),
    ({"type": "note", "name": "a", RU: "Спасибо"}, "note 'a' is not carried over"),
    ({"type": "calculate", "name": "a", "calculation": "1 + 1"}, "calculate 'a' is not carried over"),
    ({"type": "hidden", "name": "a"}, "hidden 'a' is not carried over"),
    ({"type": "start", "name": "a"}, "start 'a' is not carried over: Testimony collects no device"),
    ({"type": "deviceid", "name": "a"}, "deviceid 'a' is not carried over"),
    ({"type": "background-audio", "name": "a"}, "background-audio 'a' is not carried over: recording a witness in the background"),
    ({"type": "rank village", "name": "a", RU: "А"}, "rank 'a' is not carried over: ranking has no equivalent"),
    ({"type": "select_one_from_file villages.csv", "name": "a", RU: "А"}, "'a' is not carried over: its choices come from a file"),
    ({"type": "time", "name": "a", RU: "А"}, "field 'a': a time of day became a text field"),
    ({"type": "barcode", "name": "a", RU: "А"}, "field 'a': barcode scanning became a text field"),
    ({"type": "range", "name": "a", RU: "А", "parameters": "start=0;end=5"}, "field 'a': a range slider became a number field"),
    ({"type": "geotrace", "name": "a", RU: "А"}, "field 'a': a trace became a place"),
    ({"type": "text", "name": "a", RU: "Что сделал ${b}?"}, "fields.a.label: refers to other answers"),
]  # fmt: skip


@pytest.mark.parametrize(("row", "warning"), DROPPED, ids=[w[:50] for _, w in DROPPED])
def test_each_feature_not_carried_over_is_named(
    tmp_path: Path, row: dict[str, Any], warning: str
) -> None:
    keep = {"type": "text", "name": "b", RU: "Б"}
    path = write_xlsform(tmp_path / "f.xlsx", [keep, row], VILLAGES, SETTINGS)
    definition, warnings = import_xlsform(path)
    load_form(definition)
    assert any(warning in line for line in warnings), warnings


def test_groups_and_repeats_are_flattened_with_a_warning(tmp_path: Path) -> None:
    survey = [
        {"type": "begin_group", "name": "who", RU: "Кто", "relevant": "true()"},
        {"type": "text", "name": "a", RU: "А"},
        {"type": "end_group"},
        {"type": "begin_repeat", "name": "victims", RU: "Пострадавшие", "repeat_count": "3"},
        {"type": "text", "name": "b", RU: "Б"},
        {"type": "end_repeat"},
    ]
    definition, warnings = import_xlsform(write_xlsform(tmp_path / "f.xlsx", survey, (), SETTINGS))
    assert [field["id"] for field in definition["fields"]] == ["a", "b"]
    assert any(
        line.startswith("group 'who' is not carried over: its questions follow")
        for line in warnings
    )
    assert any(
        line.startswith("repeat 'victims' is not carried over: its questions are asked once")
        for line in warnings
    )


def test_or_other_becomes_a_free_text_other(tmp_path: Path) -> None:
    survey = [{"type": "select_multiple village or_other", "name": "where", RU: "Где", EN: "Where"}]
    definition, warnings = import_xlsform(
        write_xlsform(tmp_path / "f.xlsx", survey, VILLAGES, SETTINGS)
    )
    (field,) = definition["fields"]
    assert field["type"] == "multichoice" and field["other"] is True
    assert [choice["id"] for choice in field["choices"]] == ["masanchi", "sortobe"]
    assert any("became a free-text 'other' answer" in line for line in warnings)


def test_a_hand_made_other_with_its_text_question_becomes_other(tmp_path: Path) -> None:
    choices = [*VILLAGES, {"list_name": "village", "name": "other", RU: "Другое", EN: "Other"}]
    survey = [
        {"type": "select_one village", "name": "where", RU: "Где", EN: "Where"},
        {
            "type": "text",
            "name": "where_other",
            RU: "Какое?",
            EN: "Which?",
            "relevant": "selected(${where}, 'other')",
        },
    ]
    definition, _ = import_xlsform(write_xlsform(tmp_path / "f.xlsx", survey, choices, SETTINGS))
    assert [field["id"] for field in definition["fields"]] == ["where"]
    assert definition["fields"][0]["other"] is True


def test_yes_no_becomes_a_boolean(tmp_path: Path) -> None:
    choices = [
        {"list_name": "yn", "name": "yes", RU: "Да", EN: "Yes"},
        {"list_name": "yn", "name": "no", RU: "Нет", EN: "No"},
    ]
    survey = [{"type": "select_one yn", "name": "saw", RU: "Видели?", EN: "Did you see it?"}]
    definition, warnings = import_xlsform(
        write_xlsform(tmp_path / "f.xlsx", survey, choices, SETTINGS)
    )
    assert definition["fields"][0]["type"] == "boolean"
    assert "choices" not in definition["fields"][0]
    assert any("a yes/no choice became a boolean" in line for line in warnings)


def test_names_become_stable_ids(tmp_path: Path) -> None:
    choices = [
        {"list_name": "v", "name": "1", RU: "Один"},
        {"list_name": "v", "name": "Two-B", RU: "Два"},
    ]
    survey = [{"type": "select_one v", "name": "Village.Name", RU: "Село"}]
    definition, warnings = import_xlsform(
        write_xlsform(tmp_path / "f.xlsx", survey, choices, SETTINGS)
    )
    field = definition["fields"][0]
    assert field["id"] == "village_name"
    assert [choice["id"] for choice in field["choices"]] == ["c_1", "two_b"]
    assert "field 'Village.Name': id became 'village_name'" in warnings


def test_missing_translations_are_copied_and_marked(tmp_path: Path) -> None:
    kk = "label::Kazakh (kk)"
    survey = [
        {"type": "text", "name": "a", RU: "Что случилось?", kk: "Не болды?"},
        {"type": "text", "name": "b", RU: "Где?", kk: ""},
    ]
    path = write_xlsform(tmp_path / "f.xlsx", survey, (), SETTINGS)
    result = convert_xlsform(path)
    assert result.definition["fields"][1]["label"] == {"ru": "Где?", "kk": "Где?"}
    assert set(result.review["kk"]) == {"fields.b.label", "title"}
    assert result.review["kk"]["fields.b.label"].startswith(
        "needs native-speaker review: copied from 'ru'"
    )
    assert any(line.startswith("language 'kk': 2 texts missing") for line in result.warnings)

    out = tmp_path / "forms" / "kordai-xls.json"
    out.parent.mkdir()
    warnings = run_import(path, out)
    assert warnings == result.warnings
    assert json.loads(out.read_text("utf-8")) == result.definition
    assert json.loads(out.with_name("kordai-xls.review.json").read_text("utf-8")) == result.review
    published = load_forms_dir(out.parent)[("kordai-xls", 3)]
    assert published.review == result.review


def test_run_import_never_overwrites_a_form(tmp_path: Path) -> None:
    path = write_xlsform(
        tmp_path / "f.xlsx", [{"type": "text", "name": "a", RU: "А"}], (), SETTINGS
    )
    out = tmp_path / "form.json"
    out.write_text("{}")
    with pytest.raises(FileExistsError):
        run_import(path, out)
    assert out.read_text() == "{}"
    run_import(path, out, overwrite=True)
    assert load_form(out.read_bytes()).id == "kordai-xls"


def test_a_language_name_without_a_code(tmp_path: Path) -> None:
    survey = [
        {
            "type": "text",
            "name": "a",
            "label::Kazakh": "Не болды?",
            "label::English": "What happened?",
        }
    ]
    definition, warnings = import_xlsform(write_xlsform(tmp_path / "f.xlsx", survey))
    assert definition["languages"] == ["kk", "en"]
    assert any(
        "language 'Kazakh' has no code in its column name; took 'kk'" in line for line in warnings
    )
    survey = [{"type": "text", "name": "a", "label::Klingon": "x"}]
    with pytest.raises(XLSFormInvalid, match="Klingon"):
        import_xlsform(write_xlsform(tmp_path / "g.xlsx", survey))


def test_codes_are_put_in_bcp47_case_and_checked(tmp_path: Path) -> None:
    survey = [
        {"type": "text", "name": "a", "label::Russian (ru_kz)": "А", "label::Other (12)": "B"}
    ]
    with pytest.raises(XLSFormInvalid, match="not a BCP 47 language tag"):
        import_xlsform(write_xlsform(tmp_path / "f.xlsx", survey))
    survey = [{"type": "text", "name": "a", "label::Russian (ru_kz)": "А"}]
    definition, _ = import_xlsform(write_xlsform(tmp_path / "g.xlsx", survey))
    assert definition["languages"] == ["ru-KZ"]


def test_labels_without_a_language_are_undetermined(tmp_path: Path) -> None:
    definition, warnings = import_xlsform(
        write_xlsform(tmp_path / "plain.xlsx", [{"type": "text", "name": "a", "label": "A"}])
    )
    assert definition["languages"] == ["und"]
    assert (definition["id"], definition["version"]) == ("plain", 1)
    assert "no version in the settings sheet; this is version 1" in warnings
    assert any("given the language 'und'" in line for line in warnings)


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(XLSFormInvalid):
        import_xlsform(path)


def test_pyxform_errors_are_refused(tmp_path: Path) -> None:
    survey = [{"type": "select_one missing_list", "name": "a", RU: "А"}]
    with pytest.raises(XLSFormInvalid):
        import_xlsform(write_xlsform(tmp_path / "f.xlsx", survey, VILLAGES, SETTINGS))


def test_a_form_with_nothing_to_carry_over_is_refused(tmp_path: Path) -> None:
    survey = [{"type": "note", "name": "a", RU: "Спасибо"}, {"type": "start", "name": "s"}]
    with pytest.raises(XLSFormInvalid, match="no question that can be carried over"):
        import_xlsform(write_xlsform(tmp_path / "f.xlsx", survey, (), SETTINGS))
