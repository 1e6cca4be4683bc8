"""The UI's overview page (docs/workstation.md, "The web UI").

``GET /overview`` is the whole cache at a glance: a timeline of the
incidents (with ``?testimonies=1`` also what the witnesses say happened
when, aggregated by incident and by the days they give), the map of the
villages with the number of testimonies about each, and bar charts of the
testimonies per incident, per village and per violation type, and per day
(the day the witness gives as the start of what happened). Each chart has its
numbers in a table under it; bars and places link to the queue filtered by
them (``/queue?incident=…``, ``?place=…``, ``?tag=…``).

Everything is read with a few aggregate queries over the triage tables
(``ws_testimonies``, ``ws_testimony_tags``, ``ws_links``), never testimony by
testimony, so that the page stays fast with 10,000 testimonies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from ... import incidents as records
from ... import vocabulary
from ...cache import Cache
from .. import charts
from ..app import Here, page
from .incidents import queue_href, vocab_command

__all__ = ["ROUTES", "Counts", "counts"]

MAX_DAYS = 731
"""The per-day histogram draws at most this many days (the busiest stretch)."""
RANGES_PER_INCIDENT = 8
RANGES_UNLINKED = 20
"""With the testimonies' dates on the timeline: the most frequent ranges drawn per lane."""
_DAY = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"


@dataclass(frozen=True)
class Counts:
    """What the overview counts, straight from the triage tables."""

    testimonies: int
    """Testimonies in the cache (their statements read)."""
    places: dict[str, int]
    """Testimonies per place the witness named first (``place/<id>`` or their words)."""
    no_place: int
    violations: dict[str, int]
    """Testimonies per violation tag (the witness's or a reviewer's; a testimony once per tag)."""
    links: dict[str, int]
    """Linked testimonies per incident."""
    days: dict[date, int]
    """Testimonies per day the witness gives as the start."""
    no_day: int


def counts(cache: Cache) -> Counts:
    """The overview's numbers in five aggregate queries."""
    total = int(cache.query("SELECT count(*) FROM ws_testimonies WHERE cached = 1")[0][0])
    places: dict[str, int] = {}
    no_place = 0
    for place, n in cache.query(
        "SELECT place, count(*) FROM ws_testimonies WHERE cached = 1 GROUP BY place"
    ):
        if place is None or not str(place).strip():
            no_place += int(n)
        else:
            places[str(place)] = places.get(str(place), 0) + int(n)
    violations = {
        str(tag): int(n)
        for tag, n in cache.query(
            "SELECT tag, count(DISTINCT testimony) FROM ws_testimony_tags "
            "WHERE tag >= 'violation/' AND tag < 'violation0' GROUP BY tag"
        )
    }
    links = {
        str(incident): int(n)
        for incident, n in cache.query("SELECT incident, count(*) FROM ws_links GROUP BY incident")
    }
    days: dict[date, int] = {}
    dated = 0
    for day, n in cache.query(
        "SELECT substr(said_start, 1, 10) AS day, count(*) FROM ws_testimonies "
        "WHERE cached = 1 AND said_start GLOB ? GROUP BY day",
        (_DAY,),
    ):
        try:
            key = date.fromisoformat(str(day))
        except ValueError:
            continue
        days[key] = days.get(key, 0) + int(n)
        dated += int(n)
    return Counts(total, places, no_place, violations, links, days, total - dated)


def _window(days: Mapping[date, int]) -> tuple[dict[date, int], int]:
    """At most :data:`MAX_DAYS` consecutive days: the stretch holding the most
    testimonies; and how many fall outside it."""
    if not days:
        return {}, 0
    ordered = sorted(days)
    if (ordered[-1] - ordered[0]).days < MAX_DAYS:
        return dict(days), 0
    best = (0, 0)
    total = left = 0
    for day in ordered:
        total += days[day]
        while (day - ordered[left]).days >= MAX_DAYS:
            total -= days[ordered[left]]
            left += 1
        if total > best[0]:
            best = (total, left)
    first = ordered[best[1]]
    last = first + timedelta(days=MAX_DAYS - 1)
    kept = {d: n for d, n in days.items() if first <= d <= last}
    return kept, sum(days.values()) - sum(kept.values())


