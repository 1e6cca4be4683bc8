"""``testimony export``: an evidence bundle of testimonies, from this
workstation, for one recipient (docs/protocol.md §11, §12.7).

:func:`export` writes the BagIt bag of §11 — for each testimony and each of
its follow-ups the logged entry, the exact ciphertexts, the disclosed CEK,
the decrypted manifest and files and an inclusion proof; the incident
records; the custody events; one checkpoint all proofs lead to; the log key,
every actor's keys, ``bundle.json``, ``report.html`` — and the ``export``
entry that commits to it, whose receipt is the bag's ``export-receipt.json``.
In order:

1. **What**: testimonies by id or prefix (``triage.find``), or an incident
   (its canonical record, the records merged into it, and the testimonies
   linked to it); each testimony's follow-ups come with it. Each must be
   readable in the cache (``sync`` first).
2. **Whether**: every testimony's ``consent.share_with`` must include the
   profile's (``profiles/<name>.json``: data, see :class:`Profile`)
   recipient, else the export is refused naming them
   (``consent-excludes-recipient``), nothing written; the exporter must have
   standing as a reviewer or admin (``no-standing``).
3. **The ciphertexts**, fetched through the reviewer's session
   (``POST /api/v1/ciphertext``, which logs an ``access`` entry — the export's
   own reading, part of the custody it reports) and checked against the
   entries' hashes; each header opened with the intake seed for its CEK. Then
   the log is synced (``sync.sync_log``) so that the bundle's checkpoint
   includes that access entry; every inclusion proof leads to that
   checkpoint, computed from the cache's verified log
   (``merkle.MemoryHashStore``). A follow-up logged meanwhile stops the export
   (``export-raced``: run it again).
4. **The custody** (one pass over the cached log up to the checkpoint,
   replaying the governance): ``governance.jsonl`` holds every governance
   entry (those of §11, and the earlier ``export`` entries); ``events.jsonl``
   every ``access`` entry naming an included testimony, every ``reply`` to one
   (it stays sealed to the witness) and every annotation about an included
   testimony or incident of a kind the profile discloses, judged at its place
   (signature, standing) and opened with the group secret of its epoch: its
   ``K_e`` (``HKDF(G_k, nonce)``) and payload disclosed.
5. **What is withheld** (a pseudonymising profile): the answers the form
   marks ``"identifying"`` and those the profile names, and under ``media``
   every file not released by name (``--release``); each is absent from the
   released manifest (``{"withheld": true}`` in its place) and listed in
   ``redactions`` with ``H(salt || JCS(value))``, a fresh 16-byte salt each;
   such a body gets no ``cek.txt``, its released files their own keys.
6. **The bag**, streamed (``client/bundle/bag.py``: every file hashed while
   it is written, 1 MiB at a time; a file's plaintext is decrypted chunk by
   chunk into the bag, never whole in memory — its ciphertext is read from the
   encrypted cache as one value, which SQLCipher's Python binding offers no
   way to stream). ``report.html``, ``report.pdf`` and ``VERIFY.txt`` are
   ``workstation/report.py``'s.
7. **The export entry** (§12.7): ``{"epoch", "manifest": H(manifest-sha256.txt),
   "sealed", "salts"}``, its payload sealed under its own ``K_e`` as an
   annotation's is, the salts (when anything is withheld) under the key of
   ``info = "testimony/v1 redaction salts"``; sent through the session, its
   receipt verified; the consistency proof from the bundle's checkpoint to
   the receipt's fetched and checked; ``export-receipt.json`` (the receipt,
   ``consistency``, ``key``, ``payload``) written as a tag file, then the tag
   manifest.
8. **Four eyes**: when the policy's export quorum is above 1 and the entry
   did not take effect at once, the bag is held (``<out>.partial``, its state
   in the encrypted cache) until :func:`release` finds the proposal in
   effect and adds the approvals' receipts (``"approvals"``).

The bag is written as ``<out>.partial`` and renamed to ``<out>`` only when
complete; with a ZIP (``zip_output``) or age recipients, in a private
folder beside ``<out>`` that is removed after (``client/bundle/archive.py``
writes the archive, itself through a partial file). On any error nothing is
left but, if the export entry was already logged, that entry: the message
says so. An existing ``<out>`` is never replaced (``out-exists``).

**Decisions** (§11 leaves them open): ``incidents/<id>.json`` is named by the
incident's own id (this workstation's records have one, §12.6's payloads
carry it) and is :func:`testimony.client.bundle.verify.fold_incident` of the
disclosed annotations; the bundle id is 16 random bytes in hex;
``Source-Organization`` is the log's origin; every JSON file is JCS.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from testimony.client.bundle import BAGIT_PROFILE_ID, archive, layout
from testimony.client.bundle.bag import BagWriteError, BagWriter
from testimony.client.bundle.verify import (
    CONTENT_KINDS,
    GOVERNANCE_TYPES,
    INCIDENT_KINDS,
    attachment_chunks,
    fold_incident,
)
from testimony.client.console import Progress
from testimony.crypto import canonical, merkle
from testimony.crypto import checkpoint as checkpoints
from testimony.crypto.encoding import b64u_decode, b64u_encode, sha256
from testimony.crypto.entries import (
    AccessEntry,
    AnnotationEntry,
    ApprovalEntry,
    Entry,
    ExportEntry,
    FollowupEntry,
    ReplyEntry,
    SignedReplyEntry,
    SubmissionEntry,
    parse_entry,
)
from testimony.crypto.errors import CryptoError
from testimony.crypto.governance import Governance, Proposal
from testimony.crypto.keyring import (
    NONCE_LENGTH,
    SALTS_INFO,
    Identity,
    group_key,
    open_payload,
    redaction_commitment,
    seal_payload,
)
from testimony.crypto.rfc3339 import format_time
from testimony.crypto.signing import private_key_from_seed
from testimony.crypto.submission import open_submission
from testimony.forms import SHARE_WITH, FormError, bundled_forms

from . import incidents as incident_records
from . import reading, report, triage
from .annotations import KINDS as ANNOTATION_KINDS
from .annotations import current_epoch
from .cache import Cache
from .home import WorkstationError
from .org import replay
from .session import MAX_CIPHERTEXT_SUBJECTS, ReviewerClient
from .sync import sync_log

__all__ = [
    "ExportRefused",
    "Exported",
    "Held",
    "Profile",
    "describe",
    "discard",
    "disclose",
    "export",
    "held_exports",
    "load_profile",
    "profile_names",
    "release",
    "waiting",
]

WITHHELD = {"withheld": True}
"""What stands in a released manifest for a withheld answer or file (§11)."""
SALT_LENGTH = 16
_PROFILE_MEMBERS = frozenset({"v", "name", "recipient", "description", "withhold", "annotations"})
_PROFILE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_CUSTODY_TYPES = ("access", "reply", "annotation", "followup")
_WRITERS = ("reviewer", "admin")


class ExportRefused(WorkstationError):
    """An export that cannot be made as asked; nothing was written."""

    code = "export-refused"


def _nothing(_phase: str, _done: int, _total: int) -> None:
    pass


# --- profiles ----------------------------------------------------------------------------


FILE_RULES = ("none", "all", "unless-released")
"""What a profile withholds of the files: nothing, every one, or every one a
reviewer does not release by name (``--release``)."""


@dataclass(frozen=True)
class Profile:
    """An export profile (``workstation/profiles/<name>.json``)::

    {"v": 1, "name", "recipient": <a consent share_with value>, "description",
     "withhold": {"identifying": true | false, "answers": [field ids],
                  "files": "none" | "all" | "unless-released"},
     "annotations": [the annotation kinds disclosed, with K_e and payload]}

    ``identifying`` withholds every answer the testimony's form marks
    ``"identifying": true`` (§5); ``answers`` names more fields to withhold.
    """

    name: str
    recipient: str
    description: str
    withhold_identifying: bool
    withheld_answers: tuple[str, ...]
    files: str
    annotations: frozenset[str]

    @property
    def redacts(self) -> bool:
        """Whether the profile may withhold anything of a body."""
        return self.withhold_identifying or bool(self.withheld_answers) or self.files != "none"


def profile_names() -> list[str]:
    """The profiles shipped with the workstation."""
    folder = resources.files(__package__).joinpath("profiles")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def _profile(value: Any, source: str) -> Profile:
    bad = ExportRefused(f"{source} is no export profile", "profile-invalid")
    if not isinstance(value, dict) or set(value) != _PROFILE_MEMBERS or value["v"] != 1:
        raise bad
    withhold = value["withhold"]
    kinds = value["annotations"]
    if (
        not isinstance(value["name"], str)
        or not _PROFILE_NAME.fullmatch(value["name"])
        or value["recipient"] not in SHARE_WITH
        or not isinstance(value["description"], str)
        or not isinstance(withhold, dict)
        or set(withhold) != {"identifying", "answers", "files"}
        or type(withhold["identifying"]) is not bool
        or not isinstance(withhold["answers"], list)
        or not all(isinstance(a, str) for a in withhold["answers"])
        or withhold["files"] not in FILE_RULES
        or not isinstance(kinds, list)
        or not set(kinds) <= ANNOTATION_KINDS - {"vocabulary"}
    ):
        raise bad
    return Profile(
        name=value["name"],
        recipient=value["recipient"],
        description=value["description"],
        withhold_identifying=withhold["identifying"],
        withheld_answers=tuple(withhold["answers"]),
        files=withhold["files"],
        annotations=frozenset(kinds),
    )


def load_profile(name: str) -> Profile:
    """The profile ``name`` (one of :func:`profile_names`), or the profile in
    the JSON file ``name`` ends with ``.json``. Raises :class:`ExportRefused`
    (``unknown-profile``, ``profile-invalid``)."""
    if name.endswith(".json") and Path(name).is_file():
        source, data = name, Path(name).read_bytes()
    elif _PROFILE_NAME.fullmatch(name) and name in profile_names():
        source = f"profile {name}"
        data = resources.files(__package__).joinpath("profiles", f"{name}.json").read_bytes()
    else:
        raise ExportRefused(
            f"no export profile {name!r} (there are {', '.join(profile_names())}, or give a "
            "profile's .json file)",
            "unknown-profile",
        )
    try:
        return _profile(canonical.loads(data), source)
    except CryptoError:
        raise ExportRefused(f"{source} is not well-formed JSON", "profile-invalid") from None


# --- what is exported ----------------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    """What :func:`export` wrote."""

    path: Path
    bundle_id: str
    testimonies: tuple[str, ...]
    followups: tuple[str, ...]
    incidents: tuple[str, ...]
    files: int
    events: int
    checkpoint: int
    """The tree size of the bundle's checkpoint."""
    export_index: int
    """The log index of the export entry."""
    withheld: int = 0
    """Answers and files withheld (``redactions``)."""
    proposal: str | None = None
    """When the export waits for approvals (four eyes): its entry id; the bag
    is held beside ``path`` until :func:`release`."""
    approvals: int = 0
    needed: int = 0


