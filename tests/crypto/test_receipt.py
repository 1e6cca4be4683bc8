"""Receipt codes and the witness keys they derive (docs/protocol.md §7)."""

from __future__ import annotations

import hashlib
import re

import pytest

from testimony.crypto import hpke, receipt
from testimony.crypto.errors import ReceiptCodeError
from tests.vectors.loader import load_json

VECTOR = load_json("testimony/receipt.json")


@pytest.mark.parametrize("case", VECTOR["derive"], ids=lambda c: c["code"])
def test_derivation_matches_vector(case: dict) -> None:
    keys = receipt.derive(case["code"])
    assert keys.witness_b64u == case["witness"]
    assert keys.box_seed.hex() == case["s1_seed"]
    assert hashlib.sha256(keys.witness_box).hexdigest() == case["witness_box_sha256"]
    assert hpke.key_id(keys.witness_box) == case["witness_box_key_id"]


@pytest.mark.parametrize(("spelling", "digits"), sorted(VECTOR["accept"].items()))
def test_accepted_spellings(spelling: str, digits: str) -> None:
    assert receipt.normalise(spelling).digits == digits


@pytest.mark.parametrize(
    "spelling",
    [
        *VECTOR["reject"],
        "1234-5678 9012-3456-7890",  # mixed separators
        "1234--5678-9012-3456-7890",
        "12345-678-9012-3456-7890",
        "１２３４-５６７８-９０１２-３４５６-７８９０",  # full-width digits
        "1234-5678-9012-3456-7890\n1",
    ],
)
def test_rejected_spellings(spelling: str) -> None:
    with pytest.raises(ReceiptCodeError) as caught:
        receipt.normalise(spelling)
    # The error never repeats what was typed.
    digits = re.sub(r"\D", "", spelling)
    assert not digits or digits not in str(caught.value)


def test_non_string_is_rejected() -> None:
    with pytest.raises(ReceiptCodeError):
        receipt.normalise(12345678901234567890)  # type: ignore[arg-type]


def test_derive_rejects_bad_codes_before_any_work() -> None:
    with pytest.raises(ReceiptCodeError):
        receipt.derive("1234")


def test_new_code_is_grouped_twenty_digits() -> None:
    code = receipt.new_code()
    assert re.fullmatch(r"\d{4}(-\d{4}){4}", code.grouped)
    assert receipt.normalise(code.grouped) == code


def test_new_code_uses_the_injected_source_and_rejects_biased_samples() -> None:
    # 9 bytes of 0xff lie above the largest multiple of 10**20 and are redrawn.
    draws = iter([b"\xff" * 9, (12345678901234567890).to_bytes(9, "big")])
    code = receipt.new_code(random_bytes=lambda n: next(draws))
    assert code.grouped == "1234-5678-9012-3456-7890"


def test_new_codes_differ() -> None:
    assert len({receipt.new_code().digits for _ in range(50)}) == 50


def test_secrets_never_show_in_repr() -> None:
    code = receipt.normalise("1234-5678-9012-3456-7890")
    keys = receipt.derive(code)
    for text in (repr(code), str(code), repr(keys), f"{code}"):
        assert "1234" not in text
        assert keys.box_seed.hex() not in text
