"""The workstation's local cache, encrypted at rest (SQLCipher).

Everything the workstation learns or decrypts — the keyring, the log entries
and checkpoints it has verified, the statements, files, tags, notes and
incidents — lives in one SQLCipher 4 database, ``cache.db``, in the
workstation directory. SQLCipher encrypts every page (AES-256, with an HMAC
per page), the journal and the WAL alike, so no decrypted byte reaches the disk
in the clear, and a page altered on disk fails to read. A laptop seized
without the passphrase yields the file's size and nothing else.

The cache key is never stored: it is derived from the reviewer's signing seed,
which only the passphrase opens (``home.unlock_identity``)::

    cache key = HKDF-SHA256(IKM = sign seed, salt = "", info = "testimony/v1 workstation cache", 32)

and handed to SQLCipher as a raw key (no second key derivation). Why
SQLCipher rather than sealing each record under a cache key of our own: the
workstation's queries (filters, sort, search over thousands of testimonies)
need an index, and an index of sealed records would either leak in the clear
or have to be rebuilt in memory at every start; SQLCipher keeps SQLite's
indexes and encrypts them too, at a cost measured in ``docs/performance.md``.

Temporary tables and sorts stay in memory (``temp_store = MEMORY``), so SQLite
writes no temporary file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlcipher3
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from testimony.crypto.keyring import Identity

from .home import WorkstationError

__all__ = ["CACHE_FILE", "SCHEMA_VERSION", "Cache", "cache_key"]

CACHE_FILE = "cache.db"
SCHEMA_VERSION = 2
_INFO = b"testimony/v1 workstation cache"

_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE groups (epoch INTEGER PRIMARY KEY, secret BLOB NOT NULL);
CREATE TABLE intake_seeds (key_id TEXT PRIMARY KEY, seed BLOB NOT NULL);
CREATE TABLE entries (idx INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
                      entry BLOB NOT NULL);
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE records (kind TEXT NOT NULL, id TEXT NOT NULL, value TEXT NOT NULL,
                      PRIMARY KEY (kind, id));
"""

_SCHEMA_2 = """
CREATE TABLE staged_entries (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL);
CREATE TABLE blobs (id TEXT PRIMARY KEY, subject TEXT NOT NULL, data BLOB, missing TEXT);
CREATE TABLE forks (id INTEGER PRIMARY KEY, ours TEXT NOT NULL, theirs TEXT NOT NULL,
                    reason TEXT NOT NULL);
"""
"""Version 2 (sync): entries fetched but not yet verified against a signed
checkpoint; the attachments' ciphertexts as the server serves them, with the
submission that names them (``data`` None: still to fetch; ``missing``: the
server no longer has it); and the
checkpoints of a fork, kept as evidence."""


