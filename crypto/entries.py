"""Every log entry type, parsed and built (docs/protocol.md §9, §12; docs/log-entries.md).

An entry is a JSON object serialised with JCS, with a ``type`` and ``v: 1``.
Each type here is a frozen dataclass whose fields are its members (hex ids stay
text, ``b64u`` members are ``bytes``, times are aware ``datetime``, lists are
tuples); building one checks every field, and:

- ``to_json()`` gives the exact JCS bytes (the bytes the log keeps);
- ``Type.parse(data)`` reads entry bytes strictly: a JSON object, in JCS form,
  of that type, every required member present with its type and, where the
  protocol fixes it, its length, and no other member. It refuses anything else
  with :class:`~testimony.crypto.errors.EntryMalformed` (code
  ``entry-malformed``), whose message names the member, never its value;
- :func:`parse_entry` reads any type, by its ``type`` (and, for ``intake-key``
  and ``reply``, which have an unsigned and a signed form, by whether it has an
  ``actor``); :func:`parse_known_entry` answers None for bytes that are not an
  entry of a known type instead; :func:`entry_from_object` reads a parsed JSON
  object (a request), without the JCS check.

So ``parse(data).to_json() == data`` for every entry that parses.

Reading is fast, for the log's projections read every appended entry: the JCS
bytes of each type are a regular language (its members in sorted order, each
value in its one spelling), so each form has a compiled pattern, and bytes
that match it in full, and keep the rules a pattern cannot say (calendar
dates, ranges, order, rules across members), are read from the match without
a JSON parse. Anything else goes to the general reader (JSON, members, then
the JCS check), which decides and says why; the fast path only ever accepts
what the general reader accepts, as the same value. ``org`` and ``policy``,
whose policy object has free keys, are always read the general way.

The server writes ``submission``, ``intake-key`` (unsigned), ``followup`` and
``access``; it accepts from workstations the reviewers' entries of §12
(``org``, ``policy``, ``invite``, ``reviewer``, ``approval``, ``revoke``,
``grant``, ``annotation``, the signed ``reply``), and not yet ``export``,
``shred`` or signed ``intake-key`` rotations, which are parsed and built here
all the same. A signed entry (§12.2) carries ``actor``, ``nonce`` and ``signature``;
its ``received`` is added by the server, so it may be absent (``logged=False``
parses an entry as the workstation sends it; ``logged=None`` admits either
form, for a reader that takes both). :meth:`SignedEntry.signed_bytes`
is what the signature covers, ``JCS(entry without "signature" and "received")``,
and :meth:`SignedEntry.verify_signature` checks it with the actor's key.

>>> from datetime import datetime, timezone
>>> entry = SubmissionEntry(
...     intake_key="ab" * 16, header="01" * 32, body="02" * 32, attachments=(),
...     witness=None, witness_box=None, received=datetime(2026, 11, 25, 12, tzinfo=timezone.utc))
>>> entry.to_json()[:60]
b'{"attachments":[],"body":"0202020202020202020202020202020202'
>>> parse_entry(entry.to_json()) == entry
True
>>> parse_entry(entry.to_json().replace(b'"v":1', b'"v":2'))
Traceback (most recent call last):
...
testimony.crypto.errors.EntryMalformed: submission entry: `v` is 1

A signed entry, made and checked:

>>> from testimony.crypto import signing
>>> key = signing.private_key_from_seed(bytes(32))
>>> invite = InviteEntry.create(key, nonce=bytes(16), code="cd" * 32)
>>> invite.verify_signature(signing.public_key_bytes(key))
>>> parse_entry(invite.to_json(), logged=False) == invite
True
>>> sorted(canonical.loads(invite.signed_bytes()))
['actor', 'code', 'nonce', 'type', 'v']
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self, TypeAlias, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import canonical, hpke, merkle, rfc3339, signing
from .encoding import b64u_decode, b64u_encode
from .errors import EntryMalformed, MalformedInput, SignatureError
from .keyring import DEFAULT_INDEX_BITS, NONCE_LENGTH, reviewer_id

__all__ = [
    "ENTRY_TYPES",
    "MAX_INDEX_BITS",
    "PROPOSAL_KINDS",
    "ROLES",
    "VERSION",
    "AccessEntry",
    "AnnotationEntry",
    "ApprovalEntry",
    "Entry",
    "ExportEntry",
    "FollowupEntry",
    "GrantEntry",
    "IntakeKeyEntry",
    "IntakeKeyRotation",
    "InviteEntry",
    "OrgEntry",
    "Policy",
    "PolicyEntry",
    "ReplyEntry",
    "ReviewerEntry",
    "RevokeEntry",
    "ShredEntry",
    "SignedEntry",
    "SignedReplyEntry",
    "SubmissionEntry",
    "entry_from_object",
    "parse_entry",
    "parse_known_entry",
]

VERSION = 1
"""Every entry's ``v``."""
ROLES = ("reviewer", "admin", "auditor")
"""A reviewer entry's ``role`` (§12.4)."""
PROPOSAL_KINDS = ("enrol", "revoke", "export", "shred", "rotate", "policy")
"""The kinds of proposal a policy gives a quorum for (§12.3)."""
MAX_INDEX_BITS = 32
"""The widest blind index a policy may ask for (as ``crypto/governance.py`` reads it)."""

_MAX_INT = 2**53 - 1  # I-JSON: integers JCS writes exactly
_SIGNATURE_LENGTH = 64
_SHA256_HEX = 64
_ID_HEX = 32
_AEAD_MINIMUM = 17  # a 16-byte tag and at least one byte of padded payload
_ZERO = timedelta(0)


