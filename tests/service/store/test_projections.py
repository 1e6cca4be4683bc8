"""service/store/projections/: a submission's header, body and attachment blobs
count as referenced, and intake-key entries fill ``intake_keys``; a rebuild of
the projections gives the same tables; entries are read once per batch by
``testimony.crypto.entries``, and one table registers the projections
(docs/protocol.md §6, §9; docs/log-entries.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from testimony.crypto import canonical, hpke
from testimony.crypto.encoding import b64u_encode
from testimony.service.store import db
from testimony.service.store.blob_index import BlobIndex
from testimony.service.store.log import LogStore
from testimony.service.store.models import IntakeKey, Submission
from testimony.service.store.projections import (
    DEFAULT_DEDUP_INDEX,
    IntakeKeyTable,
    StoredIntakeKey,
    SubmissionKey,
    SubmissionTable,
    _select_submissions_statement,
    rebuild_projections,
)

from .support import stand_in_sign, submission_entry

HOUR = 1_700_002_800


def intake_key_entry(seed: int, **changes: object) -> bytes:
    public = hpke.public_key(bytes([seed]) * 32)
    entry = {
        "type": "intake-key",
        "v": 1,
        "key": b64u_encode(public),
        "key_id": hpke.key_id(public),
        "received": "2024-01-01T10:00:00Z",
        **changes,
    }
    return canonical.dumps(entry)


def stored_key(seed: int, idx: int) -> StoredIntakeKey:
    public = hpke.public_key(bytes([seed]) * 32)
    return StoredIntakeKey(key_id=hpke.key_id(public), public_key=public, idx=idx)


def _rebuild(engine: Engine) -> int:
    with db.writer_session(engine) as session:
        return rebuild_projections(session)


def test_every_blob_a_submission_names_is_referenced_and_stays_so_after_a_rebuild(
    engine: Engine, log: LogStore
) -> None:
    index = BlobIndex(engine)
    header, body, attachment, stray = (f"{n:064x}" for n in (2, 1, 9, 5))
    index.record(dict.fromkeys([header, body, attachment, stray], 10), created=HOUR)
    log.append_batch([submission_entry(1, attachments=[attachment])], stand_in_sign)
    named = {header: True, body: True, attachment: True, stray: False}
    assert {blob: index.is_referenced(blob) for blob in named} == named

    with engine.begin() as connection:  # damage the flags (not append-only)
        connection.execute(text("UPDATE blobs SET referenced = false"))
    _rebuild(engine)
    assert {blob: index.is_referenced(blob) for blob in named} == named
    # So expiry finds nothing of the submission's to delete.
    assert index.unreferenced_since(HOUR) == [stray]


def test_submissions_are_found_by_content(engine: Engine, log: LogStore) -> None:
    log.append_batch([b"other", submission_entry(1), submission_entry(4)], stand_in_sign)
    table = SubmissionTable(engine)
    assert table.first_index(SubmissionKey("ab" * 16, f"{2:064x}", f"{1:064x}")) == 1
    assert table.first_index(SubmissionKey("ab" * 16, f"{5:064x}", f"{4:064x}")) == 2
    assert table.first_index(SubmissionKey("cd" * 16, f"{2:064x}", f"{1:064x}")) is None


def test_intake_key_entries_fill_intake_keys_first_one_winning(
    engine: Engine, log: LogStore
) -> None:
    log.append_batch([intake_key_entry(1), submission_entry(1)], stand_in_sign)
    log.append_batch(
        [intake_key_entry(2), intake_key_entry(1, received="2024-01-02T10:00:00Z")],
        stand_in_sign,
    )
    table = IntakeKeyTable(engine)
    assert table.all() == [stored_key(1, 0), stored_key(2, 2)]
    assert table.get(stored_key(2, 2).key_id) == stored_key(2, 2)
    assert table.get("00" * 16) is None

    with engine.begin() as connection:
        connection.execute(text("DELETE FROM intake_keys"))
    assert table.all() == []
    assert _rebuild(engine) == 4
    assert table.all() == [stored_key(1, 0), stored_key(2, 2)]


@pytest.mark.parametrize(
    "changes",
    [
        {"key_id": "00" * 16},
        {"key": "AAAA"},
        {"key": "not b64u!"},
        {"key": None},
        {"key_id": 7},
    ],
    ids=["other-id", "short-key", "not-b64u", "no-key", "id-not-text"],
)
def test_a_malformed_intake_key_entry_is_not_logged(
    engine: Engine, log: LogStore, changes: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match="intake-key entry at index 0"):
        log.append_batch([intake_key_entry(1, **changes)], stand_in_sign)
    assert log.size() == 0
    assert IntakeKeyTable(engine).all() == []


def test_the_projections_survive_a_rebuild_unchanged(engine: Engine, log: LogStore) -> None:
    entries = [intake_key_entry(3)] + [submission_entry(n) for n in range(0, 30, 3)]
    for start in range(0, len(entries), 4):
        log.append_batch(entries[start : start + 4], stand_in_sign)

    def snapshot() -> tuple[list[object], list[object]]:
        with engine.connect() as connection:
            submissions = connection.execute(
                select(Submission.__table__).order_by(Submission.idx)
            ).all()
            keys = connection.execute(select(IntakeKey.__table__)).all()
        return [tuple(r) for r in submissions], [tuple(r) for r in keys]

    before = snapshot()
    assert len(before[0]) == 10 and len(before[1]) == 1
    _rebuild(engine)
    assert snapshot() == before
    assert json.loads(log.entry(0))["type"] == "intake-key"


@pytest.fixture
def many_submissions(log: LogStore) -> Iterator[LogStore]:
    log.append_batch([submission_entry(n) for n in range(0, 1_500, 2)], stand_in_sign)
    yield log


def test_content_lookups_over_many_keys_use_the_unique_index(
    engine: Engine, many_submissions: LogStore
) -> None:
    """More keys than one statement takes: chunked, each answered by index seeks."""
    keys = [SubmissionKey("ab" * 16, f"{n + 1:064x}", f"{n:064x}") for n in range(1_500)]
    with engine.connect() as connection:
        found = DEFAULT_DEDUP_INDEX.find(connection, [*keys, "not a submission key"])
        assert found == {keys[n]: n // 2 for n in range(0, 1_500, 2)}
        if db.is_sqlite(engine):
            statement = _select_submissions_statement(2).text(connection)
            params = {f"{c}{n}": "x" for c in "khb" for n in range(2)}
            plan = connection.execute(text("EXPLAIN QUERY PLAN " + statement), params).all()
            details = [str(row[-1]) for row in plan]
            assert details and not any(d.startswith("SCAN") for d in details), details


# --- the package: one module per kind of entry, one registration table --------------

_PUBLIC_NAMES = [
    "DEFAULT_DEDUP_INDEX",
    "DEFAULT_PROJECTIONS",
    "AppendedEntry",
    "DedupIndex",
    "DedupIndexes",
    "FollowupKey",
    "FollowupProjection",
    "FollowupTable",
    "IntakeKeyProjection",
    "IntakeKeyTable",
    "Projection",
    "ReplyProjection",
    "ReplyTable",
    "StoredIntakeKey",
    "StoredReply",
    "StoredSubmission",
    "SubmissionKey",
    "SubmissionProjection",
    "SubmissionTable",
    "rebuild_projections",
]


def test_every_name_the_module_had_is_importable_from_the_package() -> None:
    from testimony.service.store import projections

    assert set(_PUBLIC_NAMES) <= set(projections.__all__)
    for name in _PUBLIC_NAMES:
        assert getattr(projections, name) is not None


def test_the_registration_table_is_the_default_and_names_the_dedup_indexes() -> None:
    from testimony.service.store import projections
    from testimony.service.store.projections import base, followups, signed_entries, submissions

    assert projections.DEFAULT_PROJECTIONS is projections.PROJECTIONS
    assert [type(p).__name__ for p in projections.PROJECTIONS] == [
        "SubmissionProjection",
        "IntakeKeyProjection",
        "FollowupProjection",
        "ReplyProjection",
        "SignedEntryProjection",
        "AnnotationIndexProjection",
        "AccessProjection",
    ]
    indexes = projections.DEFAULT_DEDUP_INDEX
    assert isinstance(indexes, base.DedupIndexes)
    assert [type(index) for index in indexes._indexes] == [
        submissions.SubmissionProjection,
        followups.FollowupProjection,
        signed_entries.SignedEntryProjection,
    ]
    # The same objects project and find.
    assert all(index in projections.PROJECTIONS for index in indexes._indexes)


def test_each_entry_of_a_batch_is_parsed_once_for_every_projection(
    log: LogStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testimony.crypto import entries

    calls: list[bytes] = []
    parse = entries.parse_known_entry

    def counting(data: bytes, **options: object) -> object:
        calls.append(data)
        return parse(data, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(entries, "parse_known_entry", counting)
    batch = [intake_key_entry(1), b"other", *(submission_entry(n) for n in range(0, 20, 2))]
    log.append_batch(batch, stand_in_sign)
    assert sorted(calls) == sorted(batch)


@pytest.mark.parametrize(
    "entry",
    [
        submission_entry(1, extra=1),
        submission_entry(1, v=2),
        submission_entry(1, attachments=[f"{9:064x}", f"{8:064x}"]),
        submission_entry(1, witness="w" * 43),
        submission_entry(1).replace(b'":', b'": ', 1),
    ],
    ids=["extra-member", "v2", "unsorted", "witness-alone", "not-jcs"],
)
def test_a_malformed_submission_entry_is_not_logged(
    engine: Engine, log: LogStore, entry: bytes
) -> None:
    with pytest.raises(ValueError, match="submission entry at index 0"):
        log.append_batch([entry], stand_in_sign)
    assert log.size() == 0


def test_the_reviewers_entries_of_section_12_are_read_as_their_projections_need(
    engine: Engine, log: LogStore
) -> None:
    from datetime import UTC, datetime

    from testimony.crypto import signing
    from testimony.crypto.entries import IntakeKeyRotation, SignedReplyEntry
    from testimony.service.store.projections import ReplyTable

    key = signing.private_key_from_seed(bytes(32))
    received = datetime(2024, 1, 1, 10, tzinfo=UTC)
    reply = SignedReplyEntry.create(
        key, nonce=bytes(16), parent="ab" * 32, sealed="cd" * 32, received=received
    )
    public = hpke.public_key(bytes([9]) * 32)
    rotation = IntakeKeyRotation.create(
        key, nonce=bytes(16), key=public, key_id=hpke.key_id(public), received=received
    )
    log.append_batch([intake_key_entry(1), reply.to_json(), rotation.to_json()], stand_in_sign)
    assert [r.sealed_sha256 for r in ReplyTable(engine).of_parents(["ab" * 32])] == ["cd" * 32]
    # A rotation is a proposal (§12.5): no key of it until the server replays quorums.
    assert IntakeKeyTable(engine).all() == [stored_key(1, 0)]
    assert _rebuild(engine) == 3
    assert IntakeKeyTable(engine).all() == [stored_key(1, 0)]