@dataclass
class _Sealed:
    """A testimony or follow-up as it goes into the bag."""

    id: str
    index: int
    data: bytes
    entry: SubmissionEntry | FollowupEntry
    header: bytes
    body: bytes
    cek: bytes
    manifest: dict[str, Any]
    folder: str
    followups: list[_Sealed] = field(default_factory=list)
    withheld: list[_Withheld] = field(default_factory=list)
    """What the profile withholds of this body, in the order of ``redactions``."""

    @property
    def released(self) -> dict[str, Any]:
        """The manifest as the bundle shows it (§11): each withheld answer and
        file descriptor replaced by ``{"withheld": true}``."""
        if not self.withheld:
            return self.manifest
        shown = dict(self.manifest)
        answers = dict(shown.get("answers") or {})
        files = list(shown.get("attachments") or [])
        for item in self.withheld:
            kind, _, name = item.path.partition("/")
            if kind == "answers":
                answers[name] = dict(WITHHELD)
            else:
                files[int(name)] = dict(WITHHELD)
        if "answers" in shown:
            shown["answers"] = answers
        if "attachments" in shown:
            shown["attachments"] = files
        return shown

    def withholds_file(self, n: int) -> bool:
        return f"files/{n}" in {item.path for item in self.withheld}


@dataclass(frozen=True)
class _Withheld:
    """One withheld answer or file: its path in ``redactions`` and what it was."""

    path: str
    value: Any
    salt: bytes = field(default_factory=lambda: os.urandom(SALT_LENGTH), repr=False)

    @property
    def commitment(self) -> str:
        return redaction_commitment(self.salt, self.value)


@dataclass
class _Custody:
    """The pass over the cached log (step 4 of the module docstring)."""

    governance: Governance
    lines: list[dict[str, Any]]
    events: list[dict[str, Any]]
    annotations: list[tuple[int, str, str, str, dict[str, Any]]]
    """Disclosed annotations: ``(index, entry id, actor, received, payload)``."""
    followups: dict[str, list[tuple[int, str, FollowupEntry, bytes]]]
    """Per included testimony, its follow-ups in log order."""
    actors: set[str]


def _jcs(value: Any) -> bytes:
    return canonical.dumps(value)


def _short(identifier: str) -> str:
    return identifier[:12]


def _resolve(
    cache: Cache, testimonies: Sequence[str], incidents: Sequence[str]
) -> tuple[list[str], list[str], dict[str, str]]:
    """The testimonies (log order), the incident ids, and each linked testimony's role."""
    chosen = {triage.find(cache, text) for text in testimonies}
    incident_ids: list[str] = []
    roles: dict[str, str] = {}
    for text in incidents:
        found = incident_records.canonical(cache, incident_records.find(cache, text))
        record = incident_records.get(cache, found)
        for incident_id in (found, *record.merged):
            if incident_id not in incident_ids:
                incident_ids.append(incident_id)
        for link in record.links:
            chosen.add(link.testimony)
            roles.setdefault(link.testimony, link.role)
    if not chosen:
        raise ExportRefused(
            "nothing to export: name testimonies or an incident", "nothing-to-export"
        )
    order = {}
    for testimony_id in chosen:
        logged = cache.entry_by_id(testimony_id)
        record = cache.record("submission", testimony_id)
        if logged is None or logged[1] != "submission":
            raise ExportRefused(
                f"testimony {testimony_id} is not in this workstation's log (sync first)",
                "sync-first",
            )
        if not isinstance(record, dict) or "statement" not in record:
            raise ExportRefused(
                f"testimony {testimony_id} is not readable in this workstation's cache (sync "
                "first, or ask for the keys)",
                "testimony-not-readable",
            )
        order[testimony_id] = logged[0]
    return sorted(order, key=order.__getitem__), sorted(incident_ids), roles


