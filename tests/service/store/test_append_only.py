"""The database itself refuses to rewrite the log (migrations/versions/0001_initial.py).

Every statement here goes through a plain driver connection (``sqlite3`` /
``psycopg``) opened without any of the store's settings, as a person with the
database file or a SQL prompt would.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import Engine, make_url

from testimony.crypto import merkle
from testimony.service.store.inline_blobs import InlineBlobs
from testimony.service.store.log import LogStore

from .support import read_note, stand_in_sign

REFUSED = "append-only"


class RawClient:
    """One autocommitting driver connection; ``run`` executes one statement."""

    def __init__(self, engine: Engine) -> None:
        url = make_url(engine.url)
        self.dialect = engine.dialect.name
        if self.dialect == "sqlite":
            assert url.database
            self.connection: Any = sqlite3.connect(url.database, isolation_level=None)
            self.errors: tuple[type[Exception], ...] = (sqlite3.DatabaseError,)
        else:
            libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
            self.connection = psycopg.connect(libpq, autocommit=True)
            self.errors = (psycopg.DatabaseError,)
        self.param = "?" if self.dialect == "sqlite" else "%s"

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        self.connection.execute(sql.replace("?", self.param), params)

    def refused(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        with pytest.raises(self.errors, match=REFUSED):
            self.run(sql, params)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return list(self.connection.execute(sql.replace("?", self.param), params).fetchall())


@pytest.fixture
def filled(log: LogStore) -> LogStore:
    """A log of 5 entries, appended in batches of 3 and 2 (checkpoints at 3 and 5)."""
    log.append_batch([b"zero", b"one", b"two"], stand_in_sign)
    log.append_batch([b"three", b"four"], stand_in_sign)
    return log


@pytest.fixture
def raw(filled: LogStore) -> Iterator[RawClient]:
    client = RawClient(filled.engine)
    yield client
    client.connection.close()


def _assert_log_intact(log: LogStore) -> None:
    entries = log.entries(0, 5)
    assert entries == [b"zero", b"one", b"two", b"three", b"four"]
    assert log.size() == 5
    checkpoint = log.latest_checkpoint()
    assert checkpoint is not None
    size, root = read_note(checkpoint.note)
    assert size == 5
    assert log.root(5) == root == merkle.root([merkle.leaf_hash(e) for e in entries])


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE log_entries SET entry = ? WHERE idx = 0",
        "UPDATE tree_nodes SET hash = ? WHERE level = 0 AND idx = 0",
        "UPDATE checkpoints SET note = CAST(? AS TEXT) WHERE size = 3",
    ],
)
def test_update_is_refused(raw: RawClient, filled: LogStore, statement: str) -> None:
    param: Any = b"\x00" * 32
    if "note" in statement:
        param = "forged"
    raw.refused(statement, (param,))
    _assert_log_intact(filled)


@pytest.mark.parametrize("table", ["log_entries", "tree_nodes", "checkpoints"])
def test_delete_is_refused(raw: RawClient, filled: LogStore, table: str) -> None:
    raw.refused(f"DELETE FROM {table}")
    _assert_log_intact(filled)


@pytest.mark.parametrize(
    ("idx", "why"),
    [(6, "leaves a gap"), (4, "rewrites the last"), (0, "rewrites the first"), (None, "no index")],
)
def test_insert_other_than_next_index_is_refused(
    raw: RawClient, filled: LogStore, idx: int | None, why: str
) -> None:
    raw.refused(
        "INSERT INTO log_entries (idx, entry_id, entry) VALUES (?, ?, ?)",
        (idx, merkle.leaf_hash(b"forged"), b"forged"),
    )
    _assert_log_intact(filled)


def test_insert_at_the_next_index_is_allowed(raw: RawClient) -> None:
    """The control: the rule refuses rewrites, not appends."""
    raw.run(
        "INSERT INTO log_entries (idx, entry_id, entry) VALUES (?, ?, ?)",
        (5, merkle.leaf_hash(b"five"), b"five"),
    )
    assert raw.rows("SELECT entry FROM log_entries WHERE idx = 5") == [(b"five",)]


def test_existing_tree_node_cannot_be_inserted_again(raw: RawClient, filled: LogStore) -> None:
    # SQLite: the insert-once trigger; PostgreSQL (no REPLACE): the primary key.
    with pytest.raises(raw.errors, match=f"{REFUSED}|duplicate key"):
        raw.run("INSERT INTO tree_nodes (level, idx, hash) VALUES (?, ?, ?)", (1, 0, b"\x11" * 32))
    _assert_log_intact(filled)


@pytest.mark.parametrize(("size", "why"), [(5, "same size"), (4, "shrinks"), (6, "beyond log")])
def test_checkpoint_must_grow_within_the_log(
    raw: RawClient, filled: LogStore, size: int, why: str
) -> None:
    raw.refused("INSERT INTO checkpoints (size, note) VALUES (?, ?)", (size, "forged"))
    _assert_log_intact(filled)


# --- SQLite: REPLACE and upserts -------------------------------------------------------


SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
POSTGRES_ONLY = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def _sqlite(raw: RawClient) -> None:
    assert raw.dialect == "sqlite"
    # The attack relies on the default: REPLACE deletes without firing DELETE triggers.
    assert raw.rows("PRAGMA recursive_triggers") == [(0,)]


@SQLITE_ONLY
def test_sqlite_insert_or_replace_of_an_entry_is_refused(raw: RawClient, filled: LogStore) -> None:
    _sqlite(raw)
    raw.refused(
        "INSERT OR REPLACE INTO log_entries (idx, entry_id, entry) VALUES (?, ?, ?)",
        (2, merkle.leaf_hash(b"forged"), b"forged"),
    )
    raw.refused(
        "REPLACE INTO log_entries (idx, entry_id, entry) VALUES (?, ?, ?)",
        (4, merkle.leaf_hash(b"four"), b"four"),
    )
    _assert_log_intact(filled)


@SQLITE_ONLY
def test_sqlite_replace_at_next_index_with_an_existing_id_is_refused(
    raw: RawClient, filled: LogStore
) -> None:
    """REPLACE at the next index, reusing entry 0's id, would delete entry 0 silently."""
    _sqlite(raw)
    raw.refused(
        "INSERT OR REPLACE INTO log_entries (idx, entry_id, entry) VALUES (?, ?, ?)",
        (5, merkle.leaf_hash(b"zero"), b"zero"),
    )
    _assert_log_intact(filled)


