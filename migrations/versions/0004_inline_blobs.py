"""Headers and inline bodies in the database (``store.inline_blobs``).

Revision ID: 0004
Revises: 0003

- ``inline_blobs`` (id, data): a submission's or follow-up's header and inline
  body, written in the transaction that logs the entry naming them, so that
  the batch's one commit makes them durable (no file, fsync and rename per
  request). Append-only like the log tables: on SQLite BEFORE UPDATE and
  BEFORE DELETE triggers RAISE(ABORT), and a BEFORE INSERT trigger refuses a
  row whose id exists (which defeats INSERT OR REPLACE, as 0001 explains); on
  PostgreSQL 0001's ``testimony_refuse_change`` refuses UPDATE, DELETE and
  TRUNCATE.

Headers and bodies written as blob files before this revision stay where
they are: ``LayeredBlobStore`` reads the files first, then these rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_TRIGGERS = {
    f"inline_blobs_no_{name.lower()}": f"""
    CREATE TRIGGER inline_blobs_no_{name.lower()} BEFORE {name} ON inline_blobs
    BEGIN
        SELECT RAISE(ABORT, 'inline_blobs is append-only: {name} refused');
    END
    """
    for name in ("UPDATE", "DELETE")
}
# REPLACE deletes the row it conflicts with without firing DELETE triggers;
# BEFORE INSERT triggers run before conflict resolution, so this refuses it.
_SQLITE_TRIGGERS["inline_blobs_insert_once"] = """
    CREATE TRIGGER inline_blobs_insert_once BEFORE INSERT ON inline_blobs
    WHEN EXISTS (SELECT 1 FROM inline_blobs WHERE id = NEW.id)
    BEGIN
        SELECT RAISE(ABORT, 'inline_blobs is append-only: insert refused, blob exists');
    END
    """

_PG_TRIGGERS = {
    "inline_blobs_no_update_delete": """
    CREATE TRIGGER inline_blobs_no_update_delete BEFORE UPDATE OR DELETE ON inline_blobs
    FOR EACH ROW EXECUTE FUNCTION testimony_refuse_change()
    """,
    "inline_blobs_no_truncate": """
    CREATE TRIGGER inline_blobs_no_truncate BEFORE TRUNCATE ON inline_blobs
    FOR EACH STATEMENT EXECUTE FUNCTION testimony_refuse_change()
    """,
}


def upgrade() -> None:
    op.create_table(
        "inline_blobs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("length(id) = 64", name=op.f("ck_inline_blobs_id_is_hex_sha256")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inline_blobs")),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        triggers = _SQLITE_TRIGGERS
    elif dialect == "postgresql":
        triggers = _PG_TRIGGERS
    else:
        raise RuntimeError(f"append-only triggers are not written for {dialect}")
    for statement in triggers.values():
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    triggers = _SQLITE_TRIGGERS if dialect == "sqlite" else _PG_TRIGGERS
    for name in triggers:
        suffix = "" if dialect == "sqlite" else " ON inline_blobs"
        op.execute(f"DROP TRIGGER IF EXISTS {name}{suffix}")
    op.drop_table("inline_blobs")