# --- JSON in and out -------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Built once: ``json.loads`` and ``json.dumps`` with arguments build a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _load(data: object) -> dict[str, Any] | None:
    """The JSON object ``data`` holds (UTF-8), or None if it holds none."""
    if not isinstance(data, bytes | bytearray):
        raise EntryMalformed("an entry is bytes")
    try:
        value = _DECODER.decode(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if type(value) is dict else None


def _jcs(obj: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of an entry's object.

    Every member an entry type admits is checked before this runs: text is
    ASCII, numbers are integers of at most 2**53 - 1. For such values Python's
    ``json`` with sorted keys writes exactly the JCS bytes (the same escapes,
    ASCII keys sort alike by code point and by UTF-16 unit, integers in
    decimal), several times faster than the general ``canonical.dumps``, which
    anything else (a policy's non-ASCII kind) still goes through.
    """
    text = _ENCODER.encode(obj)
    if text.isascii():
        return text.encode("ascii")
    try:
        return canonical.dumps(obj)
    except MalformedInput:
        raise EntryMalformed("an entry's text is not representable in JCS") from None


# --- what a member may hold ------------------------------------------------------------


class _Bad(Exception):
    """A member is not what its kind admits (``detail`` overrides the kind's text)."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail


class _Kind:
    """How one member is read from JSON (``load``, which checks it), checked as a
    Python value (``ok``) and written (``dump``).

    ``text`` is a regular expression (bytes, no capturing group) of exactly the
    JCS spellings of the kind's values, or None; ``from_text`` reads the value
    from such a spelling, raising ``_Bad`` for one the kind refuses all the
    same (a date that is no calendar date, a number out of range): the fast
    path of :func:`parse_entry`.
    """

    what = "is malformed"
    text: bytes | None = None

    def from_text(self, raw: bytes) -> Any:  # pragma: no cover - kinds with text override it
        raise _Bad()

    def load(self, value: Any) -> Any:
        if not self.ok(value):
            raise _Bad()
        return value

    def ok(self, value: Any) -> bool:  # pragma: no cover - every kind overrides it
        raise NotImplementedError

    def dump(self, value: Any) -> Any:
        return value


class _Hex(_Kind):
    def __init__(self, digits: int) -> None:
        self.digits = digits
        self.what = f"is {digits} lowercase hex digits"
        self._pattern = re.compile(f"[0-9a-f]{{{digits}}}")
        self.text = f'"[0-9a-f]{{{digits}}}"'.encode()

    def from_text(self, raw: bytes) -> str:
        return raw[1:-1].decode("ascii")

    def load(self, value: Any) -> str:
        if type(value) is not str or self._pattern.fullmatch(value) is None:
            raise _Bad()
        return value

    def ok(self, value: Any) -> bool:
        return type(value) is str and self._pattern.fullmatch(value) is not None


class _B64u(_Kind):
    """b64u of exactly ``length`` bytes, or of at least ``minimum`` bytes."""

    def __init__(self, length: int | None = None, *, minimum: int = 1) -> None:
        self.length, self.minimum = length, minimum
        # The last character of a short group carries no stray bits (one spelling).
        tails = ("", "[A-Za-z0-9_-][AQgw]", "[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048]")
        if length is None:
            self.what = f"is the b64u of at least {minimum} bytes"
            self._pattern = None
            self.text = f'"(?:[A-Za-z0-9_-]{{4}})*(?:{tails[1]}|{tails[2]})?"'.encode()
            return
        self.what = f"is the b64u of {length} bytes"
        full, rest = divmod(length, 3)
        self._pattern = re.compile(f"[A-Za-z0-9_-]{{{4 * full}}}{tails[rest]}")
        self.text = f'"{self._pattern.pattern}"'.encode()

    def from_text(self, raw: bytes) -> bytes:
        encoded = raw[1:-1]
        data = base64.urlsafe_b64decode(encoded + b"=" * (-len(encoded) % 4))
        if len(data) < self.minimum:
            raise _Bad()
        return data

    def load(self, value: Any) -> bytes:
        if type(value) is not str:
            raise _Bad()
        if self._pattern is not None:
            if self._pattern.fullmatch(value) is None:
                raise _Bad()
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        try:
            data = b64u_decode(value)
        except MalformedInput:
            raise _Bad() from None
        if len(data) < self.minimum:
            raise _Bad()
        return data

    def ok(self, value: Any) -> bool:
        if type(value) is not bytes:
            return False
        return len(value) == self.length if self.length is not None else len(value) >= self.minimum

    def dump(self, value: Any) -> str:
        return b64u_encode(value)


@functools.lru_cache(maxsize=4096)
def _parse_time(text: str) -> datetime | None:
    # Times are floored (§9): a log holds few distinct ones, so this is cached.
    try:
        return rfc3339.parse_time(text)
    except MalformedInput:
        return None


@functools.lru_cache(maxsize=4096)
def _format_time(moment: datetime) -> str:
    return rfc3339.format_time(moment)


class _Time(_Kind):
    what = "is an RFC 3339 UTC time with whole seconds"
    text = b'"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"'

    def from_text(self, raw: bytes) -> datetime:
        moment = _parse_time(raw[1:-1].decode("ascii"))
        if moment is None:
            raise _Bad()
        return moment

    def load(self, value: Any) -> datetime:
        moment = _parse_time(value) if type(value) is str else None
        if moment is None:
            raise _Bad()
        return moment

    def ok(self, value: Any) -> bool:
        return (
            isinstance(value, datetime)
            and value.tzinfo is not None
            and value.utcoffset() == _ZERO
            and value.microsecond == 0
        )

    def dump(self, value: Any) -> str:
        return _format_time(value)


class _Int(_Kind):
    def __init__(self, low: int = 0, high: int = _MAX_INT) -> None:
        self.low, self.high = low, high
        self.what = f"is a whole number from {low} to {high}"
        if low >= 0:  # how JCS writes an integer of at most 2**53 - 1
            self.text = b"(?:0|[1-9][0-9]{0,15})"

    def from_text(self, raw: bytes) -> int:
        value = int(raw)
        if not self.low <= value <= self.high:
            raise _Bad()
        return value

    def ok(self, value: Any) -> bool:
        return type(value) is int and self.low <= value <= self.high


class _Choice(_Kind):
    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices
        self.what = "is one of " + ", ".join(choices)
        self.text = b"(?:" + b"|".join(b'"' + re.escape(c.encode()) + b'"' for c in choices) + b")"

    def from_text(self, raw: bytes) -> str:
        return raw[1:-1].decode("ascii")

    def ok(self, value: Any) -> bool:
        return type(value) is str and value in self.choices


class _List(_Kind):
    """A list of ``item`` values: strictly ascending (``ascending``), or only
    distinct; at least one unless ``empty``."""

    def __init__(self, item: _Kind, *, ascending: bool, empty: bool, what: str) -> None:
        self.item, self.ascending, self.empty, self.what = item, ascending, empty, what
        if item.text is not None:  # items whose spellings hold no comma
            self.text = rb"\[(?:" + item.text + rb"(?:," + item.text + rb")*)?\]"

    def from_text(self, raw: bytes) -> tuple[Any, ...]:
        inner = raw[1:-1]
        from_text = self.item.from_text
        value = tuple([from_text(part) for part in inner.split(b",")]) if inner else ()
        # Each item matched its own spelling: only the order and the count are left.
        if not value and not self.empty:
            raise _Bad()
        if self.ascending:
            if not all(a < b for a, b in itertools.pairwise(value)):
                raise _Bad()
        elif len(set(value)) != len(value):
            raise _Bad()
        return value

    def load(self, value: Any) -> tuple[Any, ...]:
        if type(value) is not list:
            raise _Bad()
        items = tuple(value)
        if not self.ok(items):
            raise _Bad()
        return items

    def ok(self, value: Any) -> bool:
        if type(value) is not tuple or (not value and not self.empty):
            return False
        item_ok = self.item.ok
        if not all(item_ok(item) for item in value):
            return False
        if self.ascending:
            return all(a < b for a, b in itertools.pairwise(value))
        return len(set(value)) == len(value)

    def dump(self, value: Any) -> list[Any]:
        return list(value)


class _Nullable(_Kind):
    def __init__(self, inner: _Kind) -> None:
        self.inner = inner
        self.what = f"{inner.what}, or null"
        if inner.text is not None:
            self.text = b"(?:null|" + inner.text + b")"

    def from_text(self, raw: bytes) -> Any:
        return None if raw == b"null" else self.inner.from_text(raw)

    def load(self, value: Any) -> Any:
        return None if value is None else self.inner.load(value)

    def ok(self, value: Any) -> bool:
        return value is None or self.inner.ok(value)

    def dump(self, value: Any) -> Any:
        return None if value is None else self.inner.dump(value)


class _PolicyKind(_Kind):
    what = "is a policy (§12.3)"

    def load(self, value: Any) -> Policy:
        if type(value) is not dict or value.keys() != _POLICY_MEMBERS:
            raise _Bad(
                "`policy` has exactly enrol, revoke, export, shred, rotate, policy and index_bits"
            )
        bits = value["index_bits"]
        if type(bits) is not dict:
            raise _Bad(_INDEX_BITS_WHAT)
        try:
            return Policy(
                **{kind: value[kind] for kind in PROPOSAL_KINDS},
                index_bits=tuple(sorted(bits.items())),
            )
        except EntryMalformed as exc:
            raise _Bad(exc.detail) from None

    def ok(self, value: Any) -> bool:
        return isinstance(value, Policy)

    def dump(self, value: Any) -> dict[str, Any]:
        assert isinstance(value, Policy)
        return value.to_object()


SHA256_HEX = _Hex(_SHA256_HEX)
KEY_ID = _Hex(_ID_HEX)
TIME = _Time()
_SIGNATURE = _B64u(_SIGNATURE_LENGTH)
_ED25519_KEY = _B64u(32)
_S1_KEY = _B64u(hpke.PUBLIC_KEY_LENGTH)
_EPOCH = _Int()
_SEALED_PAYLOAD = _B64u(minimum=_AEAD_MINIMUM)
_SORTED_IDS = _List(
    SHA256_HEX, ascending=True, empty=True, what="is a sorted list of distinct 64-hex ids"
)


def _member(kind: _Kind, *, optional: bool = False) -> dict[str, Any]:
    """The metadata of a dataclass field that is an entry member of ``kind``
    (``optional``: it may be absent, and is None then)."""
    return {"kind": kind, "optional": optional}


# --- the policy of §12.3 ---------------------------------------------------------------

_POLICY_MEMBERS = frozenset({*PROPOSAL_KINDS, "index_bits"})
_INDEX_BITS_WHAT = f"`policy.index_bits` maps kinds (non-empty text) to 1 to {MAX_INDEX_BITS} bits"
_QUORUM = _Int(1)
_BITS = _Int(1, MAX_INDEX_BITS)


@dataclass(frozen=True, kw_only=True)
class Policy:
    """For each kind of proposal, how many distinct admins must approve it, and
    the blind indexes' widths, ``index_bits`` as ``(kind, bits)`` pairs sorted
    by kind (§12.3). :meth:`create` takes the widths as a mapping."""

    enrol: int
    revoke: int
    export: int
    shred: int
    rotate: int
    policy: int
    index_bits: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        for kind in PROPOSAL_KINDS:
            if not _QUORUM.ok(getattr(self, kind)):
                raise EntryMalformed(f"`policy.{kind}` {_QUORUM.what}")
        bits = self.index_bits
        if (
            type(bits) is not tuple
            or not all(
                type(pair) is tuple
                and len(pair) == 2
                and type(pair[0]) is str
                and pair[0]
                and _BITS.ok(pair[1])
                for pair in bits
            )
            or any(a[0] >= b[0] for a, b in itertools.pairwise(bits))
        ):
            raise EntryMalformed(_INDEX_BITS_WHAT)

    @classmethod
    def create(
        cls,
        *,
        enrol: int = 1,
        revoke: int = 1,
        export: int = 1,
        shred: int = 1,
        rotate: int = 1,
        policy: int = 1,
        index_bits: Mapping[str, int] = DEFAULT_INDEX_BITS,
    ) -> Policy:
        """A policy; every quorum 1 and §12.6's default widths unless given."""
        return cls(
            enrol=enrol,
            revoke=revoke,
            export=export,
            shred=shred,
            rotate=rotate,
            policy=policy,
            index_bits=tuple(sorted(index_bits.items())),
        )

    def quorum(self, kind: str) -> int:
        """The quorum of proposals of ``kind`` (one of :data:`PROPOSAL_KINDS`)."""
        if kind not in PROPOSAL_KINDS:
            raise MalformedInput("not a kind of proposal")
        value: int = getattr(self, kind)
        return value

    def bits(self, kind: str) -> int | None:
        """The blind-index width of ``kind``, or None: that kind is not indexed."""
        return dict(self.index_bits).get(kind)

    def to_object(self) -> dict[str, Any]:
        """The policy's JSON object."""
        return {
            **{kind: getattr(self, kind) for kind in PROPOSAL_KINDS},
            "index_bits": dict(self.index_bits),
        }


_POLICY = _PolicyKind()


# --- entries ---------------------------------------------------------------------------

_Spec: TypeAlias = tuple[tuple[str, _Kind, bool], ...]
_MEMBER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_FORMS: dict[str, dict[bool, type[_Entry]]] = {}
"""``type`` -> {has an ``actor``: the class of that form}."""


def _unknown(name: str) -> str:
    # A member's name is echoed only when it looks like one.
    if _MEMBER_NAME.fullmatch(name):
        return f"has no member `{name}`"
    return "has a member of a name no entry has"


@dataclass(frozen=True, kw_only=True)
class _Entry:
    """What every entry type shares: its members as fields, checked when built."""

    TYPE: ClassVar[str]
    _SPEC: ClassVar[_Spec] = ()
    _NAMES: ClassVar[frozenset[str]] = frozenset()
    _REQUIRED: ClassVar[frozenset[str]] = frozenset()
    _PATTERN: ClassVar[re.Pattern[bytes] | None] = None
    _READERS: ClassVar[tuple[tuple[str, Callable[[bytes], Any], int], ...]] = ()

    def __post_init__(self) -> None:
        values = self.__dict__
        for name, kind, optional in self._SPEC:
            value = values[name]
            if (value is not None or not optional) and not kind.ok(value):
                raise EntryMalformed(f"`{name}` {kind.what}", entry_type=self.TYPE)
        problem = self._together()
        if problem is not None:
            raise EntryMalformed(problem, entry_type=self.TYPE)

    def _together(self) -> str | None:
        """What is wrong across members (None: nothing); each type adds its rules."""
        return None

    @classmethod
    def _from_object(cls, obj: Mapping[str, Any], data: bytes | None, logged: bool | None) -> Self:
        kind = cls.TYPE
        names = obj.keys()
        if not names <= cls._NAMES:
            unknown = sorted(names - cls._NAMES)[0]
            raise EntryMalformed(_unknown(unknown), entry_type=kind)
        if not names >= cls._REQUIRED:
            missing = sorted(cls._REQUIRED - names)[0]
            raise EntryMalformed(f"`{missing}` is missing", entry_type=kind)
        version = obj["v"]
        if type(version) is not int or version != VERSION:
            raise EntryMalformed(f"`v` is {VERSION}", entry_type=kind)
        if logged is not None and logged != ("received" in obj):
            raise EntryMalformed(
                "`received` is missing"
                if logged
                else "an entry sent to be logged has no `received`",
                entry_type=kind,
            )
        values: dict[str, Any] = {}
        for name, member, _optional in cls._SPEC:
            if name not in obj:
                values[name] = None
                continue
            try:
                values[name] = member.load(obj[name])
            except _Bad as bad:
                raise EntryMalformed(
                    bad.detail or f"`{name}` {member.what}", entry_type=kind
                ) from None
        # Every member was checked as it was read: fill the fields without checking twice.
        entry = object.__new__(cls)
        entry.__dict__.update(values)
        problem = entry._together()
        if problem is not None:
            raise EntryMalformed(problem, entry_type=kind)
        if data is not None:
            # Each kind writes back exactly the one spelling it reads (hex, b64u
            # without stray bits, times, lists), so the object as read, in JCS,
            # is what to_json() gives: the entry's bytes, when they are canonical.
            if _jcs(dict(obj)) != data:
                raise EntryMalformed("is not in canonical JSON form (RFC 8785)", entry_type=kind)
            entry.__dict__["_json"] = bytes(data)
        return entry

    @classmethod
    def _from_canonical(cls, data: bytes, logged: bool | None) -> Self | None:
        """The entry ``data`` is, if it matches the type's JCS pattern and every
        rule holds; else None (and the general reader decides, and says why)."""
        pattern = cls._PATTERN
        match = pattern.fullmatch(data) if pattern is not None else None
        if match is None:
            return None
        groups = match.groups()
        try:
            values = {
                name: None if groups[group] is None else read(groups[group])
                for name, read, group in cls._READERS
            }
        except _Bad:
            return None
        if logged is not None and logged != (values["received"] is not None):
            return None
        entry = object.__new__(cls)
        entry.__dict__.update(values)
        if entry._together() is not None:
            return None
        entry.__dict__["_json"] = data
        return entry

    @classmethod
    def parse(cls, data: bytes, *, logged: bool | None = True) -> Self:
        """Read the JCS bytes of an entry of this type (see the module docstring).

        ``logged`` (default): ``received`` is present, as in the log; False:
        it is absent, as a workstation sends a signed entry (§12.2); None:
        either.
        """
        if type(data) is bytes:
            fast = cls._from_canonical(data, logged)
            if fast is not None:
                return fast
        obj = _load(data)
        if obj is None:
            raise EntryMalformed("an entry is a JSON object in UTF-8")
        if obj.get("type") != cls.TYPE:
            raise EntryMalformed(f"not a {cls.TYPE} entry")
        return cls._from_object(obj, data, logged)

    def to_object(self) -> dict[str, Any]:
        """The entry's JSON object (absent optional members left out)."""
        obj: dict[str, Any] = {"type": self.TYPE, "v": VERSION}
        values = self.__dict__
        for name, kind, optional in self._SPEC:
            value = values[name]
            if value is None:
                if not optional:
                    obj[name] = None
            else:
                obj[name] = kind.dump(value)
        return obj

    def to_json(self) -> bytes:
        """The entry's JCS bytes: what the log keeps and the tree hashes."""
        cached: bytes | None = self.__dict__.get("_json")
        if cached is None:
            cached = _jcs(self.to_object())
            self.__dict__["_json"] = cached  # fields are frozen: computed once
        return cached

    @property
    def id(self) -> str:
        """The entry id, ``hex(H(0x00 || entry))`` (§9)."""
        return merkle.leaf_hash(self.to_json()).hex()

    def kept_blobs(self) -> tuple[str, ...]:
        """The blobs the server keeps for this entry (none, unless a type says so)."""
        return ()


_E = TypeVar("_E", bound=_Entry)


def _entry_type(cls: type[_E]) -> type[_E]:
    """Register an entry class: its members, from its fields, and its form."""
    spec = tuple(
        (f.name, f.metadata["kind"], bool(f.metadata["optional"]))
        for f in fields(cls)
        if "kind" in f.metadata
    )
    cls._SPEC = spec
    cls._NAMES = frozenset({"type", "v", *(name for name, _, _ in spec)})
    cls._REQUIRED = frozenset({"type", "v", *(name for name, _, optional in spec if not optional)})
    cls._PATTERN, groups = _canonical_pattern(cls.TYPE, spec)
    cls._READERS = tuple(
        (name, kind.from_text, group) for (name, kind, _), group in zip(spec, groups, strict=False)
    )
    _FORMS.setdefault(cls.TYPE, {})["actor" in cls._NAMES] = cls
    return cls


def _canonical_pattern(kind: str, spec: _Spec) -> tuple[re.Pattern[bytes] | None, tuple[int, ...]]:
    """The regular expression of exactly the JCS bytes of a type's entries: its
    members in sorted order (their names are ASCII, so code points sort them as
    UTF-16 does), each value in its kinds's one spelling, optional ones
    optional; and, for each member of ``spec``, the index of its group.

    (None, ()) for a type with a member of no such spelling (a policy).
    """
    members: list[tuple[str, bytes | None, bool]] = [
        (name, member.text, optional) for name, member, optional in spec
    ]
    members += [("type", b'"' + re.escape(kind.encode()) + b'"', False), ("v", b"1", False)]
    members.sort()
    if any(text is None for _, text, _ in members) or members[0][2]:
        return None, ()
    parts = []
    for position, (name, text, optional) in enumerate(members):
        assert text is not None
        piece = (b"," if position else b"") + b'"' + name.encode() + b'":(' + text + b")"
        parts.append(b"(?:" + piece + b")?" if optional else piece)
    pattern = re.compile(rb"\{" + b"".join(parts) + rb"\}")
    order = [name for name, _, _ in members]
    return pattern, tuple(order.index(name) for name, _, _ in spec)


# --- the server's entries (§9) ---------------------------------------------------------


@_entry_type
@dataclass(frozen=True, kw_only=True)
class SubmissionEntry(_Entry):
    """``submission`` (§3, §9): what a submission's request names, hashed."""

    TYPE: ClassVar[str] = "submission"
    intake_key: str = field(metadata=_member(KEY_ID))
    header: str = field(metadata=_member(SHA256_HEX))
    body: str = field(metadata=_member(SHA256_HEX))
    attachments: tuple[str, ...] = field(metadata=_member(_SORTED_IDS))
    witness: bytes | None = field(metadata=_member(_Nullable(_ED25519_KEY)))
    witness_box: str | None = field(metadata=_member(_Nullable(SHA256_HEX)))
    received: datetime = field(metadata=_member(TIME))

    def _together(self) -> str | None:
        if (self.witness is None) != (self.witness_box is None):
            return "`witness` and `witness_box` come together"
        return None

    def kept_blobs(self) -> tuple[str, ...]:
        """The header, the body, every attachment, and the witness's box key
        (kept so that reviewers can seal replies to it, §7)."""
        box = () if self.witness_box is None else (self.witness_box,)
        return (self.header, self.body, *self.attachments, *box)


@_entry_type
@dataclass(frozen=True, kw_only=True)
class IntakeKeyEntry(_Entry):
    """``intake-key`` without an actor: entry 0, written by ``testimony init``
    (§9, docs/log-entries.md). ``key_id`` is the key id of ``key``."""

    TYPE: ClassVar[str] = "intake-key"
    key: bytes = field(metadata=_member(_S1_KEY))
    key_id: str = field(metadata=_member(KEY_ID))
    received: datetime = field(metadata=_member(TIME))

    def _together(self) -> str | None:
        return _key_id_problem(self.key, self.key_id)

    @classmethod
    def naming(cls, public_key: bytes, received: datetime) -> IntakeKeyEntry:
        """The entry naming S1 public key ``public_key`` (raises
        ``MalformedInput`` unless it is 1216 bytes)."""
        return cls(key=public_key, key_id=hpke.key_id(public_key), received=received)


def _key_id_problem(key: bytes, key_id: str) -> str | None:
    return None if hpke.key_id(key) == key_id else "`key_id` is not the key id of `key`"


@_entry_type
@dataclass(frozen=True, kw_only=True)
class FollowupEntry(_Entry):
    """``followup`` (§7, docs/log-entries.md): what a follow-up names, the parent's
    witness key and the request's signature (not an entry signature)."""

    TYPE: ClassVar[str] = "followup"
    parent: str = field(metadata=_member(SHA256_HEX))
    intake_key: str = field(metadata=_member(KEY_ID))
    header: str = field(metadata=_member(SHA256_HEX))
    body: str = field(metadata=_member(SHA256_HEX))
    attachments: tuple[str, ...] = field(metadata=_member(_SORTED_IDS))
    witness: bytes = field(metadata=_member(_ED25519_KEY))
    signature: bytes = field(metadata=_member(_SIGNATURE))
    received: datetime = field(metadata=_member(TIME))

    def kept_blobs(self) -> tuple[str, ...]:
        """The header, the body and every attachment."""
        return (self.header, self.body, *self.attachments)


@_entry_type
@dataclass(frozen=True, kw_only=True)
class ReplyEntry(_Entry):
    """``reply`` without actor or signature, as versions before v1.1 logged it
    (§7): still read, never written."""

    TYPE: ClassVar[str] = "reply"
    parent: str = field(metadata=_member(SHA256_HEX))
    sealed: str = field(metadata=_member(SHA256_HEX))
    received: datetime = field(metadata=_member(TIME))

    def kept_blobs(self) -> tuple[str, ...]:
        """The sealed reply's bytes."""
        return (self.sealed,)


@_entry_type
@dataclass(frozen=True, kw_only=True)
class AccessEntry(_Entry):
    """``access`` (§12.7): written by the server before it hands a reviewer
    ciphertexts of ``subjects`` (submission ids, sorted, at least one)."""

    TYPE: ClassVar[str] = "access"
    reviewer: str = field(metadata=_member(KEY_ID))
    subjects: tuple[str, ...] = field(
        metadata=_member(
            _List(
                SHA256_HEX,
                ascending=True,
                empty=False,
                what="is a sorted, non-empty list of distinct 64-hex ids",
            )
        )
    )
    received: datetime = field(metadata=_member(TIME))


# --- the reviewers' entries (§12) ------------------------------------------------------

_NO_SIGNATURE = bytes(_SIGNATURE_LENGTH)


@dataclass(frozen=True, kw_only=True)
class SignedEntry(_Entry):
    """What every §12.2 entry shares: ``actor`` (a reviewer id), ``nonce`` (16
    bytes), ``signature`` (Ed25519 by the actor's ``sign_key``) and ``received``
    (added by the server; None in an entry as the workstation sends it)."""

    actor: str = field(metadata=_member(KEY_ID))
    nonce: bytes = field(metadata=_member(_B64u(NONCE_LENGTH)))
    signature: bytes = field(metadata=_member(_SIGNATURE))
    received: datetime | None = field(default=None, metadata=_member(TIME, optional=True))

    @classmethod
    def create(
        cls,
        signer: Ed25519PrivateKey,
        /,
        *,
        nonce: bytes,
        received: datetime | None = None,
        **members: Any,
    ) -> Self:
        """The entry with ``members``, its actor the id of ``signer`` (the
        reviewer's ``sign_key``) and signed by it.

        ``nonce`` is 16 fresh random bytes (``os.urandom(16)``).
        """
        actor = reviewer_id(signing.public_key_bytes(signer))
        unsigned = cls(
            actor=actor, nonce=nonce, signature=_NO_SIGNATURE, received=received, **members
        )
        return replace(unsigned, signature=signing.sign(signer, unsigned.signed_bytes()))

    def signed_bytes(self) -> bytes:
        """What the signature covers: ``JCS(entry without "signature" and "received")``."""
        obj = self.to_object()
        del obj["signature"]
        obj.pop("received", None)
        return _jcs(obj)

    def verify_signature(self, public_key: bytes) -> None:
        """Check the signature with the actor's Ed25519 ``public_key`` (32 bytes).

        Raises :class:`~testimony.crypto.errors.SignatureError` if the key is
        not the actor's (its reviewer id is not ``actor``) or the signature does
        not verify.
        """
        if reviewer_id(public_key) != self.actor:
            raise SignatureError("the key is not the entry's actor's")
        signing.verify(public_key, self.signed_bytes(), self.signature)

    def with_received(self, received: datetime) -> Self:
        """The entry as the server logs it, with ``received`` (floored, §9)."""
        return replace(self, received=received)


def _actor_problem(actor: str, sign_key: bytes) -> str | None:
    if reviewer_id(sign_key) != actor:
        return "`actor` is not the reviewer id of `sign_key`"
    return None


@_entry_type
@dataclass(frozen=True, kw_only=True)
class IntakeKeyRotation(SignedEntry):
    """``intake-key`` with an actor: a rotation (§12.5), a proposal of kind ``rotate``."""

    TYPE: ClassVar[str] = "intake-key"
    key: bytes = field(metadata=_member(_S1_KEY))
    key_id: str = field(metadata=_member(KEY_ID))

    def _together(self) -> str | None:
        return _key_id_problem(self.key, self.key_id)


@_entry_type
@dataclass(frozen=True, kw_only=True)
class OrgEntry(SignedEntry):
    """``org`` (§12.3): the founding admin's keys, the setup token's hash and the
    policy; signed with the key it names (``actor`` is that key's id)."""

    TYPE: ClassVar[str] = "org"
    sign_key: bytes = field(metadata=_member(_ED25519_KEY))
    box_key: bytes = field(metadata=_member(_S1_KEY))
    setup: str = field(metadata=_member(SHA256_HEX))
    policy: Policy = field(metadata=_member(_POLICY))

    def _together(self) -> str | None:
        return _actor_problem(self.actor, self.sign_key)

    def verify_self_signature(self) -> None:
        """Check the signature with the key the entry names."""
        self.verify_signature(self.sign_key)


@_entry_type
@dataclass(frozen=True, kw_only=True)
class PolicyEntry(SignedEntry):
    """``policy`` (§12.3): a new policy, a proposal of kind ``policy``."""

    TYPE: ClassVar[str] = "policy"
    policy: Policy = field(metadata=_member(_POLICY))


@_entry_type
@dataclass(frozen=True, kw_only=True)
class InviteEntry(SignedEntry):
    """``invite`` (§12.4, an admin's): ``code`` is ``hex(H(invite code))``."""

    TYPE: ClassVar[str] = "invite"
    code: str = field(metadata=_member(SHA256_HEX))


@_entry_type
@dataclass(frozen=True, kw_only=True)
class ReviewerEntry(SignedEntry):
    """``reviewer`` (§12.4): a candidate's keys, role and invite, self-signed; a
    proposal of kind ``enrol``."""

    TYPE: ClassVar[str] = "reviewer"
    sign_key: bytes = field(metadata=_member(_ED25519_KEY))
    box_key: bytes = field(metadata=_member(_S1_KEY))
    role: str = field(metadata=_member(_Choice(ROLES)))
    invite: str = field(metadata=_member(SHA256_HEX))

    def _together(self) -> str | None:
        return _actor_problem(self.actor, self.sign_key)

    def verify_self_signature(self) -> None:
        """Check the signature with the key the entry names."""
        self.verify_signature(self.sign_key)


@_entry_type
@dataclass(frozen=True, kw_only=True)
class ApprovalEntry(SignedEntry):
    """``approval`` (§12.4, an admin's): ``subject`` is a proposal's entry id."""

    TYPE: ClassVar[str] = "approval"
    subject: str = field(metadata=_member(SHA256_HEX))


@_entry_type
@dataclass(frozen=True, kw_only=True)
class RevokeEntry(SignedEntry):
    """``revoke`` (§12.4, an admin's): ``subject`` is a reviewer id; a proposal of
    kind ``revoke``."""

    TYPE: ClassVar[str] = "revoke"
    subject: str = field(metadata=_member(KEY_ID))


@_entry_type
@dataclass(frozen=True, kw_only=True)
class GrantEntry(SignedEntry):
    """``grant`` (§12.5): the group secrets up to ``epoch`` and the intake seeds,
    sealed to ``subject``'s box key (``Seal_S1``: at least an encapsulation, a
    tag and one byte)."""

    TYPE: ClassVar[str] = "grant"
    subject: str = field(metadata=_member(KEY_ID))
    epoch: int = field(metadata=_member(_EPOCH))
    sealed: bytes = field(metadata=_member(_B64u(minimum=hpke.ENC_LENGTH + _AEAD_MINIMUM)))


@_entry_type
@dataclass(frozen=True, kw_only=True)
class AnnotationEntry(SignedEntry):
    """``annotation`` (§12.6): a payload sealed under the epoch's group secret,
    and its blind indexes (strictly ascending, each below 2**32)."""

    TYPE: ClassVar[str] = "annotation"
    epoch: int = field(metadata=_member(_EPOCH))
    index: tuple[int, ...] = field(
        metadata=_member(
            _List(
                _Int(0, 2**MAX_INDEX_BITS - 1),
                ascending=True,
                empty=True,
                what=f"is a strictly ascending list of whole numbers below 2**{MAX_INDEX_BITS}",
            )
        )
    )
    sealed: bytes = field(metadata=_member(_SEALED_PAYLOAD))


@_entry_type
@dataclass(frozen=True, kw_only=True)
class SignedReplyEntry(SignedEntry):
    """``reply`` with an actor (§12.7): the sealed reply's hash, by a reviewer."""

    TYPE: ClassVar[str] = "reply"
    parent: str = field(metadata=_member(SHA256_HEX))
    sealed: str = field(metadata=_member(SHA256_HEX))

    def kept_blobs(self) -> tuple[str, ...]:
        """The sealed reply's bytes."""
        return (self.sealed,)


@_entry_type
@dataclass(frozen=True, kw_only=True)
class ExportEntry(SignedEntry):
    """``export`` (§12.7): a bundle's manifest hash, its sealed payload, and the
    sealed redaction salts (None: the export withholds nothing)."""

    TYPE: ClassVar[str] = "export"
    epoch: int = field(metadata=_member(_EPOCH))
    manifest: str = field(metadata=_member(SHA256_HEX))
    sealed: bytes = field(metadata=_member(_SEALED_PAYLOAD))
    salts: bytes | None = field(default=None, metadata=_member(_SEALED_PAYLOAD, optional=True))


@_entry_type
@dataclass(frozen=True, kw_only=True)
class ShredEntry(SignedEntry):
    """``shred`` (§12.7, an admin's): blobs to destroy (distinct, at least one,
    in the admin's order) and the sealed reason; a proposal of kind ``shred``."""

    TYPE: ClassVar[str] = "shred"
    blobs: tuple[str, ...] = field(
        metadata=_member(
            _List(
                SHA256_HEX,
                ascending=False,
                empty=False,
                what="is a non-empty list of distinct 64-hex ids",
            )
        )
    )
    epoch: int = field(metadata=_member(_EPOCH))
    sealed: bytes = field(metadata=_member(_SEALED_PAYLOAD))


Entry: TypeAlias = (
    SubmissionEntry
    | IntakeKeyEntry
    | FollowupEntry
    | ReplyEntry
    | AccessEntry
    | IntakeKeyRotation
    | OrgEntry
    | PolicyEntry
    | InviteEntry
    | ReviewerEntry
    | ApprovalEntry
    | RevokeEntry
    | GrantEntry
    | AnnotationEntry
    | SignedReplyEntry
    | ExportEntry
    | ShredEntry
)
"""Any entry of the protocol."""

ENTRY_TYPES: frozenset[str] = frozenset(_FORMS)
"""Every ``type`` an entry may have."""


# --- reading any entry -----------------------------------------------------------------


def _dispatch(obj: Mapping[str, Any], data: bytes | None, logged: bool | None) -> Entry:
    kind = obj.get("type")
    forms = _FORMS.get(kind) if type(kind) is str else None
    if forms is None:
        raise EntryMalformed("`type` names no entry type of the protocol")
    cls = forms.get("actor" in obj) or next(iter(forms.values()))
    entry: Entry = cls._from_object(obj, data, logged)  # type: ignore[assignment]
    return entry


_TYPE_MEMBER = re.compile(rb'"type":"([a-z-]{1,16})"')


def _fast(data: object, logged: bool | None) -> Entry | None:
    """The entry ``data`` is, read by the pattern of its type; None if that does
    not match (the general reader then decides). A wrong guess of the type (a
    ``"type"`` member nested in another) only means no match."""
    if type(data) is not bytes:
        return None
    found = _TYPE_MEMBER.search(data)
    forms = _FORMS.get(found.group(1).decode("ascii")) if found is not None else None
    if forms is None:
        return None
    for cls in forms.values():
        entry = cls._from_canonical(data, logged)
        if entry is not None:
            return entry  # type: ignore[return-value]
    return None


def parse_entry(data: bytes, *, logged: bool | None = True) -> Entry:
    """Read the JCS bytes of any entry (see the module docstring).

    Raises :class:`~testimony.crypto.errors.EntryMalformed`.
    """
    fast = _fast(data, logged)
    if fast is not None:
        return fast
    obj = _load(data)
    if obj is None:
        raise EntryMalformed("an entry is a JSON object in UTF-8")
    return _dispatch(obj, data, logged)


def parse_known_entry(data: bytes, *, types: Collection[str] | None = None) -> Entry | None:
    """Read a logged entry whose ``type`` is known (among ``types`` if given).

    Answers None for bytes that are not a JSON object with such a ``type``;
    raises :class:`~testimony.crypto.errors.EntryMalformed` for one that is,
    but is malformed.
    """
    fast = _fast(data, True)
    if fast is not None:
        return fast if types is None or fast.TYPE in types else None
    obj = _load(data)
    if obj is None:
        return None
    kind = obj.get("type")
    if type(kind) is not str or kind not in _FORMS or (types is not None and kind not in types):
        return None
    return _dispatch(obj, data, True)


def entry_from_object(value: object, *, logged: bool | None = True) -> Entry:
    """Read an entry from a parsed JSON object (a request's), checking every
    member as :func:`parse_entry` does but not the bytes' JCS form.

    Raises :class:`~testimony.crypto.errors.EntryMalformed`.
    """
    if not isinstance(value, Mapping):
        raise EntryMalformed("an entry is a JSON object")
    return _dispatch(value, None, logged)
