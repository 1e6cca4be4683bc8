"""Crash safety of the workstation (issue 12): SIGKILL ``testimony sync`` and
``testimony export`` — each a real process, killed at a random moment as a
power cut or the OOM killer would — run them again, and prove what a
reviewer relies on (docs/workstation.md "Sync", "Evidence bundles"):

- **sync**: a reviewer's first sync of an organisation with testimonies,
  attachments, follow-ups, another reviewer's tags and notes and an incident
  record, killed again and again, each time run once more until one run
  completes. Every run after a kill opens the cache (a refusal would be one
  line, and fails the test); nothing but the cache's own files is ever in the
  workstation directory; the state the last run leaves is a clean sync's —
  the same records, the same attachments kept, the same ``review list``,
  ``incident list`` and ``incident show``, nothing still wanted and nothing
  kept twice — and what it adds to the log beyond a clean sync's is only the
  server's ``access`` entries (every ciphertext request is logged).
- **export**: ``testimony export`` killed, as a folder and as a ZIP. ``--out``
  never exists unless complete: whenever it does, ``testimony verify`` says
  VERIFIED. A kill leaves at most the export's partial (``<out>.partial``, or
  for a ZIP the bag's folder ``<out>.bag-partial`` and the ZIP's own
  ``<out>.partial``, client/bundle/archive.py); the next export names it as
  an interrupted export and writes nothing; once it is removed, the export
  succeeds (and the ZIP's stale partial is gone with it). In the log, a
  killed run leaves at most its ``access`` entry and, killed after the
  server logged it, an ``export`` entry without a bundle: those are counted.

The kill moments are drawn from a seeded generator, uniformly over the time a
clean run of the same command holds the cache open (measured first) — for a sync taken up again, over what a clean run would
still need; a run whose moment falls after its own end completes.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from testimony.crypto import entries as log_entries
from testimony.crypto import submission
from testimony.service import testing as launcher
from testimony.workstation.cache import CACHE_FILE
from testimony.workstation.home import IDENTITY_FILE
from tests.security.live_log import LogClient, kill_group
from tests.workstation.test_export import Sent, send
from tests.workstation.test_session import (
    ONE_LINE_ERROR,
    ORIGIN,
    PASSPHRASE,
    Organisation,
    cache_of,
    follow_up,
    found,
    join,
    ok,
    run,
    start_organisation,
    stop,
    witness_keys,
)

pytestmark = pytest.mark.slow

SEED = 20261212
TESTIMONIES = 30
SYNC_KILLS = 6
"""Kills of ``testimony sync``, spread over as many first syncs as they take."""
EXPORT_KILLS = {"folder": 1, "zip": 1}
"""Kills of ``testimony export`` at random moments, of a bundle as a folder and as a
ZIP; each followed by one just after its export entry is logged."""
MAX_RUNS = 60
"""Runs of one command at most (a bound: a sync that never completes fails)."""
DEADLINE = 120.0
CACHE_FILES = {CACHE_FILE, f"{CACHE_FILE}-wal", f"{CACHE_FILE}-shm", IDENTITY_FILE}
"""Everything a workstation directory may hold (nothing decrypted, nothing temporary)."""


# --- a command as its own process, killed at a moment -----------------------------------


@dataclass(frozen=True)
class Ran:
    """One run of a ``testimony`` command."""

    returncode: int
    stdout: str
    stderr: str
    working: float
    """Seconds the process held the cache open (until it closed it, exited or was killed)."""

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


def _has_open(pid: int, path: str) -> bool:
    """Whether process ``pid`` holds ``path`` open (``/proc/PID/fd``)."""
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for descriptor in descriptors:
        try:
            if os.readlink(f"/proc/{pid}/fd/{descriptor}") == path:
                return True
        except OSError:
            continue
    return False


def _testimony(
    args: Sequence[object],
    home: Path,
    scratch: Path,
    *,
    kill_after: float | None = None,
    kill_when: Callable[[int], bool] | None = None,
) -> Ran:
    """Run ``testimony ARGS`` on the workstation ``home`` in a process group of
    its own. Once the process has opened the cache: with ``kill_after``,
    SIGKILL the group that many seconds later; with ``kill_when``, as soon as
    ``kill_when(pid)`` says so (polled); unless it has exited first."""
    scratch.mkdir(exist_ok=True)
    stdout, stderr = scratch / "stdout.txt", scratch / "stderr.txt"
    cache = str(home / CACHE_FILE)
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [*launcher.testimony_command(), *map(str, args)],
            stdout=out,
            stderr=err,
            env={**launcher.clean_environment(), "TESTIMONY_PASSPHRASE": PASSPHRASE},
            start_new_session=True,
        )
    try:
        end = time.monotonic() + DEADLINE
        while process.poll() is None and not _has_open(process.pid, cache):
            assert time.monotonic() < end, "the command did not open the cache"
            time.sleep(0.001)
        opened = time.monotonic()
        if kill_after is not None or kill_when is not None:
            moment = opened + (DEADLINE if kill_after is None else kill_after)
            while process.poll() is None and time.monotonic() < moment:
                if kill_when is not None and kill_when(process.pid):
                    break
                time.sleep(0.001)
            kill_group(process.pid)
        while process.poll() is None and _has_open(process.pid, cache):
            time.sleep(0.001)
        working = time.monotonic() - opened
        process.wait(DEADLINE)
    finally:
        if process.poll() is None:  # a failure above: leave nothing running
            kill_group(process.pid)
            process.wait(DEADLINE)
    return Ran(
        process.returncode,
        stdout.read_text(encoding="utf-8"),
        stderr.read_text(encoding="utf-8"),
        working,
    )


def _completed(ran: Ran) -> str:
    """A run that was not killed: it succeeded, with no traceback (a refusal is one line)."""
    assert "Traceback" not in ran.stderr, ran.stderr
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


# --- the organisation ---------------------------------------------------------------------


@dataclass
class World:
    organisation: Organisation
    founder: Path
    """An admin (the export quorum is 1) whose cache has read everything."""
    pristine: Path
    """A reviewer enrolled and granted the keyring, never synced (copied for each first sync)."""
    sent: list[Sent]
    incident: str
    """Linked to two testimonies with attachments."""
    followed: str
    """A testimony with two attachments and a follow-up (exported with the incident)."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("crash-workstation")
    organisation = start_organisation(folder / "server")
    try:
        founder, _ = found(organisation, folder / "founder", quorum=1)
        # The fresh reviewer enrols first: its first sync reads the whole log.
        pristine, fresh = join(organisation, founder, folder / "pristine")
        ok(run("keys", "grant", fresh.id, "--workstation", founder))
        annotator, other = join(organisation, founder, folder / "annotator")
        ok(run("keys", "grant", other.id, "--workstation", founder))

        rng = random.Random(SEED)
        sent: list[Sent] = []
        for n in range(TESTIMONIES):
            count = 1 + n % 2 if n % 3 == 0 else 0  # a third of them: one file, or two
            files = [
                (f"photo-{n}-{k}.jpg", rng.randbytes(rng.randint(2_000, 40_000)))
                for k in range(count)
            ]
            witness = witness_keys() if n % 10 == 1 else None
            sent.append(
                send(
                    organisation,
                    f"Testimony {n}: the houses by the mill burned that night.",
                    files=files,
                    witness=witness,
                    body_blob=n == 7,
                )
            )
        for parent in (s for s in sent if s.witness is not None):
            follow_up(organisation, parent, f"and later, about {parent.id[:6]}: the school too")

        # The other reviewer's work: tags, notes, a state, an incident and its links.
        ok(run("sync", "--workstation", annotator))
        for testimony in sent[:3]:
            ok(run("review", "tag", testimony.id, "violation/arson", "--workstation", annotator))
        for testimony in sent[3:5]:
            ok(run("review", "note", testimony.id, "first-hand", "--workstation", annotator))
        ok(run("review", "state", sent[5].id, "corroborated", "--workstation", annotator))
        incident = ok(
            run("incident", "new", "--title", "The fire by the mill", "--workstation", annotator)
        ).strip()
        for testimony_id in (sent[0].id, sent[3].id):
            ok(
                run(
                    "incident", "link", incident, testimony_id, "--role", "eyewitness",
                    "--workstation", annotator,
                )
            )  # fmt: skip
        ok(run("sync", "--workstation", founder))
        ok(run("review", "list", "--workstation", founder))  # the triage folded once, as in use
        yield World(organisation, founder, pristine, sent, incident, sent[21].id)
    finally:
        stop(organisation)