@SQLITE_ONLY
@pytest.mark.parametrize(
    "statement",
    [
        "INSERT OR REPLACE INTO tree_nodes (level, idx, hash) VALUES (1, 0, ?)",
        "INSERT OR IGNORE INTO tree_nodes (level, idx, hash) VALUES (1, 0, ?)",
        "INSERT INTO tree_nodes (level, idx, hash) VALUES (1, 0, ?) "
        "ON CONFLICT (level, idx) DO UPDATE SET hash = excluded.hash",
        "INSERT OR REPLACE INTO checkpoints (size, note) VALUES (3, CAST(? AS TEXT))",
        "INSERT INTO log_entries (idx, entry_id, entry) VALUES (0, ?, x'00') "
        "ON CONFLICT (idx) DO UPDATE SET entry = excluded.entry",
    ],
)
def test_sqlite_replace_and_upsert_are_refused(
    raw: RawClient, filled: LogStore, statement: str
) -> None:
    _sqlite(raw)
    raw.refused(statement, (b"\x22" * 32,))
    _assert_log_intact(filled)


# --- PostgreSQL: TRUNCATE and upserts ----------------------------------------------------


def _postgres(raw: RawClient) -> None:
    assert raw.dialect == "postgresql"


@POSTGRES_ONLY
@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE log_entries CASCADE",
        "TRUNCATE tree_nodes",
        "TRUNCATE checkpoints",
        "TRUNCATE log_entries, tree_nodes, checkpoints, submissions, intake_keys, followups,"
        " replies, signed_entries, annotation_index, access",
    ],
)
def test_postgres_truncate_is_refused(raw: RawClient, filled: LogStore, statement: str) -> None:
    _postgres(raw)
    raw.refused(statement)
    _assert_log_intact(filled)


@POSTGRES_ONLY
@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO tree_nodes (level, idx, hash) VALUES (1, 0, %s) "
        "ON CONFLICT (level, idx) DO UPDATE SET hash = excluded.hash",
        "INSERT INTO checkpoints (size, note) VALUES (7, 'x') "
        "ON CONFLICT (size) DO UPDATE SET note = excluded.note",
    ],
)
def test_postgres_upsert_is_refused(raw: RawClient, filled: LogStore, statement: str) -> None:
    _postgres(raw)
    params: tuple[Any, ...] = (b"\x22" * 32,) if "%s" in statement else ()
    with pytest.raises(psycopg.DatabaseError, match=REFUSED):
        raw.connection.execute(statement, params)
    _assert_log_intact(filled)


@POSTGRES_ONLY
def test_postgres_rules_hold_under_another_search_path(raw: RawClient, filled: LogStore) -> None:
    """The trigger functions pin their schema: a client's search_path cannot sidestep them."""
    _postgres(raw)
    schema = raw.rows("SELECT current_schema()")[0][0]
    raw.run("SET search_path = public")
    raw.refused(
        f'INSERT INTO "{schema}".log_entries (idx, entry_id, entry) VALUES (%s, %s, %s)',
        (9, merkle.leaf_hash(b"forged"), b"forged"),
    )
    raw.refused(f'DELETE FROM "{schema}".log_entries')
    _assert_log_intact(filled)


@pytest.fixture
def inline_row(filled: LogStore) -> tuple[str, bytes]:
    data = b"a header's ciphertext"
    blob_id = hashlib.sha256(data).hexdigest()
    with filled.engine.begin() as connection:
        InlineBlobs.put_in(connection, {blob_id: data})
    return blob_id, data


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE inline_blobs SET data = ?",
        "DELETE FROM inline_blobs",
        "INSERT INTO inline_blobs (id, data) VALUES (?, ?) "
        "ON CONFLICT (id) DO UPDATE SET data = excluded.data",
        "TRUNCATE inline_blobs",
    ],
)
def test_headers_and_inline_bodies_cannot_be_changed(
    raw: RawClient, filled: LogStore, inline_row: tuple[str, bytes], statement: str
) -> None:
    blob_id, data = inline_row
    if statement.startswith("TRUNCATE") and raw.dialect == "sqlite":
        statement = "INSERT OR REPLACE INTO inline_blobs (id, data) VALUES (?, ?)"
    params: tuple[Any, ...] = ()
    if statement.count("?") == 1:
        params = (b"forged",)
    elif statement.count("?") == 2:
        params = (blob_id, b"forged")
    raw.refused(statement, params)
    assert raw.rows("SELECT id, data FROM inline_blobs") == [(blob_id, data)]
