"""Charts of the reviewers' web UI (workstation/ui/charts.py): partial dates as
the spans they cover; what is drawn measured in the parsed SVG (a range as
wide as its duration, a place where its coordinates put it, a circle's area
as its count); untrusted labels and links inert; nothing the page's CSP would
block; the same numbers in tables; the same bytes for the same input."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from testimony.workstation.ui import charts
from testimony.workstation.ui.charts import (
    Bar,
    MapPoint,
    Period,
    TimelineItem,
    bar_chart_svg,
    bar_table,
    day_histogram_svg,
    day_table,
    map_svg,
    map_table,
    period,
    timeline_svg,
    timeline_table,
)

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(1)</script>\u202eexe.jpg"
BAD_HREFS = [
    "javascript:alert(1)",
    "//evil.example/x",
    "https://x",
    "/\\evil.example",
    " /incident/x",
    "/incident/x\n",
    "/incident/\u202ex",
    "data:text/html,<script>alert(1)</script>",
]
# Characters that change how text around them is shown without being seen.
BIDI = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def svg(markup: Markup) -> ET.Element:
    assert isinstance(markup, Markup)
    root = ET.fromstring(str(markup))  # well-formed XML, or this raises
    assert root.tag == NS + "svg"
    return root


def classes(element: ET.Element) -> list[str]:
    return element.get("class", "").split()


def with_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(NS + tag) if cls in classes(e)]


def title_of(element: ET.Element) -> str:
    title = element.find(NS + "title")
    assert title is not None and title.text is not None
    return title.text


def texts(root: ET.Element, cls: str) -> list[str]:
    return ["".join(e.itertext()) for e in with_class(root, "text", cls)]


def f(element: ET.Element, name: str) -> float:
    return float(element.get(name, "nan"))


def table(markup: Markup) -> list[list[str]]:
    root = ET.fromstring(str(markup))
    assert root.tag == "table" and root.get("class") == "chart-data"
    return [["".join(cell.itertext()) for cell in row] for row in root.iter("tr")]


# --- period --------------------------------------------------------------------


D = datetime


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2020", None, Period(D(2020, 1, 1), D(2021, 1, 1))),
        ("2020-02", None, Period(D(2020, 2, 1), D(2020, 3, 1))),
        ("2020-12", None, Period(D(2020, 12, 1), D(2021, 1, 1))),
        ("2020-02-07", None, Period(D(2020, 2, 7), D(2020, 2, 8))),
        ("2020-02-29", None, Period(D(2020, 2, 29), D(2020, 3, 1))),
        ("2020-12-31", None, Period(D(2020, 12, 31), D(2021, 1, 1))),
        ("2020-02-07T23:30", None, Period(D(2020, 2, 7, 23, 30), D(2020, 2, 7, 23, 31))),
        ("2020-02-07T23:59", None, Period(D(2020, 2, 7, 23, 59), D(2020, 2, 8))),
        (
            "2020-02-07T23:30:15",
            None,
            Period(D(2020, 2, 7, 23, 30, 15), D(2020, 2, 7, 23, 31, 15)),
        ),
        ("2020-02-07T23:30Z", None, Period(D(2020, 2, 7, 23, 30), D(2020, 2, 7, 23, 31))),
        ("2020-02-07T23:30:00Z", None, Period(D(2020, 2, 7, 23, 30), D(2020, 2, 7, 23, 31))),
        # Almaty is UTC+6 (then): 05:30 there is 23:30 UTC the day before.
        ("2020-02-07T05:30+06:00", None, Period(D(2020, 2, 6, 23, 30), D(2020, 2, 6, 23, 31))),
        ("2020-02-07T05:30+0600", None, Period(D(2020, 2, 6, 23, 30), D(2020, 2, 6, 23, 31))),
        ("2020-02-07T22:00-01:30", None, Period(D(2020, 2, 7, 23, 30), D(2020, 2, 7, 23, 31))),
        # Ranges: from the start of the first period to the end of the last.
        ("2020-02-07T23:30", "2020-02-08", Period(D(2020, 2, 7, 23, 30), D(2020, 2, 9))),
        ("2020", "2020-03", Period(D(2020, 1, 1), D(2020, 4, 1))),
        ("2020-02-07", "2020-02-07", Period(D(2020, 2, 7), D(2020, 2, 8))),
        ("2019-12", "2020", Period(D(2019, 12, 1), D(2021, 1, 1))),
        ("2020-02-07T10:00", "2020-02-07T10:00", Period(D(2020, 2, 7, 10), D(2020, 2, 7, 10, 1))),
        # Only an end: that period; an empty string is not given.
        (None, "2020-02", Period(D(2020, 2, 1), D(2020, 3, 1))),
        ("", "2020-02", Period(D(2020, 2, 1), D(2020, 3, 1))),
        ("2020-02", "", Period(D(2020, 2, 1), D(2020, 3, 1))),
        (" 2020-02 ", None, Period(D(2020, 2, 1), D(2020, 3, 1))),
    ],
)
def test_period(start: str | None, end: str | None, expected: Period) -> None:
    assert period(start, end) == expected


def test_period_months_have_their_lengths() -> None:
    def days(text: str) -> float:
        p = period(text)
        assert p is not None
        return (p.end - p.start) / timedelta(days=1)

    assert days("2020-02") == 29
    assert days("2021-02") == 28
    assert days("2020-04") == 30
    assert days("2020-01") == 31
    assert days("2020") == 366
    assert days("2021") == 365


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (None, None),
        ("", None),
        ("  ", "  "),
        ("2020-13", None),
        ("2020-00", None),
        ("2020-02-30", None),
        ("2021-02-29", None),
        ("07.02.2020", None),
        ("2020-2-7", None),
        ("20", None),
        ("2020-02-07T24:00", None),
        ("2020-02-07T23:60", None),
        ("2020-02-07T23", None),
        ("2020-02-07Z", None),
        ("2020-02-07T10:00+25:00", None),
        ("\u0662\u0660\u0662\u0660", None),  # Arabic-Indic digits are not ASCII digits
        ("0000", None),
        ("9999", None),  # its end is past what a datetime holds: None, not an error
        ("2020-02-07", "2020-02-06"),  # ends before it starts
        ("2020-02-07T10:00", "2020-02-07T09:59"),
        ("2020-02-08", "2020-02-07T23:59"),  # ends exactly where it starts
        ("2020", "garbage"),
        ("garbage", "2020"),
        ("2020", "2021-02-30"),
    ],
)
def test_period_none(start: str | None, end: str | None) -> None:
    assert period(start, end) is None


def test_period_of_something_not_text_is_none() -> None:
    assert period(2020) is None  # type: ignore[arg-type]
    assert period(None, 2020) is None  # type: ignore[arg-type]


_DATEISH = st.text(alphabet="0123456789-:TZ+ ", max_size=25)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.none(), st.text(max_size=30), _DATEISH),
    st.one_of(st.none(), st.text(max_size=30), _DATEISH),
)
def test_period_never_raises_and_is_never_empty(start: str | None, end: str | None) -> None:
    p = period(start, end)
    assert p is None or p.end > p.start


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)))
def test_each_precision_contains_the_finer_ones(moment: datetime) -> None:
    spans = [
        period(f"{moment:%Y}"),
        period(f"{moment:%Y-%m}"),
        period(f"{moment:%Y-%m-%d}"),
        period(f"{moment:%Y-%m-%dT%H:%M}"),
    ]
    for outer, inner in itertools.pairwise(spans):
        assert outer is not None and inner is not None
        assert outer.start <= inner.start < inner.end <= outer.end


# --- timeline ------------------------------------------------------------------


def timeline(items: list[TimelineItem], **kwargs: object) -> Markup:
    options: dict[str, object] = {"title": "Timeline", "id_prefix": "tl", "empty": "Nothing"}
    options.update(kwargs)
    return timeline_svg(items, **options)  # type: ignore[arg-type]


def bars_by_id(root: ET.Element) -> dict[str, ET.Element]:
    """The timeline's bars keyed by the label their title starts with."""
    found = {}
    for rect in root.iter(NS + "rect"):
        if {"tl-incident", "tl-testimony"} & set(classes(rect)) and rect.find(
            NS + "title"
        ) is not None:
            found[title_of(rect).split(":")[0]] = rect
    return found


