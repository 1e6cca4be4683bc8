"""Setting up a data directory (``testimony init``) and opening one
(``testimony serve``, ``audit``, ``raw``): docs/protocol.md §9.

A data directory holds::

    testimony.sqlite3   the database (unless --database-url names another)
    blobs/              the blob store (ciphertext only)
    log-key             the log's Ed25519 signing key, mode 0600
    pow-secret          the proof-of-work MAC secret (32 bytes), mode 0600
    setup-token.sha256  hex SHA-256 of the setup token (docs/protocol.md §12.3), mode 0600

``init`` creates them, runs the migrations, and appends the first log entry,
the intake-key entry naming the intake public key (see ``domain/log.py``),
with its checkpoint. It makes the setup token, which the founding admin's
workstation needs once (``testimony org init``): the server keeps its hash
only, and ``init`` answers the token for the operator to read out. Nothing is overwritten: a data directory or database
that already holds a log is refused.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine, make_url

from testimony.crypto import codes, hpke, note, signing
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.errors import CryptoError, MalformedInput
from testimony.service.domain.audit import AuditProgress, Finding, audit
from testimony.service.domain.clock import Granularity
from testimony.service.domain.errors import (
    AlreadyInitialised,
    BadKeyFile,
    BadSettings,
    NotInitialised,
)
from testimony.service.domain.followups import Followups
from testimony.service.domain.intake import Intake
from testimony.service.domain.log import (
    LogSigner,
    LogView,
    intake_key_entry,
    load_intake_keys,
    read_signer_key,
)
from testimony.service.domain.log_witnesses import LogWitnessPusher, PushLock
from testimony.service.domain.pow import SECRET_LENGTH, ProofOfWork, StoredSpentChallenges
from testimony.service.domain.replies import Replies
from testimony.service.domain.reviewers import Reviewers, Sessions, Standing
from testimony.service.domain.uploads import UploadLimits, Uploads
from testimony.service.settings import Settings
from testimony.service.store import db
from testimony.service.store.batching import AppendBatcher
from testimony.service.store.blob_index import BlobIndex
from testimony.service.store.blobs import BlobStore
from testimony.service.store.cosignatures import CosignatureTable
from testimony.service.store.inline_blobs import InlineBlobs, LayeredBlobStore
from testimony.service.store.log import LogStore
from testimony.service.store.projections import (
    AccessTable,
    AnnotationIndexTable,
    FollowupTable,
    IntakeKeyTable,
    ReplyTable,
    SubmissionTable,
    rebuild_projections,
)
from testimony.service.store.upload_table import UploadTable

__all__ = [
    "InitResult",
    "Server",
    "init_data_dir",
    "load_signer",
    "new_intake_key",
    "open_engine",
    "open_existing_engine",
    "open_log",
    "open_server",
    "read_intake_public_key",
    "read_pow_secret",
    "rebuild_projections_of",
    "write_secret_file",
]

DEFAULT_ORIGIN = "testimony.local/log"
_DIR_MODE = 0o700
_SECRET_MODE = 0o600


@dataclass(frozen=True)
class InitResult:
    """What ``init`` made: the published verifier key, the first entry's id,
    and the setup token (shown once; only its hash is kept)."""

    verifier_key: str
    intake_key_id: str
    entry_id: str
    setup_token: str


def write_secret_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 and write ``data``; never overwrite.

    Raises :class:`AlreadyInitialised` if the file exists.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _SECRET_MODE)
    except FileExistsError:
        raise AlreadyInitialised(f"{path.name} already exists; nothing was overwritten") from None
    try:
        os.fchmod(fd, _SECRET_MODE)  # the umask may have narrowed it further; never widened
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        if fd >= 0:
            os.close(fd)


def write_public_file(path: Path, data: bytes) -> None:
    """Create ``path`` (mode 0644) with ``data``; never overwrite.

    Raises :class:`AlreadyInitialised` if the file exists.
    """
    try:
        with path.open("xb") as handle:
            handle.write(data)
    except FileExistsError:
        raise AlreadyInitialised(f"{path.name} already exists; nothing was overwritten") from None


def read_intake_public_key(path: Path) -> bytes:
    """The S1 public key in ``path`` (its b64u, surrounding white space allowed).

    Raises :class:`BadKeyFile` if the file cannot be read or does not hold a
    valid 1216-byte S1 public key.
    """
    try:
        text = path.read_text(encoding="ascii").strip()
        public = b64u_decode(text)
        # Sealing to it checks that both halves are valid keys.
        hpke.seal(public, b"testimony/v1 key check", b"")
    except (OSError, UnicodeDecodeError, CryptoError):
        raise BadKeyFile("the intake key file does not hold a b64u S1 public key") from None
    return public


def read_pow_secret(path: Path) -> bytes:
    """The proof-of-work secret in ``path``.

    Raises :class:`NotInitialised` if it is missing and :class:`BadKeyFile`
    if it is not 32 bytes.
    """
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        raise NotInitialised("the data directory has no proof-of-work secret") from None
    except OSError:
        raise BadKeyFile("the proof-of-work secret cannot be read") from None
    if len(secret) != SECRET_LENGTH:
        raise BadKeyFile("the proof-of-work secret is not 32 bytes")
    return secret


def new_intake_key(
    private_path: Path, public_path: Path, *, random_bytes: Callable[[int], bytes] = os.urandom
) -> str:
    """Write a fresh S1 key pair: the 32-byte seed (mode 0600) and the b64u public key.

    For operators and tests; the intake private key belongs with the
    reviewers, never on the server. Returns the key id. Raises
    :class:`AlreadyInitialised` if either file exists (nothing is written).
    """
    if private_path.exists() or public_path.exists():
        raise AlreadyInitialised("a key file already exists; nothing was overwritten")
    seed = random_bytes(hpke.SEED_LENGTH)
    public = hpke.public_key(seed)
    write_secret_file(private_path, seed)
    write_public_file(public_path, (b64u_encode(public) + "\n").encode("ascii"))
    return hpke.key_id(public)


@contextlib.contextmanager
def open_engine(settings: Settings) -> Iterator[Engine]:
    """An engine for the settings' database, disposed of afterwards.

    Raises :class:`BadSettings` for an unusable URL.
    """
    try:
        engine = db.create_engine(settings.resolved_database_url)
    except ValueError as exc:
        raise BadSettings(str(exc)) from None
    except Exception:
        raise BadSettings("the database URL is not usable") from None
    try:
        yield engine
    finally:
        engine.dispose()


def _check_origin(origin: str) -> str:
    try:
        note.key_hash(origin, bytes(32))
    except MalformedInput:
        raise BadSettings("an origin is non-empty, without spaces or '+'") from None
    return origin


def init_data_dir(
    settings: Settings,
    intake_public_key: bytes,
    *,
    origin: str = DEFAULT_ORIGIN,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> InitResult:
    """Create the data directory, database, log key, PoW secret and first entry.

    Raises :class:`AlreadyInitialised` if the data directory already has a
    log key or the database already holds entries (nothing is changed then),
    :class:`BadSettings` for an unusable origin or database URL, and
    :class:`BadKeyFile` for an intake key that is not an S1 public key.
    """
    data_dir = settings.require_data_dir()
    _check_origin(origin)
    try:
        hpke.key_id(intake_public_key)
    except MalformedInput:
        raise BadKeyFile("the intake key is not a 1216-byte S1 public key") from None
    data_dir.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    if settings.log_key_path.exists():
        raise AlreadyInitialised("the data directory already has a log key")
    settings.blobs_dir.mkdir(mode=_DIR_MODE, exist_ok=True)

    granularity = Granularity(settings.time_granularity_minutes)
    with open_engine(settings) as engine:
        db.upgrade(engine)
        log = LogStore(engine)
        if log.size() != 0:
            raise AlreadyInitialised("the database already holds a log")
        private_key = signing.private_key_from_seed(random_bytes(32))
        signer_text = note.signer_key(origin, private_key)
        write_secret_file(settings.log_key_path, (signer_text + "\n").encode("ascii"))
        if not settings.pow_secret_path.exists():
            write_secret_file(settings.pow_secret_path, random_bytes(SECRET_LENGTH))
        signer = LogSigner(
            note.parse_signer_key(signer_text), clock=settings.clock, granularity=granularity
        )
        setup_token = codes.new_code(random_bytes)
        write_secret_file(
            settings.setup_token_path, (codes.code_hash(setup_token) + "\n").encode("ascii")
        )
        entry = intake_key_entry(intake_public_key, signer.now())
        appended = log.append_batch([entry], signer.sign)
    return InitResult(
        verifier_key=signer.verifier_key,
        intake_key_id=hpke.key_id(intake_public_key),
        entry_id=appended.ids[0].hex(),
        setup_token=setup_token,
    )


def read_setup_hash(path: Path) -> str | None:
    """The setup token's hash kept in ``path``, or None for a data directory
    made before there were setup tokens (no organisation can be founded on it).

    Raises :class:`BadKeyFile` for a file that is not 64 hex digits.
    """
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        raise BadKeyFile("the setup token's hash cannot be read") from None
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise BadKeyFile("the setup token file does not hold a SHA-256 in hex")
    return text


def load_signer(settings: Settings) -> LogSigner:
    """The log signer of the settings' data dir.

    Raises :class:`NotInitialised` or :class:`BadKeyFile` as
    :func:`~testimony.service.domain.log.read_signer_key` does.
    """
    return LogSigner(
        read_signer_key(settings.log_key_path),
        clock=settings.clock,
        granularity=Granularity(settings.time_granularity_minutes),
    )


@dataclass
class Server:
    """Everything one API process holds, wired from the settings. Close it when done."""

    settings: Settings
    engine: Engine
    log: LogStore
    blobs: LayeredBlobStore
    signer: LogSigner
    batcher: AppendBatcher
    uploads: Uploads
    proof_of_work: ProofOfWork
    intake: Intake
    followups: Followups
    replies: Replies
    reviewers: Reviewers
    sessions: Sessions
    log_view: LogView
    cosignatures: CosignatureTable
    log_witnesses: LogWitnessPusher | None = None

    def start_log_witnesses(self) -> None:
        """Start sending settled checkpoints to the configured log witnesses
        (docs/protocol.md §13), on a thread of this process; nothing if none
        is configured. Only the process holding the data directory's lock
        sends (``domain/log_witnesses.py``), so every worker may call this."""
        witnesses = self.settings.parsed_log_witnesses
        if not witnesses or self.log_witnesses is not None:
            return
        self.log_witnesses = LogWitnessPusher(
            witnesses,
            log_store=self.log,
            cosignatures=self.cosignatures,
            lock=PushLock(self.settings.log_witness_lock_path),
            clock=self.settings.clock,
            granularity=Granularity(self.settings.time_granularity_minutes),
            interval_seconds=self.settings.log_witness_interval_seconds,
            timeout_seconds=self.settings.log_witness_timeout_seconds,
        )
        self.log_witnesses.start()

    def close(self) -> None:
        """Stop the log witnesses' thread, commit what is queued, stop the
        batcher, release the database."""
        try:
            if self.log_witnesses is not None:
                self.log_witnesses.stop()
            self.batcher.close()
        finally:
            self.engine.dispose()


def open_server(settings: Settings, *, first: bool = True) -> Server:
    """Open the data directory's database, blobs and keys for serving.

    ``first`` (the default) is for the first or only server process of a data
    directory, started while no other serves it: it runs the migrations (an
    already current database is left alone) and removes the temporary files
    a crash left. Worker processes forked after it pass ``first=False``: the
    other workers may be writing temporary files by then. Raises
    :class:`NotInitialised` if the data directory or the log was never set
    up, :class:`BadKeyFile` for an unreadable key, and :class:`BadSettings`
    for unusable settings.
    """
    data_dir = settings.require_data_dir()
    if not data_dir.is_dir():
        raise NotInitialised("the data directory does not exist (run `testimony init`)")
    granularity = Granularity(settings.time_granularity_minutes)
    signer = load_signer(settings)
    secret = read_pow_secret(settings.pow_secret_path)
    try:
        engine = db.create_engine(
            settings.resolved_database_url, max_connections=settings.connections_per_worker
        )
    except ValueError as exc:
        raise BadSettings(str(exc)) from None
    try:
        if first:
            db.upgrade(engine)
        log = LogStore(engine)
        load_intake_keys(log)  # NotInitialised unless the log names an intake key
        blobs = LayeredBlobStore(settings.blobs_dir, InlineBlobs(engine))
        if first:
            blobs.sweep_temporary()
        proof_of_work = ProofOfWork(
            secret=secret,
            bits=settings.pow_bits,
            ttl_seconds=settings.pow_ttl_seconds,
            clock=settings.clock,
            granularity=granularity,
        )
        # One table of spent challenges: a challenge buys one upload or one
        # submission, never both.
        spent = StoredSpentChallenges(engine, clock=settings.clock)
        uploads = Uploads(
            blobs=blobs,
            blob_index=BlobIndex(engine),
            upload_table=UploadTable(engine),
            clock=settings.clock,
            granularity=granularity,
            limits=UploadLimits(
                max_blob_bytes=settings.max_blob_bytes,
                budget_bytes=settings.upload_budget_bytes,
                unit_bytes=settings.upload_unit_bytes,
                idle_seconds=settings.upload_idle_seconds,
                lifetime_seconds=settings.upload_lifetime_seconds,
                unreferenced_blob_expiry_seconds=settings.unreferenced_blob_expiry_seconds,
                pow_load_bits=settings.pow_upload_load_bits,
            ),
            proof_of_work=proof_of_work,
            spent=spent,
        )
        batcher = AppendBatcher(
            log,
            signer.sign,
            max_batch=settings.batch_max_entries,
            max_delay=settings.batch_max_wait_ms / 1000,
            store_blobs=uploads.store_in,
        )
    except BaseException:
        engine.dispose()
        raise
    submissions = SubmissionTable(engine)
    # Standing is the log's governance replay: it also knows which intake-key
    # rotations took effect (§12.5).
    standing = Standing(engine)
    intake = Intake(
        log=log,
        batcher=batcher,
        uploads=uploads,
        proof_of_work=proof_of_work,
        spent=spent,
        intake_keys=IntakeKeyTable(engine),
        submissions=submissions,
        clock=settings.clock,
        granularity=granularity,
        max_attachments=settings.max_attachments,
        rotated_keys=standing.rotated_intake_keys,
    )
    followup_table = FollowupTable(engine)
    followups = Followups(
        log=log,
        intake=intake,
        submissions=submissions,
        followups=followup_table,
        clock=settings.clock,
        granularity=granularity,
        max_attachments=settings.max_attachments,
    )
    # The replies challenge is MACed with the proof-of-work secret under its
    # own label (domain/replies.py), so neither challenge passes for the other.
    replies = Replies(
        secret=secret,
        spent=spent,
        submissions=submissions,
        replies=ReplyTable(engine),
        blobs=blobs,
        clock=settings.clock,
        granularity=granularity,
    )
    # Reviewers' sessions are MACed with the same secret under labels of their
    # own (domain/reviewers.py).
    sessions = Sessions(
        secret=secret,
        spent=spent,
        standing=standing,
        clock=settings.clock,
        granularity=granularity,
    )
    reviewers = Reviewers(
        log=log,
        sign=signer.sign,
        engine=engine,
        standing=standing,
        setup_hash=read_setup_hash(settings.setup_token_path),
        submissions=submissions,
        followups=followup_table,
        access=AccessTable(engine),
        annotation_index=AnnotationIndexTable(engine),
        blobs=blobs,
        store_blobs=uploads.store_in,
        receipt=intake.receipt,
        clock=settings.clock,
        granularity=granularity,
    )
    cosignatures = CosignatureTable(engine)
    return Server(
        settings=settings,
        engine=engine,
        log=log,
        blobs=blobs,
        signer=signer,
        batcher=batcher,
        uploads=uploads,
        proof_of_work=proof_of_work,
        intake=intake,
        followups=followups,
        replies=replies,
        reviewers=reviewers,
        sessions=sessions,
        log_view=LogView(
            log,
            signer,
            max_entries_page=settings.max_log_entries_page,
            cosignatures=cosignatures,
            witnesses=[w.id for w in settings.parsed_log_witnesses],
        ),
        cosignatures=cosignatures,
    )


@contextlib.contextmanager
def open_existing_engine(settings: Settings) -> Iterator[Engine]:
    """An engine for a database that must already exist (no file is created).

    Raises :class:`NotInitialised` for a SQLite file that does not exist and
    :class:`BadSettings` for an unusable URL.
    """
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        raise NotInitialised("there is no database there (run `testimony init`)")
    with open_engine(settings) as engine:
        yield engine


def rebuild_projections_of(
    settings: Settings, progress: Callable[[int, int], None] | None = None
) -> int:
    """Empty the tables derived from the log and replay every entry into them
    (``testimony rebuild-projections``); returns the entries replayed.

    Runs in one transaction under the log's writer lock, so appends wait
    until it commits (on SQLite, at most the busy timeout: stop the server
    for a large log). ``progress(done, total)`` is told how far it is.
    Raises :class:`NotInitialised` if there is no database and
    ``ValueError`` for an entry a projection cannot read (nothing is changed
    then).
    """
    with open_existing_engine(settings) as engine:
        total = LogStore(engine).size()
        with db.writer_session(engine) as session:
            return rebuild_projections(
                session,
                progress=None if progress is None else (lambda done: progress(done, total)),
            )


@contextlib.contextmanager
def open_log(settings: Settings) -> Iterator[tuple[LogStore, LayeredBlobStore]]:
    """The log and blob store of an initialised data directory, for reading.

    Raises :class:`NotInitialised` if there is no database or blob folder.
    """
    if not settings.blobs_dir.is_dir():
        raise NotInitialised("the data directory has no blobs folder (run `testimony init`)")
    with open_existing_engine(settings) as engine:
        yield LogStore(engine), LayeredBlobStore(settings.blobs_dir, InlineBlobs(engine))


def audit_settings(
    settings: Settings, progress: AuditProgress | None = None
) -> tuple[list[str], list[Finding]]:
    """Audit the database (and blobs, with a data dir) the settings name
    (``progress`` as :func:`audit` says).

    The log key is ``settings.log_key`` if set, else the data dir's. Returns
    notes on what could not be checked, and the findings. Raises
    :class:`NotInitialised` if there is no database and :class:`BadKeyFile`
    for an unreadable log key.
    """
    notes: list[str] = []
    verifier_key = settings.log_key
    if verifier_key is None and settings.data_dir is not None:
        verifier_key = str(read_signer_key(settings.log_key_path).verifier())
    has_blobs = settings.data_dir is not None and settings.blobs_dir.is_dir()
    if not has_blobs:
        notes.append("blobs not checked: no data directory with a blobs folder")
    with open_existing_engine(settings) as engine:
        blobs: BlobStore | None = None
        if has_blobs:
            blobs = LayeredBlobStore(settings.blobs_dir, InlineBlobs(engine))
        findings = audit(
            log=LogStore(engine),
            engine=engine,
            blobs=blobs,
            verifier_key=verifier_key,
            granularity=Granularity(settings.time_granularity_minutes),
            progress=progress,
            witnesses={w.id: w.key for w in settings.parsed_log_witnesses},
        )
    return notes, findings
