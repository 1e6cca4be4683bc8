"""The queue: every testimony with its state, filtered, sorted and paged, and
bulk changes to those selected (docs/workstation.md, "The web UI").

``GET /queue`` reads its filters from the query string (so a filtered queue
is an address to keep, and works without JavaScript): ``state`` (repeatable),
``tag``, ``place`` (a village in any script), ``language``, ``incident``,
``assigned`` (``me``, ``nobody`` or a reviewer's fingerprint), ``since`` and
``until`` (received), ``q`` (the transliterating search), ``sort``
(``newest``, ``oldest``, ``said``, ``state``) and ``page`` (100 rows each).
With ``fragment=1`` and the header ``X-Requested-With`` it answers only the
rows, the count and the pager, for ``queue.js`` to put in place.

A page costs one count and one page query (``triage.testimonies``), the
page's tags, and a few small reads for the filters' choices (the vocabulary,
the languages and assignees present, the incidents).

``POST /queue/bulk`` sets a state, adds a tag or removes one on every
testimony selected, one annotation each through ``actions``; everything is
checked before the first is sent, and a refusal half-way says which were
changed and which not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute

from ... import actions, org, search, triage, vocabulary
from ... import home as homes
from ... import incidents as incident_records
from ...annotations import STATES
from ...home import WorkstationError
from .. import render
from ..app import Here, page

__all__ = ["PAGE_SIZE", "ROUTES", "SORTS", "Chosen", "number", "plural"]

PAGE_SIZE = 100
MAX_PAGE = 10**9
"""A page number beyond any queue (a larger one is this one: SQLite's integers end at 2**63)."""
SORTS = ("newest", "oldest", "said", "state")
KNOWN_LANGUAGES = ("ru", "kk", "ky", "dng", "en")
"""Languages with a name among the queue's strings (others show their code)."""
_DATE = re.compile(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?")
FRAGMENT_HEADER = "x-requested-with"


def plural(lang: str, count: int) -> str:
    """The plural form of ``count`` in ``lang``: ``one``, ``few`` or ``many``
    (Russian has three; English uses ``one`` and ``many``)."""
    if lang == "ru":
        if count % 10 == 1 and count % 100 != 11:
            return "one"
        if 2 <= count % 10 <= 4 and not 12 <= count % 100 <= 14:
            return "few"
        return "many"
    return "one" if count == 1 else "many"


def number(lang: str, value: int) -> str:
    """``value`` with its thousands grouped as ``lang`` writes them (10,000; 10 000)."""
    grouped = f"{value:,}"
    return grouped.replace(",", "\u00a0") if lang == "ru" else grouped


def _testimonies(here: Here, count: int) -> str:
    return here.t(f"queue.n.{plural(here.lang, count)}", n=number(here.lang, count))


def _state_name(here: Here, state: str) -> str:
    return here.t(f"queue.state.{state}") if state in STATES else state


# --- what the query asks for --------------------------------------------------------------------


@dataclass
class Chosen:
    """The queue's query string, as given (to fill the form and build links)."""

    states: list[str] = field(default_factory=list)
    tag: str = ""
    place: str = ""
    language: str = ""
    incident: str = ""
    assigned: str = ""
    since: str = ""
    until: str = ""
    q: str = ""
    sort: str = "newest"
    page: int = 1

    @classmethod
    def of(cls, here: Here) -> Chosen:
        def one(name: str) -> str:
            return here.field(name).strip()

        try:
            number = min(max(1, int(one("page") or "1")), MAX_PAGE)
        except ValueError:
            number = 1
        sort = one("sort")
        return cls(
            states=[s for s in dict.fromkeys(here.fields("state")) if s],
            tag=one("tag"),
            place=one("place"),
            language=one("language"),
            incident=one("incident"),
            assigned=one("assigned"),
            since=one("since"),
            until=one("until"),
            q=one("q"),
            sort=sort if sort in SORTS else "newest",
            page=number,
        )

    def pairs(self, **changed: Any) -> list[tuple[str, str]]:
        """The query string's pairs (empty values and defaults left out)."""
        values: dict[str, Any] = {
            "state": self.states,
            "tag": self.tag,
            "place": self.place,
            "language": self.language,
            "incident": self.incident,
            "assigned": self.assigned,
            "since": self.since,
            "until": self.until,
            "q": self.q,
            "sort": self.sort,
            "page": self.page,
        }
        values.update(changed)
        found: list[tuple[str, str]] = []
        for name, value in values.items():
            if name == "sort" and value == "newest":
                continue
            if name == "page" and int(value) <= 1:
                continue
            for item in value if isinstance(value, list) else [value]:
                if item not in ("", None):
                    found.append((name, str(item)))
        return found

    def url(self, **changed: Any) -> str:
        """``/queue`` with this query (``changed`` replacing some values)."""
        query = urlencode(self.pairs(**changed))
        return "/queue" + (f"?{query}" if query else "")

    def filtered(self) -> bool:
        return bool(self.pairs(sort="newest", page=1))


def filters(here: Here, chosen: Chosen) -> tuple[triage.Filters | None, list[str]]:
    """The filters ``chosen`` means, or None and why not (each reason a line)."""
    cache = here.cache
    problems: list[str] = []
    unknown_states = [s for s in chosen.states if s not in STATES]
    if unknown_states:
        problems.append(here.t("queue.error.state", value=", ".join(unknown_states)))
    tags: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    try:
        if chosen.tag:
            tags = (vocabulary.resolve(cache, chosen.tag),)
    except WorkstationError as error:
        problems.append(here.t("queue.error.tag", value=chosen.tag, why=str(error)))
    try:
        if chosen.place:
            places = (vocabulary.resolve(cache, chosen.place, group="place"),)
    except WorkstationError as error:
        problems.append(here.t("queue.error.place", value=chosen.place, why=str(error)))
    incident = None
    if chosen.incident:
        try:
            incident = incident_records.canonical(
                cache, incident_records.find(cache, chosen.incident)
            )
        except WorkstationError as error:
            problems.append(here.t("queue.error.incident", value=chosen.incident, why=str(error)))
    assignee, unassigned = None, False
    if chosen.assigned == "me":
        assignee = here.identity.id
    elif chosen.assigned == "nobody":
        unassigned = True
    elif chosen.assigned:
        try:
            assignee = org.reviewer_id_of(chosen.assigned)
        except WorkstationError:
            problems.append(here.t("queue.error.assigned", value=chosen.assigned))
    for name, value in (("since", chosen.since), ("until", chosen.until)):
        if value and not _DATE.fullmatch(value):
            problems.append(here.t("queue.error.date", field=here.t(f"queue.filter.{name}")))
    if problems:
        return None, problems
    ids = None
    if chosen.q:
        ids = tuple(h.doc for h in search.search(cache, chosen.q, kinds=("testimony",)))
    return (
        triage.Filters(
            states=tuple(chosen.states),
            tags=tags,
            incident=incident,
            places=places,
            language=chosen.language or None,
            since=chosen.since or None,
            until=chosen.until or None,
            assignee=assignee,
            unassigned=unassigned,
            ids=ids,
        ),
        [],
    )


# --- what a row shows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    """A tag or place as shown: its label (untrusted text) and its id."""

    id: str
    text: str
    vocabulary: bool = True
    """From the vocabulary (else the witness's own words)."""


@dataclass(frozen=True)
class Row:
    id: str
    href: str
    received: str | None
    lang: str | None
    state: str
    state_name: str
    said_start: str | None
    said_end: str | None
    place: Label | None
    tags: tuple[Label, ...]
    witness_tags: tuple[Label, ...]
    assignee: str | None
    assignee_full: str | None
    mine: bool
    files: int
    followups: int
    notes: int
    replies: int
    summary: str


def _label(known: Mapping[str, vocabulary.Tag], tag_id: str, lang: str) -> Label:
    tag = known.get(tag_id)
    return Label(tag_id, tag.label(lang) if tag is not None else tag_id)


def rows(
    here: Here, found: Iterable[triage.Testimony], known: Mapping[str, vocabulary.Tag]
) -> list[Row]:
    lang = here.lang
    me = here.identity.id
    shown: list[Row] = []
    for item in found:
        place = None
        if item.place:
            if item.place.startswith("place/") and item.place in known:
                place = _label(known, item.place, lang)
            else:
                place = Label(item.place, item.place, vocabulary=False)
        shown.append(
            Row(
                id=item.id,
                href=f"/testimony/{item.id}",
                received=item.received,
                lang=item.lang,
                state=item.state,
                state_name=_state_name(here, item.state),
                said_start=item.said_start,
                said_end=item.said_end,
                place=place,
                tags=tuple(_label(known, t, lang) for t in item.tags),
                witness_tags=tuple(
                    _label(known, t, lang) for t in item.witness_tags if t != item.place
                ),
                assignee=homes.fingerprint(item.assignee)[:9] if item.assignee else None,
                assignee_full=homes.fingerprint(item.assignee) if item.assignee else None,
                mine=item.assignee == me,
                files=item.files,
                followups=item.followups,
                notes=item.notes,
                replies=item.replies,
                summary=item.summary,
            )
        )
    return shown


# --- the filters' choices -----------------------------------------------------------------------


def _languages(here: Here) -> list[tuple[str, str]]:
    codes = [
        str(r[0])
        for r in here.cache.query(
            "SELECT DISTINCT lang FROM ws_testimonies WHERE lang IS NOT NULL ORDER BY lang"
        )
    ]
    return [
        (code, here.t(f"queue.language.{code}") if code in KNOWN_LANGUAGES else code)
        for code in codes
    ]


def _assignees(here: Here) -> list[tuple[str, str]]:
    me = here.identity.id
    found = [
        str(r[0])
        for r in here.cache.query(
            "SELECT DISTINCT assignee FROM ws_testimonies WHERE assignee IS NOT NULL"
        )
    ]
    return [(a, homes.fingerprint(a)) for a in sorted(found) if a != me]


def _incidents(here: Here) -> list[tuple[str, str]]:
    return [(i.id, i.title or i.id[:12]) for i in incident_records.incidents(here.cache)]


# --- the pages ----------------------------------------------------------------------------------


def _context(here: Here, chosen: Chosen) -> dict[str, Any]:
    """What the page and the fragment show: the rows, the count, the pager."""
    known = {t.id: t for t in vocabulary.tags(here.cache)}
    chosen_filters, problems = filters(here, chosen)
    found: list[triage.Testimony] = []
    total = 0
    if chosen_filters is not None:
        found, total = triage.testimonies(
            here.cache,
            chosen_filters,
            limit=PAGE_SIZE,
            offset=(chosen.page - 1) * PAGE_SIZE,
            sort=chosen.sort,
        )
        if not found and total and chosen.page > 1:  # past the end: the last page
            chosen.page = (total - 1) // PAGE_SIZE + 1
            found, total = triage.testimonies(
                here.cache,
                chosen_filters,
                limit=PAGE_SIZE,
                offset=(chosen.page - 1) * PAGE_SIZE,
                sort=chosen.sort,
            )
    first = (chosen.page - 1) * PAGE_SIZE + 1
    last = first + len(found) - 1
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    if total:
        count = here.t(
            "queue.count",
            first=number(here.lang, first),
            last=number(here.lang, last),
            total=_testimonies(here, total),
        )
    else:
        count = here.t("queue.count.none")
    return {
        "chosen": chosen,
        "problems": problems,
        "rows": rows(here, found, known),
        "known": known,
        "total": total,
        "count": count,
        "pages": pages,
        "previous": chosen.url(page=chosen.page - 1) if chosen.page > 1 else None,
        "next": chosen.url(page=chosen.page + 1) if chosen.page < pages else None,
        "first_page": chosen.url(page=1) if chosen.page > 2 else None,
        "last_page": chosen.url(page=pages) if chosen.page < pages - 1 else None,
        "here_url": chosen.url(),
    }


def _fragment(here: Here, context: Mapping[str, Any]) -> HTMLResponse:
    """Only the rows, the count and the pager (the page's flashes are kept for it)."""
    body = (
        render.environment()
        .get_template("_queue_rows.html")
        .render(t=here.t, lang=here.lang, **context)
    )
    return HTMLResponse(body, headers={"vary": "X-Requested-With"})


def queue_page(here: Here) -> Response:
    chosen = Chosen.of(here)
    context = _context(here, chosen)
    if here.field("fragment") == "1" and here.request.headers.get(FRAGMENT_HEADER):
        return _fragment(here, context)
    known: Mapping[str, vocabulary.Tag] = context["known"]
    tags = [t for t in known.values() if t.group != "place"]
    places = [t for t in known.values() if t.group == "place"]

    def resolved(text: str, group: str | None) -> str:
        try:
            return vocabulary.resolve(here.cache, text, group=group) if text else ""
        except WorkstationError:
            return ""

    groups = sorted({t.group for t in tags})
    return here.render(
        "queue.html",
        states=[(s, _state_name(here, s)) for s in STATES],
        tag_groups=[
            (
                g,
                here.t(f"queue.group.{g}") if g in ("violation", "perpetrator", "topic") else g,
                sorted(
                    (t for t in tags if t.group == g and not t.retired),
                    key=lambda t: t.label(here.lang).casefold(),
                ),
            )
            for g in groups
        ],
        all_tags=sorted(
            (t for t in tags if not t.retired), key=lambda t: (t.group, t.label(here.lang))
        ),
        places=sorted(places, key=lambda t: t.label(here.lang).casefold()),
        tag_chosen=resolved(chosen.tag, None),
        place_chosen=resolved(chosen.place, "place"),
        queue_languages=_languages(here),
        assignees=_assignees(here),
        incidents=_incidents(here),
        sorts=[(s, here.t(f"queue.sort.{s}")) for s in SORTS],
        mine_url=chosen.url(assigned="" if chosen.assigned == "me" else "me", page=1),
        **context,
    )


# --- bulk changes -------------------------------------------------------------------------------


def _selected(here: Here) -> list[str]:
    """The testimonies chosen: every row of the page with ``all``, else those ticked."""
    chosen = here.fields("page_id") if here.field("all") == "1" else here.fields("id")
    return list(dict.fromkeys(i.strip() for i in chosen if i.strip()))


def _refused(here: Here, back: str, text: str) -> Response:
    here.flash("error", text)
    return here.back(back)


def bulk(here: Here) -> Response:
    back = here.field("back") or "/queue"
    if not back.startswith("/queue"):
        back = "/queue"
    what = here.field("do")
    ids = _selected(here)
    if what not in ("state", "tag", "untag"):
        return _refused(here, back, here.t("queue.bulk.error.action"))
    if not ids:
        return _refused(here, back, here.t("queue.bulk.error.none"))
    unknown = []
    for testimony_id in ids:
        try:
            triage.testimony(here.cache, testimony_id)
        except triage.UnknownTestimony:
            unknown.append(testimony_id)
    if unknown:
        return _refused(
            here,
            back,
            here.t("queue.bulk.error.unknown", ids=", ".join(render.short(i) for i in unknown)),
        )
    state, tags = "", []
    if what == "state":
        state = here.field("state")
        if state not in STATES:
            return _refused(here, back, here.t("queue.bulk.error.state"))
        done_text = "queue.bulk.done.state"
    else:
        name = here.field("tag" if what == "tag" else "untag_tag")
        if not name.strip():
            return _refused(here, back, here.t("queue.bulk.error.no-tag"))
        try:
            tags = actions.resolve_tags(here.cache, [name], adding=what == "tag")
        except WorkstationError as error:
            return _refused(here, back, here.t("queue.bulk.error.tag", value=name, why=str(error)))
        done_text = f"queue.bulk.done.{what}"
    label = (
        _state_name(here, state)
        if what == "state"
        else ", ".join(_tag_label(here, t) for t in tags)
    )
    done: list[str] = []
    for testimony_id in ids:
        try:
            if what == "state":
                actions.set_state(here.cache, here.identity, testimony_id, state)
            elif what == "tag":
                actions.tag(here.cache, here.identity, testimony_id, tags)
            else:
                actions.untag(here.cache, here.identity, testimony_id, tags)
        except Exception as error:
            shown = _why(error)
            if shown is None:
                raise
            rest = ids[len(done) :]
            here.flash(
                "error",
                here.t(
                    "queue.bulk.error.partial",
                    failed=render.short(testimony_id),
                    why=shown,
                    done=_list(here, done),
                    not_done=_list(here, rest),
                    n_done=_testimonies(here, len(done)),
                    n_not_done=_testimonies(here, len(rest)),
                ),
            )
            return here.back(back)
        done.append(testimony_id)
    return here.back(back, ok=here.t(done_text, what=_testimonies(here, len(done)), to=label))


def _tag_label(here: Here, tag_id: str) -> str:
    tag = vocabulary.tag(here.cache, tag_id)
    return tag.label(here.lang) if tag is not None else tag_id


def _list(here: Here, ids: Sequence[str]) -> str:
    return ", ".join(render.short(i) for i in ids) if ids else here.t("queue.bulk.nothing")


def _why(error: Exception) -> str | None:
    """A refusal's text for the message (None: a bug, raised)."""
    from testimony.client.errors import ClientError, ServerRefused
    from testimony.crypto.errors import CryptoError

    if isinstance(error, ServerRefused):
        return f"{error.what}: the server answered {error.status} ({error.problem})"
    if isinstance(error, WorkstationError | CryptoError | ClientError):
        lines = str(error).splitlines()
        code = getattr(error, "code", None)
        text = lines[0] if lines else type(error).__name__
        return f"{text} ({code})" if code else text
    return None


ROUTES: list[BaseRoute] = [
    page("/queue", queue_page),
    page("/queue/bulk", bulk, methods=("POST",)),
]
