"""Benchmark of the workstation's triage list and transliterating search
(docs/workstation.md; issue targets: ``review list`` with a filter over 10,000
testimonies under 200 ms, a transliterating search under 100 ms).

Fills a new SQLCipher cache with --testimonies synthetic decrypted
testimonies (records as the sync keeps them: kordai-2020 statements in
Russian, Kazakh, Kyrgyz and English, the villages spelt every way) and about
three annotations each (states, tags, notes, assignments; incidents with
links), folds them once (``triage.refresh``), then times, median and worst of
--runs runs:

- ``refresh`` with nothing new (every command pays it),
- ``review list`` with filters (the query plus the refresh), and
- searches in Cyrillic and Latin spellings,

each beside the baseline a cache without derived tables would pay: reading
every submission record's JSON and filtering in Python.

    python bench/workstation_triage.py [--testimonies N] [--runs K] [--quick]

Not part of the test suite; ``bench/run.py`` runs only ``bench_*.py``.
"""

# ruff: noqa: RUF001 - Cyrillic on purpose
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testimony.crypto.keyring import Identity
from testimony.workstation import search, triage
from testimony.workstation.cache import Cache

PLACES = {
    "masanchi": ["Масанчи", "Масаншы", "Masanchi", "Masanchy", "Масанчы"],
    "sortobe": ["Сортобе", "Сортөбе", "Sortobe"],
    "bular_batyr": ["Булар Батыр", "Bular Batyr"],
    "aukhatty": ["Аухатты", "Aukhatty"],
    "kordai": ["Кордай", "Қордай", "Kordai"],
}
VIOLATIONS = ["killing", "injury", "arson", "looting", "property_destruction", "shooting",
              "threats", "unlawful_search", "arbitrary_detention", "torture_in_custody",
              "denial_of_lawyer", "forced_displacement"]  # fmt: skip
PERPETRATORS = ["police", "special_forces_or_military", "organised_groups", "unknown_persons"]
STATES = ["new", "in-review", "needs-follow-up", "corroborated", "duplicate", "rejected"]
SENTENCES = {
    "ru": [
        "Ночью подожгли дом соседей в {p}.",
        "Мы видели людей в масках у мечети.",
        "Моего брата забрали в отделение и били.",
        "Стреляли с дороги, все побежали к реке.",
        "Магазин разграбили, машину сожгли.",
    ],
    "kk": [
        "Түнде {p} ауылында көршілердің үйін өртеді.",
        "Бетперде киген адамдарды көрдік.",
        "Ағамды полицияға алып кетті.",
    ],
    "ky": ["Түнкүсүн {p} айылында үйлөрдү өрттөштү.", "Бет кап кийген адамдарды көрдүк."],
    "en": [
        "At night they set fire to our neighbours' house in {p}.",
        "My uncle was taken to the police station in {p} and beaten.",
        "People in masks were shooting from the road.",
    ],
}


def statement(rng: random.Random) -> dict[str, Any]:
    lang = rng.choice(["ru", "ru", "ru", "kk", "ky", "en"])
    place = rng.choice(list(PLACES))
    words = " ".join(
        rng.choice(SENTENCES[lang]).format(p=rng.choice(PLACES[place])) for _ in range(6)
    )
    return {
        "v": 1,
        "form": {"id": "kordai-2020", "version": 1, "sha256": "00" * 32},
        "lang": lang,
        "answers": {
            "narrative": words,
            "when": {"start": f"2020-02-0{rng.randint(5, 9)}", "end": None},
            "where": {"id": place},
            "what_happened": rng.sample(VIOLATIONS, rng.randint(1, 3)),
            "perpetrators": rng.sample(PERPETRATORS, 1),
            "victims": "Семья из пяти человек." if rng.random() < 0.5 else "",
        },
        "attachments": [],
        "consent": {"share_with": [], "contact": False},
    }