def test_timeline_draws_ranges_as_wide_as_their_duration() -> None:
    root = svg(
        timeline(
            [
                TimelineItem("a", "one day", "incident", "2020-02-07", None),
                TimelineItem("b", "two days", "incident", "2020-02-10", "2020-02-11"),
                TimelineItem("c", "four days", "testimony", "2020-02-03", "2020-02-06"),
                TimelineItem("d", "same day range", "testimony", "2020-02-07", "2020-02-07"),
            ]
        )
    )
    bars = bars_by_id(root)
    one, two, four = (f(bars[k], "width") for k in ("one day", "two days", "four days"))
    assert two / one == pytest.approx(2, rel=0.03)
    assert four / one == pytest.approx(4, rel=0.03)
    # A range starts where its first date starts: the same x as that day alone.
    assert f(bars["same day range"], "x") == pytest.approx(f(bars["one day"], "x"), abs=0.11)
    assert f(bars["same day range"], "width") == pytest.approx(one, abs=0.11)
    # Later is further right.
    assert f(bars["one day"], "x") + one <= f(bars["two days"], "x") + 0.11
    assert "tl-incident" in classes(bars["one day"])
    assert "tl-testimony" in classes(bars["four days"])
    assert not [r for r in bars.values() if "tl-point" in classes(r)]


