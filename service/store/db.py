"""Engines, migrations and sessions for the two supported databases.

**SQLite** (the embedded default, ``sqlite:///path/to/file``): every connection
runs in WAL mode with ``synchronous=FULL``, foreign keys on and a busy timeout.
FULL rather than NORMAL because a receipt promises that its entry is in the
log: in WAL mode NORMAL skips the fsync of the WAL at commit, so a power loss
may roll back transactions whose receipts were already answered. FULL fsyncs
the WAL on every commit; group commit (``batching.AppendBatcher``) spreads that
one fsync over a whole batch. The driver's own transaction handling is turned
off and this module emits ``BEGIN`` itself, so that a writer can ask for
``BEGIN IMMEDIATE`` (see :func:`writer_connection`).

**PostgreSQL** (``postgresql+psycopg://...``): the default READ COMMITTED
isolation; log appends serialise on a transaction-scoped advisory lock
(:data:`LOG_WRITER_LOCK`), and work that must serialise without holding up
appends takes its own key (:data:`UPLOAD_QUOTA_LOCK` for the unfinished-upload
quota). SQLite has one write lock for the whole database, so there every
writer of :func:`writer_connection` takes that one.

:func:`upgrade` runs the Alembic migrations in ``testimony.migrations`` to head
without any ``alembic.ini``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from importlib.resources import files
from typing import Any

import sqlalchemy
import sqlalchemy.exc
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "LOG_WRITER_LOCK",
    "MIGRATION_LOCK",
    "POOL_SIZES",
    "SQLITE_BUSY_TIMEOUT_MS",
    "UPLOAD_QUOTA_LOCK",
    "Statement",
    "create_engine",
    "downgrade",
    "is_sqlite",
    "lock_log_writer",
    "read_engine",
    "session_factory",
    "take_advisory_lock",
    "upgrade",
    "writer_connection",
    "writer_session",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite connection waits for another writer before giving up."""

LOG_WRITER_LOCK = 0x7465_7374_6C6F_6701
"""PostgreSQL advisory lock key held (per transaction) by whoever appends to the log."""

MIGRATION_LOCK = 0x7465_7374_6D69_6701
"""PostgreSQL advisory lock key held (per transaction) while migrations run."""

UPLOAD_QUOTA_LOCK = 0x7465_7374_7570_6C01
"""PostgreSQL advisory lock key held (per transaction) while an upload is
created, so that two creations cannot both pass the unfinished-upload quota.
Distinct from :data:`LOG_WRITER_LOCK`: creating an upload never waits for an
append, nor an append for it."""

_WRITER_OPTION = "testimony_writer"
_READER_OPTION = "testimony_reader"

POOL_SIZES = {"sqlite": (32, 16), "postgresql": (20, 24)}
"""Connections kept open per engine and the extra ones allowed (``pool_size``,
``max_overflow``). Requests run on the server's thread pool (40 threads) and
each holds a connection while it reads; a pool smaller than that opens and
closes a connection per request under load (for SQLite, with its PRAGMAs).
PostgreSQL keeps fewer: each connection is a server process, and several
server processes share its ``max_connections``."""


