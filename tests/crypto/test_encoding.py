"""Strict encodings of docs/protocol.md §0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testimony.crypto import encoding, rfc3339
from testimony.crypto.errors import MalformedInput


@given(st.binary(max_size=100))
def test_round_trips(data: bytes) -> None:
    assert encoding.b64u_decode(encoding.b64u_encode(data)) == data
    assert encoding.b64_decode(encoding.b64_encode(data)) == data
    assert encoding.hex_decode(data.hex()) == data


@pytest.mark.parametrize("bad", ["AA==", "A", "AB", "A+", "A/", "AA AA", "AAA\n", 5])
def test_b64u_is_strict(bad: object) -> None:
    # "AB" has stray low bits (canonical form is "AA"); padding and the
    # standard alphabet are refused.
    with pytest.raises(MalformedInput):
        encoding.b64u_decode(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["AA", "AB==", "A-8=", "AAA", " AAA="])
def test_b64_is_strict(bad: str) -> None:
    with pytest.raises(MalformedInput):
        encoding.b64_decode(bad)


@pytest.mark.parametrize("bad", ["ABCD", "abc", "zz", " ab"])
def test_hex_is_lowercase_and_even(bad: str) -> None:
    with pytest.raises(MalformedInput):
        encoding.hex_decode(bad)


def test_hex_length_is_checked() -> None:
    with pytest.raises(MalformedInput):
        encoding.hex_decode("00" * 31, 32)


def test_times_are_utc_whole_seconds() -> None:
    moment = datetime(2026, 11, 25, 12, 0, 5, tzinfo=UTC)
    assert rfc3339.parse_time(rfc3339.format_time(moment)) == moment
    for bad in (
        moment.replace(microsecond=1),
        moment.replace(tzinfo=None),
        moment.astimezone(timezone(timedelta(hours=6))),
    ):
        with pytest.raises(MalformedInput):
            rfc3339.format_time(bad)
    for text in (
        "2026-11-25T12:00:00+00:00",
        "2026-11-25 12:00:00Z",
        "2026-02-30T12:00:00Z",
        "2026-11-25T12:00:00.5Z",
    ):
        with pytest.raises(MalformedInput):
            rfc3339.parse_time(text)
