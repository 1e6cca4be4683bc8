"""The organisation, from a reviewer's workstation (docs/protocol.md §12.3 to
§12.5; docs/reviewers-api.md; docs/workstation.md "First day: the
organisation").

- :func:`bind`: the workstation joins one server, whose URL and log verifier
  key it keeps in the cache (``meta``: ``server``, ``log_key``); a key
  changed later is refused, never followed.
- :func:`found`: the founding admin's ``org`` entry, with the setup token's
  hash and a policy giving every kind of proposal the same quorum; the group
  secret of epoch 0 (32 fresh bytes) and the intake seed go into the cache's
  keyring first, so that an interrupted founding is taken up again with the
  same entry (a repeat answers the first receipt).
- :func:`invite`, :func:`enrol`, :func:`approve`, :func:`revoke`: the
  entries of §12.4; :func:`grant`: a key holder seals every epoch and intake
  seed it holds to a reviewer with standing (§12.5); :func:`rotate`: after a
  revocation, a new intake key proposed and a new epoch granted to everyone
  with standing.
- :func:`replay`: standing, quorum and key holders, replayed from the cached
  log with :class:`testimony.crypto.governance.Governance`. An entry the rules
  refuse (which an honest server never logs) changes nothing and is listed in
  :attr:`Replay.ignored`.

Every function takes the open cache and, for the network, a
:class:`~testimony.workstation.session.ReviewerClient`; the commands
(``workstation/commands/org.py``, ``keys.py``) only parse and print.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testimony.client.errors import ServerRefused
from testimony.crypto import codes, hpke, signing
from testimony.crypto.encoding import b64u_decode, hex_decode
from testimony.crypto.entries import (
    ROLES,
    ApprovalEntry,
    GrantEntry,
    IntakeKeyEntry,
    IntakeKeyRotation,
    InviteEntry,
    OrgEntry,
    Policy,
    ReviewerEntry,
    RevokeEntry,
    parse_entry,
)
from testimony.crypto.errors import CryptoError
from testimony.crypto.governance import Governance, Member, Proposal
from testimony.crypto.keyring import (
    DEFAULT_INDEX_BITS,
    GROUP_SECRET_LENGTH,
    NONCE_LENGTH,
    Grant,
    Identity,
    seal_grant,
)

from .cache import Cache
from .home import WorkstationError
from .session import ReviewerClient

__all__ = [
    "GOVERNANCE_TYPES",
    "Approved",
    "Founded",
    "Replay",
    "Rotated",
    "Standing",
    "approve",
    "bind",
    "bound_client",
    "enrol",
    "found",
    "grant",
    "invite",
    "proposal_of",
    "read_intake_seed",
    "replay",
    "reviewer_id_of",
    "revoke",
    "rotate",
    "standing_of",
]

GOVERNANCE_TYPES = (
    "intake-key",
    "org",
    "policy",
    "invite",
    "reviewer",
    "approval",
    "revoke",
    "grant",
    "shred",
    "export",
)
"""The entry types §12's rules read (the others change no standing)."""

Row = tuple[int, str, str, bytes]
"""A cached entry: ``(index, id, type, bytes)``."""


def _random(n: int) -> bytes:
    return os.urandom(n)


def _signer(identity: Identity) -> Any:
    return signing.private_key_from_seed(identity.sign_seed)


# --- the server this workstation belongs to --------------------------------------------


def bind(cache: Cache, server_url: str, log_key: str) -> None:
    """Keep ``server_url`` and its pinned ``log_key`` in the cache.

    Raises :class:`WorkstationError` (``workstation-bound``) if the cache
    belongs to another server, and (``log-key-mismatch``) if it pinned
    another key for this one.
    """
    url = server_url.rstrip("/")
    known, pinned = cache.get("server"), cache.get("log_key")
    if known is not None and known != url:
        raise WorkstationError(
            f"this workstation belongs to {known}; use another --workstation for {url}",
            "workstation-bound",
        )
    if pinned is not None and pinned != log_key.strip():
        raise WorkstationError(
            "the server's log key is not the one this workstation pinned; "
            "check it with the operator before trusting this server",
            "log-key-mismatch",
        )
    with cache.transaction():
        cache.put("server", url)
        cache.put("log_key", log_key.strip())


def bound_client(cache: Cache, identity: Identity, **options: Any) -> ReviewerClient:
    """A client for the server this workstation belongs to, with its pinned key."""
    server, log_key = cache.get("server"), cache.get("log_key")
    if server is None or log_key is None:
        raise WorkstationError(
            "this workstation belongs to no organisation yet "
            "(run `testimony org init` or `testimony reviewer enrol`)",
            "not-enrolled",
        )
    return ReviewerClient(str(server), identity, log_key=str(log_key), **options)


