"""The reviewers' side of the server (docs/protocol.md §12; docs/reviewers-api.md):
signed entries under the governance rules, sessions, the blind-index filter,
and ciphertext handed out only after its ``access`` entry is logged.

**Standing is the log's.** The server decides who may write what by replaying
the signed entries with ``testimony.crypto.governance`` — the same code a
workstation, a monitor and ``testimony verify`` run — so the server can refuse
nothing the rules accept and accept nothing they refuse. :class:`Standing`
keeps the replay in memory and catches up from the ``signed_entries``
projection before every decision; several server processes each keep their
own, and each reads what the others logged.

**One signed entry per transaction.** A reviewer's entry is appended by
``LogStore.append_batch`` of that one entry, not through the group-commit
batcher: its ``prepare`` catches the replay up *inside the append's
transaction, under the log's writer lock*, and checks the entry as the next
one. Two admins' concurrent approvals are thus judged in the order they are
logged, and no entry the replay would refuse can reach the log (two entries
judged against the same state in one batch could). Reviewers' entries are few
beside submissions; one commit each is cheap.

**Sessions** (§12.8) are stateless: a MACed challenge, then a token
``b64u(reviewer id (16 bytes) || expiry (8, big-endian Unix seconds) ||
HMAC-SHA256(secret, label || those 24 bytes))`` that the server never stores.
Standing and role are checked at every request, so a revocation ends a
session at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import struct
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from testimony.crypto import governance, keyring, signing
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.entries import (
    AccessEntry,
    AnnotationEntry,
    ApprovalEntry,
    ExportEntry,
    FollowupEntry,
    GrantEntry,
    IntakeKeyRotation,
    InviteEntry,
    OrgEntry,
    PolicyEntry,
    ReviewerEntry,
    RevokeEntry,
    SignedEntry,
    SignedReplyEntry,
    SubmissionEntry,
    entry_from_object,
)
from testimony.crypto.errors import EntryMalformed as CryptoEntryMalformed
from testimony.crypto.errors import MalformedInput, SignatureError
from testimony.crypto.submission import MAX_INLINE_BODY
from testimony.service.store import db
from testimony.service.store.blobs import BlobStore
from testimony.service.store.errors import BlobNotFound
from testimony.service.store.log import LogStore, Signer
from testimony.service.store.projections import (
    AccessTable,
    AnnotationIndexTable,
    FollowupTable,
    SignedEntryProjection,
    SignedKey,
    SubmissionTable,
    signed_entries_after,
)

from .challenges import ChallengeRefusals, Challenges
from .clock import Clock, Granularity, unix_seconds
from .errors import (
    AccessNotLogged,
    ActorNotSession,
    BlobUnknown,
    EntryMalformed,
    EntrySignatureInvalid,
    EntryTypeNotAccepted,
    GovernanceRefusal,
    MalformedEntryRequest,
    MalformedSessionRequest,
    ParentWithoutWitness,
    ReplyBlobMismatch,
    RequestTooLarge,
    RoleForbidden,
    SessionChallengeExpired,
    SessionChallengeInvalid,
    SessionChallengeReused,
    SessionInvalid,
    SessionRequired,
    SessionSignatureInvalid,
    SetupTokenInvalid,
    UnknownParent,
    UnknownSubmission,
    from_store,
)
from .pow import SpentChallenges
from .receipts import Receipt

__all__ = [
    "ACCEPTED",
    "CHALLENGE_TTL_SECONDS",
    "MAX_ANSWER_BYTES",
    "MAX_INDEX_PAGE",
    "MAX_SUBJECTS",
    "ROLES_ADMITTED",
    "SESSION_SECONDS",
    "Ciphertexts",
    "EntryAppended",
    "ReviewerSession",
    "Reviewers",
    "Sessions",
    "Standing",
]

CHALLENGE_TTL_SECONDS = 300
"""How long a session challenge stays valid."""
SESSION_SECONDS = 15 * 60
"""A session token's life (§12.8: at most 15 minutes)."""
MAX_SUBJECTS = 200
"""Submission ids one ciphertext request may name."""
MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""Inline bodies stop being answered inline once a ciphertext answer holds this many bytes."""
MAX_INDEX_PAGE = 1000
"""Entry indexes one blind-index query answers."""

ACCEPTED: tuple[type[SignedEntry], ...] = (
    OrgEntry,
    PolicyEntry,
    InviteEntry,
    ReviewerEntry,
    ApprovalEntry,
    RevokeEntry,
    GrantEntry,
    AnnotationEntry,
    SignedReplyEntry,
    IntakeKeyRotation,
    ExportEntry,
)
"""The signed entries a workstation may send (docs/reviewers-api.md)."""

ROLES_ADMITTED: Mapping[str, frozenset[str]] = {
    "reader": frozenset({"reviewer", "admin", "auditor"}),
    "reviewer": frozenset({"reviewer", "admin"}),
    "admin": frozenset({"admin"}),
}
"""For each session role a route may require, the reviewers' roles it admits."""

