"""The UI's incidents pages (docs/workstation.md, "Incidents" and "The web UI").

``GET /incidents`` lists the canonical records (filters as GET parameters:
``status``, ``place``, ``violation``, ``merged``) with their corroboration,
and has the form for a new record. ``GET /incident/<id>`` (an id or a prefix
of 4 hex digits or more) shows one record as ``testimony incident show``
does — fields, acts, the independent sources, the linked testimonies, the
full history — with a timeline and a map, and the forms that change it:
edit, merge, link, unlink. A merged record is shown as merged, with a link to
the record it was merged into.

Every change goes through :mod:`testimony.workstation.actions`; the places
and acts boxes are read by ``actions.incident_fields`` exactly as the CLI's
``--place`` and ``--act`` are (one a line). A refused change keeps every
field of its form as typed (emptied boxes included) for the page it returns
to.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.responses import Response
from starlette.routing import BaseRoute

from testimony.client.errors import ClientError
from testimony.crypto.errors import CryptoError

from ... import actions, reading, triage, vocabulary
from ... import incidents as records
from ...annotations import INCIDENT_STATUSES, RELIABILITY, ROLES, STATES, VALIDITY
from ...cache import Cache
from ...home import WorkstationError
from .. import charts
from ..app import Here, page
from ..text import marked

__all__ = [
    "ROUTES",
    "act_line",
    "place_line",
    "place_point",
    "queue_href",
    "tag_label",
    "vocab_command",
    "when_text",
]

FIELDS = ("title", "start", "end", "places", "acts", "description", "status")
"""The fields of the new and edit forms (the names of their inputs)."""
LINK_FIELDS = ("testimony", "role", "reliability", "validity")
MERGE_FIELDS = ("other",)
_FORM = "incidents.form"
"""The draft naming which form the other drafts were typed in."""
RELIABILITY_LETTERS = "ABCDEF"
VALIDITY_DIGITS = "123456"


# --- small readers shared with the overview ------------------------------------------------


def tag_label(cache: Cache, tag_id: str, lang: str) -> str:
    """A tag's label in ``lang`` (its id if the vocabulary does not know it)."""
    known = vocabulary.tag(cache, tag_id)
    return known.label(lang) if known is not None else tag_id


def queue_href(**params: str) -> str:
    """The queue filtered by ``params`` (``place``, ``incident``, ``tag``, ``state``, ``q``)."""
    query = "&".join(f"{name}={quote(value, safe='/')}" for name, value in params.items())
    return "/queue" + (f"?{query}" if query else "")


def _number(value: Any) -> str:
    return repr(float(value)) if isinstance(value, int | float) else ""


def place_line(place: Mapping[str, Any]) -> str:
    """An incident's place as the places box reads it: ``NAME[@LAT,LON]``."""
    name = str(place.get("name") or place.get("place") or "")
    if place.get("lat") is not None and place.get("lon") is not None:
        return f"{name}@{_number(place['lat'])},{_number(place['lon'])}"
    return name


def _name_part(tag_id: str) -> str:
    return tag_id.split("/", 1)[1] if "/" in tag_id else tag_id


def act_line(act: Mapping[str, Any]) -> str:
    """An act as the acts box reads it: ``VIOLATION[; victims=N,V-1][; by=TYPE*N:P-1|P-2]``."""
    parts = [_name_part(str(act["violation"]))]
    victims = act.get("victims") or {}
    who = [str(victims["count"])] if victims.get("count") is not None else []
    who += [str(p) for p in victims.get("persons") or []]
    if who:
        parts.append("victims=" + ",".join(who))
    groups = []
    for group in act.get("perpetrators") or []:
        text = _name_part(str(group["type"]))
        if group.get("count") is not None:
            text += f"*{group['count']}"
        if group.get("persons"):
            text += ":" + "|".join(str(p) for p in group["persons"])
        groups.append(text)
    if groups:
        parts.append("by=" + ",".join(groups))
    return "; ".join(parts)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def place_point(
    cache: Cache, key: str, lang: str
) -> tuple[str, float | None, float | None, str | None]:
    """A place key (``place/<id>`` or a name) as (label, lat, lon, tag id)."""
    if key.startswith("place/"):
        known = vocabulary.tag(cache, key)
        if known is not None:
            return known.label(lang), known.lat, known.lon, key
        return key, None, None, key
    return key, None, None, None


