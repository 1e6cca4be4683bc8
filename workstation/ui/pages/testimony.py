"""The UI's testimony page (docs/workstation.md, "The web UI"): one testimony
as ``review show`` shows it, and every change ``review`` makes to it.

``GET /testimony/<id>`` (a submission id, or a unique prefix of at least 6
hex digits): the header (state, assignee, tags, incidents), the statement in
the witness's language with the form's labels in the reviewer's, the
translations beside it, the files, the follow-ups and replies as a
conversation, the notes, the forms of the changes, and the custody history
(every annotation, follow-up and reply, and every ``access`` entry the server
logged for this testimony's ciphertexts), each row with its log index.

The files are served from memory, never written anywhere, and never as the
witness sent them to be shown:

- ``GET /testimony/<id>/file/<n>/safe``: an image's safe copy (re-encoded by
  ``attachments.safe_copy``: nothing of the original file survives), with
  the copy's own type and a sandboxing Content-Security-Policy;
- ``GET /testimony/<id>/file/<n>/audio``: a file whose *bytes* are audio
  (``attachments.audio_type``; the declared type and the name are never believed),
  for ``<audio>``, sandboxed the same way;
- ``GET /testimony/<id>/file/<n>/download``: the original, byte-exact, as
  ``application/octet-stream`` and ``attachment`` only (an export: the
  browser saves it, never shows it), under a name of ours and, in
  ``filename*``, the witness's name cleaned of path separators and of every
  control and bidi character (``attachments.export_name``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from starlette.responses import Response
from starlette.routing import BaseRoute

from testimony.crypto import checkpoint as checkpoints
from testimony.crypto.entries import AccessEntry, parse_entry
from testimony.crypto.errors import CryptoError
from testimony.crypto.rfc3339 import format_time
from testimony.forms.consent import consent_wording

from ... import actions, attachments, org, reading, triage, vocabulary
from ... import incidents as incident_records
from ...annotations import RELIABILITY, ROLES, STATES, TAG_GROUPS, VALIDITY
from ...home import WorkstationError, fingerprint
from ...text import mixed_scripts
from .. import render
from ..app import Here, page

__all__ = ["ROUTES"]

SANDBOX = "default-src 'none'; sandbox"
"""The policy of every file served: nothing in it runs, loads or navigates."""
THUMBNAIL = 240
"""Pixels a side of an image shown on the page (the safe copy, scaled by the browser)."""
MAX_SNIFF = 64 << 20
"""Bytes of a file decrypted to see whether it is audio (a larger one is offered for export only)."""
RELIABILITY_LETTERS = "ABCDEF"
VALIDITY_DIGITS = "123456"
_LANG = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
"""A translation's language (BCP 47, as docs/log-entries.md has it)."""


class Refused(WorkstationError):
    """A refusal already worded in the reviewer's language."""


# --- files -------------------------------------------------------------------------------------


def _short(identifier: str) -> str:
    return identifier[:12]


def _testimony(here: Here) -> str:
    return triage.find(here.cache, str(here.request.path_params["ref"]))


def _number(here: Here) -> int:
    return int(here.request.path_params["n"])


def _download_headers(tid: str, number: int, name: str) -> dict[str, str]:
    return {
        "Content-Disposition": (
            f'attachment; filename="testimony-{_short(tid)}-{number}.bin"; '
            f"filename*=UTF-8''{quote(attachments.export_name(name), safe='')}"
        ),
        "Content-Security-Policy": SANDBOX,
    }


def safe_file(here: Here) -> Response:
    """An image's safe copy: the re-encoded pixels, never the original."""
    tid, number = _testimony(here), _number(here)
    copy = attachments.safe_copy(here.cache, tid, number)
    if copy.media_type not in ("image/png", "image/jpeg"):
        raise WorkstationError("the safe copy is of no type this UI serves", "not-a-safe-image")
    extension = "png" if copy.media_type == "image/png" else "jpg"
    return Response(
        copy.data,
        media_type=copy.media_type,
        headers={
            "Content-Disposition": f'inline; filename="safe-copy-{number}.{extension}"',
            "Content-Security-Policy": SANDBOX,
        },
    )