# --- standing, replayed ----------------------------------------------------------------


@dataclass
class Replay:
    """§12's state after the cached log."""

    governance: Governance
    size: int
    """Entries of the cached log read."""
    ignored: list[int] = field(default_factory=list)
    """Log indexes of entries the rules refuse (an honest server logs none)."""


def replay(
    cache: Cache,
    *,
    also: Iterable[Row] = (),
    visit: Callable[[Governance, Row, bool], None] | None = None,
) -> Replay:
    """Replay the cached log's governance entries in order.

    ``also`` are more cached rows (in log order) to be shown to ``visit`` at
    their place without being applied (a sync's annotations, whose authors'
    standing is judged there). ``visit(governance, row, applied)`` is called
    after each row: ``applied`` is False for a row of ``also`` or one the
    rules refused.
    """
    governance = Governance()
    ignored: list[int] = []
    rows = heapq.merge(
        ((row, True) for row in cache.entries(GOVERNANCE_TYPES)),
        ((row, False) for row in also),
        key=lambda pair: pair[0][0],
    )
    for row, applies in rows:
        applied = False
        if applies:
            try:
                governance.apply(row[3])
                applied = True
            except CryptoError:
                ignored.append(row[0])
        if visit is not None:
            visit(governance, row, applied)
    return Replay(governance, cache.log_size(), ignored)


@dataclass(frozen=True)
class Standing:
    """One reviewer the log knows, as ``reviewer list`` shows it."""

    id: str
    role: str
    state: str
    """``standing``, ``candidate`` (enrolment short of its quorum) or ``revoked``."""
    key_holder: bool
    approvals: int = 0
    needed: int = 0
    proposal: str | None = None
    """The enrolment's entry id (what ``reviewer approve`` names)."""


def _needed(governance: Governance, proposal: Proposal) -> int:
    return max(1, min(proposal.quorum, len(governance.admins())))


def standing_of(governance: Governance) -> list[Standing]:
    """Everyone the log knows, admins first, then by role and id."""
    enrolments = {
        p.entry.actor: p
        for p in governance.proposals.values()
        if p.kind == "enrol" and isinstance(p.entry, ReviewerEntry)
    }
    found = []
    for member in governance.members.values():
        proposal = enrolments.get(member.id)
        state = "standing" if member.standing else "revoked" if member.revoked else "candidate"
        found.append(
            Standing(
                id=member.id,
                role=member.role,
                state=state,
                key_holder=member.standing and member.holds_epoch is not None,
                approvals=len(proposal.approvals) if proposal else 0,
                needed=_needed(governance, proposal) if proposal else 0,
                proposal=proposal.id if proposal else None,
            )
        )
    order = {role: n for n, role in enumerate(("admin", "reviewer", "auditor"))}
    return sorted(found, key=lambda s: (order.get(s.role, 9), s.id))


def proposal_of(governance: Governance, target: str) -> Proposal:
    """The proposal ``target`` names: its entry id (64 hex digits), or a
    candidate's reviewer id or fingerprint (32 hex digits, spaces allowed),
    for its enrolment still short of its quorum."""
    wanted = "".join(target.split()).lower()
    if len(wanted) == 64 and wanted in governance.proposals:
        return governance.proposals[wanted]
    if len(wanted) == 32:
        for proposal in governance.proposals.values():
            if (
                proposal.kind == "enrol"
                and isinstance(proposal.entry, ReviewerEntry)
                and proposal.entry.actor == wanted
                and proposal.effective_at is None
            ):
                return proposal
        if wanted in governance.members and governance.members[wanted].standing:
            raise WorkstationError(
                f"reviewer {_short(wanted)} has standing already: nothing to approve",
                "proposal-done",
            )
    raise WorkstationError(
        "no proposal in the synced log has that id, nor a candidate that fingerprint "
        "(run `testimony sync` or check the id)",
        "unknown-proposal",
    )


def _short(reviewer: str) -> str:
    return " ".join(reviewer[i : i + 4] for i in range(0, len(reviewer), 4))


def _me(governance: Governance, identity: Identity) -> Member:
    member = governance.members.get(identity.id)
    if member is None or not member.standing:
        raise WorkstationError(
            "you have no standing in this organisation (yet): nothing was sent", "no-standing"
        )
    return member


def _admin(governance: Governance, identity: Identity) -> Member:
    member = _me(governance, identity)
    if member.role != "admin":
        raise WorkstationError(f"only an admin does that; you are a {member.role}", "not-admin")
    return member