def test_timeline_minute_is_a_visible_point_and_month_a_range() -> None:
    root = svg(
        timeline(
            [
                TimelineItem("a", "minute", "testimony", "2020-02-07T23:30", None),
                TimelineItem("b", "month", "incident", "2020-02", None),
            ]
        )
    )
    bars = bars_by_id(root)
    assert f(bars["minute"], "width") == 4
    assert "tl-point" in classes(bars["minute"])
    assert "tl-point" not in classes(bars["month"])
    # February 2020 is 29 days; 23:30 on the 7th sits 6.98 days in.
    month_x, month_w = f(bars["month"], "x"), f(bars["month"], "width")
    centre = f(bars["minute"], "x") + 2
    assert (centre - month_x) / month_w == pytest.approx((6 + 23.5 / 24) / 29, abs=0.002)


def test_timeline_undated_items_are_counted_not_drawn() -> None:
    root = svg(
        timeline(
            [
                TimelineItem("a", "dated", "incident", "2020-02-07", None),
                TimelineItem("b", "no date", "testimony", None, None),
                TimelineItem("c", "bad date", "testimony", "07.02.2020", None),
            ]
        )
    )
    desc = root.find(NS + "desc")
    assert desc is not None and desc.text is not None
    assert "undated: 2" in desc.text
    assert list(bars_by_id(root)) == ["dated"]
    assert "no date" not in str(ET.tostring(root, encoding="unicode"))


def test_timeline_without_dated_items_is_the_empty_text() -> None:
    out = str(timeline([TimelineItem("a", "x", "incident", None, None)], empty="No <dates>"))
    assert out == '<p class="chart-empty">No &lt;dates&gt;</p>'
    assert str(timeline([])) == '<p class="chart-empty">Nothing</p>'


def test_timeline_lanes_group_items_in_first_seen_order() -> None:
    items = [
        TimelineItem("t1", "T1", "testimony", "2020-02-07", None, lane="Lane B"),
        TimelineItem("i1", "I1", "incident", "2020-02-05", "2020-02-09", lane="Lane A"),
        TimelineItem("t2", "T2", "testimony", "2020-02-06", None, lane="Lane B"),
        TimelineItem("t3", "T3", "testimony", "2020-02-08", None),
        TimelineItem("t4", "T4", "testimony", "2020-02-08", None, lane="Lane A"),
    ]
    root = svg(timeline(items))
    assert texts(root, "tl-lane") == ["Lane B", "Lane A"]
    # Rows from top to bottom: ungrouped first, then each lane under its heading.
    rows = [(f(e, "y"), "".join(e.itertext())) for e in with_class(root, "text", "tl-label")]
    rows += [(f(e, "y"), "".join(e.itertext())) for e in with_class(root, "text", "tl-lane")]
    assert [label for _, label in sorted(rows)] == [
        "T3",
        "Lane B",
        "T1",
        "T2",
        "Lane A",
        "I1",
        "T4",
    ]


def test_timeline_height_grows_with_rows() -> None:
    def height(n: int) -> float:
        items = [
            TimelineItem(str(i), f"item {i}", "testimony", "2020-02-07", None) for i in range(n)
        ]
        return f(svg(timeline(items)), "height")

    assert height(2) < height(3) < height(10)
    assert height(10) - height(9) == pytest.approx(height(3) - height(2))


