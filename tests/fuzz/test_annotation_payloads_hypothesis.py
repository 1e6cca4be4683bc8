"""Hypothesis properties of the workstation's reading of decrypted annotation
payloads (issue 12). A payload is whatever JSON an annotation entry's key
opens to — the sync keeps it as it opened (``workstation/sync.py``), signed
by a reviewer with standing, but not checked — so every reader of it is fed
any JSON value:

- ``annotations.check_payload``: any JSON value is a payload of
  docs/log-entries.md or ``AnnotationInvalid``; one it accepts has its
  blind-indexed values (``indexed_values``), and sealed into an entry
  (``build_entry``) opens back to exactly itself (``open_entry``);
- the triage fold (``triage.refresh``, which folds incidents with
  ``incidents.apply`` and the vocabulary with ``vocabulary.apply``): any
  payloads in the cache's annotation records are folded or skipped and
  counted, never an exception, and every list the reviewer reads afterwards
  (testimonies, incidents, an incident's history, corroboration and search
  text, the vocabulary) reads;
- ``testimony.client.bundle.verify.fold_incident`` (a bundle's incident
  record, folded by the export and again by ``testimony verify``): the
  payloads ``verify`` discloses fold to a record of the incident whose
  history lists exactly the annotations naming it, in log order.

Every property is bounded (at most 150 examples, no deadline); the file runs
in about ten seconds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from testimony.client.bundle.verify import INCIDENT_KINDS, fold_incident
from testimony.workstation import incidents, triage, vocabulary
from testimony.workstation.annotations import (
    INCIDENT_FIELDS,
    INCIDENT_STATUSES,
    KINDS,
    RELIABILITY,
    ROLES,
    STATES,
    VALIDITY,
    AnnotationInvalid,
    build_entry,
    check_payload,
    indexed_values,
    open_entry,
)
from tests.workstation.triage_fixtures import Workstation, identity

BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FOLDS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ME = identity(7)
GROUP = bytes(range(32))
TESTIMONIES = ("ab" * 32, "cd" * 32)
INCIDENTS = ("a1" * 16, "b2" * 16, "c3" * 16)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)

# Values of the shapes docs/log-entries.md names, some right, most nearly right.
VALID_TAGS = ["violation/arson", "place/masanchi", "perpetrator/police", "topic/x"]
TAGS = st.sampled_from(VALID_TAGS * 3 + ["place/", "Tag/x", "violation/A"])
DATES = st.sampled_from(["2020", "2020-02", "2020-02-07", "2020-02-07T23:30", "2020-13", ""])
COORDINATES = st.tuples(st.floats(-90, 90), st.floats(-180, 180)) | st.tuples(
    st.none() | st.floats(-100, 100) | st.integers(-100, 100) | st.booleans(),
    st.none() | st.floats(-200, 200),
)
PLACE = st.builds(
    lambda place, name, at: {"place": place, "name": name, "lat": at[0], "lon": at[1]},
    st.none() | st.sampled_from(["place/masanchi", "place/sortobe", "violation/arson"]),
    st.sampled_from(["Masanchi", "Masanchi", " "]) | st.text(max_size=4),
    st.just((None, None)) | COORDINATES,
)
PERSONS = st.lists(st.sampled_from(["V-017", "V-018", "P-3", " "]), max_size=3)
ACT = st.fixed_dictionaries(
    {
        "violation": st.sampled_from(["violation/arson", "violation/arson", "place/x"]),
        "victims": st.fixed_dictionaries(
            {"count": st.none() | st.integers(-1, 20), "persons": PERSONS}
        ),
        "perpetrators": st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["perpetrator/police", "perpetrator/army", "topic/x"]),
                    "count": st.none() | st.integers(0, 5),
                    "persons": PERSONS,
                }
            ),
            max_size=2,
        ),
    }
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "title": st.sampled_from(["Fire", "Fire", " "]) | st.text(max_size=8),
    "start": DATES,
    "end": DATES,
    "places": st.lists(PLACE, max_size=2),
    "acts": st.lists(ACT, max_size=2),
    "description": st.text(max_size=8),
    "status": st.sampled_from(INCIDENT_STATUSES),
}
FIELDS = st.lists(
    st.sampled_from(sorted(INCIDENT_FIELDS)), min_size=1, max_size=4, unique=True
).flatmap(
    lambda names: st.fixed_dictionaries({name: FIELD_VALUES.get(name, JSON) for name in names})
)
MEMBERS: dict[str, st.SearchStrategy[Any]] = {
    "testimony": st.sampled_from(TESTIMONIES),
    "duplicate_of": st.sampled_from(TESTIMONIES),
    "state": st.sampled_from(STATES) | st.just("duplicate"),
    "reviewer": st.none() | st.just(ME.id),
    "tags": st.lists(TAGS, min_size=1, max_size=3, unique=True).map(sorted)
    | st.lists(TAGS, max_size=3),
    "text": st.sampled_from(["a note", "заметка", " ", ""]),
    "lang": st.sampled_from(["en", "ru", "ru", "EN", "zz-"]),
    "sealed": st.just("ef" * 32),
    "incident": st.sampled_from(INCIDENTS),
    "merged": st.lists(st.sampled_from(INCIDENTS), min_size=1, max_size=2, unique=True).map(sorted),
    "fields": FIELDS,
    "role": st.sampled_from(ROLES),
    "reliability": st.sampled_from(RELIABILITY),
    "validity": st.sampled_from(VALIDITY),
    "tag": TAGS,
    "labels": st.dictionaries(
        st.sampled_from(["en", "ru", "x"]), st.sampled_from(["Masanchi", " "]), max_size=2
    ),
    "lat": st.floats(-90, 90),
    "lon": st.floats(-180, 180),
    "retired": st.booleans(),
}


SHAPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "state": (("testimony", "state"), ("duplicate_of",)),
    "assign": (("testimony", "reviewer"), ()),
    "tag": (("testimony", "tags"), ()),
    "untag": (("testimony", "tags"), ()),
    "note": (("testimony", "text"), ()),
    "translation": (("testimony", "lang", "text"), ()),
    "reply": (("testimony", "sealed", "text"), ()),
    "vocabulary": (("tag", "labels"), ("lat", "lon", "retired")),
    "incident": (("incident", "fields"), ()),
    "link": (("incident", "testimony", "role", "reliability", "validity"), ()),
    "unlink": (("incident", "testimony"), ()),
    "merge": (("incident", "merged"), ()),
}
"""Each kind's required and optional members (docs/log-entries.md)."""
assert set(SHAPES) == KINDS


