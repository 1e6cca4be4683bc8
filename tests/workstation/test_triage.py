"""Triage (docs/workstation.md "Daily triage", "Replies"): the state of every
testimony folded from the annotations in log order, kept in indexed tables of
the encrypted cache; the filters of ``review list``; the vocabulary seeded
from the kordai-2020 form; and the ``testimony review`` commands against a
fake server, each error one line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testimony.crypto import followup, hpke
from testimony.crypto.encoding import sha256
from testimony.crypto.entries import AnnotationEntry, SignedReplyEntry
from testimony.workstation import triage, vocabulary
from testimony.workstation.annotations import open_entry
from testimony.workstation.triage import Filters
from tests.workstation import triage_fixtures as fixtures
from tests.workstation.triage_fixtures import ENGLISH, RUSSIAN, FakeServer, Workstation, identity

ME = identity(1)
OTHER = identity(2)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workstation]:
    workstation = Workstation(tmp_path / "ws", ME)
    yield workstation
    workstation.close()


def _state(ws: Workstation, testimony: str) -> triage.Testimony:
    triage.refresh(ws.cache)
    return triage.testimony(ws.cache, testimony)


def _ids(ws: Workstation, filters: Filters) -> list[str]:
    triage.refresh(ws.cache)
    return [t.id for t in triage.testimonies(ws.cache, filters)[0]]


# --- the fold ---------------------------------------------------------------------------------


def test_the_last_state_in_log_order_wins_and_everything_is_kept(ws: Workstation) -> None:
    ws.enrol(OTHER)
    a = ws.submission()
    assert _state(ws, a).state == "new"
    ws.annotate({"v": 1, "kind": "state", "testimony": a, "state": "in-review"})
    ws.annotate({"v": 1, "kind": "assign", "testimony": a, "reviewer": OTHER.id})
    ws.annotate({"v": 1, "kind": "state", "testimony": a, "state": "needs-follow-up"}, OTHER)
    ws.annotate(
        {"v": 1, "kind": "tag", "testimony": a, "tags": ["violation/arson", "violation/looting"]}
    )
    ws.annotate({"v": 1, "kind": "untag", "testimony": a, "tags": ["violation/looting"]}, OTHER)
    ws.annotate({"v": 1, "kind": "note", "testimony": a, "text": "Видел ли сам?"})
    ws.annotate({"v": 1, "kind": "translation", "testimony": a, "lang": "en", "text": "At night"})
    ws.annotate(
        {
            "v": 1,
            "kind": "translation",
            "testimony": a,
            "lang": "en",
            "text": "At night, on 7 February",
        }
    )
    row = _state(ws, a)
    assert row.state == "needs-follow-up" and row.assignee == OTHER.id
    assert row.tags == ("violation/arson",)
    # The witness's own choices stay apart from the reviewers' tags.
    assert row.witness_tags == (
        "perpetrator/unknown_persons",
        "place/masanchi",
        "violation/arson",
        "violation/shooting",
    )
    assert row.notes == 1 and row.lang == "ru" and row.summary.startswith("Ночью 7 февраля")
    kinds = [e.kind for e in triage.events(ws.cache, a)]
    assert kinds == [
        "state",
        "assign",
        "state",
        "tag",
        "untag",
        "note",
        "translation",
        "translation",
    ]


def test_the_incremental_fold_is_the_fold_from_scratch(ws: Workstation) -> None:
    ids = [ws.submission(), ws.submission(ENGLISH), ws.submission(witness=False)]
    for n, testimony in enumerate(ids):
        ws.annotate({"v": 1, "kind": "state", "testimony": testimony, "state": "in-review"})
        triage.refresh(ws.cache)
        ws.annotate(
            {
                "v": 1,
                "kind": "tag",
                "testimony": testimony,
                "tags": [f"violation/{['arson', 'killing', 'threats'][n]}"],
            }
        )
        triage.refresh(ws.cache)
    ws.annotate({"v": 1, "kind": "state", "testimony": ids[0], "state": "corroborated"})
    triage.refresh(ws.cache)
    before = triage.testimonies(ws.cache)[0]
    again = triage.rebuild(ws.cache)
    assert again.annotations == 7
    assert triage.testimonies(ws.cache)[0] == before


def test_an_annotation_that_arrives_behind_others_refolds_in_log_order(ws: Workstation) -> None:
    a = ws.submission()
    late = ws.annotate({"v": 1, "kind": "state", "testimony": a, "state": "rejected"}, record=False)
    ws.annotate({"v": 1, "kind": "state", "testimony": a, "state": "in-review"})
    assert _state(ws, a).state == "in-review"
    assert late  # logged before, read only now (its epoch's secret came later, say)
    ws.sync_annotations()
    done = triage.refresh(ws.cache)
    assert done.rebuilt
    assert triage.testimony(ws.cache, a).state == "in-review"  # the later entry still wins


def test_what_is_not_a_payload_of_ours_is_skipped_and_counted(ws: Workstation) -> None:
    a = ws.submission()
    ws.annotate({"v": 1, "kind": "state", "testimony": a, "state": "in-review"})
    ws.cache.put_record(
        "annotation",
        "ee" * 32,
        {
            "index": ws.size,
            "actor": ME.id,
            "received": "",
            "epoch": 0,
            "payload": {"v": 1, "kind": "state", "testimony": a, "state": "closed"},
        },
    )
    ws.cache.put_record(
        "annotation",
        "ef" * 32,
        {
            "index": ws.size + 1,
            "actor": ME.id,
            "received": "",
            "epoch": 0,
            "payload": {"v": 1, "kind": "stamp", "testimony": a},
        },
    )
    ws.cache.put_record(
        "annotation", "f0" * 32, {"index": ws.size + 2, "unreadable": "no-group-key"}
    )
    done = triage.refresh(ws.cache)
    assert (done.annotations, done.skipped) == (1, 2)
    assert triage.testimony(ws.cache, a).state == "in-review"


def test_a_submission_read_later_is_folded_then(ws: Workstation) -> None:
    a = ws.submission()
    record = ws.cache.record("submission", a)
    ws.cache.put_record("submission", a, {"index": record["index"], "unreadable": "no-intake-key"})
    ws.annotate({"v": 1, "kind": "state", "testimony": a, "state": "in-review"})
    row = _state(ws, a)
    assert row.state == "in-review" and not row.cached  # known from the annotation alone
    ws.cache.put_record("submission", a, record)
    row = _state(ws, a)
    assert row.cached and row.state == "in-review" and row.lang == "ru"


def test_follow_ups_and_replies_are_shown_in_order(ws: Workstation) -> None:
    a = ws.submission()
    ws.followup(a, "Я вспомнил: это было около полуночи.")
    sealed = "ab" * 32
    ws.annotate({"v": 1, "kind": "reply", "testimony": a, "sealed": sealed, "text": "Кто это был?"})
    ws.log({"type": "reply", "parent": a, "sealed": sealed}, ME)
    ws.log({"type": "reply", "parent": a, "sealed": "cd" * 32}, ME)  # its text not recorded
    row = _state(ws, a)
    assert row.followups == 1 and row.replies == 2
    events = triage.events(ws.cache, a)
    assert [e.kind for e in events] == ["followup", "reply", "reply-entry"]
    assert events[1].sent is True and events[1].payload["text"] == "Кто это был?"


# --- the list's filters -------------------------------------------------------------------------


def test_filters_by_state_tag_place_language_date_and_assignee(ws: Workstation) -> None:
    ru = ws.submission()  # Masanchi, arson
    en = ws.submission(ENGLISH)  # the road out of Sortobe, detention
    other = ws.submission(
        {**RUSSIAN, "answers": {**RUSSIAN["answers"], "where": {"id": "sortobe"}}}
    )
    ws.annotate({"v": 1, "kind": "state", "testimony": en, "state": "in-review"})
    ws.annotate({"v": 1, "kind": "tag", "testimony": en, "tags": ["place/sortobe"]})
    ws.annotate({"v": 1, "kind": "assign", "testimony": other, "reviewer": ME.id})
    assert _ids(ws, Filters()) == [other, en, ru]  # newest first
    assert _ids(ws, Filters(states=("new",))) == [other, ru]
    assert _ids(ws, Filters(states=("new", "in-review"))) == [other, en, ru]
    assert _ids(ws, Filters(tags=("violation/arson",))) == [other, ru]  # the witness's choice
    assert _ids(ws, Filters(places=("place/sortobe",))) == [other, en]  # chosen, or tagged
    assert _ids(ws, Filters(places=("place/sortobe",), states=("new",))) == [other]
    assert _ids(ws, Filters(language="en")) == [en]
    received = {t: ws.cache.record("submission", t)["received"] for t in (ru, en, other)}
    assert _ids(ws, Filters(since=received[en][:13])) == [other, en]
    assert _ids(ws, Filters(until=received[en][:13])) == [en, ru]
    assert _ids(ws, Filters(assignee=ME.id)) == [other]
    rows, total = triage.testimonies(ws.cache, Filters(), limit=1)
    assert [r.id for r in rows] == [other] and total == 3


def test_filter_by_incident_follows_merges(ws: Workstation) -> None:
    a, b = ws.submission(), ws.submission(ENGLISH)
    one, two = "11" * 16, "22" * 16
    for incident in (one, two):
        ws.annotate({"v": 1, "kind": "incident", "incident": incident, "fields": {"title": "x"}})
    link = {
        "v": 1,
        "kind": "link",
        "role": "victim",
        "reliability": "reliable",
        "validity": "confirmed",
    }
    ws.annotate({**link, "incident": one, "testimony": a})
    ws.annotate({**link, "incident": two, "testimony": b})
    assert _ids(ws, Filters(incident=one)) == [a]
    ws.annotate({"v": 1, "kind": "merge", "incident": one, "merged": [two]})
    assert _ids(ws, Filters(incident=one)) == [b, a]


# --- the vocabulary -----------------------------------------------------------------------------


def test_the_vocabulary_is_seeded_from_the_form_and_extended_by_admins_only(
    ws: Workstation,
) -> None:
    ws.enrol(OTHER)
    triage.refresh(ws.cache)
    seeded = vocabulary.tags(ws.cache)
    assert len([t for t in seeded if t.group == "violation"]) == 12
    assert [t.id for t in vocabulary.tags(ws.cache, group="place")] == [
        "place/aukhatty",
        "place/bular_batyr",
        "place/kordai",
        "place/masanchi",
        "place/sortobe",
    ]
    assert len([t for t in seeded if t.group == "perpetrator"]) == 4
    assert (
        vocabulary.tag(ws.cache, "violation/arson").label("ru")
        == "Поджог домов или другого имущества"
    )
    admin = {
        "v": 1,
        "kind": "vocabulary",
        "tag": "place/karasu",
        "labels": {"ru": "Карасу", "en": "Karasu"},
        "lat": 43.05,
        "lon": 74.8,
    }
    ws.annotate(admin)
    ws.annotate(
        {**admin, "tag": "place/kenen", "labels": {"en": "Kenen"}}, OTHER
    )  # a reviewer: ignored
    done = triage.refresh(ws.cache)
    assert done.skipped == 1
    karasu = vocabulary.tag(ws.cache, "place/karasu")
    assert karasu is not None and (karasu.lat, karasu.lon) == (43.05, 74.8)
    assert vocabulary.tag(ws.cache, "place/kenen") is None
    ws.annotate(
        {
            "v": 1,
            "kind": "vocabulary",
            "tag": "violation/looting",
            "labels": {"en": "Looting, pillage"},
            "retired": True,
        }
    )
    triage.refresh(ws.cache)
    looting = vocabulary.tag(ws.cache, "violation/looting")
    assert looting is not None and looting.retired and looting.labels["ru"] == "Грабёж, мародёрство"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("violation/arson", "violation/arson"),
        ("arson", "violation/arson"),
        ("Масанчи", "place/masanchi"),
        ("MASANCHI", "place/masanchi"),
        ("Masanchy", "place/masanchi"),
        ("Сортөбе", "place/sortobe"),
        ("Полиция", "perpetrator/police"),
        ("unknown persons", "perpetrator/unknown_persons"),
    ],
)
def test_a_tag_is_found_by_id_name_or_label_in_any_script(
    ws: Workstation, text: str, expected: str
) -> None:
    triage.refresh(ws.cache)
    assert vocabulary.resolve(ws.cache, text) == expected


def test_an_unknown_tag_is_one_clear_error(ws: Workstation) -> None:
    triage.refresh(ws.cache)
    with pytest.raises(vocabulary.UnknownTag) as caught:
        vocabulary.resolve(ws.cache, "kidnapping")
    assert caught.value.code == "unknown-tag" and "vocab add" in str(caught.value)


# --- the commands ------------------------------------------------------------------------------------


@pytest.fixture
def desk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Workstation, FakeServer]]:
    workstation, server = fixtures.desk(tmp_path, monkeypatch)
    yield workstation, server
    workstation.close()


def review(workstation: Workstation, *args: str) -> Any:
    return fixtures.command(workstation, "review", *args)


def test_the_review_commands_send_annotations_and_show_them(
    desk: tuple[Workstation, FakeServer],
) -> None:
    workstation, server = desk
    a = workstation.submission()
    workstation.submission(ENGLISH)
    listed = review(workstation, "list", "--place", "Масанчи")
    assert listed.exit_code == 0, listed.output
    assert a[:12] in listed.stdout and listed.stdout.count("\n") == 1
    for args in (
        ("state", a[:8], "in-review"),
        ("assign", a[:8], "me"),
        ("tag", a[:8], "arson", "Стрельба"),
        ("untag", a[:8], "shooting"),
        ("note", a[:8], "Проверить: видел ли сам?"),
        ("translate", a[:8], "--lang", "en", "At night they set fire to the neighbours' house."),
    ):
        result = review(workstation, *args)
        assert result.exit_code == 0, (args, result.output)
    assert [type(e) for e, _ in server.posted] == [AnnotationEntry] * 6
    opened = [open_entry(e, {0: workstation.group}) for e, _ in server.posted]  # type: ignore[arg-type]
    assert [p["kind"] for p in opened] == ["state", "assign", "tag", "untag", "note", "translation"]
    assert opened[2]["tags"] == ["violation/arson", "violation/shooting"]
    listed = review(
        workstation, "list", "--state", "in-review", "--tag", "arson", "--assigned", "me"
    )
    assert a[:12] in listed.stdout and "Arson" in listed.stdout and "1 note" in listed.stdout
    shown = review(workstation, "show", a[:8])
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert "In your own words, what happened?" in text  # the form's label, in English
    assert "Ночью 7 февраля подожгли дом соседей" in text  # the witness's words, as written
    assert "Masanchi" in text and "state: in-review" in text
    assert "Проверить: видел ли сам?" in text and "translation (en):" in text
    assert "consent: share with prosecutor, un_treaty_body; may be contacted: yes" in text
    russian = review(workstation, "show", a[:8], "--labels", "ru")
    assert "Расскажите своими словами: что произошло?" in russian.stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("show", "abc"), "unknown-testimony"),
        (("show", "ffffff"), "unknown-testimony"),
        (("state", "{id}", "closed"), "unknown-state"),
        (("tag", "{id}", "kidnapping"), "unknown-tag"),
        (("list", "--since", "yesterday"), "bad-date"),
        (("assign", "{id}", "5562 39ff"), "reviewer-id-invalid"),
        (("assign", "{id}", "00" * 16), "no-standing"),
        (("note", "{id}", "   "), "annotation-invalid"),
        (("reply", "{id}", "Когда?"), "witness-box-unknown"),
    ],
)
def test_each_error_is_one_line_and_sends_nothing(
    desk: tuple[Workstation, FakeServer], args: tuple[str, ...], code: str
) -> None:
    workstation, server = desk
    a = workstation.submission()
    result = review(workstation, *(arg.replace("{id}", a[:10]) for arg in args))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("testimony: ") and lines[0].endswith(f"({code})")
    assert server.posted == []


def test_a_reply_is_sealed_to_the_witness_and_its_text_kept_for_the_team(
    desk: tuple[Workstation, FakeServer],
) -> None:
    workstation, server = desk
    witness_seed = os.urandom(32)
    a = workstation.submission(witness_key=witness_seed)
    # The sync can give the key itself only if the server serves it (see docs/workstation.md).
    record = workstation.cache.record("submission", a)
    workstation.cache.put_record(
        "submission", a, {**record, "witness_box": hpke.public_key(witness_seed).hex()}
    )
    result = review(workstation, "reply", a[:8], "Кто это был? Вы видели их лица?")
    assert result.exit_code == 0, result.output
    (note, no_blob), (entry, blob) = server.posted
    assert isinstance(note, AnnotationEntry) and no_blob is None
    assert isinstance(entry, SignedReplyEntry) and entry.parent == a and blob is not None
    assert entry.sealed == sha256(blob).hex()
    assert followup.open_reply(witness_seed, blob) == {
        "v": 1,
        "text": "Кто это был? Вы видели их лица?",
    }
    recorded = open_entry(note, {0: workstation.group})
    assert recorded == {
        "v": 1,
        "kind": "reply",
        "testimony": a,
        "sealed": entry.sealed,
        "text": "Кто это был? Вы видели их лица?",
    }
    shown = review(workstation, "show", a[:8])
    assert "reply to the witness (sent)" in shown.stdout
    assert "Кто это был?" in shown.stdout


def test_the_vocabulary_commands(desk: tuple[Workstation, FakeServer]) -> None:
    workstation, server = desk
    listed = review(workstation, "vocab", "list", "--group", "place")
    assert "place/masanchi" in listed.stdout and "Masanchi" in listed.stdout
    added = review(
        workstation,
        "vocab",
        "add",
        "place/karasu",
        "--label",
        "ru=Карасу",
        "--label",
        "en=Karasu",
        "--lat",
        "43.05",
        "--lon",
        "74.8",
    )
    assert added.exit_code == 0, added.output
    listed = review(workstation, "vocab", "list", "--group", "place", "--labels", "ru")
    assert "Карасу  (43.05, 74.8)" in listed.stdout
    assert review(workstation, "tag", workstation.submission()[:8], "Карасу").exit_code == 0
    assert len(server.posted) == 2
