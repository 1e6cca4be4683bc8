"""forms/schema.py: the definition format of docs/protocol.md §5 and the form's hash."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pydantic
import pytest
import rfc8785

from testimony.forms.errors import FormInvalid
from testimony.forms.schema import FormDefinition, form_sha256, is_language_tag, load_form
from tests.vectors.loader import load_json

from .cases import FORMS


def _vector() -> dict[str, Any]:
    vector: dict[str, Any] = load_json("testimony/submission.json")
    return vector


def test_the_vector_form_hashes_to_the_vector_sha256() -> None:
    vector = _vector()
    definition = load_form(vector["form"])
    assert definition.sha256 == vector["form_sha256"]
    assert form_sha256(definition) == vector["form_sha256"]
    assert form_sha256(vector["form"]) == vector["form_sha256"]


def test_bytes_hash_over_the_canonical_form_not_the_layout() -> None:
    form = _vector()["form"]
    pretty = json.dumps(form, indent=4, ensure_ascii=False).encode()
    compact = json.dumps(dict(reversed(list(form.items()))), separators=(",", ":")).encode()
    assert load_form(pretty).sha256 == load_form(compact).sha256 == _vector()["form_sha256"]


def test_the_hash_is_over_the_definition_as_written() -> None:
    # "other": false and no "other" mean the same to a validator, but they are
    # different definitions and must hash differently: no re-dump, no defaults.
    explicit = copy.deepcopy(FORMS["all"])
    implicit = copy.deepcopy(FORMS["all"])
    del implicit["fields"][7]["other"]
    assert explicit["fields"][7]["other"] is False
    a, b = load_form(explicit), load_form(implicit)
    assert a.sha256 != b.sha256
    assert a.sha256 == hashlib.sha256(rfc8785.dumps(explicit)).hexdigest()
    assert a.as_json() == explicit
    assert b.as_json() == implicit


def test_a_loaded_definition_does_not_follow_later_edits_of_its_source() -> None:
    source = copy.deepcopy(FORMS["all"])
    definition = load_form(source)
    before = definition.sha256
    source["title"]["en"] = "changed"
    assert definition.sha256 == before
    copy_out = definition.as_json()
    copy_out["version"] = 99
    assert definition.as_json()["version"] == 1


def test_a_definition_is_immutable() -> None:
    definition = load_form(FORMS["all"])
    with pytest.raises(pydantic.ValidationError):
        definition.version = 2  # type: ignore[misc]


def _broken(edit: Any) -> dict[str, Any]:
    form = copy.deepcopy(FORMS["all"])
    edit(form)
    return form


def _set(path: list[Any], value: Any) -> Any:
    def edit(form: dict[str, Any]) -> None:
        target = form
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return edit


def _delete(path: list[Any]) -> Any:
    def edit(form: dict[str, Any]) -> None:
        target = form
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return edit


BROKEN = {
    "extra top-level key": _set(["signature"], "x"),
    "extra field key": _set(["fields", 0, "placeholder"], {"en": "", "ru": ""}),
    "extra choice key": _set(["fields", 4, "choices", 0, "value"], 1),
    "missing title": _delete(["title"]),
    "missing help": _delete(["fields", 0, "help"]),
    "missing required": _delete(["fields", 0, "required"]),
    "label missing a language": _delete(["fields", 0, "label", "ru"]),
    "help in an unlisted language": _set(["fields", 0, "help", "kk"], ""),
    "choice label missing a language": _delete(["fields", 4, "choices", 1, "label", "en"]),
    "place label missing a language": _delete(["fields", 8, "places", 0, "label", "ru"]),
    "title missing a language": _delete(["title", "en"]),
    "empty label": _set(["fields", 0, "label", "en"], ""),
    "field id with a hyphen": _set(["fields", 0, "id"], "my-field"),
    "field id in capitals": _set(["fields", 0, "id"], "Name"),
    "field id starting with a digit": _set(["fields", 0, "id"], "1st"),
    "choice id with a space": _set(["fields", 4, "choices", 0, "id"], "a b"),
    "form id with a space": _set(["id"], "kordai 2020"),
    "duplicate field id": _set(["fields", 1, "id"], "t"),
    "duplicate choice id": _set(["fields", 4, "choices", 1, "id"], "x"),
    "unknown type": _set(["fields", 0, "type"], "email"),
    "choices on a text field": _set(
        ["fields", 0, "choices"], [{"id": "a", "label": {"en": "a", "ru": "a"}}]
    ),
    "choice field without choices": _delete(["fields", 4, "choices"]),
    "choice field with no choices": _set(["fields", 4, "choices"], []),
    "place field without places": _delete(["fields", 8, "places"]),
    "places on a choice field": _set(["fields", 4, "places"], []),
    "other on a place field": _set(["fields", 8, "other"], True),
    "other on a text field": _set(["fields", 0, "other"], False),
    "other as a string": _set(["fields", 4, "other"], "yes"),
    "required as a string": _set(["fields", 0, "required"], "true"),
    "version 0": _set(["version"], 0),
    "version as a string": _set(["version"], "1"),
    "version as a boolean": _set(["version"], True),
    "version as a float": _set(["version"], 1.0),
    "languages not BCP 47": _set(["languages"], ["en", "russian"]),
    "language in capitals": _set(["languages"], ["en", "RU"]),
    "language with underscore": _set(["languages"], ["en", "ru_RU"]),
    "language twice": _set(["languages"], ["en", "ru", "ru"]),
    "no languages": _set(["languages"], []),
    "no fields": _set(["fields"], []),
    "fields not a list": _set(["fields"], {"t": {}}),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_definition_outside_the_protocol_is_refused(name: str) -> None:
    form = _broken(BROKEN[name])
    with pytest.raises(FormInvalid) as caught:
        load_form(form)
    assert caught.value.code == "form-invalid"
    assert caught.value.details


def test_every_problem_is_reported_with_its_place() -> None:
    form = _broken(_delete(["fields", 0, "label", "ru"]))
    del form["fields"][4]["choices"][0]["label"]["en"]
    with pytest.raises(FormInvalid) as caught:
        load_form(form)
    assert "definition: fields.t.label: missing languages ['ru']" in caught.value.details
    assert "definition: fields.c.choices.x: missing languages ['en']" in caught.value.details


@pytest.mark.parametrize(
    "source",
    [
        b'{"id": "a", "id": "b"}',
        b'{"version": NaN}',
        b"\xff\xfe{}",
        b"[1, 2]",
        b"not json",
        b"",
    ],
)
def test_bytes_that_are_not_one_json_object_are_refused(source: bytes) -> None:
    with pytest.raises(FormInvalid):
        load_form(source)


def test_a_mapping_that_is_not_canonical_json_is_refused() -> None:
    form = copy.deepcopy(FORMS["all"])
    form["fields"][0]["label"]["en"] = "x"
    with pytest.raises(FormInvalid):
        form_sha256({"version": 2**60})
    assert form_sha256(form) == load_form(form).sha256


@pytest.mark.parametrize(
    "tag",
    ["ru", "kk", "ky", "dng", "en", "sr-Latn-RS", "zh-Hant", "es-419", "de-CH-1996", "en-x-test"],
)
def test_well_formed_language_tags(tag: str) -> None:
    assert is_language_tag(tag)


@pytest.mark.parametrize(
    "tag", ["", "r", "RU", "ru_RU", "ru-ru", "russian-", "ru--kz", "en-latn", "x", "ru-"]
)
def test_malformed_language_tags(tag: str) -> None:
    assert not is_language_tag(tag)


def test_field_lookup() -> None:
    definition: FormDefinition = load_form(FORMS["all"])
    assert definition.field("p").option_ids == {"village_a", "village_b"}
    assert definition.field("c").allows_other and not definition.field("c2").allows_other
    with pytest.raises(KeyError):
        definition.field("nope")