_CHALLENGE_LABEL = b"testimony/v1 session"
_TOKEN_LABEL = b"testimony/v1 session token"
_TOKEN_HEAD = struct.Struct(">16sQ")
_TOKEN_BYTES = _TOKEN_HEAD.size + 32
_REFUSALS = ChallengeRefusals(
    invalid=SessionChallengeInvalid, expired=SessionChallengeExpired, reused=SessionChallengeReused
)
_NO_SESSION_NEEDED = (OrgEntry, ReviewerEntry)
_SIGNED = SignedEntryProjection()


class Standing:
    """The governance replay of the logged signed entries, caught up on demand
    (thread-safe; see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self._reads = db.read_engine(engine)
        self._lock = threading.Lock()
        self._state = governance.Governance()
        self._after = -1

    def _catch_up(self, connection: Connection) -> governance.Governance:
        # Called with the lock held. An entry the replay refuses cannot be in
        # an honest log (it was checked before it was appended); if one is,
        # the replay skips it as every reader of the log does.
        for idx, entry in signed_entries_after(connection, self._after):
            with contextlib.suppress(governance.GovernanceRefused, MalformedInput):
                self._state.apply(entry)
            self._after = idx
        return self._state

    def role(self, reviewer: str) -> str | None:
        """The role of ``reviewer`` if it has standing now, else None."""
        with self._lock, self._reads.connect() as connection:
            return self._catch_up(connection).standing().get(reviewer)

    def check_next(self, connection: Connection, entry: SignedEntry) -> Exception | None:
        """Whether ``entry`` may be the next one, judged in ``connection``'s
        transaction (a ``log.Prepare``): None, or the refusal."""
        with self._lock:
            state = self._catch_up(connection)
            try:
                state.check(entry.to_json())
            except governance.GovernanceRefused as exc:
                if exc.code == "bad-signature":
                    return EntrySignatureInvalid()
                return GovernanceRefusal(str(exc), exc.code)
            except MalformedInput as exc:
                return EntryMalformed(str(exc))
            return None

    def rotated_intake_keys(self) -> dict[str, bytes]:
        """The intake keys of rotations in effect (§12.5: proposals of kind
        ``rotate`` that reached their quorum): key id -> S1 public key, in the
        order they took effect."""
        with self._lock, self._reads.connect() as connection:
            state = self._catch_up(connection)
            effective = sorted(
                (
                    proposal
                    for proposal in state.proposals.values()
                    if proposal.effective_at is not None
                    and isinstance(proposal.entry, IntakeKeyRotation)
                ),
                key=lambda proposal: proposal.index,
            )
        keys: dict[str, bytes] = {}
        for proposal in effective:
            assert isinstance(proposal.entry, IntakeKeyRotation)
            keys[proposal.entry.key_id] = proposal.entry.key
        return keys

    def sign_key(self, reviewer: str) -> bytes | None:
        """The Ed25519 key ``reviewer`` enrolled with (standing or not), or None."""
        with self._lock, self._reads.connect() as connection:
            member = self._catch_up(connection).members.get(reviewer)
        return None if member is None else member.sign_key


@dataclass(frozen=True)
class ReviewerSession:
    """An authenticated request's reviewer, with the role it has now."""

    reviewer: str
    role: str