@pytest.mark.parametrize(
    ("start", "end", "pattern"),
    [
        ("2020-02-07", None, r"\d\d:\d\d"),  # under two days: hours
        ("2020-02-07T10:00", None, r"\d\d:\d\d"),
        ("2020-02-01", "2020-02-20", r"2020-02-\d\d"),  # under two months: days
        ("2020-01", "2020-10", r"2020-\d\d"),  # under two years: months
        ("1995", "2020", r"\d{4}"),  # beyond: years
    ],
)
def test_timeline_ticks_suit_the_span(start: str, end: str | None, pattern: str) -> None:
    root = svg(timeline([TimelineItem("a", "a", "incident", start, end)]))
    (axis,) = with_class(root, "line", "axis")
    # The labels next to the axis (hours have the date on a line above).
    labels = [
        "".join(e.itertext())
        for e in with_class(root, "text", "tick")
        if f(axis, "y1") - f(e, "y") < 10
    ]
    assert len(labels) >= 2
    assert all(re.fullmatch(pattern, t) for t in labels), labels
    # Tick labels run left to right in time order.
    xs = [f(e, "x") for e in with_class(root, "line", "tick")]
    assert xs == sorted(xs)


def test_timeline_long_labels_are_cut_with_the_whole_label_as_title() -> None:
    label = "A very long description of what the witness saw near the square " * 3
    root = svg(timeline([TimelineItem("a", label, "testimony", "2020-02-07", None)]))
    (text,) = with_class(root, "text", "tl-label")
    shown = "".join(t for t in [text.text, *(c.tail for c in text)] if t)
    assert shown.endswith("\u2026") and len(shown) < 60
    assert title_of(text) == " ".join(label.split())
    (bar,) = bars_by_id(root).values()
    assert title_of(bar) == " ".join(label.split()) + ": 2020-02-07"


def test_timeline_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="kind"):
        timeline([TimelineItem("a", "a", "event", "2020", None)])


def test_timeline_legend() -> None:
    root = svg(
        timeline(
            [TimelineItem("a", "a", "incident", "2020", None)], legend=("Incident", "Testimony")
        )
    )
    (legend,) = with_class(root, "g", "tl-legend")
    assert ["".join(t.itertext()) for t in legend.iter(NS + "text")] == ["Incident", "Testimony"]
    assert [classes(r) for r in legend.iter(NS + "rect")] == [["tl-incident"], ["tl-testimony"]]


def test_timeline_table_gives_dates_as_given() -> None:
    rows = table(
        timeline_table(
            [
                TimelineItem(
                    "a", "Dispersal", "incident", "2020-02-07", "2020-02-08", "/incident/a"
                ),
                TimelineItem("b", "Witness", "testimony", "2020-02-07T23:30", None),
                TimelineItem("c", "Undated", "testimony", None, None),
            ],
            headers=("Item", "From", "To"),
        )
    )
    assert rows == [
        ["Item", "From", "To"],
        ["Dispersal", "2020-02-07", "2020-02-08"],
        ["Witness", "2020-02-07T23:30", ""],
        ["Undated", "", ""],
    ]


# --- map -----------------------------------------------------------------------


def drawn_map(points: list[MapPoint], **kwargs: object) -> ET.Element:
    options: dict[str, object] = {"title": "Map", "id_prefix": "map", "empty": "No places"}
    options.update(kwargs)
    return svg(map_svg(points, **options))  # type: ignore[arg-type]


def circles(root: ET.Element) -> dict[str, ET.Element]:
    return {title_of(c).rsplit(":", 1)[0]: c for c in root.iter(NS + "circle")}


PLACES = [
    MapPoint("m", "Masanchi", 42.9275, 75.3000, 16, "/place/m"),
    MapPoint("s", "Sortobe", 43.0420, 75.1680, 4),
    MapPoint("b", "Bular Batyr", 42.9000, 75.2500, 1),
    MapPoint("a", "Aukhatty", 42.8500, 75.3900, 0),
]


def test_map_places_points_north_up_east_right() -> None:
    c = circles(drawn_map(PLACES))
    # Sortobe is the northernmost (smallest y), Aukhatty the southernmost.
    ys = {k: f(v, "cy") for k, v in c.items()}
    assert ys["Sortobe"] < ys["Masanchi"] < ys["Bular Batyr"] < ys["Aukhatty"]
    xs = {k: f(v, "cx") for k, v in c.items()}
    assert xs["Sortobe"] < xs["Bular Batyr"] < xs["Masanchi"] < xs["Aukhatty"]


