"""forms/registry.py: the forms a server publishes, by (id, version)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from testimony.forms.errors import FormConflict, FormInvalid, FormNotFound, ReviewMarkersInvalid
from testimony.forms.registry import bundled_forms, load_forms_dir

from .cases import FORMS
from .conftest import REPO

KORDAI = REPO / "forms" / "definitions" / "kordai-2020.json"


def _write(path: Path, definition: dict[str, Any]) -> None:
    path.write_text(json.dumps(definition, ensure_ascii=False), encoding="utf-8")


def _kordai_v3() -> dict[str, Any]:
    definition = json.loads(KORDAI.read_text("utf-8"))
    definition["version"] = 3
    definition["fields"][0]["help"]["en"] = "Tell it in your own way."
    return definition


def test_bundled_forms_hold_kordai_2020_with_its_review_markers() -> None:
    forms = bundled_forms()
    form = forms[("kordai-2020", 1)]
    assert form.key == ("kordai-2020", 1)
    assert form.sha256 == form.definition.sha256
    assert form.review["dng"]  # the Dungan texts are placeholders awaiting review
    latest = forms.latest("kordai-2020")
    assert latest is forms[("kordai-2020", 2)]
    assert latest.review == form.review
    assert [f.key for f in forms.latest_versions()] == [("kordai-2020", 2)]


def test_kordai_2020_version_2_only_marks_the_answers_that_name_people() -> None:
    """Version 2 is version 1 with ``"identifying": true`` on who was harmed and
    who else saw it: what a pseudonymising export withholds (§5, §11)."""
    forms = bundled_forms()
    first = forms[("kordai-2020", 1)].definition.as_json()
    second = forms[("kordai-2020", 2)].definition.as_json()
    marked = [f["id"] for f in second["fields"] if f.pop("identifying", False)]
    assert marked == ["victims", "other_witnesses"]
    assert {**second, "version": 1} == first


def test_unknown_forms_are_not_found() -> None:
    forms = bundled_forms()
    with pytest.raises(FormNotFound):
        forms.latest("nope")
    with pytest.raises(FormNotFound):
        forms.get_version("kordai-2020", 99)


def test_a_folder_keeps_every_version_and_finds_the_latest(tmp_path: Path) -> None:
    shutil.copy(KORDAI, tmp_path / "kordai-2020.json")
    _write(tmp_path / "kordai-2020.v3.json", _kordai_v3())
    _write(tmp_path / "all-types.json", FORMS["all"])
    (tmp_path / "notes.txt").write_text("not a form")
    forms = load_forms_dir(tmp_path)
    assert list(forms) == [("all-types", 1), ("kordai-2020", 1), ("kordai-2020", 3)]
    assert forms.latest("kordai-2020").definition.version == 3
    assert forms.get_version("kordai-2020", 1).sha256 == bundled_forms()[("kordai-2020", 1)].sha256
    assert [f.key for f in forms.latest_versions()] == [("all-types", 1), ("kordai-2020", 3)]
    assert forms[("kordai-2020", 1)].review == {}  # no sidecar copied


def test_a_folder_reads_review_sidecars(tmp_path: Path) -> None:
    shutil.copy(KORDAI, tmp_path / "kordai-2020.json")
    shutil.copy(KORDAI.with_name("kordai-2020.review.json"), tmp_path / "kordai-2020.review.json")
    assert (
        load_forms_dir(tmp_path)[("kordai-2020", 1)].review
        == bundled_forms()[("kordai-2020", 1)].review
    )


def test_a_broken_definition_names_its_file(tmp_path: Path) -> None:
    broken = dict(FORMS["all"], version=0)
    _write(tmp_path / "broken.json", broken)
    with pytest.raises(FormInvalid, match=r"^broken\.json: "):
        load_forms_dir(tmp_path)


def test_a_broken_sidecar_names_its_file(tmp_path: Path) -> None:
    _write(tmp_path / "all-types.json", FORMS["all"])
    (tmp_path / "all-types.review.json").write_text('{"ru": {"fields.gone.label": "x"}}')
    with pytest.raises(ReviewMarkersInvalid, match=r"^all-types\.json: "):
        load_forms_dir(tmp_path)


def test_two_definitions_of_one_version_conflict(tmp_path: Path) -> None:
    shutil.copy(KORDAI, tmp_path / "a.json")
    changed = json.loads(KORDAI.read_text("utf-8"))
    changed["title"]["en"] = "Another title"
    _write(tmp_path / "b.json", changed)
    with pytest.raises(FormConflict):
        load_forms_dir(tmp_path)


def test_the_same_definition_twice_is_one_form(tmp_path: Path) -> None:
    shutil.copy(KORDAI, tmp_path / "a.json")
    shutil.copy(KORDAI, tmp_path / "b.json")
    assert len(load_forms_dir(tmp_path)) == 1


def test_an_operator_folder_merges_with_the_bundled_forms(tmp_path: Path) -> None:
    _write(tmp_path / "kordai-2020.v3.json", _kordai_v3())
    forms = bundled_forms().merged(load_forms_dir(tmp_path))
    assert list(forms) == [("kordai-2020", 1), ("kordai-2020", 2), ("kordai-2020", 3)]
    changed = json.loads(KORDAI.read_text("utf-8"))
    changed["title"]["en"] = "Another title"
    _write(tmp_path / "kordai-2020.v3.json", changed)  # claims version 1, differently
    with pytest.raises(FormConflict):
        bundled_forms().merged(load_forms_dir(tmp_path))


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        load_forms_dir(tmp_path / "nope")
