"""Standing, quorum and the keyring's holders, replayed from the log
(docs/protocol.md §12.2 to §12.7): pure, no I/O.

:class:`Governance` reads the log's entries in order and keeps who has
standing in which role, the policy in force, the invites, the proposals and
their approvals, the epoch of the group secret and who holds it. The server
asks it before appending a reviewer's entry (:meth:`Governance.check`: an
entry it refuses is answered ``403`` and appends nothing); the workstation, a
monitor and ``testimony verify`` replay the same entries to the same standing.

The rules, as §12 states them:

- ``org`` (exactly one, signed by the key it names) makes its actor the
  founding admin and a key holder, and sets the policy.
- Only admins invite, approve, revoke, propose a policy, shred and rotate the
  intake key; a candidate sends only its own ``reviewer`` entry, naming an
  unused invite; reviewers and admins write annotations, replies and exports;
  auditors write nothing (their sessions are not entries).
- A proposal (``reviewer`` = enrol, ``revoke``, ``policy``, ``shred``,
  ``intake-key`` = rotate, and ``export`` when the policy's export quorum is
  above 1) takes effect at the entry that brings the distinct approving admins
  to its quorum: the policy's ``m`` for its kind *as it was when the proposal
  was logged*, capped by the number of admins with standing at that entry,
  and at least 1. An admin who proposes counts as approving; a candidate's own
  entry is no approval; an approval counts if its admin has standing when it
  is logged.
- Standing is lost when a revocation takes effect and never comes back.
- A ``grant`` is written by a key holder with standing (not an auditor) to a
  reviewer with standing, of the current epoch, or of the next one once a
  revocation has taken effect since the current epoch began; its subject
  becomes a key holder of that epoch.

Entries are read by :mod:`testimony.crypto.entries`, strictly: as the JCS
bytes logged (with ``received``) or sent (without it), as a JSON object, or as
an entry already parsed. An entry that is no entry of the protocol is refused
with ``MalformedInput``. Signatures are checked against the key the actor
enrolled with (§12.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import merkle
from .entries import (
    PROPOSAL_KINDS,
    ROLES,
    AccessEntry,
    ApprovalEntry,
    Entry,
    ExportEntry,
    FollowupEntry,
    GrantEntry,
    IntakeKeyEntry,
    IntakeKeyRotation,
    InviteEntry,
    OrgEntry,
    Policy,
    PolicyEntry,
    ReviewerEntry,
    RevokeEntry,
    ShredEntry,
    SignedEntry,
    SubmissionEntry,
    entry_from_object,
    parse_entry,
)
from .errors import CryptoError, EntryMalformed, MalformedInput, SignatureError

__all__ = [
    "PROPOSAL_KINDS",
    "ROLES",
    "Governance",
    "GovernanceRefused",
    "Member",
    "Proposal",
]

_SERVERS = (SubmissionEntry, FollowupEntry, AccessEntry)
"""The server's own entries, which no rule of §12 concerns."""
_ADMIN_ONLY = (InviteEntry, ApprovalEntry, RevokeEntry, PolicyEntry, ShredEntry, IntakeKeyRotation)


class GovernanceRefused(CryptoError):
    """The entry is not acceptable under §12's rules (its actor lacks standing,
    a signature does not verify, a quorum is not reached...)."""

    code = "no-standing"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


@dataclass
class Member:
    """A reviewer the log knows: enrolled (or founding), or still a candidate."""

    id: str
    role: str
    sign_key: bytes = field(repr=False)
    box_key: bytes = field(repr=False)
    standing: bool = False
    revoked: bool = False
    holds_epoch: int | None = None
    """The latest epoch of the group secret granted to it (None: no key holder)."""


@dataclass
class Proposal:
    """A proposal waiting for (or past) its quorum."""

    id: str
    kind: str
    index: int
    entry: SignedEntry = field(repr=False)
    quorum: int
    approvals: set[str] = field(default_factory=set)
    effective_at: int | None = None


