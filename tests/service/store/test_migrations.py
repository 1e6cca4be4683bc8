"""migrations/: the head revision builds the models' schema with the append-only
triggers, on SQLite and PostgreSQL, and downgrades cleanly with data present."""

from __future__ import annotations

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from testimony.crypto import canonical, hpke
from testimony.crypto.encoding import b64u_encode
from testimony.service.store import db
from testimony.service.store.blob_index import BlobIndex
from testimony.service.store.log import LogStore
from testimony.service.store.models import Base
from testimony.service.store.projections import (
    IntakeKeyTable,
    StoredIntakeKey,
    SubmissionProjection,
)

from .support import stand_in_sign, submission_entry

TABLES = {
    "log_entries",
    "tree_nodes",
    "checkpoints",
    "blobs",
    "uploads",
    "pow_used",
    "submissions",
    "intake_keys",
}


def _triggers(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            )
        else:
            rows = connection.exec_driver_sql(
                "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal"
            )
        return {row[0] for row in rows}


def _functions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace"
        )
        return {row[0] for row in rows}


def test_head_revision_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == _head()


def _head() -> str:
    from importlib.resources import files

    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("testimony.migrations")))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_upgrade_installs_append_only_triggers(engine: Engine) -> None:
    names = _triggers(engine)
    if engine.dialect.name == "sqlite":
        assert names == {
            "log_entries_no_update",
            "log_entries_no_delete",
            "log_entries_next_index",
            "tree_nodes_no_update",
            "tree_nodes_no_delete",
            "tree_nodes_insert_once",
            "checkpoints_no_update",
            "checkpoints_no_delete",
            "checkpoints_grow",
            "inline_blobs_no_update",
            "inline_blobs_no_delete",
            "inline_blobs_insert_once",
        }
    else:
        assert names == {
            "log_entries_no_update_delete",
            "log_entries_no_truncate",
            "log_entries_next_index",
            "tree_nodes_no_update_delete",
            "tree_nodes_no_truncate",
            "checkpoints_no_update_delete",
            "checkpoints_no_truncate",
            "checkpoints_grow",
            "inline_blobs_no_update_delete",
            "inline_blobs_no_truncate",
        }


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    db.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES


def test_downgrade_with_data_then_upgrade_again(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        db.upgrade(engine)
        log = LogStore(engine)
        log.append_batch([submission_entry(1), submission_entry(2), b"other"], stand_in_sign)
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO blobs (id, size, created, referenced) VALUES (:id, 1, 0, false)"),
                {"id": "0" * 64},
            )
            connection.execute(
                text(
                    'INSERT INTO uploads (id, length, "offset", sha256, expires) '
                    "VALUES ('u1', 10, 0, :h, 60)"
                ),
                {"h": "1" * 64},
            )
            connection.execute(
                text("INSERT INTO pow_used (digest, expires) VALUES (:d, 60)"), {"d": b"\0" * 32}
            )

        db.downgrade(engine)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert _triggers(engine) == set()
        if engine.dialect.name == "postgresql":
            assert not {n for n in _functions(engine) if n.startswith("testimony_")}

        db.upgrade(engine)
        assert LogStore(engine).size() == 0
        LogStore(engine).append_batch([b"again"], stand_in_sign)
        with pytest.raises(IntegrityError, match="append-only"), engine.begin() as connection:
            connection.execute(text("DELETE FROM log_entries"))
    finally:
        engine.dispose()


def test_migration_fails_atomically_on_a_conflicting_table(database_url: str) -> None:
    """A failed upgrade leaves nothing half-made (one transaction, DDL included)."""
    engine = db.create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE submissions (x INTEGER)"))
        with pytest.raises(sqlalchemy.exc.DatabaseError):
            db.upgrade(engine)
        assert set(inspect(engine).get_table_names()) == {"submissions"}
    finally:
        engine.dispose()


def _intake_key_entry(seed: int, received: str = "2024-01-01T10:00:00Z") -> bytes:
    public = hpke.public_key(bytes([seed]) * 32)
    return canonical.dumps(
        {
            "type": "intake-key",
            "v": 1,
            "key": b64u_encode(public),
            "key_id": hpke.key_id(public),
            "received": received,
        }
    )


def _indexes(engine: Engine) -> set[str]:
    return {index["name"] for index in inspect(engine).get_indexes("uploads") if index["name"]}


def test_upgrade_from_0001_with_data_fills_intake_keys_and_marks_ciphertexts(
    database_url: str,
) -> None:
    engine = db.create_engine(database_url)
    try:
        db.upgrade(engine, "0001")
        # A log as 0001's code left it: the submissions projection only.
        log = LogStore(engine, projections=(SubmissionProjection(),), dedup_index=None)
        entries = [
            _intake_key_entry(1),
            submission_entry(1, attachments=["a" * 64]),
            submission_entry(3),
            _intake_key_entry(2),
            _intake_key_entry(1, received="2024-01-02T10:00:00Z"),  # names key 1 again
        ]
        log.append_batch(entries[:3], stand_in_sign)
        log.append_batch(entries[3:], stand_in_sign)
        blobs = {name: f"{n:064x}" for name, n in [("body", 1), ("header", 2), ("other", 7)]}
        with engine.begin() as connection:
            for blob_id in [*blobs.values(), "a" * 64]:
                connection.execute(
                    text(
                        "INSERT INTO blobs (id, size, created, referenced) "
                        "VALUES (:id, 1, 0, false)"
                    ),
                    {"id": blob_id},
                )
            connection.execute(
                text(
                    'INSERT INTO uploads (id, length, "offset", sha256, expires) '
                    "VALUES ('u1', 10, 0, :h, 60)"
                ),
                {"h": "1" * 64},
            )
        assert "ix_uploads_sha256" not in _indexes(engine)

        db.upgrade(engine)

        first, second = (hpke.public_key(bytes([seed]) * 32) for seed in (1, 2))
        assert IntakeKeyTable(engine).all() == [
            StoredIntakeKey(key_id=hpke.key_id(first), public_key=first, idx=0),
            StoredIntakeKey(key_id=hpke.key_id(second), public_key=second, idx=3),
        ]
        index = BlobIndex(engine)
        # A header or body whose flag a rebuild under 0001 had cleared is referenced again.
        assert index.is_referenced(blobs["header"]) is True
        assert index.is_referenced(blobs["body"]) is True
        assert index.is_referenced(blobs["other"]) is False
        assert index.is_referenced("a" * 64) is False  # 0001's flags are kept otherwise
        assert "ix_uploads_sha256" in _indexes(engine)
        assert LogStore(engine).size() == 5
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []

        # And back: 0002's table and index go, everything else stays.
        db.downgrade(engine, "0001")
        assert "intake_keys" not in inspect(engine).get_table_names()
        assert "ix_uploads_sha256" not in _indexes(engine)
        assert LogStore(engine, projections=(), dedup_index=None).size() == 5
        db.upgrade(engine)
        assert len(IntakeKeyTable(engine).all()) == 2
    finally:
        engine.dispose()


def test_upgrade_refuses_a_log_with_a_malformed_intake_key_entry(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        db.upgrade(engine, "0001")
        bad = canonical.dumps(
            {"type": "intake-key", "v": 1, "key": "AAAA", "key_id": "00" * 16, "received": "x"}
        )
        LogStore(engine, projections=(), dedup_index=None).append_batch([bad], stand_in_sign)
        with pytest.raises(ValueError, match="intake-key entry at index 0"):
            db.upgrade(engine)
        assert "intake_keys" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
