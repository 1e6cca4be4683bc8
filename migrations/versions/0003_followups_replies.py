"""Follow-ups and replies as projections of the log (docs/protocol.md §7, §9;
``docs/log-entries.md``).

Revision ID: 0003
Revises: 0002

- ``followups`` (id, idx, parent, intake_key, header_sha256, body_sha256):
  one row per ``followup`` entry, unique by content (parent, intake key,
  header hash, body hash) so that a repeated follow-up finds its first entry.
- ``replies`` (id, idx, parent, sealed_sha256): one row per ``reply`` entry,
  looked up by parent.
- ``ix_submissions_witness``: a witness fetching replies names its key.

No code before this revision wrote ``followup`` or ``reply`` entries, so the
new tables start empty; ``rebuild_projections`` fills them from the log like
every projection. Nothing of the log tables changes, so their append-only
triggers stay as 0001 made them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _log_index() -> sa.types.TypeEngine[int]:
    # "INTEGER PRIMARY KEY" is SQLite's rowid; BIGINT elsewhere (see models.py).
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "followups",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("idx", _log_index(), nullable=False),
        sa.Column("parent", sa.String(length=64), nullable=False),
        sa.Column("intake_key", sa.String(length=64), nullable=False),
        sa.Column("header_sha256", sa.String(length=64), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["idx"], ["log_entries.idx"], name=op.f("fk_followups_idx_log_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followups")),
        sa.UniqueConstraint("idx", name=op.f("uq_followups_idx")),
        sa.UniqueConstraint(
            "parent",
            "intake_key",
            "header_sha256",
            "body_sha256",
            name=op.f("uq_followups_parent_intake_key_header_sha256_body_sha256"),
        ),
    )
    op.create_table(
        "replies",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("idx", _log_index(), nullable=False),
        sa.Column("parent", sa.String(length=64), nullable=False),
        sa.Column("sealed_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["idx"], ["log_entries.idx"], name=op.f("fk_replies_idx_log_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replies")),
        sa.UniqueConstraint("idx", name=op.f("uq_replies_idx")),
    )
    op.create_index(op.f("ix_replies_parent"), "replies", ["parent"])
    op.create_index(op.f("ix_submissions_witness"), "submissions", ["witness"])


def downgrade() -> None:
    op.drop_index(op.f("ix_submissions_witness"), table_name="submissions")
    op.drop_index(op.f("ix_replies_parent"), table_name="replies")
    op.drop_table("replies")
    op.drop_table("followups")