def _shares(manifest: Mapping[str, Any]) -> list[str]:
    consent = manifest.get("consent")
    shares = consent.get("share_with") if isinstance(consent, dict) else None
    return [s for s in shares if isinstance(s, str)] if isinstance(shares, list) else []


def _check_consent(statements: Mapping[str, Mapping[str, Any]], recipient: str) -> None:
    excluded = [tid for tid, statement in statements.items() if recipient not in _shares(statement)]
    if excluded:
        raise ExportRefused(
            f"the witnesses' consent excludes {recipient}: testimony "
            f"{', '.join(excluded)}; nothing was written",
            "consent-excludes-recipient",
        )


def _check_exporter(governance: Governance, identity: Identity) -> None:
    if governance.standing().get(identity.id) not in _WRITERS:
        raise ExportRefused(
            "you have no standing as a reviewer or admin to export (sync first?)", "no-standing"
        )


def _export_quorum(governance: Governance) -> int:
    policy = governance.policy
    return policy.quorum("export") if policy is not None else 1


# --- what is withheld ------------------------------------------------------------------------


def _identifying(item: _Sealed) -> frozenset[str]:
    """The fields the testimony's form marks ``"identifying": true`` (§5), in any
    version of it this workstation knows: field ids are stable across versions,
    so a later version's marks hold for answers to an earlier one."""
    form = item.manifest.get("form")
    form_id = form.get("id") if isinstance(form, dict) else None
    versions = [f.definition for f in bundled_forms().values() if f.definition.id == form_id]
    if not versions:
        raise ExportRefused(
            f"testimony {item.id} answers form {form_id!r}, which this workstation does not know: "
            "it cannot tell which answers name people; nothing was written",
            "form-unknown",
        )
    return frozenset(f.id for d in versions for f in d.fields if f.identifying)


def _numbered(item: _Sealed) -> list[tuple[_Sealed, int]]:
    """The files of a testimony and its follow-ups as ``testimony review show``
    numbers them (from 1): ``(body, position in its manifest)``."""
    found = []
    for body in (item, *item.followups):
        listed = body.manifest.get("attachments")
        for n, descriptor in enumerate(listed if isinstance(listed, list) else []):
            if isinstance(descriptor, dict):
                found.append((body, n))
    return found


def _releases(
    texts: Sequence[str], sealed: Sequence[_Sealed], profile: Profile
) -> set[tuple[str, int]]:
    """The files ``--release TESTIMONY/N`` names: ``(body id, position)``."""
    if texts and profile.files != "unless-released":
        rule = "gives every file" if profile.files == "none" else "withholds every file"
        raise ExportRefused(
            f"profile {profile.name} {rule}: --release is for a profile that withholds files a "
            "reviewer does not release (media)",
            "release-not-needed",
        )
    found: set[tuple[str, int]] = set()
    for text in texts:
        prefix, slash, number = text.strip().lower().rpartition("/")
        matches = [s for s in sealed if prefix and s.id.startswith(prefix)]
        files = _numbered(matches[0]) if len(matches) == 1 else []
        if not slash or not number.isdigit() or not 1 <= int(number) <= len(files):
            raise ExportRefused(
                f"--release {text!r} names no file of the exported testimonies (give "
                "TESTIMONY/N: the testimony's id or prefix and the file's number as `testimony "
                "review show` lists it)",
                "release-unknown",
            )
        body, n = files[int(number) - 1]
        found.add((body.id, n))
    return found


def _plan(item: _Sealed, profile: Profile, released: set[tuple[str, int]]) -> None:
    """Set what ``profile`` withholds of this body: answers (sorted by field id),
    then files (by position)."""
    withheld: list[_Withheld] = []
    if isinstance(item.entry, SubmissionEntry):
        fields = set(profile.withheld_answers)
        if profile.withhold_identifying:
            fields |= _identifying(item)
        answers = item.manifest.get("answers")
        if isinstance(answers, dict):
            for field_id in sorted(fields & answers.keys()):
                withheld.append(_Withheld(f"answers/{field_id}", answers[field_id]))
    if profile.files != "none":
        listed = item.manifest.get("attachments")
        for n, descriptor in enumerate(listed if isinstance(listed, list) else []):
            if profile.files == "unless-released" and (item.id, n) in released:
                continue
            withheld.append(_Withheld(f"files/{n}", descriptor))
    item.withheld = withheld


