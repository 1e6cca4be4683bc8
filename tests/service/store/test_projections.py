"""service/store/projections.py: a submission's header, body and attachment blobs
count as referenced, and intake-key entries fill ``intake_keys``; a rebuild of
the projections gives the same tables (docs/protocol.md §6, §9; docs/log-entries.md)."""

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