def cache_key(identity: Identity) -> bytes:
    """The SQLCipher key of this reviewer's cache (see the module docstring)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"", info=_INFO).derive(
        identity.sign_seed
    )


class Cache:
    """The open cache of one workstation directory. Close it when done (or use
    it as a context manager)."""

    def __init__(self, home: Path, identity: Identity) -> None:
        path = home / CACHE_FILE
        new = not path.exists()
        if new:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._db = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            # SQLCipher's own log would print to stderr, beside the one-line
            # error a damaged page is answered with (process-wide; it logs nothing
            # the workstation needs).
            self._db.execute("PRAGMA cipher_log_level = NONE")
            self._db.execute(f"PRAGMA key = \"x'{cache_key(identity).hex()}'\"")
            self._db.execute("PRAGMA cipher_memory_security = ON")
            self._db.execute("PRAGMA temp_store = MEMORY")
            self._db.execute("PRAGMA foreign_keys = ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            self._db.execute("PRAGMA journal_mode = WAL")
        except sqlcipher3.DatabaseError:
            self._db.close()
            raise WorkstationError(
                f"{path} cannot be read with this identity's key: it is damaged or another "
                "reviewer's",
                "cache-unreadable",
            ) from None
        if version > SCHEMA_VERSION:
            self._db.close()
            raise WorkstationError(
                f"{path} is of a newer workstation (schema {version})", "cache-too-new"
            )
        if version < SCHEMA_VERSION:
            with self.transaction():
                for schema in (_SCHEMA, _SCHEMA_2)[version:]:
                    for statement in filter(str.strip, schema.split(";")):
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction: everything in it is kept, or nothing. Inside
        another, it is part of that one."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- plain SQL, for the modules that keep their own tables -------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement (a module's own ``CREATE TABLE IF NOT EXISTS``,
        ``INSERT``, ``UPDATE``...) inside the encrypted cache."""
        self._db.execute(sql, tuple(params))

    def id_with_prefix(
        self,
        table: str,
        text: str,
        *,
        digits: int,
        minimum: int,
        what: str,
        error: type[WorkstationError],
    ) -> str:
        """The one id of ``table`` a reviewer means by ``text``: a whole id or a
        unique prefix of at least ``minimum`` of its ``digits`` hex digits. Raises ``error``
        (its own code, or ``ambiguous-id``) naming ``what`` otherwise."""
        wanted = text.strip().lower()
        if len(wanted) < minimum or not all(c in "0123456789abcdef" for c in wanted):
            raise error(
                f"{text!r} is no {what} id ({digits} hex digits, or their first {minimum} or more)"
            )
        rows = self.query(
            f"SELECT id FROM {table} WHERE id >= ? AND id < ? ORDER BY id LIMIT 2",  # noqa: S608 - a table name of the code's
            (wanted, wanted + "g"),
        )
        if not rows:
            raise error(f"no {what} {text} in this workstation's cache")
        if len(rows) > 1:
            raise error(f"{text} is the start of several {what} ids: give more", "ambiguous-id")
        return str(rows[0][0])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one ``SELECT``."""
        return [tuple(row) for row in self._db.execute(sql, tuple(params))]

    # --- small named values ---------------------------------------------------------

    def get(self, name: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def delete(self, name: str) -> None:
        self._db.execute("DELETE FROM meta WHERE name = ?", (name,))

    def put(self, name: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, json.dumps(value, ensure_ascii=False)),
        )

    # --- the keyring ------------------------------------------------------------------

    def add_group(self, epoch: int, secret: bytes) -> None:
        self._db.execute(
            "INSERT INTO groups (epoch, secret) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (epoch, secret),
        )

    def groups(self) -> dict[int, bytes]:
        return {int(e): bytes(s) for e, s in self._db.execute("SELECT epoch, secret FROM groups")}

    def remove_group(self, epoch: int) -> None:
        self._db.execute("DELETE FROM groups WHERE epoch = ?", (epoch,))

    def remove_intake_seed(self, key_id: str) -> None:
        self._db.execute("DELETE FROM intake_seeds WHERE key_id = ?", (key_id,))

    def add_intake_seed(self, key_id: str, seed: bytes) -> None:
        self._db.execute(
            "INSERT INTO intake_seeds (key_id, seed) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (key_id, seed),
        )

    def intake_seeds(self) -> dict[str, bytes]:
        return {
            str(k): bytes(s) for k, s in self._db.execute("SELECT key_id, seed FROM intake_seeds")
        }

    # --- records: decrypted things by kind and id -------------------------------------

    def put_record(self, kind: str, record_id: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO records (kind, id, value) VALUES (?, ?, ?) "
            "ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value",
            (kind, record_id, json.dumps(value, ensure_ascii=False)),
        )

    def put_records(self, rows: Iterable[tuple[str, str, Any]]) -> None:
        """:meth:`put_record` for each ``(kind, id, value)`` of ``rows``, in one statement."""
        self._db.executemany(
            "INSERT INTO records (kind, id, value) VALUES (?, ?, ?) "
            "ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value",
            [
                (kind, record_id, json.dumps(value, ensure_ascii=False))
                for kind, record_id, value in rows
            ],
        )

    def record(self, kind: str, record_id: str) -> Any:
        row = self._db.execute(
            "SELECT value FROM records WHERE kind = ? AND id = ?", (kind, record_id)
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def records(self, kind: str) -> Iterator[tuple[str, Any]]:
        for record_id, value in self._db.execute(
            "SELECT id, value FROM records WHERE kind = ? ORDER BY id", (kind,)
        ):
            yield str(record_id), json.loads(value)

    # --- the log: verified entries and checkpoints --------------------------------------

    def log_size(self) -> int:
        """How many entries of the log are cached (always a prefix of it, verified)."""
        row = self._db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries").fetchone()
        return int(row[0])

    def add_entry(self, index: int, entry_id: str, entry_type: str, data: bytes) -> None:
        self._db.execute(
            "INSERT INTO entries (idx, id, type, entry) VALUES (?, ?, ?, ?)",
            (index, entry_id, entry_type, data),
        )

    def add_entries(self, rows: Iterable[tuple[int, str, str, bytes]]) -> None:
        """:meth:`add_entry` for each ``(index, id, type, bytes)`` of ``rows``, in one statement."""
        self._db.executemany(
            "INSERT INTO entries (idx, id, type, entry) VALUES (?, ?, ?, ?)", list(rows)
        )

    def entry(self, index: int) -> bytes | None:
        row = self._db.execute("SELECT entry FROM entries WHERE idx = ?", (index,)).fetchone()
        return None if row is None else bytes(row[0])

    def entry_by_id(self, entry_id: str) -> tuple[int, str, bytes] | None:
        """``(index, type, bytes)`` of the cached entry ``entry_id``."""
        row = self._db.execute(
            "SELECT idx, type, entry FROM entries WHERE id = ?", (entry_id,)
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]), bytes(row[2]))

    def entries(
        self, types: Iterable[str] | None = None, *, start: int = 0
    ) -> Iterator[tuple[int, str, str, bytes]]:
        """``(index, id, type, bytes)`` of the cached entries from ``start``, in
        log order; only those of ``types`` if given."""
        query = "SELECT idx, id, type, entry FROM entries WHERE idx >= ?"
        params: list[Any] = [start]
        if types is not None:
            wanted = list(types)
            query += f" AND type IN ({', '.join('?' * len(wanted))})"
            params += wanted
        for index, entry_id, entry_type, data in self._db.execute(query + " ORDER BY idx", params):
            yield int(index), str(entry_id), str(entry_type), bytes(data)

    def entry_ids(self, end: int | None = None) -> list[bytes]:
        """The leaf hashes of the cached entries (of the first ``end``), in log order."""
        query, params = "SELECT id FROM entries ORDER BY idx", tuple[int, ...]()
        if end is not None:
            query, params = "SELECT id FROM entries WHERE idx < ? ORDER BY idx", (end,)
        return [bytes.fromhex(row[0]) for row in self._db.execute(query, params)]

    def latest_checkpoint(self) -> str | None:
        """The note of the largest checkpoint verified so far."""
        row = self._db.execute("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def add_checkpoint(self, size: int, note: str) -> None:
        self._db.execute(
            "INSERT INTO checkpoints (size, note) VALUES (?, ?) "
            "ON CONFLICT (size) DO UPDATE SET note = excluded.note",
            (size, note),
        )

    # --- entries fetched, not yet verified --------------------------------------------

    def staged_end(self) -> int | None:
        """One past the last staged entry's index, or None when nothing is staged."""
        row = self._db.execute("SELECT MAX(idx) + 1 FROM staged_entries").fetchone()
        return None if row[0] is None else int(row[0])

    def stage_entry(self, index: int, data: bytes) -> None:
        self._db.execute(
            "INSERT INTO staged_entries (idx, entry) VALUES (?, ?) "
            "ON CONFLICT (idx) DO UPDATE SET entry = excluded.entry",
            (index, data),
        )

    def stage_entries(self, start: int, entries: Sequence[bytes]) -> None:
        """:meth:`stage_entry` for ``entries`` at indexes ``start``, ``start + 1``..."""
        self._db.executemany(
            "INSERT INTO staged_entries (idx, entry) VALUES (?, ?) "
            "ON CONFLICT (idx) DO UPDATE SET entry = excluded.entry",
            [(start + offset, data) for offset, data in enumerate(entries)],
        )

    def staged_entries(self) -> Iterator[tuple[int, bytes]]:
        for index, data in self._db.execute("SELECT idx, entry FROM staged_entries ORDER BY idx"):
            yield int(index), bytes(data)

    def clear_staged(self) -> None:
        self._db.execute("DELETE FROM staged_entries")

    # --- blobs: ciphertexts as the server serves them ---------------------------------

    def want_blob(self, blob_id: str, subject: str) -> None:
        """Note a blob to fetch, of the submission ``subject`` (itself or through
        a follow-up); nothing changes if it is known already."""
        self._db.execute(
            "INSERT INTO blobs (id, subject) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (blob_id, subject),
        )

    def want_blobs(self, rows: Iterable[tuple[str, str]]) -> None:
        """:meth:`want_blob` for each ``(blob id, subject)`` of ``rows``, in one statement."""
        self._db.executemany(
            "INSERT INTO blobs (id, subject) VALUES (?, ?) ON CONFLICT DO NOTHING", list(rows)
        )

    def wanted_blobs(self) -> list[tuple[str, str]]:
        """``(blob id, submission id)`` of the blobs noted and neither fetched
        nor known to be missing."""
        rows = self._db.execute(
            "SELECT id, subject FROM blobs WHERE data IS NULL AND missing IS NULL ORDER BY id"
        )
        return [(str(row[0]), str(row[1])) for row in rows]

    def put_blob(self, blob_id: str, data: bytes) -> None:
        """Keep a noted blob's bytes (:meth:`want_blob` first)."""
        self._db.execute("UPDATE blobs SET data = ?, missing = NULL WHERE id = ?", (data, blob_id))

    def blob_missing(self, blob_id: str, reason: str) -> None:
        """The server does not have a noted blob (shredded, or never kept): ``reason``."""
        self._db.execute("UPDATE blobs SET missing = ? WHERE id = ?", (reason, blob_id))

    @contextmanager
    def reading_ciphertexts(self) -> Iterator[None]:
        """Bulk reads of blobs, without SQLCipher's memory security meanwhile:
        the pages of ``blobs`` hold attachment ciphertexts (sealed under their
        own keys), which wiping and locking every allocation protects no
        better, at 40 % of the read's cost. Only :meth:`blob` belongs inside."""
        self._db.execute("PRAGMA cipher_memory_security = OFF")
        try:
            yield
        finally:
            self._db.execute("PRAGMA cipher_memory_security = ON")

    def blob(self, blob_id: str) -> bytes | None:
        """A fetched blob's ciphertext (None: not fetched, or missing)."""
        row = self._db.execute("SELECT data FROM blobs WHERE id = ?", (blob_id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    # --- evidence of a fork -----------------------------------------------------------

    def add_fork(self, ours: str, theirs: str, reason: str) -> None:
        """Keep two checkpoints that cannot both be honest: ``ours``, verified
        before, and ``theirs``, served now; ``reason`` says why."""
        self._db.execute(
            "INSERT INTO forks (ours, theirs, reason) VALUES (?, ?, ?)", (ours, theirs, reason)
        )

    def forks(self) -> list[tuple[str, str, str]]:
        """Every fork kept: ``(ours, theirs, reason)``, oldest first."""
        return [
            (str(a), str(b), str(c))
            for a, b, c in self._db.execute("SELECT ours, theirs, reason FROM forks ORDER BY id")
        ]

    # --- records needing work ---------------------------------------------------------

    def delete_record(self, kind: str, record_id: str) -> None:
        self._db.execute("DELETE FROM records WHERE kind = ? AND id = ?", (kind, record_id))

    def pending(
        self, entry_type: str, kind: str, *, retry_unreadable: bool
    ) -> Iterator[tuple[int, str, bytes]]:
        """``(index, id, bytes)`` of the cached entries of ``entry_type`` that have
        no record of ``kind`` yet (and, with ``retry_unreadable``, those whose
        record says they could not be read), in log order."""
        query = (
            "SELECT e.idx, e.id, e.entry FROM entries e "
            "LEFT JOIN records r ON r.kind = ? AND r.id = e.id "
            "WHERE e.type = ? AND (r.id IS NULL "
            "OR (? AND json_extract(r.value, '$.unreadable') IS NOT NULL)) ORDER BY e.idx"
        )
        params = (kind, entry_type, int(retry_unreadable))
        for index, entry_id, data in self._db.execute(query, params):
            yield int(index), str(entry_id), bytes(data)

    def pending_reasons(self, entry_type: str, kind: str) -> Iterator[tuple[int, str, bytes, Any]]:
        """:meth:`pending` with ``retry_unreadable``, each row with the reason its
        record gives why it could not be read (None: no record yet):
        ``(index, id, bytes, reason)``."""
        query = (
            "SELECT e.idx, e.id, e.entry, json_extract(r.value, '$.unreadable') FROM entries e "
            "LEFT JOIN records r ON r.kind = ? AND r.id = e.id "
            "WHERE e.type = ? AND (r.id IS NULL "
            "OR json_extract(r.value, '$.unreadable') IS NOT NULL) ORDER BY e.idx"
        )
        for index, entry_id, data, reason in self._db.execute(query, (kind, entry_type)):
            yield int(index), str(entry_id), bytes(data), reason

    def records_in(
        self, kind: str, member: str, values: Sequence[Any]
    ) -> Iterator[tuple[str, Any]]:
        """The records of ``kind`` whose top-level ``member`` is one of ``values``."""
        if not values:
            return
        marks = ", ".join("?" * len(values))  # placeholders only: the values are bound
        query = (
            "SELECT id, value FROM records WHERE kind = ? AND json_extract(value, ?) IN "  # noqa: S608
            f"({marks}) ORDER BY id"
        )
        for record_id, text in self._db.execute(query, (kind, f"$.{member}", *values)):
            yield str(record_id), json.loads(text)

    def records_where(self, kind: str, member: str, value: Any) -> Iterator[tuple[str, Any]]:
        """The records of ``kind`` whose top-level ``member`` is ``value``."""
        query = (
            "SELECT id, value FROM records WHERE kind = ? AND json_extract(value, ?) = ? "
            "ORDER BY id"
        )
        for record_id, text in self._db.execute(query, (kind, f"$.{member}", value)):
            yield str(record_id), json.loads(text)