# --- sync ---------------------------------------------------------------------------------


@dataclass
class Synced:
    """What a workstation holds after its sync, and what it shows."""

    records: dict[tuple[str, str], str]
    blobs: dict[str, tuple[str, bytes | None, str | None]]
    log: list[tuple[int, str, str]]
    shown: dict[str, str]


def _synced(home: Path, incident: str) -> Synced:
    with cache_of(home) as cache:
        assert cache.staged_end() is None  # no entry left unverified
        assert cache.wanted_blobs() == []
        records = {(k, i): v for k, i, v in cache.query("SELECT kind, id, value FROM records")}
        blobs = {i: (s, d, m) for i, s, d, m in cache.query("SELECT * FROM blobs")}
        log = [(index, entry_id, kind) for index, entry_id, kind, _ in cache.entries()]
    shown = {}
    for name, command in {
        "review list": ["review", "list", "--limit", 1000],
        "incident list": ["incident", "list"],
        "incident show": ["incident", "show", incident],
    }.items():
        done = run(*command, "--workstation", home)
        shown[name] = ok(done) + done.stderr
    return Synced(records, blobs, log, shown)


def _check_clean(state: Synced, world: World) -> None:
    """A clean sync's state holds exactly what was sent, each once."""
    assert [index for index, _id, _kind in state.log] == list(range(len(state.log)))
    kinds = Counter(kind for kind, _id in state.records)
    submissions = {i: v for (k, i), v in state.records.items() if k == "submission"}
    assert set(submissions) == {s.id for s in world.sent}
    assert kinds["followup"] == sum(s.witness is not None for s in world.sent)
    assert kinds["annotation"] == 3 + 2 + 1 + 1 + 2  # tags, notes, state, incident, links
    assert not [key for key, value in state.records.items() if '"unreadable"' in value]
    # Each attachment kept, sealed as served, opens to the file the witness sent.
    named = [(a, s) for s in world.sent for a in s.manifest["attachments"]]
    assert set(state.blobs) == {a["blob"] for a, _s in named}
    for descriptor, s in named:
        _subject, data, missing = state.blobs[descriptor["blob"]]
        assert missing is None and data is not None
        assert submission.open_attachment(descriptor, data) in s.files
    listed = state.shown["review list"].splitlines()
    rows = [line.split()[0] for line in listed if line[:1].isalnum() and len(line.split()[0]) == 12]
    assert len(rows) == len(set(rows)) == len(world.sent), listed


