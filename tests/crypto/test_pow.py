"""crypto/pow.py: the client's search, with the server's count of bits."""

from __future__ import annotations

import itertools

import pytest

from testimony.crypto import pow as proof
from testimony.crypto.encoding import b64u_decode, sha256


@pytest.mark.parametrize("bits", [0, 1, 5, 12, 17])
def test_the_nonce_found_has_the_bits_asked_for(bits: int) -> None:
    challenge = "Y2hhbGxlbmdl"
    nonce = proof.solve(challenge, bits)
    digest = sha256(b64u_decode(challenge) + b64u_decode(nonce))
    assert proof.leading_zero_bits(digest) >= bits


def test_the_search_reports_its_progress_against_the_expected_count() -> None:
    reports: list[tuple[int, int]] = []
    proof.solve("cHJvZ3Jlc3M", 20, lambda tried, expected: reports.append((tried, expected)))
    assert reports, "a 20-bit search lasts longer than one report interval"
    assert all(expected == 1 << 20 for _tried, expected in reports)
    tried = [t for t, _e in reports]
    assert tried == sorted(tried) and tried[0] == proof.REPORT_EVERY
    assert all(b - a == proof.REPORT_EVERY for a, b in itertools.pairwise(tried))


def test_bits_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="0 to 64"):
        proof.solve("AAAA", 65)