def _located(path: Path) -> bool:
    """Whether the image at ``path`` carries a GPS position in its metadata
    (Exif's GPS directory, or an XMP ``GPSLatitude``); not an image: no."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            xmp = image.info.get("xmp") or b""
            xmp = xmp if isinstance(xmp, bytes) else str(xmp).encode("utf-8", "replace")
            return bool(image.getexif().get_ifd(0x8825)) or b"GPSLatitude" in xmp  # GPSInfo
    except (OSError, ValueError, SyntaxError, EOFError, UnidentifiedImageError):
        return False


# --- the network ---------------------------------------------------------------------------


def _fetch(
    client: ReviewerClient, chosen: Sequence[str], progress: Progress
) -> dict[str, dict[str, Any]]:
    """The ciphertexts of ``chosen`` and their follow-ups, checked against the entries."""
    fetched: dict[str, dict[str, Any]] = {}
    for start in range(0, len(chosen), MAX_CIPHERTEXT_SUBJECTS):
        batch = chosen[start : start + MAX_CIPHERTEXT_SUBJECTS]
        answer = client.ciphertext(batch)
        for item in answer["items"]:
            followups = {f["id"]: (f["header"], f["body"]) for f in item["followups"]}
            fetched[item["id"]] = {
                "header": item["header"],
                "body": item["body"],
                "followups": followups,
            }
        progress("testimonies fetched", min(start + len(batch), len(chosen)), len(chosen))
    return fetched


def _body(
    client: ReviewerClient, entry: SubmissionEntry | FollowupEntry, subject: str, body: bytes | None
) -> bytes:
    if body is None:
        return client.blob(entry.body, subject=subject)  # checked to hash to its id
    return body


def _opened(
    item_id: str,
    index: int,
    data: bytes,
    entry: SubmissionEntry | FollowupEntry,
    header: bytes,
    body: bytes,
    seeds: Mapping[str, bytes],
    folder: str,
) -> _Sealed:
    if sha256(header).hex() != entry.header or sha256(body).hex() != entry.body:
        raise ExportRefused(
            f"the server served ciphertext of {item_id} that is not what the log names",
            "ciphertext-mismatch",
        )
    seed = seeds.get(entry.intake_key)
    if seed is None:
        raise ExportRefused(
            f"{item_id} is sealed to an intake key this workstation does not hold",
            "testimony-not-readable",
        )
    try:
        opened = open_submission(seed, header, body)
    except CryptoError:
        raise ExportRefused(f"{item_id} does not open", "testimony-not-readable") from None
    return _Sealed(item_id, index, data, entry, header, body, opened.cek, opened.manifest, folder)


# --- the custody -----------------------------------------------------------------------------


def _custody(
    cache: Cache,
    size: int,
    chosen: set[str],
    incident_ids: set[str],
    profile: Profile,
) -> _Custody:
    groups = cache.groups()
    governance = Governance()
    custody = _Custody(governance, [], [], [], {tid: [] for tid in chosen}, set())
    for index, entry_id, kind, data in cache.entries((*GOVERNANCE_TYPES, *_CUSTODY_TYPES)):
        if index >= size:
            break
        line = {"id": entry_id, "index": index, "entry": b64u_encode(data)}
        if kind in GOVERNANCE_TYPES:
            try:
                governance.apply(data)
            except CryptoError:
                continue  # refused by §12's rules: an honest log holds none
            custody.lines.append(line)
            continue
        try:
            entry: Entry = parse_entry(data)
        except CryptoError:
            continue
        if isinstance(entry, FollowupEntry):
            if entry.parent in chosen:
                custody.followups[entry.parent].append((index, entry_id, entry, data))
        elif isinstance(entry, AccessEntry):
            if chosen.intersection(entry.subjects):
                custody.events.append(line)
                custody.actors.add(entry.reviewer)
        elif isinstance(entry, SignedReplyEntry | ReplyEntry):
            if entry.parent not in chosen:
                continue
            if isinstance(entry, SignedReplyEntry):
                try:
                    governance.check(entry)
                except CryptoError:
                    continue
                custody.actors.add(entry.actor)
            custody.events.append(line)
        elif isinstance(entry, AnnotationEntry):
            payload_key = _annotation(entry, groups, chosen, incident_ids, profile)
            if payload_key is None:
                continue
            try:
                governance.check(entry)
            except CryptoError:
                continue
            payload, key = payload_key
            custody.events.append({**line, "key": b64u_encode(key), "payload": payload})
            custody.actors.add(entry.actor)
            received = format_time(entry.received) if entry.received else ""
            custody.annotations.append((index, entry_id, entry.actor, received, payload))
    return custody


def _annotation(
    entry: AnnotationEntry,
    groups: Mapping[int, bytes],
    chosen: set[str],
    incident_ids: set[str],
    profile: Profile,
) -> tuple[dict[str, Any], bytes] | None:
    """The payload and ``K_e`` of an annotation the export discloses (None: not one)."""
    secret = groups.get(entry.epoch)
    if secret is None:
        return None
    key = group_key(secret, entry.nonce)
    try:
        payload = open_payload(key, b64u_encode(entry.sealed))
    except CryptoError:
        return None
    kind = payload.get("kind")
    if kind not in profile.annotations:
        return None
    merged = payload.get("merged")
    named = {payload.get("incident"), *(merged if isinstance(merged, list) else [])}
    if kind in CONTENT_KINDS:
        about = payload.get("testimony") in chosen
    elif kind in INCIDENT_KINDS:
        about = bool(named & incident_ids) or payload.get("testimony") in chosen
    else:
        about = False
    return (payload, key) if about else None


# --- the report ------------------------------------------------------------------------------


def _report(
    cache: Cache,
    bag_root: Path,
    *,
    bundle_id: str,
    organisation: str,
    profile: Profile,
    identity: Identity,
    day: str,
    size: int,
    log_key: str,
    sealed: Sequence[_Sealed],
    incident_ids: Sequence[str],
    roles: Mapping[str, str],
    custody: _Custody,
) -> report.ReportModel:
    """What ``report.html``, ``report.pdf`` and ``VERIFY.txt`` say (``workstation/report.py``)."""
    translations: dict[str, dict[str, str]] = {}
    for _index, _id, _actor, _received, payload in custody.annotations:
        if payload.get("kind") == "translation":
            translations.setdefault(str(payload.get("testimony")), {})[str(payload["lang"])] = str(
                payload["text"]
            )

    def files(item: _Sealed) -> list[Any]:
        found = []
        for n, descriptor in enumerate(item.manifest.get("attachments") or []):
            if (
                not isinstance(descriptor, dict)
                or descriptor.get("blob") not in item.entry.attachments
            ):
                continue
            if item.withholds_file(n):  # its name and type could say what it shows
                found.append(report.ReportFile(n, "", "", 0, "", "", False, withheld=True))
                continue
            name = layout.file_name(n, descriptor.get("name"))
            media_type = str(descriptor.get("type") or "")
            found.append(
                report.ReportFile(
                    number=n,
                    name=str(descriptor.get("name") or ""),
                    media_type=media_type,
                    size=int(descriptor.get("size") or 0),
                    sha256=str(descriptor.get("sha256") or ""),
                    path=f"{item.folder}/{layout.FILES}/{name}",
                    image=media_type.startswith("image/"),
                )
            )
        return found

    def testimony(item: _Sealed) -> Any:
        manifest = item.manifest
        if isinstance(item.entry, FollowupEntry):
            answers = [report.ReportAnswer(label="text", text=str(manifest.get("text") or ""))]
        else:
            hidden = {
                w.path.partition("/")[2] for w in item.withheld if w.path.startswith("answers/")
            }
            answers = [
                report.ReportAnswer(label=a.label, text="", withheld=True)
                if a.field in hidden
                else report.ReportAnswer(label=a.label, text=a.text)
                for a in reading.answers(manifest, "en")
            ]
        received = item.entry.received
        return report.ReportTestimony(
            id=item.id,
            index=item.index,
            received=format_time(received) if received else "",
            lang=str(manifest.get("lang") or ""),
            answers=answers,
            translations=translations.get(item.id, {}),
            files=files(item),
            followups=[testimony(f) for f in item.followups],
            role=roles.get(item.id),
        )

    events = []
    for line in custody.events:
        entry = parse_entry(b64u_decode(line["entry"]))
        who = getattr(entry, "actor", None) or getattr(entry, "reviewer", "")
        what = entry.TYPE if "payload" not in line else f"annotation: {line['payload'].get('kind')}"
        if isinstance(entry, AccessEntry):
            what = "access: the server handed the ciphertext to this reviewer"
        events.append(
            report.ReportEvent(
                index=line["index"],
                when=format_time(entry.received) if entry.received else "",
                who=str(who),
                what=what,
                verified=True,  # signature, standing and proof checked as it was chosen
            )
        )
    incidents = []
    for incident_id in incident_ids:
        record = incident_records.get(cache, incident_id)
        sources = incident_records.corroboration(cache, incident_id)
        incidents.append(
            report.ReportIncident(
                id=incident_id,
                title=record.title,
                status=record.status,
                start=record.start,
                end=record.end,
                places=[str(p.get("name") or p.get("place") or "") for p in record.places],
                corroboration=sources.sources,
                first_hand=sources.first_hand,
                relayed=sources.relayed,
                description=record.description,
            )
        )
    model = report.ReportModel(
        bundle_id=bundle_id,
        organisation=organisation,
        profile=profile.name,
        recipient=profile.recipient,
        exported_by=identity.id,
        exported_on=day,
        checkpoint_size=size,
        log_key=log_key,
        incidents=incidents,
        testimonies=[testimony(item) for item in sealed],
        events=events,
        redactions=sum(len(body.withheld) for item in sealed for body in (item, *item.followups)),
    )
    return model


# --- writing ---------------------------------------------------------------------------------


def _write_sealed(
    writer: BagWriter,
    cache: Cache,
    item: _Sealed,
    size: int,
    store: merkle.MemoryHashStore,
    progress: Callable[[], None],
    released_by_name: bool = False,
) -> int:
    """One testimony's or follow-up's folder; the number of files written.
    ``released_by_name``: the files written were released by a reviewer for a
    profile that withholds the others (one with a GPS position is refused)."""
    folder = item.folder
    writer.add_bytes(
        f"{folder}/{layout.ENTRY}",
        _jcs({"id": item.id, "index": item.index, "entry": b64u_encode(item.data)}),
    )
    writer.add_bytes(f"{folder}/{layout.HEADER}", item.header)
    writer.add_bytes(f"{folder}/{layout.BODY}", item.body)
    if not item.withheld:  # a CEK would open all of the body
        writer.add_bytes(f"{folder}/{layout.CEK}", (b64u_encode(item.cek) + "\n").encode("ascii"))
    writer.add_bytes(f"{folder}/{layout.MANIFEST}", _jcs(item.released))
    path = [node.hex() for node in merkle.inclusion_proof(item.index, size, store)]
    writer.add_bytes(
        f"{folder}/{layout.PROOF}", _jcs({"index": item.index, "size": size, "path": path})
    )
    written = 0
    listed = item.manifest.get("attachments")
    for n, descriptor in enumerate(listed if isinstance(listed, list) else []):
        if item.withholds_file(n):
            progress()
            continue
        if not isinstance(descriptor, dict) or descriptor.get("blob") not in item.entry.attachments:
            continue  # the log does not fix it: the verifier could vouch for nothing
        blob = str(descriptor["blob"])
        with cache.reading_ciphertexts():
            data = cache.blob(blob)
        if data is None or sha256(data).hex() != blob:
            raise ExportRefused(
                f"file {n} of {item.id} is not in this workstation's cache (sync first; or it "
                "was shredded)",
                "attachment-missing",
            )
        writer.add_bytes(f"{folder}/{layout.BLOBS}/{blob}", data)
        try:
            key = b64u_decode(str(descriptor.get("key")))
            size_given = descriptor.get("size")
            view = memoryview(data)
            chunks = (view[i : i + (1 << 20)] for i in range(0, len(view), 1 << 20))
            name = f"{folder}/{layout.FILES}/{layout.file_name(n, descriptor.get('name'))}"
            digest = writer.add_chunks(name, attachment_chunks(key, size_given, chunks))  # type: ignore[arg-type]
        except CryptoError:
            raise ExportRefused(
                f"file {n} of {item.id} does not open with its key", "attachment-unopenable"
            ) from None
        if digest != descriptor.get("sha256") or writer.payload[name][1] != size_given:
            raise ExportRefused(
                f"file {n} of {item.id} does not match its manifest's sha256", "attachment-mismatch"
            )
        if released_by_name and _located(writer.root / layout.DATA / name):
            raise ExportRefused(
                f"file {n} of {item.id} carries a GPS position in its metadata: a released file "
                "is the witness's exact file, so it cannot be released to this recipient "
                "(share a safe copy from `testimony review export-attachment --safe-copy` "
                "outside the bundle, if at all); nothing was written",
                "release-has-location",
            )
        written += 1
        progress()
    return written


def _archive_partial(out: Path) -> Path:
    """Where the archive of ``out`` is written before it is renamed (``archive.py``)."""
    return out.with_name(out.name + ".partial")


def _bag_name(out: Path) -> str:
    name = out.name
    for suffix in (".age", ".zip"):
        name = name.removesuffix(suffix)
    return name or "bundle"


def export(
    cache: Cache,
    identity: Identity,
    client: ReviewerClient,
    *,
    profile: Profile,
    out: Path,
    testimonies: Sequence[str] = (),
    incidents: Sequence[str] = (),
    zip_output: bool = False,
    recipients: Sequence[str] = (),
    pdf: bool = False,
    releases: Sequence[str] = (),
    progress: Progress = _nothing,
) -> Exported:
    """Export the testimonies (ids or prefixes) and incidents named as a bundle
    at ``out`` for ``profile``'s recipient (see the module docstring). With
    ``zip_output`` the bundle is a ZIP; with ``recipients`` (age public keys)
    the ZIP encrypted to them. ``releases`` (``TESTIMONY/N``, numbered as
    ``testimony review show`` does) are the files a reviewer releases under a
    profile that withholds the others. Raises :class:`ExportRefused` with a
    stable code."""
    out = Path(out)
    archived = zip_output or bool(recipients)
    partial = out.with_name(out.name + (".bag-partial" if archived else ".partial"))
    if out.exists() or out.is_symlink():
        raise ExportRefused(
            f"{out} exists: an export never replaces anything (remove it, or name another)",
            "out-exists",
        )
    if partial.exists() or partial.is_symlink():
        holding = [
            i for i, state in (cache.get(HELD) or {}).items() if state["partial"] == str(partial)
        ]
        raise ExportRefused(
            f"{partial} is the bag of export {holding[0][:16]}, held for approval (`testimony "
            "exports list`)"
            if holding
            else f"{partial} is what an interrupted export left: remove it"
            + (f" and {leftover}" if (leftover := _archive_partial(out)).exists() else "")
            + " and export again",
            "out-exists",
        )
    if releases and profile.files != "unless-released":
        _releases(releases, (), profile)  # refused before anything is fetched
    triage.refresh(cache)
    chosen, incident_ids, roles = _resolve(cache, testimonies, incidents)
    _check_consent(
        {tid: cache.record("submission", tid)["statement"] for tid in chosen}, profile.recipient
    )
    _check_exporter(replay(cache).governance, identity)
    log_key = str(cache.get("log_key"))

    # 3. The ciphertexts, then the log (with the access entry just logged).
    fetched = _fetch(client, chosen, progress)
    sync_log(cache, client, progress)
    note, checkpoint, store = _cached_tree(cache)
    size = checkpoint.size

    # 4. The custody, and each testimony and follow-up opened.
    custody = _custody(cache, size, set(chosen), set(incident_ids), profile)
    _check_exporter(custody.governance, identity)
    seeds = cache.intake_seeds()
    sealed: list[_Sealed] = []
    followup_ids: list[str] = []
    for testimony_id in chosen:
        logged = cache.entry_by_id(testimony_id)
        assert logged is not None  # _resolve checked it
        index, _kind, data = logged
        if index >= size:
            raise ExportRefused(
                f"testimony {testimony_id} lies beyond the verified checkpoint (sync first)",
                "sync-first",
            )
        entry = parse_entry(data)
        assert isinstance(entry, SubmissionEntry)
        got = fetched.get(testimony_id)
        if got is None:
            raise ExportRefused(
                f"the server served no ciphertext of {testimony_id}", "ciphertext-missing"
            )
        body = _body(client, entry, testimony_id, got["body"])
        folder = layout.testimony_dir(testimony_id)
        item = _opened(testimony_id, index, data, entry, got["header"], body, seeds, folder)
        for f_index, f_id, f_entry, f_data in custody.followups[testimony_id]:
            if f_id not in got["followups"]:
                raise ExportRefused(
                    f"a follow-up of {testimony_id} was logged while exporting; run the export "
                    "again",
                    "export-raced",
                )
            f_header, f_body = got["followups"][f_id]
            f_body = _body(client, f_entry, testimony_id, f_body)
            f_folder = layout.followup_dir(testimony_id, f_id)
            item.followups.append(
                _opened(f_id, f_index, f_data, f_entry, f_header, f_body, seeds, f_folder)
            )
            followup_ids.append(f_id)
        sealed.append(item)
    _check_consent({item.id: item.manifest for item in sealed}, profile.recipient)
    released = _releases(releases, sealed, profile)
    parts = [part for item in sealed for part in (item, *item.followups)]
    for part in parts:
        _plan(part, profile, released)
    redactions = [
        {"testimony": part.id, "path": w.path, "commitment": w.commitment}
        for part in parts
        for w in part.withheld
    ]
    salts = [b64u_encode(w.salt) for part in parts for w in part.withheld]

    bundle_id = os.urandom(16).hex()
    day = datetime.now(UTC).date().isoformat()
    payload = {
        "v": 1,
        "kind": "export",
        "profile": profile.name,
        "recipient": profile.recipient,
        "testimonies": list(chosen),
        "followups": followup_ids,
        "incidents": list(incident_ids),
    }
    info = {
        "Source-Organization": checkpoint.origin,
        "Bagging-Date": day,
        "External-Identifier": bundle_id,
        "BagIt-Profile-Identifier": BAGIT_PROFILE_ID,
        "Bag-Software-Agent": "testimony",
    }
    bag_root = partial / _bag_name(out) if archived else partial
    logged_at: int | None = None
    try:
        if archived:
            partial.mkdir(mode=0o700)
        writer = BagWriter(bag_root, info)
        total_files = sum(
            len(i.manifest.get("attachments") or []) for s in sealed for i in (s, *s.followups)
        )
        counted = [0]

        def one_more() -> None:
            counted[0] += 1
            progress("files", counted[0], total_files)

        files = 0
        by_name = profile.files == "unless-released"
        for part in parts:
            files += _write_sealed(writer, cache, part, size, store, one_more, by_name)
        _write_forms(writer, sealed)
        for incident_id in incident_ids:
            folded = fold_incident(incident_id, [(a[1], a[4]) for a in custody.annotations])
            writer.add_bytes(layout.incident_path(incident_id), _jcs(folded))
        writer.add_bytes(layout.CHECKPOINT, note.encode("utf-8"))
        writer.add_bytes(layout.LOG_KEY, (log_key + "\n").encode("ascii"))
        _write_custody(writer, custody, size, store)
        model = _report(
            cache,
            writer.root,
            bundle_id=bundle_id,
            organisation=checkpoint.origin,
            profile=profile,
            identity=identity,
            day=day,
            size=size,
            log_key=log_key,
            sealed=sealed,
            incident_ids=incident_ids,
            roles=roles,
            custody=custody,
        )
        writer.add_bytes(layout.REPORT, report.render_html(model, writer.root).encode("utf-8"))
        if pdf:
            # The same report as PDF, beside it: what a court files (WeasyPrint fetches nothing).
            drawn = writer.root / ".report.pdf"
            try:
                report.render_pdf(model, drawn, writer.root)
                writer.add_file(layout.REPORT_PDF, drawn)
            finally:
                drawn.unlink(missing_ok=True)
        writer.add_bytes(
            layout.BUNDLE_JSON,
            _jcs(
                {
                    "v": 1,
                    "id": bundle_id,
                    "profile": profile.name,
                    "exported_by": identity.id,
                    "checkpoint": size,
                    "testimonies": list(chosen),
                    "followups": followup_ids,
                    "incidents": list(incident_ids),
                    "redactions": redactions,
                }
            ),
        )
        manifest = writer.finish_payload()

        # 6. The export entry and its receipt.
        epoch, secret = current_epoch(cache)
        nonce = os.urandom(NONCE_LENGTH)
        key = group_key(secret, nonce)
        entry = ExportEntry.create(
            private_key_from_seed(identity.sign_seed),
            nonce=nonce,
            epoch=epoch,
            manifest=manifest,
            sealed=b64u_decode(seal_payload(key, payload)),
            salts=(
                b64u_decode(
                    seal_payload(group_key(secret, nonce, SALTS_INFO), {"v": 1, "salts": salts})
                )
                if salts
                else None
            ),
        )
        receipt = client.post_entry(entry)
        logged_at = int(receipt["index"])
        later = checkpoints.verify(str(receipt["checkpoint"]), log_key)
        consistency = client.consistency(size, later.size)
        try:
            merkle.verify_consistency(size, later.size, checkpoint.root, later.root, consistency)
        except CryptoError:
            raise ExportRefused(
                "the server's checkpoint does not extend the bundle's (a fork?)", "log-fork"
            ) from None
        told = {
            **receipt,
            "consistency": {
                "from": size,
                "to": later.size,
                "path": [node.hex() for node in consistency],
            },
            "key": b64u_encode(key),
            "payload": payload,
        }
        writer.add_tag_file("VERIFY.txt", report.verify_text(model).encode("utf-8"))
        summary = {
            "bundle_id": bundle_id,
            "testimonies": list(chosen),
            "followups": followup_ids,
            "incidents": list(incident_ids),
            "files": files,
            "events": len(custody.events),
            "checkpoint": size,
            "export_index": logged_at,
            "withheld": len(redactions),
        }
        held = None
        if _export_quorum(custody.governance) > 1:
            # Four eyes (§12.3): the entry is a proposal; the bag waits for its approvals.
            sync_log(cache, client, progress)
            proposal = replay(cache).governance.proposals.get(str(receipt["id"]))
            if proposal is None:
                raise ExportRefused("the export entry is not in the synced log", "sync-first")
            if proposal.effective_at is None:
                held = _hold(
                    cache, proposal, told, summary, partial, bag_root, out, archived, recipients
                )
            else:  # the quorum is capped by the admins there are: in effect at once
                told["approvals"] = []
        if held is None:
            writer.add_tag_file(layout.EXPORT_RECEIPT, _jcs(told))
            writer.close()
            _finish(partial, bag_root, out, archived, recipients)
    except BaseException as error:
        shutil.rmtree(partial, ignore_errors=True)
        if logged_at is not None and isinstance(error, WorkstationError | CryptoError | OSError):
            raise ExportRefused(
                f"{error} — the export entry was logged (index {logged_at}) but no bundle was "
                "written; export again",
                getattr(error, "code", "export-failed"),
            ) from None
        raise
    assert logged_at is not None
    if held is not None:
        return held
    return _exported(out, summary)


def _exported(out: Path, summary: Mapping[str, Any], **more: Any) -> Exported:
    return Exported(
        path=out,
        bundle_id=summary["bundle_id"],
        testimonies=tuple(summary["testimonies"]),
        followups=tuple(summary["followups"]),
        incidents=tuple(summary["incidents"]),
        files=summary["files"],
        events=summary["events"],
        checkpoint=summary["checkpoint"],
        export_index=summary["export_index"],
        withheld=summary["withheld"],
        **more,
    )


# --- four eyes (§12.3, §12.7) ----------------------------------------------------------------

HELD = "exports_held"
"""The cache's record of the exports waiting for approvals: entry id -> state."""


