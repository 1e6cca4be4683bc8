"""The ``cosignatures`` table: witnesses' verified cosignatures of the log's
checkpoints (docs/protocol.md §13), and the checkpoints newest first.

A row is written once, by the one server process that talks to witnesses
(``domain/witnesses.py``), after the cosignature verified; every process
reads them to serve a checkpoint. A witness's row for a size it already has
is kept as it is (``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from . import db
from .log import StoredCheckpoint
from .models import Checkpoint, CheckpointCosignature

__all__ = ["CosignatureTable"]


class CosignatureTable:
    """Cosignature lines by checkpoint size and witness (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reader = db.read_engine(engine)

    def add(self, size: int, witness: str, line: str) -> None:
        """Keep ``line``, the cosignature of ``witness`` (``<name>+<hex key ID>``)
        on the checkpoint of ``size``, unless that witness has one for it already."""
        dialect: Any = sqlite if db.is_sqlite(self._engine) else postgresql
        statement = (
            dialect.insert(CheckpointCosignature)
            .values(size=size, witness=witness, line=line)
            .on_conflict_do_nothing()
        )
        with self._engine.begin() as connection:
            connection.execute(statement)

    def lines(self, size: int, witnesses: Sequence[str]) -> list[str]:
        """The lines of ``witnesses`` on the checkpoint of ``size``, in their order."""
        if not witnesses:
            return []
        with self._reader.connect() as connection:
            rows = connection.execute(
                select(CheckpointCosignature.witness, CheckpointCosignature.line).where(
                    CheckpointCosignature.size == size,
                    CheckpointCosignature.witness.in_(list(witnesses)),
                )
            ).all()
        found = {row.witness: row.line for row in rows}
        return [found[w] for w in witnesses if w in found]

    def rows(self) -> list[tuple[int, str, str]]:
        """Every cosignature kept: ``(size, witness, line)``, by size and witness."""
        with self._reader.connect() as connection:
            found = connection.execute(
                select(
                    CheckpointCosignature.size,
                    CheckpointCosignature.witness,
                    CheckpointCosignature.line,
                ).order_by(CheckpointCosignature.size, CheckpointCosignature.witness)
            ).all()
        return [(int(row.size), str(row.witness), str(row.line)) for row in found]

    def latest_size(self, witness: str) -> int:
        """The largest checkpoint size ``witness`` cosigned, 0 if none."""
        with self._reader.connect() as connection:
            size = connection.execute(
                select(func.max(CheckpointCosignature.size)).where(
                    CheckpointCosignature.witness == witness
                )
            ).scalar_one_or_none()
        return int(size or 0)

    def checkpoints_newest_first(self, *, chunk: int = 256) -> Iterator[StoredCheckpoint]:
        """Every checkpoint, from the largest size down, read ``chunk`` at a time."""
        below: int | None = None
        while True:
            query = select(Checkpoint.size, Checkpoint.note).order_by(Checkpoint.size.desc())
            if below is not None:
                query = query.where(Checkpoint.size < below)
            with self._reader.connect() as connection:
                rows = connection.execute(query.limit(chunk)).all()
            if not rows:
                return
            for row in rows:
                yield StoredCheckpoint(size=row.size, note=row.note)
            below = rows[-1].size