# --- founding ---------------------------------------------------------------------------


def read_intake_seed(path: Path) -> bytes:
    """An intake private seed from ``path``: the 32 raw bytes ``testimony
    intake-key new --private`` writes (or their hex or b64u on one line)."""
    data = path.read_bytes()
    if len(data) == hpke.SEED_LENGTH:
        return data
    try:
        text = data.decode("ascii").strip()
        seed = bytes.fromhex(text) if len(text) == 64 else b64u_decode(text)
    except (UnicodeDecodeError, ValueError, CryptoError):
        seed = b""
    if len(seed) != hpke.SEED_LENGTH:
        raise WorkstationError(f"{path} does not hold a 32-byte intake seed", "intake-seed-invalid")
    return seed


@dataclass(frozen=True)
class Founded:
    """The organisation's ``org`` entry, logged."""

    entry_id: str
    index: int
    repeated: bool
    """The founding was taken up again: the receipt is the first one."""


def _intake_key_ids(cache: Cache) -> set[str]:
    ids = set()
    for _index, _id, _type, data in cache.entries(("intake-key",)):
        entry = parse_entry(data)
        if isinstance(entry, IntakeKeyEntry | IntakeKeyRotation):
            ids.add(entry.key_id)
    return ids


def found(
    cache: Cache,
    client: ReviewerClient,
    identity: Identity,
    *,
    setup_token: str,
    quorum: int,
    intake_seed: bytes,
    random_bytes: Callable[[int], bytes] = _random,
) -> Founded:
    """Found the organisation (§12.3): the workstation must be bound and its
    log synced (entry 0 names the intake key ``intake_seed`` must open).

    Raises :class:`WorkstationError` before anything is sent for a seed that
    is not the log's intake key or an organisation founded already; the
    server's ``setup-token-invalid`` and ``org-exists`` as ``ServerRefused``
    (the cache then keeps nothing of this attempt).
    """
    if cache.get("org") is not None:
        raise WorkstationError("this workstation founded its organisation already", "org-exists")
    key_id = hpke.key_id(hpke.public_key(intake_seed))
    if key_id not in _intake_key_ids(cache):
        raise WorkstationError(
            "the intake seed is not the private half of the log's intake key", "intake-seed-invalid"
        )
    if not isinstance(quorum, int) or quorum < 1:
        raise WorkstationError("a quorum is at least 1", "quorum-invalid")
    setup = codes.code_hash(setup_token)
    entry: OrgEntry | None = None
    pending = cache.get("org_pending")
    if isinstance(pending, str):
        previous = parse_entry(pending.encode("ascii"), logged=False)
        if isinstance(previous, OrgEntry) and previous.setup == setup:
            entry = previous  # taken up again: the same signed entry
    repeated = entry is not None
    if entry is None:
        everything = dict.fromkeys(
            ("enrol", "revoke", "export", "shred", "rotate", "policy"), quorum
        )
        entry = OrgEntry.create(
            _signer(identity),
            nonce=random_bytes(NONCE_LENGTH),
            sign_key=identity.sign_public,
            box_key=identity.box_public,
            setup=setup,
            policy=Policy.create(**everything, index_bits=DEFAULT_INDEX_BITS),
        )
    with cache.transaction():
        if 0 not in cache.groups():
            secret = random_bytes(GROUP_SECRET_LENGTH)
            if len(secret) != GROUP_SECRET_LENGTH:
                raise WorkstationError("the random source failed", "random-failed")
            cache.add_group(0, secret)
        cache.add_intake_seed(key_id, intake_seed)
        cache.put("org_pending", entry.to_json().decode("ascii"))
    try:
        receipt = client.post_entry(entry)
    except ServerRefused as refused:
        if refused.problem in ("setup-token-invalid", "org-exists"):
            with cache.transaction():  # nothing was logged: keep nothing of it
                cache.delete("org_pending")
                cache.remove_group(0)
                cache.remove_intake_seed(key_id)
        raise
    with cache.transaction():
        cache.put("org", {"id": receipt["id"], "index": receipt["index"]})
        cache.delete("org_pending")
    return Founded(str(receipt["id"]), int(receipt["index"]), repeated=repeated)


# --- enrolment ---------------------------------------------------------------------------


def invite(
    client: ReviewerClient,
    identity: Identity,
    governance: Governance,
    *,
    random_bytes: Callable[[int], bytes] = _random,
) -> tuple[str, dict[str, Any]]:
    """A fresh invite code and the receipt of the ``invite`` entry holding its
    hash (§12.4). The code is the caller's to show once: it is kept nowhere."""
    _admin(governance, identity)
    code = codes.new_code(random_bytes)
    entry = InviteEntry.create(
        _signer(identity), nonce=random_bytes(NONCE_LENGTH), code=codes.code_hash(code)
    )
    return code, client.post_entry(entry)


