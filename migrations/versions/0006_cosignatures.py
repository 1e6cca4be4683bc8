"""Witnesses' cosignatures of the log's checkpoints (docs/protocol.md §13).

Revision ID: 0006
Revises: 0005

- ``cosignatures`` (size, witness, line): the verified cosignature line a
  configured witness returned for the checkpoint of ``size``, served below
  the log's own signature on ``GET /api/v1/log/checkpoint``. Not a
  projection of the log (no entry holds it) and not append-only: a row lost
  is gathered again from the witness.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cosignatures",
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("witness", sa.Text(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("size", "witness", name=op.f("pk_cosignatures")),
    )


def downgrade() -> None:
    op.drop_table("cosignatures")