def audio_file(here: Here) -> Response:
    """A file whose bytes are audio, for the page's ``<audio>``; anything else is refused."""
    tid, number = _testimony(here), _number(here)
    _, data = attachments.original(here.cache, tid, number)
    sniffed = attachments.audio_type(data)
    if sniffed is None:
        raise Refused(here.t("testimony.refused.not-audio"), "not-audio")
    media_type, extension = sniffed
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'inline; filename="audio-{number}.{extension}"',
            "Content-Security-Policy": SANDBOX,
        },
    )


def download_file(here: Here) -> Response:
    """The original, byte-exact, to be saved (never shown)."""
    tid, number = _testimony(here), _number(here)
    item, data = attachments.original(here.cache, tid, number)
    return Response(
        data,
        media_type="application/octet-stream",
        headers=_download_headers(tid, number, item.name),
    )


# --- what the page shows ----------------------------------------------------------------------


@dataclass
class FileView:
    number: int
    name: str
    media_type: str
    size: int
    source: str
    sha256: str
    extension: str
    checked: bool = False
    problem: str = ""
    kind: str = "other"
    """``image`` (a safe copy is shown), ``audio`` (playable) or ``other`` (export only)."""
    width: int = 0
    height: int = 0
    audio: str = ""
    mixed: str = ""
    """The words of the name that mix scripts (a look-alike), joined; "" if none."""


def _files(here: Here, tid: str) -> list[FileView]:
    found = []
    for item in attachments.attachments(here.cache, tid):
        view = FileView(
            number=item.number,
            name=item.name,
            media_type=item.media_type,
            size=item.size,
            source=item.source,
            sha256=item.sha256,
            extension=PurePosixPath(attachments.export_name(item.name)).suffix,
            mixed=", ".join(mixed_scripts(item.name)),
        )
        found.append(view)
        try:
            if item.image:
                attachments.original(here.cache, tid, item.number)
                view.checked = True
                copy = attachments.safe_copy(here.cache, tid, item.number)
                scale = min(1.0, THUMBNAIL / max(copy.width, copy.height, 1))
                view.kind = "image"
                view.width = max(1, round(copy.width * scale))
                view.height = max(1, round(copy.height * scale))
            elif item.size <= MAX_SNIFF:
                _, data = attachments.original(here.cache, tid, item.number)
                view.checked = True
                sniffed = attachments.audio_type(data)
                if sniffed is not None:
                    view.kind, view.audio = "audio", sniffed[0]
        except WorkstationError as refused:
            view.problem = f"{refused} ({refused.code})"
    return found


@dataclass
class HistoryRow:
    index: int
    when: str
    who: str | None
    """A reviewer id (for an ``access``: the reviewer the server handed the
    ciphertexts to); None for the witness (a follow-up)."""
    what: str
    kind: str


@dataclass
class Message:
    """One turn of the conversation with the witness."""

    index: int
    when: str
    witness: bool
    text: str | None
    actor: str | None = None
    sent: bool | None = None
    files: list[FileView] = field(default_factory=list)


def _labels(here: Here) -> dict[str, str]:
    return {t.id: t.label(here.lang) for t in vocabulary.tags(here.cache)}


def _tag_names(labels: dict[str, str], tags: Sequence[str]) -> str:
    return ", ".join(labels.get(t, t) for t in tags)


def _link_events(here: Here, tid: str) -> list[HistoryRow]:
    """This testimony's ``link`` and ``unlink`` annotations (the incidents' history holds them)."""
    rows = here.cache.query(
        "SELECT DISTINCT idx, incident, actor, received, kind, payload FROM ws_incident_history "
        "WHERE kind IN ('link', 'unlink') AND json_extract(payload, '$.testimony') = ? "
        "ORDER BY idx",
        (tid,),
    )
    found: list[HistoryRow] = []
    seen: set[int] = set()
    for idx, incident, actor, received, kind, payload in rows:
        if int(idx) in seen:
            continue
        seen.add(int(idx))
        body = json.loads(payload)
        title = _incident_title(here, str(incident))
        if kind == "link":
            what = here.t(
                "testimony.history.link",
                incident=title,
                role=here.t(f"testimony.role.{body['role']}"),
                reliability=here.t(f"testimony.reliability.{body['reliability']}"),
                validity=here.t(f"testimony.validity.{body['validity']}"),
            )
        else:
            what = here.t("testimony.history.unlink", incident=title)
        found.append(HistoryRow(int(idx), str(received), str(actor), what, str(kind)))
    return found


