"""JCS (RFC 8785, docs/protocol.md §0) in the browser (`canonicalize`) against
Python's ``rfc8785`` on the inputs where implementations differ: number
formatting, key order by UTF-16 code units, string escapes."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from testimony.crypto import canonical

# Every test here drives headless Chromium; together they take well over 5 s.
pytestmark = pytest.mark.slow

# IEEE 754 bit patterns of RFC 8785 Appendix B, and a few more.
NUMBER_BITS = [
    0x0000000000000000, 0x8000000000000000, 0x0000000000000001, 0x8000000000000001,
    0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF, 0x4340000000000000, 0xC340000000000000,
    0x4430000000000000, 0x44B52D02C7E14AF5, 0x44B52D02C7E14AF6, 0x44B52D02C7E14AF7,
    0x444B1AE4D6E2EF4E, 0x444B1AE4D6E2EF4F, 0x444B1AE4D6E2EF50, 0x3EB0C6F7A0B5ED8C,
    0x3EB0C6F7A0B5ED8D, 0x41B3DE4355555553, 0x41B3DE4355555554, 0x41B3DE4355555555,
    0x41B3DE4355555556, 0x41B3DE4355555557, 0xBECBF647612F3696, 0x43143FF3C1CB0959,
]  # fmt: skip
NUMBERS = [struct.unpack(">d", bits.to_bytes(8, "big"))[0] for bits in NUMBER_BITS] + [
    0.1 + 0.2,
    1e21,
    1e20,
    1e-6,
    1e-7,
    123456789012345680000.0,
    -1.5e-9,
    100,
    -7,
    2**53 - 1,
]

STRINGS = ["".join(chr(c) for c in range(0x20)), '"\\/', "\x7f\u0080\u2028\u2029", "é€😀", ""]

# RFC 8785 §3.2.3's example: UTF-16 order puts U+1F600 (D83D DE00) before U+FB33.
KEYS = {
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\U0001f600": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis",
    "": "empty",
    "a\u0000": "NUL inside",
    "A": "capital",
    "aa": "two",
}

DOCUMENTS = [
    NUMBERS,
    STRINGS,
    KEYS,
    {"nested": [{"b": [], "a": {}}, [[None, True, False]], {"z": {"y": {"x": 1.5}}}]},
    {"numbers": {str(i): n for i, n in enumerate(NUMBERS)}},
    "just a string",
    -0.0,
]


def test_jcs_matches_python_on_tricky_inputs(page: Any) -> None:
    texts = [json.dumps(doc, ensure_ascii=False) for doc in DOCUMENTS]
    got = page.evaluate(
        "(texts) => texts.map((text) => t.enc(window.seal.jcs(JSON.parse(text))))", texts
    )
    for doc, text, jcs in zip(DOCUMENTS, texts, got, strict=True):
        expected = canonical.dumps(json.loads(text))
        assert t_dec(jcs) == expected, doc


def test_number_spellings_are_those_of_the_rfc(page: Any) -> None:
    # A few spellings fixed by RFC 8785 Appendix B, checked on both sides.
    expected = {
        0x8000000000000000: "0",
        0x0000000000000001: "5e-324",
        0x7FEFFFFFFFFFFFFF: "1.7976931348623157e+308",
        0x4430000000000000: "295147905179352830000",
        0x44B52D02C7E14AF6: "1e+23",
        0x3EB0C6F7A0B5ED8D: "0.000001",
        0x41B3DE4355555555: "333333333.3333333",
    }
    floats = [struct.unpack(">d", bits.to_bytes(8, "big"))[0] for bits in expected]
    got = page.evaluate(
        "(texts) => texts.map((text) => window.seal.canonicalJson(JSON.parse(text)))",
        [json.dumps(f) for f in floats],
    )
    assert got == list(expected.values())
    assert [canonical.dumps(f).decode() for f in floats] == list(expected.values())


@pytest.mark.parametrize(
    "expression",
    ["NaN", "Infinity", "[-Infinity]", "'\\ud800'", "({'\\udc00': 1})", "({a: [1, '\\ud83d']})"],
)
def test_values_jcs_refuses_are_refused(page: Any, expression: str) -> None:
    code = page.evaluate(
        f"""() => {{
          try {{ window.seal.jcs({expression}); return null; }} catch (e) {{ return e.code; }}
        }}"""
    )
    assert code == "malformed-input"


def t_dec(text: str) -> bytes:
    from testimony.crypto.encoding import b64u_decode

    return b64u_decode(text)
