"""The queue of the reviewer's web UI (workstation/ui/pages/queue.py): every
testimony with what a reviewer triages by, the filters (bookmarkable GET
parameters), sorting and paging, bulk changes through ``actions`` (one
annotation each, nothing half-done silently), the hostile testimony shown
inert, the rows as a fragment for queue.js, and in Chromium the keys and the
filters answering in place."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import pytest

from testimony.client.errors import ServerRefused
from testimony.workstation import home as homes
from testimony.workstation import triage, vocabulary
from testimony.workstation.ui.pages import queue

from ..triage_fixtures import KORDAI
from .support import OTHER, UI, live, text_of

FRAGMENT = {"X-Requested-With": "fetch"}


@pytest.fixture
def ui(tmp_path: Any, monkeypatch: Any) -> Iterator[UI]:
    desk = UI(tmp_path, monkeypatch)
    yield desk
    desk.close()


def rows_of(html: str) -> list[str]:
    """Each row's HTML, in the order shown."""
    return re.findall(r'<tr data-href="[^"]*".*?</tr>', html, flags=re.S)


def ids_of(html: str) -> list[str]:
    return re.findall(r'<tr data-href="/testimony/([0-9a-f]+)"', html)


def row_of(html: str, testimony_id: str) -> str:
    found = [r for r in rows_of(html) if f'data-id="{testimony_id}"' in r]
    assert len(found) == 1, f"no single row for {testimony_id}"
    return found[0]