def test_map_is_to_scale_with_longitude_shrunk_by_latitude() -> None:
    # Two pairs of points, 0.1° apart north-south and east-west, at 60°N:
    # a degree of longitude there is half a degree of latitude.
    root = drawn_map(
        [
            MapPoint("o", "O", 60.0, 10.0, 1),
            MapPoint("n", "N", 60.1, 10.0, 1),
            MapPoint("e", "E", 60.0, 10.1, 1),
        ]
    )
    c = circles(root)
    north = f(c["O"], "cy") - f(c["N"], "cy")
    east = f(c["E"], "cx") - f(c["O"], "cx")
    assert east / north == pytest.approx(math.cos(math.radians(60.05)), rel=0.01)
    # The scale bar: its length in px per km is the map's.
    (bar,) = with_class(root, "g", "scale")
    path = bar.find(NS + "path")
    assert path is not None
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path.get("d", ""))]
    start_x, end_x = numbers[0], numbers[3]  # M x0 y V y H x1 V y
    (label,) = ["".join(t.itertext()) for t in bar.iter(NS + "text")]
    km = float(label.removesuffix(" km"))
    assert label in {f"{n:g} km" for n in (1, 2, 5, 10, 20, 50, 100)}
    km_north = 0.1 * 6371.0088 * math.pi / 180
    assert (end_x - start_x) / km == pytest.approx(north / km_north, rel=0.02)


def test_map_circle_area_is_proportional_to_count() -> None:
    c = circles(drawn_map(PLACES))
    area = {k: math.pi * f(v, "r") ** 2 for k, v in c.items()}
    assert area["Masanchi"] / area["Bular Batyr"] == pytest.approx(16, rel=0.03)
    assert area["Sortobe"] / area["Bular Batyr"] == pytest.approx(4, rel=0.03)
    assert f(c["Masanchi"], "r") <= 28
    assert classes(c["Aukhatty"]) == ["map-point", "map-zero"]
    assert "map-zero" not in classes(c["Bular Batyr"])
    assert title_of(c["Masanchi"]) == "Masanchi: 16"
    # The largest drawn first, so the small ones stay on top.
    radii = [f(e, "r") for e in drawn_map(PLACES[::-1]).iter(NS + "circle")]
    assert radii == sorted(radii, reverse=True) == [24, 12, 6, 5]


def test_map_small_counts_stay_visible() -> None:
    c = circles(
        drawn_map([MapPoint("a", "A", 42.9, 75.3, 10000), MapPoint("b", "B", 42.95, 75.35, 1)])
    )
    assert f(c["A"], "r") == 28
    assert f(c["B"], "r") == 4


@pytest.mark.parametrize(
    "points",
    [
        [MapPoint("m", "Masanchi", 42.9275, 75.3, 3)],
        [MapPoint("m", "Masanchi", 42.9275, 75.3, 3), MapPoint("n", "Again", 42.9275, 75.3, 1)],
    ],
)
def test_map_single_spot_renders_centred_with_a_few_km(points: list[MapPoint]) -> None:
    root = drawn_map(points, width=640, height=420)
    for circle in root.iter(NS + "circle"):
        assert f(circle, "cx") == pytest.approx(320, abs=1)
        assert 100 < f(circle, "cy") < 320
    (label,) = ["".join(t.itertext()) for t in with_class(root, "g", "scale")[0].iter(NS + "text")]
    assert label in {"1 km", "2 km"}
    graticule = [
        "".join(t.itertext()) for t in with_class(root, "g", "graticule")[0].iter(NS + "text")
    ]
    assert any(re.fullmatch(r"42\.9\d°N", t) for t in graticule), graticule
    assert any(re.fullmatch(r"75\.\d\d°E", t) for t in graticule), graticule
    assert with_class(root, "g", "map-north")


def test_map_graticule_labels_for_a_wide_area() -> None:
    root = drawn_map([MapPoint("a", "A", 40.0, 70.0, 1), MapPoint("b", "B", 45.0, 80.0, 1)])
    labels = [
        "".join(t.itertext()) for t in with_class(root, "g", "graticule")[0].iter(NS + "text")
    ]
    assert "42°N" in labels and "75°E" in labels


def test_map_southern_and_western_hemispheres() -> None:
    root = drawn_map([MapPoint("a", "Lima", -12.05, -77.04, 2)])
    labels = [
        "".join(t.itertext()) for t in with_class(root, "g", "graticule")[0].iter(NS + "text")
    ]
    assert any(t.endswith("°S") for t in labels) and any(t.endswith("°W") for t in labels)
    assert not any(t.endswith(("°N", "°E")) for t in labels)


def test_map_labels_near_the_right_edge_end_at_the_point() -> None:
    root = drawn_map(
        [
            MapPoint("w", "West", 42.9, 75.0, 1),
            MapPoint("e", "Long eastern village name", 42.9, 75.5, 1),
        ]
    )
    by_text = {"".join(t.itertext()): t for t in with_class(root, "text", "map-label")}
    east = by_text["Long eastern village name (1)"]
    assert east.get("text-anchor") == "end"
    assert f(east, "x") < f(circles(root)["Long eastern village name"], "cx")
    assert by_text["West (1)"].get("text-anchor") == "start"


