"""The server's settings: from command-line flags, the environment
(``TESTIMONY_<NAME>``) or a TOML file (``--config``), in that order, else the
defaults below.

>>> s = load_settings({"pow_bits": 0}, environ={"TESTIMONY_PORT": "9000"})
>>> s.pow_bits, s.port, s.host
(0, 9000, '127.0.0.1')

In a TOML file the keys are the field names (``data_dir = "/srv/testimony"``,
``pow_bits = 18``). ``clock`` and ``forms`` are not read from anywhere: they are
objects passed in by the program (tests pass a fixed clock; ``serve`` passes the
forms registry).

Every size is in bytes, every duration in seconds unless its name says
otherwise. Nothing here names a client or is derived from one.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testimony.service.domain.clock import Clock, SystemClock
from testimony.service.domain.errors import BadSettings
from testimony.service.domain.log_witnesses import (
    MAX_LOG_WITNESSES,
    LogWitness,
    parse_log_witness,
)

__all__ = [
    "DATABASE_FILE",
    "ENV_PREFIX",
    "LOG_KEY_FILE",
    "LOG_WITNESS_LOCK_FILE",
    "POW_SECRET_FILE",
    "SETUP_TOKEN_FILE",
    "Settings",
    "load_settings",
]

ENV_PREFIX = "TESTIMONY_"
DATABASE_FILE = "testimony.sqlite3"
"""The SQLite database under the data dir, unless ``database_url`` says otherwise."""
BLOBS_DIR = "blobs"
LOG_KEY_FILE = "log-key"
"""The log's signing key (a C2SP signer key string), mode 0600."""
LOG_WITNESS_LOCK_FILE = "log-witnesses.lock"
"""Locked by the one server process that talks to the log witnesses (empty)."""
POW_SECRET_FILE = "pow-secret"  # noqa: S105 - a file name, not a secret
SETUP_TOKEN_FILE = "setup-token.sha256"  # noqa: S105 - a file name; it holds a hash
"""The proof-of-work MAC secret (32 bytes), mode 0600."""

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
MAX_TIMEOUT_SECONDS = 3600

MIN_CONNECTIONS_PER_WORKER = 2
"""One for a worker's group-commit batch, one at least for its requests."""


