"""Tables derived from the log (docs/protocol.md §9: "query tables are projections").

A :class:`Projection` turns newly appended entries into rows of its own table.
``LogStore.append_batch`` runs every projection in the append's transaction, so
a projection row exists exactly when its entry does; :func:`rebuild_projections`
empties the tables and replays the whole log through the same code, so a
projection is never a second source of truth.

Entries are read once per batch by ``testimony.crypto.entries``
(:attr:`AppendedEntry.parsed`), whichever projections look at them; an entry
of a known type that does not parse strictly refuses the append (or the
rebuild) with ``ValueError``, and anything else (not JSON, another ``type``)
is not a projection's business.

One module per kind of entry, each registered once in :data:`PROJECTIONS`:

- ``submissions``: :class:`SubmissionProjection`, ``submissions`` (one row per
  distinct content, the first entry winning) and the ``referenced`` flag of
  every blob a submission names: header, body and attachments, so none of them
  expires. It is also the log's dedup index (:class:`DedupIndex`): an append
  item carrying a :class:`SubmissionKey` resolves to the entry that first
  logged it.
- ``intake_keys``: :class:`IntakeKeyProjection`, ``intake_keys``, from
  ``intake-key`` entries (``docs/log-entries.md``).
- ``followups``: :class:`FollowupProjection`, ``followups`` (one row per
  distinct content, the first entry winning) from ``followup`` entries, and
  the ``referenced`` flag of their header, body and attachment blobs; the
  dedup index of :class:`FollowupKey`.
- ``replies``: :class:`ReplyProjection`, ``replies`` from ``reply`` entries,
  and the ``referenced`` flag of each sealed reply's blob.
- ``signed_entries``: :class:`SignedEntryProjection`, ``signed_entries``: every
  signed reviewer entry (§12.2), the dedup index of :class:`SignedKey`, and
  what the server replays for standing (:func:`signed_entries_after`).
- ``annotations``: :class:`AnnotationIndexProjection`, ``annotation_index``:
  the blind indexes each ``annotation`` entry lists (§12.6).
- ``access``: :class:`AccessProjection`, ``access``: the submissions each
  ``access`` entry names, by reviewer (§12.7).
- ``base``: :class:`AppendedEntry`, the :class:`Projection` and
  :class:`DedupIndex` protocols, :class:`DedupIndexes`.

:class:`SubmissionTable`, :class:`IntakeKeyTable`, :class:`FollowupTable` and
:class:`ReplyTable` are the reads the domain needs from them.

Projections copy members out of entries; beyond the entry's own shape they do
not judge them. Which entries are acceptable is decided by the domain before
it appends.

A new kind of entry is one new module (its projection, and its table's reads)
and one line in :data:`PROJECTIONS`; a projection that is also a dedup index
(it has ``find``) joins :data:`DEFAULT_DEDUP_INDEX` by that line too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import db
from ..models import LogEntry
from .access import AccessProjection, AccessTable
from .annotations import AnnotationIndexProjection, AnnotationIndexTable
from .base import AppendedEntry, DedupIndex, DedupIndexes, Projection
from .followups import FollowupKey, FollowupProjection, FollowupTable
from .intake_keys import IntakeKeyProjection, IntakeKeyTable, StoredIntakeKey
from .replies import ReplyProjection, ReplyTable, StoredReply
from .signed_entries import SignedEntryProjection, SignedKey, signed_entries_after
from .submissions import (
    StoredSubmission,
    SubmissionKey,
    SubmissionProjection,
    SubmissionTable,
    _select_submissions_statement,
)

__all__ = [
    "DEFAULT_DEDUP_INDEX",
    "DEFAULT_PROJECTIONS",
    "PROJECTIONS",
    "AccessProjection",
    "AccessTable",
    "AnnotationIndexProjection",
    "AnnotationIndexTable",
    "AppendedEntry",
    "DedupIndex",
    "DedupIndexes",
    "FollowupKey",
    "FollowupProjection",
    "FollowupTable",
    "IntakeKeyProjection",
    "IntakeKeyTable",
    "Projection",
    "ReplyProjection",
    "ReplyTable",
    "SignedEntryProjection",
    "SignedKey",
    "StoredIntakeKey",
    "StoredReply",
    "StoredSubmission",
    "SubmissionKey",
    "SubmissionProjection",
    "SubmissionTable",
    "_select_submissions_statement",
    "rebuild_projections",
    "signed_entries_after",
]

PROJECTIONS: tuple[Projection, ...] = (
    SubmissionProjection(),  # submissions.py; its reset clears every blob's flag
    IntakeKeyProjection(),  # intake_keys.py
    FollowupProjection(),  # followups.py
    ReplyProjection(),  # replies.py
    SignedEntryProjection(),  # signed_entries.py
    AnnotationIndexProjection(),  # annotations.py
    AccessProjection(),  # access.py
)
"""Every projection of the log, in the order they run: the registration table."""

DEFAULT_PROJECTIONS: tuple[Projection, ...] = PROJECTIONS
"""The projections ``LogStore`` maintains unless told otherwise."""

DEFAULT_DEDUP_INDEX: DedupIndex = DedupIndexes(
    *(projection for projection in PROJECTIONS if isinstance(projection, DedupIndex))
)
"""The dedup index ``LogStore`` asks unless told otherwise: every registered
projection that is one (submissions, follow-ups and signed entries)."""

_REBUILD_CHUNK = 5_000


def rebuild_projections(
    session: Session,
    projections: Sequence[Projection] = DEFAULT_PROJECTIONS,
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Empty every projection and replay the whole log through it; returns the entries read.

    ``progress``, if given, is called with the entries replayed so far after
    each chunk.

    Runs in ``session``'s transaction (the caller commits). Appends must not
    interleave: on PostgreSQL this takes the log's writer lock itself; on
    SQLite pass a session from ``db.writer_session`` (``BEGIN IMMEDIATE``).
    Raises ``ValueError`` as a projection does for an entry it cannot read.
    """
    connection = session.connection()
    db.lock_log_writer(connection)
    for projection in projections:
        projection.reset(connection)
    count = 0
    after = -1
    while True:
        chunk = [
            AppendedEntry(idx=row.idx, entry_id=row.entry_id, entry=row.entry)
            for row in connection.execute(
                select(LogEntry.idx, LogEntry.entry_id, LogEntry.entry)
                .where(LogEntry.idx > after)
                .order_by(LogEntry.idx)
                .limit(_REBUILD_CHUNK)
            )
        ]
        if not chunk:
            return count
        for projection in projections:
            projection.project(connection, chunk)
        count += len(chunk)
        after = chunk[-1].idx
        if progress is not None:
            progress(count)