def test_map_count_inside_large_circles() -> None:
    root = drawn_map(PLACES)
    assert texts(root, "map-count") == [
        "16",
        "4",
    ]  # r 24 and 12; Bular Batyr's 1 (r 6) is too small
    assert "Masanchi" in texts(root, "map-label")
    assert "Aukhatty (0)" in texts(root, "map-label")


def test_map_points_without_coordinates_are_counted() -> None:
    root = drawn_map(
        [
            MapPoint("a", "A", 42.9, 75.3, 1),
            MapPoint("b", "B", float("nan"), 75.3, 1),
            MapPoint("c", "C", 42.9, 200.0, 1),
        ]
    )
    assert list(circles(root)) == ["A"]
    desc = root.find(NS + "desc")
    assert desc is not None and desc.text is not None and "not placed: 2" in desc.text
    assert str(map_svg([], title="M", id_prefix="m", empty="None")) == (
        '<p class="chart-empty">None</p>'
    )


def test_map_table() -> None:
    rows = table(
        map_table(
            [*PLACES[:2], MapPoint("x", "Nowhere", float("inf"), 0.0, 2)],
            headers=("Place", "Coordinates", "Count"),
        )
    )
    assert rows == [
        ["Place", "Coordinates", "Count"],
        ["Masanchi", "42.9275°N, 75.3000°E", "16"],
        ["Sortobe", "43.0420°N, 75.1680°E", "4"],
        ["Nowhere", "", "2"],
    ]


# --- bars ----------------------------------------------------------------------


def test_bars_are_proportional_and_in_the_order_given() -> None:
    bars = [Bar("Killing", 10), Bar("Detention", 20), Bar("Torture", 5), Bar("Arson", 0)]
    root = svg(bar_chart_svg(bars, title="Acts", id_prefix="bars", empty="None"))
    rects = with_class(root, "rect", "bar")
    widths = [f(r, "width") for r in rects]
    assert widths[0] / widths[1] == pytest.approx(0.5, rel=0.01)
    assert widths[2] / widths[1] == pytest.approx(0.25, rel=0.02)
    assert widths[3] == 0
    assert [title_of(r) for r in rects] == [
        "Killing: 10",
        "Detention: 20",
        "Torture: 5",
        "Arson: 0",
    ]
    assert texts(root, "bar-label") == ["Killing", "Detention", "Torture", "Arson"]
    assert texts(root, "bar-value") == ["10", "20", "5", "0"]
    ys = [f(r, "y") for r in rects]
    assert ys == sorted(ys) and ys[1] - ys[0] == 22
    # Each value is printed just past the end of its bar.
    for rect, value in zip(rects, with_class(root, "text", "bar-value"), strict=True):
        assert (
            f(rect, "x") + f(rect, "width") < f(value, "x") <= f(rect, "x") + f(rect, "width") + 8
        )
    assert max(f(v, "x") for v in with_class(root, "text", "bar-value")) + 2 * 6.6 < 640


def test_bar_long_label_cut_with_title() -> None:
    label = "Arbitrary detention of several people for many days without charge"
    root = svg(bar_chart_svg([Bar(label, 3)], title="Acts", id_prefix="bars", empty="None"))
    (text,) = with_class(root, "text", "bar-label")
    shown = "".join(t for t in [text.text, *(c.tail for c in text)] if t)
    assert shown.endswith("\u2026") and len(shown) < len(label)
    assert title_of(text) == label


def test_bars_empty_and_table() -> None:
    assert str(bar_chart_svg([], title="A", id_prefix="b", empty="No acts")) == (
        '<p class="chart-empty">No acts</p>'
    )
    rows = table(bar_table([Bar("Killing", 10), Bar("Arson", 0)], headers=("Act", "Victims")))
    assert rows == [["Act", "Victims"], ["Killing", "10"], ["Arson", "0"]]


# --- days ----------------------------------------------------------------------


def day_labels(root: ET.Element) -> list[str]:
    """The histogram's labels under its axis, left to right, line by line."""
    (axis,) = with_class(root, "line", "axis")
    below = [e for e in with_class(root, "text", "tick") if f(e, "y") > f(axis, "y1") + 8]
    return ["".join(e.itertext()) for e in sorted(below, key=lambda e: (f(e, "y"), f(e, "x")))]


