"""The form definition format of docs/protocol.md §5, as a strict pydantic schema.

A definition is JSON::

    {"id", "version", "title": {lang: text}, "languages": [BCP 47 tags],
     "fields": [{"id", "type", "label": {lang: text}, "help": {lang: text},
                 "required", "choices"|"places": [{"id", "label"}], "other",
                 "identifying"}]}

``"identifying": true`` marks a field whose answer can name or locate a
person (who was harmed, who else saw it): an export that pseudonymises the
witness withholds it (docs/protocol.md §5, an addition of v1.1's notes; §11).
Unknown keys are refused everywhere. Every ``title``, ``label`` and ``help``
carries exactly the languages listed in ``languages``. Field and choice ids
are stable across versions and languages, so they are restricted to
``^[a-z][a-z0-9_]*$``.

The form's hash is ``hex(H(JCS(definition)))`` over the definition exactly as
written: a :class:`FormDefinition` keeps the canonical bytes of the JSON it was
built from, never a re-dump of the model (which could add defaults).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

import rfc8785
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from .errors import FormInvalid

__all__ = [
    "FIELD_TYPES",
    "Choice",
    "FieldType",
    "FormDefinition",
    "FormField",
    "form_sha256",
    "is_language_tag",
    "load_form",
]

FieldType = Literal[
    "text",
    "longtext",
    "date",
    "datetime_range",
    "choice",
    "multichoice",
    "place",
    "number",
    "boolean",
    "attachments",
]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)

#: Field, choice and place ids: stable, ASCII, usable as HTML ids and JSON keys.
ID_PATTERN = r"^[a-z][a-z0-9_]*$"
#: Form ids appear in URLs (``/api/v1/forms/{id}``): lower-case words joined by - or _.
FORM_ID_PATTERN = r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$"

# RFC 5646 (BCP 47) "langtag", in the conventional case (RFC 5646 §2.1.1):
# language lower case, script title case, region upper case. Well-formedness
# only: subtags are not looked up in the IANA registry.
_LANGUAGE_TAG = re.compile(
    r"(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})"  # language (+ extlang)
    r"(?:-[A-Z][a-z]{3})?"  # script
    r"(?:-(?:[A-Z]{2}|[0-9]{3}))?"  # region
    r"(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*"  # variants
    r"(?:-[a-wyz0-9](?:-[a-z0-9]{2,8})+)*"  # extensions
    r"(?:-x(?:-[a-z0-9]{1,8})+)?"  # private use
)

_MAX_LANGUAGES = 32
_MAX_FIELDS = 500
_MAX_CHOICES = 1000

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=64)]
LanguageTag = Annotated[str, StringConstraints(max_length=64)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=2_000)]
HelpText = Annotated[str, StringConstraints(max_length=10_000)]


def is_language_tag(tag: str) -> bool:
    """Whether ``tag`` is a well-formed BCP 47 language tag in conventional case."""
    return _LANGUAGE_TAG.fullmatch(tag) is not None


class Choice(BaseModel):
    """One choice of a ``choice``/``multichoice`` field, or one place of a ``place`` field."""

    model_config = _STRICT

    id: Id
    label: dict[LanguageTag, Label]


class FormField(BaseModel):
    """One question of a form (docs/protocol.md §5)."""

    model_config = _STRICT

    id: Id
    type: FieldType
    label: dict[LanguageTag, Label]
    help: dict[LanguageTag, HelpText]
    required: bool
    choices: Annotated[list[Choice], Field(min_length=1, max_length=_MAX_CHOICES)] | None = None
    places: Annotated[list[Choice], Field(max_length=_MAX_CHOICES)] | None = None
    other: bool | None = None
    identifying: Literal[True] | None = None
    """Set on a field whose answer can name or locate a person; a pseudonymising
    export profile withholds it (docs/bundles.md)."""

    @model_validator(mode="after")
    def _options_fit_type(self) -> FormField:
        has_choices = self.type in ("choice", "multichoice")
        if has_choices != (self.choices is not None):
            raise ValueError(
                "'choices' is required for choice and multichoice fields and allowed nowhere else"
            )
        if (self.type == "place") != (self.places is not None):
            raise ValueError("'places' is required for place fields and allowed nowhere else")
        if self.other is not None and not has_choices:
            raise ValueError("'other' is allowed only on choice and multichoice fields")
        options = self.choices if self.choices is not None else self.places or []
        ids = [option.id for option in options]
        if len(set(ids)) != len(ids):
            raise ValueError("choice and place ids must be distinct within a field")
        return self

    @property
    def option_ids(self) -> frozenset[str]:
        """The ids of this field's choices or places (empty for other types)."""
        options = self.choices if self.choices is not None else self.places or []
        return frozenset(option.id for option in options)

    @property
    def allows_other(self) -> bool:
        """Whether a ``{"other": text}`` answer is accepted."""
        return bool(self.other)


