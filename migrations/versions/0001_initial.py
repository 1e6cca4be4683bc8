"""Initial schema: log, tree nodes, checkpoints, blobs, uploads, proof of work,
submissions; and the append-only rules of the log tables (docs/protocol.md §9).

Revision ID: 0001
Revises:

The log tables (log_entries, tree_nodes, checkpoints) are append-only in the
database itself, whatever client writes to it:

SQLite
    BEFORE UPDATE and BEFORE DELETE triggers RAISE(ABORT) on all three tables.
    A BEFORE INSERT trigger on log_entries refuses any row whose idx is not
    exactly the next index, COALESCE(MAX(idx) + 1, 0), or whose entry_id is
    already present. The second clause matters: ``INSERT OR REPLACE`` resolves
    a UNIQUE conflict by deleting the old row *without* firing DELETE triggers
    (unless recursive_triggers is on), so a replacement at the next index with
    an existing entry_id would otherwise delete that entry. BEFORE INSERT
    triggers run before conflict resolution, so every REPLACE of an existing
    row is refused here. tree_nodes inserts are refused when (level, idx)
    exists; checkpoints inserts unless the size grows past every earlier
    checkpoint and does not exceed the log.

PostgreSQL
    plpgsql trigger functions refuse UPDATE and DELETE (row level) and TRUNCATE
    (statement level) on all three tables; a BEFORE INSERT row trigger on
    log_entries applies the next-index rule and one on checkpoints the growth
    rule. PostgreSQL has no REPLACE, and ``ON CONFLICT DO UPDATE`` fires the
    UPDATE trigger. The functions pin their search_path to the schema the
    tables were created in, so they hold whatever search_path a client sets.

Triggers can be dropped by whoever owns the schema; ``testimony audit`` finds
what was changed below them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOG_TABLES = ("log_entries", "tree_nodes", "checkpoints")

_SQLITE_TRIGGERS = [
    *(
        f"""
        CREATE TRIGGER {table}_no_{op_name.lower()} BEFORE {op_name} ON {table}
        BEGIN
            SELECT RAISE(ABORT, '{table} is append-only: {op_name} refused');
        END
        """
        for table in LOG_TABLES
        for op_name in ("UPDATE", "DELETE")
    ),
    """
    CREATE TRIGGER log_entries_next_index BEFORE INSERT ON log_entries
    WHEN NEW.idx IS NOT (SELECT COALESCE(MAX(idx) + 1, 0) FROM log_entries)
      OR EXISTS (SELECT 1 FROM log_entries WHERE entry_id = NEW.entry_id)
    BEGIN
        SELECT RAISE(ABORT, 'log_entries is append-only: insert refused, not the next index');
    END
    """,
    """
    CREATE TRIGGER tree_nodes_insert_once BEFORE INSERT ON tree_nodes
    WHEN EXISTS (SELECT 1 FROM tree_nodes WHERE level = NEW.level AND idx = NEW.idx)
    BEGIN
        SELECT RAISE(ABORT, 'tree_nodes is append-only: insert refused, node exists');
    END
    """,
    """
    CREATE TRIGGER checkpoints_grow BEFORE INSERT ON checkpoints
    WHEN NEW.size IS NULL
      OR NEW.size <= (SELECT COALESCE(MAX(size), -1) FROM checkpoints)
      OR NEW.size > (SELECT COALESCE(MAX(idx) + 1, 0) FROM log_entries)
    BEGIN
        SELECT RAISE(ABORT, 'checkpoints is append-only: insert refused, size does not grow');
    END
    """,
]

_SQLITE_TRIGGER_NAMES = [
    *(f"{table}_no_{name}" for table in LOG_TABLES for name in ("update", "delete")),
    "log_entries_next_index",
    "tree_nodes_insert_once",
    "checkpoints_grow",
]


def _pg_functions(schema: str) -> list[str]:
    # Static SQL with the search_path pinned to the schema the tables are in
    # (pg_temp last, so a temporary table cannot stand in for a log table):
    # the queries are planned once per session, where dynamic SQL would be
    # planned on every row, and a client's own search_path changes nothing.
    pinned = f"SET search_path = {schema}, pg_temp"
    return [
        """
        CREATE FUNCTION testimony_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """,
        f"""
        CREATE FUNCTION testimony_log_next_index() RETURNS trigger LANGUAGE plpgsql
        {pinned} AS $$
        DECLARE
            expected bigint;
        BEGIN
            SELECT COALESCE(MAX(idx) + 1, 0) INTO expected FROM log_entries;
            IF NEW.idx IS DISTINCT FROM expected THEN
                RAISE EXCEPTION 'log_entries is append-only: insert refused, not the next index'
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END
        $$
        """,
        f"""
        CREATE FUNCTION testimony_checkpoint_grows() RETURNS trigger LANGUAGE plpgsql
        {pinned} AS $$
        DECLARE
            last_size bigint;
            log_size bigint;
        BEGIN
            SELECT COALESCE(MAX(size), -1) INTO last_size FROM checkpoints;
            SELECT COALESCE(MAX(idx) + 1, 0) INTO log_size FROM log_entries;
            IF NEW.size IS NULL OR NEW.size <= last_size OR NEW.size > log_size THEN
                RAISE EXCEPTION 'checkpoints is append-only: insert refused, size does not grow'
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END
        $$
        """,
    ]


_PG_TRIGGERS = [
    *(
        f"""
        CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION testimony_refuse_change()
        """
        for table in LOG_TABLES
    ),
    *(
        f"""
        CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION testimony_refuse_change()
        """
        for table in LOG_TABLES
    ),
    """
    CREATE TRIGGER log_entries_next_index BEFORE INSERT ON log_entries
    FOR EACH ROW EXECUTE FUNCTION testimony_log_next_index()
    """,
    """
    CREATE TRIGGER checkpoints_grow BEFORE INSERT ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION testimony_checkpoint_grows()
    """,
]

_PG_TRIGGER_NAMES = [
    *((f"{table}_no_update_delete", table) for table in LOG_TABLES),
    *((f"{table}_no_truncate", table) for table in LOG_TABLES),
    ("log_entries_next_index", "log_entries"),
    ("checkpoints_grow", "checkpoints"),
]

_PG_FUNCTION_NAMES = [
    "testimony_refuse_change",
    "testimony_log_next_index",
    "testimony_checkpoint_grows",
]


def _log_index() -> sa.types.TypeEngine[int]:
    # "INTEGER PRIMARY KEY" is SQLite's rowid; BIGINT elsewhere (see models.py).
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_entries",
        sa.Column("idx", _log_index(), autoincrement=False, nullable=False),
        sa.Column("entry_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("idx >= 0", name=op.f("ck_log_entries_idx_not_negative")),
        sa.CheckConstraint(
            "length(entry_id) = 32", name=op.f("ck_log_entries_entry_id_is_32_bytes")
        ),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_log_entries")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_log_entries_entry_id")),
    )
    op.create_table(
        "tree_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.CheckConstraint("level >= 0 AND level < 64", name=op.f("ck_tree_nodes_level_in_range")),
        sa.CheckConstraint("idx >= 0", name=op.f("ck_tree_nodes_idx_not_negative")),
        sa.CheckConstraint("length(hash) = 32", name=op.f("ck_tree_nodes_hash_is_32_bytes")),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_tree_nodes")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint("size >= 0", name=op.f("ck_checkpoints_size_not_negative")),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_checkpoints")),
    )
    op.create_table(
        "blobs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("referenced", sa.Boolean(), nullable=False),
        sa.CheckConstraint("length(id) = 64", name=op.f("ck_blobs_id_is_hex_sha256")),
        sa.CheckConstraint("size >= 0", name=op.f("ck_blobs_size_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blobs")),
    )
    op.create_index(op.f("ix_blobs_referenced_created"), "blobs", ["referenced", "created"])
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("length >= 0", name=op.f("ck_uploads_length_not_negative")),
        sa.CheckConstraint(
            '"offset" >= 0 AND "offset" <= length', name=op.f("ck_uploads_offset_in_range")
        ),
        sa.CheckConstraint("length(sha256) = 64", name=op.f("ck_uploads_sha256_is_hex")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
    )
    op.create_index(op.f("ix_uploads_expires"), "uploads", ["expires"])
    op.create_table(
        "pow_used",
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_pow_used")),
    )
    op.create_index(op.f("ix_pow_used_expires"), "pow_used", ["expires"])
    op.create_table(
        "submissions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("idx", _log_index(), nullable=False),
        sa.Column("intake_key", sa.String(length=64), nullable=False),
        sa.Column("header_sha256", sa.String(length=64), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("witness", sa.String(length=64), nullable=True),
        sa.Column("witness_box_sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["idx"], ["log_entries.idx"], name=op.f("fk_submissions_idx_log_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submissions")),
        sa.UniqueConstraint("idx", name=op.f("uq_submissions_idx")),
        sa.UniqueConstraint(
            "intake_key",
            "header_sha256",
            "body_sha256",
            name=op.f("uq_submissions_intake_key_header_sha256_body_sha256"),
        ),
    )

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    elif dialect == "postgresql":
        bind = op.get_bind()
        schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
        quoted = bind.dialect.identifier_preparer.quote_identifier(schema)
        for statement in (*_pg_functions(quoted), *_PG_TRIGGERS):
            op.execute(statement)
    else:
        raise RuntimeError(f"append-only triggers are not written for {dialect}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in _SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect == "postgresql":
        for name, table in _PG_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for function in _PG_FUNCTION_NAMES:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")

    op.drop_table("submissions")
    op.drop_index(op.f("ix_pow_used_expires"), table_name="pow_used")
    op.drop_table("pow_used")
    op.drop_index(op.f("ix_uploads_expires"), table_name="uploads")
    op.drop_table("uploads")
    op.drop_index(op.f("ix_blobs_referenced_created"), table_name="blobs")
    op.drop_table("blobs")
    op.drop_table("checkpoints")
    op.drop_table("tree_nodes")
    op.drop_table("log_entries")