@dataclass(frozen=True)
class Held:
    """An export this workstation holds until its approvals (``testimony exports``)."""

    id: str
    out: str
    profile: str
    recipient: str
    testimonies: int
    approvals: int
    needed: int
    effective: bool
    present: bool
    """Whether the held bag is still where it was left."""


def _needed(governance: Governance, proposal: Proposal) -> int:
    return max(1, min(proposal.quorum, len(governance.admins())))


def _hold(
    cache: Cache,
    proposal: Proposal,
    told: Mapping[str, Any],
    summary: Mapping[str, Any],
    partial: Path,
    bag_root: Path,
    out: Path,
    archived: bool,
    recipients: Sequence[str],
) -> Exported:
    """Keep the bag (without its receipt and tag manifest) and what finishing
    it needs, in the encrypted cache, until :func:`release`."""
    held = dict(cache.get(HELD) or {})
    held[proposal.id] = {
        "out": str(out),
        "partial": str(partial),
        "bag_root": str(bag_root),
        "archived": archived,
        "recipients": list(recipients),
        "receipt": dict(told),
        "summary": dict(summary),
    }
    cache.put(HELD, held)
    governance = replay(cache).governance
    return _exported(
        out,
        summary,
        proposal=proposal.id,
        approvals=len(proposal.approvals),
        needed=_needed(governance, proposal),
    )


