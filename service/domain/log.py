"""The log as the server offers it (docs/protocol.md §9): its signing key, its
checkpoints, proofs and entries, and the intake-key entry.

The log key is an Ed25519 key held in the data dir as a C2SP signer key string
(``PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 || seed)>``), mode 0600. Its
key name is the log's origin, so a checkpoint verifies with the published
verifier key and no other setting. Checkpoint times are floored to the
server's granularity.

**The intake-key entry** (a proposed addition to docs/protocol.md §9; see
``docs/log-entries.md``). The first entry of every log names the intake key
witnesses seal to::

    {"type": "intake-key", "v": 1, "key": "<b64u S1 public key>",
     "key_id": "<key id>", "received": "<RFC 3339, floored>"}

It is written by ``testimony init``, before any reviewer exists, so unlike the
other non-submission entries it has no ``actor`` and no ``signature``: the
log key vouches for it through every checkpoint that covers it. The store's
``intake_keys`` projection holds every key such an entry names; a submission
may be sealed to any of them. Its shape is ``testimony.crypto.entries``'s
``IntakeKeyEntry``, built once (:func:`build_intake_key_entry`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from testimony.crypto import checkpoint as checkpoints
from testimony.crypto import entries, merkle, note
from testimony.crypto.encoding import hex_decode
from testimony.crypto.errors import MalformedInput
from testimony.service.store import errors as store_errors
from testimony.service.store.cosignatures import CosignatureTable
from testimony.service.store.log import LogStore
from testimony.service.store.projections import IntakeKeyTable

from .clock import Clock, Granularity
from .errors import (
    BadKeyFile,
    BadTreeRange,
    EntryNotFound,
    NotInitialised,
    Unavailable,
)
from .log_witnesses import with_cosignatures

__all__ = [
    "INTAKE_KEY_TYPE",
    "LogSigner",
    "LogView",
    "build_intake_key_entry",
    "intake_key_entry",
    "load_intake_keys",
    "parse_intake_key_entry",
    "read_signer_key",
]

INTAKE_KEY_TYPE = entries.IntakeKeyEntry.TYPE


# --- the log key -------------------------------------------------------------------


def read_signer_key(path: Path) -> note.SignerKey:
    """Read the log signing key from ``path``.

    Raises :class:`NotInitialised` if the file does not exist, and
    :class:`BadKeyFile` if others than its owner may read or write it or it
    does not hold one signer key string. The message never quotes the file.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise NotInitialised("the data directory has no log key (run `testimony init`)") from None
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise BadKeyFile("the log key file is open to other users (it must be mode 0600)")
    try:
        text = path.read_text(encoding="ascii").strip()
        return note.parse_signer_key(text)
    except (OSError, UnicodeDecodeError, MalformedInput):
        raise BadKeyFile("the log key file does not hold a log signing key") from None


class LogSigner:
    """Signs checkpoints with the log key, at the floored time (§9)."""

    def __init__(self, key: note.SignerKey, *, clock: Clock, granularity: Granularity) -> None:
        self._key = key
        self._clock = clock
        self._granularity = granularity

    @property
    def origin(self) -> str:
        """The log's origin: its key name."""
        return self._key.name

    @property
    def verifier_key(self) -> str:
        """The published verifier key ``<name>+<hex key hash>+<base64(0x01 || key)>``."""
        return str(self._key.verifier())

    def now(self) -> datetime:
        """The current time floored to the granularity."""
        return self._granularity.floor(self._clock.now())

    def sign(self, size: int, root: bytes) -> str:
        """The signed checkpoint of the tree of ``size`` leaves with ``root``, at the floored now."""
        return checkpoints.sign(
            self.origin, size, root, self._key.private_key, self._key.name, self.now()
        )


# --- the intake-key entry --------------------------------------------------------------


def build_intake_key_entry(public_key: bytes, received: datetime) -> entries.IntakeKeyEntry:
    """The intake-key entry naming ``public_key``.

    ``received`` must already be floored. Raises :class:`MalformedInput` if
    ``public_key`` is not a 1216-byte S1 public key.
    """
    return entries.IntakeKeyEntry.naming(public_key, received)


def intake_key_entry(public_key: bytes, received: datetime) -> bytes:
    """The JCS bytes of the intake-key entry naming ``public_key``
    (:func:`build_intake_key_entry`'s, as logged)."""
    return build_intake_key_entry(public_key, received).to_json()


