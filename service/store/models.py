"""The database tables of the intake server (docs/protocol.md §6, §8, §9).

Log tables — ``log_entries``, ``tree_nodes``, ``checkpoints`` — are append-only:
the migrations (``testimony.migrations``) install triggers that refuse UPDATE,
DELETE and TRUNCATE on them, and any insert that is not the next index.
``inline_blobs`` (headers and inline bodies, written with the entry that
names them) is append-only too. The
other tables hold short-lived working state (``blobs``, ``uploads``,
``pow_used``) or projections of the log (``submissions``, ``intake_keys``,
``followups``, ``replies``),
which :func:`testimony.service.store.projections.rebuild_projections`
recomputes. The ``referenced`` flag of ``blobs`` is projected too.

No table has a row timestamp. The only times stored are expiry bounds, as
whole Unix seconds that the caller has already floored (docs/protocol.md §9): a
blob's ``created``, an upload's ``expires``, a proof-of-work challenge's
``expires``; and the witnesses' own timestamps inside ``cosignatures`` lines,
which are taken only after the checkpoint's time granule has ended. Nothing
here identifies a client.

A change here needs a migration in ``migrations/versions/``;
``tests/service/store/test_migrations.py`` fails while the two differ.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AccessGrant",
    "AnnotationIndex",
    "Base",
    "Blob",
    "Checkpoint",
    "Followup",
    "IntakeKey",
    "LogEntry",
    "PowUsed",
    "Reply",
    "SignedEntryRow",
    "Submission",
    "TreeNode",
    "Upload",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite makes a column declared exactly "INTEGER PRIMARY KEY" the rowid: the
# log is then one B-tree ordered by index, and MAX(idx) (the triggers' "next
# index") is a single seek. PostgreSQL gets a BIGINT.
LogIndex = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base; its ``metadata`` is the schema the migrations build."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class LogEntry(Base):
    """One log entry: the exact JCS bytes (§9) at its index, with its leaf hash."""

    __tablename__ = "log_entries"

    idx: Mapped[int] = mapped_column(LogIndex, primary_key=True, autoincrement=False)
    entry_id: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    """The RFC 9162 leaf hash ``H(0x00 || entry)``; the entry's id is its hex."""
    entry: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        CheckConstraint("idx >= 0", name="idx_not_negative"),
        CheckConstraint("length(entry_id) = 32", name="entry_id_is_32_bytes"),
    )


class TreeNode(Base):
    """A stored perfect subtree hash: ``(level, idx)`` covers leaves
    ``[idx << level, (idx + 1) << level)``; level 0 holds the leaf hashes.

    These are the nodes of ``testimony.crypto.merkle``'s storage protocol; they
    make every proof O(log n) reads.
    """

    __tablename__ = "tree_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    __table_args__ = (
        CheckConstraint("level >= 0 AND level < 64", name="level_in_range"),
        CheckConstraint("idx >= 0", name="idx_not_negative"),
        CheckConstraint("length(hash) = 32", name="hash_is_32_bytes"),
        # Clustered on (level, idx): a node read is one B-tree seek on SQLite.
        {"sqlite_with_rowid": False},
    )


class Checkpoint(Base):
    """A signed checkpoint (C2SP signed note, §9) of the tree of ``size`` leaves.

    The note carries its own (floored) time; the row has none.
    """

    __tablename__ = "checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    note: Mapped[str] = mapped_column(Text)

    __table_args__ = (CheckConstraint("size >= 0", name="size_not_negative"),)


class CheckpointCosignature(Base):
    """A witness's verified cosignature (docs/protocol.md §13) of the checkpoint of ``size``.

    ``witness`` is ``<key name>+<hex key ID>``; ``line`` the cosignature line
    as the witness sent it, with its newline. Its timestamp is the witness's,
    not the server's, and tells no more than the checkpoint's floored time:
    only a checkpoint whose time granule has ended is sent to a witness
    (``domain/log_witnesses.py``). The server writes a row once and never
    changes it; a lost row is gathered again.
    """

    __tablename__ = "cosignatures"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """The size of the checkpoint cosigned (no foreign key: the append-only
    ``checkpoints`` table must meet its own refusal of a TRUNCATE first)."""
    witness: Mapped[str] = mapped_column(Text, primary_key=True)
    line: Mapped[str] = mapped_column(Text)


class Blob(Base):
    """A verified blob's metadata (§6). The bytes live in a ``BlobStore``.

    ``created`` is the caller's floored time (whole Unix seconds), kept only so
    that unreferenced blobs can expire; ``referenced`` is set once a log entry
    names the blob.
    """

    __tablename__ = "blobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """``hex(H(ciphertext))``."""
    size: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[int] = mapped_column(BigInteger)
    referenced: Mapped[bool] = mapped_column(Boolean, default=False)
    """Set by ``SubmissionProjection`` for a submission's header, body and attachments."""

    __table_args__ = (
        CheckConstraint("length(id) = 64", name="id_is_hex_sha256"),
        CheckConstraint("size >= 0", name="size_not_negative"),
        Index(None, "referenced", "created"),
    )


