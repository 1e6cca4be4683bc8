"""Annotation payloads and the ``annotation`` entries that carry them
(docs/protocol.md §12.6; every ``kind`` and member is defined in
docs/log-entries.md, "Annotation payloads").

All of a reviewer's work on the content — states, assignments, tags, notes,
translations, the record of a reply, incident records, links, merges, the
vocabulary — is one kind of payload, sealed under the group secret of an
epoch with a key of its own (``K_e = HKDF(G_k, salt = nonce, "testimony/v1
annotation")``), so the server sees neither what was said nor about what. Its
``index`` lists the blind indexes of the values a workstation may ask the
server to filter by — tag ids (``tag``), place ids (``place``), incident ids
(``incident``) — at the widths of the policy in force; a state, an
assignment, a note or a translation is not indexed.

>>> from testimony.crypto.keyring import Identity
>>> me = Identity(bytes(32), bytes(range(32)))
>>> payload = {"v": 1, "kind": "tag", "testimony": "ab" * 32, "tags": ["violation/arson"]}
>>> entry = build_entry(me, epoch=0, group_secret=bytes(32), index_bits={"tag": 5},
...                     payload=payload, nonce=bytes(16))
>>> entry.index, entry.epoch, open_entry(entry, {0: bytes(32)}) == payload
((13,), 0, True)

This module checks payloads (:func:`check_payload`, the one definition of
their shapes), builds and opens entries, reads the logged annotations from the
cache in log order, replays the organisation's standing from the cached
governance entries (:class:`Organisation`), and publishes a new annotation
through the reviewer's session (:func:`publish`), keeping it in the cache until
the next sync brings it back from the log.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from testimony.crypto import merkle
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.entries import AnnotationEntry, SignedEntry, parse_entry
from testimony.crypto.errors import CryptoError
from testimony.crypto.governance import Governance
from testimony.crypto.keyring import (
    DEFAULT_INDEX_BITS,
    NONCE_LENGTH,
    Identity,
    blind_index_key,
    group_key,
    index_values,
    open_payload,
    seal_payload,
)
from testimony.crypto.signing import private_key_from_seed

from .cache import Cache
from .home import WorkstationError

__all__ = [
    "FIRST_HAND",
    "INCIDENT_STATUSES",
    "KINDS",
    "RELAYED",
    "RELIABILITY",
    "ROLES",
    "STATES",
    "TAG_GROUPS",
    "VALIDITY",
    "Annotation",
    "AnnotationInvalid",
    "EntryPoster",
    "Organisation",
    "build_entry",
    "check_payload",
    "from_record",
    "indexed_values",
    "logged_annotations",
    "new_incident_id",
    "open_entry",
    "publish",
    "record_pending",
]

STATES = ("new", "in-review", "needs-follow-up", "corroborated", "duplicate", "rejected")
"""A testimony's triage states; ``new`` until a ``state`` annotation says otherwise."""
ROLES = ("eyewitness", "victim", "relative", "hearsay")
"""What a linked testimony is to an incident."""
FIRST_HAND = frozenset({"eyewitness", "victim"})
RELAYED = frozenset({"relative", "hearsay"})
RELIABILITY = (
    "reliable",
    "usually-reliable",
    "fairly-reliable",
    "not-usually-reliable",
    "unreliable",
    "cannot-judge",
)
"""The source's reliability (A to F of the usual two-axis grading), judged apart from…"""
VALIDITY = (
    "confirmed",
    "probably-true",
    "possibly-true",
    "doubtful",
    "improbable",
    "cannot-judge",
)
"""…the information's validity (1 to 6), as the OHCHR monitoring manual asks."""
INCIDENT_STATUSES = ("alleged", "corroborated", "verified")
TAG_GROUPS = ("violation", "place", "perpetrator", "topic")
"""A tag id is ``<group>/<name>``; the form seeds the first three groups."""

KINDS = frozenset(
    {
        "state",
        "assign",
        "tag",
        "untag",
        "note",
        "translation",
        "reply",
        "vocabulary",
        "incident",
        "link",
        "unlink",
        "merge",
    }
)

