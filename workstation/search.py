"""Search over the decrypted cache that finds a name however it is spelled
(docs/workstation.md, "Daily triage").

Witnesses write in Russian, Kazakh, Kyrgyz, Dungan or English, and reviewers
type what they heard: Масанчи, Масаншы, Masanchi and Masanchy are one
village, Сортобе, Сортөбе and Sortobe another. Every word, of the documents
and of the query alike, is reduced to a **key** in two steps:

1. ICU's transliterator ``Kazakh-Latin/BGN; Any-Latin; Latin-ASCII; Lower``
   (the BGN/PCGN romanisation covers every letter of the Russian and Kazakh
   alphabets — ө, ұ, қ, ң … —, ``Any-Latin`` whatever other script remains,
   then plain ASCII in lower case): Масанчи → ``masanchi``, Сортөбе →
   ``sortobe``;
2. a fuzzy fold of the romanisations' usual variants: everything but letters
   and digits dropped (the soft sign's apostrophe), ``y`` read as ``i``
   (Masanchy, Масанчы → ``masanchi``), a doubled letter read once
   (Аухатты → ``auhati``... ``aukhati``).

A query word matches a document word whose key is the same, or — for keys of
at least :data:`FUZZY_MIN` characters — one edit away (Масаншы's ``masanshi``
finds ``masanchi``; Қордай's ``qordai`` finds ``kordai``), found through a
table of each key with one character deleted (the "symmetric delete" method
of SymSpell), so no query scans the documents. Every query word must match
(AND); a document's score counts exact matches double.

The index lives in the encrypted cache, in tables of its own: the distinct
keys (``ws_search_terms``), their one-deletion variants
(``ws_search_variants``), the documents (``ws_search_docs``: kind and id)
and, for each document, its keys in an SQLite FTS5 table
(``ws_search_text``, without positions), whose inverted index answers the
query: every query word becomes the OR of the keys that match it, the words
are ANDed. :meth:`Indexer.index_document` replaces a document's keys;
``triage.refresh`` calls it for every testimony and incident that changes.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .cache import Cache

__all__ = [
    "FUZZY_MIN",
    "TRANSLITERATOR",
    "Hit",
    "Indexer",
    "ensure_tables",
    "fold_word",
    "highlights",
    "insert_many",
    "keys",
    "matched_terms",
    "search",
    "transliterate",
]

TRANSLITERATOR = "Kazakh-Latin/BGN; Any-Latin; Latin-ASCII; Lower"
FUZZY_MIN = 5
"""Keys shorter than this match exactly only (one edit in a short word is another word)."""
MAX_QUERY_WORDS = 12

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS ws_search_terms (
        id INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE)""",
    """CREATE TABLE IF NOT EXISTS ws_search_variants (
        variant TEXT NOT NULL, term INTEGER NOT NULL, PRIMARY KEY (variant, term)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS ws_search_docs (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, doc TEXT NOT NULL, UNIQUE (kind, doc))""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS ws_search_text USING fts5 (
        keys, detail = none, tokenize = 'ascii')""",
)
_BATCH = 200
"""Rows per multi-row ``INSERT``."""

_WORD = re.compile(r"\w+")
_NOT_KEY = re.compile(r"[^a-z0-9]+")
_DOUBLE = re.compile(r"(.)\1+")
_local = threading.local()


def _transliterator() -> object:
    found = getattr(_local, "transliterator", None)
    if found is None:
        import icu  # type: ignore[import-untyped]

        found = icu.Transliterator.createInstance(TRANSLITERATOR)
        _local.transliterator = found
    return found


def transliterate(text: str) -> str:
    """ICU's ``Kazakh-Latin/BGN; Any-Latin; Latin-ASCII; Lower`` of ``text``."""
    return str(_transliterator().transliterate(text))  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=1 << 18)
def fold_word(word: str) -> str:
    """The search key of one word (see the module docstring)."""
    key = _NOT_KEY.sub("", transliterate(word))
    return _DOUBLE.sub(r"\1", key.replace("y", "i"))


def keys(text: str) -> set[str]:
    """The distinct search keys of a text's words."""
    found = {fold_word(word) for word in _WORD.findall(text.casefold())}
    found.discard("")
    return found