@st.composite
def payloads(draw: st.DrawFn) -> Any:
    """A payload-like object: ``v`` and a ``kind``, its members (some optional
    ones too), each mostly a value of its shape, else any JSON; now and then a
    member left out or one added, or a kind no workstation reads."""
    kind = draw(st.sampled_from([*sorted(KINDS), "export"]))
    payload: dict[str, Any] = {"v": draw(st.sampled_from([1] * 8 + [2, "1", True])), "kind": kind}
    required, optional = SHAPES.get(kind, ((), ()))
    names = list(required)
    if optional:
        names += draw(st.lists(st.sampled_from(optional), unique=True))
    if names and draw(st.integers(0, 9)) == 0:
        names.remove(draw(st.sampled_from(names)))
    if draw(st.integers(0, 9)) == 0:
        names.append(draw(st.sampled_from(sorted(MEMBERS))))
    for name in names:
        payload[name] = draw(MEMBERS[name] if draw(st.integers(0, 5)) else JSON)
    return payload


ANY_PAYLOAD = JSON | payloads()


def _accepted(value: Any) -> dict[str, Any] | None:
    """``check_payload``'s answer: the payload, or None when refused (only ever
    with ``AnnotationInvalid``: anything else fails the test)."""
    try:
        return check_payload(value)
    except AnnotationInvalid:
        return None


# --- check_payload ----------------------------------------------------------------------


@BOUNDED
@given(ANY_PAYLOAD)
@example({"v": 1, "kind": "merge", "incident": INCIDENTS[0], "merged": [[1]]})
@example({"v": 1, "kind": "incident", "incident": INCIDENTS[0], "fields": {"places": [[]]}})
@example({"v": 1, "kind": "vocabulary", "tag": "place/x", "labels": {"en": "X"}, "lat": 1})
def test_any_json_value_is_a_payload_or_annotation_invalid(value: Any) -> None:
    payload = _accepted(value)
    if payload is None:
        return
    assert payload is value
    for kind, indexed in indexed_values(payload):
        assert kind in ("tag", "place", "incident") and isinstance(indexed, str)
    entry = build_entry(
        ME, epoch=0, group_secret=GROUP, index_bits={}, payload=payload, nonce=bytes(16)
    )
    assert open_entry(entry, {0: GROUP}) == payload


# --- the triage fold ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workstation]:
    workstation = Workstation(tmp_path_factory.mktemp("payloads") / "ws", ME)
    yield workstation
    workstation.close()


_IDS = itertools.count(1)


