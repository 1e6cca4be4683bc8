"""Charts for the reviewers' web UI, drawn as inline SVG on the server.

Four charts, each with a plain HTML ``<table class="chart-data">`` holding the
same numbers (for screen readers, for a ``<details>`` under the chart, and for
the tests):

- a **timeline** (:func:`timeline_svg`, :func:`timeline_table`): incidents and
  what witnesses say happened when, each a bar over the span its partial date
  covers (:func:`period`: "2020-02" is the whole of February, a range runs
  from the start of its first date to the end of its last), grouped in lanes
  (a testimony under the incident it is linked to);
- a **map** without tiles (:func:`map_svg`, :func:`map_table`): places as
  circles whose area is proportional to a count, on an equirectangular
  projection fitted to the points, with a graticule, a scale bar and a north
  arrow — nothing is fetched, so nothing tells a tile server which villages a
  reviewer is looking at;
- **horizontal bars** (:func:`bar_chart_svg`, :func:`bar_table`);
- a **day histogram** (:func:`day_histogram_svg`, :func:`day_table`), one
  column per day, days without a count drawn as zero.

Why SVG written in Python rather than a JavaScript charting library: the
workstation's pages are served under ``default-src 'none'; style-src 'self';
img-src 'self'; script-src 'self'``, the reviewers' machines may be offline
and must not reach a CDN, and every label is a witness's or a reviewer's text.
Markup built here needs no script, no inline ``style`` attribute (all colours,
fonts and sizes are classes styled by ``static/charts.css``), no
``<foreignObject>``, no external reference (the only links are site-relative
``href`` values the caller passes, and only those starting with a single
``/``). Every label goes through :func:`~.text.marked` (bidi overrides and
other invisible characters become visible marks such as ``⟦U+202E⟧``) and
is then escaped. The output is deterministic — the same input gives the same
bytes, coordinates rounded to one decimal — and well-formed XML, so the tests
parse it and measure what is drawn.

Each SVG has ``role="img"``, ``aria-labelledby`` naming its ``<title>`` and
``aria-describedby`` its ``<desc>`` (a summary: counts, extent, undated or
unplaced items); ids start with the caller's ``id_prefix``, which must be
unique on the page. The summaries' few words ("undated", "total"...) are
English; the chart's title, the empty-state text and the tables' headers are
the caller's.

Layout assumes the font sizes set in ``charts.css`` (12 px labels, 11 px
ticks, in SVG user units) to estimate how many characters fit; long labels are
cut with "…" and the full text is in a ``<title>`` (a tooltip).

Used from a Jinja2 template, each function returns :class:`~markupsafe.Markup`
and is inserted as is: ``{{ timeline }}`` and ``<details><summary>…</summary>
{{ timeline_data }}</details>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from markupsafe import Markup, escape

from .text import marked, visible

__all__ = [
    "Bar",
    "MapPoint",
    "Period",
    "TimelineItem",
    "bar_chart_svg",
    "bar_table",
    "day_histogram_svg",
    "day_table",
    "map_svg",
    "map_table",
    "period",
    "timeline_svg",
    "timeline_table",
]

# Average advance of a character at the sizes charts.css sets (system-ui).
_CHAR = 6.6  # 12 px labels
_TICK_CHAR = 6.2  # 11 px ticks
_MIN_WIDTH = 200
_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


# --- partial dates -------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """The span of time a partial date or a range covers: naive UTC, ``end`` exclusive."""

    start: datetime
    end: datetime


_DATE = re.compile(
    r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?"
    r"(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?)?)?)?)?"
)


def _span(text: object) -> tuple[datetime, datetime] | None:
    if not isinstance(text, str):
        return None
    match = _DATE.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, _zulu, sign, off_h, off_m = match.groups()
    try:
        y = int(year)
        if month is None:
            return datetime(y, 1, 1), datetime(y + 1, 1, 1)
        m = int(month)
        if day is None:
            start = datetime(y, m, 1)
            return start, (datetime(y + 1, 1, 1) if m == 12 else datetime(y, m + 1, 1))
        if hour is None:
            start = datetime(y, m, int(day))
            return start, start + timedelta(days=1)
        start = datetime(y, m, int(day), int(hour), int(minute), int(second or 0))
        if sign is not None:
            hours, minutes = int(off_h), int(off_m or 0)
            if hours > 23 or minutes > 59:
                return None
            offset = timedelta(hours=hours, minutes=minutes)
            start = start - offset if sign == "+" else start + offset
        return start, start + timedelta(minutes=1)
    except (ValueError, OverflowError):
        return None


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def period(start: str | None, end: str | None = None) -> Period | None:
    """A witness's or an incident's partial date (or range) as the span of time it covers.

    Formats: ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM`` (optionally
    ``:SS``, optionally a trailing ``Z`` or an offset such as ``+06:00``, converted
    to UTC). A partial date covers its whole period: "2020-02" is 2020-02-01T00:00
    to 2020-03-01T00:00, "2020-02-07" the whole day, "2020-02-07T23:30" one minute
    (a time with seconds also spans one minute from it).

    With an end, the range runs from the start of ``start``'s period to the end of
    ``end``'s period; only ``end`` given: that period. An empty string counts as
    not given. Neither given, either unparseable, or a range ending at or before
    it starts: ``None``. Never raises.
    """
    has_start, has_end = _given(start), _given(end)
    if not has_start and not has_end:
        return None
    first = _span(start) if has_start else None
    last = _span(end) if has_end else None
    if (has_start and first is None) or (has_end and last is None):
        return None
    if first is not None and last is not None:
        if last[1] <= first[0]:
            return None
        return Period(first[0], last[1])
    only = first or last
    return None if only is None else Period(*only)


# --- shared helpers ------------------------------------------------------------


def _num(value: float) -> str:
    """A coordinate rounded to one decimal, without a useless ".0"."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _esc(text: str) -> str:
    return str(escape(text))


