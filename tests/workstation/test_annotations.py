"""Annotation entries (docs/protocol.md §12.6, docs/log-entries.md "Annotation
payloads"): every payload kind checked, sealed under a key of its own, with
the blind indexes of the values it concerns and no others; the vectors'
sealed annotation opens; an annotation sent is kept until sync brings it back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testimony.crypto import keyring
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.entries import AnnotationEntry, parse_entry
from testimony.workstation import annotations, triage
from testimony.workstation.annotations import (
    AnnotationInvalid,
    Organisation,
    build_entry,
    check_payload,
    indexed_values,
    open_entry,
)
from testimony.workstation.home import WorkstationError
from tests.vectors.loader import load_json
from tests.workstation.triage_fixtures import FakeServer, Workstation, identity

T = "ab" * 32
U = "cd" * 32
I = "12" * 16  # noqa: E741
J = "34" * 16
G = bytes(range(32))
ME = identity(1)

PAYLOADS: dict[str, dict[str, Any]] = {
    "state": {"v": 1, "kind": "state", "testimony": T, "state": "duplicate", "duplicate_of": U},
    "assign": {"v": 1, "kind": "assign", "testimony": T, "reviewer": ME.id},
    "tag": {"v": 1, "kind": "tag", "testimony": T, "tags": ["place/masanchi", "violation/arson"]},
    "untag": {"v": 1, "kind": "untag", "testimony": T, "tags": ["violation/arson"]},
    "note": {"v": 1, "kind": "note", "testimony": T, "text": "Спросить, видел ли сам."},
    "translation": {
        "v": 1,
        "kind": "translation",
        "testimony": T,
        "lang": "en",
        "text": "At night",
    },
    "reply": {"v": 1, "kind": "reply", "testimony": T, "sealed": "ef" * 32, "text": "Когда?"},
    "vocabulary": {
        "v": 1,
        "kind": "vocabulary",
        "tag": "place/karasu",
        "labels": {"ru": "Карасу", "en": "Karasu"},
        "lat": 43.1,
        "lon": 74.9,
    },
    "incident": {
        "v": 1,
        "kind": "incident",
        "incident": I,
        "fields": {
            "title": "Поджоги в Масанчи",
            "start": "2020-02-07",
            "end": "2020-02-08T03:00",
            "status": "alleged",
            "description": "",
            "places": [
                {"place": "place/masanchi", "name": "Masanchi", "lat": 42.93, "lon": 75.3},
                {"place": None, "name": "the road to Sortobe", "lat": None, "lon": None},
            ],
            "acts": [
                {
                    "violation": "violation/arson",
                    "victims": {"count": 5, "persons": ["V-017"]},
                    "perpetrators": [
                        {"type": "perpetrator/unknown_persons", "count": 10, "persons": []}
                    ],
                }
            ],
        },
    },
    "link": {
        "v": 1,
        "kind": "link",
        "incident": I,
        "testimony": T,
        "role": "eyewitness",
        "reliability": "usually-reliable",
        "validity": "probably-true",
    },
    "unlink": {"v": 1, "kind": "unlink", "incident": I, "testimony": T},
    "merge": {"v": 1, "kind": "merge", "incident": I, "merged": [J]},
}


def test_every_kind_is_defined_and_round_trips_through_a_sealed_entry() -> None:
    assert set(PAYLOADS) == annotations.KINDS
    bits = keyring.DEFAULT_INDEX_BITS
    for kind, payload in PAYLOADS.items():
        entry = build_entry(ME, epoch=3, group_secret=G, index_bits=bits, payload=payload)
        sent = AnnotationEntry.parse(entry.to_json(), logged=False)
        sent.verify_signature(ME.sign_public)
        assert sent.actor == ME.id and sent.epoch == 3
        assert open_entry(sent, {3: G}) == payload, kind
        k_b = keyring.blind_index_key(G)
        expected = sorted(
            {keyring.blind_index(k_b, k, v, bits[k]) for k, v in indexed_values(payload)}
        )
        assert list(sent.index) == expected, kind
        # What the server sees names none of it.
        for secret in ("Масанчи", "masanchi", "arson", T, I, "Когда"):
            assert secret.encode() not in entry.to_json(), (kind, secret)


def test_only_tags_places_and_incidents_are_indexed() -> None:
    assert indexed_values(PAYLOADS["tag"]) == [
        ("place", "place/masanchi"),
        ("tag", "violation/arson"),
    ]
    assert indexed_values(PAYLOADS["incident"]) == [("incident", I), ("place", "place/masanchi")]
    assert indexed_values(PAYLOADS["merge"]) == [("incident", I), ("incident", J)]
    assert indexed_values(PAYLOADS["link"]) == [("incident", I)]
    for kind in ("state", "assign", "note", "translation", "reply"):
        assert indexed_values(PAYLOADS[kind]) == [], kind
    # A kind the policy gives no width is not indexed at all.
    entry = build_entry(
        ME, epoch=0, group_secret=G, index_bits={"incident": 8}, payload=PAYLOADS["tag"]
    )
    assert entry.index == ()


def test_each_payload_has_its_own_key_and_a_fresh_nonce() -> None:
    one, two = (
        build_entry(ME, epoch=0, group_secret=G, index_bits={}, payload=PAYLOADS["note"])
        for _ in range(2)
    )
    assert one.nonce != two.nonce and one.sealed != two.sealed
    assert keyring.group_key(G, one.nonce) != keyring.group_key(G, two.nonce)
    with pytest.raises(WorkstationError) as caught:
        open_entry(one, {1: G})
    assert caught.value.code == "epoch-unknown"


def test_the_vectors_sealed_annotation_opens() -> None:
    vector = load_json("testimony/reviewers.json")["keyring"]
    entry = AnnotationEntry.parse(
        json.dumps(vector["annotation"]["entry"], separators=(",", ":"), sort_keys=True).encode(),
        logged=False,
    )
    assert open_entry(entry, {0: bytes.fromhex(vector["G"])}) == vector["annotation"]["payload"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "stamp"}, "kind"),
        ({"v": 2}, "`v: 1`"),
        ({"state": "closed"}, "`state`"),
        ({"extra": 1}, "`extra` is not a member"),
        ({"testimony": "AB" * 32}, "`testimony`"),
        ({"duplicate_of": T}, "no duplicate of itself"),
    ],
)
def test_a_state_payload_is_checked(change: dict[str, Any], message: str) -> None:
    with pytest.raises(AnnotationInvalid) as caught:
        check_payload({**PAYLOADS["state"], **change})
    assert message in str(caught.value)
    assert caught.value.code == "annotation-invalid"


@pytest.mark.parametrize(
    ("kind", "change", "message"),
    [
        ("state", {"state": "new", "duplicate_of": U}, "goes with the state `duplicate`"),
        ("tag", {"tags": ["violation/arson", "place/masanchi"]}, "sorted"),
        ("tag", {"tags": []}, "list of tag ids"),
        ("tag", {"tags": ["arson"]}, "<group>/<name>"),
        ("note", {"text": "   "}, "not blank"),
        ("translation", {"lang": "English"}, "BCP 47"),
        ("reply", {"sealed": "ef" * 31}, "SHA-256"),
        ("link", {"role": "witness"}, "eyewitness"),
        ("link", {"reliability": "A"}, "cannot-judge"),
        ("merge", {"merged": [I]}, "without `incident`"),
        ("vocabulary", {"lat": 95.0}, "-90 to 90"),
        ("vocabulary", {"tag": "violation/kidnap"}, "only a place has coordinates"),
    ],
)
def test_other_payloads_are_checked(kind: str, change: dict[str, Any], message: str) -> None:
    with pytest.raises(AnnotationInvalid) as caught:
        check_payload({**PAYLOADS[kind], **change})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "non-empty"),
        ({"colour": "red"}, "not a field"),
        ({"start": "07.02.2020"}, "YYYY"),
        ({"start": "2020-02-08", "end": "2020-02-07"}, "before `start`"),
        ({"status": "proven"}, "alleged"),
        (
            {"places": [{"place": "violation/arson", "name": "x", "lat": None, "lon": None}]},
            "group `place`",
        ),
        ({"places": [{"place": None, "name": "x", "lat": 42.0, "lon": None}]}, "both"),
        (
            {
                "acts": [
                    {
                        "violation": "violation/arson",
                        "victims": {"count": -1, "persons": []},
                        "perpetrators": [],
                    }
                ]
            },
            "whole number",
        ),
        (
            {
                "acts": [
                    {
                        "violation": "perpetrator/police",
                        "victims": {"count": None, "persons": []},
                        "perpetrators": [],
                    }
                ]
            },
            "group `violation`",
        ),
    ],
)
def test_incident_fields_are_checked(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(AnnotationInvalid) as caught:
        check_payload({"v": 1, "kind": "incident", "incident": I, "fields": fields})
    assert message in str(caught.value)


def test_roles_are_replayed_from_the_cached_governance_entries(tmp_path: Path) -> None:
    reviewer = identity(2)
    ws = Workstation(tmp_path / "ws", ME)
    before = ws.size
    ws.enrol(reviewer)
    organisation = Organisation.from_cache(ws.cache)
    assert organisation.role_at(ME.id, 1) is None  # not before the org entry
    assert organisation.role_at(ME.id, 2) == "admin"
    assert organisation.role_at(reviewer.id, before) is None
    assert organisation.role_at(reviewer.id, ws.size) == "reviewer"
    assert organisation.role(reviewer.id) == "reviewer"
    assert organisation.index_bits == dict(keyring.DEFAULT_INDEX_BITS)
    ws.close()


def test_an_annotation_sent_is_folded_at_once_and_once_only(tmp_path: Path) -> None:
    ws = Workstation(tmp_path / "ws", ME)
    testimony = ws.submission()
    server = FakeServer(ws)
    payload = {"v": 1, "kind": "state", "testimony": testimony, "state": "in-review"}
    sent = annotations.publish(ws.cache, server, ME, payload)
    logged = parse_entry(server.posted[0][0].to_json(), logged=False)
    assert isinstance(logged, AnnotationEntry)
    assert sent.payload == payload and sent.actor == ME.id
    triage.refresh(ws.cache)
    assert triage.testimony(ws.cache, testimony).state == "in-review"
    # The sync brings it back from the log: nothing is folded twice, the copy goes.
    assert ws.sync_annotations() == 1
    again = triage.refresh(ws.cache)
    assert again.annotations == 0 and not again.rebuilt
    assert ws.cache.query("SELECT count(*) FROM ws_pending_annotations") == [(0,)]
    assert triage.testimony(ws.cache, testimony).state == "in-review"
    ws.close()


def test_a_receipt_for_another_entry_is_refused(tmp_path: Path) -> None:
    ws = Workstation(tmp_path / "ws", ME)
    testimony = ws.submission()

    class Liar(FakeServer):
        def post_entry(self, entry: Any, blob: bytes | None = None) -> dict[str, Any]:
            other = build_entry(
                ME,
                epoch=0,
                group_secret=ws.group,
                index_bits={},
                payload={"v": 1, "kind": "note", "testimony": testimony, "text": "other"},
            )
            return super().post_entry(other, blob)

    with pytest.raises(WorkstationError) as caught:
        annotations.publish(
            ws.cache, Liar(ws), ME, {"v": 1, "kind": "note", "testimony": testimony, "text": "x"}
        )
    assert caught.value.code == "receipt-mismatch"
    assert annotations.pending_annotations(ws.cache) == []
    ws.close()


def test_without_a_group_secret_nothing_is_sent(tmp_path: Path) -> None:
    ws = Workstation(tmp_path / "ws", ME)
    ws.cache.remove_group(0)
    server = FakeServer(ws)
    with pytest.raises(WorkstationError) as caught:
        annotations.publish(ws.cache, server, ME, PAYLOADS["note"])
    assert caught.value.code == "no-group-secret" and server.posted == []
    ws.close()


def test_the_sealed_bytes_are_padded() -> None:
    short = build_entry(ME, epoch=0, group_secret=G, index_bits={}, payload=PAYLOADS["note"])
    longer = build_entry(
        ME,
        epoch=0,
        group_secret=G,
        index_bits={},
        payload={**PAYLOADS["note"], "text": PAYLOADS["note"]["text"] + "!"},
    )
    assert len(short.sealed) == len(longer.sealed)  # Padmé hides one character
    assert b64u_decode(b64u_encode(short.sealed)) == short.sealed
