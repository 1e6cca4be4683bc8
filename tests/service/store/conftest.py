"""Database fixtures for the store tests, on SQLite and on PostgreSQL.

PostgreSQL runs when ``TESTIMONY_TEST_POSTGRES_URL`` names a server, e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``. Without it those tests
are skipped, except in CI (``CI`` set), where a missing server is a failure.

Each test session picks a random schema prefix; each PostgreSQL-backed test
gets its own schema under it (``search_path`` set through the connection's
``options``), dropped when the test ends, and the session drops any left over.
Runs on one server therefore never see each other's tables.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy
from sqlalchemy.engine import Engine, make_url

from testimony.service.store import db
from testimony.service.store.log import LogStore

POSTGRES_ENV = "TESTIMONY_TEST_POSTGRES_URL"

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server URL, or skip (fail in CI) when none is configured."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set; CI must run the PostgreSQL tests")
        pytest.skip(f"{POSTGRES_ENV} is not set")
    return url


@pytest.fixture(scope="session")
def postgres_schemas(postgres_url: str) -> Iterator[Callable[[], tuple[str, str]]]:
    """Makes fresh schemas named ``testimony_<session random>_<n>``: returns (url, schema)."""
    prefix = f"testimony_{secrets.token_hex(6)}"
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> tuple[str, str]:
        name = f"{prefix}_{len(made)}"
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        made.append(name)
        url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={name}"})
        return url.render_as_string(hide_password=False), name

    yield make
    with admin.connect() as connection:
        for name in made:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    admin.dispose()


def drop_schema(postgres_url: str, name: str) -> None:
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        admin.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[str]:
    """The URL of an empty database (no tables): a SQLite file, or a fresh PG schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{os.fspath(tmp_path)}/store.db"
        return
    make = request.getfixturevalue("postgres_schemas")
    url, name = make()
    yield url
    drop_schema(request.getfixturevalue("postgres_url"), name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head."""
    engine = db.create_engine(database_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def log(engine: Engine) -> LogStore:
    """A log store on a fresh migrated database."""
    return LogStore(engine)