def enrol(
    client: ReviewerClient,
    identity: Identity,
    governance: Governance,
    *,
    invite_code: str,
    role: str,
    random_bytes: Callable[[int], bytes] = _random,
) -> dict[str, Any]:
    """The candidate's self-signed ``reviewer`` entry (§12.4), sent without a
    session; refused here first for an invite the synced log does not hold, or
    holds used."""
    if role not in ROLES:
        raise WorkstationError("a role is reviewer, admin or auditor", "role-invalid")
    invite_hash = codes.code_hash(invite_code)
    if identity.id in governance.members:
        raise WorkstationError(
            "this key is known to the organisation already: nothing was sent", "enrolled-already"
        )
    used = governance.invites.get(invite_hash)
    if used is None:
        raise WorkstationError(
            "no invite in the organisation's log has that code (check it with the admin)",
            "invite-unknown",
        )
    if used:
        raise WorkstationError("that invite was used already", "invite-reused")
    entry = ReviewerEntry.create(
        _signer(identity),
        nonce=random_bytes(NONCE_LENGTH),
        sign_key=identity.sign_public,
        box_key=identity.box_public,
        role=role,
        invite=invite_hash,
    )
    return client.post_entry(entry)


@dataclass(frozen=True)
class Approved:
    """An approval sent, and the proposal it approves."""

    receipt: dict[str, Any]
    proposal: Proposal


def approve(
    client: ReviewerClient,
    identity: Identity,
    governance: Governance,
    target: str,
    *,
    random_bytes: Callable[[int], bytes] = _random,
) -> Approved:
    """An admin's ``approval`` of the proposal ``target`` names (:func:`proposal_of`)."""
    admin = _admin(governance, identity)
    proposal = proposal_of(governance, target)
    if proposal.effective_at is not None:
        raise WorkstationError("that proposal has taken effect already", "proposal-done")
    if admin.id in proposal.approvals:
        raise WorkstationError("you have approved it already", "approval-repeated")
    entry = ApprovalEntry.create(
        _signer(identity), nonce=random_bytes(NONCE_LENGTH), subject=proposal.id
    )
    return Approved(client.post_entry(entry), proposal)


def reviewer_id_of(target: str) -> str:
    """A reviewer id from its id or fingerprint (32 hex digits, spaces allowed)."""
    wanted = "".join(target.split()).lower()
    try:
        hex_decode(wanted, 16)
    except CryptoError:
        raise WorkstationError(
            "a reviewer id is 32 hex digits (the fingerprint, spaces allowed)",
            "reviewer-id-invalid",
        ) from None
    return wanted


def revoke(
    client: ReviewerClient,
    identity: Identity,
    governance: Governance,
    target: str,
    *,
    random_bytes: Callable[[int], bytes] = _random,
) -> dict[str, Any]:
    """An admin's ``revoke`` of a reviewer with standing (§12.4), a proposal."""
    _admin(governance, identity)
    subject = reviewer_id_of(target)
    member = governance.members.get(subject)
    if member is None or not member.standing:
        raise WorkstationError(
            f"reviewer {_short(subject)} has no standing: there is nothing to revoke",
            "no-standing",
        )
    entry = RevokeEntry.create(_signer(identity), nonce=random_bytes(NONCE_LENGTH), subject=subject)
    return client.post_entry(entry)


# --- the keyring --------------------------------------------------------------------------


def grant(
    cache: Cache,
    client: ReviewerClient,
    identity: Identity,
    governance: Governance,
    target: str,
    *,
    random_bytes: Callable[[int], bytes] = _random,
) -> dict[str, Any]:
    """Seal every group secret up to the current epoch and every intake seed
    this workstation holds to ``target``'s box key, as it enrolled it, in a
    ``grant`` entry (§12.5). Refused here, with nothing sent, unless the
    subject has standing and this workstation holds the current epoch."""
    me = _me(governance, identity)
    if me.role == "auditor":
        raise WorkstationError("an auditor grants nothing", "not-key-holder")
    subject = reviewer_id_of(target)
    member = governance.members.get(subject)
    if member is None:
        raise WorkstationError(
            f"no reviewer {_short(subject)} in the synced log (run `testimony sync`?)",
            "unknown-reviewer",
        )
    if not member.standing:
        why = (
            "was revoked"
            if member.revoked
            else "has no standing yet: its enrolment has not reached its quorum"
        )
        raise WorkstationError(f"reviewer {_short(subject)} {why}; nothing was sent", "no-standing")
    epoch = governance.epoch
    groups = {e: s for e, s in cache.groups().items() if e <= epoch}
    if epoch not in groups or me.holds_epoch is None:
        raise WorkstationError(
            f"this workstation holds no group secret of epoch {epoch}: only a key holder grants",
            "not-key-holder",
        )
    sealed = seal_grant(member.box_key, Grant(groups=groups, intake=cache.intake_seeds()))
    entry = GrantEntry.create(
        _signer(identity),
        nonce=random_bytes(NONCE_LENGTH),
        subject=subject,
        epoch=epoch,
        sealed=b64u_decode(sealed),
    )
    return client.post_entry(entry)