def _incident_title(here: Here, incident_id: str) -> str:
    try:
        record = incident_records.get(here.cache, incident_id)
    except incident_records.UnknownIncident:
        return _short(incident_id)
    return f"{record.title or '-'} ({incident_id[:8]})"


def _accesses(here: Here, tid: str) -> list[HistoryRow]:
    """The server's ``access`` entries naming this testimony: who was handed its ciphertexts."""
    wanted = tid.encode()
    found = []
    for index, _entry_id, _type, data in here.cache.entries(["access"]):
        if wanted not in data:
            continue
        try:
            entry = parse_entry(data)
        except CryptoError:
            continue
        if not isinstance(entry, AccessEntry) or tid not in entry.subjects:
            continue
        others = len(entry.subjects) - 1
        what = (
            here.t("testimony.history.access-with", others=others)
            if others
            else here.t("testimony.history.access")
        )
        found.append(HistoryRow(index, format_time(entry.received), entry.reviewer, what, "access"))
    return found


def _event_row(here: Here, event: triage.Event, labels: dict[str, str]) -> HistoryRow:
    body = event.payload
    kind = event.kind
    if kind == "followup":
        files = len(body.get("attachments") or [])
        what = here.t("testimony.history.followup", files=files)
        return HistoryRow(event.index, event.received or "", None, what, kind)
    if kind == "state":
        what = here.t("testimony.history.state", state=here.t(f"testimony.state.{body['state']}"))
        if body.get("duplicate_of"):
            what += " " + here.t("testimony.history.duplicate", of=_short(body["duplicate_of"]))
    elif kind == "assign":
        reviewer = body.get("reviewer")
        what = (
            here.t("testimony.history.assign", reviewer=_who(here, reviewer))
            if reviewer
            else here.t("testimony.history.assign-nobody")
        )
    elif kind in ("tag", "untag"):
        what = here.t(f"testimony.history.{kind}", tags=_tag_names(labels, body["tags"]))
    elif kind == "note":
        what = here.t("testimony.history.note")
    elif kind == "translation":
        what = here.t("testimony.history.translation", lang=body["lang"])
    elif kind == "reply":
        what = here.t("testimony.history.reply-sent" if event.sent else "testimony.history.reply")
    elif kind == "reply-entry":
        what = here.t("testimony.history.reply-entry")
    else:
        what = kind
    return HistoryRow(event.index, event.received or "", event.actor, what, kind)


def _who(here: Here, reviewer: str | None) -> str:
    if not reviewer:
        return "-"
    short = fingerprint(reviewer)[:9]
    return f"{short} ({here.t('testimony.you')})" if reviewer == here.identity.id else short


def _conversation(events: Sequence[triage.Event], files: Sequence[FileView]) -> list[Message]:
    found = []
    for event in events:
        if event.kind == "followup":
            manifest = event.payload.get("manifest")
            text = manifest.get("text") if isinstance(manifest, dict) else None
            found.append(
                Message(
                    event.index,
                    event.received or "",
                    True,
                    text if isinstance(text, str) else None,
                    files=[f for f in files if f.source == event.payload.get("id")],
                )
            )
        elif event.kind == "reply":
            found.append(
                Message(
                    event.index,
                    event.received or "",
                    False,
                    str(event.payload.get("text", "")),
                    event.actor,
                    event.sent,
                )
            )
        elif event.kind == "reply-entry":
            found.append(Message(event.index, event.received or "", False, None, event.actor, True))
    return found


@dataclass
class Part:
    """A piece of an answer: the witness's words carry the statement's
    language; a choice's label, the reviewer's (``lang`` None: a date or a
    number). ``prefix`` is a word of the UI's before it (``other:``)."""

    text: str
    lang: str | None
    prefix: str = ""


@dataclass
class Shown:
    """One answer of the statement as the page shows it."""

    label: str
    kind: str
    parts: list[Part]
    files: tuple[int, ...] = ()


_WITNESS_WORDS = frozenset({"text", "longtext"})


def _when(value: object) -> str:
    return str(value).replace("T", " ")