class Governance:
    """The state §12's rules give the log's entries so far (see the module docstring)."""

    def __init__(self) -> None:
        self.members: dict[str, Member] = {}
        self.policy: Policy | None = None
        self.invites: dict[str, bool] = {}
        """Invite code hashes, and whether each has been used."""
        self.proposals: dict[str, Proposal] = {}
        self.epoch = 0
        self.revoked_since_epoch = False
        self.intake_keys: list[str] = []
        self.size = 0
        """Entries read so far (the index of the next one)."""

    # --- what callers read ------------------------------------------------------------

    def standing(self) -> dict[str, str]:
        """Reviewer id -> role of everyone with standing."""
        return {m.id: m.role for m in self.members.values() if m.standing}

    def admins(self) -> set[str]:
        """The admins with standing."""
        return {m.id for m in self.members.values() if m.standing and m.role == "admin"}

    def key_holders(self) -> set[str]:
        """Everyone with standing who holds the group secret."""
        return {m.id for m in self.members.values() if m.standing and m.holds_epoch is not None}

    # --- reading entries ------------------------------------------------------------------

    def check(self, entry: bytes | Mapping[str, Any] | Entry) -> None:
        """Raise :class:`GovernanceRefused` (or ``MalformedInput``) if the entry
        would be refused as the next one; change nothing.

        ``entry`` is its JCS bytes, its JSON object or the parsed entry, as
        logged (with ``received``) or as sent to be logged (without it).
        """
        self._evaluate(_read(entry), apply=False, entry_id="")

    def apply(self, entry: bytes) -> list[str]:
        """Read the next logged entry (its JCS bytes). Returns the ids of the
        proposals that took effect at it. Raises :class:`GovernanceRefused` or
        ``MalformedInput`` for an entry the rules refuse; nothing changes then."""
        parsed = _read(entry)
        entry_id = merkle.leaf_hash(entry).hex()
        self._evaluate(parsed, apply=False, entry_id=entry_id)
        effective = self._evaluate(parsed, apply=True, entry_id=entry_id)
        self.size += 1
        return effective

    # --- the rules ----------------------------------------------------------------------

    def _evaluate(self, entry: Entry, *, apply: bool, entry_id: str) -> list[str]:
        if isinstance(entry, _SERVERS):
            return []
        if isinstance(entry, IntakeKeyEntry):
            if self.policy is not None or self.intake_keys:
                raise GovernanceRefused("only entry 0 names an intake key without an actor")
            if apply:
                self.intake_keys.append(entry.key_id)
            return []
        if isinstance(entry, OrgEntry):
            return self._org(entry, apply)
        if self.policy is None:
            raise GovernanceRefused("no organisation exists yet", "no-organisation")
        if isinstance(entry, ReviewerEntry):
            return self._candidate(entry, apply, entry_id)
        actor = self._signed_by_member(entry)
        if actor.role == "auditor":
            raise GovernanceRefused("an auditor writes no entries")
        if isinstance(entry, _ADMIN_ONLY) and actor.role != "admin":
            raise GovernanceRefused(f"only an admin writes a {entry.TYPE} entry")
        if isinstance(entry, InviteEntry):
            if entry.code in self.invites:
                raise GovernanceRefused("that invite exists already", "invite-reused")
            if apply:
                self.invites[entry.code] = False
            return []
        if isinstance(entry, ApprovalEntry):
            return self._approval(entry, actor, apply)
        if isinstance(entry, RevokeEntry):
            target = self.members.get(entry.subject)
            if target is None or not target.standing:
                raise GovernanceRefused("the subject of a revocation has no standing")
            return self._propose("revoke", entry, actor, apply, entry_id)
        if isinstance(entry, PolicyEntry):
            return self._propose("policy", entry, actor, apply, entry_id)
        if isinstance(entry, ShredEntry):
            return self._propose("shred", entry, actor, apply, entry_id)
        if isinstance(entry, IntakeKeyRotation):
            return self._propose("rotate", entry, actor, apply, entry_id)
        if isinstance(entry, GrantEntry):
            return self._grant(entry, actor, apply)
        # The content: an annotation, a signed reply, an export (by a reviewer or an admin).
        if isinstance(entry, ExportEntry) and self._quorum("export") > 1:
            return self._propose("export", entry, actor, apply, entry_id)
        return []

    def _org(self, entry: OrgEntry, apply: bool) -> list[str]:
        if self.policy is not None:
            raise GovernanceRefused("the organisation exists already", "org-exists")
        _verify(entry, entry.sign_key)
        if apply:
            self.policy = entry.policy
            self.members[entry.actor] = Member(
                entry.actor, "admin", entry.sign_key, entry.box_key, standing=True, holds_epoch=0
            )
        return []

    def _candidate(self, entry: ReviewerEntry, apply: bool, entry_id: str) -> list[str]:
        if entry.invite not in self.invites:
            raise GovernanceRefused("the invite is unknown", "invite-unknown")
        if self.invites[entry.invite]:
            raise GovernanceRefused("the invite was used already", "invite-reused")
        if entry.actor in self.members:
            raise GovernanceRefused("that key is known already: a person comes back with new keys")
        _verify(entry, entry.sign_key)
        if apply:
            self.invites[entry.invite] = True
            self.members[entry.actor] = Member(
                entry.actor, entry.role, entry.sign_key, entry.box_key
            )
            self.proposals[entry_id] = Proposal(
                entry_id, "enrol", self.size, entry, self._quorum("enrol")
            )
        return []

    def _approval(self, entry: ApprovalEntry, actor: Member, apply: bool) -> list[str]:
        proposal = self.proposals.get(entry.subject)
        if proposal is None:
            raise GovernanceRefused("the subject of an approval is no proposal", "unknown-proposal")
        if proposal.effective_at is not None:
            raise GovernanceRefused("the proposal has taken effect already", "proposal-done")
        if actor.id in proposal.approvals:
            raise GovernanceRefused("this admin has approved it already", "approval-repeated")
        if not apply:
            return []
        proposal.approvals.add(actor.id)
        return self._settle(proposal)

    def _propose(
        self, kind: str, entry: SignedEntry, actor: Member, apply: bool, entry_id: str
    ) -> list[str]:
        if not apply:
            return []
        proposal = Proposal(entry_id, kind, self.size, entry, self._quorum(kind))
        if actor.role == "admin":
            proposal.approvals.add(actor.id)
        self.proposals[entry_id] = proposal
        return self._settle(proposal)

    def _grant(self, entry: GrantEntry, actor: Member, apply: bool) -> list[str]:
        if actor.holds_epoch is None:
            raise GovernanceRefused("only a key holder grants the group secret")
        target = self.members.get(entry.subject)
        if target is None or not target.standing:
            raise GovernanceRefused("a grant's subject has no standing", "grant-refused")
        next_epoch = self.revoked_since_epoch and entry.epoch == self.epoch + 1
        if not (entry.epoch == self.epoch or next_epoch):
            raise GovernanceRefused("a grant is of the current epoch", "wrong-epoch")
        if next_epoch and actor.holds_epoch != self.epoch:
            raise GovernanceRefused("only a holder of the current epoch starts the next")
        if apply:
            if next_epoch:
                self.epoch += 1
                self.revoked_since_epoch = False
                actor.holds_epoch = self.epoch
            target.holds_epoch = self.epoch
        return []

    def _quorum(self, kind: str) -> int:
        assert self.policy is not None
        return self.policy.quorum(kind)

    def _settle(self, proposal: Proposal) -> list[str]:
        """Give effect to ``proposal`` if its approvals reach its quorum now."""
        needed = max(1, min(proposal.quorum, len(self.admins())))
        if len(proposal.approvals) < needed:
            return []
        proposal.effective_at = self.size
        entry = proposal.entry
        if isinstance(entry, ReviewerEntry):
            self.members[entry.actor].standing = True
        elif isinstance(entry, RevokeEntry):
            target = self.members[entry.subject]
            target.standing, target.revoked = False, True
            self.revoked_since_epoch = True
        elif isinstance(entry, PolicyEntry):
            self.policy = entry.policy
        elif isinstance(entry, IntakeKeyRotation):
            self.intake_keys.append(entry.key_id)
        return [proposal.id]

    def _signed_by_member(self, entry: Entry) -> Member:
        """The member with standing who signed ``entry`` (an entry without an
        actor, such as an unsigned ``reply``, has none)."""
        if isinstance(entry, SignedEntry):
            member = self.members.get(entry.actor)
            if member is not None and member.standing:
                _verify(entry, member.sign_key)
                return member
        raise GovernanceRefused("the entry's actor has no standing")


def _read(entry: bytes | Mapping[str, Any] | Entry) -> Entry:
    """The entry, parsed by ``crypto/entries`` with or without ``received``."""
    try:
        if isinstance(entry, bytes):
            return parse_entry(entry, logged=None)
        if isinstance(entry, Mapping):
            return entry_from_object(entry, logged=None)
    except EntryMalformed as exc:
        # Refused as before this module read entries through crypto/entries: MalformedInput.
        raise MalformedInput(str(exc)) from None
    if isinstance(entry, Entry):
        return entry
    raise MalformedInput("an entry is bytes, a JSON object or a parsed entry")


def _verify(entry: SignedEntry, sign_key: bytes) -> None:
    try:
        entry.verify_signature(sign_key)
    except (SignatureError, MalformedInput):
        raise GovernanceRefused("the entry's signature does not verify", "bad-signature") from None