def _plain(text: object) -> str:
    """Untrusted text for SVG: invisible characters marked, whitespace collapsed."""
    return " ".join(marked("" if text is None else str(text)).split())


def _fit(text: str, chars: int) -> str:
    chars = max(chars, 2)
    if len(text) <= chars:
        return text
    return text[: chars - 1].rstrip() + "\u2026"


def _label_text(label: str, chars: int, attrs: str) -> str:
    """A ``<text>`` element with the label cut to ``chars``, the whole label as its title."""
    full = _plain(label)
    shown = _fit(full, chars)
    tip = f"<title>{_esc(full)}</title>" if shown != full else ""
    return f"<text {attrs}>{tip}{_esc(shown)}</text>"


def _href(href: object) -> str | None:
    """``href`` escaped if it is a site-relative path ("/..."), otherwise None."""
    if not isinstance(href, str) or not href.startswith("/") or href.startswith("//"):
        return None
    if "\\" in href or any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in href):
        return None
    if marked(href) != href:
        return None
    return _esc(href)


def _linked(href: str | None, body: str) -> str:
    safe = _href(href)
    return body if safe is None else f'<a href="{safe}">{body}</a>'


def _prefix(id_prefix: str) -> str:
    if not isinstance(id_prefix, str) or not _PREFIX.fullmatch(id_prefix):
        raise ValueError("id_prefix must be a letter followed by letters, digits, '-' or '_'")
    return id_prefix


def _check_size(width: int, height: int | None = None) -> None:
    if width < _MIN_WIDTH or (height is not None and height < 120):
        raise ValueError(f"a chart needs at least {_MIN_WIDTH} px of width and 120 of height")


def _svg(
    kind: str, width: float, height: float, id_prefix: str, title: str, desc: str
) -> list[str]:
    p = _prefix(id_prefix)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" width="{_num(width)}" height="{_num(height)}" '
        f'preserveAspectRatio="xMidYMin meet" role="img" '
        f'aria-labelledby="{p}-title" aria-describedby="{p}-desc">',
        f'<title id="{p}-title">{_esc(_plain(title))}</title>',
        f'<desc id="{p}-desc">{_esc(_plain(desc))}</desc>',
    ]


def _done(parts: list[str]) -> Markup:
    # Every part is built here from numbers, constants and escaped text.
    return Markup("".join(parts))  # noqa: S704


def _empty(empty: str) -> Markup:
    return _done(['<p class="chart-empty">', str(visible(empty)), "</p>"])


