"""The witness's consent, ``M.consent`` (docs/protocol.md §3).

``{"share_with": [...], "contact": bool, "text_sha256"?: "<hex>"}`` sits beside
``M.answers``, not in it: consent is not a form field. The witness page builds it from dedicated
controls whose wording, in every form language, is ``forms/consent.json``;
the sharing vocabulary is the same for every form (``rules.SHARE_WITH``), so
that a bundle's sharing profile means the same thing whichever form the
witness filled. The browser checks it with ``validateConsent`` in
``forms/static/validate.js`` over the same table (``forms/rules.py``).

``text_sha256`` (v1.1) pins the wording the witness was shown:
``hex(H(JCS(consent document)))``, the document being ``forms/consent.json``
as published (:func:`consent_text_sha256` for this package's). It is
optional (a v1 manifest has none, and a client that did not show this
package's wording writes none) and, when present, 64 lowercase hex digits; a
validator checks its shape only, since an older testimony was shown an older
wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .errors import ConsentInvalid, Problem
from .rules import RULES, SHARE_WITH
from .schema import FormDefinition, load_form

__all__ = ["Consent", "consent_problems", "consent_text_sha256", "consent_wording"]

_MEMBERS = ("share_with", "contact", "text_sha256")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def consent_wording() -> FormDefinition:
    """The consent controls' wording (``forms/consent.json``).

    It is written in the form definition format (id ``consent``) so that the
    witness page renders it with the same code as a form and translators
    review it the same way (``forms/consent.review.json``); it is not a form
    and is never published as one. Its ``share_with`` choices are exactly
    ``SHARE_WITH``. Raises :class:`FormInvalid` if the package data is broken.
    """
    return load_form(resources.files(__package__).joinpath("consent.json").read_bytes())


def consent_text_sha256() -> str:
    """``hex(H(JCS(consent document)))`` of this package's consent wording
    (``forms/consent.json``): ``M.consent.text_sha256`` (v1.1, docs/protocol.md
    §3) for a client that showed it."""
    return consent_wording().sha256


def _is_sha256_hex(value: Any) -> bool:
    return isinstance(value, str) and _SHA256_HEX.fullmatch(value) is not None


def consent_problems(consent: Any) -> list[Problem]:
    """Every problem with ``consent`` (the parsed JSON of ``M.consent``), in a fixed order.

    Unknown keys first (sorted), then ``share_with``, then ``contact``, then
    ``text_sha256`` (optional; ``wrong-type`` unless 64 lowercase hex
    digits); each ``(field, code)`` once. Returns an empty list when it is
    valid.
    """
    codes = RULES["consent"]["codes"]
    if not isinstance(consent, dict):
        return [Problem(None, "wrong-type", codes["wrong-type"])]
    problems = [
        Problem(key, "unknown-field", codes["unknown-field"])
        for key in sorted(
            (key for key in consent if key not in _MEMBERS),
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
    if "text_sha256" in consent and not _is_sha256_hex(consent["text_sha256"]):
        problems.append(Problem("text_sha256", "wrong-type", codes["wrong-type"]))
    return problems


@dataclass(frozen=True)
class Consent:
    """What the witness allowed: with whom the testimony may be shared, and
    whether reviewers may ask follow-up questions (``contact``); and, when the
    client said so, the hash of the consent wording shown (``text_sha256``)."""

    share_with: frozenset[str]
    contact: bool
    text_sha256: str | None = None

    def __post_init__(self) -> None:
        problems = consent_problems(self._members())
        if problems:
            raise ConsentInvalid(problems)

    def _members(self) -> dict[str, Any]:
        members: dict[str, Any] = {"share_with": list(self.share_with), "contact": self.contact}
        if self.text_sha256 is not None:
            members["text_sha256"] = self.text_sha256
        return members

    @classmethod
    def from_manifest(cls, consent: Any) -> Consent:
        """The consent of a manifest's ``consent`` value.

        Raises :class:`ConsentInvalid`, with its ``problems``, when the value
        is not ``{"share_with": [distinct known ids], "contact": bool,
        "text_sha256"?: 64 lowercase hex}``.
        """
        problems = consent_problems(consent)
        if problems:
            raise ConsentInvalid(problems)
        return cls(
            share_with=frozenset(consent["share_with"]),
            contact=consent["contact"],
            text_sha256=consent.get("text_sha256"),
        )

    def to_manifest(self) -> dict[str, Any]:
        """The JSON value of ``M.consent``, ``share_with`` in vocabulary order
        (``text_sha256`` only when there is one)."""
        manifest: dict[str, Any] = {
            "share_with": [who for who in SHARE_WITH if who in self.share_with],
            "contact": self.contact,
        }
        if self.text_sha256 is not None:
            manifest["text_sha256"] = self.text_sha256
        return manifest

    def allows(self, recipient: str) -> bool:
        """Whether the witness allowed sharing with ``recipient`` (a ``SHARE_WITH`` id)."""
        return recipient in self.share_with