def vocab_command(cache: Cache, tag_id: str) -> str:
    """The command with which an admin gives a village its coordinates (its
    English label given again: a ``--label`` is required, and replaces that label)."""
    known = vocabulary.tag(cache, tag_id)
    english = known.labels.get("en") if known is not None else None
    name = english or (known.label("en") if known is not None else _name_part(tag_id))
    return (
        f"testimony review vocab add {tag_id} --label {shlex.quote('en=' + name)} "
        "--lat LAT --lon LON"
    )


def when_text(start: str | None, end: str | None) -> str:
    """A time range as given (partial dates kept): ``start \u2013 end``; "" if neither."""
    if start and end and end != start:
        return f"{start} \u2013 {end}"
    if start:
        return start
    return f"\u2013 {end}" if end else ""


# --- keeping what was typed -----------------------------------------------------------------


@contextmanager
def _keeping(here: Here, form: str, names: Sequence[str]) -> Iterator[None]:
    """On a refused change: every field of the form kept as typed (even an
    emptied one), with the form's name, then the refusal goes on to ``page``."""
    try:
        yield
    except (WorkstationError, ClientError, CryptoError):
        here.keep(_FORM, form)
        for name in names:
            here.keep(name, here.field(name).replace("\r\n", "\n"))
        raise


def _drafts(here: Here, form: str, names: Sequence[str]) -> dict[str, str] | None:
    """What was typed in ``form`` before a refusal, if that is the form it was typed in."""
    drafts = here.session.drafts
    if drafts.get(_FORM) != form:
        return None
    here.draft(_FORM)
    return {name: here.draft(name) for name in names}


def _given(here: Here, name: str) -> str | None:
    """A form field as sent (line ends as ``\\n``), or None if the form did not send it."""
    if here.form is None:
        return None
    value = here.form.get(name)
    return value.replace("\r\n", "\n") if isinstance(value, str) else None


# --- the list -------------------------------------------------------------------------------


@dataclass
class _Row:
    record: records.Incident
    corroboration: records.Corroboration
    places: list[str]
    when: str


def _filters(here: Here) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The list's filters: for ``incidents.incidents``, as given, and the refusals."""
    cache = here.cache
    chosen: dict[str, Any] = {}
    shown = {name: here.field(name).strip() for name in ("status", "place", "violation")}
    shown["merged"] = "1" if here.field("merged") in ("1", "on", "yes") else ""
    problems: list[str] = []
    if shown["status"]:
        if shown["status"] in INCIDENT_STATUSES:
            chosen["status"] = shown["status"]
        else:
            problems.append(here.t("incidents.filter.bad_status", value=shown["status"]))
    for name in ("place", "violation"):
        if shown[name]:
            try:
                chosen[name] = vocabulary.resolve(cache, shown[name], group=name)
            except WorkstationError as refused:
                problems.append(str(refused))
    chosen["merged"] = bool(shown["merged"])
    return chosen, shown, problems


def _place_names(cache: Cache, record: records.Incident, lang: str) -> list[str]:
    names = []
    for place in record.places:
        tag = place.get("place")
        names.append(tag_label(cache, tag, lang) if tag else str(place.get("name") or ""))
    return names


def _form_values(here: Here, form: str, defaults: Mapping[str, str]) -> dict[str, str]:
    kept = _drafts(here, form, FIELDS)
    return dict(defaults) if kept is None else kept


