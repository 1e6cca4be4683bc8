"""The forms a server publishes, as docs/protocol.md §5 serves them.

Each form version is answered with the intake key its answers are sealed to::

    {"definition": {...}, "sha256": "<hex H(JCS(definition))>",
     "intake_key": "<b64u S1 public key>", "intake_key_id": "<key id>",
     "signature": null}

``signature`` stays ``null`` until a form-signing key is set up (issue 4 builds
forms without signatures). The definitions come from a
``testimony.forms.registry.FormRegistry``; without one, no form is published.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from testimony.crypto import hpke
from testimony.crypto.encoding import b64u_encode
from testimony.forms import errors as form_errors
from testimony.forms.registry import FormRegistry, RegisteredForm

from .errors import FormNotFound

__all__ = ["FormsCatalogue"]


class FormsCatalogue:
    """The published forms of ``registry`` (None: none), with the intake key
    ``intake_key`` gives: a key, or a function answering the newest one (so
    that a rotation, §12.5, reaches witnesses without a restart)."""

    def __init__(
        self, registry: FormRegistry | None, intake_key: bytes | Callable[[], bytes]
    ) -> None:
        self._registry = registry if registry is not None else FormRegistry()
        self._newest = intake_key if callable(intake_key) else (lambda: intake_key)

    def summaries(self) -> list[dict[str, Any]]:
        """``[{"id", "version", "title"}]`` of the latest version of every form."""
        return [
            {
                "id": form.definition.id,
                "version": form.definition.version,
                "title": dict(form.definition.title),
            }
            for form in self._registry.latest_versions()
        ]

    def _answer(self, form: RegisteredForm) -> dict[str, Any]:
        return {
            "definition": form.definition.as_json(),
            "sha256": form.sha256,
            "intake_key": b64u_encode(key := self._newest()),
            "intake_key_id": hpke.key_id(key),
            "signature": None,
        }

    def latest(self, form_id: str) -> dict[str, Any]:
        """The latest version of ``form_id``. Raises :class:`FormNotFound`."""
        try:
            return self._answer(self._registry.latest(form_id))
        except form_errors.FormNotFound:
            raise FormNotFound() from None

    def version(self, form_id: str, version: int) -> dict[str, Any]:
        """Version ``version`` of ``form_id``. Raises :class:`FormNotFound`."""
        try:
            return self._answer(self._registry.get_version(form_id, version))
        except form_errors.FormNotFound:
            raise FormNotFound() from None
