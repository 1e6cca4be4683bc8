"""Versioned, multilingual questionnaires (docs/protocol.md §5) and the witness's consent (§3).

- ``schema``: the definition format; ``load_form``, ``form_sha256``.
- ``rules`` / ``validate``: the answer rules as one table, interpreted here and,
  identically, in the browser (``static/validate.js``).
- ``consent``: ``M.consent`` and the wording of its controls.
- ``registry``: the bundled forms and an operator's folder of forms.
- ``messages`` / ``review``: localised texts and translation-review markers.
- ``xlsform``: conversion of an XLSForm through ODK's ``pyxform`` (import it
  as ``testimony.forms.xlsform``; it is not loaded with the package, as pyxform
  takes a quarter of a second to import).

The guide for form authors is ``docs/forms.md``.
"""

from .consent import Consent, consent_problems, consent_wording
from .errors import (
    AnswersInvalid,
    ConsentInvalid,
    FormConflict,
    FormError,
    FormInvalid,
    FormNotFound,
    Problem,
    ReviewMarkersInvalid,
    XLSFormInvalid,
)
from .messages import Messages, bundled_messages, load_messages
from .registry import FormRegistry, RegisteredForm, bundled_forms, load_forms_dir
from .review import check_review_markers, form_texts
from .rules import RULES, SHARE_WITH
from .schema import FormDefinition, FormField, form_sha256, load_form
from .validate import answer_problems, validate_answers

__all__ = [
    "RULES",
    "SHARE_WITH",
    "AnswersInvalid",
    "Consent",
    "ConsentInvalid",
    "FormConflict",
    "FormDefinition",
    "FormError",
    "FormField",
    "FormInvalid",
    "FormNotFound",
    "FormRegistry",
    "Messages",
    "Problem",
    "RegisteredForm",
    "ReviewMarkersInvalid",
    "XLSFormInvalid",
    "answer_problems",
    "bundled_forms",
    "bundled_messages",
    "check_review_markers",
    "consent_problems",
    "consent_wording",
    "form_sha256",
    "form_texts",
    "load_form",
    "load_forms_dir",
    "load_messages",
    "validate_answers",
]
