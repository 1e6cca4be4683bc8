"""The forms a server publishes (docs/protocol.md §5), keyed by ``(id, version)``.

``bundled_forms()`` reads the definitions shipped in ``forms/definitions/``;
``load_forms_dir(path)`` reads an operator's folder (``testimony serve --forms
DIR``). A folder holds one definition per ``*.json`` file, each optionally with
a translation-review sidecar ``<name>.review.json`` (see ``forms/review.py``).
Every version ever published stays in the folder: submissions name the version
they answered, and the workstation validates against exactly that one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from .errors import FormConflict, FormInvalid, FormNotFound, ReviewMarkersInvalid
from .review import ReviewMarkers, check_review_markers, form_texts
from .schema import FormDefinition, load_form

__all__ = ["FormRegistry", "RegisteredForm", "bundled_forms", "load_forms_dir"]

_REVIEW_SUFFIX = ".review.json"

FormKey = tuple[str, int]


@dataclass(frozen=True)
class RegisteredForm:
    """A published form version: its definition, where it came from, its review markers."""

    definition: FormDefinition
    source: str
    review: ReviewMarkers = field(default_factory=dict)

    @property
    def key(self) -> FormKey:
        """``(id, version)``."""
        return self.definition.id, self.definition.version

    @property
    def sha256(self) -> str:
        """``hex(H(JCS(definition)))``, the value ``M.form.sha256`` must carry."""
        return self.definition.sha256


class FormRegistry(Mapping[FormKey, RegisteredForm]):
    """Published forms by ``(id, version)``; immutable.

    Raises :class:`FormConflict` when built from two different definitions with
    the same id and version (the same definition twice is kept once).
    """

    def __init__(self, forms: Iterable[RegisteredForm] = ()) -> None:
        self._forms: dict[FormKey, RegisteredForm] = {}
        for form in forms:
            existing = self._forms.get(form.key)
            if existing is not None and existing.sha256 != form.sha256:
                raise FormConflict(
                    f"form {form.key[0]} version {form.key[1]} is defined differently "
                    f"in {existing.source} and {form.source}"
                )
            self._forms.setdefault(form.key, form)

    def __getitem__(self, key: FormKey) -> RegisteredForm:
        return self._forms[key]

    def __iter__(self) -> Iterator[FormKey]:
        return iter(sorted(self._forms))

    def __len__(self) -> int:
        return len(self._forms)

    def get_version(self, form_id: str, version: int) -> RegisteredForm:
        """The given version; raises :class:`FormNotFound` when it is not published."""
        try:
            return self._forms[(form_id, version)]
        except KeyError:
            raise FormNotFound(f"no form {form_id!r} version {version}") from None

    def latest(self, form_id: str) -> RegisteredForm:
        """The highest version of ``form_id``; raises :class:`FormNotFound` when there is none."""
        versions = [form for (key_id, _), form in self._forms.items() if key_id == form_id]
        if not versions:
            raise FormNotFound(f"no form {form_id!r}")
        return max(versions, key=lambda form: form.definition.version)

    def latest_versions(self) -> list[RegisteredForm]:
        """The latest version of every form, ordered by id."""
        return [self.latest(form_id) for form_id in sorted({key[0] for key in self._forms})]

    def merged(self, other: FormRegistry) -> FormRegistry:
        """Both registries' forms; raises :class:`FormConflict` as the constructor does."""
        return FormRegistry([*self.values(), *other.values()])


def _load_entry(name: str, definition_bytes: bytes, review_bytes: bytes | None) -> RegisteredForm:
    try:
        definition = load_form(definition_bytes)
    except FormInvalid as exc:
        raise FormInvalid(f"{name}: {exc}", exc.details) from None
    review: ReviewMarkers = {}
    if review_bytes is not None:
        try:
            review = check_review_markers(
                review_bytes, languages=definition.languages, paths=form_texts(definition)
            )
        except ReviewMarkersInvalid as exc:
            raise ReviewMarkersInvalid(f"{name}: {exc}") from None
    return RegisteredForm(definition=definition, source=name, review=review)


def _load_folder(entries: Iterable[Traversable]) -> FormRegistry:
    files = {entry.name: entry for entry in entries if entry.is_file()}
    forms = []
    for name in sorted(files):
        if not name.endswith(".json") or name.endswith(_REVIEW_SUFFIX):
            continue
        sidecar = files.get(name.removesuffix(".json") + _REVIEW_SUFFIX)
        forms.append(
            _load_entry(
                name,
                files[name].read_bytes(),
                sidecar.read_bytes() if sidecar is not None else None,
            )
        )
    return FormRegistry(forms)


@functools.cache
def bundled_forms() -> FormRegistry:
    """The form definitions shipped with Testimony (``forms/definitions/``),
    read once a process (a registry is immutable; reading and checking every
    definition again cost 4.5 s of an export of 1,000 testimonies).

    Raises :class:`FormInvalid`, :class:`ReviewMarkersInvalid` or
    :class:`FormConflict` if the package data is broken.
    """
    return _load_folder(resources.files(__package__).joinpath("definitions").iterdir())


def load_forms_dir(path: str | Path) -> FormRegistry:
    """The form definitions in a folder: every ``*.json`` but ``*.review.json``.

    Raises :class:`FormInvalid` (naming the file) for a definition that does not
    follow docs/protocol.md §5, :class:`ReviewMarkersInvalid` for a broken sidecar,
    :class:`FormConflict` for two different definitions of one id and version,
    and ``OSError`` when the folder cannot be read.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder of forms: {folder}")
    return _load_folder(folder.iterdir())
