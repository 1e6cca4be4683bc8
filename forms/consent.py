"""The witness's consent, ``M.consent`` (docs/protocol.md §3).

``{"share_with": [...], "contact": bool}`` sits beside ``M.answers``, not in
it: consent is not a form field. The witness page builds it from dedicated
controls whose wording, in every form language, is ``forms/consent.json``;
the sharing vocabulary is the same for every form (``rules.SHARE_WITH``), so
that a bundle's sharing profile means the same thing whichever form the
witness filled. The browser checks it with ``validateConsent`` in
``forms/static/validate.js`` over the same table (``forms/rules.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from .errors import ConsentInvalid, Problem
from .rules import RULES, SHARE_WITH
from .schema import FormDefinition, load_form

__all__ = ["Consent", "consent_problems", "consent_wording"]


def consent_wording() -> FormDefinition:
    """The consent controls' wording (``forms/consent.json``).

    It is written in the form definition format (id ``consent``) so that the
    witness page renders it with the same code as a form and translators
    review it the same way (``forms/consent.review.json``); it is not a form
    and is never published as one. Its ``share_with`` choices are exactly
    ``SHARE_WITH``. Raises :class:`FormInvalid` if the package data is broken.
    """
    return load_form(resources.files(__package__).joinpath("consent.json").read_bytes())


def consent_problems(consent: Any) -> list[Problem]:
    """Every problem with ``consent`` (the parsed JSON of ``M.consent``), in a fixed order.

    Unknown keys first (sorted), then ``share_with``, then ``contact``; each
    ``(field, code)`` once. Returns an empty list when it is valid.
    """
    codes = RULES["consent"]["codes"]
    if not isinstance(consent, dict):
        return [Problem(None, "wrong-type", codes["wrong-type"])]
    problems = [
        Problem(key, "unknown-field", codes["unknown-field"])
        for key in sorted(
            (key for key in consent if key not in ("share_with", "contact")),
            key=lambda key: key.encode("utf-16-be", "surrogatepass"),
        )
    ]
    if "share_with" not in consent:
        problems.append(Problem("share_with", "required", codes["required"]))
    elif not isinstance(consent["share_with"], list):
        problems.append(Problem("share_with", "wrong-type", codes["wrong-type"]))
    else:
        seen: list[Any] = []
        for item in consent["share_with"]:
            code = None
            if not isinstance(item, str):
                code = "wrong-type"
            elif item not in SHARE_WITH:
                code = "unknown-choice"
            elif item in seen:
                code = "duplicate-choice"
            seen.append(item)
            if code is not None:
                problem = Problem("share_with", code, codes[code])
                if problem not in problems:
                    problems.append(problem)
    if "contact" not in consent:
        problems.append(Problem("contact", "required", codes["required"]))
    elif not isinstance(consent["contact"], bool):
        problems.append(Problem("contact", "wrong-type", codes["wrong-type"]))
    return problems


@dataclass(frozen=True)
class Consent:
    """What the witness allowed: with whom the testimony may be shared, and
    whether reviewers may ask follow-up questions (``contact``)."""

    share_with: frozenset[str]
    contact: bool

    def __post_init__(self) -> None:
        problems = consent_problems({"share_with": list(self.share_with), "contact": self.contact})
        if problems:
            raise ConsentInvalid(problems)

    @classmethod
    def from_manifest(cls, consent: Any) -> Consent:
        """The consent of a manifest's ``consent`` value.

        Raises :class:`ConsentInvalid`, with its ``problems``, when the value
        is not ``{"share_with": [distinct known ids], "contact": bool}``.
        """
        problems = consent_problems(consent)
        if problems:
            raise ConsentInvalid(problems)
        return cls(share_with=frozenset(consent["share_with"]), contact=consent["contact"])

    def to_manifest(self) -> dict[str, Any]:
        """The JSON value of ``M.consent``, ``share_with`` in vocabulary order."""
        return {
            "share_with": [who for who in SHARE_WITH if who in self.share_with],
            "contact": self.contact,
        }

    def allows(self, recipient: str) -> bool:
        """Whether the witness allowed sharing with ``recipient`` (a ``SHARE_WITH`` id)."""
        return recipient in self.share_with
