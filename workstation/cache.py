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
from collections.abc import Iterator
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
SCHEMA_VERSION = 1
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
        if version == 0:
            with self.transaction():
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version != SCHEMA_VERSION:
            self._db.close()
            raise WorkstationError(
                f"{path} is of a newer workstation (schema {version})", "cache-too-new"
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction: everything in it is kept, or nothing."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- small named values ---------------------------------------------------------

    def get(self, name: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

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
