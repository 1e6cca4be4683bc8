"""``testimony verify``: every check of docs/protocol.md §11 on an evidence
bundle, with nothing but the bundle (and, if given, a pinned log key and a
newer checkpoint), as a structured :class:`Verdict`.

:func:`verify` takes a bag's folder, a ZIP of it, or an age-encrypted ZIP
(with ``identity``, the recipient's age identity file; read through
``testimony.client.bundle.archive.open_bag``, which refuses a hostile ZIP
before extracting anything). It checks, and reports as one :class:`Item` each
(``kind``, ``id``, ``ok``, ``message``):

- ``bag``: the BagIt manifests (payload and tag, ``bag.read_bag``);
  ``bundle.json`` agrees with the files (every testimony, follow-up and
  incident it lists is there, and nothing else is); the forms
  (``forms/<id>-<version>.json`` hash to what a testimony's manifest names);
- ``checkpoint``: ``custody/checkpoint.txt`` is signed by the log key — the
  bag's ``custody/log-key.txt`` (trust **self-certified**), or, with
  ``log_key``, the pinned key, which the bag's must equal (trust **pinned**):
  a bag of another log fails here;
- ``testimony`` and ``followup``: the entry's id is its leaf hash, its
  inclusion proof leads to the checkpoint, ``header.bin`` and ``body.bin``
  hash to what it names, its intake key is one the log named, ``cek.txt``
  opens ``body.bin`` to exactly ``manifest.json`` (JCS-equal) — or, for a body
  with something withheld, there is no ``cek.txt`` and the manifest marks
  ``{"withheld": true}`` exactly what ``bundle.json``'s ``redactions`` list
  for it (each well-formed, at most once) —, the consent includes the
  export's recipient; a follow-up's witness signature (§7) and parent;
- ``file``: each released file's key opens its blob (which hashes to its
  name and is one the entry fixes) to ``files/<n>-<name>``, whose size and
  SHA-256 are the manifest's;
- ``governance``: each entry of ``custody/governance.jsonl`` is in the log
  (id, proof) and the standing of every actor replays from them
  (``testimony.crypto.governance``); ``custody/reviewers.json`` gives every
  actor the keys the log enrolled;
- ``custody-event``: each entry of ``custody/events.jsonl`` is in the log,
  concerns a testimony or incident of the bundle, is signed by an actor with
  standing at its place in the log, and each disclosed ``K_e`` opens its
  entry's ``sealed`` to exactly its ``payload``;
- ``incident``: ``incidents/<id>.json`` is the record its disclosed
  annotations fold to;
- ``export-receipt``: ``export-receipt.json`` is a §10 receipt of an
  ``export`` entry by the bundle's exporter, with standing at the bundle's
  checkpoint, committing to ``H(manifest-sha256.txt)``; its consistency
  proof leads from the bundle's checkpoint to the receipt's; its ``K_e``
  opens the entry's ``sealed`` to its ``payload``, which names exactly the
  bundle's profile, testimonies, follow-ups and incidents; its ``salts`` are
  present exactly when something is withheld; when the policy's export
  quorum is above 1, its ``approvals`` (receipts, each consistent with the
  bundle's checkpoint) replayed after the export entry by §12's rules bring
  the proposal into effect;
- ``newer-checkpoint``: with ``newer_checkpoint``, that checkpoint is signed
  by the same log key and extends the bundle's. **Offline, consistency needs
  a proof**: the bag holds one only from its checkpoint to the export
  receipt's. A newer checkpoint of either size is checked by its root; any
  other needs the consistency proof appended to the file, as the log serves
  it (``GET /api/v1/log/proof/consistency?from=<bundle or receipt
  size>&to=<newer size>``, the JSON ``{"from", "to", "path"}`` after the note).
  Without it the item fails, saying exactly that it could not be checked
  offline.
- ``witnesses``: with ``witness_keys``, some checkpoint the bundle's is
  consistent with (its own, the receipt's, an approval's, the newer one) is
  cosigned by ``cosignatures`` of those witnesses (§13; ``crypto.cosignature``);
- ``log``: with ``log``, the public log rebuilds every checkpoint the bundle
  names, and no ``access``, ``followup`` or ``reply`` concerning an included
  testimony is left out (``check_log``).

What it cannot know offline, it says: standing is replayed up to the
bundle's checkpoint (a revocation after it is seen only with the public log
at hand), and nothing shows that no ``access`` or ``followup`` entry was left
out — unless the public log is given (``log``: item ``log``), which shows
both.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testimony.crypto import canonical, cosignature, merkle, note, stream
from testimony.crypto import checkpoint as checkpoints
from testimony.crypto.encoding import b64u_decode, b64u_encode, hex_decode
from testimony.crypto.entries import (
    AccessEntry,
    AnnotationEntry,
    ApprovalEntry,
    Entry,
    ExportEntry,
    FollowupEntry,
    ReplyEntry,
    SignedEntry,
    SignedReplyEntry,
    SubmissionEntry,
    parse_entry,
)
from testimony.crypto.errors import CryptoError, MalformedInput, PaddingError
from testimony.crypto.followup import verify_followup_entry
from testimony.crypto.governance import Governance
from testimony.crypto.keyring import open_payload, redaction_commitment
from testimony.crypto.receipts import verify_receipt
from testimony.crypto.rfc3339 import format_time
from testimony.crypto.submission import KEY_LENGTH, open_body

from . import layout
from .bag import CHUNK, BagCheck, read_bag

__all__ = [
    "CONTENT_KINDS",
    "GOVERNANCE_TYPES",
    "KINDS",
    "BundleUnreadable",
    "Item",
    "Verdict",
    "attachment_chunks",
    "fold_incident",
    "verify",
]

KINDS = (
    "bag",
    "checkpoint",
    "governance",
    "testimony",
    "followup",
    "file",
    "custody-event",
    "incident",
    "export-receipt",
    "disclosure",
    "newer-checkpoint",
    "witnesses",
    "log",
)
"""Every ``Item.kind``, in the order a verdict lists them."""

GOVERNANCE_TYPES = frozenset(
    {
        "org",
        "policy",
        "invite",
        "reviewer",
        "approval",
        "revoke",
        "grant",
        "intake-key",
        "shred",
        "export",
    }
)
"""The entry types of ``custody/governance.jsonl``: §11's list, and **(Decision)**
the ``export`` entries before the bundle's, which are proposals when the
export quorum is above 1 (an approval of one could not be replayed without it)."""

CONTENT_KINDS = frozenset({"state", "assign", "tag", "untag", "note", "translation", "reply"})
"""Annotation kinds about one testimony (``payload.testimony``)."""
INCIDENT_KINDS = frozenset({"incident", "link", "unlink", "merge"})
"""Annotation kinds about an incident (``payload.incident``; a merge's ``merged`` too)."""
_READERS = ("reviewer", "admin", "auditor")
_WRITERS = ("reviewer", "admin")
_BUNDLE_MEMBERS = frozenset(
    {
        "v",
        "id",
        "profile",
        "exported_by",
        "checkpoint",
        "testimonies",
        "followups",
        "incidents",
        "redactions",
    }
)
_EXPORT_PAYLOAD = frozenset(
    {"v", "kind", "profile", "recipient", "testimonies", "followups", "incidents"}
)
_TOP_FILES = frozenset(
    {
        layout.BUNDLE_JSON,
        layout.REPORT,
        layout.REPORT_PDF,  # optional: the same report as PDF (docs/protocol-notes.md)
        layout.CHECKPOINT,
        layout.LOG_KEY,
        layout.GOVERNANCE,
        layout.EVENTS,
        layout.REVIEWERS,
    }
)
_ITEM_FILES = frozenset(
    {layout.ENTRY, layout.HEADER, layout.BODY, layout.CEK, layout.MANIFEST, layout.PROOF}
)
_MAX_JSON = 64 << 20
"""The largest JSON file of a bundle read whole (a manifest with a long statement is far
smaller); a larger one is refused, not read."""


class BundleUnreadable(ValueError):
    """The path is no bundle at all (missing, not a folder, ZIP or age file)."""

    code = "bundle-unreadable"


@dataclass(frozen=True)
class Item:
    """One verdict: ``kind`` (one of :data:`KINDS`), the thing's ``id`` (an
    entry id, a path in the bag), whether it holds, and a sentence why."""

    kind: str
    id: str
    ok: bool
    message: str


@dataclass
class Verdict:
    """Everything :func:`verify` found. ``ok`` only when there is at least one
    item and every item holds."""

    items: list[Item] = field(default_factory=list)
    trust: str = "self-certified"
    """``self-certified`` (the log key came from the bag alone) or ``pinned``
    (it equals the ``log_key`` given)."""
    witnessed: int = 0
    """How many pinned witnesses cosigned a checkpoint the bundle's is
    consistent with (§13), when witness keys were given and enough did."""
    bundle_id: str | None = None
    profile: str | None = None
    checkpoint: int | None = None
    """The tree size of the bundle's checkpoint."""

    @property
    def ok(self) -> bool:
        return bool(self.items) and all(item.ok for item in self.items)

    @property
    def failures(self) -> list[Item]:
        return [item for item in self.items if not item.ok]

    def summary(self) -> str:
        """One line: how many items held, how many failed, and the trust."""
        failed = len(self.failures)
        head = "VERIFIED" if self.ok else "NOT VERIFIED"
        trust = (
            "the log key is the pinned one"
            if self.trust == "pinned"
            else "self-certified: the log key came from the bag alone (pin it with --log-key)"
        )
        if self.witnessed:
            trust += f"; cosigned by {self.witnessed} pinned witnesses"
        return f"{head}: {len(self.items) - failed} checks passed, {failed} failed; {trust}"


class _Bad(Exception):
    """A check that fails, with the sentence saying why."""


def _short(identifier: str) -> str:
    return identifier[:12]


# --- shared with the export ------------------------------------------------------------


def attachment_chunks(key: bytes, size: int, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The plaintext of an attachment's ciphertext given as ``chunks``, chunk by
    chunk, cut to its ``size`` (§3: what follows is padding, ignored).

    As :func:`testimony.crypto.stream.decrypt_chunks`, **the output is
    untrusted until the iterator ends without an error**; it raises a
    ``StreamError`` when a chunk does not verify and :class:`PaddingError`
    when the plaintext is shorter than ``size``."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise PaddingError("a file's size is a whole number")
    left = size
    for piece in stream.decrypt_chunks(key, chunks):
        if left:
            kept = piece[:left]
            left -= len(kept)
            yield kept
    if left:
        raise PaddingError("the file is shorter than its manifest says")


def fold_incident(
    incident_id: str, annotations: Iterable[tuple[str, Mapping[str, Any]]]
) -> dict[str, Any]:
    """``incidents/<id>.json`` (**Decision**, §11): ``{"v": 1, "id", "fields",
    "history"}`` — ``fields`` the record's fields folded, in log order, from
    every disclosed ``incident`` annotation naming it (creation and edits each
    set the fields they give), ``history`` the entry ids, in log order, of every
    disclosed annotation about it (``incident``, ``link``, ``unlink``, ``merge``
    naming it as kept or merged). ``annotations`` are ``(entry id, payload)`` in
    log order."""
    fields: dict[str, Any] = {}
    history: list[str] = []
    for entry_id, payload in annotations:
        kind = payload.get("kind")
        named = {payload.get("incident")}
        if kind == "merge" and isinstance(payload.get("merged"), list):
            named.update(payload["merged"])
        if kind not in INCIDENT_KINDS or incident_id not in named:
            continue
        history.append(entry_id)
        given = payload.get("fields")
        if (
            kind == "incident"
            and payload.get("incident") == incident_id
            and isinstance(given, dict)
        ):
            fields.update(given)
    return {"v": 1, "id": incident_id, "fields": fields, "history": history}


# --- reading the bag ---------------------------------------------------------------------


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file() or path.is_symlink():
        raise _Bad(f"{what} is missing")
    if path.stat().st_size > _MAX_JSON:
        raise _Bad(f"{what} is too large to be read")
    try:
        return canonical.loads(path.read_bytes())
    except CryptoError:
        raise _Bad(f"{what} is not well-formed JSON") from None


def _object(value: Any, what: str, members: frozenset[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(f"{what} is not a JSON object")
    if members is not None and set(value) != members:
        missing = sorted(members - set(value))
        extra = sorted(set(value) - members)
        detail = f"lacks `{missing[0]}`" if missing else f"has `{extra[0]}`, no member of it"
        raise _Bad(f"{what} {detail}")
    return value


def _ids(value: Any, what: str, digits: int = 64) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and len(v) == digits and all(c in "0123456789abcdef" for c in v)
        for v in value
    ):
        raise _Bad(f"{what} is not a list of {digits}-hex ids")
    if len(set(value)) != len(value):
        raise _Bad(f"{what} names an id twice")
    return list(value)


def _index(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise _Bad(f"{what} is not a whole number")
    return value


def _path(value: Any, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise _Bad(f"{what} is not a list of hashes")
    try:
        return [hex_decode(node, 32) for node in value]
    except (CryptoError, TypeError):
        raise _Bad(f"{what} is not a list of 64-hex hashes") from None


_REDACTION_PATH = re.compile(r"answers/[a-z][a-z0-9_]*|text|files/(0|[1-9][0-9]{0,5})")
_WITHHELD = {"withheld": True}


def _redactions(bundle: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """bundle.json's ``redactions``, checked: body id -> {path: commitment}."""
    listed = bundle["redactions"]
    if not isinstance(listed, list):
        raise _Bad("bundle.json's `redactions` is not a list")
    bodies = set(bundle["testimonies"]) | set(bundle["followups"])
    found: dict[str, dict[str, str]] = {}
    for n, value in enumerate(listed):
        what = f"bundle.json's redaction {n}"
        item = _object(value, what, frozenset({"testimony", "path", "commitment"}))
        body, path, commitment = item["testimony"], item["path"], item["commitment"]
        if body not in bodies:
            raise _Bad(f"{what} names no testimony or follow-up of the bundle")
        if not isinstance(path, str) or not _REDACTION_PATH.fullmatch(path):
            raise _Bad(f"{what} has no path of §11 (answers/<field>, text, files/<n>)")
        if not isinstance(commitment, str) or not re.fullmatch(r"[0-9a-f]{64}", commitment):
            raise _Bad(f"{what} has no commitment of 64 hex digits")
        if path in found.setdefault(body, {}):
            raise _Bad(f"{what} lists {path} of {_short(body)}… a second time")
        found[body][path] = commitment
    return found


def _entry_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise _Bad(f"{what} is not b64u text")
    try:
        return b64u_decode(value)
    except CryptoError:
        raise _Bad(f"{what} is not b64u text") from None


def _jcs(value: Any) -> bytes:
    try:
        return canonical.dumps(value)
    except CryptoError:
        raise _Bad("holds a value JSON cannot represent exactly") from None


@dataclass
class _Logged:
    """A line of governance.jsonl or events.jsonl, or an entry.json with its proof."""

    id: str
    index: int
    data: bytes
    entry: Entry
    line: dict[str, Any]


class _Verifier:
    def __init__(
        self,
        root: Path,
        log_key: str | None,
        newer: str | None,
        log: tuple[str, Callable[[int], list[bytes]]] | None = None,
        witnesses: tuple[Sequence[cosignature.CosignerKey], int] | None = None,
        disclosure: Any = None,
    ) -> None:
        self.root = root
        self.disclosure = disclosure
        """With ``--disclosure``: the JSON of what the bundle withheld, with its salts."""
        self.log = log
        self.witnesses = witnesses
        """With ``--witness-key``: the pinned witnesses, and how many must cosign."""
        self.notes: list[tuple[str, str]] = []
        """Verified checkpoint notes the bundle's checkpoint is consistent with
        (with their cosignatures): ``(note, whose)``."""
        """With ``--log``: what it is, and a function giving its first n entries."""
        self.exported: Any = None
        """The export receipt, verified (``VerifiedReceipt``)."""
        self.later: list[checkpoints.Checkpoint] = []
        """The checkpoints of the export receipt and of its approvals."""
        self.data = root / layout.DATA
        self.pinned = log_key.strip() if log_key is not None else None
        self.newer = newer
        self.items: dict[str, list[Item]] = {kind: [] for kind in KINDS}
        self.verdict = Verdict(trust="pinned" if self.pinned is not None else "self-certified")
        self.bag = BagCheck()
        self.key: str | None = None
        self.checkpoint: checkpoints.Checkpoint | None = None
        self.bundle: dict[str, Any] = {}
        self.redactions: dict[str, dict[str, str]] = {}
        """bundle.json's redactions: body id -> {path: commitment}."""
        self.governance = Governance()
        self.intake_keys: set[str] = set()
        self.disclosed: list[tuple[int, str, dict[str, Any]]] = []
        """``(index, entry id, payload)`` of the disclosed annotations, in log order."""
        self.payload: dict[str, Any] | None = None
        """The export payload, once its ``K_e`` opened it."""
        self.receipt_checkpoint: checkpoints.Checkpoint | None = None
        self._under: dict[str, list[str]] | None = None

    def under(self, folder: str) -> list[str]:
        """The payload paths under ``folder/`` (sorted), from an index made once:
        looking them up by a scan of the whole payload for each testimony made
        verifying 1,000 testimonies cost seconds more than hashing them."""
        if self._under is None:
            self._under = {}
            for path in sorted(self.bag.payload):
                parts = path.split("/")
                for depth in range(1, len(parts)):
                    self._under.setdefault("/".join(parts[:depth]), []).append(path)
        return self._under.get(folder, [])

    # --- items ---------------------------------------------------------------------

    @contextlib.contextmanager
    def item(self, kind: str, item_id: str) -> Iterator[list[str]]:
        """Record one item: ok with the message the body appends, or failed with
        the reason it raised."""
        said: list[str] = []
        try:
            yield said
        except _Bad as bad:
            self.items[kind].append(Item(kind, item_id, False, str(bad)))
        except CryptoError as error:
            first = str(error).splitlines()[0] if str(error) else error.code
            self.items[kind].append(Item(kind, item_id, False, f"{first} ({error.code})"))
        except (KeyError, TypeError, ValueError, OSError, RecursionError) as error:
            self.items[kind].append(
                Item(kind, item_id, False, f"malformed ({type(error).__name__})")
            )
        else:
            self.items[kind].append(Item(kind, item_id, True, " ".join(said) or "holds"))

    def fail(self, kind: str, item_id: str, message: str) -> None:
        self.items[kind].append(Item(kind, item_id, False, message))

    # --- the whole ---------------------------------------------------------------------

    def run(self) -> Verdict:
        self.check_bag()
        with self.item("bag", layout.BUNDLE_JSON) as said:
            self.read_bundle()
            said.append(
                f"bundle {self.bundle['id']}, profile {self.bundle['profile']}: "
                f"{len(self.bundle['testimonies'])} testimonies, "
                f"{len(self.bundle['followups'])} follow-ups, "
                f"{len(self.bundle['incidents'])} incidents"
            )
        self.check_checkpoint()
        events = self.check_custody()
        self.check_export_receipt()
        if self.bundle:
            for testimony_id in self.bundle["testimonies"]:
                self.check_testimony(testimony_id)
            self.check_layout()
            self.check_forms()
            self.check_incidents()
        self.check_events_disclosure(events)
        if self.newer is not None:
            self.check_newer()
        if self.disclosure is not None:
            self.check_disclosure()
        if self.witnesses is not None:
            self.check_witnesses()
        if self.log is not None:
            self.check_log({e.id for e in events})
        for kind in KINDS:
            self.verdict.items.extend(self.items[kind])
        return self.verdict

    # --- the bag ----------------------------------------------------------------------

    def check_bag(self) -> None:
        self.bag = read_bag(self.root)
        for problem in self.bag.problems:
            self.fail("bag", problem.path or ".", problem.message)
        if self.bag.ok:
            self.items["bag"].append(
                Item(
                    "bag",
                    ".",
                    True,
                    f"BagIt 1.0: {len(self.bag.payload)} payload files and "
                    f"{len(self.bag.tag_files)} tag files match their manifests",
                )
            )

    def read_bundle(self) -> None:
        value = _object(
            _read_json(self.data / layout.BUNDLE_JSON, "bundle.json"),
            "bundle.json",
            _BUNDLE_MEMBERS,
        )
        if value["v"] != 1 or type(value["v"]) is not int:
            raise _Bad("bundle.json is not of version 1")
        for name in ("id", "profile", "exported_by"):
            if not isinstance(value[name], str) or not value[name]:
                raise _Bad(f"bundle.json's `{name}` is not text")
        _index(value["checkpoint"], "bundle.json's `checkpoint`")
        _ids(value["testimonies"], "bundle.json's `testimonies`")
        _ids(value["followups"], "bundle.json's `followups`")
        _ids(value["incidents"], "bundle.json's `incidents`", digits=32)
        self.redactions = _redactions(value)
        identifier = self.bag.info.get("External-Identifier", [None])[0]
        if identifier != value["id"]:
            raise _Bad("bundle.json's `id` is not bag-info.txt's External-Identifier")
        self.bundle = value
        self.verdict.bundle_id = value["id"]
        self.verdict.profile = value["profile"]

    def _accounted(self, path: str) -> bool:
        """Whether §11's layout (and bundle.json) accounts for the payload file ``path``."""
        if path in _TOP_FILES or path.startswith(("forms/", "incidents/")):
            return True  # forms and incidents have checks of their own
        parts = path.split("/")
        if (
            parts[0] != "testimonies"
            or len(parts) < 3
            or parts[1] not in self.bundle["testimonies"]
        ):
            return False
        rest = parts[2:]
        if rest[0] == layout.FOLLOWUPS:
            if len(rest) < 3:
                return False
            rest = rest[2:]  # a follow-up's folder, checked by check_followup
        if len(rest) == 1:
            return rest[0] in _ITEM_FILES
        return len(rest) == 2 and rest[0] in (layout.BLOBS, layout.FILES)  # checked by _files

    def check_layout(self) -> None:
        """Every payload file is one §11 accounts for; everything listed is there."""
        for required in (layout.REPORT,):
            if required not in self.bag.payload:
                self.fail("bag", f"data/{required}", "is missing (§11 requires it)")
        for path in sorted(self.bag.payload):
            if not self._accounted(path):
                self.fail("bag", f"data/{path}", "is no part of §11's layout or of bundle.json")
        present = {p.split("/")[1] for p in self.bag.payload if p.startswith("testimonies/")}
        for missing in sorted(set(self.bundle["testimonies"]) - present):
            self.fail("bag", f"data/testimonies/{missing}", "is listed in bundle.json but missing")
        found = {
            p.split("/")[3]
            for p in self.bag.payload
            if p.startswith("testimonies/") and p.split("/")[2:3] == [layout.FOLLOWUPS]
        }
        for missing in sorted(set(self.bundle["followups"]) - found):
            self.fail("bag", f"followup {missing}", "is listed in bundle.json but missing")

    # --- the checkpoint and the log key ------------------------------------------------

    def check_checkpoint(self) -> None:
        with self.item("checkpoint", layout.CHECKPOINT) as said:
            path = self.data / layout.LOG_KEY
            if not path.is_file() or path.is_symlink():
                raise _Bad("custody/log-key.txt is missing")
            carried = path.read_text(encoding="utf-8").strip()
            if self.pinned is not None and carried != self.pinned:
                self.key = self.pinned
                raise _Bad(
                    "the bag's log key is not the pinned one: this bundle is of another log "
                    "(or forged)"
                )
            self.key = self.pinned if self.pinned is not None else carried
            note.parse_verifier_key(self.key)
            text = self.data / layout.CHECKPOINT
            if not text.is_file() or text.is_symlink():
                raise _Bad("custody/checkpoint.txt is missing")
            carried_note = text.read_text(encoding="utf-8")
            self.checkpoint = checkpoints.verify(carried_note, self.key)
            self.notes.append((carried_note, "the bundle's checkpoint"))
            if self.bundle and self.bundle["checkpoint"] != self.checkpoint.size:
                raise _Bad(
                    f"bundle.json names a tree of {self.bundle['checkpoint']} entries, the "
                    f"checkpoint one of {self.checkpoint.size}"
                )
            self.verdict.checkpoint = self.checkpoint.size
            said.append(
                f"signed by the log key {self.key.split('+')[0]}: a tree of "
                f"{self.checkpoint.size} entries at {format_time(self.checkpoint.time)}"
            )

    def included(self, logged: _Logged, proof: Mapping[str, Any] | None = None) -> None:
        """Raise unless ``logged`` is the entry its id names, included in the checkpoint."""
        if merkle.leaf_hash(logged.data).hex() != logged.id:
            raise _Bad("the entry does not hash to its id")
        if self.checkpoint is None:
            raise _Bad("no verified checkpoint to prove its inclusion against")
        if proof is None:
            path = _path(logged.line.get("path"), "its proof")
        else:
            if _index(proof.get("index"), "proof.json's `index`") != logged.index:
                raise _Bad("proof.json is for another index than entry.json's")
            if proof.get("size") != self.checkpoint.size:
                raise _Bad("proof.json is not for the bundle's checkpoint")
            path = _path(proof.get("path"), "proof.json's `path`")
        if logged.index >= self.checkpoint.size:
            raise _Bad("its index lies beyond the bundle's checkpoint")
        try:
            merkle.verify_inclusion(
                logged.index,
                self.checkpoint.size,
                merkle.leaf_hash(logged.data),
                path,
                self.checkpoint.root,
            )
        except CryptoError:
            raise _Bad("its inclusion proof does not lead to the checkpoint") from None

    # --- custody: governance and events ------------------------------------------------

    def _lines(self, name: str, *, keys: bool) -> list[_Logged]:
        path = self.data / name
        if not path.is_file() or path.is_symlink():
            raise _Bad(f"{name} is missing")
        found: list[_Logged] = []
        allowed = {"id", "index", "entry", "path"} | ({"key", "payload"} if keys else set())
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                what = f"{name} line {number}"
                try:
                    line = canonical.loads(raw.rstrip(b"\n"))
                except CryptoError:
                    raise _Bad(f"{what} is not well-formed JSON") from None
                line = _object(line, what)
                if not {"id", "index", "entry", "path"} <= set(line) <= allowed:
                    raise _Bad(f"{what} is not {{id, index, entry, path}}")
                data = _entry_bytes(line["entry"], f"{what}'s `entry`")
                try:
                    entry = parse_entry(data)
                except CryptoError:
                    raise _Bad(f"{what}'s entry is no entry of the protocol") from None
                found.append(
                    _Logged(str(line["id"]), _index(line["index"], what), data, entry, line)
                )
        indexes = [logged.index for logged in found]
        if indexes != sorted(set(indexes)):
            raise _Bad(f"{name} is not in log order, each entry once")
        return found

    def check_custody(self) -> list[_Logged]:
        governance: list[_Logged] = []
        events: list[_Logged] = []
        with self.item("governance", layout.GOVERNANCE) as said:
            governance = self._lines(layout.GOVERNANCE, keys=False)
            said.append(f"{len(governance)} entries")
        try:
            events = self._lines(layout.EVENTS, keys=True)
        except _Bad as bad:
            self.fail("custody-event", layout.EVENTS, str(bad))
        rows = sorted(
            [(g.index, 0, g) for g in governance] + [(e.index, 1, e) for e in events],
            key=lambda row: (row[0], row[1]),
        )
        replayed = 0
        for _at, kind, logged in rows:
            if kind == 0:
                if self._governance_entry(logged):
                    replayed += 1
            else:
                self._event(logged)
        self.intake_keys = set(self.governance.intake_keys)
        if governance:
            standing = self.governance.standing()
            self.items["governance"].append(
                Item(
                    "governance",
                    "standing",
                    replayed == len(governance),
                    f"{replayed} of {len(governance)} governance entries replayed: "
                    f"{len(standing)} reviewers with standing at the checkpoint (a revocation "
                    "after it is seen only with the public log)",
                )
            )
        self.check_reviewers(governance, events)
        return events

    def _governance_entry(self, logged: _Logged) -> bool:
        kind = logged.entry.TYPE
        if kind not in GOVERNANCE_TYPES:
            self.fail("governance", logged.id, f"a {kind} entry is no governance entry")
            return False
        try:
            self.included(logged)
        except _Bad as bad:
            # Not applied: an entry the log does not vouch for gives no one standing.
            self.fail("governance", logged.id, f"{kind} entry at index {logged.index}: {bad}")
            return False
        try:
            self.governance.apply(logged.data)
        except CryptoError as error:
            self.fail(
                "governance",
                logged.id,
                f"{kind} entry at index {logged.index} breaks §12's rules ({error.code})",
            )
            return False
        return True

    def _event(self, logged: _Logged) -> None:
        entry = logged.entry
        with self.item("custody-event", logged.id) as said:
            self.included(logged)
            testimonies = set(self.bundle.get("testimonies", []))
            incidents = set(self.bundle.get("incidents", []))
            has_key = "key" in logged.line or "payload" in logged.line
            if isinstance(entry, AccessEntry):
                if has_key:
                    raise _Bad("an access entry has nothing to disclose")
                concerned = testimonies.intersection(entry.subjects)
                if not concerned:
                    raise _Bad("this access entry concerns no testimony of the bundle")
                role = self.governance.standing().get(entry.reviewer)
                if role not in _READERS:
                    raise _Bad(f"access by {_short(entry.reviewer)}, who had no standing then")
                said.append(
                    f"access (index {logged.index}): the server handed reviewer "
                    f"{_short(entry.reviewer)} ({role}) the ciphertext of {len(concerned)} "
                    "testimonies of the bundle"
                )
            elif isinstance(entry, SignedReplyEntry | ReplyEntry):
                if has_key:
                    raise _Bad("a reply stays sealed to the witness: nothing to disclose")
                if entry.parent not in testimonies:
                    raise _Bad("this reply is to no testimony of the bundle")
                if isinstance(entry, SignedReplyEntry):
                    self._standing(entry)
                    said.append(
                        f"reply (index {logged.index}) by {_short(entry.actor)} to testimony "
                        f"{_short(entry.parent)}, signed, sealed to the witness"
                    )
                else:
                    said.append(
                        f"reply (index {logged.index}) to testimony {_short(entry.parent)}, "
                        "of an earlier version: unsigned"
                    )
            elif isinstance(entry, AnnotationEntry):
                self._standing(entry)
                if "key" not in logged.line or "payload" not in logged.line:
                    raise _Bad(
                        "an annotation in events.jsonl is disclosed: it lacks key or payload"
                    )
                key = _entry_bytes(logged.line["key"], "its `key`")
                if len(key) != KEY_LENGTH:
                    raise _Bad("its `key` is not 32 bytes")
                try:
                    opened = open_payload(key, b64u_encode(entry.sealed))
                except CryptoError:
                    raise _Bad("its disclosed K_e opens nothing: not this entry's key") from None
                payload = _object(logged.line["payload"], "its payload")
                if _jcs(opened) != _jcs(payload):
                    raise _Bad("its K_e opens the entry to another payload than the one given")
                kind = payload.get("kind")
                merged = payload.get("merged")
                named = {payload.get("incident"), *(merged if isinstance(merged, list) else [])}
                about = False
                if kind in CONTENT_KINDS:
                    about = payload.get("testimony") in testimonies
                elif kind in INCIDENT_KINDS:
                    about = bool(named & incidents) or payload.get("testimony") in testimonies
                if not about:
                    raise _Bad(f"this {kind} annotation concerns nothing of the bundle")
                self.disclosed.append((logged.index, logged.id, payload))
                said.append(
                    f"annotation `{kind}` (index {logged.index}) by {_short(entry.actor)}: "
                    "signed with standing; its disclosed K_e opens it to its payload"
                )
            else:
                raise _Bad(f"a {entry.TYPE} entry is no custody event")

    def _standing(self, entry: AnnotationEntry | SignedReplyEntry) -> None:
        try:
            self.governance.check(entry)
        except CryptoError as error:
            raise _Bad(
                f"not signed by a reviewer with standing at its place in the log ({error.code})"
            ) from None

    def check_reviewers(self, governance: Sequence[_Logged], events: Sequence[_Logged]) -> None:
        with self.item("governance", layout.REVIEWERS) as said:
            value = _object(
                _read_json(self.data / layout.REVIEWERS, "reviewers.json"), "reviewers.json"
            )
            actors: set[str] = set()
            for logged in [*governance, *events]:
                if isinstance(logged.entry, SignedEntry):
                    actors.add(logged.entry.actor)
                if isinstance(logged.entry, AccessEntry):
                    actors.add(logged.entry.reviewer)
            members = self.governance.members
            for actor in sorted(actors):
                given = value.get(actor)
                member = members.get(actor)
                if given is None:
                    raise _Bad(f"reviewers.json lacks the keys of {_short(actor)}")
                given = _object(
                    given, f"reviewers.json's {_short(actor)}", frozenset({"sign_key", "box_key"})
                )
                if member is None or (
                    _entry_bytes(given["sign_key"], "a sign_key") != member.sign_key
                    or _entry_bytes(given["box_key"], "a box_key") != member.box_key
                ):
                    raise _Bad(f"reviewers.json gives {_short(actor)} keys the log never enrolled")
            said.append(f"the keys of {len(actors)} actors, as the log enrolled them")

    def check_events_disclosure(self, events: Sequence[_Logged]) -> None:
        """Custody events listed: a summary item (each event has its own)."""
        if not events and not self.items["custody-event"]:
            self.items["custody-event"].append(
                Item("custody-event", layout.EVENTS, True, "no custody event listed")
            )

    # --- testimonies and follow-ups ----------------------------------------------------

    def _read(self, relative: str) -> bytes:
        path = self.data / relative
        if relative not in self.bag.payload or not path.is_file() or path.is_symlink():
            raise _Bad(f"{relative} is missing")
        if path.stat().st_size > _MAX_JSON:
            raise _Bad(f"{relative} is too large to be read")
        return path.read_bytes()

    def _logged(self, folder: str, item_id: str) -> tuple[_Logged, dict[str, Any]]:
        value = _object(
            _read_json(self.data / folder / layout.ENTRY, f"{folder}/entry.json"),
            "entry.json",
            frozenset({"id", "index", "entry"}),
        )
        if value["id"] != item_id:
            raise _Bad("entry.json names another id than its folder")
        data = _entry_bytes(value["entry"], "entry.json's `entry`")
        try:
            entry = parse_entry(data)
        except CryptoError:
            raise _Bad("entry.json's entry is no entry of the protocol") from None
        logged = _Logged(
            item_id, _index(value["index"], "entry.json's `index`"), data, entry, value
        )
        proof = _object(
            _read_json(self.data / folder / layout.PROOF, f"{folder}/proof.json"),
            "proof.json",
            frozenset({"index", "size", "path"}),
        )
        self.included(logged, proof)
        manifest = _object(
            _read_json(self.data / folder / layout.MANIFEST, f"{folder}/manifest.json"),
            "manifest.json",
        )
        return logged, manifest

    def _sealed(
        self, folder: str, entry: SubmissionEntry | FollowupEntry, manifest: dict[str, Any]
    ) -> str:
        """The ciphertexts and what the CEK opens; the sentence saying so."""
        for name, named in ((layout.HEADER, entry.header), (layout.BODY, entry.body)):
            relative = f"{folder}/{name}"
            if relative not in self.bag.payload:
                raise _Bad(f"{name} is missing")
            if self.bag.payload[relative][0] != named:
                raise _Bad(f"{name} does not hash to what the entry names")
        if entry.intake_key not in self.intake_keys:
            raise _Bad("it is sealed to an intake key the log never named")
        cek_path = f"{folder}/{layout.CEK}"
        withheld = self.redactions.get(folder.split("/")[-1], {})
        if cek_path not in self.bag.payload:
            if not withheld:
                raise _Bad("cek.txt is missing and nothing of it is listed as withheld")
            self._marked(manifest, withheld)
            return (
                f"{len(withheld)} item(s) withheld ({', '.join(sorted(withheld))}), each listed "
                "with a commitment; its released answers are vouched for by the export entry's "
                "signature, not opened by a key"
            )
        if withheld:
            raise _Bad("cek.txt would open what bundle.json lists as withheld")
        cek = _entry_bytes(self._read(cek_path).decode("ascii", "replace").strip(), "cek.txt")
        if len(cek) != KEY_LENGTH:
            raise _Bad("cek.txt does not hold a 32-byte key")
        body = self._read(f"{folder}/{layout.BODY}")
        try:
            opened = open_body(cek, body)
        except CryptoError:
            raise _Bad("cek.txt does not open body.bin") from None
        if _jcs(opened) != _jcs(manifest):
            raise _Bad("cek.txt opens body.bin to another manifest than manifest.json")
        return "cek.txt opens body.bin to exactly manifest.json"

    @staticmethod
    def _marked(manifest: Mapping[str, Any], withheld: Mapping[str, str]) -> None:
        """The released manifest marks ``{"withheld": true}`` exactly what is listed."""
        marked = set()
        answers = manifest.get("answers")
        for field_id, value in answers.items() if isinstance(answers, dict) else []:
            if value == _WITHHELD:
                marked.add(f"answers/{field_id}")
        files = manifest.get("attachments")
        for n, value in enumerate(files if isinstance(files, list) else []):
            if value == _WITHHELD:
                marked.add(f"files/{n}")
        if manifest.get("text") == _WITHHELD:
            marked.add("text")
        if marked != set(withheld):
            raise _Bad(
                "manifest.json marks as withheld other items than bundle.json's redactions list"
            )

    def _files(
        self, folder: str, entry: SubmissionEntry | FollowupEntry, manifest: dict[str, Any]
    ) -> None:
        listed = manifest.get("attachments", [])
        if not isinstance(listed, list):
            self.fail("file", folder, "the manifest's `attachments` is not a list")
            return
        names: set[str] = set()
        blobs: set[str] = set()
        for n, descriptor in enumerate(listed):
            if descriptor == {"withheld": True}:
                continue
            name = layout.file_name(
                n, descriptor.get("name") if isinstance(descriptor, dict) else None
            )
            relative = f"{folder}/{layout.FILES}/{name}"
            names.add(relative)
            with self.item("file", relative) as said:
                said.append(self._file(folder, entry, descriptor, relative, blobs))
        for path in self.under(f"{folder}/{layout.FILES}"):
            if path not in names:
                self.fail("file", path, "is no file the manifest describes")
        for path in self.under(f"{folder}/{layout.BLOBS}"):
            if path not in blobs:
                self.fail("file", path, "is no blob of a file the manifest describes")

    def _file(
        self,
        folder: str,
        entry: SubmissionEntry | FollowupEntry,
        descriptor: Any,
        relative: str,
        blobs: set[str],
    ) -> str:
        blob = descriptor.get("blob") if isinstance(descriptor, dict) else None
        if not isinstance(blob, str) or blob not in entry.attachments:
            # The witness's client described a file the log does not fix: no key
            # can vouch for it, and the export leaves it out.
            if relative in self.bag.payload:
                raise _Bad("the log entry fixes no blob of this file: nothing vouches for it")
            return (
                "not in the bundle: the log entry fixes no blob of this file (a fault of the "
                "witness's client), so nothing could vouch for it"
            )
        size = descriptor.get("size")
        digest = descriptor.get("sha256")
        blob_path = f"{folder}/{layout.BLOBS}/{blob}"
        blobs.add(blob_path)
        if blob_path not in self.bag.payload:
            raise _Bad(f"blobs/{_short(blob)}… is missing")
        if self.bag.payload[blob_path][0] != blob:
            raise _Bad(f"blobs/{_short(blob)}… does not hash to its name")
        if relative not in self.bag.payload:
            raise _Bad("the decrypted file is missing")
        key = _entry_bytes(descriptor.get("key"), "its key")
        if len(key) != KEY_LENGTH:
            raise _Bad("its key is not 32 bytes")
        if type(size) is not int or size < 0 or not isinstance(digest, str):
            raise _Bad("its descriptor lacks size or sha256")
        opened = _Counting()
        try:
            for piece in attachment_chunks(key, size, _read_chunks(self.bag.disk_names[blob_path])):
                opened.add(piece)
        except CryptoError:
            raise _Bad(f"its key does not open blobs/{_short(blob)}…") from None
        if opened.hexdigest() != digest or opened.size != size:
            raise _Bad("what its key opens does not match the manifest's size and sha256")
        if self.bag.payload[relative] != (digest, size):
            raise _Bad("the file is not what its key opens (size or sha256 differ)")
        return (
            f"{size} bytes, opened from blob {_short(blob)}… with its key; its SHA-256 is "
            "the manifest's"
        )

    def check_testimony(self, testimony_id: str) -> None:
        folder = layout.testimony_dir(testimony_id)
        manifest: dict[str, Any] | None = None
        entry: SubmissionEntry | None = None
        with self.item("testimony", testimony_id) as said:
            logged, manifest = self._logged(folder, testimony_id)
            if not isinstance(logged.entry, SubmissionEntry):
                raise _Bad("entry.json is no submission entry")
            entry = logged.entry
            said.append(f"logged at index {logged.index}, included in the checkpoint;")
            said.append(self._sealed(folder, entry, manifest) + ";")
            said.append(self._consent(manifest))
        if entry is not None and manifest is not None:
            self._files(folder, entry, manifest)
        followups = sorted(
            {
                p.split("/")[3]
                for p in self.under(f"{folder}/{layout.FOLLOWUPS}")
                if p.count("/") >= 4
            }
        )
        for followup_id in followups:
            self.check_followup(testimony_id, followup_id)

    def _consent(self, manifest: Mapping[str, Any]) -> str:
        recipient = self.payload.get("recipient") if self.payload else None
        consent = manifest.get("consent")
        shares = consent.get("share_with") if isinstance(consent, dict) else None
        if not isinstance(shares, list):
            raise _Bad("its manifest has no consent")
        if recipient is None:
            return "its consent is not checked: the export receipt did not open"
        if recipient not in shares:
            raise _Bad(f"its consent does not include the export's recipient ({recipient})")
        return f"its consent includes the recipient ({recipient})"

    def check_followup(self, parent: str, followup_id: str) -> None:
        folder = layout.followup_dir(parent, followup_id)
        manifest: dict[str, Any] | None = None
        entry: FollowupEntry | None = None
        with self.item("followup", followup_id) as said:
            if followup_id not in self.bundle["followups"]:
                raise _Bad("this follow-up is not listed in bundle.json")
            logged, manifest = self._logged(folder, followup_id)
            if not isinstance(logged.entry, FollowupEntry):
                raise _Bad("entry.json is no followup entry")
            entry = logged.entry
            if entry.parent != parent:
                raise _Bad("its entry names another parent than its folder")
            try:
                verify_followup_entry(entry)
            except CryptoError:
                raise _Bad("the witness's signature does not verify") from None
            said.append(
                f"logged at index {logged.index}, included in the checkpoint; signed by the "
                f"witness of {_short(parent)};"
            )
            said.append(self._sealed(folder, entry, manifest))
        if entry is not None and manifest is not None:
            self._files(folder, entry, manifest)

    # --- forms and incidents -----------------------------------------------------------

    def check_forms(self) -> None:
        named: set[tuple[str, Any, str]] = set()
        for testimony_id in self.bundle["testimonies"]:
            with contextlib.suppress(_Bad, OSError):
                manifest = _read_json(
                    self.data / layout.testimony_dir(testimony_id) / layout.MANIFEST, "manifest"
                )
                form = manifest.get("form") if isinstance(manifest, dict) else None
                if isinstance(form, dict):
                    named.add((str(form.get("id")), form.get("version"), str(form.get("sha256"))))
        for path in sorted(p for p in self.bag.payload if p.startswith("forms/")):
            with self.item("bag", f"data/{path}") as said:
                definition = _object(_read_json(self.data / path, path), path)
                form_id, version = str(definition.get("id")), definition.get("version")
                if type(version) is not int or path != layout.form_path(form_id, version):
                    raise _Bad("its name is not <id>-<version>.json of the form it holds")
                if (form_id, version, _sha256(_jcs(definition))) not in named:
                    raise _Bad("no testimony of the bundle names this form with this hash")
                said.append(f"form {form_id} version {version}, as the testimonies name it")

    def check_incidents(self) -> None:
        listed = set(self.bundle["incidents"])
        present = {p for p in self.bag.payload if p.startswith("incidents/")}
        for path in sorted(present - {layout.incident_path(i) for i in listed}):
            self.fail("incident", f"data/{path}", "is no incident bundle.json lists")
        annotations = [(entry_id, payload) for _i, entry_id, payload in self.disclosed]
        for incident_id in self.bundle["incidents"]:
            path = layout.incident_path(incident_id)
            with self.item("incident", incident_id) as said:
                value = _read_json(self.data / path, path)
                folded = fold_incident(incident_id, annotations)
                if _jcs(value) != _jcs(folded):
                    raise _Bad(f"{path} is not the record its disclosed annotations fold to")
                said.append(
                    f"the record its {len(folded['history'])} disclosed annotations fold to"
                )

    # --- the export receipt ------------------------------------------------------------

    def check_export_receipt(self) -> None:
        with self.item("export-receipt", layout.EXPORT_RECEIPT) as said:
            path = self.root / layout.EXPORT_RECEIPT
            receipt = _object(_read_json(path, "export-receipt.json"), "export-receipt.json")
            if self.key is None or self.checkpoint is None:
                raise _Bad("no verified checkpoint to check it against")
            verified = verify_receipt(receipt, self.key)
            entry = parse_entry(verified.entry)
            if not isinstance(entry, ExportEntry):
                raise _Bad("its entry is no export entry")
            if not self.bundle or entry.actor != self.bundle["exported_by"]:
                raise _Bad("its entry's actor is not bundle.json's `exported_by`")
            self.receipt_checkpoint = verified.checkpoint
            self.exported = verified
            self.later.append(verified.checkpoint)
            if self.bag.manifest_sha256 is None or entry.manifest != self.bag.manifest_sha256:
                raise _Bad("the export entry does not commit to this bag's manifest-sha256.txt")
            self._standing_at_checkpoint(entry)
            if verified.index < self.checkpoint.size:
                raise _Bad("the export entry lies inside the bundle's checkpoint")
            self._consistent(receipt, verified.checkpoint, "the export receipt")
            self.notes.append((str(receipt["checkpoint"]), "the export receipt's checkpoint"))
            second = verified.checkpoint.size
            approved = self._approved(receipt, verified)
            key = _entry_bytes(receipt.get("key"), "its `key`")
            if len(key) != KEY_LENGTH:
                raise _Bad("its `key` is not 32 bytes")
            try:
                opened = open_payload(key, b64u_encode(entry.sealed))
            except CryptoError:
                raise _Bad("its K_e does not open the export entry") from None
            payload = _object(receipt.get("payload"), "its `payload`", _EXPORT_PAYLOAD)
            if _jcs(opened) != _jcs(payload):
                raise _Bad("its K_e opens the export entry to another payload than the one given")
            if payload["v"] != 1 or payload["kind"] != "export":
                raise _Bad("its payload is no export payload of version 1")
            for name in ("profile", "testimonies", "followups", "incidents"):
                if payload[name] != self.bundle[name]:
                    raise _Bad(f"its payload's `{name}` is not bundle.json's")
            if not isinstance(payload["recipient"], str):
                raise _Bad("its payload names no recipient")
            if (entry.salts is None) != (not self.bundle["redactions"]):
                raise _Bad("its salts and bundle.json's redactions disagree")
            self.payload = payload
            said.append(
                f"export by {_short(entry.actor)} for {payload['recipient']} logged at index "
                f"{verified.index} (checkpoint of {second} entries, consistent with the "
                "bundle's); it commits to this bag's manifest; its K_e opens it to its payload, "
                f"which names exactly this bundle's contents{approved}"
            )

    def _standing_at_checkpoint(self, entry: ExportEntry) -> None:
        member = self.governance.members.get(entry.actor)
        if member is None:
            raise _Bad("its actor is no reviewer the governance entries know")
        try:
            entry.verify_signature(member.sign_key)
        except CryptoError:
            raise _Bad("the export entry's signature does not verify") from None
        if self.governance.standing().get(entry.actor) not in _WRITERS:
            raise _Bad("its actor has no standing to export at the bundle's checkpoint")

    def _approved(self, receipt: Mapping[str, Any], exported: Any) -> str:
        """Four eyes (§11, §12.3): when the policy's export quorum is above 1, the
        receipts of the approvals that made the export take effect, each in a
        checkpoint consistent with the bundle's, replayed by §12's rules on the
        standing at the bundle's checkpoint. The sentence saying so ("" when
        the policy asks no approval)."""
        policy = self.governance.policy
        if policy is None or policy.quorum("export") <= 1:
            if "approvals" in receipt:
                raise _Bad("it carries approvals the policy does not ask for")
            return ""
        approvals = receipt.get("approvals")
        if not isinstance(approvals, list):
            raise _Bad(
                f"the policy asks {policy.quorum('export')} admins to approve an export, and "
                "the receipt carries no approvals"
            )
        assert self.checkpoint is not None and self.key is not None
        governance = copy.deepcopy(self.governance)
        try:
            governance.apply(exported.entry)
        except CryptoError as error:
            raise _Bad(f"the export entry is refused by §12's rules: {error}") from None
        export_id = merkle.leaf_hash(exported.entry).hex()
        last = exported.index
        for n, approval in enumerate(approvals):
            what = f"approval {n}"
            if not isinstance(approval, dict):
                raise _Bad(f"{what} is not a receipt")
            try:
                verified = verify_receipt(approval, self.key)
            except CryptoError as error:
                raise _Bad(f"{what}'s receipt does not verify: {error}") from None
            self._consistent(approval, verified.checkpoint, what)
            self.later.append(verified.checkpoint)
            self.notes.append((str(approval["checkpoint"]), f"the checkpoint of {what}"))
            entry = parse_entry(verified.entry)
            if not isinstance(entry, ApprovalEntry) or entry.subject != export_id:
                raise _Bad(f"{what} is no approval of this export")
            if verified.index <= last:
                raise _Bad(f"{what} is not logged after the export and the approvals before it")
            last = verified.index
            try:
                governance.apply(verified.entry)
            except CryptoError as error:
                raise _Bad(f"{what} does not count: {error}") from None
        proposal = governance.proposals[export_id]
        if proposal.effective_at is None:
            raise _Bad(
                f"its {len(approvals)} approvals do not bring the export to its quorum of "
                f"{policy.quorum('export')}"
            )
        admins = ", ".join(sorted(_short(a) for a in proposal.approvals))
        return f"; approved by {len(proposal.approvals)} admins ({admins}), as the policy asks"

    def _consistent(
        self, receipt: Mapping[str, Any], later: checkpoints.Checkpoint, what: str
    ) -> None:
        """``receipt["consistency"]`` proves ``later`` extends the bundle's checkpoint."""
        assert self.checkpoint is not None
        consistency = _object(
            receipt.get("consistency"),
            f"the `consistency` of {what}",
            frozenset({"from", "to", "path"}),
        )
        first, second = self.checkpoint.size, later.size
        if consistency["from"] != first or consistency["to"] != second:
            raise _Bad(
                f"the consistency proof of {what} is not from the bundle's checkpoint to its own"
            )
        try:
            merkle.verify_consistency(
                first,
                second,
                self.checkpoint.root,
                later.root,
                _path(consistency["path"], f"the consistency path of {what}"),
            )
        except CryptoError:
            raise _Bad(
                f"the checkpoint of {what} does not extend the bundle's (the consistency proof "
                "fails)"
            ) from None

    # --- a full disclosure of what was withheld ---------------------------------------

    def check_disclosure(self) -> None:
        """With ``--disclosure`` (``testimony exports disclose``): every item
        ``redactions`` lists is disclosed once, and ``H(salt || JCS(value))``
        is its commitment — which the export entry's signature vouches for, as
        part of ``bundle.json``: the withheld values are proved, not trusted."""
        with self.item("disclosure", "--disclosure") as said:
            value = _object(
                self.disclosure, "the disclosure", frozenset({"v", "bundle", "export", "items"})
            )
            if value["v"] != 1 or value["bundle"] != self.bundle.get("id"):
                raise _Bad("it is not a disclosure of version 1 of this bundle")
            items = value["items"]
            if not isinstance(items, list):
                raise _Bad("its `items` is not a list")
            seen: set[tuple[str, str]] = set()
            for n, item in enumerate(items):
                what = f"its item {n}"
                item = _object(item, what, frozenset({"testimony", "path", "salt", "value"}))
                place = (str(item["testimony"]), str(item["path"]))
                commitment = self.redactions.get(place[0], {}).get(place[1])
                if commitment is None or place in seen:
                    raise _Bad(
                        f"{what} ({place[1]} of {_short(place[0])}…) is no redaction of the bundle, or is repeated"
                    )
                seen.add(place)
                salt = _entry_bytes(item["salt"], f"{what}'s salt")
                try:
                    made = redaction_commitment(salt, item["value"])
                except CryptoError as error:
                    raise _Bad(f"{what}: {error}") from None
                if made != commitment:
                    raise _Bad(
                        f"{what} ({place[1]} of {_short(place[0])}…) is not what was withheld: "
                        "its salted hash is not the bundle's commitment"
                    )
            listed = {(b, p) for b, paths in self.redactions.items() for p in paths}
            if seen != listed:
                raise _Bad(f"it discloses {len(seen)} of the {len(listed)} withheld items")
            said.append(
                f"all {len(seen)} withheld items disclosed; each salted hash is the bundle's "
                "commitment, which the export's signature vouches for"
            )

    # --- witnesses (§13) -------------------------------------------------------------

    def check_witnesses(self) -> None:
        """With pinned witness keys: some checkpoint the bundle's is consistent
        with (its own, the receipt's, an approval's, or the newer one given) is
        cosigned by enough of them, each cosignature verifying; a line claiming
        a pinned witness that does not verify fails, as a forgery."""
        assert self.witnesses is not None
        keys, needed = self.witnesses
        with self.item("witnesses", f"{len(keys)} pinned") as said:
            if not self.notes:
                raise _Bad(
                    "no checkpoint of the bundle verified: nothing to look for cosignatures on"
                )
            best: tuple[int, str, list[cosignature.Cosignature]] = (0, "", [])
            for text, whose in self.notes:
                try:
                    found = cosignature.cosignatures(text, keys)
                except CryptoError as error:
                    raise _Bad(f"{whose}: {error} (forged, or altered)") from None
                if len(found) > best[0]:
                    best = (len(found), whose, found)
            count, whose, found = best
            if count < needed:
                raise _Bad(
                    f"no checkpoint of the bundle carries {needed} valid cosignatures of the "
                    f"pinned witnesses (at most {count}); a later cosigned checkpoint from the "
                    "log can be given with --checkpoint"
                )
            names = ", ".join(c.name for c in found)
            said.append(
                f"{whose} is cosigned by {count} pinned witnesses ({names}), {needed} required; "
                "the bundle's checkpoint is consistent with it, so the log could not show these "
                "witnesses another history"
            )
            self.verdict.witnessed = count

    # --- the public log ----------------------------------------------------------------

    def check_log(self, events: set[str]) -> None:
        """With the public log (``--log``): it rebuilds the bundle's and the
        receipt's checkpoints; no ``access``, ``followup`` or ``reply`` entry
        concerning an included testimony before the bundle's checkpoint is left
        out; and §12's replay of the whole log up to the receipt's checkpoint
        accepts the export entry where it stands (a revocation after the
        bundle's checkpoint shows here), and its approvals."""
        assert self.log is not None
        source, read = self.log
        with self.item("log", source) as said:
            if self.checkpoint is None or self.exported is None:
                raise _Bad("the bundle's checkpoint or its export receipt did not verify")
            first = self.checkpoint.size
            size = max(c.size for c in self.later)
            try:
                entries = read(size)
            except Exception as error:  # the reader's own error, or the network's
                raise _Bad(f"the log could not be read: {error}") from None
            if len(entries) < size:
                raise _Bad(
                    f"it holds {len(entries)} entries, fewer than the latest checkpoint the "
                    f"bundle names ({size})"
                )
            leaves = [merkle.leaf_hash(entry) for entry in entries[:size]]
            for checkpoint in (self.checkpoint, *self.later):
                if merkle.root(leaves[: checkpoint.size]) != checkpoint.root:
                    raise _Bad(
                        "it does not rebuild the bundle's checkpoints: another log, or a fork"
                    )
            included = set(self.bundle["testimonies"])
            followups = set(self.bundle["followups"])
            missing: list[str] = []
            governance = Governance()
            for index, data in enumerate(entries[:size]):
                entry_id = leaves[index].hex()
                try:
                    entry = parse_entry(data)
                except CryptoError:
                    continue
                if index < first:
                    left_out = (
                        (isinstance(entry, AccessEntry) and included & set(entry.subjects))
                        or (
                            isinstance(entry, ReplyEntry | SignedReplyEntry)
                            and entry.parent in included
                        )
                    ) and entry_id not in events
                    if isinstance(entry, FollowupEntry) and entry.parent in included:
                        left_out = entry_id not in followups
                    if left_out:
                        missing.append(f"{entry.TYPE} at index {index}")
                if entry.TYPE not in GOVERNANCE_TYPES:
                    continue
                try:
                    governance.apply(data)
                except CryptoError as error:
                    if index == self.exported.index:
                        raise _Bad(
                            f"the log's rules refuse the export entry where it stands ({error}): "
                            "its actor had lost standing by then"
                        ) from None
            if missing:
                raise _Bad(
                    f"the bundle leaves out {len(missing)} entries concerning its testimonies: "
                    + ", ".join(missing[:5])
                    + ("…" if len(missing) > 5 else "")
                )
            export_id = merkle.leaf_hash(self.exported.entry).hex()
            proposal = governance.proposals.get(export_id)
            if proposal is not None and proposal.effective_at is None:
                raise _Bad("by the log, the export had not taken effect (approvals missing)")
            said.append(
                f"its {size} entries rebuild every checkpoint the bundle names; no "
                "access, follow-up or reply concerning the bundle's testimonies is left out; "
                "the export entry stands by §12's rules where it is in the log"
            )

    # --- a newer checkpoint ------------------------------------------------------------

    def check_newer(self) -> None:
        assert self.newer is not None
        with self.item("newer-checkpoint", "--checkpoint") as said:
            if self.key is None or self.checkpoint is None:
                raise _Bad("the bundle's checkpoint did not verify: nothing to compare with")
            text, proof = _split_newer(self.newer)
            newer = checkpoints.verify(text, self.key)
            known = [(self.checkpoint.size, self.checkpoint.root, "the bundle's")]
            if self.receipt_checkpoint is not None:
                known.append(
                    (self.receipt_checkpoint.size, self.receipt_checkpoint.root, "the receipt's")
                )
            for size, root, whose in known:
                if newer.size == size:
                    if newer.root != root:
                        raise _Bad(
                            f"the newer checkpoint is another tree of {size} entries than "
                            f"{whose}: the log has forked"
                        )
                    said.append(f"the same tree as {whose} checkpoint ({size} entries)")
                    self.notes.append((text, "the newer checkpoint"))
                    return
            if newer.size < self.checkpoint.size:
                raise _Bad("the newer checkpoint is older than the bundle's")
            if proof is None:
                raise _Bad(
                    f"cannot be checked offline: the bag holds no consistency proof from "
                    f"{self.checkpoint.size} to {newer.size} entries; append the log's "
                    f"proof/consistency?from={self.checkpoint.size}&to={newer.size} to the file"
                )
            first = proof.get("from")
            matching = [(s, r, w) for s, r, w in known if s == first]
            if proof.get("to") != newer.size or not matching:
                raise _Bad("the appended proof is not from the bundle's or receipt's size to its")
            size, root, whose = matching[0]
            try:
                merkle.verify_consistency(
                    size, newer.size, root, newer.root, _path(proof.get("path"), "its path")
                )
            except CryptoError:
                raise _Bad(
                    f"the newer checkpoint does not extend {whose}: the log has forked"
                ) from None
            said.append(f"a tree of {newer.size} entries that extends {whose} checkpoint")
            self.notes.append((text, "the newer checkpoint"))


class _Counting:
    def __init__(self) -> None:
        import hashlib

        self._hash = hashlib.sha256()
        self.size = 0

    def add(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _read_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while piece := handle.read(CHUNK):
            yield piece


def _split_newer(text: str) -> tuple[str, dict[str, Any] | None]:
    """A newer checkpoint's note, and the consistency proof appended after it (if any)."""
    lines = text.split("\n")
    try:
        blank = lines.index("")
    except ValueError:
        return text, None
    end = blank + 1
    while end < len(lines) and lines[end].startswith("\u2014 "):
        end += 1
    note_text = "\n".join(lines[:end]) + "\n"
    rest = "\n".join(lines[end:]).strip()
    if not rest:
        return note_text, None
    try:
        proof = json.loads(rest)
    except ValueError:
        raise _Bad("what follows the newer checkpoint is no consistency proof (JSON)") from None
    return note_text, _object(proof, "the appended proof", frozenset({"from", "to", "path"}))


def verify(
    path: Path | str,
    *,
    log_key: str | None = None,
    newer_checkpoint: Path | str | None = None,
    identity: Path | None = None,
    log: str | None = None,
    witness_keys: Sequence[str] = (),
    cosignatures: int | None = None,
    disclosure: Path | None = None,
) -> Verdict:
    """Check the bundle at ``path`` (a folder, a ZIP, or an age file with
    ``identity``) and return the verdict (see the module docstring).

    ``log_key`` pins the log's verifier key; ``newer_checkpoint`` is a newer
    signed checkpoint, as a file (:class:`~pathlib.Path`) or its text (a
    ``str``); ``log`` the public log, a server URL or a file
    (``public_log.reader``), against which the custody's completeness is
    checked; ``witness_keys`` (C2SP vkeys of type ``0x04``) are pinned
    witnesses of which ``cosignatures`` (default 1) must have cosigned a
    checkpoint the bundle's is consistent with (§13); ``disclosure`` a file
    of ``testimony exports disclose``, checked against the commitments. Raises
    :class:`BundleUnreadable` when ``path`` does not exist, ``MalformedInput``
    for a witness key that does not parse or a count that is not 1 to the
    number of keys, and the archive's ``ArchiveRefused`` for a ZIP or age file
    it refuses."""
    path = Path(path)
    disclosed = None
    if disclosure is not None:
        try:
            disclosed = canonical.loads(Path(disclosure).read_bytes())
        except CryptoError:
            raise BundleUnreadable(f"{disclosure} is not well-formed JSON") from None
    witnesses = None
    if witness_keys or cosignatures is not None:
        keys = [cosignature.parse_cosigner_key(k) for k in witness_keys]
        needed = 1 if cosignatures is None else cosignatures
        if type(needed) is not int or not 1 <= needed <= len(keys):
            raise MalformedInput(
                f"--cosignatures asks for 1 to {len(keys)} (the witness keys given), not {needed}"
            )
        witnesses = (keys, needed)
    newer: str | None = None
    if isinstance(newer_checkpoint, Path):
        newer = newer_checkpoint.read_text(encoding="utf-8")
    elif newer_checkpoint is not None:
        newer = newer_checkpoint
    if not path.exists():
        raise BundleUnreadable(f"no bundle at {path}")
    public = None
    if log is not None:
        public_log = importlib.import_module("testimony.client.bundle.public_log")
        public = (log, public_log.reader(log))
    if path.is_dir() and not path.is_symlink():
        return _Verifier(path, log_key, newer, public, witnesses, disclosed).run()
    archive = importlib.import_module("testimony.client.bundle.archive")
    with archive.open_bag(path, identity=identity) as root:
        return _Verifier(Path(root), log_key, newer, public, witnesses, disclosed).run()
