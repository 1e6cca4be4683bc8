"""Canonical incident records (docs/workstation.md, "Incidents")::

    testimony incident new --title T [--start D] [--end D] [--place P]... [--act A]...
                           [--description TEXT] [--status alleged|corroborated|verified]
    testimony incident edit ID [the same options] [--clear-places] [--clear-acts]
    testimony incident show ID
    testimony incident list [--status S] [--place P] [--violation V] [--merged]
    testimony incident merge KEEP OTHER...
    testimony incident link ID TESTIMONY --role eyewitness|victim|relative|hearsay
                           [--reliability R] [--validity V]
    testimony incident unlink ID TESTIMONY
    testimony incident search TEXT...

(each with ``--workstation DIR`` and ``--passphrase-file FILE``). A place is
``NAME[@LAT,LON]`` — a village of the vocabulary in any script (``Масанчи``,
``masanchi``) or any other name; an act is ``VIOLATION[; victims=N,V-017,...][;
by=TYPE[*N][:P-1|P-2],...]``, e.g. ``arson; victims=5; by=unknown_persons*10``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from testimony.client.console import fail

from .. import actions, search, triage, vocabulary
from .. import incidents as incident_records
from ..annotations import INCIDENT_STATUSES, RELIABILITY, ROLES, VALIDITY
from ..cache import Cache
from ..home import WorkstationError
from . import PassphraseFile, WorkstationDir, say
from .review import LabelsLang, display_lang, moment, short, tag_label, workstation_open

__all__ = ["register"]

incident_app = typer.Typer(
    no_args_is_help=True,
    help="Canonical incident records: who did what to whom, and the testimonies that tell of it.",
)

IncidentId = Annotated[
    str, typer.Argument(metavar="ID", help="An incident's id, or its first 4 or more hex digits.")
]
Title = Annotated[str | None, typer.Option("--title", help="A short title.")]
Start = Annotated[
    str | None, typer.Option("--start", help="When it began: YYYY[-MM[-DD[THH:MM]]].")
]
End = Annotated[str | None, typer.Option("--end", help="When it ended.")]
Places = Annotated[
    list[str] | None,
    typer.Option(
        "--place", help="NAME[@LAT,LON]: a village of the vocabulary or any place; repeatable."
    ),
]
Acts = Annotated[
    list[str] | None,
    typer.Option(
        "--act",
        help="VIOLATION[; victims=N,V-1,...][; by=TYPE[*N][:P-1|P-2],...]; repeatable.",
    ),
]
Description = Annotated[str | None, typer.Option("--description", help="What happened.")]
Status = Annotated[str | None, typer.Option("--status", help=" | ".join(INCIDENT_STATUSES))]


def register(app: typer.Typer) -> None:
    """Add ``incident`` to the ``testimony`` command."""
    app.add_typer(incident_app, name="incident")


# --- parsing the options ------------------------------------------------------------------------


def _fields(cache: Cache, lang: str, **given: Any) -> dict[str, Any]:
    return actions.incident_fields(cache, lang, **given)


def _rating(value: str | None, scale: tuple[str, ...], letters: str, what: str) -> str:
    try:
        return actions.rating(value, scale, letters, what)
    except WorkstationError as error:
        raise fail(str(error), error.code) from None


# --- the commands -------------------------------------------------------------------------------


@incident_app.command("new")
def incident_new(
    title: Annotated[str, typer.Option("--title", help="A short title.")],
    start: Start = None,
    end: End = None,
    place: Places = None,
    act: Acts = None,
    description: Description = None,
    status: Status = None,
    labels: LabelsLang = None,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Open a new incident record; prints its id."""
    lang = display_lang(labels)
    with workstation_open(workstation, passphrase_file) as ws:
        fields = _fields(
            ws.cache,
            lang,
            title=title,
            start=start,
            end=end,
            places=place,
            acts=act,
            description=description,
            status=status or "alleged",
        )
        incident_id, index = actions.new_incident(ws.cache, ws.identity, fields)
    say(incident_id)
    say(f"incident {title!r} recorded (logged at index {index})", err=True)