MAX_TEXT = 20_000
"""Code points in a note, translation, reply, title or description."""
MAX_LIST = 200
_TESTIMONY = re.compile(r"[0-9a-f]{64}")
_INCIDENT = re.compile(r"[0-9a-f]{32}")
_REVIEWER = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TAG = re.compile(r"(violation|place|perpetrator|topic)/[a-z0-9](?:[a-z0-9_-]{0,62})")
_LANG = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
_DATE = re.compile(r"[0-9]{4}(?:-[0-9]{2}(?:-[0-9]{2}(?:T[0-9]{2}:[0-9]{2})?)?)?")
_PSEUDONYM_MAX = 64
INCIDENT_FIELDS = frozenset({"title", "start", "end", "places", "acts", "description", "status"})


class AnnotationInvalid(WorkstationError):
    """A payload that is not one of docs/log-entries.md's."""

    code = "annotation-invalid"


# --- checking payloads ----------------------------------------------------------------


def _bad(kind: str, what: str) -> AnnotationInvalid:
    return AnnotationInvalid(f"{kind} payload: {what}")


def _members(kind: str, payload: Mapping[str, Any], required: set[str], optional: set[str]) -> None:
    names = set(payload) - {"v", "kind"}
    missing = required - names
    if missing:
        raise _bad(kind, f"`{sorted(missing)[0]}` is missing")
    extra = names - required - optional
    if extra:
        raise _bad(kind, f"`{sorted(extra)[0]}` is not a member")