def days_svg(counts: dict[date, int], **kwargs: object) -> ET.Element:
    options: dict[str, object] = {"title": "Days", "id_prefix": "days", "empty": "No days"}
    options.update(kwargs)
    return svg(day_histogram_svg(counts, **options))  # type: ignore[arg-type]


def test_histogram_fills_the_days_between() -> None:
    counts = {date(2020, 2, 5): 4, date(2020, 2, 1): 2}
    root = days_svg(counts)
    columns = with_class(root, "rect", "day-bar")
    assert [title_of(c) for c in columns] == [
        "2020-02-01: 2",
        "2020-02-02: 0",
        "2020-02-03: 0",
        "2020-02-04: 0",
        "2020-02-05: 4",
    ]
    heights = [f(c, "height") for c in columns]
    assert heights[1:4] == [0, 0, 0]
    assert heights[4] / heights[0] == pytest.approx(2, rel=0.01)
    xs = [f(c, "x") for c in columns]
    assert xs == sorted(xs)
    widths = {round(f(c, "width")) for c in columns}
    assert len(widths) == 1
    assert texts(root, "day-count") == ["2", "4"]
    # Each day labelled (five days), with the month once.
    assert day_labels(root) == ["1", "2", "3", "4", "5", "2020-02"]
    rows = table(day_table(counts, headers=("Day", "Testimonies")))
    assert rows == [
        ["Day", "Testimonies"],
        ["2020-02-01", "2"],
        ["2020-02-02", "0"],
        ["2020-02-03", "0"],
        ["2020-02-04", "0"],
        ["2020-02-05", "4"],
    ]


def test_histogram_axis_weekly_then_monthly() -> None:
    weeks = days_svg({date(2020, 2, 1): 1, date(2020, 3, 20): 2})  # 49 days
    # The Mondays of February and March 2020, the month where it changes.
    assert day_labels(weeks) == ["3", "10", "17", "24", "2", "9", "16", "2020-02", "2020-03"]

    year = days_svg({date(2019, 1, 1): 1, date(2020, 6, 30): 2})  # 547 days
    months = day_labels(year)
    assert all(re.fullmatch(r"\d{4}-\d\d", t) for t in months), months
    assert 4 <= len(months) <= 18 and months[0] == "2019-01"
    assert len(with_class(year, "rect", "day-bar")) == 547


def test_histogram_empty() -> None:
    assert str(day_histogram_svg({}, title="D", id_prefix="d", empty="No days")) == (
        '<p class="chart-empty">No days</p>'
    )


# --- every chart ---------------------------------------------------------------


def every_output(label: str = HOSTILE, href: str | None = "/incident/x") -> list[Markup]:
    items = [
        TimelineItem("a", label, "incident", "2020-02-07", "2020-02-09", href, lane=label),
        TimelineItem("b", label, "testimony", "2020-02-08T10:00", None, href, lane=label),
        TimelineItem("c", label, "testimony", None, None, href),
    ]
    points = [
        MapPoint("m", label, 42.9275, 75.3, 12, href),
        MapPoint("s", label, 43.04, 75.168, 0, href),
    ]
    bars = [Bar(label, 3, href), Bar(label, 0, href)]
    counts = {date(2020, 2, 1): 3, date(2020, 2, 20): 1}
    return [
        timeline_svg(items, title=label, id_prefix="tl", empty=label, legend=(label, label)),
        timeline_svg([], title=label, id_prefix="tl", empty=label),
        timeline_table(items, headers=(label, label, label)),
        map_svg(points, title=label, id_prefix="map", empty=label),
        map_svg([], title=label, id_prefix="map", empty=label),
        map_table(points, headers=(label, label, label)),
        bar_chart_svg(bars, title=label, id_prefix="bars", empty=label),
        bar_chart_svg([], title=label, id_prefix="bars", empty=label),
        bar_table(bars, headers=(label, label)),
        day_histogram_svg(counts, title=label, id_prefix="days", empty=label),
        day_histogram_svg({}, title=label, id_prefix="days", empty=label),
        day_table(counts, headers=(label, label)),
    ]


def test_hostile_labels_are_inert_and_visible() -> None:
    for out in every_output():
        text = str(out)
        assert isinstance(out, Markup)
        assert "<script" not in text.lower()
        assert "\u202e" not in text and not BIDI.search(text)
        assert "U+202E" in text
        assert "&lt;script&gt;" in text
        ET.fromstring(text)  # well-formed: nothing broke out of its element