def _vocabulary_help(cache: Cache, lang: str) -> dict[str, list[tuple[str, str]]]:
    """Names the places and acts boxes accept, with their labels, by group."""
    groups: dict[str, list[tuple[str, str]]] = {"violation": [], "perpetrator": [], "place": []}
    for known in vocabulary.tags(cache):
        if known.group in groups and not known.retired:
            groups[known.group].append((_name_part(known.id), known.label(lang)))
    return groups


def list_page(here: Here) -> Response:
    cache = here.cache
    chosen, shown, problems = _filters(here)
    found = records.incidents(
        cache,
        status=chosen.get("status"),
        place=chosen.get("place"),
        violation=chosen.get("violation"),
        merged=chosen["merged"],
    )
    rows = [
        _Row(
            record,
            records.corroboration(cache, record.id),
            _place_names(cache, record, here.lang),
            when_text(record.start, record.end),
        )
        for record in found
    ]
    values = _form_values(here, "new", {name: "" for name in FIELDS} | {"status": "alleged"})
    return here.render(
        "incidents.html",
        rows=rows,
        selected={
            "status": chosen.get("status", ""),
            "place": chosen.get("place", ""),
            "violation": chosen.get("violation", ""),
            "merged": chosen["merged"],
        },
        problems=problems,
        filtered=any(shown.values()),
        values=values,
        statuses=INCIDENT_STATUSES,
        villages=[(t.id, t.label(here.lang)) for t in vocabulary.tags(cache, group="place")],
        violations=[(t.id, t.label(here.lang)) for t in vocabulary.tags(cache, group="violation")],
        names=_vocabulary_help(cache, here.lang),
    )


def _fields_from_form(
    here: Here, current: records.Incident | None
) -> tuple[dict[str, Any], list[str]]:
    """The incident fields the form changes (all given ones for a new record;
    for an edit, those that differ from ``current``), via ``incident_fields``."""
    given: dict[str, Any] = {}
    for name in ("title", "start", "end", "description", "status"):
        value = _given(here, name)
        if value is None:
            continue
        if name in ("title", "start", "end", "status"):
            value = value.strip()
        if current is not None:
            before = getattr(current, name) or ""
            if value in (before, marked(before)):
                continue
        given[name] = value
    clear = {"places": False, "acts": False}
    for name, line in (("places", place_line), ("acts", act_line)):
        value = _given(here, name)
        if value is None:
            continue
        lines = _lines(value)
        if current is not None:
            before = [line(item).strip() for item in getattr(current, name)]
            if lines in (before, [marked(b) for b in before]):
                continue
            if not lines:
                clear[name] = True
        given[name] = lines
    fields = actions.incident_fields(
        here.cache, here.lang, **given, clear_places=clear["places"], clear_acts=clear["acts"]
    )
    return fields, sorted(fields)


def create(here: Here) -> Response:
    with _keeping(here, "new", FIELDS):
        fields, _names = _fields_from_form(here, None)
        if not str(fields.get("status") or ""):
            fields["status"] = "alleged"
        incident_id, _index = actions.new_incident(here.cache, here.identity, fields)
    return here.back(f"/incident/{incident_id}", ok=here.t("incidents.created"))


# --- one record -----------------------------------------------------------------------------


def _asked(here: Here) -> tuple[str, str]:
    """The id asked for (whole) and the canonical record it leads to."""
    asked = records.find(here.cache, str(here.request.path_params["incident"]))
    return asked, records.canonical(here.cache, asked)


@dataclass
class _Linked:
    link: records.Link
    row: triage.Testimony | None
    counted: bool
    place: str
    when: str


@dataclass
class _Act:
    violation: str
    victims_count: int | None
    victims: list[str]
    perpetrators: list[dict[str, Any]]


@dataclass
class _Change:
    index: int
    received: str
    actor: str
    elsewhere: str | None
    """The merged record this change was made to, if not this one."""
    key: str
    values: dict[str, Any] = field(default_factory=dict)


