"""Coarse time at rest (docs/protocol.md §9): flooring and the injectable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from testimony.service.domain.clock import FixedClock, Granularity, SystemClock, unix_seconds
from testimony.service.domain.errors import BadSettings


def test_the_default_granularity_is_one_hour() -> None:
    moment = datetime(2026, 11, 25, 12, 59, 59, 999_999, tzinfo=UTC)
    assert Granularity().floor(moment) == datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert Granularity().seconds == 3600


@pytest.mark.parametrize(("minutes", "expected"), [(1, (12, 34)), (15, (12, 30)), (120, (12, 0))])
def test_granularity_in_whole_minutes(minutes: int, expected: tuple[int, int]) -> None:
    moment = datetime(2026, 11, 25, 12, 34, 56, tzinfo=UTC)
    floored = Granularity(minutes).floor(moment)
    assert (floored.hour, floored.minute, floored.second, floored.microsecond) == (*expected, 0, 0)
    assert floored.tzinfo == UTC


def test_floor_works_in_any_offset() -> None:
    east = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2026, 11, 25, 18, 20, tzinfo=east)  # 12:50 UTC
    assert Granularity().floor(moment) == datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.mark.parametrize("minutes", [0, -60, 1.5, True, "60"])
def test_a_granularity_finer_than_a_minute_or_not_whole_is_refused(minutes: object) -> None:
    with pytest.raises(BadSettings):
        Granularity(minutes)  # type: ignore[arg-type]


def test_ceil_never_ends_early() -> None:
    hourly = Granularity()
    assert hourly.ceil_seconds(7200) == 7200
    assert hourly.ceil_seconds(7201) == 10800
    assert hourly.floor_seconds(7199) == 3600


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        Granularity().floor(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        FixedClock(datetime(2026, 1, 1))


def test_the_fixed_clock_stands_still_until_moved() -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.now() == clock.now()
    clock.advance(timedelta(minutes=61))
    assert unix_seconds(clock.now()) == unix_seconds(datetime(2026, 1, 1, 1, 1, tzinfo=UTC))


def test_the_system_clock_is_aware_utc() -> None:
    assert SystemClock().now().utcoffset() == timedelta(0)
