"""crypto/entries.py: every log entry type, parsed strictly and built to the exact
JCS bytes (docs/protocol.md §9, §12; docs/log-entries.md), against the protocol's
vectors and by property."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testimony.crypto import canonical, entries, followup, hpke, keyring, receipt, signing
from testimony.crypto import submission as submissions
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.entries import (
    AccessEntry,
    AnnotationEntry,
    ApprovalEntry,
    ExportEntry,
    FollowupEntry,
    GrantEntry,
    IntakeKeyEntry,
    IntakeKeyRotation,
    InviteEntry,
    OrgEntry,
    Policy,
    PolicyEntry,
    ReplyEntry,
    ReviewerEntry,
    RevokeEntry,
    ShredEntry,
    SignedEntry,
    SignedReplyEntry,
    SubmissionEntry,
    entry_from_object,
    parse_entry,
    parse_known_entry,
)
from testimony.crypto.errors import EntryMalformed, MalformedInput, SignatureError
from testimony.crypto.rfc3339 import parse_time
from tests.vectors.loader import load_json

SUBMISSION = load_json("testimony/submission.json")
REVIEWERS = load_json("testimony/reviewers.json")
RECEIVED = datetime(2026, 11, 25, 12, tzinfo=UTC)
KEY = signing.private_key_from_seed(bytes(range(32)))
PUBLIC = signing.public_key_bytes(KEY)
OTHER = signing.private_key_from_seed(bytes(32))
SIGN_KEYS = {r["reviewer_id"]: b64u_decode(r["sign_key"]) for r in REVIEWERS["reviewers"]}

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- the vectors ---------------------------------------------------------------------


def test_the_submission_vector_entry_round_trips_byte_for_byte() -> None:
    data = b64u_decode(SUBMISSION["entry"])
    entry = SubmissionEntry.parse(data)
    assert entry.to_json() == data
    assert entry.id == SUBMISSION["id"]
    assert parse_entry(data) == entry
    # The server's builder gives the same entry object, and so the same bytes.
    built = submissions.build_submission_entry(
        SUBMISSION["request"], parse_time(SUBMISSION["received"])
    )
    assert built == entry and built.to_json() == data
    assert entry.kept_blobs() == (
        entry.header,
        entry.body,
        *sorted(SUBMISSION["blobs"]),
        entry.witness_box,
    )


@pytest.mark.parametrize("item", REVIEWERS["governance"]["log"], ids=lambda item: item["why"][:40])
def test_every_logged_governance_vector_round_trips_and_its_signature_verifies(
    item: dict[str, Any],
) -> None:
    data = b64u_decode(item["entry"])
    entry = parse_entry(data)
    assert entry.to_json() == data
    assert entry.id == item["id"]
    assert entry.received is not None
    if isinstance(entry, SignedEntry):
        key = getattr(entry, "sign_key", None) or SIGN_KEYS[entry.actor]
        entry.verify_signature(key)
        assert entry.signed_bytes() == keyring.signing_bytes(json.loads(data))
        assert entry.with_received(RECEIVED).signed_bytes() == entry.signed_bytes()


@pytest.mark.parametrize(
    "entry",
    [
        REVIEWERS["signed_entry"]["entry"],
        REVIEWERS["keyring"]["annotation"]["entry"],
        REVIEWERS["grant"]["entry"],
    ],
    ids=["invite", "annotation", "grant"],
)
def test_the_vectors_signed_entries_as_sent_parse_without_received(entry: dict[str, Any]) -> None:
    data = canonical.dumps(entry)
    parsed = parse_entry(data, logged=False)
    assert parsed.to_json() == data and parsed.received is None
    assert isinstance(parsed, SignedEntry)
    parsed.verify_signature(SIGN_KEYS[parsed.actor])
    with pytest.raises(EntryMalformed, match="`received` is missing"):
        parse_entry(data)
    logged = parsed.with_received(RECEIVED)
    assert parse_entry(logged.to_json()) == logged
    with pytest.raises(EntryMalformed, match="has no `received`"):
        parse_entry(logged.to_json(), logged=False)


def test_the_vector_signing_bytes_are_the_entrys() -> None:
    vector = REVIEWERS["signed_entry"]
    entry = parse_entry(canonical.dumps(vector["entry"]), logged=False)
    assert isinstance(entry, InviteEntry)
    assert entry.signed_bytes() == vector["signing_bytes"].encode()


def test_the_vector_org_is_self_signed_and_names_its_policy() -> None:
    org = parse_entry(b64u_decode(REVIEWERS["governance"]["log"][1]["entry"]))
    assert isinstance(org, OrgEntry)
    org.verify_self_signature()
    assert org.policy.quorum("enrol") == 2 and org.policy.quorum("export") == 1
    assert org.policy.bits("incident") == 8 and org.policy.bits("witness") is None


# --- today's builders give the bytes they gave before --------------------------------


def test_the_followup_entry_is_the_dict_it_always_was() -> None:
    keys = receipt.derive("1234-5678-9012-3456-7890")
    sealed = submissions.seal_submission(
        hpke.public_key(bytes(32)), followup.followup_manifest("x")
    )
    request = followup.sign_followup(
        keys, followup.followup_request(sealed, parent="ab" * 32, attachments=["cd" * 32])
    )
    data = followup.followup_entry(request, witness=keys.witness, received=RECEIVED)
    assert data == canonical.dumps(
        {
            "type": "followup",
            "v": 1,
            "parent": "ab" * 32,
            "intake_key": request["intake_key"],
            "header": submissions.sha256(sealed.header).hex(),
            "body": submissions.sha256(sealed.body).hex(),
            "attachments": ["cd" * 32],
            "witness": keys.witness_b64u,
            "signature": request["signature"],
            "received": "2026-11-25T12:00:00Z",
        }
    )
    assert FollowupEntry.parse(data) == followup.build_followup_entry(
        request, witness=keys.witness, received=RECEIVED
    )


def test_the_reply_and_intake_key_entries_are_the_dicts_they_always_were() -> None:
    sealed = followup.seal_reply(hpke.public_key(bytes(32)), {"v": 1, "text": "когда?"})
    digest = submissions.sha256(sealed).hex()
    # A reviewer's reply as a workstation signs it (§12.7) and the server logs it.
    nonce = bytes(range(16))
    signed = SignedReplyEntry.create(KEY, nonce=nonce, parent="ab" * 32, sealed=digest)
    signed.verify_signature(PUBLIC)
    data = signed.with_received(RECEIVED).to_json()
    assert data == canonical.dumps(
        {
            "type": "reply",
            "v": 1,
            "parent": "ab" * 32,
            "sealed": digest,
            "actor": keyring.reviewer_id(PUBLIC),
            "nonce": b64u_encode(nonce),
            "signature": b64u_encode(signed.signature),
            "received": "2026-11-25T12:00:00Z",
        }
    )
    assert signed.signed_bytes() == canonical.dumps(
        {
            "type": "reply",
            "v": 1,
            "parent": "ab" * 32,
            "sealed": digest,
            "actor": keyring.reviewer_id(PUBLIC),
            "nonce": b64u_encode(nonce),
        }
    )
    assert parse_entry(data) == signed.with_received(RECEIVED)
    # The unsigned form earlier servers wrote is no longer written, but an old
    # log may hold one: it still parses, to the same bytes.
    unsigned = canonical.dumps(
        {
            "type": "reply",
            "v": 1,
            "parent": "ab" * 32,
            "sealed": digest,
            "received": "2026-11-25T12:00:00Z",
        }
    )
    old = parse_entry(unsigned)
    assert old == ReplyEntry(parent="ab" * 32, sealed=digest, received=RECEIVED)
    assert old.to_json() == unsigned
    public = hpke.public_key(bytes(32))
    key_entry = IntakeKeyEntry.naming(public, RECEIVED)
    assert key_entry.to_json() == canonical.dumps(
        {
            "type": "intake-key",
            "v": 1,
            "key": b64u_encode(public),
            "key_id": hpke.key_id(public),
            "received": "2026-11-25T12:00:00Z",
        }
    )


# --- strategies: a valid value of every entry type -----------------------------------


def _hex(digits: int) -> st.SearchStrategy[str]:
    return st.binary(min_size=digits // 2, max_size=digits // 2).map(bytes.hex)


def _bytes(size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=size, max_size=size)


HEX64, HEX32 = _hex(64), _hex(32)
TIMES = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda moment: moment.replace(microsecond=0, tzinfo=UTC))
SORTED_IDS = st.lists(HEX64, unique=True, max_size=4).map(lambda ids: tuple(sorted(ids)))
SEALED = st.binary(min_size=17, max_size=120)
S1_KEYS = _bytes(hpke.PUBLIC_KEY_LENGTH)
EPOCHS = st.integers(0, 2**53 - 1)
POLICIES = st.builds(
    Policy,
    **{kind: st.integers(1, 2**53 - 1) for kind in entries.PROPOSAL_KINDS},
    index_bits=st.dictionaries(st.text(min_size=1, max_size=8), st.integers(1, 32), max_size=4).map(
        lambda bits: tuple(sorted(bits.items()))
    ),
)


def _signed(cls: type[SignedEntry], **members: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.builds(
        cls,
        actor=HEX32,
        nonce=_bytes(16),
        signature=_bytes(64),
        received=st.none() | TIMES,
        **members,
    )


def _self_signed(
    cls: type[SignedEntry], **members: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    # `actor` is the reviewer id of `sign_key`.
    return _bytes(32).flatmap(
        lambda sign_key: st.builds(
            cls,
            actor=st.just(keyring.reviewer_id(sign_key)),
            sign_key=st.just(sign_key),
            nonce=_bytes(16),
            signature=_bytes(64),
            received=st.none() | TIMES,
            **members,
        )
    )


def _intake_key(cls: type[Any], **members: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return S1_KEYS.flatmap(
        lambda key: st.builds(cls, key=st.just(key), key_id=st.just(hpke.key_id(key)), **members)
    )


WITNESS_PAIRS = st.none().map(lambda _: (None, None)) | st.tuples(_bytes(32), HEX64)

ENTRIES: st.SearchStrategy[Any] = st.one_of(
    WITNESS_PAIRS.flatmap(
        lambda pair: st.builds(
            SubmissionEntry,
            intake_key=HEX32,
            header=HEX64,
            body=HEX64,
            attachments=SORTED_IDS,
            witness=st.just(pair[0]),
            witness_box=st.just(pair[1]),
            received=TIMES,
        )
    ),
    _intake_key(IntakeKeyEntry, received=TIMES),
    st.builds(
        FollowupEntry,
        parent=HEX64,
        intake_key=HEX32,
        header=HEX64,
        body=HEX64,
        attachments=SORTED_IDS,
        witness=_bytes(32),
        signature=_bytes(64),
        received=TIMES,
    ),
    st.builds(ReplyEntry, parent=HEX64, sealed=HEX64, received=TIMES),
    st.builds(
        AccessEntry,
        reviewer=HEX32,
        subjects=st.lists(HEX64, unique=True, min_size=1, max_size=4).map(
            lambda ids: tuple(sorted(ids))
        ),
        received=TIMES,
    ),
    _intake_key(
        IntakeKeyRotation,
        actor=HEX32,
        nonce=_bytes(16),
        signature=_bytes(64),
        received=st.none() | TIMES,
    ),
    _self_signed(OrgEntry, box_key=S1_KEYS, setup=HEX64, policy=POLICIES),
    _signed(PolicyEntry, policy=POLICIES),
    _signed(InviteEntry, code=HEX64),
    _self_signed(ReviewerEntry, box_key=S1_KEYS, role=st.sampled_from(entries.ROLES), invite=HEX64),
    _signed(ApprovalEntry, subject=HEX64),
    _signed(RevokeEntry, subject=HEX32),
    _signed(
        GrantEntry,
        subject=HEX32,
        epoch=EPOCHS,
        sealed=st.binary(min_size=hpke.ENC_LENGTH + 17, max_size=hpke.ENC_LENGTH + 60),
    ),
    _signed(
        AnnotationEntry,
        epoch=EPOCHS,
        index=st.lists(st.integers(0, 2**32 - 1), unique=True, max_size=5).map(
            lambda values: tuple(sorted(values))
        ),
        sealed=SEALED,
    ),
    _signed(SignedReplyEntry, parent=HEX64, sealed=HEX64),
    _signed(ExportEntry, epoch=EPOCHS, manifest=HEX64, sealed=SEALED, salts=st.none() | SEALED),
    _signed(
        ShredEntry,
        blobs=st.lists(HEX64, unique=True, min_size=1, max_size=4).map(tuple),
        epoch=EPOCHS,
        sealed=SEALED,
    ),
)


def _parse(data: bytes, entry: Any) -> Any:
    return parse_entry(data, logged=entry.received is not None)


def test_every_form_but_those_holding_a_policy_has_a_jcs_pattern() -> None:
    without = {
        cls.__name__ for forms in entries._FORMS.values() for cls in forms.values()
        if cls._PATTERN is None
    }  # fmt: skip
    assert without == {"OrgEntry", "PolicyEntry"}


def test_the_strategies_cover_every_entry_class() -> None:
    classes = {cls for forms in entries._FORMS.values() for cls in forms.values()}
    named = {
        SubmissionEntry, IntakeKeyEntry, FollowupEntry, ReplyEntry, AccessEntry,
        IntakeKeyRotation, OrgEntry, PolicyEntry, InviteEntry, ReviewerEntry, ApprovalEntry,
        RevokeEntry, GrantEntry, AnnotationEntry, SignedReplyEntry, ExportEntry, ShredEntry,
    }  # fmt: skip
    assert classes == named
    assert {cls.TYPE for cls in classes} == entries.ENTRY_TYPES


# --- properties ----------------------------------------------------------------------


@PROPERTY
@given(ENTRIES)
def test_build_parse_build_is_the_identity(entry: Any) -> None:
    data = entry.to_json()
    assert data == canonical.dumps(entry.to_object())  # the fast JCS is RFC 8785's
    parsed = _parse(data, entry)
    assert type(parsed) is type(entry)
    assert parsed == entry
    assert parsed.to_json() == data
    assert type(entry).parse(data, logged=entry.received is not None) == entry
    assert entry_from_object(json.loads(data), logged=entry.received is not None) == entry
    # A frozen value: equal entries hash alike.
    assert hash(parsed) == hash(entry)
    # The fast path (the type's JCS pattern) and the general reader agree.
    logged = entry.received is not None
    general = entries._dispatch(json.loads(data), data, logged)
    assert general == entry and general.to_json() == data
    fast = entries._fast(data, logged)
    assert fast == (entry if type(entry)._PATTERN is not None else None)
    assert entries._fast(data, not logged) is None


_OTHER_TYPES: list[Any] = [None, True, 0, "x", [], {}]


def _json_type(value: Any) -> type:
    return type(value)


def _refused(data: bytes, entry: Any) -> EntryMalformed:
    # The fast path never accepts what the general reader refuses.
    assert entries._fast(data, entry.received is not None) is None
    with pytest.raises(EntryMalformed) as caught:
        _parse(data, entry)
    message = str(caught.value)
    # The message names members; it never echoes a value (keys, hashes, ciphertexts).
    for value in json.loads(entry.to_json()).values():
        if isinstance(value, str) and len(value) >= 16:
            assert value not in message
    return caught.value


@PROPERTY
@given(ENTRIES, st.data())
def test_dropping_a_member_is_refused(entry: Any, data: st.DataObject) -> None:
    obj = entry.to_object()
    optional = {name for name, _kind, is_optional in entry._SPEC if is_optional} - {"received"}
    name = data.draw(st.sampled_from(sorted(set(obj) - optional)))
    del obj[name]
    _refused(canonical.dumps(obj), entry)


@PROPERTY
@given(ENTRIES, st.data())
def test_adding_a_member_is_refused(entry: Any, data: st.DataObject) -> None:
    obj = entry.to_object()
    name = data.draw(st.text(min_size=1, max_size=12).filter(lambda n: n not in entry._NAMES))
    obj[name] = data.draw(st.sampled_from(_OTHER_TYPES[:5]) | st.text(max_size=5))
    _refused(canonical.dumps(obj), entry)


@PROPERTY
@given(ENTRIES, st.data())
def test_changing_a_members_type_is_refused(entry: Any, data: st.DataObject) -> None:
    obj = entry.to_object()
    name = data.draw(st.sampled_from(sorted(obj)))
    current = _json_type(obj[name])
    obj[name] = data.draw(
        st.sampled_from([value for value in _OTHER_TYPES if _json_type(value) is not current])
    )
    _refused(canonical.dumps(obj), entry)


@PROPERTY
@given(ENTRIES, st.sampled_from(["spaces", "escape", "order", "bom", "trailing"]))
def test_bytes_not_in_jcs_form_are_refused(entry: Any, how: str) -> None:
    data = entry.to_json()
    if how == "spaces":
        altered = data.replace(b'":', b'": ', 1)
    elif how == "escape":  # the same text, one character written as \\u00XX
        at = data.index(b'"type":"') + len(b'"type":"')
        altered = data[:at] + b"\\u%04x" % data[at] + data[at + 1 :]
    elif how == "order":
        obj = json.loads(data)
        altered = json.dumps(dict(reversed(list(obj.items()))), separators=(",", ":")).encode()
    elif how == "bom":
        altered = b"\xef\xbb\xbf" + data
    else:
        altered = data + b"\n"
    assert altered != data
    _refused(altered, entry)
    if how == "bom":
        assert parse_known_entry(altered) is None


# --- rules across members, and lengths -----------------------------------------------


def _submission(**changes: Any) -> SubmissionEntry:
    values: dict[str, Any] = {
        "intake_key": "ab" * 16,
        "header": "01" * 32,
        "body": "02" * 32,
        "attachments": (),
        "witness": None,
        "witness_box": None,
        "received": RECEIVED,
    }
    return SubmissionEntry(**{**values, **changes})


@pytest.mark.parametrize(
    ("changes", "member"),
    [
        ({"intake_key": "AB" * 16}, "intake_key"),
        ({"header": "01" * 31}, "header"),
        ({"attachments": ("02" * 32, "01" * 32)}, "attachments"),
        ({"attachments": ("01" * 32, "01" * 32)}, "attachments"),
        ({"attachments": ["01" * 32]}, "attachments"),
        ({"witness": bytes(31), "witness_box": "03" * 32}, "witness"),
        ({"witness": bytes(32)}, "witness_box"),
        ({"received": RECEIVED.replace(microsecond=1)}, "received"),
        ({"received": RECEIVED.replace(tzinfo=timezone(timedelta(hours=1)))}, "received"),
        ({"received": RECEIVED.replace(tzinfo=None)}, "received"),
    ],
)
def test_building_a_malformed_entry_is_refused_naming_the_member(
    changes: dict[str, Any], member: str
) -> None:
    with pytest.raises(EntryMalformed, match=f"`{member}`") as caught:
        _submission(**changes)
    assert caught.value.code == "entry-malformed"
    assert caught.value.entry_type == "submission"
    assert isinstance(caught.value, MalformedInput)


def test_parsing_names_the_member_never_its_value() -> None:
    obj = _submission().to_object()
    obj["witness"] = "secretlookingvalue" * 3
    obj["witness_box"] = "03" * 32
    with pytest.raises(EntryMalformed) as caught:
        parse_entry(canonical.dumps(obj))
    assert str(caught.value) == "submission entry: `witness` is the b64u of 32 bytes, or null"
    assert "secretlooking" not in str(caught.value)
    obj = _submission().to_object()
    obj["a member named with a secret 0123456789abcdef"] = 1
    with pytest.raises(EntryMalformed) as caught:
        parse_entry(canonical.dumps(obj))
    assert "0123456789abcdef" not in str(caught.value)
    assert str(caught.value) == "submission entry: has a member of a name no entry has"


def test_b64u_members_have_one_spelling() -> None:
    obj = _submission(witness=bytes(32), witness_box="03" * 32).to_object()
    assert obj["witness"].endswith("A")
    for spelling in (obj["witness"][:-1] + "B", obj["witness"] + "=", obj["witness"][:-1]):
        with pytest.raises(EntryMalformed, match="`witness`"):
            parse_entry(canonical.dumps({**obj, "witness": spelling}))


def test_an_intake_key_entry_names_its_own_key_id() -> None:
    public = hpke.public_key(bytes(32))
    obj = IntakeKeyEntry.naming(public, RECEIVED).to_object()
    with pytest.raises(EntryMalformed, match="`key_id` is not the key id of `key`"):
        parse_entry(canonical.dumps({**obj, "key_id": "00" * 16}))
    with pytest.raises(MalformedInput):
        IntakeKeyEntry.naming(public[:-1], RECEIVED)


def test_an_org_or_reviewer_entry_is_by_the_key_it_names() -> None:
    org = OrgEntry.create(
        KEY,
        nonce=bytes(16),
        sign_key=PUBLIC,
        box_key=hpke.public_key(bytes(32)),
        setup="00" * 32,
        policy=Policy.create(),
    )
    org.verify_self_signature()
    assert org.actor == keyring.reviewer_id(PUBLIC)
    with pytest.raises(EntryMalformed, match="`actor` is not the reviewer id of `sign_key`"):
        OrgEntry.create(
            OTHER,
            nonce=bytes(16),
            sign_key=PUBLIC,
            box_key=hpke.public_key(bytes(32)),
            setup="00" * 32,
            policy=Policy.create(),
        )


def test_a_signature_verifies_with_the_actors_key_only() -> None:
    entry = ApprovalEntry.create(KEY, nonce=bytes(range(16)), subject="ab" * 32)
    entry.verify_signature(PUBLIC)
    with pytest.raises(SignatureError):
        entry.verify_signature(signing.public_key_bytes(OTHER))
    altered = ApprovalEntry(
        actor=entry.actor, nonce=entry.nonce, signature=entry.signature, subject="cd" * 32
    )
    with pytest.raises(SignatureError):
        altered.verify_signature(PUBLIC)
    # `received` is not signed: the server adds it.
    entry.with_received(RECEIVED).verify_signature(PUBLIC)
    assert entry.signed_bytes() == keyring.signing_bytes(entry.to_object())
    assert keyring.Identity(bytes(range(32)), bytes(32)).id == entry.actor


@pytest.mark.parametrize(
    "policy",
    [
        {"enrol": 0},
        {"enrol": True},
        {"revoke": 2**53},
        {"index_bits": {"tag": 33}},
        {"index_bits": {"tag": 0}},
        {"index_bits": {"": 5}},
        {"index_bits": []},
        {"shred": None},
        {"extra": 1},
    ],
)
def test_a_malformed_policy_is_refused(policy: dict[str, Any]) -> None:
    entry = PolicyEntry.create(KEY, nonce=bytes(16), policy=Policy.create(), received=RECEIVED)
    obj = entry.to_object()
    obj["policy"] = {**obj["policy"], **policy}
    # Sorted and compact as JCS writes it, also for an integer JCS refuses to write.
    data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(EntryMalformed, match="`policy"):
        parse_entry(data)
    obj["policy"] = {k: v for k, v in obj["policy"].items() if k != "rotate"}
    with pytest.raises(EntryMalformed, match="`policy` has exactly"):
        parse_entry(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())


def test_a_policy_with_kinds_beyond_ascii_is_written_in_jcs() -> None:
    policy = Policy.create(index_bits={"место": 5, "tag": 5})
    entry = PolicyEntry.create(KEY, nonce=bytes(16), policy=policy)
    assert entry.to_json() == canonical.dumps(entry.to_object())
    assert parse_entry(entry.to_json(), logged=False) == entry
    assert policy.bits("место") == 5
    with pytest.raises(MalformedInput):
        policy.quorum("tag")


@pytest.mark.parametrize(
    ("cls", "members", "member"),
    [
        (AnnotationEntry, {"epoch": 0, "index": (3, 3), "sealed": bytes(17)}, "index"),
        (AnnotationEntry, {"epoch": 0, "index": (4, 3), "sealed": bytes(17)}, "index"),
        (AnnotationEntry, {"epoch": 0, "index": (2**32,), "sealed": bytes(17)}, "index"),
        (AnnotationEntry, {"epoch": -1, "index": (), "sealed": bytes(17)}, "epoch"),
        (AnnotationEntry, {"epoch": 0, "index": (), "sealed": bytes(16)}, "sealed"),
        (GrantEntry, {"subject": "ab" * 16, "epoch": 0, "sealed": bytes(1136)}, "sealed"),
        (ShredEntry, {"blobs": (), "epoch": 0, "sealed": bytes(17)}, "blobs"),
        (ShredEntry, {"blobs": ("ab" * 32,) * 2, "epoch": 0, "sealed": bytes(17)}, "blobs"),
        (ReviewerEntry, {"role": "owner"}, "role"),
        (RevokeEntry, {"subject": "ab" * 32}, "subject"),
        (
            ExportEntry,
            {"epoch": 0, "manifest": "ab" * 32, "sealed": bytes(17), "salts": b""},
            "salts",
        ),
    ],
)
def test_the_reviewers_entries_check_their_members(
    cls: type[SignedEntry], members: dict[str, Any], member: str
) -> None:
    if cls is ReviewerEntry:
        members = {**members, "sign_key": PUBLIC, "box_key": bytes(1216), "invite": "00" * 32}
    with pytest.raises(EntryMalformed, match=f"`{member}`"):
        cls.create(KEY, nonce=bytes(16), **members)


def test_an_access_entry_names_sorted_subjects() -> None:
    with pytest.raises(EntryMalformed, match="`subjects`"):
        AccessEntry(reviewer="ab" * 16, subjects=(), received=RECEIVED)
    with pytest.raises(EntryMalformed, match="`subjects`"):
        AccessEntry(reviewer="ab" * 16, subjects=("cd" * 32, "ab" * 32), received=RECEIVED)


def test_an_export_without_salts_leaves_the_member_out() -> None:
    entry = ExportEntry.create(KEY, nonce=bytes(16), epoch=1, manifest="ab" * 32, sealed=bytes(20))
    assert "salts" not in entry.to_object()
    obj = {**entry.to_object(), "salts": None}
    with pytest.raises(EntryMalformed, match="`salts`"):
        parse_entry(canonical.dumps(obj), logged=False)


# --- dispatch ------------------------------------------------------------------------


def test_the_form_of_intake_key_and_reply_follows_the_actor() -> None:
    public = hpke.public_key(bytes(32))
    rotation = IntakeKeyRotation.create(
        KEY, nonce=bytes(16), key=public, key_id=hpke.key_id(public), received=RECEIVED
    )
    assert type(parse_entry(rotation.to_json())) is IntakeKeyRotation
    assert type(parse_entry(IntakeKeyEntry.naming(public, RECEIVED).to_json())) is IntakeKeyEntry
    with pytest.raises(EntryMalformed, match="has no member `actor`"):
        IntakeKeyEntry.parse(rotation.to_json())
    reply = SignedReplyEntry.create(KEY, nonce=bytes(16), parent="ab" * 32, sealed="cd" * 32)
    assert type(parse_entry(reply.to_json(), logged=False)) is SignedReplyEntry
    assert reply.kept_blobs() == ("cd" * 32,)
    with pytest.raises(EntryMalformed, match="not a reply entry"):
        SignedReplyEntry.parse(_submission().to_json())


@pytest.mark.parametrize(
    "data",
    [b"other", b'{"type":"other"}', b"[1]", b'{"type":5}', b"\xff\xfe", b'{"v":1}', b"NaN"],
)
def test_bytes_that_are_no_known_entry_are_none_or_refused(data: bytes) -> None:
    assert parse_known_entry(data) is None
    with pytest.raises(EntryMalformed):
        parse_entry(data)


def test_parse_known_entry_reads_only_the_types_asked_for() -> None:
    data = _submission().to_json()
    assert parse_known_entry(data, types=("intake-key",)) is None
    assert parse_known_entry(data, types=("submission",)) == _submission()
    with pytest.raises(EntryMalformed, match="submission entry: `v` is 1"):
        parse_known_entry(data.replace(b'"v":1', b'"v":1.0'))
    with pytest.raises(EntryMalformed, match="`type` names no entry type"):
        entry_from_object({"type": "other"})
    with pytest.raises(EntryMalformed):
        entry_from_object([])
    with pytest.raises(EntryMalformed, match="an entry is bytes"):
        parse_entry("{}")  # type: ignore[arg-type]


def test_duplicate_member_names_are_refused() -> None:
    data = _submission().to_json()
    doubled = data.replace(b'"body":', b'"body":"' + b"00" * 32 + b'","body":', 1)
    with pytest.raises(EntryMalformed):
        parse_entry(doubled)


def _general(data: bytes, logged: bool) -> Any:
    """The general reader alone (JSON, members, then the JCS check): None if it refuses."""
    obj = entries._load(data)
    try:
        return None if obj is None else entries._dispatch(obj, data, logged)
    except EntryMalformed:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ENTRIES, st.data())
def test_the_fast_path_accepts_a_changed_byte_only_as_the_general_reader_does(
    entry: Any, data: st.DataObject
) -> None:
    original = entry.to_json()
    at = data.draw(st.integers(0, len(original) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != original[at]))
    changed = original[:at] + bytes([byte]) + original[at + 1 :]
    logged = entry.received is not None
    fast = entries._fast(changed, logged)
    assert fast is None or fast == _general(changed, logged)
    if fast is not None:
        assert fast.to_json() == changed