def _read_everything(ws: Workstation) -> None:
    """Every list and record a reviewer reads after the fold."""
    cache = ws.cache
    rows, total = triage.testimonies(cache)
    assert total == len(rows)
    for testimony in rows:
        triage.events(cache, testimony.id)
    labels = {t.id: list(t.labels.values()) for t in vocabulary.tags(cache)}
    for record in incidents.incidents(cache, merged=True):
        whole = incidents.get(cache, record.id)
        whole.victims()
        whole.perpetrator_types()
        whole.violations()
        incidents.search_text(whole, labels)
        incidents.history(cache, record.id)
        incidents.corroboration(cache, record.id)


@FOLDS
@given(st.lists(ANY_PAYLOAD, min_size=1, max_size=6), st.booleans())
def test_the_fold_reads_or_skips_any_payload(
    ws: Workstation, values: list[Any], behind: bool
) -> None:
    """``behind``: the annotations arrive behind one already folded, so the fold
    starts again from the first (triage's rebuild path)."""
    refused = sum(_accepted(value) is None for value in values)
    start = 10 if behind else 10_000 + 100 * next(_IDS)
    for n, value in enumerate(values):
        entry_id = f"{next(_IDS):064x}"
        ws.cache.put_record(
            "annotation",
            entry_id,
            {
                "index": start + n,
                "actor": ME.id,
                "received": "2020-02-08T10:00:00Z",
                "epoch": 0,
                "payload": value,
            },
        )
    done = triage.refresh(ws.cache)
    if not done.rebuilt:
        assert done.annotations + done.skipped == len(values)
        assert done.skipped >= refused
    _read_everything(ws)


# --- fold_incident ------------------------------------------------------------------------

# What ``verify`` discloses: a JSON object whose `incident` and `merged` members,
# if any, name things (its own check reads them into a set first, so a list or an
# object there fails that annotation's item before anything is folded).
NAMES = st.sampled_from(INCIDENTS) | st.none() | st.integers() | st.text(max_size=4)
DISCLOSED = st.builds(
    lambda base, kind, incident, merged, fields: {
        **base,
        "kind": kind,
        **({} if incident is None else {"incident": incident}),
        **({} if merged is None else {"merged": merged}),
        **({} if fields is None else {"fields": fields}),
    },
    st.dictionaries(st.text(max_size=6), JSON, max_size=3),
    st.sampled_from([*sorted(INCIDENT_KINDS), "note", "tag"]) | JSON.filter(lambda v: v is None),
    NAMES | st.none(),
    st.none() | st.lists(NAMES, max_size=3) | st.integers(),
    st.none() | FIELDS | JSON,
)


@BOUNDED
@given(st.lists(DISCLOSED, max_size=8), st.sampled_from(INCIDENTS))
def test_disclosed_payloads_fold_to_the_incident_s_record(
    payloads: list[dict[str, Any]], incident_id: str
) -> None:
    annotations = [(f"{n:064x}", payload) for n, payload in enumerate(payloads)]
    record = fold_incident(incident_id, annotations)
    assert set(record) == {"v", "id", "fields", "history"}
    assert record["v"] == 1 and record["id"] == incident_id
    naming = [
        entry_id
        for entry_id, payload in annotations
        if payload.get("kind") in INCIDENT_KINDS
        and (
            payload.get("incident") == incident_id
            or (
                payload.get("kind") == "merge"
                and isinstance(payload.get("merged"), list)
                and incident_id in payload["merged"]
            )
        )
    ]
    assert record["history"] == naming
    given_fields: set[str] = set()
    for payload in payloads:
        fields = payload.get("fields")
        if payload["kind"] == "incident" and payload.get("incident") == incident_id:
            given_fields |= set(fields) if isinstance(fields, dict) else set()
    assert set(record["fields"]) <= given_fields


def test_a_payload_the_workstation_accepts_folds_as_verify_reads_it(tmp_path: Path) -> None:
    """The export folds checked payloads; ``verify`` folds the same ones again."""
    made = {"v": 1, "kind": "incident", "incident": INCIDENTS[0], "fields": {"title": "Fire"}}
    merge = {"v": 1, "kind": "merge", "incident": INCIDENTS[1], "merged": [INCIDENTS[0]]}
    assert check_payload(made) and check_payload(merge)
    record = fold_incident(INCIDENTS[0], [("1" * 64, made), ("2" * 64, merge)])
    assert record == {
        "v": 1,
        "id": INCIDENTS[0],
        "fields": {"title": "Fire"},
        "history": ["1" * 64, "2" * 64],
    }