def _deletions(key: str) -> set[str]:
    if len(key) < FUZZY_MIN:
        return set()
    return {key[:i] + key[i + 1 :] for i in range(len(key))}


def _within_one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by at most one insertion, deletion,
    substitution or swap of neighbours."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :] or (
            i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
        )
    return a[i:] == b[i + 1 :]


def ensure_tables(cache: Cache) -> None:
    for statement in _SCHEMA:
        cache.execute(statement)


class Indexer:
    """Replaces documents' searchable text, in batches: use it inside a
    transaction of the cache and call :meth:`flush` at the end."""

    def __init__(self, cache: Cache) -> None:
        ensure_tables(cache)
        self._cache = cache
        self._ids: dict[str, int] | None = None
        self._docs: dict[tuple[str, str], int] | None = None
        self._new_docs: list[tuple[int, str, str]] = []
        self._texts: list[tuple[int, str]] = []
        self._next_doc: int | None = None

    def _add_terms(self, terms: Iterable[str]) -> None:
        if self._ids is None:
            self._ids = {
                str(t): int(i) for i, t in self._cache.query("SELECT id, term FROM ws_search_terms")
            }
        new = sorted(set(terms) - self._ids.keys())
        if not new:
            return
        first = max(self._ids.values(), default=0) + 1
        pairs: list[tuple[str, int]] = []
        for offset, term in enumerate(new):
            self._ids[term] = first + offset
            pairs.extend((variant, first + offset) for variant in _deletions(term))
        insert_many(
            self._cache, "INTO ws_search_terms (id, term)", [(self._ids[t], t) for t in new]
        )
        insert_many(self._cache, "OR IGNORE INTO ws_search_variants (variant, term)", pairs)

    def _doc_ids(self) -> dict[tuple[str, str], int]:
        if self._docs is None:
            self._docs = {
                (str(kind), str(doc)): int(i)
                for i, kind, doc in self._cache.query("SELECT id, kind, doc FROM ws_search_docs")
            }
        return self._docs

    def index_document(self, kind: str, doc: str, text: str) -> None:
        """Make ``text`` the searchable text of document ``(kind, doc)``."""
        found = sorted(keys(text))
        self._add_terms(found)
        docs = self._doc_ids()
        rowid = docs.get((kind, doc))
        if rowid is None:
            if self._next_doc is None:
                self._next_doc = max(docs.values(), default=0) + 1
            rowid = self._next_doc
            self._next_doc += 1
            docs[(kind, doc)] = rowid
            self._new_docs.append((rowid, kind, doc))
        else:
            self.flush()
            self._cache.execute("DELETE FROM ws_search_text WHERE rowid = ?", (rowid,))
        self._texts.append((rowid, " ".join(found)))

    def remove_document(self, kind: str, doc: str) -> None:
        self.flush()
        rowid = self._doc_ids().pop((kind, doc), None)
        self._next_doc = None
        if rowid is not None:
            self._cache.execute("DELETE FROM ws_search_text WHERE rowid = ?", (rowid,))
            self._cache.execute("DELETE FROM ws_search_docs WHERE id = ?", (rowid,))

    def flush(self) -> None:
        """Write what is buffered."""
        insert_many(self._cache, "INTO ws_search_docs (id, kind, doc)", self._new_docs)
        insert_many(self._cache, "INTO ws_search_text (rowid, keys)", self._texts)
        self._new_docs, self._texts = [], []

    def clear(self) -> None:
        for table in ("ws_search_text", "ws_search_docs", "ws_search_variants", "ws_search_terms"):
            self._cache.execute(f"DELETE FROM {table}")  # noqa: S608 - our own names
        self._ids, self._docs, self._next_doc = {}, {}, None
        self._new_docs, self._texts = [], []