def _answers(
    here: Here, statement: dict[str, Any], numbers: dict[str, int], lang: str | None
) -> list[Shown]:
    """The statement's answers (``reading.answers``: the form's labels in the
    reviewer's language), each cut into parts by whose language they are in."""
    form = reading.form_of(statement)
    given = statement.get("answers")
    raw = given if isinstance(given, dict) else {}
    found = []
    for answer in reading.answers(statement, here.lang, numbers):
        value = raw.get(answer.field)
        form_field: Any = None
        if form is not None:
            try:
                form_field = form.field(answer.field)
            except KeyError:
                form_field = None
        items = value if isinstance(value, list) else [value]
        parts: list[Part]
        if answer.kind in _WITNESS_WORDS or answer.kind == "":
            parts = [Part(answer.text, lang)]
        elif answer.kind == "attachments":
            parts = []
        elif answer.kind in ("choice", "multichoice"):
            parts = []
            for item in items:
                if isinstance(item, dict) and "other" in item:
                    other = here.t("testimony.statement.other")
                    parts.append(Part(str(item["other"]), lang, other))
                else:
                    text = reading.answer_text(item, form_field, here.lang, numbers)
                    parts.append(Part(text, here.lang))
        elif answer.kind == "place":
            parts = []
            for item in items:
                own = isinstance(item, dict) and "id" not in item
                text = reading.answer_text(item, form_field, here.lang, numbers)
                parts.append(Part(text, lang if own else here.lang))
        elif answer.kind == "datetime_range" and isinstance(value, dict):
            start, end = _when(value.get("start") or "?"), value.get("end")
            text = (
                here.t("testimony.statement.range", start=start, end=_when(end)) if end else start
            )
            parts = [Part(text, None)]
        elif answer.kind == "boolean" and isinstance(value, bool):
            parts = [Part(here.t("testimony.yes" if value else "testimony.no"), here.lang)]
        else:
            parts = [Part(answer.text, None)]
        found.append(Shown(answer.label, answer.kind, parts, answer.attachments))
    return found


def _consent(here: Here, statement: dict[str, Any]) -> tuple[list[str], bool] | None:
    given = reading.consent(statement)
    if given is None:
        return None
    shares, contact = given
    choices: dict[str, str] = {}
    try:
        wording = consent_wording().field("share_with")
        choices = {c.id: vocabulary.label(c.label, here.lang, c.id) for c in wording.choices or []}
    except KeyError:
        pass
    return [choices.get(s, s) for s in shares], contact


