"""Triage (docs/workstation.md, "Daily triage" and "Replies")::

    testimony review list [--state S]... [--tag T]... [--incident I] [--place P]...
                          [--language L] [--since DATE] [--until DATE] [--assigned R]
                          [--search TEXT] [--limit N]
    testimony review show ID [--labels LANG]
    testimony review state ID new|in-review|needs-follow-up|corroborated|duplicate|rejected
                          [--duplicate-of ID]
    testimony review assign ID REVIEWER|me|nobody
    testimony review tag ID TAG...          testimony review untag ID TAG...
    testimony review note ID TEXT           testimony review translate ID --lang en TEXT
    testimony review reply ID TEXT
    testimony review export-attachment ID N --to FILE [--safe-copy]
    testimony review vocab list [--group G]
    testimony review vocab add GROUP/NAME --label LANG=TEXT... [--lat X --lon Y] [--retire]

(each with ``--workstation DIR`` and ``--passphrase-file FILE``). ``ID`` is a
testimony's submission id or its first 6 or more hex digits. Every change is
an ``annotation`` entry sealed under the group secret (§12.6), sent through
the reviewer's session; the reading commands work offline, on the cache.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from testimony.client.console import fail

from .. import actions, attachments, org, reading, search, triage, vocabulary
from .. import annotations as notes
from .. import incidents as incident_records
from ..annotations import STATES, TAG_GROUPS
from ..home import WorkstationError
from ..text import mixed_scripts
from . import Opened, PassphraseFile, WorkstationDir, errors, opened, say

__all__ = ["register"]

review_app = typer.Typer(
    no_args_is_help=True,
    help="Triage testimonies: list, read, tag, annotate, reply (docs/workstation.md).",
)
vocab_app = typer.Typer(no_args_is_help=True, help="The controlled vocabulary of tags.")
review_app.add_typer(vocab_app, name="vocab")

TestimonyId = Annotated[
    str, typer.Argument(metavar="ID", help="A testimony's id, or its first 6 or more hex digits.")
]
LabelsLang = Annotated[
    str | None,
    typer.Option(
        "--labels",
        help="The language of the form's labels and tag names (default: from $LANG, else en).",
        show_default=False,
    ),
]
_DATE = re.compile(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?")


def register(app: typer.Typer) -> None:
    """Add ``review`` to the ``testimony`` command."""
    app.add_typer(review_app, name="review")


# --- shared with commands/incident.py -------------------------------------------------------


@contextmanager
def workstation_open(workstation: Path | None, passphrase_file: Path | None) -> Iterator[Opened]:
    """The workstation unlocked, with the triage tables brought up to date."""
    with errors(), opened(workstation, passphrase_file) as ws:
        triage.refresh(ws.cache)
        yield ws


def display_lang(given: str | None) -> str:
    if given:
        return given
    env = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
    code = env.split(".")[0].split("_")[0].lower()
    return code if re.fullmatch(r"[a-z]{2,3}", code) and code not in ("c", "posix") else "en"


def short(identifier: str | None, digits: int = 12) -> str:
    return "-" if not identifier else identifier[:digits]


def moment(received: str | None) -> str:
    if not received:
        return "-"
    return received.replace("T", " ")[:16]


def tag_label(cache: Any, tag_id: str, lang: str) -> str:
    tag = vocabulary.tag(cache, tag_id)
    return tag.label(lang) if tag is not None else tag_id


def publish(ws: Opened, payload: dict[str, Any]) -> notes.Annotation:
    """Send one annotation through the session; fold it into the cache at once."""
    return actions.publish(ws.cache, ws.identity, payload)


def checked_date(value: str | None, option: str) -> str | None:
    if value is not None and not _DATE.fullmatch(value):
        raise fail(f"{option} is a date: YYYY, YYYY-MM or YYYY-MM-DD", "bad-date")
    return value


def find_testimony(ws: Opened, text: str) -> str:
    return triage.find(ws.cache, text)


# --- list --------------------------------------------------------------------------------------


@review_app.command("list")
def review_list(
    state: Annotated[
        list[str] | None,
        typer.Option("--state", help=f"Only in this state ({', '.join(STATES)}); repeatable."),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Only with this tag (yours or the witness's); repeatable."),
    ] = None,
    incident: Annotated[
        str | None, typer.Option("--incident", help="Only linked to this incident.")
    ] = None,
    place: Annotated[
        list[str] | None,
        typer.Option(
            "--place", help="Only about this village (Masanchi, Масанчи, place/masanchi)."
        ),
    ] = None,
    language: Annotated[
        str | None, typer.Option("--language", help="Only written in this language (ru, kk...).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only received on or after this date.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Only received on or before this date.")
    ] = None,
    assigned: Annotated[
        str | None, typer.Option("--assigned", help="Only assigned to this reviewer (or `me`).")
    ] = None,
    search_text: Annotated[
        str | None,
        typer.Option("--search", help="Only those whose words match (any script, any spelling)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")] = 50,
    labels: LabelsLang = None,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """The testimonies in the cache, newest first, with their state and tags."""
    lang = display_lang(labels)
    for value, option in ((since, "--since"), (until, "--until")):
        checked_date(value, option)
    for value in state or []:
        if value not in STATES:
            raise fail(f"--state is one of {', '.join(STATES)}", "unknown-state")
    with workstation_open(workstation, passphrase_file) as ws:
        cache = ws.cache
        wanted_incident = None
        if incident is not None:
            wanted_incident = incident_records.canonical(
                cache, incident_records.find(cache, incident)
            )
        reviewer = None
        if assigned is not None:
            reviewer = ws.identity.id if assigned == "me" else org.reviewer_id_of(assigned)
        ids = None
        if search_text is not None:
            ids = tuple(h.doc for h in search.search(cache, search_text, kinds=("testimony",)))
        filters = triage.Filters(
            states=tuple(state or ()),
            tags=tuple(vocabulary.resolve(cache, t) for t in tag or ()),
            incident=wanted_incident,
            places=tuple(vocabulary.resolve(cache, p, group="place") for p in place or ()),
            language=language,
            since=since,
            until=until,
            assignee=reviewer,
            ids=ids,
        )
        rows, total = triage.testimonies(cache, filters, limit=limit)
        for row in rows:
            tags = ", ".join(tag_label(cache, t, lang) for t in row.tags) or "-"
            extras = [
                f"{count} {one if count == 1 else more}"
                for count, one, more in (
                    (row.followups, "follow-up", "follow-ups"),
                    (row.notes, "note", "notes"),
                    (row.replies, "reply", "replies"),
                )
                if count
            ]
            say(
                f"{short(row.id)}  {moment(row.received)}  {row.lang or '-':<3}  "
                f"{row.state:<15}  {short(row.assignee, 8):<8}  [{tags}]  "
                f"{row.summary}{'  (' + ', '.join(extras) + ')' if extras else ''}"
            )
    shown = len(rows)
    more = f" (the first {shown}; --limit to see more)" if total > shown else ""
    say(f"{total} testimon{'y' if total == 1 else 'ies'}{more}", err=True)


# --- show --------------------------------------------------------------------------------------


def _indented(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines() or [""])


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


@review_app.command("show")
def review_show(
    testimony_id: TestimonyId,
    labels: LabelsLang = None,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """One testimony: the statement in its own language, the form's labels in
    yours, the files (listed, never opened), follow-ups and replies in order."""
    lang = display_lang(labels)
    with workstation_open(workstation, passphrase_file) as ws:
        cache = ws.cache
        tid = find_testimony(ws, testimony_id)
        row = triage.testimony(cache, tid)
        record = cache.record("submission", tid)
        statement = record.get("statement") if isinstance(record, dict) else None
        files = attachments.attachments(cache, tid)
        out = [f"testimony {tid}"]
        out.append(
            f"received {moment(row.received)} · form {row.form or '-'} · language "
            f"{row.lang or '-'} · witness key {'yes (replies possible)' if row.witness else 'none'}"
        )
        state = row.state + (
            f" (duplicate of {short(row.duplicate_of)})" if row.duplicate_of else ""
        )
        out.append(f"state: {state} · assigned to: {short(row.assignee, 8)}")
        out.append("tags: " + (", ".join(tag_label(cache, t, lang) for t in row.tags) or "-"))
        out.append(
            "the witness chose: "
            + (", ".join(tag_label(cache, t, lang) for t in row.witness_tags) or "-")
        )
        for incident_id, link in incident_records.linked_incidents(cache, tid):
            record_of = incident_records.get(cache, incident_id)
            out.append(
                f"incident {short(incident_id)} {record_of.title!r}: {link.role}, source "
                f"{link.reliability}, information {link.validity}"
            )
        if not isinstance(statement, dict):
            out.append("")
            out.append("(the statement is not in the cache: run `testimony sync`)")
        else:
            form = reading.form_of(statement)
            numbers = {a.blob: a.number for a in files}
            answers = statement.get("answers")
            out.append("")
            for field_id, value in answers.items() if isinstance(answers, dict) else []:
                form_field = None
                label = field_id
                if form is not None:
                    try:
                        form_field = form.field(field_id)
                        label = vocabulary.label(form_field.label, lang, field_id)
                    except KeyError:
                        pass
                out.append(f"{label}")
                out.append(_indented(reading.answer_text(value, form_field, lang, numbers)))
            consent = statement.get("consent")
            if isinstance(consent, dict):
                shares = consent.get("share_with")
                out.append(
                    "consent: share with "
                    + (
                        ", ".join(map(str, shares))
                        if isinstance(shares, list) and shares
                        else "nobody"
                    )
                    + f"; may be contacted: {'yes' if consent.get('contact') else 'no'}"
                )
        out.append("")
        out.append(
            "attachments (never opened here; images have a safe copy):"
            if files
            else "attachments: none"
        )
        for item in files:
            where = "" if item.source == "submission" else f" (follow-up {short(item.source)})"
            how = "image: --safe-copy to export a re-encoded copy" if item.image else "export only"
            out.append(
                f"  {item.number}. {item.name}  {item.media_type}  {_size(item.size)}{where}  [{how}]"
            )
            if mixed := mixed_scripts(item.name):
                out.append(f"     look-alike letters: {', '.join(mixed)} mixes two alphabets")
        history = triage.events(cache, tid)
        translations: dict[str, str] = {}
        if history:
            out.append("")
            out.append("history:")
        for event in history:
            who = short(event.actor, 8) if event.actor else "witness"
            head = f"  #{event.index} {moment(event.received)} {who}"
            body = event.payload
            if event.kind == "followup":
                manifest = body.get("manifest") or {}
                out.append(f"{head} follow-up:")
                out.append(_indented(str(manifest.get("text", "")), "      "))
            elif event.kind == "reply":
                status = "sent" if event.sent else "not yet seen in the log"
                out.append(f"{head} reply to the witness ({status}):")
                out.append(_indented(body["text"], "      "))
            elif event.kind == "reply-entry":
                out.append(f"{head} a reply to the witness (its text was not recorded)")
            elif event.kind == "note":
                out.append(f"{head} note:")
                out.append(_indented(body["text"], "      "))
            elif event.kind == "translation":
                translations[body["lang"]] = body["text"]
                out.append(f"{head} translation into {body['lang']}")
            elif event.kind == "state":
                extra = f" of {short(body['duplicate_of'])}" if body.get("duplicate_of") else ""
                out.append(f"{head} state → {body['state']}{extra}")
            elif event.kind == "assign":
                out.append(
                    f"{head} assigned to {short(body['reviewer'], 8) if body['reviewer'] else 'nobody'}"
                )
            elif event.kind in ("tag", "untag"):
                names = ", ".join(tag_label(cache, t, lang) for t in body["tags"])
                out.append(f"{head} {'tagged' if event.kind == 'tag' else 'untagged'} {names}")
        for code, text in sorted(translations.items()):
            out.append("")
            out.append(f"translation ({code}):")
            out.append(_indented(text))
    say("\n".join(out))


# --- changes -----------------------------------------------------------------------------------


def _done(sent: notes.Annotation, what: str) -> None:
    say(f"{what} (logged at index {sent.index})")


@review_app.command("state")
def review_state(
    testimony_id: TestimonyId,
    new_state: Annotated[str, typer.Argument(metavar="STATE", help=" | ".join(STATES))],
    duplicate_of: Annotated[
        str | None, typer.Option("--duplicate-of", help="With `duplicate`: of which testimony.")
    ] = None,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Move a testimony to another state of triage."""
    if new_state not in STATES:
        raise fail(f"a state is one of {', '.join(STATES)}", "unknown-state")
    if duplicate_of is not None and new_state != "duplicate":
        raise fail(
            "--duplicate-of goes with the state `duplicate`", "duplicate-of-without-duplicate"
        )
    with workstation_open(workstation, passphrase_file) as ws:
        tid = find_testimony(ws, testimony_id)
        sent = actions.set_state(ws.cache, ws.identity, tid, new_state, duplicate_of)
    _done(sent, f"{short(tid)}: {new_state}")