def test_a_sync_killed_at_random_moments_ends_as_a_clean_sync(
    world: World, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    rng = random.Random(SEED)
    scratch = tmp_path / "scratch"
    clean = tmp_path / "clean"
    shutil.copytree(world.pristine, clean)
    reference = _testimony(["sync", "--workstation", clean], clean, scratch)
    _completed(reference)
    expected = _synced(clean, world.incident)
    _check_clean(expected, world)
    clean_log = expected.log
    # What every run does whatever is left (the session, the checkpoint): a sync with nothing new.
    again = _testimony(["sync", "--workstation", clean], clean, scratch)
    assert "read: 0 testimonies, 0 follow-ups, 0 annotations" in _completed(again)
    window, overhead = reference.working, again.working

    kills = firsts = runs = 0
    reached: Counter[str] = Counter()
    while kills < SYNC_KILLS:
        home = tmp_path / f"first-sync-{firsts}"
        shutil.copytree(world.pristine, home)
        firsts += 1
        left = window  # what a clean run would still need, less what killed runs got through
        while True:
            runs += 1
            assert runs <= MAX_RUNS, f"{runs} runs and still no sync completed"
            moment = rng.uniform(0, left)
            ran = _testimony(["sync", "--workstation", home], home, scratch, kill_after=moment)
            assert {p.name for p in home.iterdir()} <= CACHE_FILES
            if not ran.killed:
                break
            kills += 1
            kept = _reached(home, scratch / "after-a-kill")
            reached[kept] += 1
            if kills == SYNC_KILLS or kept == "everything":  # nothing left to kill it in
                runs += 1
                ran = _testimony(["sync", "--workstation", home], home, scratch)
                break
            left = max(overhead, left - max(0.0, moment - overhead))
        said = _completed(ran)
        assert "read: " in said, said
        state = _synced(home, world.incident)
        assert state.records == expected.records
        assert state.blobs == expected.blobs
        assert state.shown == expected.shown
        # The log as the clean sync verified it, then only the server's access entries.
        assert state.log[: len(clean_log)] == clean_log
        assert {kind for _i, _id, kind in state.log[len(clean_log) :]} <= {"access"}

    accesses = _logged(world, 0)["access"]
    record_property("sync_kills_survived", kills)
    record_property("sync_first_syncs", firsts)
    record_property("sync_clean_seconds", round(window, 2))
    record_property("sync_kills_by_what_was_kept", dict(reached))
    print(
        f"sync: {kills} kills survived over {firsts} first syncs ({runs} runs; a clean one "
        f"works {window:.2f} s after opening the cache); kept when killed: {dict(reached)}; "
        f"{accesses} access entries in the log"
    )


def _reached(home: Path, copy: Path) -> str:
    """What a killed sync had kept, read from a copy of its workstation (the
    next run opens the cache as the kill left it); the copy's cache must open
    and pass SQLite's integrity check."""
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(home, copy)
    with cache_of(copy) as cache:
        assert cache.query("PRAGMA integrity_check") == [("ok",)]
        if cache.latest_checkpoint() is None:
            return "nothing yet" if cache.staged_end() is None else "log entries staged"
        if not any(True for _ in cache.records("submission")):
            return "the log"
        if cache.wanted_blobs():
            return "the testimonies, not every attachment"
        return "everything" if cache.get("keyring_mark") else "everything but the keyring mark"


def _log_size(world: World) -> int:
    with LogClient(world.organisation.url, world.organisation.log_key, ORIGIN) as log:
        return log.served_checkpoint()[1].size


def _logged(world: World, start: int) -> Counter[str]:
    """The types of the entries logged from index ``start`` on."""
    with LogClient(world.organisation.url, world.organisation.log_key, ORIGIN) as log:
        size = log.served_checkpoint()[1].size
        return Counter(log_entries.parse_entry(data).TYPE for data in log.entries(start, size))


# --- export -------------------------------------------------------------------------------


def _verified(world: World, out: Path) -> None:
    """``testimony verify`` (the log key pinned) says VERIFIED."""
    said = ok(run("verify", out, "--log-key", world.organisation.log_key))
    assert said.splitlines()[-1].startswith("VERIFIED: "), said


def _once_logged(world: World, bag_root: Path) -> Callable[[int], bool]:
    """A ``kill_when`` for an export: true once the server has logged its
    ``export`` entry, before the bundle is renamed into place. From the moment
    the bag's payload manifest is written (just before the entry is sent) the
    process group is stopped (SIGSTOP) at each poll while the log is read, so
    the kill lands just after the entry is logged."""
    manifest = bag_root / "manifest-sha256.txt"
    before: list[int] = []

    def logged(pid: int) -> bool:
        if not manifest.exists():
            return False
        os.killpg(pid, signal.SIGSTOP)
        size = _log_size(world)
        if before and size > before[0]:
            return True  # killed stopped
        before[:] = before or [size]
        os.killpg(pid, signal.SIGCONT)
        return False

    return logged


def _remove(path: Path) -> None:
    (shutil.rmtree if path.is_dir() else Path.unlink)(path)


def test_an_export_killed_at_random_moments_never_leaves_a_half_written_bundle(
    world: World, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    rng = random.Random(SEED)
    scratch = tmp_path / "scratch"
    home = world.founder
    chosen = ["--incident", world.incident, "--testimony", world.followed]
    command = ["export", "--workstation", home, *chosen, "--profile", "prosecutor"]
    start = _log_size(world)
    kills = bundles = runs = 0
    for mode, wanted in EXPORT_KILLS.items():
        folder = tmp_path / mode
        folder.mkdir()
        out = folder / ("bundle.zip" if mode == "zip" else "bundle")
        args = [*command, "--out", out, *(["--zip"] if mode == "zip" else [])]
        partial = out.with_name(out.name + (".bag-partial" if mode == "zip" else ".partial"))
        bag_root = partial / "bundle" if mode == "zip" else partial
        # What a kill may leave: the export's partial, and the ZIP's own partial file.
        allowed = {partial.name} | ({f"{out.name}.partial"} if mode == "zip" else set())
        reference = _testimony(args, home, scratch)
        _completed(reference)
        _verified(world, out)
        bundles += 1
        window = reference.working
        _remove(out)
        # Kills at random moments, then one just after the export entry is logged.
        kinds = ["at random"] * wanted + ["once logged"]
        while kinds:
            runs += 1
            assert runs <= MAX_RUNS
            if kinds[0] == "at random":
                moment = rng.uniform(0, window)
                ran = _testimony(args, home, scratch, kill_after=moment)
            else:
                ran = _testimony(args, home, scratch, kill_when=_once_logged(world, bag_root))
                assert ran.killed and not out.exists() and partial.exists(), ran.stderr
            if ran.killed:
                kinds.pop(0)
                kills += 1
            else:
                _completed(ran)
            if out.exists():  # only ever complete
                _verified(world, out)
                bundles += 1
                _remove(out)
            left = {p.name for p in folder.iterdir()}
            assert left <= allowed, left
            if partial.exists():
                refused = _testimony(args, home, scratch)
                assert refused.returncode == 1 and ONE_LINE_ERROR.fullmatch(refused.stderr), (
                    refused.stderr
                )
                assert "interrupted export" in refused.stderr and str(partial) in refused.stderr
                assert refused.stderr.endswith("(out-exists)\n")
                assert {p.name for p in folder.iterdir()} == left  # it wrote nothing
                shutil.rmtree(partial)  # as the message says
        # Taken up after the last kill: the export succeeds and leaves nothing else.
        _completed(_testimony(args, home, scratch))
        _verified(world, out)
        bundles += 1
        assert [p.name for p in folder.iterdir()] == [out.name]

    logged = _logged(world, start)
    assert set(logged) <= {"access", "export"}, logged
    unbundled = logged["export"] - bundles
    assert unbundled >= len(EXPORT_KILLS)  # at least the kills just after the entry was logged
    record_property("export_kills_survived", kills)
    record_property("export_entries_without_bundle", unbundled)
    print(
        f"export: {kills} kills survived ({runs} runs to kill), {bundles} bundles written and "
        f"verified, {logged['export']} export entries logged ({unbundled} without a bundle), "
        f"{logged['access']} access entries"
    )
