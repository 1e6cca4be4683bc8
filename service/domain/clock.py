"""Coarse time at rest (docs/protocol.md §9).

A precise arrival time can be matched against network records, so no time the
server stores is finer than its *granularity*: ``received`` in entries,
``time`` in checkpoints, blob file times, expiry bounds. The granularity is one
hour by default and may be set in whole minutes, never below one minute. A time
is floored to a multiple of the granularity since the Unix epoch (so an hour
starts at minute 0, a day at midnight UTC).

The clock is injected: the server uses :class:`SystemClock`; tests use
:class:`FixedClock`.

>>> from datetime import datetime, UTC
>>> hourly = Granularity()
>>> hourly.floor(datetime(2026, 11, 25, 12, 34, 56, 789, tzinfo=UTC)).isoformat()
'2026-11-25T12:00:00+00:00'
>>> Granularity(15).floor(datetime(2026, 11, 25, 12, 34, 56, tzinfo=UTC)).isoformat()
'2026-11-25T12:30:00+00:00'
>>> hourly.ceil_seconds(3601)
7200
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from .errors import BadSettings

__all__ = [
    "DEFAULT_MINUTES",
    "Clock",
    "FixedClock",
    "Granularity",
    "SystemClock",
    "unix_seconds",
]

DEFAULT_MINUTES = 60
"""The default granularity: one hour."""


class Clock(Protocol):
    """Where the server reads the time."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved (for tests)."""

    def __init__(self, moment: datetime) -> None:
        self._moment = _aware(moment)

    def now(self) -> datetime:
        """The time it was set to."""
        return self._moment

    def set(self, moment: datetime) -> None:
        """Set the time."""
        self._moment = _aware(moment)

    def advance(self, delta: timedelta) -> None:
        """Move the time forward by ``delta``."""
        self._moment += delta


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def unix_seconds(moment: datetime) -> int:
    """Whole seconds since the Unix epoch (rounded down). Raises ``ValueError`` if naive."""
    return (_aware(moment) - _EPOCH) // timedelta(seconds=1)


def _aware(moment: datetime) -> datetime:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError("a clock holds a timezone-aware time")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Granularity:
    """The server's time granularity, in whole minutes (at least 1; default 60).

    Raises :class:`BadSettings` if ``minutes`` is not an integer of at least 1.
    """

    minutes: int = DEFAULT_MINUTES

    def __post_init__(self) -> None:
        if not isinstance(self.minutes, int) or isinstance(self.minutes, bool) or self.minutes < 1:
            raise BadSettings("the time granularity is a whole number of minutes, at least 1")

    @property
    def seconds(self) -> int:
        """The granularity in seconds."""
        return self.minutes * 60

    def floor_seconds(self, unix_seconds: int) -> int:
        """``unix_seconds`` floored to a multiple of the granularity."""
        return unix_seconds - unix_seconds % self.seconds

    def ceil_seconds(self, unix_seconds: int) -> int:
        """``unix_seconds`` rounded up to a multiple of the granularity.

        Used for expiry bounds that must not end early: an expiry kept at rest
        reveals no more than a floored time does.
        """
        return -(-unix_seconds // self.seconds) * self.seconds

    def floor(self, moment: datetime) -> datetime:
        """``moment`` floored to the granularity, as an aware UTC time in whole seconds.

        Raises ``ValueError`` for a naive time.
        """
        return datetime.fromtimestamp(self.floor_seconds(unix_seconds(moment)), UTC)