def parse_intake_key_entry(entry: bytes) -> tuple[str, bytes] | None:
    """``(key id, public key)`` of an intake-key entry, or None for another type.

    Raises :class:`MalformedInput` (``EntryMalformed``) for an intake-key
    entry whose key and key id disagree or that is malformed otherwise.
    """
    parsed = entries.parse_known_entry(entry, types=(INTAKE_KEY_TYPE,))
    if not isinstance(parsed, entries.IntakeKeyEntry | entries.IntakeKeyRotation):
        return None
    return parsed.key_id, parsed.key


def load_intake_keys(log: LogStore) -> dict[str, bytes]:
    """The intake keys the log names: key id -> S1 public key, oldest first.

    Reads the store's ``intake_keys`` projection, which holds the key of
    every intake-key entry (the first is written by ``testimony init``).
    Raises :class:`NotInitialised` if the log is empty or names no intake key.
    """
    keys = IntakeKeyTable(log.engine).all()
    if not keys:
        if log.size() == 0:
            raise NotInitialised("the log is empty (run `testimony init`)")
        raise NotInitialised("the log names no intake key")
    return {key.key_id: key.public_key for key in keys}


# --- reading the log (§9 HTTP) ---------------------------------------------------------


class LogView:
    """What ``GET /api/v1/log/...`` answers, with the range checks of §9."""

    def __init__(
        self,
        log: LogStore,
        signer: LogSigner,
        *,
        max_entries_page: int,
        cosignatures: CosignatureTable | None = None,
        witnesses: Sequence[str] = (),
    ) -> None:
        self._log = log
        self._signer = signer
        self._max_entries_page = max_entries_page
        self._cosignatures = cosignatures
        self._witnesses = list(witnesses)

    @property
    def verifier_key(self) -> str:
        """The log's verifier key string."""
        return self._signer.verifier_key

    @property
    def origin(self) -> str:
        """The log's origin."""
        return self._signer.origin

    def checkpoint(self) -> str:
        """The latest signed checkpoint, with the cosignatures the configured
        log witnesses gave for exactly that note (§13), in their configured
        order. Raises :class:`Unavailable` before the first."""
        latest = self._log.latest_checkpoint()
        if latest is None:
            raise Unavailable("the log has no checkpoint yet")
        if self._cosignatures is None or not self._witnesses:
            return latest.note
        lines = self._cosignatures.lines(latest.size, self._witnesses)
        return with_cosignatures(latest.note, lines)

    def inclusion(self, entry_id: str, size: int) -> merkle.InclusionProof:
        """The inclusion proof of entry ``entry_id`` (hex) in the tree of ``size``.

        Raises :class:`BadTreeRange` for a malformed id or a size the log does
        not have (or not above the entry's index), :class:`EntryNotFound` for
        an unknown id.
        """
        try:
            leaf = hex_decode(entry_id, 32)
        except MalformedInput:
            raise BadTreeRange("`id` is the 64 hex digits of an entry id") from None
        try:
            index = self._log.index_of(leaf)
        except store_errors.EntryNotFound:
            raise EntryNotFound() from None
        if not index < size <= self._log.size():
            raise BadTreeRange("`size` is above the entry's index and at most the log's size")
        try:
            return self._log.inclusion_proof(index, size)
        except store_errors.SizeOutOfRange:
            raise BadTreeRange(
                "`size` is above the entry's index and at most the log's size"
            ) from None

    def consistency(self, first: int, second: int) -> merkle.ConsistencyProof:
        """The consistency proof from size ``first`` to ``second``.

        Raises :class:`BadTreeRange` unless ``0 < first <= second <= log size``.
        """
        if not 0 < first <= second <= self._log.size():
            raise BadTreeRange("need 0 < from <= to <= the log's size")
        try:
            return self._log.consistency_proof(first, second)
        except store_errors.SizeOutOfRange:
            raise BadTreeRange("need 0 < from <= to <= the log's size") from None

    def entries(self, start: int, end: int) -> list[bytes]:
        """Entries ``[start, end)``, at most ``max_entries_page`` of them.

        Raises :class:`BadTreeRange` unless ``0 <= start < end <= log size``
        and the range is within the page limit.
        """
        if not 0 <= start < end:
            raise BadTreeRange("need 0 <= start < end")
        if end - start > self._max_entries_page:
            raise BadTreeRange(f"at most {self._max_entries_page} entries per request")
        try:
            return self._log.entries(start, end)
        except store_errors.SizeOutOfRange:
            raise BadTreeRange("`end` is beyond the log's size") from None