class FormDefinition(BaseModel):
    """A validated form definition that remembers the exact JSON it came from.

    Build it with :func:`load_form`. ``sha256`` is ``hex(H(JCS(definition)))``
    of that JSON; ``as_json()`` returns a fresh copy of it.
    """

    model_config = _STRICT

    id: Annotated[str, StringConstraints(pattern=FORM_ID_PATTERN, max_length=64)]
    version: Annotated[int, Field(ge=1, le=2**31 - 1)]
    title: dict[LanguageTag, Label]
    languages: Annotated[list[LanguageTag], Field(min_length=1, max_length=_MAX_LANGUAGES)]
    fields: Annotated[list[FormField], Field(min_length=1, max_length=_MAX_FIELDS)]

    _jcs: bytes = PrivateAttr(default=b"")

    @model_validator(mode="wrap")
    @classmethod
    def _keep_canonical_bytes(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        definition = handler(data)
        try:
            canonical = rfc8785.dumps(data)
        except (rfc8785.CanonicalizationError, TypeError) as exc:
            raise ValueError(f"the definition is not canonical JSON: {exc}") from None
        definition._jcs = canonical
        return definition

    @model_validator(mode="after")
    def _languages_everywhere(self) -> FormDefinition:
        problems: list[str] = []
        bad_tags = [tag for tag in self.languages if not is_language_tag(tag)]
        if bad_tags:
            problems.append(f"languages: not BCP 47 language tags: {bad_tags}")
        if len(set(self.languages)) != len(self.languages):
            problems.append("languages: listed twice")
        expected = set(self.languages)

        def check(path: str, texts: Mapping[str, str]) -> None:
            missing = sorted(expected - texts.keys())
            extra = sorted(texts.keys() - expected)
            if missing:
                problems.append(f"{path}: missing languages {missing}")
            if extra:
                problems.append(f"{path}: languages not in 'languages' {extra}")

        check("title", self.title)
        ids = [form_field.id for form_field in self.fields]
        if len(set(ids)) != len(ids):
            problems.append("fields: field ids must be distinct")
        for form_field in self.fields:
            check(f"fields.{form_field.id}.label", form_field.label)
            check(f"fields.{form_field.id}.help", form_field.help)
            for kind, options in (("choices", form_field.choices), ("places", form_field.places)):
                for option in options or []:
                    check(f"fields.{form_field.id}.{kind}.{option.id}", option.label)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def jcs(self) -> bytes:
        """The RFC 8785 canonical bytes of the definition as written."""
        return self._jcs

    @property
    def sha256(self) -> str:
        """``hex(H(JCS(definition)))`` (docs/protocol.md §5), as ``M.form.sha256`` names it."""
        return hashlib.sha256(self._jcs).hexdigest()

    def as_json(self) -> dict[str, Any]:
        """A fresh copy of the definition as written (what the API serves)."""
        copy: dict[str, Any] = json.loads(self._jcs)
        return copy

    def field(self, field_id: str) -> FormField:
        """The field with this id; raises ``KeyError`` when there is none."""
        for form_field in self.fields:
            if form_field.id == field_id:
                return form_field
        raise KeyError(field_id)


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(source: bytes) -> Any:
    try:
        text = source.decode("utf-8")
        return json.loads(
            text, object_pairs_hook=_refuse_duplicate_keys, parse_constant=_refuse_constant
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormInvalid(f"the form definition is not JSON: {exc}") from None
    except RecursionError:
        raise FormInvalid("the form definition is not JSON: it is nested too deeply") from None


def load_form(source: bytes | Mapping[str, Any]) -> FormDefinition:
    """Parse and validate a form definition (docs/protocol.md §5).

    ``source`` is the JSON bytes (UTF-8; duplicate keys refused) or the already
    parsed object. Raises :class:`FormInvalid`, with one line per problem in
    ``details``, when it is not JSON or does not follow §5.
    """
    data = _parse_json(source) if isinstance(source, bytes | bytearray) else source
    if not isinstance(data, Mapping):
        raise FormInvalid("a form definition is a JSON object")
    try:
        return FormDefinition.model_validate(dict(data))
    except ValidationError as exc:
        details = [
            f"{'.'.join(str(part) for part in error['loc']) or 'definition'}: {line}"
            for error in exc.errors(include_url=False, include_input=False)
            for line in error["msg"].removeprefix("Value error, ").splitlines()
        ]
        raise FormInvalid(
            f"the form definition does not follow docs/protocol.md §5: {details[0]}"
            + (f" (and {len(details) - 1} more)" if len(details) > 1 else ""),
            details,
        ) from None


def form_sha256(definition: FormDefinition | Mapping[str, Any]) -> str:
    """``hex(H(JCS(definition)))`` of a definition as written (docs/protocol.md §5).

    A :class:`FormDefinition` hashes the JSON it was loaded from; a mapping is
    hashed as given, without validation. Raises :class:`FormInvalid` when a
    mapping cannot be serialised with RFC 8785 (e.g. an integer beyond 2**53).
    """
    if isinstance(definition, FormDefinition):
        return definition.sha256
    try:
        canonical = rfc8785.dumps(definition)
    except (rfc8785.CanonicalizationError, TypeError) as exc:
        raise FormInvalid(f"the form definition is not canonical JSON: {exc}") from None
    return hashlib.sha256(canonical).hexdigest()