@incident_app.command("edit")
def incident_edit(
    incident_id: IncidentId,
    title: Title = None,
    start: Start = None,
    end: End = None,
    place: Places = None,
    act: Acts = None,
    description: Description = None,
    status: Status = None,
    clear_places: Annotated[
        bool, typer.Option("--clear-places", help="Remove every place.")
    ] = False,
    clear_acts: Annotated[bool, typer.Option("--clear-acts", help="Remove every act.")] = False,
    labels: LabelsLang = None,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Change an incident: each option given replaces that part of the record
    (``--place`` and ``--act`` replace all the places, all the acts)."""
    lang = display_lang(labels)
    with workstation_open(workstation, passphrase_file) as ws:
        iid = incident_records.canonical(ws.cache, incident_records.find(ws.cache, incident_id))
        fields = _fields(
            ws.cache,
            lang,
            title=title,
            start=start,
            end=end,
            places=place,
            acts=act,
            description=description,
            status=status,
            clear_places=clear_places,
            clear_acts=clear_acts,
        )
        if not fields:
            raise fail("nothing to change: give at least one option", "nothing-to-change")
        sent = actions.update_incident(ws.cache, ws.identity, iid, fields)
    say(f"{short(iid)}: {', '.join(sorted(fields))} changed (logged at index {sent.index})")


def _summary(change: incident_records.Change) -> str:
    payload = change.payload
    kind = change.kind
    if kind == "incident":
        fields = payload["fields"]
        parts = []
        for name in sorted(fields):
            value = fields[name]
            if name in ("places", "acts"):
                parts.append(f"{name} ({len(value)})")
            elif name == "description":
                parts.append("description")
            else:
                parts.append(f"{name} = {value!r}")
        text = "set " + ", ".join(parts)
    elif kind == "link":
        text = (
            f"linked {short(payload['testimony'])} as {payload['role']} "
            f"({payload['reliability']}, {payload['validity']})"
        )
    elif kind == "unlink":
        text = f"unlinked {short(payload['testimony'])}"
    else:
        text = "merge"
    return text + (f" — {change.note}" if change.note else "")


@incident_app.command("show")
def incident_show(
    incident_id: IncidentId,
    labels: LabelsLang = None,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """An incident: the record, its sources and their corroboration, its full history."""
    lang = display_lang(labels)
    with workstation_open(workstation, passphrase_file) as ws:
        cache = ws.cache
        asked = incident_records.find(cache, incident_id)
        iid = incident_records.canonical(cache, asked)
        record = incident_records.get(cache, iid)
        out = []
        if asked != iid:
            out.append(f"({short(asked)} was merged into this record)")
        out.append(f"incident {iid}: {record.title or '(no title)'}")
        span = record.start or "?"
        if record.end and record.end != record.start:
            span += f" to {record.end}"
        out.append(f"status: {record.status} · when: {span}")
        for place in record.places:
            where = f" ({place['lat']}, {place['lon']})" if place["lat"] is not None else ""
            out.append(f"place: {place['name']}{where}")
        for act in record.acts:
            victims = act["victims"]
            who = []
            if victims["count"] is not None:
                who.append(str(victims["count"]))
            who.extend(victims["persons"])
            by = [
                tag_label(cache, g["type"], lang)
                + (f" x{g['count']}" if g["count"] is not None else "")
                + (f" ({', '.join(g['persons'])})" if g["persons"] else "")
                for g in act["perpetrators"]
            ]
            out.append(
                f"act: {tag_label(cache, act['violation'], lang)} · victims: {', '.join(who) or '?'}"
                f" · by: {', '.join(by) or '?'}"
            )
        if record.description:
            out.append("")
            out.append(record.description)
        if record.merged:
            out.append(f"merged into this record: {', '.join(short(m) for m in record.merged)}")
        c = incident_records.corroboration(cache, iid)
        out.append("")
        out.append(
            f"sources: {c.sources} independent ({c.first_hand} first-hand, {c.relayed} relayed) "
            f"from {c.testimonies} linked testimonies"
            + (f"; {c.excluded} duplicate or rejected not counted" if c.excluded else "")
        )
        for link in record.links:
            row = triage.testimony(cache, link.testimony) if _known(cache, link.testimony) else None
            summary = row.summary if row is not None else "(not in the cache)"
            state = row.state if row is not None else "-"
            out.append(
                f"  {short(link.testimony)}  {link.role:<10}  source {link.reliability}, "
                f"information {link.validity}  [{state}]  {summary}"
            )
        out.append("")
        out.append("history:")
        for change in incident_records.history(cache, iid):
            here = "" if change.incident == iid else f" [{short(change.incident)}]"
            out.append(
                f"  #{change.index} {moment(change.received)} {short(change.actor, 8)}{here} "
                f"{_summary(change)}"
            )
    say("\n".join(out))


def _known(cache: Cache, testimony_id: str) -> bool:
    return bool(cache.query("SELECT 1 FROM ws_testimonies WHERE id = ?", (testimony_id,)))


@incident_app.command("list")
def incident_list(
    status: Status = None,
    place: Annotated[str | None, typer.Option("--place", help="Only at this village.")] = None,
    violation: Annotated[
        str | None, typer.Option("--violation", help="Only with an act of this violation type.")
    ] = None,
    merged: Annotated[bool, typer.Option("--merged", help="Show the merged records too.")] = False,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """The canonical incident records, most recently changed first."""
    if status is not None and status not in INCIDENT_STATUSES:
        raise fail(f"--status is one of {', '.join(INCIDENT_STATUSES)}", "unknown-status")
    with workstation_open(workstation, passphrase_file) as ws:
        cache = ws.cache
        found = incident_records.incidents(
            cache,
            status=status,
            place=None if place is None else vocabulary.resolve(cache, place, group="place"),
            violation=None
            if violation is None
            else vocabulary.resolve(cache, violation, group="violation"),
            merged=merged,
        )
        for record in found:
            c = incident_records.corroboration(cache, record.id)
            note = f"  (merged into {short(record.merged_into)})" if record.merged_into else ""
            say(
                f"{short(record.id)}  {record.status:<12}  {record.start or '?':<10}  "
                f"{c.sources} source(s), {c.first_hand} first-hand  {record.title}{note}"
            )
    say(f"{len(found)} incident{'s' if len(found) != 1 else ''}", err=True)


@incident_app.command("merge")
def incident_merge(
    keep: Annotated[str, typer.Argument(metavar="KEEP", help="The record to keep.")],
    others: Annotated[
        list[str], typer.Argument(metavar="OTHER...", help="The records merged into it.")
    ],
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Merge duplicate records into one canonical record: every link moves to it."""
    with workstation_open(workstation, passphrase_file) as ws:
        kept, merged, index = actions.merge(ws.cache, ws.identity, keep, others)
    say(
        f"merged {', '.join(short(m) for m in merged)} into {short(kept)} (logged at index {index})"
    )


@incident_app.command("link")
def incident_link(
    incident_id: IncidentId,
    testimony_id: Annotated[
        str, typer.Argument(metavar="TESTIMONY", help="A testimony's id or prefix.")
    ],
    role: Annotated[str, typer.Option("--role", help=" | ".join(ROLES))],
    reliability: Annotated[
        str | None,
        typer.Option("--reliability", help=f"The source's: {' | '.join(RELIABILITY)} (or A-F)."),
    ] = None,
    validity: Annotated[
        str | None,
        typer.Option("--validity", help=f"The information's: {' | '.join(VALIDITY)} (or 1-6)."),
    ] = None,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Link a testimony to an incident, with the witness's role and two ratings.
    Linking again changes the role and ratings."""
    if role not in ROLES:
        raise fail(f"--role is one of {', '.join(ROLES)}", "unknown-role")
    rated = _rating(reliability, RELIABILITY, "ABCDEF", "--reliability")
    valid = _rating(validity, VALIDITY, "123456", "--validity")
    with workstation_open(workstation, passphrase_file) as ws:
        tid = triage.find(ws.cache, testimony_id)
        iid, sent = actions.link(ws.cache, ws.identity, incident_id, tid, role, rated, valid)
    say(f"{short(tid)} linked to {short(iid)} as {role} (logged at index {sent.index})")


@incident_app.command("unlink")
def incident_unlink(
    incident_id: IncidentId,
    testimony_id: Annotated[
        str, typer.Argument(metavar="TESTIMONY", help="A testimony's id or prefix.")
    ],
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Take a testimony off an incident."""
    with workstation_open(workstation, passphrase_file) as ws:
        tid = triage.find(ws.cache, testimony_id)
        iid, sent = actions.unlink(ws.cache, ws.identity, incident_id, tid)
    say(f"{short(tid)} unlinked from {short(iid)} (logged at index {sent.index})")


@incident_app.command("search")
def incident_search(
    words: Annotated[
        list[str], typer.Argument(metavar="TEXT...", help="Words in any script or spelling.")
    ],
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only `incident` or `testimony` hits.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Search incidents and testimonies: Масанчи finds Masanchi and Masanchy too."""
    if kind is not None and kind not in ("incident", "testimony"):
        raise fail("--kind is `incident` or `testimony`", "bad-kind")
    with workstation_open(workstation, passphrase_file) as ws:
        cache = ws.cache
        hits = search.search(cache, " ".join(words), kinds=None if kind is None else (kind,))
        for hit in hits[:limit]:
            if hit.kind == "incident":
                try:
                    record = incident_records.get(cache, hit.doc)
                except incident_records.UnknownIncident:
                    continue
                note = f" (merged into {short(record.merged_into)})" if record.merged_into else ""
                say(f"incident   {short(hit.doc)}  {record.title}{note}")
            else:
                row = triage.testimony(cache, hit.doc)
                say(f"testimony  {short(hit.doc)}  {row.state:<15}  {row.summary}")
    say(f"{len(hits)} match{'es' if len(hits) != 1 else ''}", err=True)