def _table(headers: Sequence[str], rows: Iterable[Sequence[tuple[str, bool]]]) -> Markup:
    """A ``chart-data`` table: the first cell of a row is its header; cells are
    (HTML, numeric) pairs already escaped."""
    parts = ['<table class="chart-data"><thead><tr>']
    parts += [f'<th scope="col">{visible(h)}</th>' for h in headers]
    parts.append("</tr></thead><tbody>")
    for row in rows:
        parts.append("<tr>")
        for i, (cell, numeric) in enumerate(row):
            tag = "th" if i == 0 else "td"
            scope = ' scope="row"' if i == 0 else ""
            cls = ' class="num"' if numeric else ""
            parts.append(f"<{tag}{scope}{cls}>{cell}</{tag}>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    return _done(parts)


def _cell_label(label: str, href: str | None) -> tuple[str, bool]:
    shown = str(visible(label))
    safe = _href(href)
    return (shown if safe is None else f'<a href="{safe}">{shown}</a>', False)


def _nice(value: float) -> list[float]:
    """Round numbers (1, 2 and 5 times a power of ten) in ``value``'s decade and the two around it."""
    exponent = math.floor(math.log10(value)) if value > 0 else 0
    numbers: list[float] = []
    for n in (exponent - 1, exponent, exponent + 1):
        numbers += [s * 10**n if n >= 0 else s / 10**-n for s in (1, 2, 5)]
    return numbers


def _spaced(lines: list[tuple[float, str]], gap: float) -> list[tuple[float, str]]:
    """Second-line labels at least ``gap`` apart: where two crowd, the later one
    (a change of day or month) is kept and the earlier dropped."""
    kept: list[tuple[float, str]] = []
    for x, text in reversed(lines):
        if not kept or kept[-1][0] - x >= gap:
            kept.append((x, text))
    return kept[::-1]


# --- timeline ------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineItem:
    """An incident or a testimony's account of when it happened, for :func:`timeline_svg`."""

    id: str
    label: str
    kind: str
    """"incident" or "testimony"."""
    start: str | None
    end: str | None
    href: str | None = None
    lane: str = ""
    """Items with the same lane share a row group under a heading; "" = no group."""


_KINDS = {"incident": "tl-incident", "testimony": "tl-testimony"}
_ROW = 20
_AXIS_Y = 34


def _shift(moment: datetime, delta: timedelta) -> datetime:
    try:
        return moment + delta
    except OverflowError:
        return datetime.max if delta > timedelta(0) else datetime.min


def _next_month(moment: datetime) -> datetime:
    if moment.month == 12:
        return datetime(moment.year + 1, 1, 1)
    return datetime(moment.year, moment.month + 1, 1)


def _tick_times(unit: str, step: int, lo: datetime, hi: datetime) -> list[datetime]:
    ticks: list[datetime] = []
    try:
        if unit == "hour":
            t = lo.replace(minute=0, second=0, microsecond=0)
            t = t if t >= lo else t + timedelta(hours=1)
            while t <= hi:
                if t.hour % step == 0:
                    ticks.append(t)
                t += timedelta(hours=1)
        elif unit == "day":
            t = lo.replace(hour=0, minute=0, second=0, microsecond=0)
            t = t if t >= lo else t + timedelta(days=1)
            while t <= hi:
                # Ordinal 1 is a Monday: weekly ticks fall on Mondays.
                if (t.toordinal() - 1) % step == 0:
                    ticks.append(t)
                t += timedelta(days=1)
        elif unit == "month":
            t = datetime(lo.year, lo.month, 1)
            t = t if t >= lo else _next_month(t)
            while t <= hi:
                if (t.year * 12 + t.month - 1) % step == 0:
                    ticks.append(t)
                t = _next_month(t)
        else:
            first = lo.year if datetime(lo.year, 1, 1) >= lo else lo.year + 1
            first = -(-first // step) * step
            ticks = [datetime(y, 1, 1) for y in range(max(first, step), hi.year + 1, step)]
    except (ValueError, OverflowError):
        pass  # past year 9999
    return ticks


def _time_ticks(lo: datetime, hi: datetime, plot: float) -> list[tuple[datetime, str, str]]:
    """Ticks for the axis: (moment, label, date line or "")."""
    span = hi - lo
    steps: Sequence[int]
    if span < timedelta(days=2):
        unit, steps, chars = "hour", (1, 2, 3, 6, 12, 24), 5
    elif span < timedelta(days=60):
        unit, steps, chars = "day", (1, 2, 7, 14, 28), 10
    elif span < timedelta(days=730):
        unit, steps, chars = "month", (1, 2, 3, 6, 12), 7
    else:
        unit, steps, chars = "year", (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000), 4
    most = max(2, int(plot // (chars * _TICK_CHAR + 20)))
    times: list[datetime] = []
    for step in steps:
        times = _tick_times(unit, step, lo, hi)
        if len(times) <= most:
            break
    ticks: list[tuple[datetime, str, str]] = []
    previous: date | None = None
    for t in times:
        if unit == "hour":
            day_line = t.date().isoformat() if t.date() != previous else ""
            previous = t.date()
            ticks.append((t, t.strftime("%H:%M"), day_line))
        elif unit == "day":
            ticks.append((t, t.date().isoformat(), ""))
        elif unit == "month":
            ticks.append((t, f"{t.year:04d}-{t.month:02d}", ""))
        else:
            ticks.append((t, f"{t.year:04d}", ""))
    return ticks


def _when(start: datetime, end: datetime) -> str:
    midnight = start.time() == end.time() == datetime.min.time()
    if midnight:
        return f"{start.date().isoformat()} to {(end - timedelta(days=1)).date().isoformat()}"
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


def _as_given(item: TimelineItem) -> str:
    start = _plain(item.start) if _given(item.start) else ""
    end = _plain(item.end) if _given(item.end) else ""
    if start and end:
        return f"{start} \u2013 {end}"
    return start or f"\u2013 {end}"


def timeline_svg(
    items: Sequence[TimelineItem],
    *,
    title: str,
    id_prefix: str,
    empty: str,
    width: int = 960,
    legend: tuple[str, str] | None = None,
) -> Markup:
    """Incidents (solid bars, ``tl-incident``) and testimonies (outlined bars,
    ``tl-testimony``) over a time axis, one row each, grouped by lane.

    A range is drawn from its start to its end; a period under 4 px wide (a
    minute) is drawn 4 px wide with the class ``tl-point``. Items without a
    usable date are left out and counted in the ``<desc>`` ("undated: N").
    ``legend``, if given, is the text for the incident and testimony keys drawn
    under the rows. With no dated item: ``<p class="chart-empty">empty</p>``.
    """
    _check_size(width)
    _prefix(id_prefix)
    for item in items:
        if item.kind not in _KINDS:
            raise ValueError(
                f"a timeline item's kind is 'incident' or 'testimony', not {item.kind!r}"
            )
    dated = [(item, p) for item in items if (p := period(item.start, item.end)) is not None]
    undated = len(items) - len(dated)
    if not dated:
        return _empty(empty)

    lanes: dict[str, list[tuple[TimelineItem, Period]]] = {}
    for item, p in dated:
        lanes.setdefault(item.lane, []).append((item, p))
    order = [lane for lane in lanes if lane != ""]
    if "" in lanes:
        order.insert(0, "")
    rows: list[tuple[str, TimelineItem | None, Period | None]] = []
    for lane in order:
        if lane:
            rows.append((lane, None, None))
        rows += [(lane, item, p) for item, p in lanes[lane]]

    first = min(p.start for _, p in dated)
    last = max(p.end for _, p in dated)
    lo, hi = first, last
    if hi - lo < timedelta(hours=2):
        extra = (timedelta(hours=2) - (hi - lo)) / 2
        lo, hi = _shift(lo, -extra), _shift(hi, extra)
    pad = (hi - lo) * 0.03
    lo, hi = _shift(lo, -pad), _shift(hi, pad)

    label_w = round(min(width * 0.3, 260))
    x0, x1 = label_w + 8, width - 24
    total = (hi - lo).total_seconds()

    def x_of(moment: datetime) -> float:
        return x0 + (moment - lo).total_seconds() / total * (x1 - x0)

    rows_top = _AXIS_Y + 6
    rows_bottom = rows_top + len(rows) * _ROW
    height = rows_bottom + 8 + (24 if legend else 0)

    incidents = sum(1 for item, _ in dated if item.kind == "incident")
    desc = f"incidents: {incidents}, testimonies: {len(dated) - incidents}, {_when(first, last)}"
    if undated:
        desc += f"; undated: {undated}"
    parts = _svg("timeline", width, height, id_prefix, title, desc)

    # Axis, ticks and grid.
    parts.append(
        f'<g class="axis-group"><line class="axis" x1="{x0}" y1="{_AXIS_Y}" '
        f'x2="{x1}" y2="{_AXIS_Y}"/>'
    )
    ticks = _time_ticks(lo, hi, x1 - x0)
    dates: list[tuple[float, str]] = []
    for moment, label, day_line in ticks:
        at = _num(x_of(moment))
        parts.append(
            f'<line class="grid" x1="{at}" y1="{_AXIS_Y}" x2="{at}" y2="{rows_bottom}"/>'
            f'<line class="tick" x1="{at}" y1="{_AXIS_Y - 4}" x2="{at}" y2="{_AXIS_Y}"/>'
        )
        parts.append(_tick_label(x_of(moment), _AXIS_Y - 8, label, width))
        if day_line:
            dates.append((x_of(moment), day_line))
    # A date line at the first tick and at each change of day.
    parts += [_tick_label(x, _AXIS_Y - 22, text, width) for x, text in _spaced(dates, 80)]
    parts.append("</g>")

    for i, (lane, row, p) in enumerate(rows):
        y = rows_top + i * _ROW
        if row is None or p is None:
            parts.append(
                f'<g class="tl-lane-row"><line class="grid" x1="0" y1="{y}" x2="{width}" y2="{y}"/>'
            )
            chars = int((width - 8) / _CHAR)
            parts.append(_label_text(lane, chars, f'class="tl-lane" x="4" y="{y + 14}"'))
            parts.append("</g>")
            continue
        indent = 16 if lane else 4
        label = row.label if row.label.strip() else row.id
        text = _label_text(
            label,
            int((label_w - indent - 4) / _CHAR),
            f'class="tl-label" x="{indent}" y="{y + 14}"',
        )
        left, right = x_of(p.start), x_of(p.end)
        cls = _KINDS[row.kind]
        if right - left < 4:
            middle = (left + right) / 2
            left, right = middle - 2, middle + 2
            cls += " tl-point"
        tip = f"{_plain(label)}: {_as_given(row)}"
        rect = (
            f'<rect class="{cls}" x="{_num(left)}" y="{y + 4}" width="{_num(right - left)}" '
            f'height="12" rx="2"><title>{_esc(tip)}</title></rect>'
        )
        parts.append(f'<g class="tl-row">{_linked(row.href, text + rect)}</g>')

    if legend:
        y = rows_bottom + 10
        lx = float(x0)
        parts.append('<g class="tl-legend">')
        for kind, text in zip(("incident", "testimony"), legend, strict=True):
            shown = _fit(_plain(text), 30)
            parts.append(
                f'<rect class="{_KINDS[kind]}" x="{_num(lx)}" y="{y}" width="24" height="12" rx="2"/>'
                f'<text class="tl-label" x="{_num(lx + 30)}" y="{y + 10}">{_esc(shown)}</text>'
            )
            lx += 30 + len(shown) * _CHAR + 24
        parts.append("</g>")
    parts.append("</svg>")
    return _done(parts)


def _tick_label(x: float, y: float, text: str, width: float) -> str:
    half = len(text) * _TICK_CHAR / 2
    anchor = "middle"
    if x + half > width - 2:
        anchor = "end"
        x = min(x, width - 2)
    elif x - half < 2:
        anchor = "start"
        x = max(x, 2)
    return (
        f'<text class="tick" x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}">{_esc(text)}</text>'
    )


def timeline_table(items: Sequence[TimelineItem], *, headers: tuple[str, str, str]) -> Markup:
    """The timeline's items as a table: label, from, to — the dates as given
    (their precision is the witness's), empty when not given."""
    rows = []
    for item in items:
        label = item.label if item.label.strip() else item.id
        start = str(visible(item.start)) if _given(item.start) else ""
        end = str(visible(item.end)) if _given(item.end) else ""
        rows.append([_cell_label(label, item.href), (start, False), (end, False)])
    return _table(headers, rows)


# --- map -----------------------------------------------------------------------


@dataclass(frozen=True)
class MapPoint:
    """A place for :func:`map_svg`; ``count`` is e.g. the testimonies about it."""

    id: str
    label: str
    lat: float
    lon: float
    count: int
    href: str | None = None


_KM_PER_DEGREE = 6371.0088 * math.pi / 180
_MIN_SPAN = 5 / _KM_PER_DEGREE  # a single place is shown with about 5 km around it
_MAX_RADIUS = 28.0
_UNIT_RADIUS = 6.0  # a count of 1, when the largest count leaves room
_GRATICULE = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30)


def _placed(point: MapPoint) -> bool:
    lat, lon = point.lat, point.lon
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return False
    return math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180


def _degrees(value: float, positive: str, negative: str, decimals: int) -> str:
    value = round(value, decimals)
    hemisphere = positive if value > 0 else negative if value < 0 else ""
    return f"{abs(value):.{decimals}f}\u00b0{hemisphere}"


def _lat(value: float, decimals: int) -> str:
    return _degrees(value, "N", "S", decimals)


def _lon(value: float, decimals: int) -> str:
    return _degrees(value, "E", "W", decimals)


def _count(value: int) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def map_svg(
    points: Sequence[MapPoint],
    *,
    title: str,
    id_prefix: str,
    empty: str,
    width: int = 640,
    height: int = 420,
) -> Markup:
    """Places on an offline map: an equirectangular projection (longitude
    scaled by the cosine of the middle latitude) fitted to the points with a
    margin, at least ~5 km across; a graticule, a scale bar, a north arrow.

    Each place is a circle whose area is proportional to its count (4 to 28 px
    in radius; a count of 0 is a hollow ring, ``map-zero``), larger circles
    drawn first, with its label beside it and its count inside (or after the
    label). Points without valid coordinates are counted in the ``<desc>``
    ("not placed: N"). Not meant for places on both sides of the 180th meridian.
    """
    _check_size(width, height)
    _prefix(id_prefix)
    placed = [p for p in points if _placed(p)]
    unplaced = len(points) - len(placed)
    if not placed:
        return _empty(empty)

    lats = [p.lat for p in placed]
    lons = [p.lon for p in placed]
    lat_c = (min(lats) + max(lats)) / 2
    lon_c = (min(lons) + max(lons)) / 2
    k = max(math.cos(math.radians(lat_c)), 0.01)
    span_y = max(max(lats) - min(lats), _MIN_SPAN)
    span_x = max((max(lons) - min(lons)) * k, _MIN_SPAN)
    left, right, top, bottom = 44, 44, 40, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    scale = min(plot_w / span_x, plot_h / span_y)  # px per degree of latitude
    cx, cy = left + plot_w / 2, top + plot_h / 2

    def project(lat: float, lon: float) -> tuple[float, float]:
        return cx + (lon - lon_c) * k * scale, cy - (lat - lat_c) * scale

    total = sum(_count(p.count) for p in placed)
    desc = (
        f"places: {len(placed)}, total: {total}, "
        f"latitude {_lat(min(lats), 3)} to {_lat(max(lats), 3)}, "
        f"longitude {_lon(min(lons), 3)} to {_lon(max(lons), 3)}"
    )
    if unplaced:
        desc += f"; not placed: {unplaced}"
    parts = _svg("map", width, height, id_prefix, title, desc)
    parts.append(f'<rect class="map-bg" x="0" y="0" width="{width}" height="{height}"/>')

    # Graticule over the whole drawing.
    north, south = lat_c + cy / scale, lat_c - (height - cy) / scale
    west, east = lon_c - cx / (k * scale), lon_c + (width - cx) / (k * scale)
    parts.append('<g class="graticule">')
    path: list[str] = []
    labels: list[str] = []
    lat_step = next((s for s in _GRATICULE if (north - south) / s <= 6), 30)
    dec = 2 if lat_step < 0.1 else 1 if lat_step < 1 else 0
    for i in range(math.ceil(south / lat_step), math.floor(north / lat_step) + 1):
        value = round(i * lat_step, 6)
        if not -90 <= value <= 90:
            continue
        y = project(value, lon_c)[1]
        path.append(f"M0 {_num(y)}H{width}")
        if 14 <= y <= height - 30:
            labels.append(f'<text x="4" y="{_num(y - 3)}">{_lat(value, dec)}</text>')
    lon_step = next((s for s in _GRATICULE if (east - west) / s <= 6), 30)
    dec = 2 if lon_step < 0.1 else 1 if lon_step < 1 else 0
    for i in range(math.ceil(west / lon_step), math.floor(east / lon_step) + 1):
        value = round(i * lon_step, 6)
        if not -180 <= value <= 180:
            continue
        x = project(lat_c, value)[0]
        path.append(f"M{_num(x)} 0V{height}")
        if x <= width - 60:
            labels.append(f'<text x="{_num(x + 3)}" y="{height - 5}">{_lon(value, dec)}</text>')
    if path:
        parts.append(f'<path d="{"".join(path)}"/>')
    parts += labels
    parts.append("</g>")

    # Scale bar (exact along the middle latitude) and north arrow.
    km_per_px = _KM_PER_DEGREE / scale
    target = width * 0.2 * km_per_px
    km = max((n for n in _nice(target) if n <= target and n >= 1), default=1)
    bar = km / km_per_px
    x_end, y = width - 16, height - 24
    km_text = f"{km:g} km"
    parts.append(
        f'<g class="scale"><path d="M{_num(x_end - bar)} {y - 5}V{y}H{x_end}V{y - 5}"/>'
        f'<text x="{_num(x_end - bar / 2)}" y="{y - 8}" text-anchor="middle">{km_text}</text></g>'
    )
    nx = width - 22
    parts.append(
        f'<g class="map-north"><path d="M{nx} 20L{nx + 7} 40L{nx} 35L{nx - 7} 40Z"/>'
        f'<text x="{nx}" y="16" text-anchor="middle">N</text></g>'
    )

    # Places, the largest first.
    most = max(_count(p.count) for p in placed)
    unit = min(_UNIT_RADIUS, _MAX_RADIUS / math.sqrt(most)) if most else _UNIT_RADIUS
    for point in sorted(placed, key=lambda p: -_count(p.count)):
        count = _count(point.count)
        x, y = project(point.lat, point.lon)
        radius = max(4.0, unit * math.sqrt(count)) if count else 5.0
        cls = "map-point" if count else "map-point map-zero"
        label = point.label if point.label.strip() else point.id
        number = str(count)
        inside = count > 0 and radius >= 9 and len(number) * 7 + 2 <= 2 * radius
        tip = f"{_plain(label)}: {count}"
        body = [
            f'<circle class="{cls}" cx="{_num(x)}" cy="{_num(y)}" r="{_num(radius)}">'
            f"<title>{_esc(tip)}</title></circle>"
        ]
        if inside:
            body.append(
                f'<text class="map-count" x="{_num(x)}" y="{_num(y + 4)}" '
                f'text-anchor="middle">{number}</text>'
            )
        shown = _fit(_plain(label), 28)
        if not inside:
            shown += f" ({number})"
        tx, anchor = x + radius + 4, "start"
        if tx + len(shown) * _CHAR > width - 4:
            tx, anchor = x - radius - 4, "end"
        body.append(
            f'<text class="map-label" x="{_num(tx)}" y="{_num(y + 4)}" '
            f'text-anchor="{anchor}">{_esc(shown)}</text>'
        )
        parts.append(f'<g class="map-place">{_linked(point.href, "".join(body))}</g>')
    parts.append("</svg>")
    return _done(parts)


def map_table(points: Sequence[MapPoint], *, headers: tuple[str, str, str]) -> Markup:
    """The places as a table: place, coordinates (4 decimals, about 10 m), count."""
    rows = []
    for point in points:
        label = point.label if point.label.strip() else point.id
        where = f"{_lat(point.lat, 4)}, {_lon(point.lon, 4)}" if _placed(point) else ""
        rows.append(
            [_cell_label(label, point.href), (where, False), (str(_count(point.count)), True)]
        )
    return _table(headers, rows)


# --- bars ----------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One bar of :func:`bar_chart_svg`."""

    label: str
    value: int
    href: str | None = None


_BAR_ROW = 22
_DAY_BAR_MAX = 40.0
_LABEL_CHAR = 7.6
"""A bar label's character width for cutting it: capitals and Cyrillic run wider than _CHAR."""


def bar_chart_svg(
    bars: Sequence[Bar], *, title: str, id_prefix: str, empty: str, width: int = 640
) -> Markup:
    """Horizontal bars in the order given, labels on the left (cut with "…",
    the whole label in a ``<title>``), length proportional to the value over
    the largest, the value printed at the bar's end. Negative values are drawn
    as empty bars. No bars: ``<p class="chart-empty">``."""
    _check_size(width)
    _prefix(id_prefix)
    if not bars:
        return _empty(empty)
    values = [max(b.value, 0) for b in bars]
    most = max(values)
    total = sum(b.value for b in bars)
    top_bar = bars[values.index(most)]
    desc = f"bars: {len(bars)}, total: {total}, maximum: {most} ({_plain(top_bar.label)})"
    height = len(bars) * _BAR_ROW + 8
    parts = _svg("bars", width, height, id_prefix, title, desc)
    label_w = round(min(width * 0.35, 220))
    x0 = label_w + 8
    value_w = max(len(str(b.value)) for b in bars) * _CHAR + 8
    plot = width - x0 - value_w - 4
    parts.append(f'<line class="axis" x1="{x0}" y1="2" x2="{x0}" y2="{height - 4}"/>')
    for i, (item, value) in enumerate(zip(bars, values, strict=True)):
        y = 4 + i * _BAR_ROW
        length = plot * value / most if most else 0.0
        text = _label_text(
            item.label,
            int((label_w - 4) / _LABEL_CHAR),
            f'class="bar-label" x="{label_w}" y="{y + 14}" text-anchor="end"',
        )
        tip = f"{_plain(item.label)}: {item.value}"
        rect = (
            f'<rect class="bar" x="{x0}" y="{y + 3}" width="{_num(length)}" height="14">'
            f"<title>{_esc(tip)}</title></rect>"
        )
        number = (
            f'<text class="bar-value" x="{_num(x0 + length + 4)}" y="{y + 14}">{item.value}</text>'
        )
        parts.append(f'<g class="bar-row">{_linked(item.href, text + rect + number)}</g>')
    parts.append("</svg>")
    return _done(parts)


def bar_table(bars: Sequence[Bar], *, headers: tuple[str, str]) -> Markup:
    """The bars as a table: label, value."""
    return _table(headers, [[_cell_label(b.label, b.href), (str(b.value), True)] for b in bars])


# --- days ----------------------------------------------------------------------


def _days(counts: Mapping[date, int]) -> list[tuple[date, int]]:
    """Every day from the first to the last key, zero where there is no count."""
    by_day: dict[date, int] = {}
    for key, value in counts.items():
        day = key.date() if isinstance(key, datetime) else key
        by_day[day] = by_day.get(day, 0) + int(value)
    if not by_day:
        return []
    first, last = min(by_day), max(by_day)
    return [
        (first + timedelta(days=i), by_day.get(first + timedelta(days=i), 0))
        for i in range((last - first).days + 1)
    ]


def _day_ticks(days: list[date], column: float) -> list[tuple[int, str, str]]:
    """(column index, label, month line or "") for the histogram's axis."""
    ticks: list[tuple[int, str, str]] = []
    if len(days) <= 14 or 7 * column >= 36:
        weekly = len(days) > 14
        month: tuple[int, int] | None = None
        for i, day in enumerate(days):
            if weekly and day.weekday() != 0:
                continue
            here = (day.year, day.month)
            line = f"{day.year:04d}-{day.month:02d}" if here != month else ""
            month = here
            ticks.append((i, str(day.day), line))
        return ticks
    step = next((s for s in (1, 2, 3, 6, 12, 24, 60, 120) if s * 30.4 * column >= 56), 240)
    for i, day in enumerate(days):
        if day.day == 1 and (day.year * 12 + day.month - 1) % step == 0:
            label = f"{day.year:04d}" if step % 12 == 0 else f"{day.year:04d}-{day.month:02d}"
            ticks.append((i, label, ""))
    return ticks


def day_histogram_svg(
    counts: Mapping[date, int],
    *,
    title: str,
    id_prefix: str,
    empty: str,
    width: int = 960,
    height: int = 200,
) -> Markup:
    """One column per day from the first to the last day in ``counts`` (days
    missing drawn as zero), a count above each column where it fits, grid lines
    at round counts, and day labels: every day up to 14 days, else Mondays, else
    months (with the month on a second line where it changes). No days:
    ``<p class="chart-empty">``."""
    _check_size(width, height)
    _prefix(id_prefix)
    days = _days(counts)
    if not days:
        return _empty(empty)
    values = [max(v, 0) for _, v in days]
    most = max(values)
    total = sum(v for _, v in days)
    peak = days[values.index(most)][0]
    desc = (
        f"days: {len(days)}, {days[0][0].isoformat()} to {days[-1][0].isoformat()}, "
        f"total: {total}, maximum: {most} on {peak.isoformat()}"
    )
    parts = _svg("days", width, height, id_prefix, title, desc)
    left, right, top, bottom = 40, 8, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    base = top + plot_h
    step = next((s for s in _nice(most / 4 if most else 1) if s >= 1 and most / s <= 4), 1)
    ceiling = max(math.ceil(most / step) * step, 1)
    parts.append('<g class="axis-group">')
    level = 0.0
    while level <= ceiling:
        y = base - plot_h * level / ceiling
        parts.append(
            f'<line class="grid" x1="{left}" y1="{_num(y)}" x2="{width - right}" y2="{_num(y)}"/>'
            f'<text class="tick" x="{left - 4}" y="{_num(y + 4)}" text-anchor="end">{level:g}</text>'
        )
        level += step
    parts.append(f'<line class="axis" x1="{left}" y1="{base}" x2="{width - right}" y2="{base}"/>')
    column = plot_w / len(days)
    months: list[tuple[float, str]] = []
    for i, label, line in _day_ticks([d for d, _ in days], column):
        x = left + (i + 0.5) * column
        parts.append(
            f'<line class="tick" x1="{_num(x)}" y1="{base}" x2="{_num(x)}" y2="{base + 4}"/>'
        )
        parts.append(_tick_label(x, base + 16, label, width))
        if line:
            months.append((x, line))
    parts += [_tick_label(x, base + 30, text, width) for x, text in _spaced(months, 52)]
    parts.append("</g>")
    gap = 1.0 if column > 3 else 0.0
    fits = column >= len(str(most)) * 6 + 2
    for i, ((day, value), shown) in enumerate(zip(days, values, strict=True)):
        x = left + i * column
        bar_h = plot_h * shown / ceiling
        bar_w = min(column - gap, _DAY_BAR_MAX)  # a few days are columns, not slabs
        parts.append(
            f'<rect class="day-bar" x="{_num(x + (column - bar_w) / 2)}" y="{_num(base - bar_h)}" '
            f'width="{_num(bar_w)}" height="{_num(bar_h)}">'
            f"<title>{day.isoformat()}: {value}</title></rect>"
        )
        if fits and value > 0:
            parts.append(
                f'<text class="day-count" x="{_num(x + column / 2)}" y="{_num(base - bar_h - 3)}" '
                f'text-anchor="middle">{value}</text>'
            )
    parts.append("</svg>")
    return _done(parts)


def day_table(counts: Mapping[date, int], *, headers: tuple[str, str]) -> Markup:
    """Every day the histogram draws (zeros included): date, count."""
    return _table(headers, [[(d.isoformat(), False), (str(v), True)] for d, v in _days(counts)])