@dataclass(frozen=True)
class Settings:
    """Everything ``create_app`` and the CLI need to run a server."""

    data_dir: Path | None = None
    """Where the database (SQLite), blobs, log key and PoW secret live."""
    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///<data_dir>/testimony.sqlite3``."""
    log_key: str | None = None
    """A pinned log verifier key (``testimony audit`` without a data dir)."""
    forms_dir: Path | None = None
    """A folder of form definitions to publish instead of the bundled ones."""
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    """Server processes (``testimony serve``); about one core each."""
    database_connections: int = 80
    """Most connections the server opens to PostgreSQL, all its workers
    together (PostgreSQL allows 100 by default; the rest is left for
    ``testimony audit``, the workstation and maintenance). Each worker may
    open ``database_connections // workers``. Not used with SQLite."""

    pow_bits: int = 16
    """Leading zero bits a proof of work needs (§8); 0 turns it off."""
    pow_ttl_seconds: int = 600
    time_granularity_minutes: int = 60
    """Times at rest are floored to this (§9); whole minutes, at least 1."""

    max_request_bytes: int = 2 * MiB
    """Largest JSON request body (a submission with a 1 MiB inline body fits)."""
    max_attachments: int = 256
    max_blob_bytes: int = 4 * GiB
    """Largest blob (the largest Upload-Length; Tus-Max-Size)."""
    upload_budget_bytes: int = 64 * GiB
    """Bytes that unfinished uploads (their declared lengths) and finished blobs
    no log entry names may take together, server-wide; each takes at least
    ``upload_unit_bytes``. A creation that does not fit is refused (413)."""
    upload_unit_bytes: int = 1 * MiB
    """The least an upload takes of the budget, and the size its proof of work
    is priced in: one more bit per doubling past it."""
    pow_upload_load_bits: int = 10
    """Bits an upload's proof of work rises by as the budget fills: one per
    tenth taken (with the upload asked about), this many when it is full."""
    upload_idle_seconds: int = 3 * 3600
    """An unfinished upload expires once it has received no byte for this long
    (counted from the end of the granule of its last bytes, rounded up)."""
    upload_lifetime_seconds: int = 48 * 3600
    """After its first ``upload_idle_seconds``, an unfinished upload stays only
    while its bytes keep pace with its declared length over this long: at most
    this much longer in all."""
    unreferenced_blob_expiry_seconds: int = 6 * 3600
    """How long a finished blob no entry names is kept (from when it was last
    uploaded or named by a checked submission)."""
    upload_stall_seconds: int = 5
    """How long a ``PATCH`` may receive no byte of its body before it lets go
    of its upload, so that a new request for it (the client's, after its link
    died without closing the server's side) takes over at once rather than
    waiting out ``body_timeout_seconds``. A ``PATCH`` still receiving bytes
    keeps its upload (docs/uploads.md, "A stalled PATCH")."""

    # What one connection may hold (service/api/serving.py, docs/server.md
    # "Limits"): the server enforces these itself, behind a proxy or not.
    max_header_bytes: int = 16 * KiB
    """Largest request head (request line and headers); a larger one is 431."""
    header_timeout_seconds: int = 20
    """Longest wait for a whole request head, from its first byte (or from the
    connection's start); then 408 and the connection is closed."""
    body_timeout_seconds: int = 60
    """Longest wait for the next bytes of a request body, and for a client to
    take the next bytes of an answer (idle time, not a total: a slow upload
    over Tor that keeps moving is never cut)."""
    keepalive_timeout_seconds: int = 15
    """How long a connection may wait idle between two requests."""
    max_connections: int = 0
    """Most connections one server process holds; 0 computes it from the
    file-descriptor limit (``serving.Limits``). Past it the oldest idle
    connection is closed to make room, or, if none is idle, a new one is
    answered 503."""

    log_witnesses: tuple[str, ...] = ()
    """The log witnesses the organisation configured (docs/protocol.md §13), each
    ``<submission prefix>=<verifier key>`` (the key of type 0x04); none by
    default, and then nothing is sent anywhere. From the command line
    ``--log-witness`` (repeated), in ``TESTIMONY_LOG_WITNESSES`` separated by
    white space, in a TOML file a list of strings."""
    log_witness_interval_seconds: int = 10
    """The least time between two rounds of requests to the log witnesses."""
    log_witness_timeout_seconds: int = 10
    """How long one request to a log witness may take to connect, or to send
    or receive its next bytes."""

    batch_max_entries: int = 256
    batch_max_wait_ms: float = 2.0
    max_log_entries_page: int = 1_000
    """Most entries one ``GET /api/v1/log/entries`` returns."""

    clock: Clock = field(default_factory=SystemClock, compare=False, repr=False)
    forms: Any = field(default=None, compare=False, repr=False)
    """A forms registry (``testimony.forms.registry``), or None for no forms."""

    def __post_init__(self) -> None:
        for name in (
            "port",
            "workers",
            "database_connections",
            "pow_bits",
            "pow_ttl_seconds",
            "time_granularity_minutes",
            "max_request_bytes",
            "max_attachments",
            "max_blob_bytes",
            "upload_budget_bytes",
            "upload_unit_bytes",
            "pow_upload_load_bits",
            "upload_idle_seconds",
            "upload_lifetime_seconds",
            "unreferenced_blob_expiry_seconds",
            "upload_stall_seconds",
            "log_witness_interval_seconds",
            "log_witness_timeout_seconds",
            "batch_max_entries",
            "max_log_entries_page",
            "max_header_bytes",
            "header_timeout_seconds",
            "body_timeout_seconds",
            "keepalive_timeout_seconds",
            "max_connections",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise BadSettings(f"{name} is a whole number, at least 0")
        if not 0 <= self.pow_bits <= 64:
            raise BadSettings("pow_bits is 0 (off) to 64")
        if not 0 <= self.pow_upload_load_bits <= 64:
            raise BadSettings("pow_upload_load_bits is 0 to 64")
        if self.upload_unit_bytes < 1 or self.upload_budget_bytes < self.upload_unit_bytes:
            raise BadSettings(
                "upload_unit_bytes is at least 1, and upload_budget_bytes at least that"
            )
        if self.upload_idle_seconds < 60 or self.upload_lifetime_seconds < 60:
            raise BadSettings("upload_idle_seconds and upload_lifetime_seconds are at least 60")
        if self.time_granularity_minutes < 1:
            raise BadSettings("time_granularity_minutes is at least 1")
        if not 0 < self.port < 65536:
            raise BadSettings("port is 1 to 65535")
        if not 1 <= self.workers <= 64:
            raise BadSettings("workers is 1 to 64")
        uses_postgres = (self.database_url or "").startswith("postgresql")
        if uses_postgres and self.connections_per_worker < MIN_CONNECTIONS_PER_WORKER:
            raise BadSettings(
                f"database_connections ({self.database_connections}) gives each of "
                f"{self.workers} workers fewer than {MIN_CONNECTIONS_PER_WORKER} connections"
            )
        if self.batch_max_entries < 1 or self.max_log_entries_page < 1:
            raise BadSettings("batch_max_entries and max_log_entries_page are at least 1")
        if self.batch_max_wait_ms < 0:
            raise BadSettings("batch_max_wait_ms is at least 0")
        if not KiB <= self.max_header_bytes <= MiB:
            raise BadSettings("max_header_bytes is 1024 to 1048576")
        for name in (
            "header_timeout_seconds",
            "body_timeout_seconds",
            "keepalive_timeout_seconds",
            "upload_stall_seconds",
        ):
            if not 1 <= getattr(self, name) <= MAX_TIMEOUT_SECONDS:
                raise BadSettings(f"{name} is 1 to {MAX_TIMEOUT_SECONDS}")
        for name in ("log_witness_interval_seconds", "log_witness_timeout_seconds"):
            if not 1 <= getattr(self, name) <= MAX_TIMEOUT_SECONDS:
                raise BadSettings(f"{name} is 1 to {MAX_TIMEOUT_SECONDS}")
        self.parsed_log_witnesses  # noqa: B018 - raises BadSettings for a bad one

    # --- derived -----------------------------------------------------------------

    @property
    def connections_per_worker(self) -> int:
        """The PostgreSQL connections one server process may open."""
        return self.database_connections // self.workers

    @property
    def parsed_log_witnesses(self) -> list[LogWitness]:
        """``log_witnesses`` parsed. Raises :class:`BadSettings` for a malformed
        one, two with one key, or more than ``MAX_LOG_WITNESSES``."""
        if not isinstance(self.log_witnesses, (tuple, list)) or not all(
            isinstance(text, str) for text in self.log_witnesses
        ):
            raise BadSettings("log_witnesses is a list of <URL>=<verifier key>")
        if len(self.log_witnesses) > MAX_LOG_WITNESSES:
            raise BadSettings(f"at most {MAX_LOG_WITNESSES} log witnesses")
        witnesses = [parse_log_witness(text) for text in self.log_witnesses]
        if len({w.id for w in witnesses}) != len(witnesses):
            raise BadSettings("two log witnesses have the same key")
        return witnesses

    def require_data_dir(self) -> Path:
        """The data dir. Raises :class:`BadSettings` if none is set."""
        if self.data_dir is None:
            raise BadSettings("no data directory (--data-dir or TESTIMONY_DATA_DIR)")
        return self.data_dir

    @property
    def resolved_database_url(self) -> str:
        """``database_url``, or the SQLite file under the data dir.

        Raises :class:`BadSettings` if neither is set.
        """
        if self.database_url:
            return self.database_url
        if self.data_dir is None:
            raise BadSettings("no database: give --data-dir or --database-url")
        return f"sqlite:///{(self.data_dir / DATABASE_FILE).resolve()}"

    @property
    def blobs_dir(self) -> Path:
        """Where blob files live. Raises :class:`BadSettings` without a data dir."""
        return self.require_data_dir() / BLOBS_DIR

    @property
    def log_key_path(self) -> Path:
        """The log signing key file. Raises :class:`BadSettings` without a data dir."""
        return self.require_data_dir() / LOG_KEY_FILE

    @property
    def log_witness_lock_path(self) -> Path:
        """The file whose lock makes one server process the witness client
        (``domain/log_witnesses.py``). Raises :class:`BadSettings` without a data dir."""
        return self.require_data_dir() / LOG_WITNESS_LOCK_FILE

    @property
    def pow_secret_path(self) -> Path:
        """The proof-of-work secret file. Raises :class:`BadSettings` without a data dir."""
        return self.require_data_dir() / POW_SECRET_FILE

    @property
    def setup_token_path(self) -> Path:
        """The setup token's hash (docs/protocol.md §12.3). Raises :class:`BadSettings`
        without a data dir."""
        return self.require_data_dir() / SETUP_TOKEN_FILE

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (checked again)."""
        return dataclasses.replace(self, **changes)


_OBJECT_FIELDS = {"clock", "forms"}


def _fields() -> dict[str, type]:
    types: dict[str, type] = {}
    for item in dataclasses.fields(Settings):
        if item.name in _OBJECT_FIELDS:
            continue
        default = item.default
        if item.name in ("data_dir", "forms_dir"):
            types[item.name] = Path
        elif item.name in ("database_url", "log_key"):
            types[item.name] = str
        else:
            types[item.name] = type(default)
    return types


def _convert(name: str, kind: type, value: Any, source: str) -> Any:
    try:
        if kind is Path:
            if not isinstance(value, (str, os.PathLike)):
                raise TypeError
            return Path(value)
        if kind is int:
            if isinstance(value, bool):
                raise TypeError
            if isinstance(value, str):
                return int(value.strip(), 10)
            if not isinstance(value, int):
                raise TypeError
            return value
        if kind is tuple:
            if isinstance(value, str):
                return tuple(value.split())
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise TypeError
            return tuple(value)
        if kind is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if not isinstance(value, str):
            raise TypeError
        return value
    except (TypeError, ValueError):
        raise BadSettings(f"{name} from {source} is not a {kind.__name__}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError:
        raise BadSettings("the config file cannot be read") from None
    except tomllib.TOMLDecodeError:
        raise BadSettings("the config file is not valid TOML") from None


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config: Path | None = None,
    **objects: Any,
) -> Settings:
    """Settings from ``flags`` (None = not given), then ``environ``
    (``TESTIMONY_*``; default ``os.environ``), then the TOML file ``config``.

    ``objects`` sets ``clock`` or ``forms``. Raises :class:`BadSettings` for
    an unknown key in the TOML file, a value of the wrong type, an unreadable
    or invalid file, or a value out of range.
    """
    flags = dict(flags or {})
    environ = os.environ if environ is None else environ
    types = _fields()
    file_values = _read_toml(config) if config is not None else {}
    unknown = sorted(set(file_values) - set(types))
    if unknown:
        raise BadSettings(f"unknown setting in the config file: {unknown[0]}")
    unknown_flags = sorted(set(flags) - set(types))
    if unknown_flags:
        raise BadSettings(f"unknown setting: {unknown_flags[0]}")
    values: dict[str, Any] = {}
    for name, kind in types.items():
        env_name = ENV_PREFIX + name.upper()
        if flags.get(name) not in (None, [], ()):
            values[name] = _convert(name, kind, flags[name], "the command line")
        elif environ.get(env_name, "") != "":
            values[name] = _convert(name, kind, environ[env_name], env_name)
        elif name in file_values:
            values[name] = _convert(name, kind, file_values[name], "the config file")
    unknown_objects = sorted(set(objects) - _OBJECT_FIELDS)
    if unknown_objects:
        raise BadSettings(f"unknown setting: {unknown_objects[0]}")
    values.update({k: v for k, v in objects.items() if v is not None})
    return Settings(**values)
