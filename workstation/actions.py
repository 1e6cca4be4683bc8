"""The reviewer's changes, shared by the commands (``workstation/commands/``)
and the web UI (``workstation/ui/``): each builds one annotation payload
(docs/log-entries.md), checks it, sends it through the reviewer's session
and folds it into the cache at once (:func:`publish`). A refusal is a
:class:`~testimony.workstation.home.WorkstationError` (or the client's
``ServerRefused``) with a stable code; nothing is kept of a change refused.

The incident options' small languages live here too, so that ``incident new
--place`` and the UI's form read them alike: a place is ``NAME[@LAT,LON]``
(a village of the vocabulary in any script, or any other name), an act is
``VIOLATION[; victims=N,V-017,...][; by=TYPE[*N][:P-1|P-2],...]``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from testimony.crypto import followup
from testimony.crypto.encoding import sha256
from testimony.crypto.entries import SignedReplyEntry
from testimony.crypto.keyring import NONCE_LENGTH, Identity
from testimony.crypto.signing import private_key_from_seed

from . import annotations as notes
from . import incidents as incident_records
from . import org, triage, vocabulary
from .annotations import RELIABILITY, ROLES, STATES, VALIDITY
from .cache import Cache
from .home import WorkstationError

__all__ = [
    "Sent",
    "act",
    "assign",
    "link",
    "merge",
    "new_incident",
    "note",
    "place",
    "publish",
    "rating",
    "reply",
    "resolve_tags",
    "set_state",
    "tag",
    "translate",
    "unlink",
    "untag",
    "update_incident",
    "witness_box_key",
]


def publish(cache: Cache, identity: Identity, payload: dict[str, Any]) -> notes.Annotation:
    """Send one annotation through the session; fold it into the cache at once."""
    notes.check_payload(payload)
    with org.bound_client(cache, identity) as client:
        sent = notes.publish(cache, client, identity, payload)
    triage.refresh(cache)
    return sent


# --- testimonies -------------------------------------------------------------------------------


def set_state(
    cache: Cache, identity: Identity, testimony: str, state: str, duplicate_of: str | None = None
) -> notes.Annotation:
    if state not in STATES:
        raise WorkstationError(f"a state is one of {', '.join(STATES)}", "unknown-state")
    if duplicate_of is not None and state != "duplicate":
        raise WorkstationError(
            "a testimony is the duplicate of another only in the state `duplicate`",
            "duplicate-of-without-duplicate",
        )
    payload: dict[str, Any] = {"v": 1, "kind": "state", "testimony": testimony, "state": state}
    if duplicate_of is not None:
        payload["duplicate_of"] = triage.find(cache, duplicate_of)
    return publish(cache, identity, payload)


def assign(
    cache: Cache, identity: Identity, testimony: str, reviewer: str | None
) -> notes.Annotation:
    """Assign to a reviewer id with standing (``None``: to nobody)."""
    if reviewer is not None:
        role = notes.Organisation.from_cache(cache).role(reviewer)
        if role not in ("reviewer", "admin"):
            raise WorkstationError(
                f"{reviewer[:8]} is no reviewer with standing in this workstation's copy of "
                "the log (sync first?)",
                "no-standing",
            )
    return publish(
        cache, identity, {"v": 1, "kind": "assign", "testimony": testimony, "reviewer": reviewer}
    )


def resolve_tags(cache: Cache, names: Sequence[str], *, adding: bool) -> list[str]:
    """Tag ids for names, ids or labels in any script; a retired tag is not added."""
    found = set()
    for name in names:
        tag_id = vocabulary.resolve(cache, name)
        known = vocabulary.tag(cache, tag_id)
        if adding and known is not None and known.retired:
            raise WorkstationError(f"the tag {tag_id} is retired", "tag-retired")
        found.add(tag_id)
    if not found:
        raise WorkstationError("name at least one tag", "no-tags")
    return sorted(found)


def tag(cache: Cache, identity: Identity, testimony: str, names: Sequence[str]) -> list[str]:
    chosen = resolve_tags(cache, names, adding=True)
    publish(cache, identity, {"v": 1, "kind": "tag", "testimony": testimony, "tags": chosen})
    return chosen


def untag(cache: Cache, identity: Identity, testimony: str, names: Sequence[str]) -> list[str]:
    chosen = resolve_tags(cache, names, adding=False)
    publish(cache, identity, {"v": 1, "kind": "untag", "testimony": testimony, "tags": chosen})
    return chosen


def note(cache: Cache, identity: Identity, testimony: str, text: str) -> notes.Annotation:
    return publish(cache, identity, {"v": 1, "kind": "note", "testimony": testimony, "text": text})


def translate(
    cache: Cache, identity: Identity, testimony: str, lang: str, text: str
) -> notes.Annotation:
    return publish(
        cache,
        identity,
        {"v": 1, "kind": "translation", "testimony": testimony, "lang": lang, "text": text},
    )


def witness_box_key(record: Any) -> bytes:
    """The witness's S1 public key a reply is sealed to, from the cached submission."""
    if not isinstance(record, dict):
        raise WorkstationError("the testimony is not in the cache (sync first)", "not-cached")
    box = record.get("witness_box")
    if box is None:
        raise WorkstationError(
            "this witness left no witness key: no reply can reach them", "parent-without-witness"
        )
    try:
        key = bytes.fromhex(str(box))
    except ValueError:
        key = b""
    if len(key) != 1216:
        raise WorkstationError(
            "the cache holds only the hash of the witness's box key, not the key itself: "
            "a reply cannot be sealed until the server serves the key (docs/workstation.md, Replies)",
            "witness-box-unknown",
        )
    return key


