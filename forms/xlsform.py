"""Convert an XLSForm (the format Kobo and ODK users keep) into a §5 definition.

The workbook is read by ODK's own ``pyxform`` (``xls2json.parse_file_to_json``),
never by a parser of ours; this module only maps pyxform's survey JSON onto
docs/protocol.md §5. What has no equivalent here is dropped and named in a warning
line — relevance (skip logic), constraints, calculations, groups and repeats,
defaults, required messages, choice filters, appearances, media, metadata —
so the author knows exactly what the witness will not see.

Languages come from the ``label::Language (code)`` columns: the code in
parentheses must be a BCP 47 tag. A text missing in one language is copied
from the first language that has it and marked for native-speaker review
(``review``; ``run_import`` writes it as the ``.review.json`` sidecar).
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyxform.errors import PyXFormError  # type: ignore[import-untyped]
from pyxform.question_type_dictionary import QUESTION_TYPE_DICT  # type: ignore[import-untyped]
from pyxform.xls2json import parse_file_to_json  # type: ignore[import-untyped]

from .errors import FormInvalid, XLSFormInvalid
from .review import REVIEW_PREFIX, ReviewMarkers
from .schema import is_language_tag, load_form

__all__ = ["XLSFormImport", "convert_xlsform", "import_xlsform", "run_import"]

# Language names without a "(code)" that are common enough to guess, with a warning.
_KNOWN_LANGUAGE_NAMES = {
    "english": "en",
    "russian": "ru",
    "kazakh": "kk",
    "kyrgyz": "ky",
    "kirghiz": "ky",
    "dungan": "dng",
    "uzbek": "uz",
    "tajik": "tg",
    "uyghur": "ug",
    "ukrainian": "uk",
    "french": "fr",
    "spanish": "es",
    "arabic": "ar",
    "chinese": "zh",
}
_UNDETERMINED = "und"  # BCP 47 "undetermined": labels with no language column

_TRUE = {"yes", "true", "true()"}
_FALSE = {"no", "false", "false()", ""}
_METADATA_TYPES = {
    name for name, spec in QUESTION_TYPE_DICT.items() if "jr:preload" in spec.get("bind", {})
}
# Keys of a pyxform question that are mapped (or deliberately dropped) below.
_HANDLED_KEYS = {
    "type",
    "name",
    "label",
    "hint",
    "bind",
    "control",
    "choices",
    "itemset",
    "list_name",
    "parameters",
    "default",
    "guidance_hint",
    "media",
    "choice_filter",
    "trigger",
    "children",
}
_BIND_FEATURES = {
    "relevant": "relevance (skip logic)",
    "constraint": "constraint",
    "jr:constraintMsg": "constraint_message",
    "jr:requiredMsg": "required_message",
    "calculate": "calculation",
    "readonly": "read_only",
}


@dataclass
class XLSFormImport:
    """The result of a conversion: a valid §5 definition, what was not carried
    over (one line each), and the review markers for copied translations."""

    definition: dict[str, Any]
    warnings: list[str]
    review: ReviewMarkers = field(default_factory=dict)


def _bcp47_case(tag: str) -> str:
    """Conventional case (RFC 5646 §2.1.1): language lower, Script title, REGION upper."""
    parts = tag.replace("_", "-").split("-")
    result = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            result.append(part.title())
        elif len(part) == 2 and part.isalpha():
            result.append(part.upper())
        else:
            result.append(part.lower())
    return "-".join(result)


def _field_id(name: str, prefix: str) -> str:
    """A field or choice id (``^[a-z][a-z0-9_]*$``) made from an XLSForm name."""
    text = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower())[:60]
    if not text or not ("a" <= text[0] <= "z"):
        text = f"{prefix}_{text}"
    return text


def _form_id(name: str) -> str:
    """A form id (lower-case words joined by - or _) made from an XLSForm form_id."""
    words = [word for word in re.split(r"[^a-z0-9]+", name.strip().lower()) if word]
    text = "-".join(words)[:60].strip("-")
    if not text or not ("a" <= text[0] <= "z"):
        text = f"form-{text}".strip("-")
    return text


class _Converter:
    def __init__(self, survey: Mapping[str, Any], source_name: str) -> None:
        self.survey = survey
        self.source_name = source_name
        self.warnings: list[str] = []
        self.language_names: dict[str, str] = {}  # pyxform language name -> BCP 47
        self.languages: list[str] = []
        self.copied: dict[str, dict[str, str]] = {}  # lang -> path -> source lang
        self.field_ids: set[str] = set()

    # -- languages ---------------------------------------------------------

    def language(self, name: str) -> str:
        if name in self.language_names:
            return self.language_names[name]
        if name == "default":
            default = self.survey.get("default_language", "default")
            code = self.language(default) if default != "default" else _UNDETERMINED
            if code == _UNDETERMINED:
                self.warnings.append(
                    "labels without a '::Language (code)' column were given the language "
                    "'und' (undetermined); rename the columns, e.g. 'label::Russian (ru)'"
                )
        else:
            match = re.search(r"\(([^()]+)\)\s*$", name)
            if match:
                code = _bcp47_case(match.group(1).strip())
                if not is_language_tag(code):
                    raise XLSFormInvalid(
                        f"language {name!r}: {match.group(1)!r} is not a BCP 47 language tag"
                    )
            elif name.strip().lower() in _KNOWN_LANGUAGE_NAMES:
                code = _KNOWN_LANGUAGE_NAMES[name.strip().lower()]
                self.warnings.append(
                    f"language {name!r} has no code in its column name; took {code!r} "
                    f"(write it as '{name} ({code})')"
                )
            else:
                raise XLSFormInvalid(
                    f"language {name!r} has no BCP 47 code: name the columns like "
                    f"'label::{name} (xx)'"
                )
        self.language_names[name] = code
        return code

    def collect_languages(self) -> None:
        default = self.survey.get("default_language")
        if default and default != "default":
            self.languages.append(self.language(default))

        def visit(value: Any) -> None:
            if isinstance(value, Mapping):
                for key in ("label", "hint"):
                    texts = value.get(key)
                    names = list(texts) if isinstance(texts, Mapping) else []
                    if isinstance(texts, str):
                        names = ["default"]
                    for name in names:
                        code = self.language(name)
                        if code not in self.languages:
                            self.languages.append(code)
                for key in ("children", "choices"):
                    children = value.get(key)
                    for child in children if isinstance(children, list) else []:
                        visit(child)

        visit(self.survey)
        if not self.languages:
            self.languages.append(self.language("default"))

    def texts(self, value: Any, path: str, *, fallback: str | None) -> dict[str, str] | None:
        """Localised texts for every language; missing ones copied and marked."""
        if value is None or value == "" or value == {}:
            if fallback is None:
                return None
            return dict.fromkeys(self.languages, fallback)
        given = {"default": value} if isinstance(value, str) else dict(value)
        by_code: dict[str, str] = {}
        for name, text in given.items():
            if isinstance(text, str) and text.strip():
                by_code.setdefault(self.language(name), text)
        if not by_code:
            return dict.fromkeys(self.languages, fallback) if fallback is not None else None
        source_language = next(code for code in self.languages if code in by_code)
        result = {}
        for code in self.languages:
            if code in by_code:
                result[code] = by_code[code]
            else:
                result[code] = by_code[source_language]
                self.copied.setdefault(code, {})[path] = source_language
        for text in by_code.values():
            if "${" in text:
                self.warnings.append(
                    f"{path}: refers to other answers (${{...}}); it is shown literally"
                )
                break
        return result

    # -- fields ------------------------------------------------------------

    def new_field_id(self, name: str) -> str:
        field_id = _field_id(name, "f")
        base, counter = field_id, 2
        while field_id in self.field_ids:
            field_id = f"{base}_{counter}"[:64]
            counter += 1
        if field_id != name:
            self.warnings.append(f"field {name!r}: id became {field_id!r}")
        self.field_ids.add(field_id)
        return field_id

    def unsupported_features(self, question: Mapping[str, Any], field_id: str) -> None:
        where = f"field {field_id!r}"
        bind = question.get("bind", {})
        for key, feature in _BIND_FEATURES.items():
            value = bind.get(key)
            if value:
                detail = f" ({value:.80})" if isinstance(value, str) else ""
                self.warnings.append(f"{where}: {feature} is not carried over{detail}")
        required = str(bind.get("required", "")).strip().lower()
        if required not in _TRUE | _FALSE:
            self.warnings.append(
                f"{where}: conditional required ({bind['required']}) is not carried over; "
                "the field is optional"
            )
        for key in sorted(set(bind) - set(_BIND_FEATURES) - {"required", "type"}):
            self.warnings.append(f"{where}: bind setting {key!r} is not carried over")
        appearance = question.get("control", {}).get("appearance", "")
        extra_appearance = [word for word in appearance.split() if word != "multiline"]
        if extra_appearance:
            self.warnings.append(
                f"{where}: appearance {' '.join(extra_appearance)!r} is not carried over"
            )
        simple = {
            "default": "default value",
            "choice_filter": "choice_filter",
            "guidance_hint": "guidance_hint",
            "media": "media (image/audio/video on the label)",
            "trigger": "trigger",
        }
        for key, feature in simple.items():
            if question.get(key):
                self.warnings.append(f"{where}: {feature} is not carried over")
        if question.get("parameters"):
            self.warnings.append(
                f"{where}: parameters ({_parameters(question['parameters'])}) are not carried over"
            )
        for key in sorted(set(question) - _HANDLED_KEYS):
            self.warnings.append(f"{where}: column {key!r} is not carried over")

    def choices(
        self, question: Mapping[str, Any], field_id: str, kind: str = "choices"
    ) -> tuple[list[dict[str, Any]], bool]:
        """The choice list and whether it had an 'other' choice."""
        result: list[dict[str, Any]] = []
        seen: set[str] = set()
        has_other = False
        for choice in question.get("choices", []):
            name = str(choice.get("name", ""))
            if name == "other":
                has_other = True
                continue
            choice_id = _field_id(name, "c")
            base, counter = choice_id, 2
            while choice_id in seen:
                choice_id = f"{base}_{counter}"
                counter += 1
            seen.add(choice_id)
            if choice_id != name:
                self.warnings.append(f"field {field_id!r}: choice {name!r} became {choice_id!r}")
            if choice.get("media"):
                self.warnings.append(
                    f"field {field_id!r}: media on choice {name!r} is not carried over"
                )
            path = f"fields.{field_id}.{kind}.{choice_id}"
            label = self.texts(choice.get("label"), path, fallback=name)
            assert label is not None
            result.append({"id": choice_id, "label": label})
        return result, has_other

    def convert(self) -> dict[str, Any]:
        self.collect_languages()
        fields = list(self.walk(self.survey.get("children", []), in_section=None))
        if not fields:
            raise XLSFormInvalid("the XLSForm has no question that can be carried over")
        form_id = _form_id(str(self.survey.get("id_string") or self.source_name))
        if form_id != self.survey.get("id_string"):
            self.warnings.append(f"form id {self.survey.get('id_string')!r} became {form_id!r}")
        version_text = str(self.survey.get("version", "")).strip()
        if version_text.isdigit() and 1 <= int(version_text) < 2**31:
            version = int(version_text)
        else:
            version = 1
            self.warnings.append(
                f"settings version {version_text!r} is not a whole number from 1; this is version 1"
                if version_text
                else "no version in the settings sheet; this is version 1"
            )
        title = self.title(form_id)
        return {
            "id": form_id,
            "version": version,
            "title": title,
            "languages": self.languages,
            "fields": fields,
        }

    def title(self, form_id: str) -> dict[str, str]:
        """XLSForm titles are not translated: the one title stands for every
        language, and all but the first are marked for review."""
        value = self.survey.get("title")
        if isinstance(value, Mapping):
            texts = self.texts(value, "title", fallback=form_id)
            assert texts is not None
            return texts
        title = str(value).strip() if value else form_id
        for code in self.languages[1:]:
            self.copied.setdefault(code, {})["title"] = self.languages[0]
        return dict.fromkeys(self.languages, title)

    def walk(self, children: list[Any], in_section: str | None) -> Iterator[dict[str, Any]]:
        index = 0
        while index < len(children):
            question = children[index]
            index += 1
            qtype = str(question.get("type", ""))
            name = str(question.get("name", ""))
            if qtype in ("group", "repeat"):
                if name == "meta" and question.get("control", {}).get("bodyless"):
                    continue  # pyxform's own instanceID, not an author's question
                what = "repeat" if qtype == "repeat" else "group"
                consequence = (
                    "its questions are asked once" if what == "repeat" else "its questions follow"
                )
                self.warnings.append(
                    f"{what} {name!r} is not carried over: {consequence}, without its label, "
                    "appearance, relevance or count"
                )
                yield from self.walk(question.get("children", []), in_section=name)
                continue
            follow_up = children[index] if index < len(children) else None
            converted, skip_next = self.question(question, follow_up)
            if skip_next:
                index += 1
            if converted is not None:
                yield converted

    def question(
        self, question: Mapping[str, Any], follow_up: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any] | None, bool]:
        qtype = str(question.get("type", ""))
        name = str(question.get("name", ""))
        spec = QUESTION_TYPE_DICT.get(qtype, {})
        bind_type = spec.get("bind", {}).get("type")
        control = spec.get("control", {}).get("tag")
        skip_reason = self.skip_reason(qtype, question)
        if skip_reason:
            self.warnings.append(f"{qtype} {name!r} is not carried over: {skip_reason}")
            return None, False
        field_id = self.new_field_id(name)
        label = self.texts(question.get("label"), f"fields.{field_id}.label", fallback=None)
        if label is None:
            self.warnings.append(f"field {field_id!r}: no label; its name is used as the label")
            label = dict.fromkeys(self.languages, name)
        help_texts = self.texts(question.get("hint"), f"fields.{field_id}.help", fallback="")
        required = str(question.get("bind", {}).get("required", "")).strip().lower() in _TRUE
        result: dict[str, Any] = {"id": field_id, "type": "text", "label": label}
        result["help"] = help_texts
        result["required"] = required
        self.unsupported_features(question, field_id)
        skip_next = False
        appearance = question.get("control", {}).get("appearance", "").split()

        if control in ("select1", "select"):
            choices, has_other = self.choices(question, field_id)
            other_text = has_other and _is_other_follow_up(follow_up, name)
            if other_text:
                skip_next = True
                self.warnings.append(
                    f"field {field_id!r}: the 'other' choice and the text question after it "
                    "became a free-text 'other' answer"
                )
            elif has_other:  # an 'other' choice with no text to specify it: keep it a choice
                choices.append(self.other_as_choice(question, field_id))
            if control == "select1" and not other_text and _is_yes_no(choices):
                result["type"] = "boolean"
                self.warnings.append(
                    f"field {field_id!r}: a yes/no choice became a boolean (true means yes)"
                )
            elif choices:
                result["type"] = "choice" if control == "select1" else "multichoice"
                result["choices"] = choices
                if other_text:
                    result["other"] = True
            else:
                self.warnings.append(
                    f"field {field_id!r}: a choice with only 'other' became a text field"
                )
        elif control == "upload":
            result["type"] = "attachments"
        elif bind_type == "string" and control == "input":
            result["type"] = "longtext" if "multiline" in appearance else "text"
        elif bind_type == "barcode":
            self.warnings.append(f"field {field_id!r}: barcode scanning became a text field")
        elif bind_type == "int" and control == "range":
            result["type"] = "number"
            self.warnings.append(f"field {field_id!r}: a range slider became a number field")
        elif bind_type in ("int", "decimal"):
            result["type"] = "number"
            if bind_type == "int":
                self.warnings.append(
                    f"field {field_id!r}: 'whole numbers only' is not carried over"
                )
        elif bind_type == "date":
            result["type"] = "date"
        elif bind_type == "dateTime":
            result["type"] = "datetime_range"
            self.warnings.append(
                f"field {field_id!r}: a date and time became a date range whose end may be empty"
            )
        elif bind_type == "time":
            self.warnings.append(f"field {field_id!r}: a time of day became a text field")
        elif bind_type in ("geopoint", "geotrace", "geoshape"):
            result["type"] = "place"
            result["places"] = []
            detail = "a point" if bind_type == "geopoint" else f"a {bind_type[3:]}"
            self.warnings.append(
                f"field {field_id!r}: {detail} became a place described in words, "
                "with optional lat/lon"
            )
        elif qtype == "acknowledge":
            result["type"] = "boolean"
        return result, skip_next

    def other_as_choice(self, question: Mapping[str, Any], field_id: str) -> dict[str, Any]:
        other = next(c for c in question.get("choices", []) if c.get("name") == "other")
        label = self.texts(other.get("label"), f"fields.{field_id}.choices.other", fallback="other")
        return {"id": "other", "label": label}

    def skip_reason(self, qtype: str, question: Mapping[str, Any]) -> str | None:
        spec = QUESTION_TYPE_DICT.get(qtype)
        if spec is None:
            return "unknown question type"
        if qtype in _METADATA_TYPES:
            return "Testimony collects no device, account or timing data about witnesses"
        if qtype == "note":
            return "notes (text with no answer) have no equivalent; move the text into a help"
        if qtype in ("calculate", "hidden"):
            return "calculations and hidden values have no equivalent"
        if qtype in ("background-audio", "background-geopoint"):
            return "recording a witness in the background is never done here"
        control = spec.get("control", {}).get("tag")
        if control == "odk:rank":
            return "ranking has no equivalent"
        if control in ("select1", "select") and not question.get("choices"):
            return "its choices come from a file or an external source"
        if qtype == "trigger" or not spec.get("control"):
            return "no equivalent"
        return None


def _parameters(parameters: Any) -> str:
    if isinstance(parameters, Mapping):
        return "; ".join(f"{key}={value}" for key, value in parameters.items())
    return str(parameters)


def _is_other_follow_up(follow_up: Mapping[str, Any] | None, name: str) -> bool:
    """Whether ``follow_up`` is the 'specify other' text of select ``name``."""
    if follow_up is None or follow_up.get("type") not in ("text", "string"):
        return False
    relevant = str(follow_up.get("bind", {}).get("relevant", ""))
    pattern = (
        rf"selected\(\s*(?:\.\./{re.escape(name)}|\$\{{{re.escape(name)}\}})\s*,\s*'other'\s*\)"
    )
    return re.fullmatch(pattern, relevant.strip()) is not None


def _is_yes_no(choices: list[dict[str, Any]]) -> bool:
    return sorted(choice["id"] for choice in choices) == ["no", "yes"]


def convert_xlsform(
    path: str | Path, *, form_id: str | None = None, version: int | None = None
) -> XLSFormImport:
    """Convert an XLSForm (``.xlsx``, ``.xls``, ``.csv`` or ``.md``, as pyxform reads it).

    ``form_id`` and ``version`` override the settings sheet's ``form_id`` and
    ``version``. Raises :class:`XLSFormInvalid` when pyxform cannot read the
    file, a language column has no BCP 47 code, nothing can be carried over,
    or the result does not follow docs/protocol.md §5.
    """
    source = Path(path)
    pyxform_warnings: list[str] = []
    try:
        survey = parse_file_to_json(str(source), warnings=pyxform_warnings)
    except PyXFormError as exc:
        raise XLSFormInvalid(f"{source.name}: {exc}") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        # A damaged .xlsx: openpyxl's ZIP reader raises zipfile's and zlib's errors.
        raise XLSFormInvalid(f"{source.name}: not a readable XLSForm ({exc})") from None
    converter = _Converter(survey, source.stem)
    definition = converter.convert()
    if form_id is not None:
        definition["id"] = form_id
    if version is not None:
        definition["version"] = version
    warnings = [*converter.warnings, *(f"pyxform: {line}" for line in pyxform_warnings)]
    review: ReviewMarkers = {}
    for language, paths in converter.copied.items():
        for text_path, source_language in paths.items():
            review.setdefault(language, {})[text_path] = (
                f"{REVIEW_PREFIX}copied from {source_language!r} by the XLSForm import; "
                f"the XLSForm has no {language!r} text here"
            )
        warnings.append(
            f"language {language!r}: {len(paths)} texts missing in the XLSForm were copied "
            "from another language and marked for review"
        )
    try:
        load_form(definition)
    except FormInvalid as exc:
        raise XLSFormInvalid(f"{source.name}: the converted form is not valid: {exc}") from None
    return XLSFormImport(definition=definition, warnings=warnings, review=review)


def import_xlsform(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """Convert an XLSForm into a docs/protocol.md §5 definition.

    Returns the definition (a JSON object that ``load_form`` accepts) and one
    warning line for each XLSForm feature not carried over. Raises
    :class:`XLSFormInvalid` as :func:`convert_xlsform` does.
    """
    result = convert_xlsform(path)
    return result.definition, result.warnings


def run_import(path: str | Path, out: str | Path, *, overwrite: bool = False) -> list[str]:
    """``testimony forms import FILE.xlsx``: convert and write the definition to ``out``.

    Writes ``out`` (UTF-8 JSON) and, when translations were copied, the review
    sidecar ``<out without .json>.review.json``. Returns the warning lines.
    Raises :class:`XLSFormInvalid` as :func:`convert_xlsform` does, and
    ``FileExistsError`` when ``out`` exists and ``overwrite`` is false — a
    published form version must never be rewritten in place.
    """
    result = convert_xlsform(path)
    target = Path(out)
    sidecar = target.with_name(target.name.removesuffix(".json") + ".review.json")
    if not overwrite:
        for existing in (target, sidecar):
            if existing.exists():
                raise FileExistsError(f"{existing} exists; choose another name")
    target.write_text(
        json.dumps(result.definition, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    if result.review:
        sidecar.write_text(
            json.dumps(result.review, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
    elif overwrite and sidecar.exists():
        sidecar.unlink()
    return result.warnings