class Sessions:
    """Session challenges, tokens, and the check of every reviewer request (§12.8)."""

    def __init__(
        self,
        *,
        secret: bytes,
        spent: SpentChallenges,
        standing: Standing,
        clock: Clock,
        granularity: Granularity,
        ttl_seconds: int = CHALLENGE_TTL_SECONDS,
        session_seconds: int = SESSION_SECONDS,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._challenges = Challenges(
            secret=secret,
            label=_CHALLENGE_LABEL,
            refusals=_REFUSALS,
            spent=spent,
            clock=clock,
            granularity=granularity,
            ttl_seconds=ttl_seconds,
            random_bytes=random_bytes,
        )
        self._key = hmac.new(secret, _TOKEN_LABEL, hashlib.sha256).digest()
        self._standing = standing
        self._clock = clock
        self._seconds = min(session_seconds, SESSION_SECONDS)

    def challenge(self) -> dict[str, str]:
        """A fresh challenge: ``{"challenge", "expires"}``, accepted once."""
        return self._challenges.issue()

    def open(self, request: object) -> dict[str, str]:
        """A session for a signed challenge: ``{"token", "expires", "role"}``.

        Raises :class:`MalformedSessionRequest`, the challenge's refusals,
        :class:`GovernanceRefusal` (``no-standing``) for a reviewer without
        standing, and :class:`SessionSignatureInvalid`. The challenge is spent
        only when all else holds.
        """
        if not isinstance(request, dict) or set(request) != {"reviewer", "challenge", "signature"}:
            raise MalformedSessionRequest()
        reviewer, challenge, signature = (
            request["reviewer"],
            request["challenge"],
            request["signature"],
        )
        if not all(isinstance(value, str) for value in (reviewer, challenge, signature)):
            raise MalformedSessionRequest("`reviewer`, `challenge` and `signature` are text")
        try:
            raw_reviewer = bytes.fromhex(reviewer)
            raw_signature = b64u_decode(signature)
        except (ValueError, MalformedInput):
            raise MalformedSessionRequest(
                "`reviewer` is 32 hex digits and `signature` b64u"
            ) from None
        if len(raw_reviewer) != 16 or reviewer != raw_reviewer.hex():
            raise MalformedSessionRequest("`reviewer` is 32 lowercase hex digits")
        checked = self._challenges.check(challenge)
        role = self._standing.role(reviewer)
        sign_key = self._standing.sign_key(reviewer)
        if role is None or sign_key is None:
            raise GovernanceRefusal("this reviewer has no standing", "no-standing")
        try:
            signing.verify(
                sign_key, keyring.session_signing_bytes(challenge, reviewer), raw_signature
            )
        except (SignatureError, MalformedInput):
            raise SessionSignatureInvalid() from None
        self._challenges.spend(checked)
        expires = unix_seconds(self._clock.now()) + self._seconds
        head = _TOKEN_HEAD.pack(raw_reviewer, expires)
        token = head + hmac.new(self._key, head, hashlib.sha256).digest()
        return {
            "token": b64u_encode(token),
            "expires": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "role": role,
        }

    def authenticate(self, authorization: str | None, required: str) -> ReviewerSession:
        """The session of an ``Authorization`` header value, for a route that
        requires ``required`` (a key of :data:`ROLES_ADMITTED`).

        Raises :class:`SessionRequired` without a bearer token,
        :class:`SessionInvalid` for a damaged, foreign or expired one,
        :class:`GovernanceRefusal` (``no-standing``) once its reviewer has lost
        standing, and :class:`RoleForbidden` for a role the route does not admit.
        """
        if authorization is None:
            raise SessionRequired()
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise SessionRequired()
        try:
            token = b64u_decode(value.strip())
        except MalformedInput:
            raise SessionInvalid() from None
        if len(token) != _TOKEN_BYTES:
            raise SessionInvalid()
        head, tag = token[: _TOKEN_HEAD.size], token[_TOKEN_HEAD.size :]
        if not hmac.compare_digest(tag, hmac.new(self._key, head, hashlib.sha256).digest()):
            raise SessionInvalid()
        raw_reviewer, expires = _TOKEN_HEAD.unpack(head)
        if unix_seconds(self._clock.now()) >= expires:
            raise SessionInvalid("the session has expired; open a new one")
        reviewer = raw_reviewer.hex()
        role = self._standing.role(reviewer)
        if role is None:
            raise GovernanceRefusal("this reviewer no longer has standing", "no-standing")
        if role not in ROLES_ADMITTED[required]:
            raise RoleForbidden(f"this route is for {required}s; the session is an {role}'s")
        return ReviewerSession(reviewer, role)


@dataclass(frozen=True)
class EntryAppended:
    """A signed entry's receipt, and whether it was appended now (False: a repeat)."""

    receipt: Receipt
    appended: bool


@dataclass(frozen=True)
class Ciphertexts:
    """A ciphertext answer: the access entry's receipt, the items and the blobs to fetch."""

    access: Receipt
    items: list[dict[str, Any]]
    blobs: list[dict[str, str]]


class Reviewers:
    """Accepts signed entries, answers the blind-index filter, hands out ciphertext."""

    def __init__(
        self,
        *,
        log: LogStore,
        sign: Signer,
        engine: Engine,
        standing: Standing,
        setup_hash: str | None,
        submissions: SubmissionTable,
        followups: FollowupTable,
        access: AccessTable,
        annotation_index: AnnotationIndexTable,
        blobs: BlobStore,
        store_blobs: Callable[[Connection, Mapping[str, bytes]], None],
        receipt: Callable[[int], Receipt],
        clock: Clock,
        granularity: Granularity,
    ) -> None:
        self._log = log
        self._sign = sign
        self._engine = engine
        self._standing = standing
        self._setup_hash = setup_hash
        self._submissions = submissions
        self._followups = followups
        self._access = access
        self._annotation_index = annotation_index
        self._blobs = blobs
        self._store_blobs = store_blobs
        self._receipt = receipt
        self._clock = clock
        self._granularity = granularity

    # --- entries ------------------------------------------------------------------------

    def post_entry(self, request: object, session: ReviewerSession | None) -> EntryAppended:
        """Check a signed entry as docs/reviewers-api.md says, append it, and
        return its receipt (the first one for a repeat). Appends nothing
        unless every check holds."""
        entry, blob = self._read_entry_request(request)
        if isinstance(entry, _NO_SESSION_NEEDED):
            self._check_self_signed(entry)
        elif session is None:
            raise SessionRequired()
        elif session.reviewer != entry.actor:
            raise ActorNotSession()
        blobs: dict[str, bytes] = {}
        if isinstance(entry, SignedReplyEntry):
            blobs = self._reply_blob(entry, blob)
        elif blob is not None:
            raise MalformedEntryRequest("only a reply carries a `blob`")
        logged = entry.with_received(self._granularity.floor(self._clock.now()))
        data = logged.to_json()

        key = SignedKey.of(entry)

        def prepare(connection: Connection) -> Exception | None:
            # A repeat is answered its first receipt by the dedup index, and
            # is no new entry to judge (an approval judged again would be
            # "approval-repeated").
            if _SIGNED.find(connection, [key]):
                return None
            return self._standing.check_next(connection, entry)

        def finish(connection: Connection, kept: Sequence[bool]) -> None:
            if blobs and kept[0]:
                self._store_blobs(connection, blobs)

        with from_store():
            appended = self._log.append_batch(
                [data],
                self._sign,
                dedup_keys=[key],
                prepare=[prepare],
                finish=finish,
            )
        refused = appended.refused[0]
        if refused is not None:
            raise refused
        index = appended.indexes[0]
        if not appended.appended[0]:
            return EntryAppended(self._receipt(index), appended=False)
        return EntryAppended(
            Receipt.proved(data, appended.checkpoint.note, appended.inclusion[0]), appended=True
        )

    def _read_entry_request(self, request: object) -> tuple[SignedEntry, bytes | None]:
        if not isinstance(request, dict) or not set(request) <= {"entry", "blob"}:
            raise MalformedEntryRequest()
        if "entry" not in request or not isinstance(request["entry"], dict):
            raise MalformedEntryRequest("`entry` is the signed entry, a JSON object")
        if "received" in request["entry"]:
            raise EntryMalformed("an entry is sent without `received`: the server adds it")
        try:
            entry = entry_from_object(request["entry"], logged=False)
        except CryptoEntryMalformed as exc:
            raise EntryMalformed(str(exc)) from None
        if not isinstance(entry, ACCEPTED):
            raise EntryTypeNotAccepted(
                f"a workstation does not send {entry.TYPE} entries of this form"
            )
        blob = request.get("blob")
        if blob is None:
            return entry, None
        if not isinstance(blob, str):
            raise MalformedEntryRequest("`blob` is b64u text")
        try:
            return entry, b64u_decode(blob)
        except MalformedInput:
            raise MalformedEntryRequest("`blob` is b64u text") from None

    def _check_self_signed(self, entry: OrgEntry | ReviewerEntry) -> None:
        try:
            entry.verify_self_signature()
        except SignatureError:
            raise EntrySignatureInvalid() from None
        if isinstance(entry, OrgEntry) and (
            self._setup_hash is None or not hmac.compare_digest(entry.setup, self._setup_hash)
        ):
            raise SetupTokenInvalid()

    def _reply_blob(self, entry: SignedReplyEntry, blob: bytes | None) -> dict[str, bytes]:
        if blob is None or hashlib.sha256(blob).hexdigest() != entry.sealed:
            raise ReplyBlobMismatch()
        if len(blob) > MAX_INLINE_BODY:
            raise RequestTooLarge("a sealed reply is at most 1 MiB")
        parent = self._submissions.by_id(entry.parent)
        if parent is None:
            raise UnknownParent()
        if parent.witness is None:
            raise ParentWithoutWitness()
        return {entry.sealed: blob}

    def with_index(self, value: int, after: int) -> dict[str, Any]:
        """``{"indexes", "next"}``: the annotations listing blind index ``value``
        after log index ``after`` (docs/reviewers-api.md)."""
        page = self._annotation_index.indexes(value, after=after, limit=MAX_INDEX_PAGE)
        return {"indexes": page, "next": page[-1] if len(page) == MAX_INDEX_PAGE else None}

    # --- ciphertext -----------------------------------------------------------------------

    def ciphertext(self, request: object, session: ReviewerSession) -> Ciphertexts:
        """Log an ``access`` entry for the submissions ``request`` names, then
        answer their ciphertexts (docs/reviewers-api.md). Raises
        :class:`MalformedEntryRequest`, :class:`RequestTooLarge` and
        :class:`UnknownSubmission`; nothing is logged unless all hold."""
        subjects = _subjects(request)
        # One read for every subject: its entry and the inline ciphertexts it
        # names (a request of 200 used to cost about a thousand queries).
        sealed = self._submissions.sealed(subjects)
        if len(sealed) != len(subjects):
            raise UnknownSubmission()
        received = self._granularity.floor(self._clock.now())
        access = AccessEntry(reviewer=session.reviewer, subjects=tuple(subjects), received=received)
        data = access.to_json()
        with from_store():
            appended = self._log.append_batch([data], self._sign)
        receipt = (
            Receipt.proved(data, appended.checkpoint.note, appended.inclusion[0])
            if appended.appended[0]
            else self._receipt(appended.indexes[0])
        )
        budget = [MAX_ANSWER_BYTES]
        items: list[dict[str, Any]] = []
        to_fetch: dict[str, str] = {}
        inline: dict[str, dict[str, Any]] = {}  # submission id -> its item, body to read
        followups = self._followups.of_parents(subjects)
        for subject in subjects:
            stored = sealed[subject]
            entry = SubmissionEntry.parse(stored.entry)
            fetch: set[str] = set(entry.attachments)
            header = self._read(entry.header) if stored.header is None else stored.header
            budget[0] -= len(header)
            item: dict[str, Any] = {"id": subject, "header": b64u_encode(header), "body": None}
            if stored.body_size is None:  # a body uploaded as a blob file
                size = self._size(entry.body)
                if size <= MAX_INLINE_BODY and size <= budget[0]:
                    item["body"] = b64u_encode(self._read(entry.body))
                    budget[0] -= size
                else:
                    fetch.add(entry.body)
            elif stored.body_size <= MAX_INLINE_BODY and stored.body_size <= budget[0]:
                inline[subject] = item  # read below, with the others, in one query
                budget[0] -= stored.body_size
            else:
                fetch.add(entry.body)
            # The witness's box key, to seal replies to (§7); null without a witness key.
            witness_box = None
            if entry.witness_box is not None:
                witness_box = stored.witness_box or self._read(entry.witness_box)
            item["witness_box"] = None if witness_box is None else b64u_encode(witness_box)
            item["followups"] = []
            for followup_id, followup_idx in followups.get(subject, []):
                followup = FollowupEntry.parse(self._log.entry(followup_idx))
                item["followups"].append(
                    self._item(followup_id, followup.header, followup.body, budget, fetch)
                )
                fetch.update(followup.attachments)
            for blob_id in fetch:
                to_fetch.setdefault(blob_id, subject)
            items.append(item)
        bodies = self._submissions.inline_bodies(list(inline))
        for subject, item in inline.items():
            body = bodies.get(subject)
            if body is None:  # pragma: no cover - inline rows are never deleted
                body = self._read(SubmissionEntry.parse(sealed[subject].entry).body)
            item["body"] = b64u_encode(body)
        blobs = [{"id": blob_id, "subject": to_fetch[blob_id]} for blob_id in sorted(to_fetch)]
        return Ciphertexts(access=receipt, items=items, blobs=blobs)

    def _item(
        self, item_id: str, header: str, body: str, budget: list[int], to_fetch: set[str]
    ) -> dict[str, Any]:
        header_bytes = self._read(header)
        budget[0] -= len(header_bytes)
        body_b64: str | None = None
        size = self._size(body)
        if size <= MAX_INLINE_BODY and size <= budget[0]:
            body_b64 = b64u_encode(self._read(body))
            budget[0] -= size
        else:
            to_fetch.add(body)
        return {"id": item_id, "header": b64u_encode(header_bytes), "body": body_b64}

    def _read(self, blob_id: str) -> bytes:
        try:
            return b"".join(self._blobs.read(blob_id))
        except BlobNotFound:
            raise BlobUnknown() from None

    def _size(self, blob_id: str) -> int:
        try:
            return self._blobs.size(blob_id)
        except BlobNotFound:
            raise BlobUnknown() from None

    def blob_access(self, blob_id: str, subject: str, session: ReviewerSession) -> None:
        """Raise :class:`AccessNotLogged` unless an access entry of the session's
        reviewer names submission ``subject`` and it holds ``blob_id`` (itself or
        through a follow-up), :class:`BlobUnknown` for a blob not stored."""
        if not _is_hex64(subject) or not self._access.logged(session.reviewer, [subject]):
            raise AccessNotLogged()
        stored = self._submissions.by_id(subject)
        if stored is None:
            raise AccessNotLogged()
        entry = SubmissionEntry.parse(self._log.entry(stored.idx))
        named = {entry.header, entry.body, *entry.attachments}
        for _followup_id, followup_idx in self._followups.of_parents([subject]).get(subject, []):
            followup = FollowupEntry.parse(self._log.entry(followup_idx))
            named.update((followup.header, followup.body, *followup.attachments))
        if blob_id not in named:
            raise AccessNotLogged()
        if not self._blobs.exists(blob_id):
            raise BlobUnknown()


def _subjects(request: object) -> list[str]:
    if not isinstance(request, dict) or set(request) != {"subjects"}:
        raise MalformedEntryRequest('a ciphertext request is {"subjects": [submission ids]}')
    subjects = request["subjects"]
    if not isinstance(subjects, list) or not subjects:
        raise MalformedEntryRequest("`subjects` is a non-empty list of submission ids")
    if len(subjects) > MAX_SUBJECTS:
        raise RequestTooLarge(f"a ciphertext request names at most {MAX_SUBJECTS} submissions")
    if not all(isinstance(s, str) and _is_hex64(s) for s in subjects):
        raise MalformedEntryRequest("`subjects` are 64 lowercase hex digits each")
    return sorted(set(subjects))


def _is_hex64(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
