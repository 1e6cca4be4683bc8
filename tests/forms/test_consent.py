"""forms/consent.py: M.consent (docs/protocol.md §3) and the wording of its controls."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import rfc8785

from testimony.forms.consent import (
    Consent,
    consent_problems,
    consent_text_sha256,
    consent_wording,
)
from testimony.forms.errors import ConsentInvalid, Problem
from testimony.forms.rules import SHARE_WITH
from tests.vectors.loader import load_json

from .cases import CONSENT_CASES
from .conftest import REPO


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


# --- text_sha256 (v1.1): the hash of the consent wording shown ------------------------

WORDING_SHA256 = hashlib.sha256(
    rfc8785.dumps(json.loads((REPO / "forms" / "consent.json").read_bytes()))
).hexdigest()


def test_the_wording_hash_is_h_of_jcs_of_the_consent_document() -> None:
    assert consent_text_sha256() == WORDING_SHA256 == consent_wording().sha256


@pytest.mark.parametrize("value", [WORDING_SHA256, "0" * 64, "ab" * 32])
def test_a_text_sha256_of_64_lowercase_hex_is_accepted_and_kept(value: str) -> None:
    given = {"share_with": ["media"], "contact": False, "text_sha256": value}
    assert consent_problems(given) == []
    consent = Consent.from_manifest(given)
    assert consent.text_sha256 == value
    assert consent.to_manifest() == given
    assert Consent(share_with=frozenset({"media"}), contact=False, text_sha256=value) == consent


def test_without_text_sha256_the_consent_is_as_in_v1() -> None:
    consent = Consent.from_manifest({"share_with": [], "contact": True})
    assert consent.text_sha256 is None
    assert consent.to_manifest() == {"share_with": [], "contact": True}


@pytest.mark.parametrize(
    "value",
    [
        WORDING_SHA256.upper(),
        WORDING_SHA256[:63],
        WORDING_SHA256 + "0",
        "g" * 64,
        " " + WORDING_SHA256[1:],
        WORDING_SHA256[:63] + "\n",
        "",
        None,
        64,
        ["ab" * 32],
        {"sha256": "ab" * 32},
    ],
)
def test_a_malformed_text_sha256_is_refused(value: object) -> None:
    given = {"share_with": ["prosecutor"], "contact": True, "text_sha256": value}
    assert consent_problems(given) == [Problem("text_sha256", "wrong-type", "wrong-type.consent")]
    with pytest.raises(ConsentInvalid) as caught:
        Consent.from_manifest(given)
    assert caught.value.problems == (Problem("text_sha256", "wrong-type", "wrong-type.consent"),)
    if value is not None:  # None is the dataclass's "absent"
        with pytest.raises(ConsentInvalid):
            Consent(share_with=frozenset(), contact=True, text_sha256=value)  # type: ignore[arg-type]


def test_a_text_sha256_problem_comes_after_the_others() -> None:
    given = {"contact": "no", "text_sha256": "x", "zz": 1}
    assert [(p.field_id, p.code) for p in consent_problems(given)] == [
        ("zz", "unknown-field"),
        ("share_with", "required"),
        ("contact", "wrong-type"),
        ("text_sha256", "wrong-type"),
    ]
