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
2. **Whether**: the profile (``profiles/<name>.json``: data, see
   :class:`Profile`) must need no redaction (``profile-not-yet-supported``
   otherwise: withholding answers or files is a later step); every
   testimony's ``consent.share_with`` must include the profile's recipient,
   else the export is refused naming them (``consent-excludes-recipient``),
   nothing written; the exporter must have standing as a reviewer or admin
   (``no-standing``) and the policy's export quorum must be 1
   (``export-needs-approval``: four eyes on an export is a later step).
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
5. **The bag**, streamed (``client/bundle/bag.py``: every file hashed while
   it is written, 1 MiB at a time; a file's plaintext is decrypted chunk by
   chunk into the bag, never whole in memory — its ciphertext is read from the
   encrypted cache as one value, which SQLCipher's Python binding offers no
   way to stream). ``report.html``, ``report.pdf`` and ``VERIFY.txt`` are
   ``workstation/report.py``'s.
6. **The export entry** (§12.7): ``{"epoch", "manifest": H(manifest-sha256.txt),
   "sealed"}`` (no ``salts``: nothing is withheld), its payload sealed under
   its own ``K_e`` as an annotation's is; sent through the session, its
   receipt verified; the consistency proof from the bundle's checkpoint to
   the receipt's fetched and checked; ``export-receipt.json`` (the receipt,
   ``consistency``, ``key``, ``payload``) written as a tag file, then the tag
   manifest.

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
from testimony.client.bundle.bag import BagWriter
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
    Entry,
    ExportEntry,
    FollowupEntry,
    ReplyEntry,
    SignedReplyEntry,
    SubmissionEntry,
    parse_entry,
)
from testimony.crypto.errors import CryptoError
from testimony.crypto.governance import Governance
from testimony.crypto.keyring import NONCE_LENGTH, Identity, group_key, open_payload, seal_payload
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
    "Profile",
    "export",
    "load_profile",
    "profile_names",
]

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


@dataclass(frozen=True)
class Profile:
    """An export profile (``workstation/profiles/<name>.json``)::

    {"v": 1, "name", "recipient": <a consent share_with value>, "description",
     "withhold": {"answers": [field ids], "files": true | false},
     "annotations": [the annotation kinds disclosed, with K_e and payload]}
    """

    name: str
    recipient: str
    description: str
    withheld_answers: tuple[str, ...]
    withhold_files: bool
    annotations: frozenset[str]

    @property
    def redacts(self) -> bool:
        """Whether the profile withholds anything of a body (a later step)."""
        return bool(self.withheld_answers) or self.withhold_files


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
        or set(withhold) != {"answers", "files"}
        or not isinstance(withhold["answers"], list)
        or not all(isinstance(a, str) for a in withhold["answers"])
        or type(withhold["files"]) is not bool
        or not isinstance(kinds, list)
        or not set(kinds) <= ANNOTATION_KINDS - {"vocabulary"}
    ):
        raise bad
    return Profile(
        name=value["name"],
        recipient=value["recipient"],
        description=value["description"],
        withheld_answers=tuple(withhold["answers"]),
        withhold_files=withhold["files"],
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
    policy = governance.policy
    if policy is not None and policy.quorum("export") > 1:
        raise ExportRefused(
            f"the policy asks {policy.quorum('export')} admins to approve an export; exports "
            "under approval are not built yet",
            "export-needs-approval",
        )


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
            answers = [
                report.ReportAnswer(label=a.label, text=a.text)
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
        redactions=0,
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
) -> int:
    """One testimony's or follow-up's folder; the number of files written."""
    folder = item.folder
    writer.add_bytes(
        f"{folder}/{layout.ENTRY}",
        _jcs({"id": item.id, "index": item.index, "entry": b64u_encode(item.data)}),
    )
    writer.add_bytes(f"{folder}/{layout.HEADER}", item.header)
    writer.add_bytes(f"{folder}/{layout.BODY}", item.body)
    writer.add_bytes(f"{folder}/{layout.CEK}", (b64u_encode(item.cek) + "\n").encode("ascii"))
    writer.add_bytes(f"{folder}/{layout.MANIFEST}", _jcs(item.manifest))
    path = [node.hex() for node in merkle.inclusion_proof(item.index, size, store)]
    writer.add_bytes(
        f"{folder}/{layout.PROOF}", _jcs({"index": item.index, "size": size, "path": path})
    )
    written = 0
    listed = item.manifest.get("attachments")
    for n, descriptor in enumerate(listed if isinstance(listed, list) else []):
        if not isinstance(descriptor, dict) or descriptor.get("blob") not in item.entry.attachments:
            continue  # the log does not fix it: the verifier could vouch for nothing
        blob = str(descriptor["blob"])
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
        written += 1
        progress()
    return written


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
    progress: Progress = _nothing,
) -> Exported:
    """Export the testimonies (ids or prefixes) and incidents named as a bundle
    at ``out`` for ``profile``'s recipient (see the module docstring). With
    ``zip_output`` the bundle is a ZIP; with ``recipients`` (age public keys)
    the ZIP encrypted to them. Raises :class:`ExportRefused` with a stable code."""
    out = Path(out)
    archived = zip_output or bool(recipients)
    partial = out.with_name(out.name + (".bag-partial" if archived else ".partial"))
    for path in (out, partial):
        if path.exists() or path.is_symlink():
            raise ExportRefused(
                f"{path} exists: an export never replaces anything (remove it, or name another)",
                "out-exists",
            )
    if profile.redacts:
        raise ExportRefused(
            f"profile {profile.name} withholds parts of testimonies, and exports with "
            "redactions are not built yet",
            "profile-not-yet-supported",
        )
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
    note = cache.latest_checkpoint()
    if note is None:
        raise ExportRefused(
            "this workstation has no verified checkpoint (sync first)", "sync-first"
        )
    checkpoint = checkpoints.verify(note, log_key)
    size = checkpoint.size
    leaves = cache.entry_ids(size)
    store = merkle.MemoryHashStore()
    tree = merkle.append(0, leaves, store)
    store.write_nodes(tree.nodes)
    if len(leaves) != size or tree.root != checkpoint.root:
        raise ExportRefused("the cached log does not rebuild its checkpoint", "cache-mismatch")

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
        for item in sealed:
            files += _write_sealed(writer, cache, item, size, store, one_more)
            for followup in item.followups:
                files += _write_sealed(writer, cache, followup, size, store, one_more)
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
                    "redactions": [],
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
        writer.add_tag_file(
            layout.EXPORT_RECEIPT,
            _jcs(
                {
                    **receipt,
                    "consistency": {
                        "from": size,
                        "to": later.size,
                        "path": [node.hex() for node in consistency],
                    },
                    "key": b64u_encode(key),
                    "payload": payload,
                }
            ),
        )
        writer.add_tag_file("VERIFY.txt", report.verify_text(model).encode("utf-8"))
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
    return Exported(
        path=out,
        bundle_id=bundle_id,
        testimonies=tuple(chosen),
        followups=tuple(followup_ids),
        incidents=tuple(incident_ids),
        files=files,
        events=len(custody.events),
        checkpoint=size,
        export_index=logged_at,
    )


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