def held_exports(cache: Cache) -> list[Held]:
    """The exports this workstation holds, with their approvals as synced."""
    governance = replay(cache).governance
    found = []
    for entry_id, state in sorted((cache.get(HELD) or {}).items()):
        proposal = governance.proposals.get(entry_id)
        payload = state["receipt"]["payload"]
        found.append(
            Held(
                id=entry_id,
                out=state["out"],
                profile=str(payload["profile"]),
                recipient=str(payload["recipient"]),
                testimonies=len(payload["testimonies"]),
                approvals=len(proposal.approvals) if proposal else 0,
                needed=_needed(governance, proposal) if proposal else 0,
                effective=proposal is not None and proposal.effective_at is not None,
                present=Path(state["bag_root"]).is_dir(),
            )
        )
    return found


def waiting(cache: Cache) -> list[tuple[Proposal, str]]:
    """Export proposals in the synced log still short of their approvals, each
    with :func:`describe`'s sentence: what an admin is asked to approve."""
    governance = replay(cache).governance
    return [
        (p, describe(cache, p))
        for p in governance.proposals.values()
        if p.kind == "export" and p.effective_at is None
    ]


def describe(cache: Cache, proposal: Proposal) -> str:
    """What an export proposal would hand over, for the admin asked to approve
    it: opened with the group secret of its epoch."""
    entry = proposal.entry
    if not isinstance(entry, ExportEntry):
        return proposal.kind
    secret = cache.groups().get(entry.epoch)
    try:
        if secret is None:
            raise CryptoError("no group secret")
        payload = open_payload(group_key(secret, entry.nonce), b64u_encode(entry.sealed))
    except CryptoError:
        return f"an export by {_short(entry.actor)} (its payload does not open here)"
    testimonies = payload.get("testimonies") or []
    return (
        f"the export by {_short(entry.actor)} of {len(testimonies)} testimonies "
        f"({', '.join(_short(str(t)) for t in testimonies)}) with profile "
        f"{payload.get('profile')} for {payload.get('recipient')}"
    )


