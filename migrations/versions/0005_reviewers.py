"""The reviewers' entries as projections of the log (docs/protocol.md §12).

Revision ID: 0005
Revises: 0004

- ``signed_entries`` (idx, type, actor, signed_sha256): one row per signed
  reviewer entry, unique by ``signed_sha256`` so that a repeated entry finds
  its first logging; the server replays them for standing.
- ``annotation_index`` (value, idx): the blind indexes of ``annotation``
  entries, for ``GET /api/v1/entries?index=``.
- ``access`` (reviewer, subject, idx): the submissions each ``access`` entry
  names, so a blob is handed only to a reviewer whose access is logged.

No code before this revision accepted these entries, so the tables start
empty; ``rebuild_projections`` fills them from the log like every projection.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _log_index() -> sa.types.TypeEngine[int]:
    # "INTEGER PRIMARY KEY" is SQLite's rowid; BIGINT elsewhere (see models.py).
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "signed_entries",
        sa.Column("idx", _log_index(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("signed_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["idx"], ["log_entries.idx"], name=op.f("fk_signed_entries_idx_log_entries")
        ),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_signed_entries")),
        sa.UniqueConstraint("signed_sha256", name=op.f("uq_signed_entries_signed_sha256")),
    )
    op.create_table(
        "annotation_index",
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("idx", _log_index(), nullable=False),
        sa.ForeignKeyConstraint(
            ["idx"], ["log_entries.idx"], name=op.f("fk_annotation_index_idx_log_entries")
        ),
        sa.PrimaryKeyConstraint("value", "idx", name=op.f("pk_annotation_index")),
    )
    op.create_table(
        "access",
        sa.Column("reviewer", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("idx", _log_index(), nullable=False),
        sa.ForeignKeyConstraint(
            ["idx"], ["log_entries.idx"], name=op.f("fk_access_idx_log_entries")
        ),
        sa.PrimaryKeyConstraint("reviewer", "subject", "idx", name=op.f("pk_access")),
    )


def downgrade() -> None:
    op.drop_table("access")
    op.drop_table("annotation_index")
    op.drop_table("signed_entries")