@review_app.command("assign")
def review_assign(
    testimony_id: TestimonyId,
    reviewer: Annotated[
        str,
        typer.Argument(metavar="REVIEWER", help="A reviewer id (fingerprint), `me` or `nobody`."),
    ],
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Assign a testimony to a reviewer with standing (or to nobody)."""
    with workstation_open(workstation, passphrase_file) as ws:
        tid = find_testimony(ws, testimony_id)
        target: str | None
        if reviewer == "nobody":
            target = None
        else:
            target = ws.identity.id if reviewer == "me" else org.reviewer_id_of(reviewer)
        sent = actions.assign(ws.cache, ws.identity, tid, target)
    _done(sent, f"{short(tid)}: assigned to {short(target, 8) if target else 'nobody'}")


@review_app.command("tag")
def review_tag(
    testimony_id: TestimonyId,
    tags: Annotated[list[str], typer.Argument(metavar="TAG...", help="Tag ids, names or labels.")],
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Tag a testimony with tags of the vocabulary."""
    with workstation_open(workstation, passphrase_file) as ws:
        tid = find_testimony(ws, testimony_id)
        chosen = actions.tag(ws.cache, ws.identity, tid, tags)
    say(f"{short(tid)}: tagged {', '.join(chosen)}")


@review_app.command("untag")
def review_untag(
    testimony_id: TestimonyId,
    tags: Annotated[list[str], typer.Argument(metavar="TAG...", help="Tag ids, names or labels.")],
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Take reviewers' tags off a testimony (the witness's own choices stay)."""
    with workstation_open(workstation, passphrase_file) as ws:
        tid = find_testimony(ws, testimony_id)
        chosen = actions.untag(ws.cache, ws.identity, tid, tags)
    say(f"{short(tid)}: untagged {', '.join(chosen)}")


@review_app.command("note")
def review_note(
    testimony_id: TestimonyId,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The note (quote it).")],
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Add a note for the other reviewers."""
    with workstation_open(workstation, passphrase_file) as ws:
        tid = find_testimony(ws, testimony_id)
        sent = actions.note(ws.cache, ws.identity, tid, text)
    _done(sent, f"{short(tid)}: note added")


@review_app.command("translate")
def review_translate(
    testimony_id: TestimonyId,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The translation (quote it).")],
    lang: Annotated[
        str, typer.Option("--lang", help="The translation's language (BCP 47: en, ru...).")
    ],
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Add a translation of the statement (the latest per language is shown)."""
    with workstation_open(workstation, passphrase_file) as ws:
        tid = find_testimony(ws, testimony_id)
        sent = actions.translate(ws.cache, ws.identity, tid, lang, text)
    _done(sent, f"{short(tid)}: translation into {lang} added")


@review_app.command("reply")
def review_reply(
    testimony_id: TestimonyId,
    text: Annotated[
        str, typer.Argument(metavar="TEXT", help="The question or message (quote it).")
    ],
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Send the witness a message, sealed to their witness key (§7): they read
    it on the return page with their receipt code."""
    with workstation_open(workstation, passphrase_file) as ws:
        tid = find_testimony(ws, testimony_id)
        sent = actions.reply(ws.cache, ws.identity, tid, text)
    say(
        f"{short(tid)}: reply sent (logged at index {sent.index}; its text at index "
        f"{sent.recorded}, readable by the team)"
    )


@review_app.command("export-attachment")
def review_export_attachment(
    testimony_id: TestimonyId,
    number: Annotated[
        int, typer.Argument(metavar="N", help="The attachment's number in `review show`.")
    ],
    to: Annotated[Path, typer.Option("--to", help="The new file to write (never overwritten).")],
    safe_copy: Annotated[
        bool,
        typer.Option(
            "--safe-copy", help="Write the re-encoded copy of an image, not the original."
        ),
    ] = False,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Write an attachment to a file you name: the original, byte-exact (open
    it only in an isolated environment), or an image's safe copy."""
    with workstation_open(workstation, passphrase_file) as ws:
        tid = find_testimony(ws, testimony_id)
        if safe_copy:
            copy = attachments.safe_copy(ws.cache, tid, number)
            attachments.export(copy.data, to)
            what = f"a safe copy ({copy.media_type}, {copy.width} x {copy.height}, no metadata)"
        else:
            item, data = attachments.original(ws.cache, tid, number)
            attachments.export(data, to)
            what = f"the original {item.name!r} ({item.media_type}, {len(data)} bytes, SHA-256 checked)"
    say(f"wrote {what} to {to}")
    if not safe_copy:
        say(
            "Open it only with a viewer you trust, ideally on a machine without network: "
            "a file can carry an attack.",
            err=True,
        )


# --- vocabulary --------------------------------------------------------------------------------


@vocab_app.command("list")
def vocab_list(
    group: Annotated[
        str | None, typer.Option("--group", help=f"Only this group ({', '.join(TAG_GROUPS)}).")
    ] = None,
    labels: LabelsLang = None,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """The tags you can use: the form's, and those the admins added."""
    lang = display_lang(labels)
    with workstation_open(workstation, passphrase_file) as ws:
        for tag in vocabulary.tags(ws.cache, group=group):
            where = f"  ({tag.lat}, {tag.lon})" if tag.lat is not None else ""
            retired = "  [retired]" if tag.retired else ""
            say(f"{tag.id:<40} {tag.label(lang)}{where}{retired}")


@vocab_app.command("add")
def vocab_add(
    tag_id: Annotated[str, typer.Argument(metavar="GROUP/NAME", help="e.g. place/karasu.")],
    label: Annotated[
        list[str], typer.Option("--label", help="LANG=TEXT, e.g. kk=Karasu; repeatable.")
    ],
    lat: Annotated[float | None, typer.Option("--lat", help="A place's latitude.")] = None,
    lon: Annotated[float | None, typer.Option("--lon", help="A place's longitude.")] = None,
    retire: Annotated[
        bool, typer.Option("--retire", help="Retire the tag (kept, not offered).")
    ] = False,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Add a tag to the vocabulary, or change one (admins)."""
    texts: dict[str, str] = {}
    for item in label:
        code, sep, text = item.partition("=")
        if not sep:
            raise fail("--label is LANG=TEXT", "bad-label")
        texts[code.strip()] = text.strip()
    payload: dict[str, Any] = {"v": 1, "kind": "vocabulary", "tag": tag_id, "labels": texts}
    if lat is not None or lon is not None:
        payload.update(lat=lat, lon=lon)
    if retire:
        payload["retired"] = True
    with workstation_open(workstation, passphrase_file) as ws:
        notes.check_payload(payload)
        if notes.Organisation.from_cache(ws.cache).role(ws.identity.id) != "admin":
            raise WorkstationError(
                "only an admin changes the vocabulary (as this workstation's copy of the log has it)",
                "admin-only",
            )
        sent = publish(ws, payload)
    _done(sent, f"{tag_id}: in the vocabulary")