def cells(row: str) -> list[str]:
    return [text_of(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]


COLUMNS = {
    "what": 1,
    "received": 2,
    "state": 3,
    "language": 4,
    "said": 5,
    "place": 6,
    "tags": 7,
    "assignee": 8,
    "files": 9,
    "followups": 10,
    "notes": 11,
    "replies": 12,
}


def cell(html: str, testimony_id: str, column: str) -> str:
    return cells(row_of(html, testimony_id))[COLUMNS[column]]


def queue_ids(ui: UI, **query: Any) -> list[str]:
    answer = ui.get("/queue?" + urlencode(query, doseq=True))
    assert answer.status_code == 200, answer.text
    return ids_of(answer.text)


def refold(ui: UI) -> None:
    """What a sync does after the fixture logs more: the desk's cache folds it."""
    assert ui.desk.cache is not None
    triage.refresh(ui.desk.cache)


def followed(ui: UI, answer: Any) -> str:
    assert answer.status_code == 303, answer.text
    page = ui.get(answer.headers["location"])
    assert page.status_code == 200
    return page.text


def flash_texts(html: str) -> list[str]:
    return [text_of(f).strip() for f in re.findall(r'<p class="flash [a-z]+">(.*?)</p>', html)]


# --- what the queue shows -----------------------------------------------------------------------


def test_the_queue_shows_every_testimony_and_what_a_row_tells(ui: UI) -> None:
    page = ui.get("/queue")
    assert page.status_code == 200
    ids = ui.ids
    assert ids_of(page.text) == [ids.hostile, ids.english, ids.kazakh, ids.russian]
    assert "1–4 of 4 testimonies" in text_of(page.text)
    for testimony_id in (ids.hostile, ids.english, ids.kazakh, ids.russian):
        assert f'<a class="open" href="/testimony/{testimony_id}">' in row_of(
            page.text, testimony_id
        )

    html = page.text
    # The witness's date as given: a range as a range, a time kept, a single day alone.
    assert cell(html, ids.russian, "said") == "2020-02-07T23:30 – 2020-02-08"
    assert cell(html, ids.english, "said") == "2020-02-08T00:30"
    assert cell(html, ids.kazakh, "said") == "2020-02-07 – 2020-02-08"
    assert cell(html, ids.hostile, "said") == "–"
    # The village's label from the vocabulary; the witness's own words otherwise.
    assert cell(html, ids.russian, "place") == "Masanchi"
    assert cell(html, ids.kazakh, "place") == "Sortobe"
    assert "село" in cell(html, ids.hostile, "place")
    assert 'class="untrusted place own"' in row_of(html, ids.hostile)
    # Counts: files, follow-ups, notes, replies.
    russian = cells(row_of(html, ids.russian))
    assert [russian[COLUMNS[c]] for c in ("files", "followups", "notes", "replies")] == [
        "2",
        "1",
        "1",
        "0",
    ]
    assert cell(html, ids.hostile, "files") == "1"
    assert cell(html, ids.kazakh, "state") == "in-review"
    assert cell(html, ids.russian, "state") == "new"
    assert cell(html, ids.kazakh, "language") == "kk"
    # The reviewers' tag and the witness's own, by their labels.
    arson = vocabulary.tag(ui.workstation.cache, "violation/arson")
    assert arson is not None
    russian_row = row_of(html, ids.russian)
    assert f'<span class="tag"><bdi dir="auto">{arson.label("en")}</bdi></span>' in russian_row
    assert '<span class="tag witness"' in russian_row
    assert "Unknown persons" in cell(html, ids.russian, "tags")
    assert cell(html, ids.russian, "assignee") == "–"
    # The summary, isolated, in its language.
    assert '<bdi class="untrusted summary" dir="auto" lang="ru">Ночью 7 февраля' in russian_row


def test_the_queue_speaks_russian(ui: UI) -> None:
    assert ui.post("/language", {"lang": "ru", "back": "/queue"}).status_code == 303
    html = ui.get("/queue").text
    assert "1–4 из 4 свидетельств" in text_of(html)
    assert cell(html, ui.ids.kazakh, "state") == "на рассмотрении"
    place = vocabulary.tag(ui.workstation.cache, "place/masanchi")
    assert place is not None and place.label("ru") != place.label("en")
    assert cell(html, ui.ids.russian, "place") == place.label("ru")
    arson = vocabulary.tag(ui.workstation.cache, "violation/arson")
    assert arson is not None
    assert arson.label("ru") in cell(html, ui.ids.russian, "tags")


def test_the_states_have_russian_names() -> None:
    folder = resources.files("testimony.workstation.ui")
    everything = json.loads(folder.joinpath("strings.json").read_text(encoding="utf-8"))
    strings = {
        lang: {k: v for k, v in texts.items() if k.startswith("queue.")}
        for lang, texts in everything.items()
    }
    for state in ("new", "in-review", "needs-follow-up", "corroborated", "duplicate", "rejected"):
        assert strings["ru"][f"queue.state.{state}"] != state
    used = set()
    for name in ("queue.html", "_queue_rows.html"):
        text = folder.joinpath("templates", name).read_text(encoding="utf-8")
        used |= set(re.findall(r"""t\(["'](queue\.[a-z0-9.\-]+)["']""", text))
    assert used and used <= set(strings["en"])


def test_plural_forms() -> None:
    assert [queue.plural("ru", n) for n in (1, 2, 5, 11, 21, 22, 25, 112)] == [
        "one",
        "few",
        "many",
        "many",
        "one",
        "few",
        "many",
        "many",
    ]
    assert [queue.plural("en", n) for n in (0, 1, 2)] == ["many", "one", "many"]


# --- filters ------------------------------------------------------------------------------------


def test_each_filter_narrows_to_the_right_rows(ui: UI) -> None:
    ids = ui.ids
    assert queue_ids(ui, state="in-review") == [ids.kazakh]
    assert queue_ids(ui, state=["new", "in-review"]) == [
        ids.hostile,
        ids.english,
        ids.kazakh,
        ids.russian,
    ]
    assert queue_ids(ui, state="rejected") == []
    # A reviewer's tag (the Russian one) or the witness's own (the Kazakh one), by id or label.
    assert queue_ids(ui, tag="violation/arson") == [ids.kazakh, ids.russian]
    assert queue_ids(ui, tag="shooting") == [ids.english, ids.russian]
    # A village in any script.
    for place in ("Масанчи", "masanchi", "Masanchi", "place/masanchi"):
        assert queue_ids(ui, place=place) == [ids.english, ids.russian], place
    assert queue_ids(ui, place="Сортөбе") == [ids.kazakh]
    assert queue_ids(ui, language="kk") == [ids.kazakh]
    assert queue_ids(ui, language="ru") == [ids.hostile, ids.russian]
    assert queue_ids(ui, incident=ids.incident) == [ids.kazakh, ids.russian]
    assert queue_ids(ui, incident=ids.incident[:8]) == [ids.kazakh, ids.russian]
    # Filters together: every one must hold.
    assert queue_ids(ui, place="masanchi", language="ru", state="new") == [ids.russian]
    # Received since / until.
    assert queue_ids(ui, since="2020-02-09") == []
    assert queue_ids(ui, until="2020-02-08") == [ids.hostile, ids.english, ids.kazakh, ids.russian]
    assert queue_ids(ui, until="2020-02-07") == []


def test_search_in_any_script_finds_the_testimony(ui: UI) -> None:
    ids = ui.ids
    # Latin finds the Russian testimony's "в Масанчи" (and the English one's "In Masanchi").
    assert queue_ids(ui, q="Masanchi") == [ids.english, ids.russian]
    assert queue_ids(ui, q="masanchy") == [ids.english, ids.russian]
    assert queue_ids(ui, q="Sortobe") == [ids.kazakh]
    assert queue_ids(ui, q="Масанчи", language="en") == [ids.english]
    assert queue_ids(ui, q="nothing-like-this-anywhere") == []
    # The follow-up's words are found too.
    assert queue_ids(ui, q="сарай") == [ids.russian]


def test_assigned_to_me_to_nobody_and_to_another(ui: UI) -> None:
    ws, ids = ui.workstation, ui.ids
    ws.annotate({"v": 1, "kind": "assign", "testimony": ids.english, "reviewer": ws.me.id})
    ws.annotate({"v": 1, "kind": "assign", "testimony": ids.kazakh, "reviewer": OTHER.id})
    refold(ui)
    page = ui.get("/queue").text
    assert cell(page, ids.english, "assignee") == "me"
    assert cell(page, ids.kazakh, "assignee") == homes.fingerprint(OTHER.id)[:9]
    assert queue_ids(ui, assigned="me") == [ids.english]
    assert queue_ids(ui, assigned="nobody") == [ids.hostile, ids.russian]
    assert queue_ids(ui, assigned=homes.fingerprint(OTHER.id)) == [ids.kazakh]
    assert queue_ids(ui, assigned=OTHER.id) == [ids.kazakh]
    # "Assigned to me" is one click, keeping the other filters.
    filtered = ui.get("/queue?language=en").text
    link = re.search(r'<a class="queue-mine" href="([^"]+)"', filtered)
    assert link is not None
    mine = link.group(1).replace("&amp;", "&")
    assert "assigned=me" in mine and "language=en" in mine
    assert ids_of(ui.get(mine).text) == [ids.english]


def test_a_filter_that_cannot_be_read_says_so_and_shows_nothing(ui: UI) -> None:
    for query, words in (
        ("tag=no-such-tag", "No tag no-such-tag"),
        ("place=Atlantis", "No village Atlantis"),
        ("state=pending", "No state is called pending"),
        ("assigned=someone", "is not a reviewer"),
        ("since=yesterday", "a date is YYYY"),
        ("incident=ffffffff", "No incident ffffffff"),
    ):
        page = ui.get(f"/queue?{query}")
        assert page.status_code == 200, query
        assert ids_of(page.text) == [], query
        assert words in text_of(page.text), query
        assert 'role="alert"' in page.text


def test_the_form_keeps_the_filters(ui: UI) -> None:
    html = ui.get("/queue?state=new&q=Masanchi&place=Масанчи&sort=oldest").text
    assert '<input type="checkbox" name="state" value="new" checked>' in html
    assert 'name="q" type="search" value="Masanchi"' in html
    assert '<option value="place/masanchi" selected>' in html
    assert '<option value="oldest" selected>' in html
    # The bulk form goes back to the same filtered queue.
    back = re.search(r'<form id="queue-bulk".*?name="back" value="(/queue[^"]*)"', html, re.S)
    assert back is not None
    assert (
        back.group(1).replace("&amp;", "&")
        == queue.Chosen(states=["new"], place="Масанчи", q="Masanchi", sort="oldest").url()
    )


# --- sorting and paging -------------------------------------------------------------------------


def test_sort_orders(ui: UI) -> None:
    ids = ui.ids
    assert queue_ids(ui) == [ids.hostile, ids.english, ids.kazakh, ids.russian]
    assert queue_ids(ui, sort="newest") == [ids.hostile, ids.english, ids.kazakh, ids.russian]
    assert queue_ids(ui, sort="oldest") == [ids.russian, ids.kazakh, ids.english, ids.hostile]
    # By the witness's date, earliest first; the undated last.
    assert queue_ids(ui, sort="said") == [ids.kazakh, ids.russian, ids.english, ids.hostile]
    # By state in the order of the states, newest first within one.
    assert queue_ids(ui, sort="state") == [ids.hostile, ids.english, ids.russian, ids.kazakh]
    assert queue_ids(ui, sort="nonsense") == queue_ids(ui)


def many(ui: UI, count: int) -> list[str]:
    """``count`` more testimonies, as a sync keeps them, folded into the desk's cache."""
    made = []
    for n in range(count):
        testimony_id = f"{n:064x}"
        ui.workstation.cache.put_record(
            "submission",
            testimony_id,
            {
                "index": 10_000 + n,
                "received": f"2020-03-{1 + n // 24:02d}T{n % 24:02d}:00:00Z",
                "intake_key": "00" * 16,
                "witness": None,
                "witness_box": None,
                "statement": {
                    "v": 1,
                    "form": {"id": KORDAI.id, "version": KORDAI.version, "sha256": KORDAI.sha256},
                    "lang": "ru",
                    "answers": {
                        "narrative": f"Свидетельство номер {n}.",
                        "where": {"id": "kordai"},
                    },
                    "attachments": [],
                    "consent": {"share_with": [], "contact": False},
                },
                "attachments": [],
                "followups": [],
            },
        )
        made.append(testimony_id)
    refold(ui)
    return made


def test_paging_with_the_total(ui: UI) -> None:
    made = many(ui, 150)  # and the fixture's 4: 154
    first = ui.get("/queue")
    assert len(ids_of(first.text)) == 100
    assert ids_of(first.text)[:2] == [made[-1], made[-2]]
    assert "1–100 of 154 testimonies" in text_of(first.text)
    assert "page 1 of 2" in text_of(first.text)
    assert 'href="/queue?page=2" rel="next"' in first.text
    second = ui.get("/queue?page=2")
    assert len(ids_of(second.text)) == 54
    assert "101–154 of 154 testimonies" in text_of(second.text)
    assert ids_of(second.text)[-4:] == [
        ui.ids.hostile,
        ui.ids.english,
        ui.ids.kazakh,
        ui.ids.russian,
    ]
    assert set(ids_of(first.text)).isdisjoint(ids_of(second.text))
    assert 'href="/queue" rel="prev"' in second.text
    # Past the end: the last page; nonsense: the first.
    assert ids_of(ui.get("/queue?page=99").text) == ids_of(second.text)
    assert ids_of(ui.get("/queue?page=x").text) == ids_of(first.text)
    # Paging keeps the filters.
    filtered = ui.get("/queue?place=kordai&page=2")
    assert "101–150 of 150 testimonies" in text_of(filtered.text)
    assert 'href="/queue?place=kordai" rel="prev"' in filtered.text


def test_triage_pages_with_offset_and_sort(ui: UI) -> None:
    cache = ui.workstation.cache
    everything, total = triage.testimonies(cache)
    assert total == 4
    assert [t.id for t in everything] == [
        ui.ids.hostile,
        ui.ids.english,
        ui.ids.kazakh,
        ui.ids.russian,
    ]
    page, total = triage.testimonies(cache, limit=2, offset=1)
    assert total == 4 and [t.id for t in page] == [ui.ids.english, ui.ids.kazakh]
    page, _ = triage.testimonies(cache, offset=3)
    assert [t.id for t in page] == [ui.ids.russian]
    page, _ = triage.testimonies(cache, sort="oldest", limit=1)
    assert [t.id for t in page] == [ui.ids.russian]
    ws = ui.workstation
    ws.annotate({"v": 1, "kind": "assign", "testimony": ui.ids.kazakh, "reviewer": ws.me.id})
    triage.refresh(cache)
    unassigned, total = triage.testimonies(cache, triage.Filters(unassigned=True))
    assert total == 3 and ui.ids.kazakh not in [t.id for t in unassigned]
    with pytest.raises(triage.WorkstationError):
        triage.testimonies(cache, sort="random")


# --- bulk changes -------------------------------------------------------------------------------


def test_bulk_state_change_publishes_one_annotation_each(ui: UI) -> None:
    ids = ui.ids
    chosen = [ids.russian, ids.english, ids.hostile]
    before = len(ui.server.posted)
    answer = ui.post(
        "/queue/bulk",
        {"do": "state", "state": "in-review", "id": chosen, "back": "/queue?state=new"},
    )
    assert answer.headers["location"] == "/queue?state=new"
    html = followed(ui, answer)
    assert "3 testimonies moved to in-review." in flash_texts(html)
    assert len(ui.server.posted) == before + 3
    for testimony_id in chosen:
        assert triage.testimony(ui.workstation.cache, testimony_id).state == "in-review"
    # The filtered queue it went back to no longer holds them.
    assert ids_of(html) == []


def test_bulk_tag_and_untag(ui: UI) -> None:
    ids = ui.ids
    answer = ui.post(
        "/queue/bulk",
        {"do": "tag", "tag": "violation/looting", "id": [ids.russian, ids.english]},
    )
    looting = vocabulary.tag(ui.workstation.cache, "violation/looting")
    assert looting is not None
    assert f"2 testimonies tagged {looting.label('en')}." in flash_texts(followed(ui, answer))
    for testimony_id in (ids.russian, ids.english):
        assert "violation/looting" in triage.testimony(ui.workstation.cache, testimony_id).tags
    assert "violation/looting" not in triage.testimony(ui.workstation.cache, ids.kazakh).tags

    answer = ui.post(
        "/queue/bulk", {"do": "untag", "untag_tag": "violation/arson", "id": ids.russian}
    )
    followed(ui, answer)
    assert "violation/arson" not in triage.testimony(ui.workstation.cache, ids.russian).tags


def test_bulk_on_every_row_of_the_page(ui: UI) -> None:
    page_ids = ids_of(ui.get("/queue?language=ru").text)
    answer = ui.post(
        "/queue/bulk",
        {"do": "state", "state": "needs-follow-up", "all": "1", "page_id": page_ids},
    )
    assert "2 testimonies moved to needs-follow-up." in flash_texts(followed(ui, answer))
    assert {triage.testimony(ui.workstation.cache, i).state for i in page_ids} == {
        "needs-follow-up"
    }


def test_a_refused_bulk_change_keeps_the_state_and_says_why(ui: UI) -> None:
    ids = ui.ids
    before = len(ui.server.posted)
    for data, words in (
        ({"do": "tag", "tag": "violation/no-such", "id": [ids.russian]}, "Nothing was changed"),
        ({"do": "state", "state": "in-review"}, "no testimony is selected"),
        ({"do": "state", "state": "finished", "id": [ids.russian]}, "choose one of the states"),
        ({"do": "state", "state": "in-review", "id": [ids.russian, "ab" * 32]}, "no testimony"),
        ({"do": "explode", "id": [ids.russian]}, "Choose what to do"),
    ):
        answer = ui.post("/queue/bulk", {**data, "back": "/queue?language=ru"})
        assert answer.headers["location"] == "/queue?language=ru"
        shown = " ".join(flash_texts(followed(ui, answer)))
        assert words in shown, (data, shown)
    assert len(ui.server.posted) == before
    assert triage.testimony(ui.workstation.cache, ids.russian).state == "new"
    assert triage.testimony(ui.workstation.cache, ids.russian).tags == ("violation/arson",)


def test_a_bulk_change_refused_half_way_says_which_were_changed(ui: UI, monkeypatch: Any) -> None:
    ids = ui.ids
    chosen = [ids.hostile, ids.english, ids.kazakh, ids.russian]
    sent = ui.server.post_entry
    calls = []

    def third_refused(entry: Any, blob: bytes | None = None) -> dict[str, Any]:
        calls.append(entry)
        if len(calls) == 3:
            raise ServerRefused("post the annotation", 409, "stale-epoch")
        return sent(entry, blob)

    monkeypatch.setattr(ui.server, "post_entry", third_refused)
    answer = ui.post("/queue/bulk", {"do": "state", "state": "rejected", "id": chosen})
    shown = " ".join(flash_texts(followed(ui, answer)))
    assert f"Stopped at {ids.kazakh[:12]}" in shown
    assert "stale-epoch" in shown
    assert f"Changed (2 testimonies): {ids.hostile[:12]}, {ids.english[:12]}" in shown
    assert f"Not changed (2 testimonies): {ids.kazakh[:12]}, {ids.russian[:12]}" in shown
    cache = ui.workstation.cache
    assert [triage.testimony(cache, i).state for i in chosen] == [
        "rejected",
        "rejected",
        "in-review",
        "new",
    ]


def test_a_bulk_change_without_the_token_is_refused(ui: UI) -> None:
    answer = ui.client.post(
        "/queue/bulk",
        data={"do": "state", "state": "rejected", "id": [ui.ids.russian]},
        headers={"Origin": ui.origin, "Sec-Fetch-Site": "same-origin"},
    )
    assert answer.status_code == 403
    assert triage.testimony(ui.workstation.cache, ui.ids.russian).state == "new"


def test_the_bulk_form_needs_no_script(ui: UI) -> None:
    html = ui.get("/queue").text
    form = re.search(r'<form id="queue-bulk".*?</form>', html, flags=re.S)
    assert form is not None
    assert 'method="post" action="/queue/bulk"' in form.group(0)
    assert f'name="csrf" value="{ui.csrf}"' in form.group(0)
    assert form.group(0).count('type="checkbox" name="id"') == 4
    assert 'id="queue-all" name="all" value="1"' in form.group(0)


# --- untrusted text -----------------------------------------------------------------------------


def test_the_hostile_testimony_is_inert(ui: UI) -> None:
    html = ui.get("/queue").text
    row = row_of(html, ui.ids.hostile)
    assert "<script" not in html.replace('<script src="/static/', "")
    assert "&lt;script&gt;alert" in row
    assert 'href="javascript' not in html
    assert "\u202e" not in html
    assert '<span class="cc" title="RIGHT-TO-LEFT OVERRIDE">U+202E</span>' in row
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in row
    assert 'style="' not in html and " onclick" not in html


# --- the fragment -------------------------------------------------------------------------------


def test_the_fragment_is_only_the_rows(ui: UI) -> None:
    answer = ui.get("/queue?place=masanchi&fragment=1", headers=FRAGMENT)
    assert answer.status_code == 200
    body = answer.text
    assert body.lstrip().startswith('<div id="queue-results"')
    for absent in ("<html", "<head", "<header", "queue-filters", "<form", "<script", "csrf"):
        assert absent not in body, absent
    assert ids_of(body) == [ui.ids.english, ui.ids.russian]
    assert "1–2 of 2 testimonies" in text_of(body)
    assert 'data-url="/queue?place=masanchi"' in body
    # Without the header it is the whole page (a bookmarked address still works).
    whole = ui.get("/queue?place=masanchi&fragment=1")
    assert "<html" in whole.text and 'id="queue-filters"' in whole.text


def test_the_fragment_keeps_the_next_pages_message(ui: UI) -> None:
    ui.post("/queue/bulk", {"do": "state", "state": "in-review"})  # refused: a message waits
    ui.get("/queue?fragment=1", headers=FRAGMENT)
    assert "no testimony is selected" in " ".join(flash_texts(ui.get("/queue").text))


# --- in Chromium --------------------------------------------------------------------------------


def test_keys_and_filters_in_chromium(ui: UI) -> None:
    from playwright.sync_api import sync_playwright

    from tests.web import browser

    with live(ui.desk) as url, sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        try:
            page = chromium.new_page()
            errors: list[str] = []
            # Script errors and CSP refusals (a missing page, such as a testimony's while it
            # is being written, is no error of the queue's).
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on(
                "console",
                lambda m: (
                    errors.append(m.text)
                    if m.type == "error" and not m.text.startswith("Failed to load resource")
                    else None
                ),
            )
            page.goto(url)
            page.wait_for_url("**/queue")
            origin = url.split("/launch/")[0]
            second = ids_of(page.content())[1]
            assert second == ui.ids.english

            page.keyboard.press("j")
            page.keyboard.press("j")
            assert page.eval_on_selector("tr.current", "r => r.dataset.id") == second
            page.keyboard.press("Enter")
            page.wait_for_url(f"{origin}/testimony/{second}")

            page.goto(f"{origin}/queue")
            page.evaluate("window.stillHere = true")
            page.keyboard.press("f")
            assert page.evaluate("document.activeElement.id") == "queue-q"
            page.keyboard.type("Sortobe")
            page.wait_for_function(
                "() => location.search === '?q=Sortobe' && "
                "document.querySelectorAll('#queue-rows tr[data-href]').length === 1"
            )
            assert page.evaluate("window.stillHere") is True  # no navigation: rows replaced
            assert ids_of(page.content()) == [ui.ids.kazakh]
            assert page.url == f"{origin}/queue?q=Sortobe"

            page.select_option("#queue-language", "en")
            # However the answers arrive (keys typed meanwhile are sent together), the rows
            # and the address end up saying the same.
            page.wait_for_function(
                "() => location.search === '?language=en&q=Sortobe' && "
                "document.getElementById('queue-rows').textContent.includes('No testimony passes')"
            )
            assert page.url == f"{origin}/queue?language=en&q=Sortobe"
            assert "No testimony passes" in page.inner_text("#queue-rows")
            assert page.evaluate("window.stillHere") is True
            # The bulk form goes back to what is shown.
            assert (
                page.input_value('#queue-bulk input[name="back"]') == "/queue?language=en&q=Sortobe"
            )

            # x ticks the current row; "select all" ticks the page.
            page.fill("#queue-q", "")
            page.select_option("#queue-language", "")
            page.wait_for_function(
                "() => document.querySelectorAll('#queue-rows tr[data-href]').length === 4"
            )
            page.keyboard.press("Escape")
            page.keyboard.press("j")
            page.keyboard.press("x")
            assert page.is_checked("#queue-rows tr.current input[name=id]")
            page.check("#queue-all")
            assert page.eval_on_selector_all(
                "#queue-rows input[name=id]", "boxes => boxes.every(b => b.checked)"
            )
            assert not errors, errors
        finally:
            chromium.close()


def test_numbers_are_grouped_as_each_language_writes_them() -> None:
    assert queue.number("en", 10_000) == "10,000"
    assert queue.number("ru", 10_000) == "10\u00a0000"
    assert queue.number("en", 100) == "100"