def _linked(cache: Cache, record: records.Incident, lang: str) -> list[_Linked]:
    found = []
    for link in record.links:
        try:
            row: triage.Testimony | None = triage.testimony(cache, link.testimony)
        except triage.UnknownTestimony:
            row = None
        counted = row is None or row.state not in ("duplicate", "rejected")
        place = ""
        if row is not None and row.place:
            place = place_point(cache, row.place, lang)[0]
        when = when_text(row.said_start, row.said_end) if row is not None else ""
        found.append(_Linked(link, row, counted, place, when))
    return found


def _acts(cache: Cache, record: records.Incident, lang: str) -> list[_Act]:
    found = []
    for act in record.acts:
        groups = [
            {
                "label": tag_label(cache, str(group["type"]), lang),
                "count": group.get("count"),
                "persons": list(group.get("persons") or []),
            }
            for group in act.get("perpetrators") or []
        ]
        victims = act.get("victims") or {}
        found.append(
            _Act(
                tag_label(cache, str(act["violation"]), lang),
                victims.get("count"),
                list(victims.get("persons") or []),
                groups,
            )
        )
    return found


def _changes(cache: Cache, record: records.Incident, t: Callable[..., str]) -> list[_Change]:
    """The record's history (and its merged records'), each change as a UI string's key and values."""

    def label(scale: Sequence[str], prefix: str, value: Any) -> str:
        return t(prefix + str(value)) if value in scale else str(value)

    found = []
    for change in records.history(cache, record.id):
        payload = change.payload
        elsewhere = None if change.incident == record.id else change.incident
        values: dict[str, Any] = {}
        if change.kind == "incident":
            fields = payload.get("fields", {})
            parts = []
            for name in sorted(fields):
                value = fields[name]
                shown = t("incidents.field." + name) if name in FIELDS else name
                if name in ("places", "acts"):
                    parts.append(f"{shown} ({len(value)})")
                elif name == "description":
                    parts.append(shown)
                elif name == "status":
                    parts.append(f"{shown}: {label(INCIDENT_STATUSES, 'incidents.status.', value)}")
                else:
                    parts.append(f"{shown}: {value if value is not None else '-'}")
            key, values = "incidents.change.incident", {"fields": "; ".join(parts)}
        elif change.kind == "link":
            key = "incidents.change.link"
            values = {
                "testimony": str(payload["testimony"])[:12],
                "role": label(ROLES, "incidents.role.", payload["role"]),
                "reliability": label(RELIABILITY, "incidents.reliability.", payload["reliability"]),
                "validity": label(VALIDITY, "incidents.validity.", payload["validity"]),
            }
        elif change.kind == "unlink":
            key, values = "incidents.change.unlink", {"testimony": str(payload["testimony"])[:12]}
        else:
            kept = str(payload.get("incident", ""))
            merged = [str(m) for m in payload.get("merged", [])]
            if change.incident == kept:
                key = "incidents.change.merged_here"
                values = {"others": ", ".join(m[:12] for m in merged)}
            else:
                key, values = "incidents.change.merged_away", {"kept": kept[:12]}
        if change.kind in ("link", "unlink") and payload.get("incident") != change.incident:
            values["redirected"] = str(payload.get("incident", ""))[:12]
            key += "_redirected"
        found.append(
            _Change(change.index, change.received, change.actor[:8], elsewhere, key, values)
        )
    return found


def _statement_place(cache: Cache, testimony: str) -> tuple[float | None, float | None]:
    """Coordinates the witness gave with the first place they named in their own words."""
    record = cache.record("submission", testimony)
    statement = record.get("statement") if isinstance(record, dict) else None
    if not isinstance(statement, dict):
        return None, None
    for item in reading.where(statement):
        lat, lon = item.get("lat"), item.get("lon")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            return float(lat), float(lon)
        return None, None
    return None, None


@dataclass
class _Place:
    key: str
    label: str
    lat: float | None
    lon: float | None
    tag: str | None
    count: int = 0
    of_incident: bool = False
    command: str = ""
    """For a village without coordinates: how an admin gives them."""


