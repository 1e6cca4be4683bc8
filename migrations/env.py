"""Alembic environment for ``testimony.migrations`` (SQLite and PostgreSQL).

Run programmatically by ``testimony.service.store.db.upgrade``, which passes an
open connection already inside a transaction in ``config.attributes
["connection"]``; no ``alembic.ini`` is needed. Run from the ``alembic``
command line, it takes the URL from ``sqlalchemy.url`` or the environment
variable ``TESTIMONY_DATABASE_URL``.

On PostgreSQL the migration transaction first takes an advisory lock, so two
processes upgrading at once run one after the other; on SQLite the
``BEGIN IMMEDIATE`` of ``db.upgrade`` does the same.
"""

from __future__ import annotations

import os

import sqlalchemy
from alembic import context
from sqlalchemy.engine import Connection

from testimony.service.store import db
from testimony.service.store.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"), {"key": db.MIGRATION_LOCK}
            )
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get(
        "TESTIMONY_DATABASE_URL"
    )
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url or TESTIMONY_DATABASE_URL")
    engine = db.create_engine(url)
    try:
        with db.writer_connection(engine) as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