@dataclass(frozen=True)
class Sent:
    """A reply: the signed ``reply`` entry's index, and the index of the
    annotation that keeps its text for the team."""

    index: int
    recorded: int


def reply(cache: Cache, identity: Identity, testimony: str, text: str) -> Sent:
    """Send the witness a message, sealed to their witness key (§7): they read
    it on the return page with their receipt code."""
    box = witness_box_key(cache.record("submission", testimony))
    sealed = followup.seal_reply(box, {"v": 1, "text": text})
    digest = sha256(sealed).hex()
    payload = {"v": 1, "kind": "reply", "testimony": testimony, "sealed": digest, "text": text}
    notes.check_payload(payload)
    with org.bound_client(cache, identity) as client:
        # The text first, for the team (the witness's copy is sealed to the witness alone);
        # then the signed reply entry, with the sealed bytes.
        recorded = notes.publish(cache, client, identity, payload)
        entry = SignedReplyEntry.create(
            private_key_from_seed(identity.sign_seed),
            nonce=os.urandom(NONCE_LENGTH),
            parent=testimony,
            sealed=digest,
        )
        receipt = client.post_entry(entry, blob=sealed)
    triage.record_sent_reply(cache, receipt, testimony, digest, identity.id)
    triage.refresh(cache)
    return Sent(int(receipt["index"]), recorded.index)


# --- incidents ---------------------------------------------------------------------------------


def place(cache: Cache, spec: str, lang: str) -> dict[str, Any]:
    """``NAME[@LAT,LON]`` as an incident's place: a village of the vocabulary
    keeps its tag, its label in ``lang`` and (unless given) its coordinates."""
    name, at, where = spec.rpartition("@") if "@" in spec else (spec, "", "")
    lat = lon = None
    if at:
        try:
            lat_text, lon_text = where.split(",")
            lat, lon = float(lat_text), float(lon_text)
        except ValueError:
            raise WorkstationError(f"a place is NAME[@LAT,LON]: {spec!r}", "bad-place") from None
    name = name.strip()
    if not name:
        raise WorkstationError(f"a place is NAME[@LAT,LON]: {spec!r}", "bad-place")
    try:
        tag_id: str | None = vocabulary.resolve(cache, name, group="place")
    except vocabulary.UnknownTag:
        tag_id = None
    if tag_id is not None:
        known = vocabulary.tag(cache, tag_id)
        if known is not None:
            name = known.label(lang)
            if lat is None and known.lat is not None:
                lat, lon = known.lat, known.lon
    return {"place": tag_id, "name": name, "lat": lat, "lon": lon}


def _count_and_persons(items: Sequence[str]) -> tuple[int | None, list[str]]:
    count = None
    persons: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item.isdigit():
            count = int(item)
        elif item not in persons:
            persons.append(item)
    return count, persons


def act(cache: Cache, spec: str) -> dict[str, Any]:
    """``VIOLATION[; victims=N,V-017,...][; by=TYPE[*N][:P-1|P-2],...]`` as an incident's act."""
    head, *parts = (p.strip() for p in spec.split(";"))
    violation = vocabulary.resolve(cache, head, group="violation")
    victims: dict[str, Any] = {"count": None, "persons": []}
    perpetrators: list[dict[str, Any]] = []
    for part in parts:
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in ("victims", "by"):
            raise WorkstationError(
                f"an act is VIOLATION[; victims=...][; by=...]: {spec!r}", "bad-act"
            )
        if key == "victims":
            count, persons = _count_and_persons(value.split(","))
            victims = {"count": count, "persons": persons}
            continue
        for group in filter(None, (g.strip() for g in value.split(","))):
            kind, _, people = group.partition(":")
            kind, _, number = kind.partition("*")
            if number and not number.strip().isdigit():
                raise WorkstationError(
                    f"a perpetrator group is TYPE[*N][:P-1|P-2]: {group!r}", "bad-act"
                )
            perpetrators.append(
                {
                    "type": vocabulary.resolve(cache, kind.strip(), group="perpetrator"),
                    "count": int(number) if number else None,
                    "persons": [p.strip() for p in people.split("|") if p.strip()],
                }
            )
    return {"violation": violation, "victims": victims, "perpetrators": perpetrators}