def insert_many(cache: Cache, into: str, rows: Sequence[tuple[Any, ...]], then: str = "") -> None:
    """``INSERT <into> VALUES (...), (...) <then>``, :data:`_BATCH` rows a
    statement (each statement costs far more than a row in SQLCipher)."""
    for start in range(0, len(rows), _BATCH):
        chunk = rows[start : start + _BATCH]
        marks = ",".join("(" + ",".join("?" for _ in chunk[0]) + ")" for _ in chunk)
        sql = f"INSERT {into} VALUES {marks} {then}"  # noqa: S608 - our own names
        cache.execute(sql, [v for row in chunk for v in row])


@dataclass(frozen=True)
class Hit:
    """A document every query word matched; ``score`` counts exact matches twice."""

    kind: str
    doc: str
    score: int


def _matching_terms(cache: Cache, key: str) -> dict[str, int]:
    """Term -> weight (2 exact, 1 one edit away) for one query key."""
    variants = sorted(_deletions(key) | {key})
    marks = ",".join("?" for _ in variants)
    found: dict[str, int] = {}
    rows = cache.query(f"SELECT term FROM ws_search_terms WHERE term IN ({marks})", variants)  # noqa: S608
    if len(key) >= FUZZY_MIN:
        joined = "ws_search_variants v JOIN ws_search_terms t ON t.id = v.term"
        sql = f"SELECT t.term FROM {joined} WHERE v.variant IN ({marks})"  # noqa: S608
        rows += cache.query(sql, variants)
    for (term,) in rows:
        term = str(term)
        if term == key:
            found[term] = 2
        elif len(key) >= FUZZY_MIN and len(term) >= FUZZY_MIN - 1 and _within_one_edit(key, term):
            found.setdefault(term, 1)
    return found


def _match(groups: Sequence[Iterable[str]]) -> str:
    """An FTS5 query: every group matches (AND), any term of a group (OR)."""
    return " AND ".join("(" + " OR ".join(f'"{t}"' for t in sorted(g)) + ")" for g in groups)


def _documents(cache: Cache, expression: str, kinds: Sequence[str] | None) -> set[tuple[str, str]]:
    sql = (
        "SELECT d.kind, d.doc FROM ws_search_text t JOIN ws_search_docs d ON d.id = t.rowid "
        "WHERE ws_search_text MATCH ?"
    )
    params: list[Any] = [expression]
    if kinds is not None:
        sql += f" AND d.kind IN ({','.join('?' for _ in kinds)})"
        params.extend(kinds)
    return {(str(kind), str(doc)) for kind, doc in cache.query(sql, params)}


def search(cache: Cache, query: str, *, kinds: Sequence[str] | None = None) -> list[Hit]:
    """The documents matching every word of ``query``, best first (then by kind and id)."""
    ensure_tables(cache)
    wanted = sorted(keys(query))[:MAX_QUERY_WORDS]
    if not wanted:
        return []
    candidates = [_matching_terms(cache, key) for key in wanted]
    if not all(candidates):
        return []
    found = _documents(cache, _match([c.keys() for c in candidates]), kinds)
    scores = dict.fromkeys(found, 0)
    for position, terms in enumerate(candidates):
        exact = [t for t, weight in terms.items() if weight == 2]
        fuzzy_only = len(exact) < len(terms)
        if not fuzzy_only:
            matched = found
        elif not exact:
            matched = set()
        else:
            groups: list[Iterable[str]] = [c.keys() for c in candidates]
            groups[position] = exact
            matched = _documents(cache, _match(groups), kinds)
        for pair in found:
            scores[pair] += 2 if pair in matched else 1
    return [
        Hit(kind, doc, score)
        for (kind, doc), score in sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    ]


def matched_terms(cache: Cache, query: str) -> set[str]:
    """Every indexed key a word of ``query`` matches (exactly or one edit away)."""
    ensure_tables(cache)
    found: set[str] = set()
    for key in sorted(keys(query))[:MAX_QUERY_WORDS]:
        found.update(_matching_terms(cache, key))
    return found


def highlights(text: str, terms: set[str]) -> list[tuple[int, int]]:
    """The spans of ``text``'s words whose key is one of ``terms`` (to mark what matched:
    Masanchi marks Масанчи)."""
    spans = []
    for word in _WORD.finditer(text):
        if fold_word(word.group().casefold()) in terms:
            spans.append((word.start(), word.end()))
    return spans
