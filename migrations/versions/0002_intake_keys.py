"""Intake keys as a projection of the log; uploads found by blob id
(docs/protocol.md §1, §6, §9; ``docs/log-entries.md``).

Revision ID: 0002
Revises: 0001

- ``intake_keys`` (key_id, public_key, idx): one row per intake key an
  ``intake-key`` entry names, the first such entry winning. It is filled here
  from the entries already logged, reading them the way
  ``store.projections.IntakeKeyProjection`` does, so the table is the one a
  rebuild of the projections would make.
- ``ix_uploads_sha256``: whether a blob a submission names is still being
  uploaded is a lookup by ``uploads.sha256``.
- The header and body blobs of every logged submission are marked referenced.
  Since this revision ``SubmissionProjection`` marks them (before, a separate
  projection did, and blob expiry re-marked what a rebuild had cleared), so
  expiry no longer checks the submissions itself; marking them here makes sure
  no flag cleared under the old code lets a submission's ciphertext expire.

Nothing of the log tables changes, so their append-only triggers stay as
0001 made them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from testimony.crypto import hpke
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.errors import MalformedInput

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INTAKE_KEY_MARK = b'"type":"intake-key"'
_CHUNK = 1_000


def _log_index() -> sa.types.TypeEngine[int]:
    # "INTEGER PRIMARY KEY" is SQLite's rowid; BIGINT elsewhere (see models.py).
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _intake_key(idx: int, entry: bytes) -> tuple[str, bytes] | None:
    """(key id, public key) of an intake-key entry; None for another type.

    Raises ``ValueError`` for an intake-key entry that is malformed or whose
    key id is not its key's (docs/protocol.md §1: ``hex(H(public key))[:32]``).
    """
    try:
        value = json.loads(entry)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(value, dict) or value.get("type") != "intake-key":
        return None
    key_text, key_id = value.get("key"), value.get("key_id")
    if not isinstance(key_text, str) or not isinstance(key_id, str):
        raise ValueError(f"intake-key entry at index {idx} lacks `key` or `key_id`")
    try:
        public = b64u_decode(key_text)
        matches = hpke.key_id(public) == key_id
    except MalformedInput:
        matches = False
    if not matches:
        raise ValueError(f"intake-key entry at index {idx}: `key` is not the S1 key `key_id` names")
    return key_id, public


def _fill_intake_keys(bind: sa.Connection) -> None:
    if bind.dialect.name == "sqlite":
        has_mark = "instr(entry, :mark) > 0"
    else:
        has_mark = "position(:mark in entry) > 0"
    select_marked = sa.text(
        f"SELECT idx, entry FROM log_entries WHERE idx > :after AND {has_mark} "
        "ORDER BY idx LIMIT :chunk"
    )
    insert_key = sa.text(
        "INSERT INTO intake_keys (key_id, public_key, idx) VALUES (:key_id, :public_key, :idx)"
    )
    seen: set[str] = set()
    after = -1
    while True:
        rows = bind.execute(
            select_marked, {"after": after, "mark": _INTAKE_KEY_MARK, "chunk": _CHUNK}
        ).all()
        if not rows:
            return
        for idx, entry in rows:
            parsed = _intake_key(int(idx), bytes(entry))
            if parsed is not None and parsed[0] not in seen:
                seen.add(parsed[0])
                bind.execute(insert_key, {"key_id": parsed[0], "public_key": parsed[1], "idx": idx})
        after = int(rows[-1][0])


def upgrade() -> None:
    op.create_table(
        "intake_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=1216), nullable=False),
        sa.Column("idx", _log_index(), nullable=False),
        sa.CheckConstraint("length(key_id) = 32", name=op.f("ck_intake_keys_key_id_is_32_hex")),
        sa.CheckConstraint(
            "length(public_key) = 1216", name=op.f("ck_intake_keys_public_key_is_s1")
        ),
        sa.ForeignKeyConstraint(
            ["idx"], ["log_entries.idx"], name=op.f("fk_intake_keys_idx_log_entries")
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_intake_keys")),
        sa.UniqueConstraint("idx", name=op.f("uq_intake_keys_idx")),
    )
    op.create_index(op.f("ix_uploads_sha256"), "uploads", ["sha256"])

    bind = op.get_bind()
    _fill_intake_keys(bind)
    bind.execute(
        sa.text(
            "UPDATE blobs SET referenced = true WHERE NOT referenced AND ("
            "id IN (SELECT header_sha256 FROM submissions) "
            "OR id IN (SELECT body_sha256 FROM submissions))"
        )
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_uploads_sha256"), table_name="uploads")
    op.drop_table("intake_keys")