def incident_fields(
    cache: Cache,
    lang: str,
    *,
    title: str | None = None,
    start: str | None = None,
    end: str | None = None,
    places: Sequence[str] | None = None,
    acts: Sequence[str] | None = None,
    description: str | None = None,
    status: str | None = None,
    clear_places: bool = False,
    clear_acts: bool = False,
) -> dict[str, Any]:
    """The ``fields`` of an ``incident`` annotation from what was given
    (an empty ``start`` or ``end`` clears it)."""
    fields: dict[str, Any] = {}
    if title is not None:
        fields["title"] = title
    if start is not None:
        fields["start"] = start or None
    if end is not None:
        fields["end"] = end or None
    if places or clear_places:
        fields["places"] = [place(cache, p, lang) for p in places or []]
    if acts or clear_acts:
        fields["acts"] = [act(cache, a) for a in acts or []]
    if description is not None:
        fields["description"] = description
    if status is not None:
        fields["status"] = status
    return fields


def rating(value: str | None, scale: tuple[str, ...], letters: str, what: str) -> str:
    """A rating by name or by its letter or digit (``B``, ``2``); none given: ``cannot-judge``."""
    if value is None or value == "":
        return "cannot-judge"
    if value in scale:
        return value
    if len(value) == 1 and value.upper() in letters:
        return scale[letters.index(value.upper())]
    raise WorkstationError(
        f"{what} is one of {', '.join(scale)} (or {letters[0]} to {letters[-1]})", "bad-rating"
    )


def new_incident(cache: Cache, identity: Identity, fields: dict[str, Any]) -> tuple[str, int]:
    """Open a new incident record: its id and the log index of its annotation."""
    if not str(fields.get("title") or "").strip():
        raise WorkstationError("an incident needs a title", "no-title")
    fields = {"status": "alleged", **fields}
    incident_id = notes.new_incident_id()
    sent = publish(
        cache, identity, {"v": 1, "kind": "incident", "incident": incident_id, "fields": fields}
    )
    return incident_id, sent.index


def update_incident(
    cache: Cache, identity: Identity, incident: str, fields: dict[str, Any]
) -> notes.Annotation:
    if not fields:
        raise WorkstationError("nothing to change", "nothing-to-change")
    return publish(
        cache, identity, {"v": 1, "kind": "incident", "incident": incident, "fields": fields}
    )


def merge(
    cache: Cache, identity: Identity, keep: str, others: Sequence[str]
) -> tuple[str, list[str], int]:
    """Merge records into ``keep`` (each given by id or prefix): the canonical
    id, the ids merged and the annotation's index."""
    kept = incident_records.canonical(cache, incident_records.find(cache, keep))
    merged = sorted(
        {incident_records.canonical(cache, incident_records.find(cache, o)) for o in others}
        - {kept}
    )
    if not merged:
        raise WorkstationError(
            "nothing to merge: those records are this one already", "nothing-to-merge"
        )
    sent = publish(cache, identity, {"v": 1, "kind": "merge", "incident": kept, "merged": merged})
    return kept, merged, sent.index


def link(
    cache: Cache,
    identity: Identity,
    incident: str,
    testimony: str,
    role: str,
    reliability: str | None = None,
    validity: str | None = None,
) -> tuple[str, notes.Annotation]:
    """Link a testimony to an incident (id or prefix) with the witness's role
    and two ratings; linking again changes them. The canonical id and the annotation."""
    if role not in ROLES:
        raise WorkstationError(f"a role is one of {', '.join(ROLES)}", "unknown-role")
    rated = rating(reliability, RELIABILITY, "ABCDEF", "the source's reliability")
    valid = rating(validity, VALIDITY, "123456", "the information's validity")
    iid = incident_records.canonical(cache, incident_records.find(cache, incident))
    sent = publish(
        cache,
        identity,
        {
            "v": 1,
            "kind": "link",
            "incident": iid,
            "testimony": testimony,
            "role": role,
            "reliability": rated,
            "validity": valid,
        },
    )
    return iid, sent


def unlink(
    cache: Cache, identity: Identity, incident: str, testimony: str
) -> tuple[str, notes.Annotation]:
    iid = incident_records.canonical(cache, incident_records.find(cache, incident))
    if not cache.query(
        "SELECT 1 FROM ws_links WHERE incident = ? AND testimony = ?", (iid, testimony)
    ):
        raise WorkstationError(f"{testimony[:12]} is not linked to {iid[:12]}", "not-linked")
    sent = publish(
        cache, identity, {"v": 1, "kind": "unlink", "incident": iid, "testimony": testimony}
    )
    return iid, sent
