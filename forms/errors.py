"""Every error ``testimony.forms`` raises (docs/protocol.md §5).

Checks raise; they never return ``False``. Each class has a stable ``code``.
An error about answers or consent names field ids and problem codes only —
never a witness's answer.

::

    FormError                      (ValueError)
    ├── FormInvalid                a form definition does not follow §5
    ├── FormNotFound               no form with that id (and version)
    ├── FormConflict               two different definitions claim one id and version
    ├── AnswersInvalid             answers do not validate against the form (§5)
    ├── ConsentInvalid             ``M.consent`` is not a valid consent (§3)
    ├── ReviewMarkersInvalid       a translation-review sidecar names no existing text
    └── XLSFormInvalid             an XLSForm cannot be read or converted
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .schema import FormDefinition


class Problem(NamedTuple):
    """One reason answers (or a consent) do not validate.

    ``field_id`` is ``None`` for a problem with the whole object. ``code`` is
    stable (see ``forms/rules.py``); ``message_key`` names a localised message
    in ``forms/messages.json``.
    """

    field_id: str | None
    code: str
    message_key: str


class FormError(ValueError):
    """Base of every error raised by ``testimony.forms``."""

    code = "form-error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__ or self.code)


class FormInvalid(FormError):
    """A form definition does not follow docs/protocol.md §5.

    ``details`` lists one line per problem (``location: reason``).
    """

    code = "form-invalid"

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.details: tuple[str, ...] = tuple(details)

    def diagnostics(self) -> str:
        """The problems, one per line, for the CLI's ``--verbose``."""
        return "\n".join(self.details)


class FormNotFound(FormError):
    """No form with that id (and version) is known."""

    code = "form-not-found"


class FormConflict(FormError):
    """Two different definitions claim the same form id and version."""

    code = "form-conflict"


class _ProblemsError(FormError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        codes = ", ".join(sorted({p.code for p in self.problems}))
        super().__init__(f"{self.__doc__} ({codes})" if codes else None)

    def diagnostics(self) -> str:
        """The problems, one per line: ``field: code``."""
        return "\n".join(f"{p.field_id or '-'}: {p.code}" for p in self.problems)


class AnswersInvalid(_ProblemsError):
    """The answers do not validate against the form."""

    code = "answers-invalid"

    def explain(self, form: FormDefinition, language: str) -> str:
        """One line naming each field with a problem, what is wrong (in
        ``language``) and, for a value of the wrong shape, the shape expected
        (``testimony.forms.messages.describe_problems``)."""
        from .messages import describe_problems

        return f"the answers do not validate against the form: {describe_problems(self.problems, form, language)}"


class ConsentInvalid(_ProblemsError):
    """The consent is not valid."""

    code = "consent-invalid"


class ReviewMarkersInvalid(FormError):
    """A translation-review sidecar is malformed or names text that does not exist."""

    code = "review-markers-invalid"


class XLSFormInvalid(FormError):
    """The XLSForm cannot be read or converted."""

    code = "xlsform-invalid"