def _incident_label(record: records.Incident) -> str:
    return record.title or record.id[:12]


def _timeline(here: Here, found: list[records.Incident], with_testimonies: bool) -> dict[str, Any]:
    def start_of(record: records.Incident) -> tuple[bool, str]:
        return (not (record.start or record.end), record.start or record.end or "")

    ordered = sorted(found, key=start_of)
    items: list[charts.TimelineItem] = []
    left_out = 0
    if not with_testimonies:
        items = [
            charts.TimelineItem(
                r.id, _incident_label(r), "incident", r.start, r.end, href=f"/incident/{r.id}"
            )
            for r in ordered
        ]
    else:
        ranges: dict[str | None, list[tuple[str | None, str | None, int]]] = {}
        for incident, start, end, n in here.cache.query(
            "SELECT l.incident, substr(t.said_start, 1, 10), substr(t.said_end, 1, 10), count(*) "
            "FROM ws_testimonies t LEFT JOIN ws_links l ON l.testimony = t.id "
            "WHERE t.cached = 1 AND (t.said_start IS NOT NULL OR t.said_end IS NOT NULL) "
            "GROUP BY 1, 2, 3"
        ):
            ranges.setdefault(incident, []).append((start, end, int(n)))

        def aggregated(
            key: str | None, lane: str, most: int, href: str | None
        ) -> list[charts.TimelineItem]:
            nonlocal left_out
            found_ranges = sorted(
                ranges.get(key, []), key=lambda r: (-r[2], r[0] or "", r[1] or "")
            )
            left_out += len(found_ranges[most:])
            shown = sorted(found_ranges[:most], key=lambda r: (r[0] or r[1] or "", r[1] or ""))
            return [
                charts.TimelineItem(
                    f"{key or 'unlinked'}:{start}:{end}",
                    here.t("overview.timeline.testimonies", n=n),
                    "testimony",
                    start,
                    end,
                    href=href,
                    lane=lane,
                )
                for start, end, n in shown
            ]

        for r in ordered:
            lane = f"{_incident_label(r)} \u00b7 {r.id[:8]}"
            items.append(
                charts.TimelineItem(
                    r.id,
                    _incident_label(r),
                    "incident",
                    r.start,
                    r.end,
                    href=f"/incident/{r.id}",
                    lane=lane,
                )
            )
            items += aggregated(r.id, lane, RANGES_PER_INCIDENT, queue_href(incident=r.id))
        items += aggregated(None, here.t("overview.timeline.unlinked"), RANGES_UNLINKED, None)
    headers = (
        here.t("incidents.timeline.what"),
        here.t("incidents.timeline.from"),
        here.t("incidents.timeline.to"),
    )
    return {
        "svg": charts.timeline_svg(
            items,
            title=here.t("overview.timeline.title"),
            id_prefix="overview-timeline",
            empty=here.t("overview.timeline.empty"),
            legend=(
                here.t("incidents.timeline.incident"),
                here.t("overview.timeline.legend_testimonies"),
            )
            if with_testimonies
            else None,
        ),
        "table": charts.timeline_table(items, headers=headers),
        "left_out": left_out,
        "undated": sum(1 for r in found if not (r.start or r.end)),
    }


def _bars(
    here: Here, bars: list[charts.Bar], prefix: str, title: str, empty: str, header: str
) -> dict[str, Any]:
    return {
        "svg": charts.bar_chart_svg(bars, title=title, id_prefix=prefix, empty=empty),
        "table": charts.bar_table(bars, headers=(header, here.t("overview.chart.testimonies"))),
    }


def _sorted(bars: list[charts.Bar]) -> list[charts.Bar]:
    return sorted(bars, key=lambda b: (-b.value, b.label.casefold()))


