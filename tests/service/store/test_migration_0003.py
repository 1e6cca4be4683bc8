"""migrations/versions/0003: the follow-up and reply projections, upgraded from 0002
with data on SQLite and PostgreSQL, filled by appends and rebuilds, and downgraded."""

from __future__ import annotations

from sqlalchemy import inspect, text

from testimony.crypto import canonical
from testimony.service.store import db
from testimony.service.store.log import LogStore
from testimony.service.store.projections import (
    FollowupKey,
    FollowupTable,
    IntakeKeyProjection,
    ReplyTable,
    SubmissionProjection,
    SubmissionTable,
    rebuild_projections,
)

from .support import stand_in_sign, submission_entry


def _followup(parent: str, n: int) -> bytes:
    return canonical.dumps(
        {
            "type": "followup", "v": 1, "parent": parent, "intake_key": "0" * 32,
            "header": f"{n:064x}", "body": f"{n + 1:064x}", "attachments": [],
            "witness": "w" * 43, "signature": "A" * 86, "received": "2024-01-01T10:00:00Z",
        }
    )  # fmt: skip


def _reply(parent: str, n: int) -> bytes:
    return canonical.dumps(
        {
            "type": "reply",
            "v": 1,
            "parent": parent,
            "sealed": f"{n:064x}",
            "received": "2024-01-01T10:00:00Z",
        }
    )


def test_upgrade_from_0002_with_data_then_downgrade(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        db.upgrade(engine, "0002")
        old = LogStore(
            engine,
            projections=(SubmissionProjection(), IntakeKeyProjection()),
            dedup_index=None,
        )
        appended = old.append_batch([submission_entry(1), submission_entry(2)], stand_in_sign)
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO blobs (id, size, created, referenced) VALUES (:id, 1, 0, false)"),
                {"id": f"{70:064x}"},
            )

        db.upgrade(engine)

        tables = set(inspect(engine).get_table_names())
        assert {"followups", "replies"} <= tables
        assert "ix_submissions_witness" in {
            index["name"] for index in inspect(engine).get_indexes("submissions")
        }
        parent = appended.ids[0].hex()
        assert SubmissionTable(engine).by_id(parent) is not None
        # New entries fill the new projections and mark their blobs.
        log = LogStore(engine)
        log.append_batch([_followup(parent, 70), _reply(parent, 90)], stand_in_sign)
        key = FollowupKey(parent, "0" * 32, f"{70:064x}", f"{71:064x}")
        assert FollowupTable(engine).first_index(key) == 2
        assert [r.sealed_sha256 for r in ReplyTable(engine).of_parents([parent])] == [f"{90:064x}"]
        with engine.connect() as connection:
            assert connection.execute(
                text("SELECT referenced FROM blobs WHERE id = :id"), {"id": f"{70:064x}"}
            ).scalar_one()
        # A rebuild gives the same rows.
        with db.writer_session(engine) as session:
            rebuild_projections(session)
        assert FollowupTable(engine).first_index(key) == 2
        assert len(ReplyTable(engine).of_parents([parent])) == 1

        db.downgrade(engine, "0002")
        assert not {"followups", "replies"} & set(inspect(engine).get_table_names())
        assert LogStore(engine, projections=(), dedup_index=None).size() == 4
        db.upgrade(engine)
        assert "followups" in set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