@dataclass(frozen=True)
class Rotated:
    """What :func:`rotate` did: the rotation's receipt, its key id, and the
    new epoch with the reviewers granted it (None, []: no revocation since the
    epoch began, so the group secret stays)."""

    receipt: dict[str, Any]
    key_id: str
    epoch: int | None
    granted: list[str]


def rotate(
    cache: Cache,
    client: ReviewerClient,
    identity: Identity,
    governance: Governance,
    *,
    random_bytes: Callable[[int], bytes] = _random,
) -> Rotated:
    """Rotate the keys after a revocation (§12.5): a fresh intake key, proposed
    in a signed ``intake-key`` entry (a proposal of kind ``rotate``, in effect
    at its quorum), and — when a revocation has taken effect since the
    current epoch began — a fresh group secret of the next epoch granted to
    everyone with standing, with every intake seed, the new one included.

    The new secrets go into the cache's keyring before anything is sent, with
    the entry's nonce, so that a rotation cut short is taken up by the next
    call with the same entry (a repeat answers its first receipt) and the
    grants not yet logged. Only an admin who holds the current epoch rotates.
    """
    me = _admin(governance, identity)
    if me.holds_epoch != governance.epoch:
        raise WorkstationError(
            f"this workstation does not hold epoch {governance.epoch}: only a key holder rotates",
            "not-key-holder",
        )
    pending = cache.get("rotation_pending")
    if not isinstance(pending, dict):
        seed = random_bytes(hpke.SEED_LENGTH)
        key_id = hpke.key_id(hpke.public_key(seed))
        epoch = governance.epoch + 1 if governance.revoked_since_epoch else None
        pending = {"key_id": key_id, "nonce": random_bytes(NONCE_LENGTH).hex(), "epoch": epoch}
        with cache.transaction():
            cache.add_intake_seed(key_id, seed)
            if epoch is not None:
                cache.add_group(epoch, random_bytes(GROUP_SECRET_LENGTH))
            cache.put("rotation_pending", pending)
    key_id = str(pending["key_id"])
    public = hpke.public_key(cache.intake_seeds()[key_id])
    entry = IntakeKeyRotation.create(
        _signer(identity), nonce=bytes.fromhex(pending["nonce"]), key=public, key_id=key_id
    )
    receipt = client.post_entry(entry)
    epoch = pending.get("epoch")
    granted: list[str] = []
    if isinstance(epoch, int):
        granted = _grant_epoch(cache, client, identity, governance, epoch, random_bytes)
    cache.put("rotation_pending", None)
    return Rotated(receipt, key_id, epoch if isinstance(epoch, int) else None, granted)


def _grant_epoch(
    cache: Cache,
    client: ReviewerClient,
    identity: Identity,
    governance: Governance,
    epoch: int,
    random_bytes: Callable[[int], bytes],
) -> list[str]:
    """Grant ``epoch`` to everyone with standing who does not hold it yet
    (this workstation's own reviewer only when nobody else has standing: the
    first grant of an epoch makes its granter a holder of it too)."""
    groups = {e: s for e, s in cache.groups().items() if e <= epoch}
    seeds = cache.intake_seeds()
    others = sorted(
        member
        for member in governance.standing()
        if member != identity.id and governance.members[member].holds_epoch != epoch
    )
    subjects = others or (
        [identity.id] if governance.members[identity.id].holds_epoch != epoch else []
    )
    for subject in subjects:
        sealed = seal_grant(governance.members[subject].box_key, Grant(groups=groups, intake=seeds))
        client.post_entry(
            GrantEntry.create(
                _signer(identity),
                nonce=random_bytes(NONCE_LENGTH),
                subject=subject,
                epoch=epoch,
                sealed=b64u_decode(sealed),
            )
        )
    return subjects