def overview(here: Here) -> Response:
    cache = here.cache
    lang = here.lang
    with_testimonies = here.field("testimonies") in ("1", "on", "yes")
    numbers = counts(cache)
    found = records.incidents(cache)
    tags = {t.id: t for t in vocabulary.tags(cache)}

    # The villages: every one of the vocabulary (a retired one only if named), on the map if placed.
    villages = [
        t
        for t in tags.values()
        if t.group == "place" and (not t.retired or numbers.places.get(t.id))
    ]
    for tag_id in numbers.places:
        if tag_id.startswith("place/") and tag_id not in tags:
            villages.append(vocabulary.Tag(tag_id, "place"))
    points = [
        charts.MapPoint(
            v.id,
            v.label(lang),
            v.lat,
            v.lon,
            numbers.places.get(v.id, 0),
            href=queue_href(place=v.id),
        )
        for v in villages
        if v.lat is not None and v.lon is not None
    ]
    unplaced = sorted(
        (
            (v.id, v.label(lang), numbers.places.get(v.id, 0), vocab_command(cache, v.id))
            for v in villages
            if v.lat is None or v.lon is None
        ),
        key=lambda item: (-item[2], item[1]),
    )
    own_words = {p: n for p, n in numbers.places.items() if not p.startswith("place/")}
    own_total = sum(own_words.values())

    village_bars = _sorted(
        [
            charts.Bar(v.label(lang), numbers.places.get(v.id, 0), queue_href(place=v.id))
            for v in villages
        ]
    )
    if own_total:
        village_bars.append(charts.Bar(here.t("overview.places.own_words"), own_total))
    violation_ids = {t.id for t in tags.values() if t.group == "violation" and not t.retired}
    violation_ids |= set(numbers.violations)
    violation_bars = _sorted(
        [
            charts.Bar(
                tags[v].label(lang) if v in tags else v,
                numbers.violations.get(v, 0),
                queue_href(tag=v),
            )
            for v in violation_ids
        ]
    )
    incident_bars = _sorted(
        [
            charts.Bar(_incident_label(r), numbers.links.get(r.id, 0), queue_href(incident=r.id))
            for r in found
        ]
    )
    days, outside = _window(numbers.days)

    return here.render(
        "overview.html",
        numbers=numbers,
        incidents=found,
        with_testimonies=with_testimonies,
        timeline=_timeline(here, found, with_testimonies),
        map={
            "svg": charts.map_svg(
                points,
                title=here.t("overview.map.title"),
                id_prefix="overview-map",
                empty=here.t("overview.map.empty"),
            ),
            "table": charts.map_table(
                points,
                headers=(
                    here.t("incidents.map.place"),
                    here.t("incidents.map.coordinates"),
                    here.t("overview.chart.testimonies"),
                ),
            ),
            "unplaced": unplaced,
            "own_words": own_total,
            "own_places": len(own_words),
        },
        per_incident=_bars(
            here,
            incident_bars,
            "chart-incidents",
            here.t("overview.incidents.title"),
            here.t("overview.incidents.empty"),
            here.t("overview.incidents.label"),
        ),
        per_village=_bars(
            here,
            village_bars,
            "chart-villages",
            here.t("overview.places.title"),
            here.t("overview.places.empty"),
            here.t("overview.places.label"),
        ),
        per_violation=_bars(
            here,
            violation_bars,
            "chart-violations",
            here.t("overview.violations.title"),
            here.t("overview.violations.empty"),
            here.t("overview.violations.label"),
        ),
        per_day={
            "svg": charts.day_histogram_svg(
                days,
                title=here.t("overview.days.title"),
                id_prefix="chart-days",
                empty=here.t("overview.days.empty"),
            ),
            "table": charts.day_table(
                days,
                headers=(here.t("overview.days.label"), here.t("overview.chart.testimonies")),
            ),
            "outside": outside,
            "first": min(days) if days else None,
            "last": max(days) if days else None,
        },
    )


ROUTES: list[BaseRoute] = [page("/overview", overview)]
