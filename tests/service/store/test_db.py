"""service/store/db.py: durable SQLite settings, supported URLs, and a writer
lock that another writer really has to wait for."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from testimony.service.store import db


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_connections_are_durable_wal_with_foreign_keys(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == (
            db.SQLITE_BUSY_TIMEOUT_MS
        )


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "mysql://u@localhost/x", "oracle://u@h/x"]
)
def test_unsupported_databases_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        db.create_engine(url)


def test_writer_holds_the_lock_until_commit(engine: Engine) -> None:
    with db.writer_connection(engine):
        if engine.dialect.name == "sqlite":
            path = make_url(engine.url).database
            assert path
            other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
        else:
            with engine.connect() as other:
                taken = other.execute(
                    text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": db.LOG_WRITER_LOCK}
                ).scalar_one()
                assert taken is False
    # Released with the transaction.
    with db.writer_connection(engine):
        pass
