"""Canonical incident records (docs/workstation.md "Incidents"): the record and
its history, links with a role and two ratings, corroboration that counts
independent sources, merges that keep one canonical record, and the
``testimony incident`` commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testimony.workstation import incidents, triage
from tests.workstation import triage_fixtures as fixtures
from tests.workstation.triage_fixtures import ENGLISH, FakeServer, Workstation, identity

ME = identity(1)
A, B, C, D = ("a1" * 16, "b2" * 16, "c3" * 16, "d4" * 16)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workstation]:
    workstation = Workstation(tmp_path / "ws", ME)
    yield workstation
    workstation.close()


def _incident(ws: Workstation, incident: str, **fields: Any) -> None:
    ws.annotate({"v": 1, "kind": "incident", "incident": incident, "fields": fields})


def _link(ws: Workstation, incident: str, testimony: str, role: str, **ratings: str) -> None:
    ws.annotate(
        {
            "v": 1,
            "kind": "link",
            "incident": incident,
            "testimony": testimony,
            "role": role,
            "reliability": ratings.get("reliability", "cannot-judge"),
            "validity": ratings.get("validity", "cannot-judge"),
        }
    )


def _record(ws: Workstation, incident: str) -> incidents.Incident:
    triage.refresh(ws.cache)
    return incidents.get(ws.cache, incidents.canonical(ws.cache, incident))


ACT = {
    "violation": "violation/arson",
    "victims": {"count": 5, "persons": ["V-017", "V-018"]},
    "perpetrators": [
        {"type": "perpetrator/unknown_persons", "count": 10, "persons": []},
        {"type": "perpetrator/police", "count": None, "persons": ["P-3"]},
    ],
}


def test_a_record_is_made_edited_field_by_field_and_keeps_its_history(ws: Workstation) -> None:
    _incident(
        ws,
        A,
        title="Поджоги в Масанчи",
        start="2020-02-07",
        status="alleged",
        places=[{"place": "place/masanchi", "name": "Masanchi", "lat": 42.93, "lon": 75.3}],
    )
    _incident(ws, A, acts=[ACT], end="2020-02-08T03:00")
    _incident(ws, A, status="corroborated", description="Houses burnt on Lenin street.")
    record = _record(ws, A)
    assert record.title == "Поджоги в Масанчи" and record.status == "corroborated"
    assert (record.start, record.end) == ("2020-02-07", "2020-02-08T03:00")
    assert record.places[0]["lat"] == 42.93
    assert record.victims() == (5, ["V-017", "V-018"])
    assert record.perpetrator_types() == ["perpetrator/police", "perpetrator/unknown_persons"]
    assert record.violations() == ["violation/arson"]
    history = incidents.history(ws.cache, A)
    assert [sorted(c.payload["fields"]) for c in history] == [
        ["places", "start", "status", "title"],
        ["acts", "end"],
        ["description", "status"],
    ]
    assert all(c.actor == ME.id for c in history)
    assert [i.id for i in incidents.incidents(ws.cache, place="place/masanchi")] == [A]
    assert incidents.incidents(ws.cache, place="place/sortobe") == []
    assert [i.id for i in incidents.incidents(ws.cache, violation="violation/arson")] == [A]


def test_links_carry_a_role_and_two_separate_ratings(ws: Workstation) -> None:
    t = ws.submission()
    _incident(ws, A, title="x")
    _link(ws, A, t, "hearsay")
    _link(ws, A, t, "eyewitness", reliability="usually-reliable", validity="probably-true")
    (link,) = _record(ws, A).links
    assert (link.role, link.reliability, link.validity) == (
        "eyewitness",
        "usually-reliable",
        "probably-true",
    )
    assert incidents.linked_incidents(ws.cache, t)[0][0] == A
    ws.annotate({"v": 1, "kind": "unlink", "incident": A, "testimony": t})
    assert _record(ws, A).links == []


def test_corroboration_counts_independent_sources(ws: Workstation) -> None:
    seed = b"\x07" * 32
    same_person = [ws.submission(witness_key=seed), ws.submission(ENGLISH, witness_key=seed)]
    ws.followup(same_person[0], "И ещё: их было около десяти.")  # the same person again
    anonymous = [ws.submission(witness=False), ws.submission(witness=False)]
    other = ws.submission()
    rejected = ws.submission()
    _incident(ws, A, title="Поджоги в Масанчи")
    _link(ws, A, same_person[0], "hearsay")
    _link(ws, A, same_person[1], "eyewitness")  # one person, first-hand in one account
    _link(ws, A, anonymous[0], "relative")
    _link(ws, A, anonymous[1], "hearsay")
    _link(ws, A, other, "victim")
    _link(ws, A, rejected, "eyewitness")
    ws.annotate({"v": 1, "kind": "state", "testimony": rejected, "state": "rejected"})
    triage.refresh(ws.cache)
    counted = incidents.corroboration(ws.cache, A)
    assert counted == incidents.Corroboration(
        sources=4, first_hand=2, relayed=2, testimonies=5, excluded=1
    )


def test_a_merge_keeps_one_canonical_record_and_redirects_every_link(ws: Workstation) -> None:
    t1, t2, t3, t4 = (ws.submission() for _ in range(4))
    for incident, title in ((A, "Arson in Masanchi"), (B, "Поджог в Масанчи"), (C, "Fires, 7 Feb")):
        _incident(ws, incident, title=title)
    _link(ws, A, t1, "eyewitness", reliability="reliable")
    _link(ws, B, t1, "hearsay")  # linked to both: the canonical record's link stays
    _link(ws, B, t2, "victim")
    _link(ws, C, t3, "relative")
    ws.annotate({"v": 1, "kind": "merge", "incident": A, "merged": [B]})
    record = _record(ws, A)
    assert sorted((link.testimony, link.role) for link in record.links) == sorted(
        [(t1, "eyewitness"), (t2, "victim")]
    )
    assert record.merged == [B]
    assert incidents.get(ws.cache, B).merged_into == A and incidents.get(ws.cache, B).links == []
    # Later entries naming the merged record reach the canonical one.
    _link(ws, B, t4, "hearsay")
    ws.annotate({"v": 1, "kind": "unlink", "incident": B, "testimony": t2})
    assert sorted(link.testimony for link in _record(ws, A).links) == sorted([t1, t4])
    # A merge of a merged record into another: the chain leads to one record.
    ws.annotate({"v": 1, "kind": "merge", "incident": C, "merged": [A]})
    record = _record(ws, B)
    assert record.id == C and sorted(record.merged) == sorted([A, B])
    assert sorted(link.testimony for link in record.links) == sorted([t1, t3, t4])
    assert incidents.canonical(ws.cache, B) == C
    assert [i.id for i in incidents.incidents(ws.cache)] == [C]
    assert len(incidents.incidents(ws.cache, merged=True)) == 3
    # The full history, the merged records' included, in log order.
    history = incidents.history(ws.cache, C)
    kinds = [(c.kind, c.incident) for c in history]
    assert kinds[0] == ("incident", A) and ("merge", C) in kinds
    assert any("redirected from" in c.note for c in history)
    # Merging again changes nothing.
    ws.annotate({"v": 1, "kind": "merge", "incident": A, "merged": [B]})
    assert incidents.get(ws.cache, C).merged == sorted([A, B])


def test_edits_to_a_merged_record_stay_with_it(ws: Workstation) -> None:
    _incident(ws, A, title="kept")
    _incident(ws, B, title="merged")
    ws.annotate({"v": 1, "kind": "merge", "incident": A, "merged": [B]})
    _incident(ws, B, title="edited after the merge")
    assert _record(ws, B).title == "kept"
    merged = incidents.get(ws.cache, B)
    assert merged.title == "edited after the merge"
    assert incidents.history(ws.cache, B)[-1].note == f"made to a record merged into {A}"


def test_ids_are_found_by_prefix(ws: Workstation) -> None:
    neighbour = "a1a1ff" + "00" * 13
    _incident(ws, A, title="x")
    _incident(ws, neighbour, title="y")
    triage.refresh(ws.cache)
    assert incidents.find(ws.cache, A[:8]) == A
    assert incidents.find(ws.cache, neighbour[:6].upper()) == neighbour
    for text, code in (
        ("a1", "unknown-incident"),
        ("a1a1", "ambiguous-id"),
        ("ffff", "unknown-incident"),
    ):
        with pytest.raises(incidents.UnknownIncident) as caught:
            incidents.find(ws.cache, text)
        assert caught.value.code == code


# --- the commands ------------------------------------------------------------------------------------


@pytest.fixture
def desk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Workstation, FakeServer]]:
    workstation, server = fixtures.desk(tmp_path, monkeypatch)
    yield workstation, server
    workstation.close()


def incident(workstation: Workstation, *args: str) -> Any:
    return fixtures.command(workstation, "incident", *args)


def test_the_incident_commands(desk: tuple[Workstation, FakeServer]) -> None:
    workstation, server = desk
    eyewitness = workstation.submission()
    hearsay = workstation.submission(ENGLISH)
    made = incident(
        workstation,
        "new",
        "--title", "Поджоги в Масанчи, 7 февраля 2020",
        "--start", "2020-02-07",
        "--place", "Масанчи@42.93,75.30",
        "--place", "the mosque on Lenin street",
        "--act", "arson; victims=5,V-017; by=unknown_persons*10,police:P-3",
        "--act", "Стрельба; by=special_forces_or_military",
        "--description", "Several houses set on fire.",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    first = made.stdout.strip()
    assert len(first) == 32
    second = incident(workstation, "new", "--title", "Fires in Masanchy").stdout.strip()
    for args in (
        (
            "link",
            first[:6],
            eyewitness[:8],
            "--role",
            "eyewitness",
            "--reliability",
            "B",
            "--validity",
            "2",
        ),
        ("link", second[:6], hearsay[:8], "--role", "hearsay"),
        ("edit", first[:6], "--status", "corroborated", "--end", "2020-02-08"),
        ("merge", first[:6], second[:6]),
    ):
        result = incident(workstation, *args)
        assert result.exit_code == 0, (args, result.output)
    shown = incident(workstation, "show", second[:6])
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert f"({second[:12]} was merged into this record)" in text
    assert f"incident {first}: Поджоги в Масанчи" in text
    assert "status: corroborated · when: 2020-02-07 to 2020-02-08" in text
    assert "place: Masanchi (42.93, 75.3)" in text and "place: the mosque on Lenin street" in text
    assert "act: Arson: setting fire to houses or other property · victims: 5, V-017" in text
    assert "Unknown persons x10" in text and "Police (P-3)" in text
    assert "sources: 2 independent (1 first-hand, 1 relayed) from 2 linked testimonies" in text
    assert "usually-reliable" in text and "probably-true" in text
    assert "merged into" in text and "history:" in text
    listed = incident(workstation, "list")
    assert first[:12] in listed.stdout and second[:12] not in listed.stdout
    assert "2 source(s), 1 first-hand" in listed.stdout
    found = incident(workstation, "search", "Масанчи")
    assert f"incident   {first[:12]}" in found.stdout and eyewitness[:12] in found.stdout
    latin = incident(workstation, "search", "masanchy", "--kind", "incident")
    assert first[:12] in latin.stdout and eyewitness[:12] not in latin.stdout
    listed = fixtures.command(workstation, "review", "list", "--incident", second[:6])
    assert eyewitness[:12] in listed.stdout and hearsay[:12] in listed.stdout
    unlinked = incident(workstation, "unlink", first[:6], hearsay[:8])
    assert unlinked.exit_code == 0, unlinked.output
    kinds = [type(entry).__name__ for entry, _ in server.posted]
    assert kinds == ["AnnotationEntry"] * 7


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("new", "--title", "x", "--act", "kidnapping"), "unknown-tag"),
        (("new", "--title", "x", "--act", "arson; victims"), "bad-act"),
        (("new", "--title", "x", "--place", "Masanchi@north"), "bad-place"),
        (("new", "--title", "x", "--start", "7 Feb"), "annotation-invalid"),
        (("link", "{incident}", "{testimony}", "--role", "witness"), "unknown-role"),
        (
            ("link", "{incident}", "{testimony}", "--role", "victim", "--validity", "9"),
            "bad-rating",
        ),
        (("unlink", "{incident}", "{testimony}"), "not-linked"),
        (("merge", "{incident}", "{incident}"), "nothing-to-merge"),
        (("show", "zzzz"), "unknown-incident"),
        (("edit", "{incident}"), "nothing-to-change"),
    ],
)
def test_each_error_is_one_line(
    desk: tuple[Workstation, FakeServer], args: tuple[str, ...], code: str
) -> None:
    workstation, server = desk
    testimony = workstation.submission()
    _incident(workstation, A, title="x")
    filled = [a.replace("{incident}", A[:6]).replace("{testimony}", testimony[:8]) for a in args]
    result = incident(workstation, *filled)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(f"({code})"), result.stderr
    assert server.posted == []