def create_engine(
    url: str | URL, *, max_connections: int | None = None, **engine_kwargs: Any
) -> Engine:
    """An engine for ``url`` with the settings this module's docstring describes.

    ``engine_kwargs`` are passed to :func:`sqlalchemy.create_engine` (pool
    sizes, ``echo``); ``hide_parameters`` is on unless they say otherwise.
    ``max_connections`` caps a PostgreSQL engine's pool (kept and extra
    together, half each) below :data:`POOL_SIZES`, for server processes that
    share the server's ``max_connections``; SQLite ignores it.
    Raises ``ValueError`` for an in-memory SQLite database
    (each pooled connection would see a different, empty database) and for a
    database other than SQLite or PostgreSQL.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    # An error's message never carries a statement's values (ciphertext, ids).
    engine_kwargs.setdefault("hide_parameters", True)
    if backend in POOL_SIZES and not engine_kwargs.get("poolclass"):
        pool_size, max_overflow = POOL_SIZES[backend]
        if backend == "postgresql" and max_connections is not None:
            if max_connections < 1:
                raise ValueError("max_connections is at least 1")
            if max_connections < pool_size + max_overflow:
                pool_size = (max_connections + 1) // 2
                max_overflow = max_connections - pool_size
        engine_kwargs.setdefault("pool_size", pool_size)
        engine_kwargs.setdefault("max_overflow", max_overflow)
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            raise ValueError("an in-memory SQLite database cannot back the store")
        connect_args = dict(engine_kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        connect_args.setdefault("check_same_thread", False)
        engine = sqlalchemy.create_engine(parsed, connect_args=connect_args, **engine_kwargs)
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        return sqlalchemy.create_engine(parsed, **engine_kwargs)
    raise ValueError("the store runs on SQLite or PostgreSQL only")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level; `_on_begin` emits BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            mode = cursor.fetchone()[0]
            if str(mode).lower() != "wal":
                raise RuntimeError("SQLite refused WAL mode")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get(_READER_OPTION, False):
            return  # autocommit: each statement reads its own snapshot
        immediate = options.get(_WRITER_OPTION, False)
        # On the driver's connection: no statement of SQLAlchemy's for it (see
        # Statement), whose errors are raised as SQLAlchemy's (a database
        # locked past the busy timeout is an OperationalError).
        (_BEGIN_IMMEDIATE if immediate else _BEGIN).run(connection)


_NAMED_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")


class Statement:
    """A fixed SQL statement run on the driver's own cursor, inside a
    SQLAlchemy connection's transaction.

    For the statements every log append runs (``log.py``, the projections,
    ``inline_blobs``): through SQLAlchemy's execution layer each costs tens
    of microseconds of CPU (execution context, parameter processing, result
    wrapping, events), the driver itself a few; a batch runs about a dozen
    of them while it holds the log's writer lock. The statement and its
    connection stay SQLAlchemy's: the transaction, the locks and the pool
    are unchanged, and any other statement may be mixed in.

    ``sql`` is written for both databases, with ``:name`` parameters
    (SQLite's style; rewritten once to psycopg's ``%(name)s``). Values go to
    the driver as they are: ``int``, ``str``, ``bytes``, ``bool`` and None
    mean the same on both. Listeners of SQLAlchemy's ``before_cursor_execute``
    event are told of each, as of any statement.
    """

    __slots__ = ("_texts",)

    def __init__(self, sql: str) -> None:
        if "%" in sql or "'" in sql:
            # Values are parameters, never literals: no quoted text in which a
            # ':name' would be rewritten, no '%' that psycopg would read.
            raise ValueError("a Statement's text has no quoted literal and no '%'")
        self._texts = {
            "sqlite": sql,
            "postgresql": _NAMED_PARAMETER.sub(r"%(\1)s", sql),
        }

    def text(self, connection: Connection) -> str:
        """The statement as ``connection``'s driver takes it."""
        return self._texts[connection.dialect.name]

    def execute(self, connection: Connection, parameters: Mapping[str, Any] | None = None) -> Any:
        """Run the statement once; returns the DB-API cursor (``fetchone``, ``fetchall``).

        The driver's errors are raised as SQLAlchemy's (``IntegrityError``,
        ``OperationalError``...), without the parameters in their message.
        """
        cursor = connection.connection.cursor()
        text = self._texts[connection.dialect.name]
        parameters = parameters or {}
        _announce(connection, cursor, text, parameters, executemany=False)
        try:
            cursor.execute(text, parameters)
        except connection.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(connection, text, exc, cursor) from exc
        return cursor

    def run(self, connection: Connection, parameters: Mapping[str, Any] | None = None) -> None:
        """Run the statement once, for its effect."""
        self.execute(connection, parameters).close()

    def rows(
        self, connection: Connection, parameters: Mapping[str, Any] | None = None
    ) -> list[Sequence[Any]]:
        """Run the statement once; returns every row it answers."""
        cursor = self.execute(connection, parameters)
        try:
            return list(cursor.fetchall())
        except connection.dialect.loaded_dbapi.Error as exc:  # SQLite reads as it fetches
            raise _wrapped(connection, self.text(connection), exc, cursor) from exc
        finally:
            cursor.close()

    def execute_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per item of ``rows`` (one driver call)."""
        cursor = connection.connection.cursor()
        text = self._texts[connection.dialect.name]
        try:
            _announce(connection, cursor, text, rows, executemany=True)
            cursor.executemany(text, rows)
        except connection.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(connection, text, exc, cursor) from exc
        finally:
            cursor.close()


def _wrapped(connection: Connection, text: str, error: Exception, cursor: Any) -> BaseException:
    """The driver's ``error`` as SQLAlchemy raises it, its parameters hidden.

    A lost connection is handled as SQLAlchemy handles one for its own
    statements: this connection and every pooled one opened before it are
    invalidated (the database restarted: they are all gone), so that one
    request fails, not one per pooled connection.
    """
    disconnect = False
    with contextlib.suppress(Exception):
        disconnect = connection.dialect.is_disconnect(
            error,  # type: ignore[arg-type]  # a DB-API Error: the callers catch only those
            connection.connection.dbapi_connection,
            cursor,
        )
    with contextlib.suppress(Exception):
        cursor.close()
    if disconnect and not connection.invalidated:
        # Pool._invalidate is what Connection._handle_dbapi_exception calls.
        connection.engine.pool._invalidate(connection.connection, error)
        connection.invalidate(error)
    return sqlalchemy.exc.DBAPIError.instance(
        text,
        None,
        error,
        connection.dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=disconnect,
        dialect=connection.dialect,
    )


def _has_listeners(connection: Connection) -> bool:
    return bool(connection._has_events or connection.engine._has_events)


def _announce(
    connection: Connection, cursor: Any, text: str, parameters: Any, *, executemany: bool
) -> None:
    """Tell SQLAlchemy's ``before_cursor_execute`` listeners, if any, of a
    :class:`Statement` (statement counts and traces then see it as any other)."""
    if _has_listeners(connection):
        connection.dispatch.before_cursor_execute(
            connection, cursor, text, parameters, None, executemany
        )


_BEGIN = Statement("BEGIN")
_BEGIN_IMMEDIATE = Statement("BEGIN IMMEDIATE")


def read_engine(engine: Engine) -> Engine:
    """``engine`` for single-statement reads of append-only data.

    The connections run in autocommit (on SQLite no ``BEGIN`` is sent; on
    PostgreSQL the AUTOCOMMIT isolation level), which saves the BEGIN and
    ROLLBACK around each read; rows of the log never change, so no read
    needs a snapshot wider than one statement.
    """
    if is_sqlite(engine):
        return engine.execution_options(**{_READER_OPTION: True})
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def is_sqlite(bind: Engine | Connection) -> bool:
    """Whether ``bind`` talks to SQLite."""
    return bind.dialect.name == "sqlite"


@contextlib.contextmanager
def writer_connection(engine: Engine, *, lock_key: int = LOG_WRITER_LOCK) -> Iterator[Connection]:
    """A connection inside a transaction that holds a writer lock (by default the log's).

    SQLite: the transaction starts with ``BEGIN IMMEDIATE`` (the database's
    single write lock, waited for up to the busy timeout), whatever
    ``lock_key`` says; before it, an exclusive ``flock`` on the file
    ``<database>.writer`` is taken. SQLite's own wait for a busy database
    sleeps and retries (up to 100 ms a time), which costs two server
    processes appending at once tens of milliseconds per batch; a waiter on
    the file lock is woken as soon as it is released. PostgreSQL: READ
    COMMITTED, and ``pg_advisory_xact_lock(lock_key)`` is taken first, so
    each later statement sees every change committed under that lock before
    it was granted. Commits when the block ends, rolls back if it raises.
    """
    with _sqlite_writer_lock(engine), engine.connect() as connection:
        connection.execution_options(**{_WRITER_OPTION: True})
        if not is_sqlite(connection):
            connection.execution_options(isolation_level="READ COMMITTED")
        with connection.begin():
            take_advisory_lock(connection, lock_key)
            yield connection


@contextlib.contextmanager
def _sqlite_writer_lock(engine: Engine) -> Iterator[None]:
    """An exclusive ``flock`` on ``<database>.writer`` (SQLite; nothing elsewhere).

    The file is opened for each hold, so threads of one process exclude each
    other as processes do (a lock belongs to its open file description).
    """
    database = engine.url.database if is_sqlite(engine) else None
    if not database:
        yield
        return
    fd = os.open(f"{database}.writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def take_advisory_lock(connection: Connection, key: int) -> None:
    """Take advisory lock ``key`` in ``connection``'s transaction (PostgreSQL).

    Held until the transaction ends. On SQLite the lock is the database's
    write lock, taken by the ``BEGIN IMMEDIATE`` of :func:`writer_connection`,
    and this does nothing.
    """
    if not is_sqlite(connection):
        connection.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def lock_log_writer(connection: Connection) -> None:
    """Take the log's writer lock in ``connection``'s transaction (see :func:`take_advisory_lock`)."""
    take_advisory_lock(connection, LOG_WRITER_LOCK)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for reads and ordinary writes (not log appends: see ``LogStore``)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextlib.contextmanager
def writer_session(engine: Engine, *, lock_key: int = LOG_WRITER_LOCK) -> Iterator[Session]:
    """A session inside :func:`writer_connection`: holds a writer lock (the log's by default).

    Use it for work that must not interleave with appends, such as
    ``rebuild_projections``. Commits when the block ends, rolls back if it raises.
    """
    with writer_connection(engine, lock_key=lock_key) as connection:
        session = Session(bind=connection, join_transaction_mode="rollback_only")
        try:
            yield session
            session.flush()
        finally:
            session.close()


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("testimony.migrations")))
    config.attributes["connection"] = connection
    return config


def _as_engine(engine_or_url: Engine | str | URL) -> tuple[Engine, bool]:
    if isinstance(engine_or_url, Engine):
        return engine_or_url, False
    return create_engine(engine_or_url), True


def upgrade(engine_or_url: Engine | str | URL, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` (default: head), in one transaction.

    Concurrent upgrades serialise: SQLite through ``BEGIN IMMEDIATE``,
    PostgreSQL through an advisory lock taken in ``migrations/env.py``. Raises
    whatever the database raises; nothing is applied then.
    """
    _run(engine_or_url, lambda config: command.upgrade(config, revision))


def downgrade(engine_or_url: Engine | str | URL, revision: str = "base") -> None:
    """Run the migrations down to ``revision`` (default: base, an empty database)."""
    _run(engine_or_url, lambda config: command.downgrade(config, revision))


def _run(engine_or_url: Engine | str | URL, action: Any) -> None:
    engine, owned = _as_engine(engine_or_url)
    try:
        with engine.connect() as connection:
            connection.execution_options(**{_WRITER_OPTION: True})
            with connection.begin():
                action(_alembic_config(connection))
    finally:
        if owned:
            engine.dispose()