class InlineBlob(Base):
    """A small ciphertext (a header, an inline body) kept in the database, in the
    transaction of the entry that names it (``store.inline_blobs``).

    Append-only like the log tables: the migration installs triggers refusing
    UPDATE and DELETE (and TRUNCATE on PostgreSQL). Its ``blobs`` row is
    written beside it.
    """

    __tablename__ = "inline_blobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """``hex(H(data))``."""
    data: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (CheckConstraint("length(id) = 64", name="id_is_hex_sha256"),)


class Upload(Base):
    """A pending resumable upload (tus, §6): only what resuming and expiry need.

    ``id`` is an opaque random token; ``sha256`` the hex id the finished blob
    must have (indexed: a submission asks whether a blob it names is still
    uploading); ``expires`` a floored time (whole Unix seconds, at least to
    the minute). No client data.
    """

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    expires: Mapped[int] = mapped_column(BigInteger, index=True)

    __table_args__ = (
        CheckConstraint("length >= 0", name="length_not_negative"),
        CheckConstraint('"offset" >= 0 AND "offset" <= length', name="offset_in_range"),
        CheckConstraint("length(sha256) = 64", name="sha256_is_hex"),
    )


class PowUsed(Base):
    """A spent proof-of-work challenge (§8), kept until it would have expired anyway."""

    __tablename__ = "pow_used"

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    """``H(challenge bytes)``."""
    expires: Mapped[int] = mapped_column(BigInteger, index=True)


class Submission(Base):
    """Projection of a ``submission`` log entry (§9), rebuildable from the log.

    The unique key (intake_key, header_sha256, body_sha256) identifies a
    submission by its content, so a repeated request finds its first entry.
    """

    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """``hex(leaf hash)`` of the entry."""
    idx: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"), unique=True)
    intake_key: Mapped[str] = mapped_column(String(64))
    header_sha256: Mapped[str] = mapped_column(String(64))
    body_sha256: Mapped[str] = mapped_column(String(64))
    witness: Mapped[str | None] = mapped_column(String(64), index=True)
    """The witness's Ed25519 public key, b64u (a pseudonym), or NULL; indexed
    (a witness fetching replies names it)."""
    witness_box_sha256: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("intake_key", "header_sha256", "body_sha256"),)


class IntakeKey(Base):
    """Projection of the ``intake-key`` log entries (``docs/log-entries.md``).

    One row per intake key a submission may be sealed to: its key id (§1),
    its S1 public key and the index of the entry that first named it.
    """

    __tablename__ = "intake_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    """``hex(H(public key))[:32]``."""
    public_key: Mapped[bytes] = mapped_column(LargeBinary(1216))
    idx: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"), unique=True)

    __table_args__ = (
        CheckConstraint("length(key_id) = 32", name="key_id_is_32_hex"),
        CheckConstraint("length(public_key) = 1216", name="public_key_is_s1"),
    )


class Followup(Base):
    """Projection of a ``followup`` log entry (docs/protocol.md §7; ``docs/log-entries.md``).

    The unique key (parent, intake_key, header_sha256, body_sha256) identifies
    a follow-up by its content, so a repeated request finds its first entry.
    """

    __tablename__ = "followups"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """``hex(leaf hash)`` of the entry."""
    idx: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"), unique=True)
    parent: Mapped[str] = mapped_column(String(64))
    intake_key: Mapped[str] = mapped_column(String(64))
    header_sha256: Mapped[str] = mapped_column(String(64))
    body_sha256: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("parent", "intake_key", "header_sha256", "body_sha256"),)


class Reply(Base):
    """Projection of a ``reply`` log entry (docs/protocol.md §7): a sealed reply to a submission."""

    __tablename__ = "replies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """``hex(leaf hash)`` of the entry."""
    idx: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"), unique=True)
    parent: Mapped[str] = mapped_column(String(64), index=True)
    sealed_sha256: Mapped[str] = mapped_column(String(64))
    """The blob holding the sealed reply."""


class SignedEntryRow(Base):
    """Projection of every signed reviewer entry (docs/protocol.md §12.2; ``docs/log-entries.md``).

    ``signed_sha256`` is ``H(JCS(entry without "signature" and "received"))``:
    it identifies the signed entry, so a repeat finds its first logging. The
    server replays these rows (``domain/reviewers.py``) to know who has
    standing, without reading the log's other entries.
    """

    __tablename__ = "signed_entries"

    idx: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(32))
    signed_sha256: Mapped[str] = mapped_column(String(64), unique=True)


class AnnotationIndex(Base):
    """One row per blind index an ``annotation`` entry lists (docs/protocol.md §12.6)."""

    __tablename__ = "annotation_index"

    value: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    idx: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"), primary_key=True)


class AccessGrant(Base):
    """One row per (reviewer, submission) an ``access`` entry names (docs/protocol.md §12.7).

    A blob is handed to a reviewer only if a row names the reviewer and a
    submission that holds the blob.
    """

    __tablename__ = "access"

    reviewer: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    idx: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"), primary_key=True)