def _places(
    cache: Cache, record: records.Incident, linked: list[_Linked], lang: str
) -> list[_Place]:
    """The incident's places and the places its witnesses named, each counted
    by the linked testimonies that name it."""
    places: dict[str, _Place] = {}
    for item in record.places:
        tag = item.get("place")
        key = str(tag) if tag else str(item.get("name") or "")
        label, lat, lon, _tag = place_point(cache, key, lang)
        if not tag:
            label = key
        if item.get("lat") is not None and item.get("lon") is not None:
            lat, lon = float(item["lat"]), float(item["lon"])
        if key not in places:
            places[key] = _Place(key, label, lat, lon, tag, of_incident=True)
    for entry in linked:
        if entry.row is None or not entry.row.place:
            continue
        key = entry.row.place
        if key not in places:
            label, lat, lon, tag = place_point(cache, key, lang)
            if tag is None:
                lat, lon = _statement_place(cache, entry.row.id)
            places[key] = _Place(key, label, lat, lon, tag)
        places[key].count += 1
    for place in places.values():
        if place.tag and (place.lat is None or place.lon is None):
            place.command = vocab_command(cache, place.tag)
    return list(places.values())


def _timeline(here: Here, record: records.Incident, linked: list[_Linked]) -> dict[str, Any]:
    items = [
        charts.TimelineItem(
            record.id,
            record.title or record.id[:12],
            "incident",
            record.start,
            record.end,
        )
    ]
    lane = here.t("incidents.timeline.witnesses")
    undated = 0
    for entry in linked:
        row = entry.row
        if row is None or (not row.said_start and not row.said_end):
            undated += 1
            continue
        items.append(
            charts.TimelineItem(
                row.id,
                f"{row.id[:8]} \u00b7 {here.t('incidents.role.' + entry.link.role)}",
                "testimony",
                row.said_start,
                row.said_end,
                href=f"/testimony/{row.id}",
                lane=lane,
            )
        )
    headers = (
        here.t("incidents.timeline.what"),
        here.t("incidents.timeline.from"),
        here.t("incidents.timeline.to"),
    )
    return {
        "svg": charts.timeline_svg(
            items,
            title=here.t("incidents.timeline.title"),
            id_prefix="incident-timeline",
            empty=here.t("incidents.timeline.empty"),
            legend=(here.t("incidents.timeline.incident"), here.t("incidents.timeline.testimony")),
        ),
        "table": charts.timeline_table(items, headers=headers),
        "undated": undated,
    }


def _map(here: Here, places: list[_Place]) -> dict[str, Any]:
    points = [
        charts.MapPoint(
            p.key,
            p.label,
            p.lat,
            p.lon,
            p.count,
            href=queue_href(place=p.tag) if p.tag else None,
        )
        for p in places
        if p.lat is not None and p.lon is not None
    ]
    headers = (
        here.t("incidents.map.place"),
        here.t("incidents.map.coordinates"),
        here.t("incidents.map.count"),
    )
    return {
        "svg": charts.map_svg(
            points,
            title=here.t("incidents.map.title"),
            id_prefix="incident-map",
            empty=here.t("incidents.map.empty"),
        ),
        "table": charts.map_table(points, headers=headers),
        "unplaced": [p for p in places if p.lat is None or p.lon is None],
    }


def _edit_defaults(record: records.Incident) -> dict[str, str]:
    """The edit form as the record fills it. Untrusted text is given with its
    invisible characters as visible marks (⟦U+202E⟧), never raw, even in a
    field's value; a field sent back unchanged is not sent on (see
    :func:`_fields_from_form`), so the marks never replace the record's text
    unless the reviewer changes that field."""
    return {
        "title": marked(record.title),
        "start": marked(record.start or ""),
        "end": marked(record.end or ""),
        "places": "\n".join(marked(place_line(p)) for p in record.places),
        "acts": "\n".join(marked(act_line(a)) for a in record.acts),
        "description": marked(record.description),
        "status": record.status,
    }


