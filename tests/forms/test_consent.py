"""forms/consent.py: M.consent (docs/protocol.md §3) and the wording of its controls."""

from __future__ import annotations

import base64
import json

import pytest

from testimony.forms.consent import Consent, consent_problems, consent_wording
from testimony.forms.errors import ConsentInvalid, Problem
from testimony.forms.rules import SHARE_WITH
from tests.vectors.loader import load_json

from .cases import CONSENT_CASES


@pytest.mark.parametrize("case", CONSENT_CASES, ids=lambda case: repr(case["consent"])[:50])
def test_consent_case(case: dict) -> None:
    assert [list(p) for p in consent_problems(case["consent"])] == case["problems"]


def test_the_vector_manifest_consent() -> None:
    encoded = load_json("testimony/submission.json")["manifest_jcs"]
    manifest = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    consent = Consent.from_manifest(manifest["consent"])
    assert consent.share_with == {"prosecutor", "un_treaty_body"}
    assert consent.contact is True
    assert consent.allows("prosecutor") and not consent.allows("media")
    assert consent.to_manifest() == manifest["consent"]


def test_to_manifest_lists_recipients_in_vocabulary_order() -> None:
    consent = Consent(share_with=frozenset({"media", "prosecutor"}), contact=False)
    assert consent.to_manifest() == {"share_with": ["prosecutor", "media"], "contact": False}


def test_invalid_consent_raises_with_problems() -> None:
    with pytest.raises(ConsentInvalid) as caught:
        Consent.from_manifest({"share_with": ["police"], "contact": True})
    assert caught.value.code == "consent-invalid"
    assert caught.value.problems == (Problem("share_with", "unknown-choice", "unknown-choice"),)
    with pytest.raises(ConsentInvalid):
        Consent(share_with=frozenset({"police"}), contact=True)
    with pytest.raises(ConsentInvalid):
        Consent(share_with=frozenset(), contact=1)  # type: ignore[arg-type]


def test_the_consent_controls_offer_exactly_the_vocabulary() -> None:
    wording = consent_wording()
    assert [field.id for field in wording.fields] == ["share_with", "contact"]
    share_with, contact = wording.fields
    assert share_with.type == "multichoice" and not share_with.allows_other
    assert share_with.choices is not None
    assert tuple(choice.id for choice in share_with.choices) == SHARE_WITH
    assert contact.type == "boolean" and contact.required
    assert wording.languages == ["ru", "kk", "ky", "dng", "en"]
