"""service/store/db.py: durable SQLite settings, supported URLs, and a writer
lock that another writer really has to wait for."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy
import sqlalchemy.exc
from sqlalchemy import event, text
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


def test_a_driver_statement_runs_in_the_callers_transaction_on_both_databases(
    engine: Engine,
) -> None:
    """``db.Statement``: one text for both drivers, inside SQLAlchemy's transaction."""
    insert = db.Statement(
        "INSERT INTO blobs (id, size, created, referenced) VALUES (:id, :size, 0, :no)"
    )
    count = db.Statement("SELECT count(*), sum(size) FROM blobs WHERE NOT referenced")
    with engine.connect() as connection, connection.begin() as transaction:
        insert.execute_many(
            connection, [{"id": f"{n:064x}", "size": n, "no": False} for n in (1, 2)]
        )
        insert.run(connection, {"id": "ff" * 32, "size": 3, "no": False})
        # The same transaction sees its rows, through SQLAlchemy as through the driver.
        assert count.rows(connection) == [(3, 6)]
        assert connection.execute(text("SELECT count(*) FROM blobs")).scalar_one() == 3
        transaction.rollback()
    with engine.connect() as connection:
        assert count.rows(connection)[0][0] == 0


def test_a_driver_statement_is_seen_by_statement_listeners(engine: Engine) -> None:
    seen: list[tuple[str, bool]] = []

    def record(
        _conn: object, _cursor: object, statement: str, _p: object, _c: object, many: bool
    ) -> None:
        seen.append((statement, many))

    select = db.Statement("SELECT size FROM blobs WHERE id = :id")
    insert = db.Statement(
        "INSERT INTO blobs (id, size, created, referenced) VALUES (:id, 1, 0, :no)"
    )
    event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.connect() as connection:
            select.rows(connection, {"id": "00" * 32})
            insert.execute_many(connection, [{"id": "01" * 32, "no": False}])
            assert (select.text(connection), False) in seen
            assert (insert.text(connection), True) in seen
            connection.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_driver_statement_is_written_once_for_both_placeholder_styles() -> None:
    class Dialect:
        def __init__(self, name: str) -> None:
            self.name = name

    class Connection:
        def __init__(self, name: str) -> None:
            self.dialect = Dialect(name)

    statement = db.Statement("SELECT x::text FROM t WHERE a = :a AND b IN (:b0, :b1)")
    assert statement.text(Connection("sqlite")) == (  # type: ignore[arg-type]
        "SELECT x::text FROM t WHERE a = :a AND b IN (:b0, :b1)"
    )
    # A cast (::text) stays as it is.
    assert statement.text(Connection("postgresql")) == (  # type: ignore[arg-type]
        "SELECT x::text FROM t WHERE a = %(a)s AND b IN (%(b0)s, %(b1)s)"
    )
    # No literal in which a ':name' or a '%' could be misread: values are parameters.
    for text_with_literal in ("SELECT 1 WHERE a = ':c'", "SELECT 1 WHERE a LIKE :p || '%'"):
        with pytest.raises(ValueError, match="literal"):
            db.Statement(text_with_literal)


def test_a_driver_statement_fails_as_sqlalchemy_does_without_its_parameters(
    engine: Engine,
) -> None:
    """Callers (the CLI's one-line errors) catch SQLAlchemy's errors; the
    statement's values (ciphertext, ids) are not written into the message."""
    blob_id = "5e" * 32
    insert = db.Statement(
        "INSERT INTO blobs (id, size, created, referenced) VALUES (:id, 1, 0, :no)"
    )
    with engine.connect() as connection:
        insert.run(connection, {"id": blob_id, "no": False})
        with pytest.raises(sqlalchemy.exc.IntegrityError) as refused:
            insert.execute_many(connection, [{"id": blob_id, "no": False}])
        assert "[parameters:" not in str(refused.value)
        connection.rollback()
    with engine.connect() as connection, pytest.raises(sqlalchemy.exc.DatabaseError) as failed:
        db.Statement("SELECT x FROM no_such_table WHERE a = :a").rows(connection, {"a": blob_id})
    assert blob_id not in str(failed.value)


def test_a_lost_connection_fails_one_statement_not_one_per_pooled_connection(
    engine: Engine, request: pytest.FixtureRequest
) -> None:
    """PostgreSQL restarted: every pooled connection is gone. As for SQLAlchemy's
    own statements, the first ``Statement`` to meet one drops them all."""
    if db.is_sqlite(engine):
        pytest.skip("a lost connection is a database server's")
    postgres_url = request.getfixturevalue("postgres_url")
    count = db.Statement("SELECT count(*) FROM log_entries")
    backend = db.Statement("SELECT pg_backend_pid()")
    with contextlib.ExitStack() as stack:
        pooled = [stack.enter_context(engine.connect()) for _ in range(3)]
        pids = [backend.rows(connection)[0][0] for connection in pooled]
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for pid in pids:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            deadline = time.monotonic() + 30
            while connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                {"pids": pids},
            ).scalar_one():
                assert time.monotonic() < deadline, "the backends did not end"
    finally:
        admin.dispose()

    with engine.connect() as connection, pytest.raises(sqlalchemy.exc.OperationalError) as lost:
        count.rows(connection)
    assert lost.value.connection_invalidated
    for _ in range(len(pids)):  # the other two were dropped with it
        with engine.connect() as connection:
            assert count.rows(connection) == [(0,)]


def test_a_database_locked_past_the_busy_timeout_is_sqlalchemys_error(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE runs on the driver (db.Statement): a lock held past the
    busy timeout still surfaces as SQLAlchemy's OperationalError, which the
    CLI turns into its one-line error."""
    url = f"sqlite:///{tmp_path}/locked.db"
    holder = db.create_engine(url)
    waiter = db.create_engine(url)
    event.listen(waiter, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA busy_timeout=50"))
    db.upgrade(holder)
    try:
        with db.writer_connection(holder) as held:
            held.execute(text("SELECT 1"))
            with (
                pytest.raises(sqlalchemy.exc.OperationalError, match="locked"),
                waiter.connect() as connection,
            ):
                connection.execution_options(testimony_writer=True)
                with connection.begin():
                    pass
    finally:
        holder.dispose()
        waiter.dispose()