def fill(cache: Cache, count: int, rng: random.Random) -> list[str]:
    ids = [rng.randbytes(32).hex() for _ in range(count)]
    reviewers = [rng.randbytes(16).hex() for _ in range(8)]
    incidents = [rng.randbytes(16).hex() for _ in range(max(1, count // 50))]
    index = 0
    with cache.transaction():
        for n, tid in enumerate(ids):
            index += 1
            day = 5 + n * 5 // count
            cache.put_record(
                "submission",
                tid,
                {
                    "index": index,
                    "received": f"2020-02-{day:02d}T{n % 24:02d}:00:00Z",
                    "intake_key": "00" * 16,
                    "witness": None if rng.random() < 0.2 else rng.randbytes(32).hex(),
                    "witness_box": None,
                    "statement": statement(rng),
                    "attachments": [],
                    "followups": [],
                },
            )

        def annotate(payload: dict[str, Any]) -> None:
            nonlocal index
            index += 1
            cache.put_record(
                "annotation",
                rng.randbytes(32).hex(),
                {
                    "index": index,
                    "actor": rng.choice(reviewers),
                    "received": "2020-03-01T00:00:00Z",
                    "epoch": 0,
                    "payload": {"v": 1, **payload},
                },
            )

        for iid in incidents:
            place = rng.choice(list(PLACES))
            annotate(
                {
                    "kind": "incident",
                    "incident": iid,
                    "fields": {
                        "title": f"Arson in {PLACES[place][0]}, February 2020",
                        "status": "alleged",
                        "start": "2020-02-07",
                        "places": [
                            {
                                "place": f"place/{place}",
                                "name": PLACES[place][-1],
                                "lat": None,
                                "lon": None,
                            }
                        ],
                    },
                }
            )
        for tid in ids:
            annotate({"kind": "state", "testimony": tid, "state": rng.choice(STATES)})
            annotate(
                {
                    "kind": "tag",
                    "testimony": tid,
                    "tags": sorted({f"violation/{rng.choice(VIOLATIONS)}" for _ in range(2)}),
                }
            )
            roll = rng.random()
            if roll < 0.3:
                annotate({"kind": "note", "testimony": tid, "text": "Проверить: видел ли сам?"})
            elif roll < 0.6:
                annotate({"kind": "assign", "testimony": tid, "reviewer": rng.choice(reviewers)})
            if rng.random() < 0.3:
                annotate(
                    {
                        "kind": "link",
                        "incident": rng.choice(incidents),
                        "testimony": tid,
                        "role": rng.choice(["eyewitness", "victim", "relative", "hearsay"]),
                        "reliability": "cannot-judge",
                        "validity": "cannot-judge",
                    }
                )
    return incidents


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times), result


def baseline_list(cache: Cache, state: str, place: str) -> int:
    """What a cache without derived tables pays: every record read and filtered."""
    states: dict[str, str] = {}
    for _id, value in cache.records("annotation"):
        payload = value["payload"]
        if payload["kind"] == "state":
            states[payload["testimony"]] = payload["state"]
    found = 0
    for tid, value in cache.records("submission"):
        where = value["statement"]["answers"].get("where") or {}
        if states.get(tid, "new") == state and where.get("id") == place:
            found += 1
    return found


def baseline_search(cache: Cache, word: str) -> int:
    key = search.fold_word(word.casefold())
    return sum(
        1
        for _id, value in cache.records("submission")
        if key in search.keys(json.dumps(value["statement"]["answers"], ensure_ascii=False))
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--testimonies", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="1,000 testimonies, 5 runs")
    args = parser.parse_args()
    if args.quick:
        args.testimonies, args.runs = 1_000, 5
    print(
        f"# {platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        flush=True,
    )
    rng = random.Random(2020)
    with tempfile.TemporaryDirectory() as folder:
        cache = Cache(Path(folder), Identity(bytes(32), bytes(range(32))))
        started = time.perf_counter()
        incidents = fill(cache, args.testimonies, rng)
        filled = time.perf_counter() - started
        annotations = len(cache.query("SELECT 1 FROM records WHERE kind = 'annotation'"))
        print(
            f"filled {args.testimonies} testimonies and {annotations} annotations in {filled:.1f} s"
        )
        started = time.perf_counter()
        first = triage.refresh(cache)
        print(
            f"first refresh (fold + search index): {time.perf_counter() - started:.1f} s "
            f"({first.annotations} annotations folded, {first.reindexed} documents indexed)"
        )
        size = sum(p.stat().st_size for p in Path(folder).iterdir())
        print(f"cache on disk: {size / 1e6:.0f} MB")

        results: list[tuple[str, float, float, str]] = []

        def measure(name: str, fn: Callable[[], Any], note: Callable[[Any], str]) -> None:
            median, worst, result = timed(fn, args.runs)
            results.append((name, median, worst, note(result)))

        measure("refresh, nothing new", lambda: triage.refresh(cache), lambda r: "")
        filters = {
            "state=new, place=masanchi": triage.Filters(
                states=("new",), places=("place/masanchi",)
            ),
            "tag=violation/arson": triage.Filters(tags=("violation/arson",)),
            "language=kk, since 2020-02-07": triage.Filters(language="kk", since="2020-02-07"),
            "incident": triage.Filters(incident=incidents[0]),
            "state=in-review, tag, until": triage.Filters(
                states=("in-review",), tags=("violation/shooting",), until="2020-02-08"
            ),
        }
        for name, chosen in filters.items():

            def listed(chosen: triage.Filters = chosen) -> tuple[int, int]:
                triage.refresh(cache)
                rows, total = triage.testimonies(cache, chosen, limit=50)
                return len(rows), total

            measure(f"review list {name} (refresh + query)", listed, lambda r: f"{r[1]} match")
        for query in [
            "Масанчи",
            "Masanchy",
            "Масаншы",
            "Сортобе",
            "sortobe",
            "Masanchi arson",
            "Қордай",
        ]:
            measure(
                f"search {query!r}",
                lambda q=query: search.search(cache, q),
                lambda r: f"{len(r)} hits",
            )
        measure(
            "baseline: list state=new place=masanchi by reading every record",
            lambda: baseline_list(cache, "new", "masanchi"),
            lambda r: f"{r} match",
        )
        measure(
            "baseline: search 'Masanchy' by reading every record",
            lambda: baseline_search(cache, "Masanchy"),
            lambda r: f"{r} hits",
        )
        cache.close()
    width = max(len(r[0]) for r in results)
    print(f"\n{'what':<{width}}  median ms  worst ms")
    for name, median, worst, note in results:
        print(f"{name:<{width}}  {median:9.1f}  {worst:8.1f}  {note}")
    slow = [r for r in results if r[0].startswith("review list") and r[1] >= 200] + [
        r for r in results if r[0].startswith("search") and r[1] >= 100
    ]
    print("\ntargets (list < 200 ms, search < 100 ms):", "missed" if slow else "met")
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