def _match(kind: str, name: str, value: Any, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _bad(kind, f"`{name}` is {what}")
    return value


def _text(kind: str, name: str, value: Any, *, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise _bad(kind, f"`{name}` is a text of 1 to {limit} characters, not blank")
    return value


def _choice(kind: str, name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise _bad(kind, f"`{name}` is one of {', '.join(choices)}")
    return str(value)


def _count(kind: str, name: str, value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= 10**9:
        raise _bad(kind, f"`{name}` is a whole number from 0, or null")
    return value


def _coordinate(kind: str, name: str, value: Any, bound: int) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not -bound <= value <= bound
    ):
        raise _bad(kind, f"`{name}` is a number from -{bound} to {bound}, or null")
    return float(value)


def _sorted_tags(kind: str, name: str, value: Any, *, empty: bool = False) -> list[str]:
    if not isinstance(value, list) or (not value and not empty) or len(value) > MAX_LIST:
        raise _bad(kind, f"`{name}` is a list of tag ids")
    for tag in value:
        _match(kind, name, tag, _TAG, "a list of tag ids `<group>/<name>`")
    if value != sorted(set(value)):
        raise _bad(kind, f"`{name}` is sorted, without repeats")
    return list(value)


def _pseudonyms(kind: str, name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise _bad(kind, f"`{name}` is a list of pseudonyms")
    for item in value:
        _text(kind, name, item, limit=_PSEUDONYM_MAX)
    if len(set(value)) != len(value):
        raise _bad(kind, f"`{name}` names a person twice")
    return list(value)


def _places(kind: str, value: Any) -> None:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise _bad(kind, "`places` is a list of places")
    for place in value:
        if not isinstance(place, dict) or set(place) != {"place", "name", "lat", "lon"}:
            raise _bad(kind, "a place is {place, name, lat, lon}")
        if place["place"] is not None:
            tag = _match(kind, "place", place["place"], _TAG, "a place tag id or null")
            if not tag.startswith("place/"):
                raise _bad(kind, "`place` is a tag of the group `place`")
        _text(kind, "name", place["name"], limit=200)
        lat = _coordinate(kind, "lat", place["lat"], 90)
        lon = _coordinate(kind, "lon", place["lon"], 180)
        if (lat is None) != (lon is None):
            raise _bad(kind, "`lat` and `lon` are both given or both null")


def _acts(kind: str, value: Any) -> None:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise _bad(kind, "`acts` is a list of acts")
    for act in value:
        if not isinstance(act, dict) or set(act) != {"violation", "victims", "perpetrators"}:
            raise _bad(kind, "an act is {violation, victims, perpetrators}")
        tag = _match(kind, "violation", act["violation"], _TAG, "a tag id")
        if not tag.startswith("violation/"):
            raise _bad(kind, "`violation` is a tag of the group `violation`")
        victims = act["victims"]
        if not isinstance(victims, dict) or set(victims) != {"count", "persons"}:
            raise _bad(kind, "`victims` is {count, persons}")
        _count(kind, "victims.count", victims["count"])
        _pseudonyms(kind, "victims.persons", victims["persons"])
        perpetrators = act["perpetrators"]
        if not isinstance(perpetrators, list) or len(perpetrators) > MAX_LIST:
            raise _bad(kind, "`perpetrators` is a list")
        seen = set()
        for group in perpetrators:
            if not isinstance(group, dict) or set(group) != {"type", "count", "persons"}:
                raise _bad(kind, "a perpetrator group is {type, count, persons}")
            tag = _match(kind, "type", group["type"], _TAG, "a tag id")
            if not tag.startswith("perpetrator/"):
                raise _bad(kind, "`type` is a tag of the group `perpetrator`")
            if tag in seen:
                raise _bad(kind, "an act names a perpetrator type twice")
            seen.add(tag)
            _count(kind, "count", group["count"])
            _pseudonyms(kind, "persons", group["persons"])


def _incident_fields(kind: str, fields: Any) -> None:
    if not isinstance(fields, dict) or not fields:
        raise _bad(kind, "`fields` is a non-empty object")
    extra = set(fields) - INCIDENT_FIELDS
    if extra:
        raise _bad(kind, f"`fields.{sorted(extra)[0]}` is not a field of an incident")
    if "title" in fields:
        _text(kind, "title", fields["title"], limit=500)
    for name in ("start", "end"):
        if name in fields and fields[name] is not None:
            _match(kind, name, fields[name], _DATE, "YYYY[-MM[-DD[THH:MM]]] or null")
    if fields.get("start") and fields.get("end") and fields["end"] < fields["start"]:
        raise _bad(kind, "`end` is before `start`")
    if "description" in fields:
        value = fields["description"]
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise _bad(kind, f"`description` is a text of at most {MAX_TEXT} characters")
    if "status" in fields:
        _choice(kind, "status", fields["status"], INCIDENT_STATUSES)
    if "places" in fields:
        _places(kind, fields["places"])
    if "acts" in fields:
        _acts(kind, fields["acts"])


def check_payload(payload: Any) -> dict[str, Any]:
    """``payload`` if it is one of the payloads docs/log-entries.md defines;
    raises :class:`AnnotationInvalid` naming the member otherwise."""
    if not isinstance(payload, dict):
        raise AnnotationInvalid("an annotation payload is a JSON object")
    kind = payload.get("kind")
    if payload.get("v") != 1 or type(payload.get("v")) is not int:
        raise AnnotationInvalid("an annotation payload has `v: 1`")
    if kind not in KINDS:
        raise AnnotationInvalid("an annotation payload's `kind` is not one this workstation reads")
    assert isinstance(kind, str)
    testimony = "a submission id (64 hex digits)"
    if kind in ("state", "assign", "tag", "untag", "note", "translation", "reply"):
        _match(kind, "testimony", payload.get("testimony"), _TESTIMONY, testimony)
    if kind == "state":
        _members(kind, payload, {"testimony", "state"}, {"duplicate_of"})
        _choice(kind, "state", payload["state"], STATES)
        if "duplicate_of" in payload:
            if payload["state"] != "duplicate":
                raise _bad(kind, "`duplicate_of` goes with the state `duplicate` only")
            _match(kind, "duplicate_of", payload["duplicate_of"], _TESTIMONY, testimony)
            if payload["duplicate_of"] == payload["testimony"]:
                raise _bad(kind, "a testimony is no duplicate of itself")
    elif kind == "assign":
        _members(kind, payload, {"testimony", "reviewer"}, set())
        if payload["reviewer"] is not None:
            _match(kind, "reviewer", payload["reviewer"], _REVIEWER, "a reviewer id or null")
    elif kind in ("tag", "untag"):
        _members(kind, payload, {"testimony", "tags"}, set())
        _sorted_tags(kind, "tags", payload["tags"])
    elif kind == "note":
        _members(kind, payload, {"testimony", "text"}, set())
        _text(kind, "text", payload["text"])
    elif kind == "translation":
        _members(kind, payload, {"testimony", "lang", "text"}, set())
        _match(kind, "lang", payload["lang"], _LANG, "a BCP 47 language tag")
        _text(kind, "text", payload["text"])
    elif kind == "reply":
        _members(kind, payload, {"testimony", "sealed", "text"}, set())
        _match(kind, "sealed", payload["sealed"], _SHA256, "the hex SHA-256 of the sealed reply")
        _text(kind, "text", payload["text"])
    elif kind == "vocabulary":
        _check_vocabulary(payload)
    elif kind == "incident":
        _members(kind, payload, {"incident", "fields"}, set())
        _match(kind, "incident", payload["incident"], _INCIDENT, "an incident id (32 hex digits)")
        _incident_fields(kind, payload["fields"])
    elif kind in ("link", "unlink"):
        optional = {"role", "reliability", "validity"}
        _members(
            kind,
            payload,
            {"incident", "testimony"} | (optional if kind == "link" else set()),
            set(),
        )
        _match(kind, "incident", payload["incident"], _INCIDENT, "an incident id (32 hex digits)")
        _match(kind, "testimony", payload["testimony"], _TESTIMONY, testimony)
        if kind == "link":
            _choice(kind, "role", payload["role"], ROLES)
            _choice(kind, "reliability", payload["reliability"], RELIABILITY)
            _choice(kind, "validity", payload["validity"], VALIDITY)
    elif kind == "merge":
        _members(kind, payload, {"incident", "merged"}, set())
        kept = _match(kind, "incident", payload["incident"], _INCIDENT, "an incident id")
        merged = payload["merged"]
        if not isinstance(merged, list) or not merged or len(merged) > MAX_LIST:
            raise _bad(kind, "`merged` is a non-empty list of incident ids")
        for other in merged:
            _match(kind, "merged", other, _INCIDENT, "a list of incident ids")
        if merged != sorted(set(merged)) or kept in merged:
            raise _bad(kind, "`merged` is sorted, without repeats, and without `incident`")
    return payload


def _check_vocabulary(payload: Mapping[str, Any]) -> None:
    kind = "vocabulary"
    _members(kind, payload, {"tag", "labels"}, {"lat", "lon", "retired"})
    tag = _match(kind, "tag", payload["tag"], _TAG, "a tag id `<group>/<name>`")
    labels = payload["labels"]
    if not isinstance(labels, dict) or not labels or len(labels) > 50:
        raise _bad(kind, "`labels` is an object of language tag -> label, not empty")
    for lang, label in labels.items():
        _match(kind, "labels", lang, _LANG, "keyed by BCP 47 language tags")
        _text(kind, "labels", label, limit=200)
    lat = _coordinate(kind, "lat", payload.get("lat"), 90)
    lon = _coordinate(kind, "lon", payload.get("lon"), 180)
    if ("lat" in payload) != ("lon" in payload) or (lat is None) != (lon is None):
        raise _bad(kind, "`lat` and `lon` come together")
    if "lat" in payload and not tag.startswith("place/"):
        raise _bad(kind, "only a place has coordinates")
    if "retired" in payload and type(payload["retired"]) is not bool:
        raise _bad(kind, "`retired` is true or false")


def indexed_values(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The ``(kind, value)`` pairs whose blind indexes the entry lists (§12.6):
    a tag of the group ``place`` under ``place``, any other tag under ``tag``,
    incident ids under ``incident``, and the places an incident names."""
    kind = payload["kind"]

    def tag(value: str) -> tuple[str, str]:
        return ("place" if value.startswith("place/") else "tag", value)

    if kind in ("tag", "untag"):
        return [tag(t) for t in payload["tags"]]
    if kind == "vocabulary":
        return [tag(payload["tag"])]
    if kind == "incident":
        places = payload["fields"].get("places", [])
        return [("incident", payload["incident"])] + [
            ("place", p["place"]) for p in places if p["place"] is not None
        ]
    if kind in ("link", "unlink"):
        return [("incident", payload["incident"])]
    if kind == "merge":
        return [("incident", i) for i in [payload["incident"], *payload["merged"]]]
    return []


# --- entries --------------------------------------------------------------------------


def build_entry(
    identity: Identity,
    *,
    epoch: int,
    group_secret: bytes,
    index_bits: Mapping[str, int],
    payload: Mapping[str, Any],
    nonce: bytes | None = None,
) -> AnnotationEntry:
    """The signed ``annotation`` entry for ``payload`` (§12.2, §12.6), as the
    workstation sends it (without ``received``). ``nonce`` is fresh unless
    given (tests); each nonce keys one payload."""
    checked = check_payload(dict(payload))
    nonce = os.urandom(NONCE_LENGTH) if nonce is None else nonce
    sealed = seal_payload(group_key(group_secret, nonce), checked)
    index = index_values(blind_index_key(group_secret), indexed_values(checked), index_bits)
    return AnnotationEntry.create(
        private_key_from_seed(identity.sign_seed),
        nonce=nonce,
        epoch=epoch,
        index=tuple(index),
        sealed=b64u_decode(sealed),
    )


def open_entry(entry: AnnotationEntry, groups: Mapping[int, bytes]) -> dict[str, Any]:
    """The payload of an annotation entry, with the keyring's group secrets.
    Raises :class:`WorkstationError` (``epoch-unknown``) without the epoch's
    secret and ``PayloadOpenError`` when it does not open."""
    secret = groups.get(entry.epoch)
    if secret is None:
        raise WorkstationError(
            f"the keyring holds no group secret of epoch {entry.epoch}", "epoch-unknown"
        )
    return open_payload(group_key(secret, entry.nonce), b64u_encode(entry.sealed))


def new_incident_id() -> str:
    """A fresh incident id: 16 random bytes in hex."""
    return os.urandom(16).hex()


# --- what the cache holds ----------------------------------------------------------------

_PENDING = """CREATE TABLE IF NOT EXISTS ws_pending_annotations (
    entry_id TEXT PRIMARY KEY, idx INTEGER NOT NULL, value TEXT NOT NULL)"""


@dataclass(frozen=True)
class Annotation:
    """One logged annotation, opened: its entry id and log index, the actor,
    ``received`` (RFC 3339), the epoch and the payload (not yet checked)."""

    entry_id: str
    index: int
    actor: str
    received: str
    epoch: int
    payload: Any = field(repr=False)


def _annotation(entry_id: str, value: Mapping[str, Any]) -> Annotation:
    return Annotation(
        entry_id=entry_id,
        index=int(value["index"]),
        actor=str(value["actor"]),
        received=str(value.get("received") or ""),
        epoch=int(value.get("epoch") or 0),
        payload=value.get("payload"),
    )


def ensure_tables(cache: Cache) -> None:
    cache.execute(_PENDING)


def pending_annotations(cache: Cache) -> list[Annotation]:
    """Annotations this workstation sent that no sync has brought back yet."""
    ensure_tables(cache)
    return [
        _annotation(entry_id, json.loads(value))
        for entry_id, value in cache.query("SELECT entry_id, value FROM ws_pending_annotations")
    ]


def from_record(entry_id: str, value: Any) -> Annotation | None:
    """The annotation of a cached ``annotation`` record (None: one the sync
    could not read, ``{"index", "unreadable"}``)."""
    if not isinstance(value, dict) or "unreadable" in value or "payload" not in value:
        return None
    return _annotation(entry_id, value)


def logged_annotations(cache: Cache) -> list[Annotation]:
    """Every annotation the cache holds — synced (``records("annotation")``)
    and sent from here since — in log order, each once."""
    found: dict[str, Annotation] = {}
    for entry_id, value in cache.records("annotation"):
        annotation = from_record(entry_id, value)
        if annotation is not None:
            found[entry_id] = annotation
    for pending in pending_annotations(cache):
        found.setdefault(pending.entry_id, pending)
    return sorted(found.values(), key=lambda a: a.index)


def record_pending(
    cache: Cache, receipt: Mapping[str, Any], entry: SignedEntry, payload: Mapping[str, Any]
) -> Annotation:
    """Keep an annotation the server has logged (its receipt) until sync
    brings it back; the receipt's entry must be ``entry`` with ``received``."""
    try:
        logged = b64u_decode(receipt["entry"])
        entry_id = str(receipt["id"])
        index = receipt["index"]
        parsed = parse_entry(logged)
    except (KeyError, TypeError, CryptoError):
        raise WorkstationError("the server's receipt is malformed", "receipt-malformed") from None
    if (
        merkle.leaf_hash(logged).hex() != entry_id
        or not isinstance(parsed, SignedEntry)
        or parsed.signed_bytes() != entry.signed_bytes()
        or type(index) is not int
        or parsed.received is None
    ):
        raise WorkstationError(
            "the server's receipt does not name the entry sent", "receipt-mismatch"
        )
    value = {
        "index": index,
        "actor": entry.actor,
        "received": parsed.received.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "epoch": getattr(entry, "epoch", 0),
        "payload": dict(payload),
    }
    ensure_tables(cache)
    cache.execute(
        "INSERT INTO ws_pending_annotations (entry_id, idx, value) VALUES (?, ?, ?) "
        "ON CONFLICT (entry_id) DO NOTHING",
        (entry_id, index, json.dumps(value, ensure_ascii=False)),
    )
    return _annotation(entry_id, value)


# --- the organisation, replayed from the cached governance entries ---------------------------


class Organisation:
    """Who had standing in which role at each log index, and the blind
    indexes' widths in force, replayed (``org.replay``, with
    ``testimony.crypto.governance``) from the governance entries the sync
    verified into the cache.

    A workstation that holds none of them knows no admin (so it counts no
    ``vocabulary`` annotation) and uses §12.6's default widths."""

    def __init__(self, cache: Cache) -> None:
        from .org import replay  # the session's HTTP client is not needed to read standing

        self._at: list[int] = []
        self._standing: list[dict[str, str]] = []

        def visit(governance: Governance, row: tuple[int, str, str, bytes], applied: bool) -> None:
            standing = governance.standing()
            if applied and (not self._standing or standing != self._standing[-1]):
                self._at.append(row[0])
                self._standing.append(standing)

        policy = replay(cache, visit=visit).governance.policy
        self.index_bits: dict[str, int] = (
            dict(policy.index_bits) if policy is not None else dict(DEFAULT_INDEX_BITS)
        )

    @classmethod
    def from_cache(cls, cache: Cache) -> Organisation:
        return cls(cache)

    def role_at(self, actor: str, index: int) -> str | None:
        """The actor's role with standing just before log index ``index`` (None: none)."""
        at = bisect.bisect_left(self._at, index) - 1
        return None if at < 0 else self._standing[at].get(actor)

    def role(self, actor: str) -> str | None:
        """The actor's role with standing now (after every cached entry)."""
        return self._standing[-1].get(actor) if self._standing else None


# --- publishing -------------------------------------------------------------------------------


class EntryPoster(Protocol):
    """What :func:`publish` needs of the reviewer's session (``session.ReviewerClient``)."""

    def post_entry(self, entry: SignedEntry, blob: bytes | None = None) -> dict[str, Any]: ...


def current_epoch(cache: Cache) -> tuple[int, bytes]:
    """The newest epoch of the keyring and its group secret."""
    groups = cache.groups()
    if not groups:
        raise WorkstationError(
            "this workstation holds no group secret yet: an admin grants it once you are "
            "enrolled (then run `testimony sync`)",
            "no-group-secret",
        )
    epoch = max(groups)
    return epoch, groups[epoch]


def publish(
    cache: Cache, client: EntryPoster, identity: Identity, payload: Mapping[str, Any]
) -> Annotation:
    """Seal, sign and send one annotation; keep it in the cache as logged."""
    checked = check_payload(dict(payload))
    epoch, secret = current_epoch(cache)
    bits = Organisation.from_cache(cache).index_bits
    entry = build_entry(
        identity, epoch=epoch, group_secret=secret, index_bits=bits, payload=checked
    )
    receipt = client.post_entry(entry)
    with cache.transaction():
        return record_pending(cache, receipt, entry, checked)