@pytest.mark.parametrize(
    "label",
    [
        '"><svg onload=alert(1)>',
        "' onmouseover='alert(1)",
        "a\u200bb\u2066c\u2069d\u200fe\ufeff\x00\x07\r\ud800",
        "]]><!--",
        "&amp; &#x202e;",
    ],
)
def test_other_hostile_labels_stay_text(label: str) -> None:
    for out in every_output(label):
        text = str(out)
        assert not BIDI.search(text) and "\x00" not in text and "\ud800" not in text
        root = ET.fromstring(text)
        for element in root.iter():
            assert not [a for a in element.attrib if a.lower().startswith("on")]
            assert element.tag.split("}")[-1] not in {"script", "foreignObject", "style", "image"}


def test_nothing_the_csp_would_block() -> None:
    for out in [*every_output(), *every_output("plain label")]:
        text = str(out)
        assert "style=" not in text.lower()
        assert "<style" not in text.lower()
        assert "<script" not in text.lower()
        assert "foreignobject" not in text.lower()
        assert "url(" not in text.lower()
        assert "xlink" not in text
        assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "https://" not in text


@pytest.mark.parametrize("href", BAD_HREFS)
def test_links_that_are_not_site_relative_are_dropped(href: str) -> None:
    for out in every_output("label", href):
        text = str(out)
        assert "<a " not in text and "href" not in text
        assert "javascript" not in text and "evil" not in text


def test_site_relative_links_are_kept_escaped() -> None:
    href = '/incident/a?x=1&y="2"'
    outputs = every_output("label", href)
    for out in outputs[:9]:  # the day charts have no links
        root = ET.fromstring(str(out))
        if root.tag == "p":
            continue
        links = [e for e in root.iter() if e.tag in {"a", NS + "a"}]
        assert links, str(out)[:200]
        for link in links:
            assert link.attrib == {"href": href}
    assert "&amp;y=&#34;2&#34;" in str(outputs[0])


def test_accessible_svg() -> None:
    for out in every_output("label"):
        root = ET.fromstring(str(out))
        if root.tag != NS + "svg":
            assert root.tag in {"p", "table"}
            continue
        assert root.get("role") == "img"
        title = root.find(NS + "title")
        desc = root.find(NS + "desc")
        assert title is not None and desc is not None
        assert root.get("aria-labelledby") == title.get("id")
        assert root.get("aria-describedby") == desc.get("id")
        assert title.text == "label" and desc.text
        assert "chart" in classes(root)
        assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"


def test_ids_are_prefixed_and_unique() -> None:
    a = svg(bar_chart_svg([Bar("x", 1)], title="A", id_prefix="one", empty=""))
    b = svg(bar_chart_svg([Bar("x", 1)], title="B", id_prefix="two", empty=""))
    ids = [e.get("id") for root in (a, b) for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids)) == 4
    assert all(i is not None and i.startswith(("one-", "two-")) for i in ids)
    for bad in ["", "1x", 'x"y', "x y", "é"]:
        with pytest.raises(ValueError, match="id_prefix"):
            bar_chart_svg([Bar("x", 1)], title="A", id_prefix=bad, empty="")


def test_coordinates_have_at_most_one_decimal() -> None:
    number = re.compile(r"-?\d+(\.\d)?")
    for out in every_output("label"):
        root = ET.fromstring(str(out))
        for element in root.iter():
            for name in ("x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "width", "height"):
                value = element.get(name)
                if value is not None and value != "100%":
                    assert number.fullmatch(value), (element.tag, name, value)
            if element.tag == NS + "path":
                for n in re.findall(r"-?\d+(?:\.\d+)?", element.get("d", "")):
                    assert number.fullmatch(n), n


def test_output_is_deterministic() -> None:
    assert [str(m) for m in every_output()] == [str(m) for m in every_output()]
    forward = {date(2020, 2, d): d for d in range(1, 10)}
    backward = dict(reversed(list(forward.items())))
    assert day_histogram_svg(forward, title="D", id_prefix="d", empty="") == day_histogram_svg(
        backward, title="D", id_prefix="d", empty=""
    )


def test_module_is_pure() -> None:
    source = charts.__file__
    assert source is not None
    with open(source, encoding="utf-8") as file:
        code = file.read()
    imports = re.findall(r"^(?:from|import) ([\w.]+)", code, re.MULTILINE)
    assert set(imports) <= {
        "__future__",
        "math",
        "re",
        "collections.abc",
        "dataclasses",
        "datetime",
        "markupsafe",
        ".text",
    }
