"""The UI's search page: one box over every decrypted text, transliterating
both ways (Масанчи finds Masanchi, Masanchi finds Масанчи), the words that
matched marked in each result (docs/workstation.md, "The web UI")."""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.responses import Response
from starlette.routing import BaseRoute

from ... import incidents as incident_records
from ... import search, triage
from ..app import Here, page

__all__ = ["ROUTES", "snippets"]

LIMIT = 100
"""Results shown (the count says how many matched)."""
CONTEXT = 70
"""Characters of context either side of a marked word."""


@dataclass(frozen=True)
class Result:
    kind: str
    id: str
    title: str
    state: str | None
    lang: str | None
    parts: list[tuple[str, list[list[tuple[str, bool]]]]]
    """(where the text is — statement, note, follow-up… —, its snippets as (text, marked) runs)."""


def snippets(text: str, terms: set[str], *, most: int = 3) -> list[list[tuple[str, bool]]]:
    """Up to ``most`` windows of ``text`` around the words that matched, each
    as runs of (text, whether it matched)."""
    spans = search.highlights(text, terms)
    windows: list[tuple[int, int]] = []
    for start, end in spans:
        left, right = max(0, start - CONTEXT), min(len(text), end + CONTEXT)
        if windows and left <= windows[-1][1]:
            windows[-1] = (windows[-1][0], right)
        else:
            windows.append((left, right))
        if len(windows) > most:
            windows.pop()
            break
    found = []
    for left, right in windows:
        runs: list[tuple[str, bool]] = [] if left == 0 else [("…", False)]
        at = left
        for start, end in spans:
            if start < left or end > right:
                continue
            if start > at:
                runs.append((text[at:start], False))
            runs.append((text[start:end], True))
            at = end
        if at < right:
            runs.append((text[at:right], False))
        if right < len(text):
            runs.append(("…", False))
        found.append(runs)
    return found


def _testimony_texts(here: Here, tid: str) -> list[tuple[str, str]]:
    record = here.cache.record("submission", tid)
    statement = record.get("statement") if isinstance(record, dict) else None
    texts = []
    if isinstance(statement, dict):
        texts.append((here.t("search.in.statement"), triage.statement_text(statement)))
    for kind, payload in here.cache.query(
        "SELECT kind, payload FROM ws_events WHERE testimony = ? "
        "AND kind IN ('note', 'translation', 'reply') ORDER BY idx",
        (tid,),
    ):
        text = json.loads(payload).get("text")
        if isinstance(text, str):
            texts.append((here.t(f"search.in.{kind}"), text))
    for (followup_id,) in here.cache.query(
        "SELECT id FROM ws_followups WHERE parent = ? ORDER BY idx", (tid,)
    ):
        followup = here.cache.record("followup", str(followup_id))
        manifest = followup.get("manifest") if isinstance(followup, dict) else None
        if isinstance(manifest, dict) and isinstance(manifest.get("text"), str):
            texts.append((here.t("search.in.followup"), manifest["text"]))
    return texts


def search_page(here: Here) -> Response:
    query = here.field("q").strip()
    kind = here.field("kind")
    kinds = (kind,) if kind in ("testimony", "incident") else None
    hits = search.search(here.cache, query, kinds=kinds) if query else []
    terms = search.matched_terms(here.cache, query) if hits else set()
    results = []
    for hit in hits[:LIMIT]:
        if hit.kind == "incident":
            try:
                record = incident_records.get(here.cache, hit.doc)
            except incident_records.UnknownIncident:
                continue
            texts = [(here.t("search.in.title"), record.title)]
            if record.description:
                texts.append((here.t("search.in.description"), record.description))
            title, state, lang = record.title, record.status, None
        else:
            try:
                row = triage.testimony(here.cache, hit.doc)
            except triage.UnknownTestimony:
                continue
            texts = _testimony_texts(here, hit.doc)
            title, state, lang = row.summary, row.state, row.lang
        parts = [(where, found) for where, text in texts if (found := snippets(text, terms))]
        results.append(Result(hit.kind, hit.doc, title, state, lang, parts))
    return here.render(
        "search.html", query=query, kind=kind, results=results, total=len(hits), limit=LIMIT
    )


ROUTES: list[BaseRoute] = [page("/search", search_page)]