def _held(cache: Cache, target: str) -> tuple[str, dict[str, Any]]:
    held = cache.get(HELD) or {}
    wanted = target.strip().lower()
    matches = [entry_id for entry_id in held if wanted and entry_id.startswith(wanted)]
    if len(matches) != 1:
        raise ExportRefused(
            f"no export held on this workstation has the id {target!r} (`testimony exports "
            "list` shows them)",
            "unknown-export",
        )
    return matches[0], dict(held[matches[0]])


def _forget(cache: Cache, entry_id: str) -> None:
    held = dict(cache.get(HELD) or {})
    held.pop(entry_id, None)
    cache.put(HELD, held)


def release(
    cache: Cache,
    client: ReviewerClient,
    target: str,
    *,
    progress: Progress = _nothing,
) -> Exported:
    """Finish a held export once its approvals brought it to its quorum: the
    receipts of the approvals that counted (each with its inclusion in the
    latest verified checkpoint and that checkpoint's consistency with the
    bundle's) go into ``export-receipt.json``; the bag is closed and written
    to where the export was asked for. Raises :class:`ExportRefused`
    (``unknown-export``, ``export-awaiting-approval``, ``export-bag-missing``)."""
    entry_id, state = _held(cache, target)
    sync_log(cache, client, progress)
    governance = replay(cache).governance
    proposal = governance.proposals.get(entry_id)
    if proposal is None:
        raise ExportRefused("the export entry is not in the synced log", "sync-first")
    if proposal.effective_at is None:
        needed = _needed(governance, proposal)
        raise ExportRefused(
            f"export {_short(entry_id)} has {len(proposal.approvals)} of {needed} approvals: "
            f"another admin approves it with `testimony reviewer approve {entry_id}`",
            "export-awaiting-approval",
        )
    root, partial, out = Path(state["bag_root"]), Path(state["partial"]), Path(state["out"])
    try:
        writer = BagWriter.resume(root)
    except (BagWriteError, OSError):
        raise ExportRefused(
            f"the held bag of export {_short(entry_id)} is no longer at {partial}: export again",
            "export-bag-missing",
        ) from None
    first = int(state["summary"]["checkpoint"])
    approvals = _approval_receipts(cache, proposal, first)
    writer.add_tag_file(layout.EXPORT_RECEIPT, _jcs({**state["receipt"], "approvals": approvals}))
    writer.close()
    _finish(partial, root, out, bool(state["archived"]), state["recipients"])
    _forget(cache, entry_id)
    return _exported(
        out,
        state["summary"],
        approvals=len(proposal.approvals),
        needed=_needed(governance, proposal),
    )


def discard(cache: Cache, target: str) -> str:
    """Remove a held export's bag (its entry stays in the log, never taking
    effect unless approved); returns its entry id."""
    entry_id, state = _held(cache, target)
    shutil.rmtree(state["partial"], ignore_errors=True)
    _forget(cache, entry_id)
    return entry_id


def _approval_receipts(cache: Cache, proposal: Proposal, first: int) -> list[dict[str, Any]]:
    """§10 receipts of the approvals that counted, built from the verified
    cached log: inclusion in its latest checkpoint, and that checkpoint's
    consistency with the bundle's (of ``first`` entries)."""
    note, checkpoint, store = _cached_tree(cache)
    size = checkpoint.size
    consistency = {
        "from": first,
        "to": size,
        "path": [node.hex() for node in merkle.consistency_proof(first, size, store)],
    }
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, approval_id, _kind, data in cache.entries(("approval",)):
        if index >= size:
            break
        entry = parse_entry(data)
        if (
            not isinstance(entry, ApprovalEntry)
            or entry.subject != proposal.id
            or entry.actor not in proposal.approvals
            or entry.actor in seen
        ):
            continue
        seen.add(entry.actor)
        path = [node.hex() for node in merkle.inclusion_proof(index, size, store)]
        found.append(
            {
                "id": approval_id,
                "index": index,
                "entry": b64u_encode(data),
                "checkpoint": note,
                "inclusion": {"index": index, "size": size, "path": path},
                "consistency": consistency,
            }
        )
    return found


