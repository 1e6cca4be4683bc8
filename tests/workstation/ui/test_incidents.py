"""The incidents pages and the overview of the web UI (workstation/ui/pages/
incidents.py, overview.py): what a reviewer reads of a record (its sources
counted as incidents.corroboration counts them, its witnesses, its history),
the timeline and the map measured in the parsed SVG, the overview's numbers
against the filled cache, every change through its form (and every refusal
keeping what was typed), hostile text inert everywhere, and the overview's
speed with 10,000 testimonies."""

from __future__ import annotations

import html
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from testimony.workstation import incidents, triage

from .support import UI, text_of

NS = "{http://www.w3.org/2000/svg}"
BIDI = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


@pytest.fixture
def ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[UI]:
    opened = UI(tmp_path, monkeypatch)
    yield opened
    opened.close()


def ok(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.text[:2000]
    return answer.text


def svg_of(page: str, prefix: str) -> ET.Element:
    """The chart whose ids start with ``prefix``, parsed (well-formed XML or this fails)."""
    found = re.search(
        rf'<svg [^>]*aria-labelledby="{prefix}-title".*?</svg>', page, flags=re.DOTALL
    )
    assert found, f"no chart {prefix} on the page"
    return ET.fromstring(found.group(0))


def classes(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def title_of(element: ET.Element) -> str:
    found = element.find(NS + "title")
    return "" if found is None or found.text is None else found.text


def circles(root: ET.Element) -> dict[str, tuple[float, float, str]]:
    """Each place of a map: its label's start -> (x, y, tooltip)."""
    found = {}
    for circle in root.iter(NS + "circle"):
        tip = title_of(circle)
        name = tip.rsplit(":", 1)[0]
        found[name] = (float(circle.get("cx", "nan")), float(circle.get("cy", "nan")), tip)
    return found


def bars(root: ET.Element) -> dict[str, int]:
    """Each bar of a bar chart: label -> value (from the bar's tooltip)."""
    found = {}
    for rect in root.iter(NS + "rect"):
        if "bar" in classes(rect):
            label, _, value = title_of(rect).rpartition(": ")
            found[label] = int(value)
    return found


def links_of(root: ET.Element) -> set[str]:
    return {a.get("href", "") for a in root.iter(NS + "a")}


def corroboration_shown(page: str) -> dict[str, int]:
    """The corroboration numbers an incident page shows."""
    names = ("sources", "first-hand", "relayed", "testimonies", "excluded")
    found = {n: re.findall(rf'id="corroboration-{n}">(\d+)<', page) for n in names}
    assert all(len(v) == 1 for v in found.values()), found
    return {n: int(v[0]) for n, v in found.items()}


def as_shown(c: incidents.Corroboration) -> dict[str, int]:
    return {
        "sources": c.sources,
        "first-hand": c.first_hand,
        "relayed": c.relayed,
        "testimonies": c.testimonies,
        "excluded": c.excluded,
    }


def post(ui: UI, path: str, data: dict[str, Any], *, follow: bool = True) -> httpx.Response:
    answer = ui.post(path, data)
    assert answer.status_code == 303, answer.text[:2000]
    return ui.get(answer.headers["location"]) if follow else answer


def new_incident(ui: UI, **fields: str) -> str:
    before = {i.id for i in incidents.incidents(ui.workstation.cache)}
    answer = ui.post("/incidents/new", {"back": "/incidents", **fields})
    assert answer.status_code == 303
    after = {i.id for i in incidents.incidents(ui.workstation.cache)}
    (made,) = after - before
    assert answer.headers["location"] == f"/incident/{made}"
    return made


# --- one record --------------------------------------------------------------------------------


def test_the_incident_page_shows_the_record_its_sources_and_its_witnesses(ui: UI) -> None:
    cache = ui.workstation.cache
    counted = incidents.corroboration(cache, ui.ids.incident)
    # The filled workstation: a Russian eyewitness and a Kazakh hearsay, two witness keys.
    assert (counted.sources, counted.first_hand, counted.relayed) == (2, 1, 1)
    assert (counted.testimonies, counted.excluded) == (2, 0)
    page = ok(ui.get(f"/incident/{ui.ids.incident[:6]}"))  # a prefix will do
    assert "Поджоги в Масанчи" in page
    assert corroboration_shown(page) == as_shown(counted)
    rows = dict(
        re.findall(
            r'<tr class="linked-row[^"]*" data-testimony="(\w+)">.*?<td class="role">(\w+)<',
            page,
            re.S,
        )
    )
    assert rows == {ui.ids.russian: "eyewitness", ui.ids.kazakh: "hearsay"}
    for testimony in (ui.ids.russian, ui.ids.kazakh):
        assert f'href="/testimony/{testimony}"' in page
    text = text_of(page)
    assert "in review" in text  # the Kazakh testimony's state
    assert "Сортөбе ауылында үйлер өртелді." in html.unescape(text)
    assert "Arson: setting fire to houses or other property" in text  # the act's label
    assert "Unknown persons" in text
    assert "2020-02-07 – 2020-02-08" in text
    # the history: the record and its two links, in log order
    history = page[page.index('id="history-heading"') :]
    assert text_of(history).count("linked ") == 2 and "set " in text_of(history)

    # a duplicate is shown and not counted, as corroboration says
    triage_state = {"v": 1, "kind": "state", "testimony": ui.ids.kazakh, "state": "duplicate"}
    ui.workstation.annotate(triage_state)
    triage.refresh(cache)
    now = incidents.corroboration(cache, ui.ids.incident)
    assert (now.sources, now.first_hand, now.relayed, now.testimonies, now.excluded) == (
        1,
        1,
        0,
        1,
        1,
    )
    page = ok(ui.get(f"/incident/{ui.ids.incident}"))
    assert corroboration_shown(page) == as_shown(now)
    assert "not counted" in text_of(page)


def test_the_timeline_draws_the_incident_and_each_witness_s_range(ui: UI) -> None:
    page = ok(ui.get(f"/incident/{ui.ids.incident}"))
    root = svg_of(page, "incident-timeline")
    rects = [r for r in root.iter(NS + "rect") if title_of(r)]
    incident = [r for r in rects if "tl-incident" in classes(r)]
    witnesses = [r for r in rects if "tl-testimony" in classes(r)]
    assert len(incident) == 1 and "2020-02-07 – 2020-02-08" in title_of(incident[0])
    said = {title_of(r).split(": ", 1)[1]: r for r in witnesses}
    # the Russian witness: from 23:30 on the 7th to the end of the 8th; the Kazakh: two days
    assert set(said) == {"2020-02-07T23:30 – 2020-02-08", "2020-02-07 – 2020-02-08"}
    russian, kazakh = said["2020-02-07T23:30 – 2020-02-08"], said["2020-02-07 – 2020-02-08"]
    inc = incident[0]

    def span(r: ET.Element) -> tuple[float, float]:
        x, w = float(r.get("x", "0")), float(r.get("width", "0"))
        return x, x + w

    assert span(kazakh) == pytest.approx(span(inc), abs=0.2)  # the same two days
    assert span(russian)[0] > span(kazakh)[0] and span(russian)[1] == pytest.approx(
        span(inc)[1], abs=0.2
    )
    # each witness's bar links to the testimony
    assert {f"/testimony/{ui.ids.russian}", f"/testimony/{ui.ids.kazakh}"} <= links_of(root)
    # the same as a table
    table = page[page.index('id="timeline-heading"') : page.index('id="map-heading"')]
    assert "2020-02-07T23:30" in table and '<th scope="col">From</th>' in table


def test_the_map_places_the_villages_where_they_are_with_their_counts(ui: UI) -> None:
    page = ok(ui.get(f"/incident/{ui.ids.incident}"))
    places = circles(svg_of(page, "incident-map"))
    assert set(places) == {"Masanchi", "Sortobe"}
    (mx, my, mtip), (sx, sy, stip) = places["Masanchi"], places["Sortobe"]
    # one linked testimony names each (the Russian one Masanchi, the Kazakh one Sortobe)
    assert mtip == "Masanchi: 1" and stip == "Sortobe: 1"
    # Masanchi (42.93N 75.30E) is north-east of Sortobe (42.86N 75.27E)
    assert my < sy and mx > sx
    assert "/queue?place=place/masanchi" in links_of(svg_of(page, "incident-map"))


def test_a_place_without_coordinates_is_listed_beside_the_map(ui: UI) -> None:
    made = new_incident(ui, title="Ночь в Булар Батыре", places="Булар Батыр\nthe old mill")
    page = ok(ui.get(f"/incident/{made}"))
    beside = text_of(page[page.index('class="unplaced"') :])
    assert "Bular Batyr" in beside and "the old mill" in beside
    assert (
        "testimony review vocab add place/bular_batyr --label 'en=Bular Batyr' --lat LAT --lon LON"
        in html.unescape(beside)
    )
    assert "No place with coordinates yet." in text_of(page)


# --- the list ----------------------------------------------------------------------------------


def test_the_list_shows_each_record_with_its_sources_and_filters(ui: UI) -> None:
    page = ok(ui.get("/incidents"))
    text = text_of(page)
    assert "Поджоги в Масанчи" in text and "alleged" in text
    assert "Independent sources: 2" in text and "first-hand: 1, relayed: 1" in text
    assert "testimonies counted: 2, not counted: 0" in text
    assert f'href="/incident/{ui.ids.incident}"' in page
    assert f'href="/queue?incident={ui.ids.incident}"' in page
    assert "2020-02-07 – 2020-02-08" in text and "Masanchi" in text

    other = new_incident(
        ui,
        title="Задержания в Сортобе",
        places="Sortobe",
        acts="arbitrary_detention",
        status="verified",
    )
    rows = lambda page: set(re.findall(r'data-incident="(\w+)"', page))  # noqa: E731
    assert rows(ok(ui.get("/incidents"))) == {ui.ids.incident, other}
    assert rows(ok(ui.get("/incidents?status=verified"))) == {other}
    assert rows(ok(ui.get("/incidents?place=place/masanchi"))) == {ui.ids.incident}
    assert rows(ok(ui.get("/incidents?place=Масанчи"))) == {ui.ids.incident}  # a name in any script
    assert rows(ok(ui.get("/incidents?violation=violation/arbitrary_detention"))) == {other}
    refused = ok(ui.get("/incidents?place=nowhere"))
    assert "no tag of the group place is called" in html.unescape(refused)
    # a merged record is listed only with ?merged=1
    post(ui, f"/incident/{ui.ids.incident}/merge", {"other": other[:8], "back": "/"})
    assert rows(ok(ui.get("/incidents"))) == {ui.ids.incident}
    merged = ok(ui.get("/incidents?merged=1"))
    assert rows(merged) == {ui.ids.incident, other}
    assert "merged into" in text_of(merged)


# --- the overview ------------------------------------------------------------------------------


def test_the_overview_counts_testimonies_per_village_violation_incident_and_day(ui: UI) -> None:
    page = ok(ui.get("/overview"))
    # villages: the Russian and the English witness name Masanchi, the Kazakh one Sortobe;
    # the hostile one names a place in its own words
    villages = bars(svg_of(page, "chart-villages"))
    assert villages["Masanchi"] == 2 and villages["Sortobe"] == 1 and villages["Kordai"] == 0
    assert villages["(in the witness's own words)"] == 1
    # violations: arson (Russian, Kazakh; the reviewer's arson tag on the Russian one is the
    # same testimony), shooting (Russian, English), looting (Kazakh)
    violations = bars(svg_of(page, "chart-violations"))
    assert violations["Arson: setting fire to houses or other property"] == 2
    assert violations["Shooting"] == 2 and violations["Looting"] == 1 and violations["Killing"] == 0
    assert bars(svg_of(page, "chart-incidents")) == {"Поджоги в Масанчи": 2}
    # per day: the 7th (Russian 23:30, Kazakh), the 8th (English 00:30); the hostile one no day
    days = {
        title_of(r).split(": ")[0]: int(title_of(r).split(": ")[1])
        for r in svg_of(page, "chart-days").iter(NS + "rect")
        if "day-bar" in classes(r)
    }
    assert days == {"2020-02-07": 2, "2020-02-08": 1}
    assert "Testimonies that give no day (no date, or only a year or a month): 1" in text_of(page)
    # the map: every placed village, each with its count
    places = circles(svg_of(page, "overview-map"))
    assert {k: v[2] for k, v in places.items()} == {
        "Masanchi": "Masanchi: 2",
        "Sortobe": "Sortobe: 1",
        "Kordai": "Kordai: 0",
    }
    assert (
        places["Masanchi"][1] < places["Sortobe"][1]
        and places["Masanchi"][0] > places["Sortobe"][0]
    )
    beside = text_of(page[page.index('class="unplaced"') :])
    assert (
        "Bular Batyr" in beside
        and "vocab add place/aukhatty --label en=Aukhatty --lat LAT --lon LON" in beside
    )
    # the incidents' timeline
    timeline = svg_of(page, "overview-timeline")
    assert [
        title_of(r)
        for r in timeline.iter(NS + "rect")
        if "tl-incident" in classes(r) and title_of(r)
    ] == ["Поджоги в Масанчи: 2020-02-07 – 2020-02-08"]
    # each chart with its table
    assert page.count('<details class="chart-details">') == 6
    assert page.count('<table class="chart-data">') == 6


def test_the_overview_links_bars_and_places_to_the_filtered_queue(ui: UI) -> None:
    page = ok(ui.get("/overview"))
    assert "/queue?place=place/masanchi" in links_of(svg_of(page, "overview-map"))
    assert "/queue?place=place/sortobe" in links_of(svg_of(page, "chart-villages"))
    assert "/queue?tag=violation/arson" in links_of(svg_of(page, "chart-violations"))
    assert f"/queue?incident={ui.ids.incident}" in links_of(svg_of(page, "chart-incidents"))
    assert f"/incident/{ui.ids.incident}" in links_of(svg_of(page, "overview-timeline"))


def test_the_overview_can_show_the_testimonies_dates_on_the_timeline(ui: UI) -> None:
    page = ok(ui.get("/overview?testimonies=1"))
    root = svg_of(page, "overview-timeline")
    lanes = [t.text or "" for t in root.iter(NS + "text") if "tl-lane" in classes(t)]
    assert lanes == [
        f"Поджоги в Масанчи · {ui.ids.incident[:8]}",
        "Testimonies linked to no incident",
    ]
    drawn = sorted(
        title_of(r) for r in root.iter(NS + "rect") if "tl-testimony" in classes(r) and title_of(r)
    )
    # linked: Russian 07 to 08 (to the day) and Kazakh 07 to 08, one bar of two; unlinked: the English one
    assert drawn == ["testimonies: 1: 2020-02-08", "testimonies: 2: 2020-02-07 – 2020-02-08"]
    assert 'href="/overview"' in page  # and back


def test_the_overview_stays_fast_with_ten_thousand_testimonies(ui: UI) -> None:
    cache = ui.workstation.cache
    villages = ["place/masanchi", "place/sortobe", "place/kordai", "place/aukhatty", None]
    kinds = ["violation/arson", "violation/shooting", "violation/looting", "violation/killing"]
    rows, tags, links = [], [], []
    for n in range(10_000):
        tid = f"{n:064x}"
        day = f"2020-{1 + n % 3:02d}-{1 + n % 28:02d}"
        place = villages[n % 5] if n % 7 else f"the road {n % 50}"
        rows.append(
            (
                tid,
                10_000 + n,
                "2020-03-01T00:00:00Z",
                "ru",
                1,
                f"w{n % 4000}",
                "…",
                day if n % 11 else None,
                None,
                place,
            )
        )
        tags.append((tid, kinds[n % 4], "witness"))
        if n % 3 == 0:
            tags.append((tid, kinds[(n + 1) % 4], "reviewer"))
        if n % 10 == 0:
            links.append(
                (
                    ui.ids.incident,
                    tid,
                    "eyewitness",
                    "cannot-judge",
                    "cannot-judge",
                    10_000 + n,
                    "x",
                )
            )
    with cache.transaction():
        for row in rows:
            cache.execute(
                "INSERT INTO ws_testimonies (id, idx, received, lang, cached, witness, summary, said_start, said_end, place) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        for tag in tags:
            cache.execute(
                "INSERT INTO ws_testimony_tags (testimony, tag, source) VALUES (?, ?, ?)", tag
            )
        for link in links:
            cache.execute(
                "INSERT INTO ws_links (incident, testimony, role, reliability, validity, idx, actor) VALUES (?, ?, ?, ?, ?, ?, ?)",
                link,
            )
    ok(ui.get("/overview"))  # warm
    timings = {}
    for path in ("/overview", "/overview?testimonies=1"):
        started = time.perf_counter()
        page = ok(ui.get(path))
        timings[path] = time.perf_counter() - started
    print(f"overview with 10,004 testimonies: {timings}")
    assert max(timings.values()) < 1.0, timings
    assert re.search(r'id="total-testimonies">10004<', page)
    villages_drawn = bars(svg_of(page, "chart-villages"))
    expected = sum(1 for n in range(10_000) if n % 7 and n % 5 == 0)
    assert villages_drawn["Masanchi"] == expected + 2
    # the testimonies on the timeline are aggregated: a few bars, not ten thousand
    drawn = [
        r
        for r in svg_of(page, "overview-timeline").iter(NS + "rect")
        if "tl-testimony" in classes(r)
    ]
    assert 2 < len(drawn) <= 40


def test_the_day_chart_draws_the_busiest_two_years_and_says_what_it_leaves_out(ui: UI) -> None:
    cache = ui.workstation.cache
    for n, day in enumerate(("1990-05-01", "2031-01-01", "2020-02-07T10:00", "2020-02", "2020")):
        cache.execute(
            "INSERT INTO ws_testimonies (id, cached, said_start) VALUES (?, 1, ?)",
            (f"{n:064x}", day),
        )
    page = ok(ui.get("/overview"))
    days = [r for r in svg_of(page, "chart-days").iter(NS + "rect") if "day-bar" in classes(r)]
    assert len(days) <= 731
    drawn = {title_of(r) for r in days}
    assert "2020-02-07: 3" in drawn and "2020-02-08: 1" in drawn
    text = text_of(page)
    # a year or a month alone is no day; the two far-off dates are left out, and said so
    assert "Testimonies that give no day (no date, or only a year or a month): 3" in text
    assert re.search(
        r"Testimonies dated outside \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d, not drawn: 2", text
    )


# --- changes -----------------------------------------------------------------------------------


def test_a_new_incident_from_the_form_lands_as_the_cli_would_record_it(ui: UI) -> None:
    page = ok(ui.get("/incidents"))
    assert 'action="/incidents/new"' in page and 'name="places"' in page and 'name="acts"' in page
    made = new_incident(
        ui,
        title="Поджог на улице Ленина",
        start="2020-02",
        end="",
        places="Масанчи\nthe mosque on Lenin street@42.931,75.301",
        acts="arson; victims=3\nlooting; victims=V-017; by=unknown_persons*10:P-1|P-2",
        description="Два дома.\nОдин сарай.",
        status="alleged",
    )
    record = incidents.get(ui.workstation.cache, made)
    assert (
        record.title == "Поджог на улице Ленина"
        and record.start == "2020-02"
        and record.end is None
    )
    assert record.places == [
        {"place": "place/masanchi", "name": "Masanchi", "lat": 42.93, "lon": 75.3},
        {"place": None, "name": "the mosque on Lenin street", "lat": 42.931, "lon": 75.301},
    ]
    assert record.acts[0] == {
        "violation": "violation/arson",
        "victims": {"count": 3, "persons": []},
        "perpetrators": [],
    }
    assert record.acts[1]["victims"] == {"count": None, "persons": ["V-017"]}
    assert record.acts[1]["perpetrators"] == [
        {"type": "perpetrator/unknown_persons", "count": 10, "persons": ["P-1", "P-2"]}
    ]
    assert record.description == "Два дома.\nОдин сарай." and record.status == "alleged"
    page = ok(ui.get(f"/incident/{made}"))
    assert "The incident is recorded." in page and "Поджог на улице Ленина" in page
    assert "2020-02" in text_of(page) and "V-017" in page and "P-2" in page
    # the edit form holds the record as the boxes read it
    assert (
        "arson; victims=3\nlooting; victims=V-017; by=unknown_persons*10:P-1|P-2</textarea>" in page
    )


def test_editing_changes_only_what_was_changed_and_an_emptied_box_clears(ui: UI) -> None:
    cache = ui.workstation.cache
    page = ok(ui.get(f"/incident/{ui.ids.incident}"))
    form = {
        name: html.unescape(value)
        for name, value in re.findall(r'<input id="edit-(\w+)" name="\w+" value="([^"]*)"', page)
    }
    boxes = {
        name: html.unescape(value)
        for name, value in re.findall(
            r'<textarea id="edit-(\w+)"[^>]*>\n(.*?)</textarea>', page, re.S
        )
    }
    assert form["title"] == "Поджоги в Масанчи" and boxes["places"] == "Масанчи@42.93,75.3"
    assert boxes["acts"] == "arson; victims=5; by=unknown_persons"
    sent = dict(form, **boxes, status="corroborated", back=f"/incident/{ui.ids.incident}")
    sent["title"] = "Поджоги в Масанчи и Сортобе"
    page = post(ui, f"/incident/{ui.ids.incident}/edit", sent).text
    assert "Saved: status, title." in page
    record = incidents.get(cache, ui.ids.incident)
    assert record.title == "Поджоги в Масанчи и Сортобе" and record.status == "corroborated"
    assert record.places[0]["name"] == "Масанчи"  # untouched: not made again in English
    last = incidents.history(cache, ui.ids.incident)[-1]
    assert sorted(last.payload["fields"]) == ["status", "title"]
    # the same form again: nothing to change, said so
    page = post(ui, f"/incident/{ui.ids.incident}/edit", dict(sent, status="corroborated")).text
    assert "nothing to change (nothing-to-change)" in text_of(page)
    # emptying the acts box removes every act
    page = post(ui, f"/incident/{ui.ids.incident}/edit", dict(sent, acts="")).text
    assert "Saved: acts." in page
    assert incidents.get(cache, ui.ids.incident).acts == []
    assert "No act recorded yet." in page


def test_merging_a_duplicate_marks_it_merged_and_links_to_the_record_kept(ui: UI) -> None:
    cache = ui.workstation.cache
    other = new_incident(ui, title="Пожар в Масанчи (дубль)", places="Masanchi")
    post(
        ui,
        f"/incident/{other}/link",
        {"testimony": ui.ids.english[:8], "role": "eyewitness", "back": "/"},
    )
    page = post(
        ui,
        f"/incident/{ui.ids.incident}/merge",
        {"other": other[:6], "back": f"/incident/{ui.ids.incident}"},
    ).text
    assert f"Merged into this record: {other[:12]}." in page
    assert incidents.get(cache, other).merged_into == ui.ids.incident
    # the links moved: three testimonies, three sources now
    assert corroboration_shown(page) == as_shown(incidents.corroboration(cache, ui.ids.incident))
    assert incidents.corroboration(cache, ui.ids.incident).sources == 3
    assert f'data-testimony="{ui.ids.english}"' in page
    assert f'href="/incident/{other}"' in page  # "merged into this record"
    merged = ok(ui.get(f"/incident/{other}"))
    assert 'class="flash merged-banner"' in merged
    assert f'<a href="/incident/{ui.ids.incident}" class="merged-into">' in merged
    assert "This record was merged into another" in text_of(merged)
    assert 'action="/incident/' not in merged  # nothing to change on a merged record
    # merging it again is refused, with the message
    page = post(
        ui,
        f"/incident/{ui.ids.incident}/merge",
        {"other": other, "back": f"/incident/{ui.ids.incident}"},
    ).text
    assert "(nothing-to-merge)" in page


def test_linking_and_unlinking_a_testimony(ui: UI) -> None:
    cache = ui.workstation.cache
    back = f"/incident/{ui.ids.incident}"
    page = ok(ui.get(back))
    for name, choices in (("role", 4), ("reliability", 6), ("validity", 6)):
        select = re.search(rf'<select id="link-{name}" name="{name}">(.*?)</select>', page, re.S)
        assert select and select.group(1).count("<option") == choices
    page = post(
        ui,
        f"{back}/link",
        {
            "testimony": ui.ids.english[:7],
            "role": "victim",
            "reliability": "usually-reliable",
            "validity": "probably-true",
            "back": back,
        },
    ).text
    assert f"{ui.ids.english[:12]} is linked as victim." in page
    links = {link.testimony: link for link in incidents.get(cache, ui.ids.incident).links}
    assert (
        links[ui.ids.english].role,
        links[ui.ids.english].reliability,
        links[ui.ids.english].validity,
    ) == ("victim", "usually-reliable", "probably-true")
    assert "usually reliable" in text_of(page) and "probably true" in text_of(page)
    # the English testimony has no witness key: a source of its own, first-hand
    assert incidents.corroboration(cache, ui.ids.incident).first_hand == 2
    assert corroboration_shown(page) == as_shown(incidents.corroboration(cache, ui.ids.incident))
    page = post(ui, f"{back}/unlink", {"testimony": ui.ids.kazakh, "back": back}).text
    assert f"{ui.ids.kazakh[:12]} is no longer linked." in page
    assert {link.testimony for link in incidents.get(cache, ui.ids.incident).links} == {
        ui.ids.russian,
        ui.ids.english,
    }
    assert f'data-testimony="{ui.ids.kazakh}"' not in page
    history = text_of(page[page.index('id="history-heading"') :])
    assert f"unlinked {ui.ids.kazakh[:12]}" in history
    # unlinking what is not linked is refused with the message
    page = post(ui, f"{back}/unlink", {"testimony": ui.ids.kazakh, "back": back}).text
    assert "(not-linked)" in page


def test_refused_input_shows_the_message_and_keeps_every_field_as_typed(ui: UI) -> None:
    typed = {
        "title": "Новое <b>событие</b>",
        "start": "2020-02-07",
        "end": "2020-02-09",
        "places": "Масанчи\nX@abc",
        "acts": "arson; victims=3",
        "description": "Что видели.\nВторая строка.",
        "status": "verified",
        "back": "/incidents",
    }
    page = post(ui, "/incidents/new", typed).text
    assert "a place is NAME[@LAT,LON]: &#39;X@abc&#39; (bad-place)" in page
    assert 'value="Новое &lt;b&gt;событие&lt;/b&gt;"' in page and 'value="2020-02-09"' in page
    assert "Масанчи\nX@abc</textarea>" in page and "Что видели.\nВторая строка.</textarea>" in page
    assert '<option value="verified" selected>' in page
    # the drafts are given once: the next visit has an empty form again
    again = ok(ui.get("/incidents"))
    assert "X@abc" not in again and "(bad-place)" not in again

    page = post(
        ui, "/incidents/new", dict(typed, places="Масанчи", acts="arson; victims=3\nwitchcraft")
    ).text
    assert "no tag of the group violation is called &#39;witchcraft&#39;" in page
    assert "arson; victims=3\nwitchcraft</textarea>" in page
    assert len(incidents.incidents(ui.workstation.cache)) == 1  # nothing was recorded

    # on the edit form too, an emptied box kept empty
    back = f"/incident/{ui.ids.incident}"
    page = post(
        ui,
        f"{back}/edit",
        {
            "title": "Поджоги",
            "start": "2020-02-07",
            "end": "2020-02-08",
            "places": "",
            "acts": "arson; by=aliens",
            "description": "",
            "status": "alleged",
            "back": back,
        },
    ).text
    assert "no tag of the group perpetrator is called &#39;aliens&#39;" in page
    assert (
        '<textarea id="edit-places" name="places" rows="3" aria-describedby="edit-places-help" spellcheck="false">\n</textarea>'
        in page
    )
    assert 'id="edit-title" name="title" value="Поджоги"' in page
    assert incidents.get(ui.workstation.cache, ui.ids.incident).title == "Поджоги в Масанчи"
    # a bad date and a bad link keep theirs
    page = post(ui, f"{back}/edit", {"start": "7 February", "back": back}).text
    assert "`start` is YYYY[-MM[-DD[THH:MM]]] or null" in page and 'value="7 February"' in page
    page = post(
        ui,
        f"{back}/link",
        {
            "testimony": "zz12",
            "role": "victim",
            "reliability": "reliable",
            "validity": "doubtful",
            "back": back,
        },
    ).text
    assert (
        "is no testimony id" in html.unescape(page)
        and 'id="link-testimony" name="testimony" value="zz12"' in page
    )
    assert (
        '<option value="victim" selected>' in page and '<option value="doubtful" selected>' in page
    )
    page = post(ui, f"{back}/merge", {"other": "ffff", "back": back}).text
    assert "no incident ffff" in page and 'id="merge-other" name="other" value="ffff"' in page


def test_an_unknown_incident_is_a_404(ui: UI) -> None:
    answer = ui.get("/incident/ffffffff")
    assert answer.status_code == 404 and "no incident ffffffff" in answer.text
    assert ui.get("/incident/<script>").status_code == 404


# --- what protects the reviewer ----------------------------------------------------------------

HOSTILE_TITLE = '<script>alert("t")</script>\u202eexe.jpg'


def test_a_hostile_title_is_inert_on_the_list_the_page_and_in_the_charts(ui: UI) -> None:
    hostile = "ee" * 16
    ui.workstation.annotate(
        {
            "v": 1,
            "kind": "incident",
            "incident": hostile,
            "fields": {
                "title": HOSTILE_TITLE,
                "status": "alleged",
                "start": "2020-02-07",
                "places": [{"place": None, "name": "село\u202e<b>x</b>", "lat": 42.9, "lon": 75.2}],
                "description": "<img src=x onerror=alert(1)>\u202e",
            },
        }
    )
    ui.workstation.annotate(
        {
            "v": 1,
            "kind": "link",
            "incident": hostile,
            "testimony": ui.ids.hostile,
            "role": "hearsay",
            "reliability": "cannot-judge",
            "validity": "cannot-judge",
        }
    )
    triage.refresh(ui.workstation.cache)
    pages = {
        "list": ok(ui.get("/incidents")),
        "page": ok(ui.get(f"/incident/{hostile}")),
        "overview": ok(ui.get("/overview")),
        "overview+": ok(ui.get("/overview?testimonies=1")),
    }
    for name, page in pages.items():
        assert "<script>alert" not in page, name
        assert "<b>x</b>" not in page and "<img src=x" not in page, name
        assert not BIDI.search(page), name
        assert "&lt;script&gt;alert" in page, name
    assert "U+202E" in pages["list"] and "U+202E" in pages["page"]
    for prefix in ("incident-timeline", "incident-map"):
        root = svg_of(pages["page"], prefix)
        drawn = "".join(root.itertext())
        assert "⟦U+202E⟧" in drawn and "\u202e" not in drawn, prefix
        assert not [e for e in root.iter() if e.tag.split("}")[1] in ("script", "foreignObject")]
    for prefix in ("overview-timeline", "chart-incidents"):
        drawn = "".join(svg_of(pages["overview"], prefix).itertext())
        assert '<script>alert("t")</script>⟦U+202E⟧exe.jpg' in drawn, prefix
    # the hostile testimony's own place (its words) and the incident's, marked and escaped
    shown = 'село<span class="cc" title="RIGHT-TO-LEFT OVERRIDE">U+202E</span>&lt;b&gt;x&lt;/b&gt;'
    linked = pages["page"][pages["page"].index('id="linked-heading"') :]
    assert shown in linked[: linked.index("</table>")]
    assert shown in pages["page"][: pages["page"].index('id="linked-heading"')]
    # the edit form shows the marks, not the characters; saving another field keeps the title
    form = dict(
        re.findall(r'<input id="edit-(\w+)" name="\w+" value="([^"]*)"', pages["page"]),
        **dict(
            re.findall(r'<textarea id="edit-(\w+)"[^>]*>\n(.*?)</textarea>', pages["page"], re.S)
        ),
    )
    form = {k: html.unescape(v) for k, v in form.items()}
    assert form["title"] == '<script>alert("t")</script>⟦U+202E⟧exe.jpg'
    page = post(ui, f"/incident/{hostile}/edit", dict(form, status="verified", back="/")).text
    assert "Saved: status." in page
    record = incidents.get(ui.workstation.cache, hostile)
    assert record.title == HOSTILE_TITLE and record.status == "verified"
    assert record.places[0]["name"] == "село\u202e<b>x</b>"
    assert record.description == "<img src=x onerror=alert(1)>\u202e"


def test_a_change_without_the_csrf_token_is_refused(ui: UI) -> None:
    back = f"/incident/{ui.ids.incident}"
    for path, data in (
        ("/incidents/new", {"title": "x"}),
        (f"{back}/edit", {"title": "x"}),
        (f"{back}/merge", {"other": "0a0a"}),
        (f"{back}/link", {"testimony": ui.ids.english, "role": "victim"}),
        (f"{back}/unlink", {"testimony": ui.ids.russian}),
    ):
        answer = ui.client.post(
            path, data=data, headers={"Origin": ui.origin, "Sec-Fetch-Site": "same-origin"}
        )
        assert answer.status_code == 403, path
    record = incidents.get(ui.workstation.cache, ui.ids.incident)
    assert record.title == "Поджоги в Масанчи" and len(record.links) == 2
    assert len(incidents.incidents(ui.workstation.cache)) == 1


def test_no_page_has_a_style_attribute_an_inline_script_or_a_foreign_reference(ui: UI) -> None:
    other = new_incident(ui, title="Второй", places="Sortobe")
    post(ui, f"/incident/{ui.ids.incident}/merge", {"other": other, "back": "/"})
    for path in (
        "/incidents",
        "/incidents?merged=1&status=alleged",
        f"/incident/{ui.ids.incident}",
        f"/incident/{other}",
        "/overview",
        "/overview?testimonies=1",
    ):
        page = ok(ui.get(path))
        assert not re.search(r"\sstyle\s*=", page, re.I), path
        assert "<style" not in page.lower(), path
        assert not re.search(r"<script(?![^>]*\ssrc=\"/static/)", page), path
        assert not re.search(r"\son[a-z]+\s*=", page), path
        assert not re.search(r'(?:href|src)="(?:https?:)?//', page), path
        assert "javascript:" not in page, path


def test_the_pages_speak_russian(ui: UI) -> None:
    ui.post("/language", {"lang": "ru", "back": "/"})
    page = text_of(ok(ui.get(f"/incident/{ui.ids.incident}")))
    assert "Независимые источники" in page and "очевидец" in page and "с чужих слов" in page
    assert "Поджог домов или другого имущества" in page  # the act's label in Russian
    assert "Масанчи" in page
    page = ok(ui.get("/overview"))
    assert "Свидетельства по сёлам" in page and "Масанчи: 2" in page
    assert "Инциденты" in text_of(ok(ui.get("/incidents")))
