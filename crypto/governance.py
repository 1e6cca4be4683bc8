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

Entries are the JCS bytes as logged; signatures are checked against the key
the actor enrolled with (§12.2). Member shapes are checked only as far as
these rules need them; the full shape of every entry is ``crypto/entries``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import canonical, merkle, signing
from .encoding import b64u_decode
from .errors import CryptoError, MalformedInput, SignatureError
from .keyring import reviewer_id, signing_bytes

__all__ = [
    "PROPOSAL_KINDS",
    "ROLES",
    "Governance",
    "GovernanceRefused",
    "Member",
    "Policy",
    "Proposal",
]

ROLES = ("reviewer", "admin", "auditor")
PROPOSAL_KINDS = ("enrol", "revoke", "export", "shred", "rotate", "policy")
_WRITERS = frozenset({"reviewer", "admin"})
_ADMIN_ONLY = frozenset({"invite", "approval", "revoke", "policy", "shred"})
_CONTENT = frozenset({"annotation", "reply", "export"})


class GovernanceRefused(CryptoError):
    """The entry is not acceptable under §12's rules (its actor lacks standing,
    a signature does not verify, a quorum is not reached...)."""

    code = "no-standing"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


@dataclass(frozen=True)
class Policy:
    """For each kind of proposal, how many distinct admins must approve it,
    and the blind indexes' widths (§12.3)."""

    quorum: Mapping[str, int]
    index_bits: Mapping[str, int]

    @classmethod
    def parse(cls, value: Any) -> Policy:
        if not isinstance(value, dict) or set(value) != {*PROPOSAL_KINDS, "index_bits"}:
            raise MalformedInput(
                "a policy names enrol, revoke, export, shred, rotate, policy and index_bits"
            )
        quorum = {kind: value[kind] for kind in PROPOSAL_KINDS}
        if not all(_is_count(m) and m >= 1 for m in quorum.values()):
            raise MalformedInput("a policy's quorums are whole numbers of at least 1")
        bits = value["index_bits"]
        if not isinstance(bits, dict) or not all(
            isinstance(kind, str) and _is_count(width) and 1 <= width <= 32
            for kind, width in bits.items()
        ):
            raise MalformedInput("a policy's index_bits map kinds to 1..32 bits")
        return cls(quorum=quorum, index_bits=dict(bits))


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
    entry: dict[str, Any] = field(repr=False)
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

    def check(self, entry: bytes | Mapping[str, Any]) -> None:
        """Raise :class:`GovernanceRefused` (or ``MalformedInput``) if the entry
        would be refused as the next one; change nothing."""
        self._evaluate(_fields(entry), apply=False, entry_id="")

    def apply(self, entry: bytes) -> list[str]:
        """Read the next logged entry (its JCS bytes). Returns the ids of the
        proposals that took effect at it. Raises :class:`GovernanceRefused` or
        ``MalformedInput`` for an entry the rules refuse; nothing changes then."""
        fields = _fields(entry)
        entry_id = merkle.leaf_hash(entry).hex()
        self._evaluate(fields, apply=False, entry_id=entry_id)
        effective = self._evaluate(fields, apply=True, entry_id=entry_id)
        self.size += 1
        return effective

    # --- the rules ----------------------------------------------------------------------

    def _evaluate(self, entry: dict[str, Any], *, apply: bool, entry_id: str) -> list[str]:
        kind = entry.get("type")
        if kind in ("submission", "followup", "access"):
            return []
        if kind == "intake-key" and "actor" not in entry:
            if self.policy is not None or self.intake_keys:
                raise GovernanceRefused("only entry 0 names an intake key without an actor")
            if apply:
                self.intake_keys.append(str(entry.get("key_id")))
            return []
        if kind == "org":
            return self._org(entry, apply)
        if self.policy is None:
            raise GovernanceRefused("no organisation exists yet", "no-organisation")
        if kind == "reviewer":
            return self._candidate(entry, apply, entry_id)
        actor = self._signed_by_member(entry)
        if actor.role == "auditor":
            raise GovernanceRefused("an auditor writes no entries")
        if (kind in _ADMIN_ONLY or kind == "intake-key") and actor.role != "admin":
            raise GovernanceRefused(f"only an admin writes a {kind} entry")
        if kind == "invite":
            code = _hex(entry, "code", 64)
            if code in self.invites:
                raise GovernanceRefused("that invite exists already", "invite-reused")
            if apply:
                self.invites[code] = False
            return []
        if kind == "approval":
            return self._approval(entry, actor, apply)
        if kind == "revoke":
            subject = _hex(entry, "subject", 32)
            target = self.members.get(subject)
            if target is None or not target.standing:
                raise GovernanceRefused("the subject of a revocation has no standing")
            return self._propose("revoke", entry, actor, apply, entry_id)
        if kind == "policy":
            Policy.parse(entry.get("policy"))
            return self._propose("policy", entry, actor, apply, entry_id)
        if kind == "shred":
            return self._propose("shred", entry, actor, apply, entry_id)
        if kind == "intake-key":
            return self._propose("rotate", entry, actor, apply, entry_id)
        if kind == "grant":
            return self._grant(entry, actor, apply)
        if kind in _CONTENT:
            if actor.role not in _WRITERS:
                raise GovernanceRefused(f"a {kind} is written by a reviewer or an admin")
            if kind == "export" and self._quorum("export") > 1:
                return self._propose("export", entry, actor, apply, entry_id)
            return []
        raise MalformedInput(f"unknown entry type {kind!r}")

    def _org(self, entry: dict[str, Any], apply: bool) -> list[str]:
        if self.policy is not None:
            raise GovernanceRefused("the organisation exists already", "org-exists")
        policy = Policy.parse(entry.get("policy"))
        sign_key, box_key = _key(entry, "sign_key"), _key(entry, "box_key", length=None)
        founder = reviewer_id(sign_key)
        if entry.get("actor") != founder:
            raise GovernanceRefused("an org entry's actor is the id of the key it names")
        _hex(entry, "setup", 64)
        _verify(sign_key, entry)
        if apply:
            self.policy = policy
            self.members[founder] = Member(
                founder, "admin", sign_key, box_key, standing=True, holds_epoch=0
            )
        return []

    def _candidate(self, entry: dict[str, Any], apply: bool, entry_id: str) -> list[str]:
        sign_key, box_key = _key(entry, "sign_key"), _key(entry, "box_key", length=None)
        candidate = reviewer_id(sign_key)
        if entry.get("actor") != candidate:
            raise GovernanceRefused("a reviewer entry's actor is the id of the key it names")
        role = entry.get("role")
        if role not in ROLES:
            raise MalformedInput("a reviewer's role is reviewer, admin or auditor")
        invite = _hex(entry, "invite", 64)
        if invite not in self.invites:
            raise GovernanceRefused("the invite is unknown", "invite-unknown")
        if self.invites[invite]:
            raise GovernanceRefused("the invite was used already", "invite-reused")
        if candidate in self.members:
            raise GovernanceRefused("that key is known already: a person comes back with new keys")
        _verify(sign_key, entry)
        if apply:
            self.invites[invite] = True
            self.members[candidate] = Member(candidate, str(role), sign_key, box_key)
            self.proposals[entry_id] = Proposal(
                entry_id, "enrol", self.size, entry, self._quorum("enrol")
            )
        return []

    def _approval(self, entry: dict[str, Any], actor: Member, apply: bool) -> list[str]:
        subject = _hex(entry, "subject", 64)
        proposal = self.proposals.get(subject)
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
        self, kind: str, entry: dict[str, Any], actor: Member, apply: bool, entry_id: str
    ) -> list[str]:
        if not apply:
            return []
        proposal = Proposal(entry_id, kind, self.size, entry, self._quorum(kind))
        if actor.role == "admin":
            proposal.approvals.add(actor.id)
        self.proposals[entry_id] = proposal
        return self._settle(proposal)

    def _grant(self, entry: dict[str, Any], actor: Member, apply: bool) -> list[str]:
        if actor.holds_epoch is None:
            raise GovernanceRefused("only a key holder grants the group secret")
        target = self.members.get(_hex(entry, "subject", 32))
        if target is None or not target.standing:
            raise GovernanceRefused("a grant's subject has no standing", "grant-refused")
        epoch = entry.get("epoch")
        next_epoch = self.revoked_since_epoch and epoch == self.epoch + 1
        if not (_is_count(epoch) and (epoch == self.epoch or next_epoch)):
            raise GovernanceRefused("a grant is of the current epoch", "wrong-epoch")
        if next_epoch and actor.holds_epoch != self.epoch:
            raise GovernanceRefused("only a holder of the current epoch starts the next")
        if not isinstance(entry.get("sealed"), str):
            raise MalformedInput("a grant carries `sealed`")
        if apply:
            if next_epoch:
                self.epoch += 1
                self.revoked_since_epoch = False
                actor.holds_epoch = self.epoch
            target.holds_epoch = self.epoch
        return []

    def _quorum(self, kind: str) -> int:
        assert self.policy is not None
        return self.policy.quorum[kind]

    def _settle(self, proposal: Proposal) -> list[str]:
        """Give effect to ``proposal`` if its approvals reach its quorum now."""
        needed = max(1, min(proposal.quorum, len(self.admins())))
        if len(proposal.approvals) < needed:
            return []
        proposal.effective_at = self.size
        entry = proposal.entry
        if proposal.kind == "enrol":
            self.members[str(entry["actor"])].standing = True
        elif proposal.kind == "revoke":
            target = self.members[str(entry["subject"])]
            target.standing, target.revoked = False, True
            self.revoked_since_epoch = True
        elif proposal.kind == "policy":
            self.policy = Policy.parse(entry["policy"])
        elif proposal.kind == "rotate":
            self.intake_keys.append(str(entry.get("key_id")))
        return [proposal.id]

    def _signed_by_member(self, entry: dict[str, Any]) -> Member:
        actor = entry.get("actor")
        member = self.members.get(actor) if isinstance(actor, str) else None
        if member is None or not member.standing:
            raise GovernanceRefused("the entry's actor has no standing")
        _verify(member.sign_key, entry)
        return member


def _fields(entry: bytes | Mapping[str, Any]) -> dict[str, Any]:
    value = canonical.loads(entry) if isinstance(entry, bytes) else dict(entry)
    if not isinstance(value, dict):
        raise MalformedInput("an entry is a JSON object")
    return value


def _hex(entry: Mapping[str, Any], name: str, digits: int) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or len(value) != digits or value.strip("0123456789abcdef"):
        raise MalformedInput(f"`{name}` is {digits} lowercase hex digits")
    return value


def _key(entry: Mapping[str, Any], name: str, *, length: int | None = 32) -> bytes:
    value = entry.get(name)
    try:
        key = b64u_decode(value) if isinstance(value, str) else b""
    except MalformedInput:
        key = b""
    if not key or (length is not None and len(key) != length):
        raise MalformedInput(f"`{name}` is a b64u public key")
    return key


def _verify(sign_key: bytes, entry: Mapping[str, Any]) -> None:
    encoded = entry.get("signature")
    try:
        signature = b64u_decode(encoded) if isinstance(encoded, str) else b""
        signing.verify(sign_key, signing_bytes(entry), signature)
    except (SignatureError, MalformedInput):
        raise GovernanceRefused("the entry's signature does not verify", "bad-signature") from None
