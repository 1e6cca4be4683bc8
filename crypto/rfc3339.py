"""Times on the wire (docs/protocol.md §0): RFC 3339, UTC, ``Z`` suffix, whole seconds.

>>> from datetime import datetime, timezone
>>> format_time(datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc))
'2026-11-25T12:00:00Z'
>>> parse_time("2026-11-25T12:00:00Z")
datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .errors import MalformedInput

__all__ = ["format_time", "parse_time"]

_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def format_time(moment: datetime) -> str:
    """Format an aware UTC time with whole seconds as ``YYYY-MM-DDTHH:MM:SSZ``.

    Raises :class:`MalformedInput` for a naive time, another offset, or a time
    with fractions of a second (a protocol time is never rounded silently).
    """
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise MalformedInput("a protocol time is timezone-aware")
    if moment.utcoffset() != UTC.utcoffset(None) or moment.microsecond:
        raise MalformedInput("a protocol time is UTC with whole seconds")
    # strftime("%Y") does not zero-pad years before 1000 on every platform.
    return f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse ``YYYY-MM-DDTHH:MM:SSZ`` strictly into an aware UTC time."""
    if not isinstance(text, str) or _PATTERN.fullmatch(text) is None:
        raise MalformedInput("not an RFC 3339 UTC time with whole seconds")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise MalformedInput("not a calendar time") from exc