def _translations(events: Sequence[triage.Event]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.kind == "translation":
            latest[str(event.payload["lang"])] = {
                "lang": str(event.payload["lang"]),
                "text": str(event.payload["text"]),
                "actor": event.actor,
                "when": event.received or "",
                "index": event.index,
            }
    return [latest[code] for code in sorted(latest)]


def _reply_block(here: Here, record: Any) -> str:
    """Why no reply can be sent ("" when one can)."""
    try:
        actions.witness_box_key(record)
    except WorkstationError as refused:
        key = f"testimony.refused.{refused.code}"
        return here.t(key) if key in render.catalogue()["en"] else str(refused)
    return ""


def _members(here: Here) -> list[tuple[str, str]]:
    """``(reviewer id, role)`` of everyone with standing who may be assigned, admins first."""
    standing = org.replay(here.cache).governance.standing()
    return sorted(
        ((who, role) for who, role in standing.items() if role in ("reviewer", "admin")),
        key=lambda pair: (pair[1] != "admin", pair[0]),
    )


def _vocabulary(here: Here) -> list[tuple[str, list[tuple[str, str]]]]:
    """The tags a reviewer may add, by group: ``(group, [(id, label)])``."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for tag in vocabulary.tags(here.cache):
        if not tag.retired:
            groups.setdefault(tag.group, []).append((tag.id, tag.label(here.lang)))
    order = {g: n for n, g in enumerate(TAG_GROUPS)}
    return sorted(groups.items(), key=lambda pair: order.get(pair[0], 99))


@dataclass(frozen=True)
class Linked:
    """An incident the testimony is linked to."""

    id: str
    title: str
    link: incident_records.Link

    @property
    def role(self) -> str:
        return self.link.role

    @property
    def reliability(self) -> str:
        return self.link.reliability

    @property
    def validity(self) -> str:
        return self.link.validity


def show(here: Here) -> Response:
    """The testimony page."""
    try:
        tid = _testimony(here)
    except triage.UnknownTestimony as unknown:
        ref = str(here.request.path_params["ref"])
        key = "testimony.ambiguous" if unknown.code == "ambiguous-id" else "testimony.unknown"
        return here.render(
            "error.html", status=404, message=here.t(key, ref=ref), code=unknown.code
        )
    cache = here.cache
    row = triage.testimony(cache, tid)
    record = cache.record("submission", tid)
    statement = record.get("statement") if isinstance(record, dict) else None
    labels = _labels(here)
    files = _files(here, tid)
    numbers = {a.blob: a.number for a in attachments.attachments(cache, tid)}
    events = triage.events(cache, tid)
    linked = [
        Linked(incident_id, _incident_title_only(here, incident_id), link)
        for incident_id, link in incident_records.linked_incidents(cache, tid)
    ]
    history = sorted(
        [
            *(_event_row(here, e, labels) for e in events),
            *_link_events(here, tid),
            *_accesses(here, tid),
        ],
        key=lambda r: r.index,
    )
    note = cache.latest_checkpoint()
    try:
        tree = checkpoints.parse(note).size if note else None
    except CryptoError:
        tree = None
    lang = row.lang
    return here.render(
        "testimony.html",
        tid=tid,
        short=_short(tid),
        row=row,
        labels=labels,
        statement=statement if isinstance(statement, dict) else None,
        answers=_answers(here, statement, numbers, lang) if isinstance(statement, dict) else [],
        consent=_consent(here, statement) if isinstance(statement, dict) else None,
        files=files,
        translations=_translations(events),
        conversation=_conversation(events, files),
        notes=[e for e in events if e.kind == "note"],
        history=history,
        log_size=cache.log_size(),
        tree_size=tree,
        linked=linked,
        all_incidents=[(i.id, i.title) for i in incident_records.incidents(cache)],
        reply_block=_reply_block(here, record),
        members=_members(here),
        vocabulary=_vocabulary(here),
        states=STATES,
        roles=ROLES,
        reliability=list(zip(RELIABILITY, RELIABILITY_LETTERS, strict=True)),
        validity=list(zip(VALIDITY, VALIDITY_DIGITS, strict=True)),
        who=lambda reviewer: _who(here, reviewer),
        fingerprint=fingerprint,
        me_id=here.identity.id,
    )


def _incident_title_only(here: Here, incident_id: str) -> str:
    try:
        return incident_records.get(here.cache, incident_id).title
    except incident_records.UnknownIncident:
        return ""


# --- changes ------------------------------------------------------------------------------------


def _refused(here: Here, error: WorkstationError) -> WorkstationError:
    """The refusal in the reviewer's language when this page knows its code."""
    key = f"testimony.refused.{error.code}"
    if isinstance(error, Refused) or key not in render.catalogue()["en"]:
        return error
    return Refused(here.t(key), error.code)


def _change(here: Here, do: Callable[[str], str]) -> Response:
    tid = _testimony(here)
    try:
        message = do(tid)
    except WorkstationError as error:
        raise _refused(here, error) from None
    return here.back(here.field("back") or f"/testimony/{tid}", ok=message)


def _text(here: Here, name: str) -> str:
    text = here.field(name)
    if not text.strip():
        raise Refused(here.t("testimony.refused.empty"), "empty-text")
    return text


def change_state(here: Here) -> Response:
    def do(tid: str) -> str:
        state = here.field("state")
        duplicate = here.field("duplicate_of").strip() or None
        if duplicate is not None and state != "duplicate":
            raise Refused(
                here.t("testimony.refused.duplicate-of-without-duplicate"),
                "duplicate-of-without-duplicate",
            )
        actions.set_state(here.cache, here.identity, tid, state, duplicate)
        return here.t("testimony.done.state", state=here.t(f"testimony.state.{state}"))

    return _change(here, do)


def change_assign(here: Here) -> Response:
    def do(tid: str) -> str:
        wanted = here.field("reviewer")
        target: str | None
        if wanted == "nobody":
            target = None
        elif wanted in ("me", ""):
            target = here.identity.id
        else:
            target = org.reviewer_id_of(wanted)
        actions.assign(here.cache, here.identity, tid, target)
        if target is None:
            return here.t("testimony.done.assign-nobody")
        return here.t("testimony.done.assign", reviewer=_who(here, target))

    return _change(here, do)


def _tag_names_given(here: Here) -> list[str]:
    names = [n.strip() for n in here.fields("tag") if n.strip()]
    if not names:
        raise Refused(here.t("testimony.refused.no-tags"), "no-tags")
    return names


def change_tag(here: Here) -> Response:
    def do(tid: str) -> str:
        try:
            chosen = actions.tag(here.cache, here.identity, tid, _tag_names_given(here))
        except vocabulary.UnknownTag as unknown:
            if unknown.code != "unknown-tag":
                raise
            raise Refused(
                here.t("testimony.refused.unknown-tag", tag=", ".join(here.fields("tag"))),
                "unknown-tag",
            ) from None
        return here.t("testimony.done.tag", tags=_tag_names(_labels(here), chosen))

    return _change(here, do)


def change_untag(here: Here) -> Response:
    def do(tid: str) -> str:
        chosen = actions.untag(here.cache, here.identity, tid, _tag_names_given(here))
        return here.t("testimony.done.untag", tags=_tag_names(_labels(here), chosen))

    return _change(here, do)


def add_note(here: Here) -> Response:
    def do(tid: str) -> str:
        sent = actions.note(here.cache, here.identity, tid, _text(here, "note_text"))
        return here.t("testimony.done.note", index=sent.index)

    return _change(here, do)


def add_translation(here: Here) -> Response:
    def do(tid: str) -> str:
        lang = here.field("translation_lang").strip()
        if not lang:
            raise Refused(here.t("testimony.refused.no-lang"), "no-lang")
        if not _LANG.fullmatch(lang):
            raise Refused(here.t("testimony.refused.bad-lang"), "bad-lang")
        text = _text(here, "translation_text")
        sent = actions.translate(here.cache, here.identity, tid, lang, text)
        return here.t("testimony.done.translation", lang=lang, index=sent.index)

    return _change(here, do)


def send_reply(here: Here) -> Response:
    def do(tid: str) -> str:
        sent = actions.reply(here.cache, here.identity, tid, _text(here, "reply_text"))
        return here.t("testimony.done.reply", index=sent.index)

    return _change(here, do)


def link_incident(here: Here) -> Response:
    def do(tid: str) -> str:
        iid, sent = actions.link(
            here.cache,
            here.identity,
            here.field("incident"),
            tid,
            here.field("role"),
            here.field("reliability") or None,
            here.field("validity") or None,
        )
        return here.t("testimony.done.link", incident=_incident_title(here, iid), index=sent.index)

    return _change(here, do)


def new_incident(here: Here) -> Response:
    def do(tid: str) -> str:
        title = here.field("title").strip()
        role = here.field("role")
        if role not in ROLES:
            raise Refused(here.t("testimony.refused.unknown-role"), "unknown-role")
        fields = actions.incident_fields(here.cache, here.lang, title=title)
        iid, _ = actions.new_incident(here.cache, here.identity, fields)
        _, sent = actions.link(
            here.cache,
            here.identity,
            iid,
            tid,
            role,
            here.field("reliability") or None,
            here.field("validity") or None,
        )
        return here.t(
            "testimony.done.new-incident", incident=_incident_title(here, iid), index=sent.index
        )

    return _change(here, do)


def unlink_incident(here: Here) -> Response:
    def do(tid: str) -> str:
        iid, sent = actions.unlink(here.cache, here.identity, here.field("incident"), tid)
        return here.t(
            "testimony.done.unlink", incident=_incident_title(here, iid), index=sent.index
        )

    return _change(here, do)


_BASE = "/testimony/{ref}"

ROUTES: list[BaseRoute] = [
    page(_BASE, show),
    page(_BASE + "/file/{n:int}/safe", safe_file),
    page(_BASE + "/file/{n:int}/audio", audio_file),
    page(_BASE + "/file/{n:int}/download", download_file),
    page(_BASE + "/state", change_state, methods=("POST",), keep=("duplicate_of",)),
    page(_BASE + "/assign", change_assign, methods=("POST",)),
    page(_BASE + "/tag", change_tag, methods=("POST",), keep=("tag",)),
    page(_BASE + "/untag", change_untag, methods=("POST",)),
    page(_BASE + "/note", add_note, methods=("POST",), keep=("note_text",)),
    page(
        _BASE + "/translate",
        add_translation,
        methods=("POST",),
        keep=("translation_lang", "translation_text"),
    ),
    page(_BASE + "/reply", send_reply, methods=("POST",), keep=("reply_text",)),
    page(_BASE + "/link", link_incident, methods=("POST",)),
    page(_BASE + "/new-incident", new_incident, methods=("POST",), keep=("title",)),
    page(_BASE + "/unlink", unlink_incident, methods=("POST",)),
]