def _cached_tree(cache: Cache) -> tuple[str, checkpoints.Checkpoint, merkle.MemoryHashStore]:
    """The latest verified checkpoint (its note, and parsed) and the tree of
    the cached log up to it, which must rebuild its root."""
    note = cache.latest_checkpoint()
    if note is None:
        raise ExportRefused(
            "this workstation has no verified checkpoint (sync first)", "sync-first"
        )
    checkpoint = checkpoints.verify(note, str(cache.get("log_key")))
    leaves = cache.entry_ids(checkpoint.size)
    store = merkle.MemoryHashStore()
    tree = merkle.append(0, leaves, store)
    store.write_nodes(tree.nodes)
    if len(leaves) != checkpoint.size or tree.root != checkpoint.root:
        raise ExportRefused("the cached log does not rebuild its checkpoint", "cache-mismatch")
    return note, checkpoint, store


# --- disclosure of what was withheld (§11) ----------------------------------------------------


def disclose(cache: Cache, bundle: Path, *, identity: Path | None = None) -> dict[str, Any]:
    """What a bundle withheld, with the salts that prove it, for a later full
    disclosure (to a court, under seal): ``{"v": 1, "bundle", "export",
    "items": [{"testimony", "path", "salt", "value"}]}`` in the order of
    ``bundle.json``'s ``redactions``. The salts are opened from the export
    entry's ``salts`` with the group secret of its epoch; the values are read
    from this workstation's cache. ``testimony verify --disclosure`` checks it
    against the bundle's commitments. Raises :class:`ExportRefused`
    (``nothing-withheld``, ``salts-unopenable``, ``testimony-not-readable``)."""
    with archive.open_bag(Path(bundle), identity=identity) as root:
        try:
            listed = canonical.loads((Path(root) / layout.DATA / layout.BUNDLE_JSON).read_bytes())
            told = canonical.loads((Path(root) / layout.EXPORT_RECEIPT).read_bytes())
            entry = parse_entry(b64u_decode(str(told["entry"])))
        except (OSError, CryptoError, KeyError, TypeError):
            raise ExportRefused(
                f"{bundle} is no bundle this workstation can read", "not-a-bundle"
            ) from None
    redactions = listed.get("redactions") if isinstance(listed, dict) else None
    if not isinstance(entry, ExportEntry) or not isinstance(redactions, list):
        raise ExportRefused(f"{bundle} is no bundle this workstation can read", "not-a-bundle")
    if entry.salts is None or not redactions:
        raise ExportRefused(
            "the bundle withholds nothing: there is nothing to disclose", "nothing-withheld"
        )
    secret = cache.groups().get(entry.epoch)
    try:
        if secret is None:
            raise CryptoError("no group secret of that epoch")
        opened = open_payload(group_key(secret, entry.nonce, SALTS_INFO), b64u_encode(entry.salts))
        salts = [b64u_decode(s) for s in opened["salts"]]
    except (CryptoError, KeyError, TypeError):
        raise ExportRefused(
            "the export's salts do not open with this workstation's keyring", "salts-unopenable"
        ) from None
    if len(salts) != len(redactions):
        raise ExportRefused(
            "the export's salts and the bundle's redactions disagree", "salts-unopenable"
        )
    items = []
    for redaction, salt in zip(redactions, salts, strict=True):
        body, path = str(redaction["testimony"]), str(redaction["path"])
        record = cache.record("submission", body) or cache.record("followup", body)
        manifest = None
        if isinstance(record, dict):
            manifest = record.get("statement", record.get("manifest"))
        if not isinstance(manifest, dict):
            raise ExportRefused(
                f"{body} is not readable in this workstation's cache (sync first)",
                "testimony-not-readable",
            )
        kind, _, name = path.partition("/")
        try:
            value = (
                manifest["answers"][name]
                if kind == "answers"
                else manifest["attachments"][int(name)]
                if kind == "files"
                else manifest["text"]
            )
        except (KeyError, IndexError, ValueError, TypeError):
            raise ExportRefused(
                f"{path} of {body} is not in this workstation's copy of it",
                "testimony-not-readable",
            ) from None
        items.append({"testimony": body, "path": path, "salt": b64u_encode(salt), "value": value})
    return {"v": 1, "bundle": listed.get("id"), "export": str(told.get("id")), "items": items}


def _write_forms(writer: BagWriter, sealed: Sequence[_Sealed]) -> None:
    """``forms/<id>-<version>.json``: each bundled form a testimony names, by its hash."""
    forms = bundled_forms()
    done: set[tuple[str, int]] = set()
    for item in sealed:
        form = item.manifest.get("form")
        if not isinstance(form, dict):
            continue
        form_id, version = form.get("id"), form.get("version")
        if not isinstance(form_id, str) or type(version) is not int or (form_id, version) in done:
            continue
        try:
            found = forms.get_version(form_id, version)
        except FormError:
            continue
        if found.sha256 == form.get("sha256"):
            writer.add_bytes(layout.form_path(form_id, version), _jcs(found.definition.as_json()))
            done.add((form_id, version))


def _write_custody(
    writer: BagWriter, custody: _Custody, size: int, store: merkle.MemoryHashStore
) -> None:
    def with_proof(line: dict[str, Any]) -> bytes:
        path = [node.hex() for node in merkle.inclusion_proof(line["index"], size, store)]
        return _jcs({**line, "path": path}) + b"\n"

    writer.add_chunks(layout.GOVERNANCE, (with_proof(line) for line in custody.lines))
    writer.add_chunks(layout.EVENTS, (with_proof(line) for line in custody.events))
    actors = set(custody.actors)
    for line in custody.lines:
        entry = parse_entry(b64u_decode(line["entry"]))
        actor = getattr(entry, "actor", None)
        if isinstance(actor, str):
            actors.add(actor)
    members = custody.governance.members
    writer.add_bytes(
        layout.REVIEWERS,
        _jcs(
            {
                actor: {
                    "sign_key": b64u_encode(members[actor].sign_key),
                    "box_key": b64u_encode(members[actor].box_key),
                }
                for actor in sorted(actors)
                if actor in members
            }
        ),
    )


def _finish(
    partial: Path, bag_root: Path, out: Path, archived: bool, recipients: Iterable[str]
) -> None:
    """The complete bag to ``out``: renamed, or archived (and the folder removed)."""
    if not archived:
        if out.exists() or out.is_symlink():  # made while exporting: never replaced
            raise ExportRefused(f"{out} appeared while exporting; nothing replaced", "out-exists")
        os.replace(partial, out)
        _sync_folder(out.parent)
        return
    recipients = list(recipients)
    if recipients:
        inner = partial / "bundle.zip"
        archive.zip_bag(bag_root, inner)
        archive.encrypt_for(inner, out, recipients)
    else:
        archive.zip_bag(bag_root, out)
    shutil.rmtree(partial)
    _sync_folder(out.parent)


def _sync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