def show(here: Here) -> Response:
    cache = here.cache
    asked, iid = _asked(here)
    record = records.get(cache, asked)
    merged_into = iid if asked != iid else None
    linked = _linked(cache, record, here.lang)
    places = _places(cache, record, linked, here.lang)
    edit_defaults = _edit_defaults(record)
    values = _form_values(here, f"edit:{record.id}", edit_defaults)
    link_values = _drafts(here, f"link:{record.id}", LINK_FIELDS) or {
        "testimony": "",
        "role": "eyewitness",
        "reliability": "cannot-judge",
        "validity": "cannot-judge",
    }
    merge_values = _drafts(here, f"merge:{record.id}", MERGE_FIELDS) or {"other": ""}
    return here.render(
        "incident.html",
        record=record,
        merged_into=merged_into,
        merged_title=records.get(cache, merged_into).title if merged_into else "",
        corroboration=records.corroboration(cache, record.id) if not merged_into else None,
        when=when_text(record.start, record.end),
        places=places,
        acts=_acts(cache, record, here.lang),
        linked=linked,
        history=_changes(cache, record, here.t),
        timeline=_timeline(here, record, linked),
        map=_map(here, places),
        values=values,
        link_values=link_values,
        merge_values=merge_values,
        statuses=INCIDENT_STATUSES,
        roles=ROLES,
        reliability=list(zip(RELIABILITY, RELIABILITY_LETTERS, strict=True)),
        validity=list(zip(VALIDITY, VALIDITY_DIGITS, strict=True)),
        states=STATES,
        names=_vocabulary_help(cache, here.lang),
        queue=queue_href(incident=iid),
    )


def _canonical_for_change(here: Here) -> str:
    return _asked(here)[1]


def edit(here: Here) -> Response:
    iid = _canonical_for_change(here)
    with _keeping(here, f"edit:{iid}", FIELDS):
        current = records.get(here.cache, iid)
        fields, names = _fields_from_form(here, current)
        actions.update_incident(here.cache, here.identity, iid, fields)
    return here.back(f"/incident/{iid}", ok=here.t("incidents.saved", fields=", ".join(names)))


_SEPARATORS = re.compile(r"[\s,;]+")


def merge(here: Here) -> Response:
    iid = _canonical_for_change(here)
    with _keeping(here, f"merge:{iid}", MERGE_FIELDS):
        others = [o for o in _SEPARATORS.split(here.field("other")) if o]
        if not others:
            raise WorkstationError(here.t("incidents.merge.none"), "nothing-to-merge")
        kept, merged, _index = actions.merge(here.cache, here.identity, iid, others)
    return here.back(
        f"/incident/{kept}",
        ok=here.t("incidents.merged", others=", ".join(m[:12] for m in merged)),
    )


def link(here: Here) -> Response:
    iid = _canonical_for_change(here)
    with _keeping(here, f"link:{iid}", LINK_FIELDS):
        testimony = triage.find(here.cache, here.field("testimony"))
        actions.link(
            here.cache,
            here.identity,
            iid,
            testimony,
            here.field("role"),
            here.field("reliability") or None,
            here.field("validity") or None,
        )
    return here.back(
        f"/incident/{iid}",
        ok=here.t(
            "incidents.linked",
            testimony=testimony[:12],
            role=here.t("incidents.role." + here.field("role")),
        ),
    )


def unlink(here: Here) -> Response:
    iid = _canonical_for_change(here)
    testimony = here.field("testimony")
    actions.unlink(here.cache, here.identity, iid, testimony)
    return here.back(f"/incident/{iid}", ok=here.t("incidents.unlinked", testimony=testimony[:12]))


ROUTES: list[BaseRoute] = [
    page("/incidents", list_page),
    page("/incidents/new", create, methods=("POST",)),
    page("/incident/{incident}", show),
    page("/incident/{incident}/edit", edit, methods=("POST",)),
    page("/incident/{incident}/merge", merge, methods=("POST",)),
    page("/incident/{incident}/link", link, methods=("POST",)),
    page("/incident/{incident}/unlink", unlink, methods=("POST",)),
]
