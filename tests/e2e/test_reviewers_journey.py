"""One reviewers' journey, end to end, through the real commands against one
real ``testimony serve`` (issue 13, "Tests and bad input"; docs/workstation.md).

The operator runs ``testimony intake-key new`` and ``testimony init`` (whose
setup token is read from its output) and serves. A founding admin makes an
identity with ``testimony reviewer new`` and founds the organisation with a
quorum of 2; two candidates (one an admin, one a reviewer) make theirs, are
invited and enrol. Two testimonies arrive: one sealed in headless Chromium
through the witness form page (Russian, a village, a violation type, a canary
in the narrative), one sealed with ``testimony seal`` and delivered with
``testimony upload``, with an attachment.

Before the quorum and before any grant, the candidates' ``sync`` opens
nothing and ``keys grant`` to a candidate without standing is refused in one
line with nothing sent. After the approvals and grants, each candidate reads
both testimonies, tags one (with a tag an admin added to the vocabulary),
notes it, opens an incident and links the testimony to it, and asks its
witness a question; the witnesses read the questions, one on the return page
in Chromium, the other with ``testimony replies``; the founder sees all of it
after a sync. The second witness sends a follow-up with a photo (``testimony
followup``); the reviewer exports both incidents for a prosecutor, which the
quorum makes a proposal; both admins approve it; the bundle is released,
validates with the LoC ``bagit`` tool, verifies pinned and against the public
log, and holds exactly what the witnesses sealed.

Then the hostile steps: a reviewer revoked under the quorum cannot post, and
the server refuses it the ciphertext of a testimony sent after the
revocation; a wrong passphrase and a damaged cache are each one line.

Last, every byte the server left behind (its database with its WAL, the blob
store, its output) and every file of the three workstation directories is
searched for every canary: the statements, the attachment, the tag's name and
label, the notes, the incidents' titles and the replies.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bagit
import pytest
from playwright.sync_api import sync_playwright
from typer.testing import CliRunner

from testimony.client.bundle.verify import verify
from testimony.client.errors import ServerRefused
from testimony.crypto import keyfile
from testimony.service import testing
from testimony.service.cli import app
from testimony.service.testing import LiveServer, start_server
from testimony.workstation import home as homes
from testimony.workstation.cache import CACHE_FILE
from testimony.workstation.session import ReviewerClient
from tests.web import browser
from tests.workstation.test_session import (
    ONE_LINE_ERROR,
    PASSPHRASE,
    cache_of,
    last_line,
    ok,
    one_line_error,
    run,
)

REPO = Path(__file__).resolve().parents[2]
FORM = REPO / "forms" / "definitions" / "kordai-2020.json"
ORIGIN = "journey.test/log"
POW_BITS = 4
PAGE_TIMEOUT_MS = 90_000
CACHE_PAGE = 4096  # SQLCipher 4's page size
CODE = re.compile(r"[0-9]{4}(?:-[0-9]{4}){4}")

WEB_STATEMENT = (
    "CANARY-WEB-STATEMENT-7Q2 Ночью 7 февраля в Масанчи подожгли дом соседа, я видела это сама."
)
CLI_STATEMENT = "CANARY-CLI-STATEMENT-4M8 В Сортобе ночью забрали моего брата, люди были в масках."
LATE_STATEMENT = "CANARY-LATE-STATEMENT-2X5 Ещё один рассказ, отправленный после отзыва."
ATTACHMENT = b"CANARY-ATTACHMENT-9P " + bytes(range(256)) * 20
FOLLOWUP_TEXT = "CANARY-FOLLOWUP-3R1 Я вспомнила: их было пятеро."
FOLLOWUP_PHOTO = b"CANARY-FOLLOWUP-PHOTO-6W " + bytes(range(256)) * 12
TAG = "topic/canary-tag-k7"
TAG_LABELS = {"ru": "КАНАРЕЙКА-МЕТКА-К7 поджог мечети", "en": "CANARY-TAG-LABEL-K7 mosque arson"}


def _note(who: str) -> str:
    return f"CANARY-NOTE-{who} свидетельница заслуживает доверия"


def _title(who: str) -> str:
    return f"CANARY-INCIDENT-{who} Поджоги в Масанчи"


def _question(who: str) -> str:
    return f"CANARY-REPLY-{who} Кто это был? Вы видели их лица?"


CANARIES: dict[str, list[str]] = {
    "statement (Chromium)": [WEB_STATEMENT, "CANARY-WEB-STATEMENT"],
    "statement (testimony seal)": [CLI_STATEMENT, "CANARY-CLI-STATEMENT"],
    "statement (after the revocation)": [LATE_STATEMENT, "CANARY-LATE-STATEMENT"],
    "tag": [TAG, "canary-tag-k7", *TAG_LABELS.values(), "КАНАРЕЙКА-МЕТКА", "CANARY-TAG-LABEL"],
    "note": [_note("A"), _note("B"), "CANARY-NOTE"],
    "incident title": [_title("A"), _title("B"), "CANARY-INCIDENT"],
    "reply": [_question("A"), _question("B"), "CANARY-REPLY"],
    "follow-up": [FOLLOWUP_TEXT, "CANARY-FOLLOWUP"],
}


def _needles(texts: list[str]) -> list[bytes]:
    """Each text as UTF-8, UTF-16 and a JSON string (escaped non-ASCII)."""
    found: list[bytes] = []
    for text in texts:
        found += [text.encode("utf-8"), text.encode("utf-16-le"), json.dumps(text).encode()]
    return found


def _files(folder: Path) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def _leaks(places: dict[str, bytes], canaries: dict[str, list[str]]) -> list[str]:
    return [
        f"the {what} is in {place}"
        for what, texts in canaries.items()
        for needle in _needles(texts)
        for place, data in places.items()
        if needle in data
    ]


# --- the witnesses ------------------------------------------------------------------------------


def _seal_in_chromium(chromium: Any, url: str) -> tuple[str, str]:
    """Fill and send kordai-2020 in Russian through the form page: (id, receipt code)."""
    context = chromium.new_context()
    try:
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.goto(f"{url}/ru/forms/kordai-2020")
        page.wait_for_selector("html[data-ready=true]", state="attached")
        page.fill("#f-narrative", WEB_STATEMENT)
        page.fill("#f-when-start-date", "2020-02-07")
        page.check("#field-where input[value=masanchi]")
        page.check("#field-what_happened input[value=arson]")
        page.check("#field-perpetrators input[value=unknown_persons]")
        page.check("#field-consent-share_with input[value=prosecutor]")
        page.check("#field-consent-contact input[value=true]")
        with page.expect_response(
            lambda r: r.url.endswith("/api/v1/submissions") and r.request.method == "POST",
            timeout=PAGE_TIMEOUT_MS,
        ) as answer:
            page.click("#send")
        assert answer.value.status == 201, answer.value.text()
        submission_id = str(answer.value.json()["id"])
        page.wait_for_selector("#receipt:not([hidden])", timeout=PAGE_TIMEOUT_MS)
        assert page.get_attribute("#receipt", "data-state") == "verified"
        code = page.inner_text("#receipt-code").strip()
        assert CODE.fullmatch(code), code
        return submission_id, code
    finally:
        context.close()


def _replies_on_the_return_page(chromium: Any, url: str, code: str) -> list[str]:
    """What the return page shows the witness who types ``code``."""
    context = chromium.new_context()
    try:
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.goto(f"{url}/ru/return")
        page.wait_for_selector("html[data-ready=true]", state="attached")
        page.fill("#receipt-code-input", code.replace("-", " "))
        page.click("#open")
        page.wait_for_selector("#witness-view:not([hidden])", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_selector("#replies li p")
        return [str(text) for text in page.locator("#replies li p").all_inner_texts()]
    finally:
        context.close()


def _seal_and_upload(
    folder: Path, url: str, log_key: str, intake_public: Path, statement: str
) -> tuple[str, str]:
    """``testimony seal`` (with an attachment) and ``testimony upload``: (id, receipt code)."""
    folder.mkdir()
    photo = folder / "фото-дома.jpg"
    photo.write_bytes(ATTACHMENT)
    answers = folder / "answers.json"
    answers.write_text(
        json.dumps(
            {
                "lang": "ru",
                "answers": {
                    "narrative": statement,
                    "where": {"id": "sortobe"},
                    "what_happened": ["arbitrary_detention"],
                    "perpetrators": ["police"],
                },
                "consent": {"share_with": ["prosecutor"], "contact": True},
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    envelope = folder / "witness.testimony"
    sealed = ok(
        run(
            "seal", "--form", FORM, "--intake-key", intake_public, "--out", envelope,
            "--answers", answers, "--attach", photo,
        )
    )  # fmt: skip
    (code,) = re.findall(r"receipt code: (\S+)", sealed)
    ok(run("upload", envelope, "--server", url, "--log-key", log_key))
    receipt = json.loads(envelope.with_name(envelope.name + ".receipt.json").read_text())
    return str(receipt["id"]), code


# --- the reviewers ------------------------------------------------------------------------------


def _reviewer_new(folder: Path) -> str:
    """``testimony reviewer new``; the reviewer id it prints."""
    out = ok(run("reviewer", "new", "--workstation", folder))
    (grouped,) = re.findall(r"reviewer id: ([0-9a-f ]+)\n", out)
    return str(grouped).replace(" ", "")


def _enrol(admin: Path, folder: Path, url: str, log_key: str, role: str) -> tuple[str, str]:
    """Invited by ``admin``, a new identity enrols as ``role``: (reviewer id, invite code)."""
    code = last_line(ok(run("reviewer", "invite", "--workstation", admin)))
    reviewer_id = _reviewer_new(folder)
    enrolled = ok(
        run(
            "reviewer", "enrol", "--workstation", folder, "--server", url,
            "--invite", code, "--role", role, "--log-key", log_key,
        )
    )  # fmt: skip
    assert homes.fingerprint(reviewer_id) in enrolled.splitlines()
    return reviewer_id, code


def _log_size(url: str) -> int:
    import httpx

    return int(httpx.get(url + "/api/v1/log/checkpoint", timeout=10).text.split("\n")[1])


def _readable(home: Path) -> set[str]:
    """The testimonies whose statements this workstation's cache holds."""
    with cache_of(home) as cache:
        return {
            entry_id
            for _index, entry_id, kind, _data in cache.entries()
            if kind == "submission"
            and isinstance(record := cache.record("submission", entry_id), dict)
            and "statement" in record
        }


@contextlib.contextmanager
def _serving(data_dir: Path, output: Path) -> Iterator[LiveServer]:
    server = start_server(data_dir, output, pow_bits=POW_BITS)
    try:
        yield server
    finally:
        server.stop()


_CREATE_IDENTITY = homes.create_identity


def test_the_reviewers_journey(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `reviewer new` as it is, with the tests' cheap Argon2id (every command pays it).
    monkeypatch.setattr(
        homes, "create_identity", functools.partial(_CREATE_IDENTITY, cost=keyfile.FAST_FOR_TESTS)
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    timings: dict[str, float] = {}
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        timings[name] = round(now - clock, 2)
        clock = now

    # --- 1. the server, the founder, the candidates -------------------------------------------
    operator = tmp_path / "operator"
    operator.mkdir()
    seed, public = operator / "intake.seed", operator / "intake.pub"
    ok(run("intake-key", "new", "--private", seed, "--public", public))
    data_dir = operator / "data"
    initialised = ok(
        run("init", "--data-dir", data_dir, "--intake-public-key", public, "--origin", ORIGIN)
    )
    setup_token = last_line(initialised)
    (log_key,) = re.findall(r"log key: (\S+)\n", initialised)
    output = operator / "server-output.txt"

    with contextlib.ExitStack() as stack:
        server = stack.enter_context(_serving(data_dir, output))
        url = server.url
        assert server.log_key() == log_key
        playwright = stack.enter_context(sync_playwright())
        chromium = browser.launch(playwright)
        stack.callback(chromium.close)
        # From here on, this process's temporary files go where the leak search looks
        # (Chromium's driver keeps the folder it started with).
        scratch = tmp_path / "tmp"
        scratch.mkdir()
        monkeypatch.setenv("TMPDIR", str(scratch))
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        lap("server and browser started")

        founder = tmp_path / "founder"
        founder_id = _reviewer_new(founder)
        founded = ok(
            run(
                "org", "init", "--workstation", founder, "--server", url,
                "--setup-token", setup_token, "--intake-seed", seed, "--quorum", 2,
                "--log-key", log_key,
            )
        )  # fmt: skip
        assert homes.fingerprint(founder_id) in founded.splitlines()

        # --- 2. two testimonies ------------------------------------------------------------------
        web_id, web_code = _seal_in_chromium(chromium, url)
        cli_id, cli_code = _seal_and_upload(
            tmp_path / "witness", url, log_key, public, CLI_STATEMENT
        )
        lap("testimonies sealed (Chromium, testimony seal)")

        # Candidate A enrols as an admin (the founder alone approves it: the quorum
        # of 2 is capped at the one admin there is), candidate B as a reviewer (two
        # approvals from then on).
        a, b = tmp_path / "candidate-a", tmp_path / "candidate-b"
        a_id, a_invite = _enrol(founder, a, url, log_key, "admin")
        b_id, b_invite = _enrol(founder, b, url, log_key, "reviewer")

        # --- 3. before the quorum, before the grants: nobody but the founder reads ------------
        synced = ok(run("sync", "--workstation", founder))
        assert "standing: admin" in synced and "read: 2 testimonies" in synced
        assert _readable(founder) == {web_id, cli_id}
        for home in (a, b):
            synced = ok(run("sync", "--workstation", home))
            assert "standing: none yet" in synced and "read: 0 testimonies" in synced
            assert _readable(home) == set()
        size = _log_size(url)
        refused = one_line_error(
            run("keys", "grant", a_id, "--workstation", founder), "no-standing"
        )
        assert "has no standing yet" in refused and "nothing was sent" in refused
        assert _log_size(url) == size
        approved = ok(run("reviewer", "approve", homes.fingerprint(a_id), "--workstation", founder))
        assert "it has taken effect" in approved
        half = ok(run("reviewer", "approve", b_id, "--workstation", founder))
        assert "1 of 2 approvals; it waits for 1 more" in half
        size = _log_size(url)
        one_line_error(run("keys", "grant", b_id, "--workstation", founder), "no-standing")
        assert _log_size(url) == size  # nothing sent
        listed = ok(run("reviewer", "list", "--workstation", founder))
        assert re.search(
            rf"reviewer +candidate \(1 of 2 approvals\) .*{homes.fingerprint(b_id)}", listed
        )
        # A has standing, but no keyring yet: its sync opens nothing either.
        synced = ok(run("sync", "--workstation", a))
        assert "standing: admin" in synced and "read: 0 testimonies" in synced
        assert "2 no-intake-key" in synced
        assert _readable(a) == set()
        nothing = run("review", "list", "--workstation", a)
        assert nothing.exit_code == 0 and nothing.stderr == "0 testimonies\n", nothing.stderr
        assert WEB_STATEMENT[:20] not in nothing.stdout and CLI_STATEMENT[:20] not in nothing.stdout
        # The second admin's approval completes B's enrolment.
        done = ok(run("reviewer", "approve", b_id, "--workstation", a))
        assert "it has taken effect" in done
        synced = ok(run("sync", "--workstation", b))
        assert "standing: reviewer" in synced and "read: 0 testimonies" in synced
        lap("enrolment under the quorum")

        # --- 4. the grants; each candidate reads, tags, notes, links, asks ----------------------
        for candidate in (a_id, b_id):
            granted = ok(run("keys", "grant", candidate, "--workstation", founder))
            assert "epoch 0 and 1 intake key(s)" in granted
        for home in (a, b):
            synced = ok(run("sync", "--workstation", home))
            assert "read: 2 testimonies" in synced and "1 grants" in synced, synced
            assert "1 attachments fetched" in synced, synced
            assert _readable(home) == {web_id, cli_id}
            web = ok(run("review", "show", web_id[:8], "--workstation", home, "--labels", "ru"))
            assert WEB_STATEMENT in web and "Масанчи" in web
            assert "witness key yes" in web
            cli = ok(run("review", "show", cli_id, "--workstation", home, "--labels", "en"))
            assert CLI_STATEMENT in cli
            assert re.search(r"1\. фото-дома\.jpg +image/jpeg +5\.0 KiB", cli), cli
        listed = ok(run("review", "list", "--workstation", b, "--place", "Masanchy"))
        assert web_id[:12] in listed and cli_id[:12] not in listed

        # An admin adds a tag to the vocabulary; the reviewers see it after a sync.
        labels = [f"--label={lang}={text}" for lang, text in TAG_LABELS.items()]
        ok(run("review", "vocab", "add", TAG, *labels, "--workstation", a))
        ok(run("sync", "--workstation", b))
        incidents = {}
        for who, home, testimony, tag_as in (
            ("A", a, web_id, TAG),
            ("B", b, cli_id, TAG_LABELS["ru"]),
        ):
            ok(run("review", "tag", testimony, tag_as, "violation/arson", "--workstation", home))
            ok(run("review", "note", testimony, _note(who), "--workstation", home))
            made = run(
                "incident", "new", "--title", _title(who), "--start", "2020-02-07",
                "--place", "Масанчи", "--act", "arson; victims=2; by=unknown_persons*10",
                "--workstation", home,
            )  # fmt: skip
            incident = ok(made).strip()
            assert re.fullmatch(r"[0-9a-f]{32}", incident), made.stdout
            incidents[who] = incident
            ok(
                run(
                    "incident", "link", incident[:6], testimony, "--role", "eyewitness",
                    "--reliability", "B", "--validity", "2", "--workstation", home,
                )
            )  # fmt: skip
            replied = ok(run("review", "reply", testimony, _question(who), "--workstation", home))
            assert "reply sent" in replied
            shown = ok(run("review", "show", testimony, "--workstation", home, "--labels", "en"))
            for text in (_note(who), _question(who), _title(who), TAG_LABELS["en"]):
                assert text in shown, (text, shown)
        lap("triage by both candidates")

        # The founder sees all of it after a sync.
        ok(run("sync", "--workstation", founder))
        tagged = ok(run("review", "list", "--tag", TAG, "--workstation", founder))
        assert web_id[:12] in tagged and cli_id[:12] in tagged
        listed = ok(run("incident", "list", "--workstation", founder))
        assert _title("A") in listed and _title("B") in listed
        shown = ok(run("incident", "show", incidents["A"], "--workstation", founder))
        assert web_id[:12] in shown and "eyewitness" in shown
        shown = ok(run("review", "show", web_id, "--workstation", founder))
        assert _note("A") in shown and _question("A") in shown

        # The witnesses read the questions: in Chromium on the return page, and
        # with `testimony replies`.
        assert _replies_on_the_return_page(chromium, url, web_code) == [_question("A")]
        read = CliRunner().invoke(app, ["replies", "--server", url], input=cli_code + "\n")
        assert read.exit_code == 0, read.stderr
        assert _question("B") in read.stdout and _question("A") not in read.stdout
        lap("replies read by the witnesses")

        # --- 5. a follow-up, then an evidence bundle of both incidents under four eyes -----------
        later = tmp_path / "witness" / "ещё-фото.jpg"
        later.write_bytes(FOLLOWUP_PHOTO)
        sent = CliRunner().invoke(
            app,
            [
                "followup", "--server", url, "--parent", cli_id, "--text", FOLLOWUP_TEXT,
                "--attach", str(later), "--log-key", log_key,
            ],
            input=cli_code + "\n",
        )  # fmt: skip
        assert sent.exit_code == 0, sent.output
        (followup_id,) = re.findall(r"follow-up logged: ([0-9a-f]{64})", sent.output)
        ok(run("sync", "--workstation", b))
        bundle = tmp_path / "bundle"
        proposed = ok(
            run(
                "export", "--workstation", b, "--incident", incidents["A"][:8],
                "--incident", incidents["B"][:8], "--profile", "prosecutor", "--out", bundle,
            )
        )  # fmt: skip
        (proposal,) = re.findall(r"testimony reviewer approve ([0-9a-f]{64})", proposed)
        assert "it has 0" in proposed and not bundle.exists()  # a reviewer's proposal
        for admin in (founder, a):
            ok(run("sync", "--workstation", admin))
            asked = ok(run("exports", "list", "--workstation", admin))
            assert "2 testimonies" in asked and "prosecutor for prosecutor" in asked
            ok(run("reviewer", "approve", proposal, "--workstation", admin))
        released = ok(run("exports", "release", proposal[:12], "--workstation", b))
        assert "approved by 2 admins" in released
        assert bagit.Bag(str(bundle)).is_valid()
        verdict = verify(bundle, log_key=log_key, log=url)
        assert verdict.ok, [i for i in verdict.items if not i.ok]
        assert verdict.trust == "pinned"
        # What the witnesses sealed, exactly: the statement typed in Chromium, the
        # file and the follow-up sealed with `testimony seal` and `testimony followup`.
        data = bundle / "data" / "testimonies"
        web_manifest = json.loads((data / web_id / "manifest.json").read_text())
        assert web_manifest["answers"]["narrative"] == WEB_STATEMENT
        assert web_manifest["form"]["version"] == 2 and (bundle / "data/forms").is_dir()
        assert (data / cli_id / "files" / "0-фото-дома.jpg").read_bytes() == ATTACHMENT
        followed = data / cli_id / "followups" / followup_id
        assert json.loads((followed / "manifest.json").read_text())["text"] == FOLLOWUP_TEXT
        assert (followed / "files" / "0-ещё-фото.jpg").read_bytes() == FOLLOWUP_PHOTO
        kinds = {
            json.loads(line)["payload"]["kind"]
            for line in (bundle / "data/custody/events.jsonl").read_text().splitlines()
            if '"payload"' in line
        }
        assert {"tag", "note", "incident", "link", "reply"} <= kinds
        lap("follow-up, and a bundle exported under four eyes and verified")

        # --- 6. hostile steps ----------------------------------------------------------------------
        wrong = tmp_path / "wrong-passphrase"
        wrong.write_text("not the passphrase of this workstation\n")
        one_line_error(
            run("review", "list", "--workstation", a, "--passphrase-file", wrong),
            "wrong-passphrase",
        )
        # A copy of A's workstation whose cache has a byte flipped: in its first page
        # (it does not open), or in the page at the root of its records (it opens,
        # then a read fails its HMAC).
        with cache_of(a) as cache:
            records = _records_pages(cache)
        for pages, code in (([1], "cache-unreadable"), (records, "cache-damaged")):
            damaged = tmp_path / f"damaged-{code}"
            shutil.copytree(a, damaged)
            assert sorted(p.name for p in damaged.iterdir()) == [CACHE_FILE, homes.IDENTITY_FILE]
            _flip_byte(damaged / CACHE_FILE, *pages)
            before = (damaged / CACHE_FILE).read_bytes()
            one_line_error(run("review", "show", web_id, "--workstation", damaged), code)
            assert (damaged / CACHE_FILE).read_bytes() == before

        # B is revoked: the founder proposes, A completes the quorum of 2.
        proposed = ok(run("reviewer", "revoke", homes.fingerprint(b_id), "--workstation", founder))
        assert "1 of 2 approvals" in proposed
        revoked = ok(run("reviewer", "approve", last_line(proposed), "--workstation", a))
        assert "it has taken effect" in revoked
        late_id, late_code = _seal_and_upload(
            tmp_path / "late-witness", url, log_key, public, LATE_STATEMENT
        )
        size = _log_size(url)
        one_line_error(run("review", "note", cli_id, _note("B"), "--workstation", b), "no-standing")
        one_line_error(run("sync", "--workstation", b), "revoked")
        assert _log_size(url) == size  # nothing appended for B
        assert late_id not in _readable(b)
        # Even a workstation that ignored its own log is refused by the server.
        b_identity = homes.unlock_identity(b, PASSPHRASE)
        with (
            ReviewerClient(url, b_identity, log_key=log_key) as client,
            pytest.raises(ServerRefused) as refusal,
        ):
            client.ciphertext([late_id])
        assert refusal.value.problem == "no-standing"
        assert _log_size(url) == size  # and no access entry names B
        synced = ok(run("sync", "--workstation", a))
        assert "read: 1 testimonies" in synced
        assert late_id in _readable(a)
        lap("hostile steps")

        # --- 5. the leak search -------------------------------------------------------------------
        # The search finds what it looks for: the witness's own files hold it.
        witness_files = _files(tmp_path / "witness")
        assert _leaks(witness_files, {"s": [CLI_STATEMENT]})
        places = _files(data_dir)  # while it runs: the WAL is there
        assert any(p.endswith("-wal") for p in places), sorted(places)
        output_text = server.stop()
        places.update({f"{p} (after stop)": d for p, d in _files(data_dir).items()})
        places["server output"] = output_text.encode()
        assert [p for p in places if "/blobs/" in p]
        places.update(_files(scratch))
        for home in (founder, a, b):
            files = _files(home)
            assert not files[str(home / CACHE_FILE)].startswith(b"SQLite format 3")
            places.update(files)
        # Besides: the codes people read out or keep (only their hashes are logged; a
        # receipt code is kept nowhere) and the workstations' passphrase.
        codes = [setup_token, a_invite, b_invite, web_code, cli_code, late_code]
        secrets = {
            "code": codes + [code.replace("-", "") for code in codes],
            "passphrase": [PASSPHRASE],
        }
        assert _leaks(places, CANARIES | secrets) == []
        assert "Traceback" not in output_text
        lap("leak search")
    print("timings (s):", timings)


def _records_pages(cache: Any) -> list[int]:
    """The root pages of the cache's ``records`` table and of its primary key."""
    rows = cache.query(
        "SELECT rootpage FROM sqlite_master WHERE tbl_name = 'records' AND rootpage > 0"
    )
    return sorted(int(root) for (root,) in rows)


def _flip_byte(path: Path, *pages: int) -> None:
    """Flip one byte in the middle of each page (numbered from 1) of an encrypted cache."""
    data = bytearray(path.read_bytes())
    for page in pages:
        data[(page - 1) * CACHE_PAGE + CACHE_PAGE // 2] ^= 0x01
    path.write_bytes(bytes(data))


# --- a damaged cache, in a process of its own (what a reviewer's terminal shows) ----------------


def _damaged_cache_run(tmp_path: Path, page: str) -> subprocess.CompletedProcess[str]:
    """``testimony review list`` in a new process on a cache with a byte flipped in
    its first page (``first``) or in its records' root page (``records``)."""
    home = tmp_path / "ws"
    homes.create_identity(home, PASSPHRASE, cost=keyfile.FAST_FOR_TESTS)
    with cache_of(home) as cache:
        cache.put_record("submission", "ab" * 32, {"index": 1, "unreadable": "no-intake-key"})
        roots = _records_pages(cache)
    _flip_byte(home / CACHE_FILE, *([1] if page == "first" else roots))
    return subprocess.run(
        [*testing.testimony_command(), "review", "list", "--workstation", str(home)],
        capture_output=True,
        text=True,
        env={**testing.clean_environment(), "TESTIMONY_PASSPHRASE": PASSPHRASE},
        timeout=60,
    )


DAMAGED = [("first", "cache-unreadable"), ("records", "cache-damaged")]


@pytest.mark.parametrize(("page", "code"), DAMAGED)
def test_a_damaged_cache_ends_in_one_clear_line_in_a_real_process(
    tmp_path: Path, page: str, code: str
) -> None:
    done = _damaged_cache_run(tmp_path, page)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    last = done.stderr.splitlines()[-1] + "\n"
    assert ONE_LINE_ERROR.fullmatch(last) and last.endswith(f"({code})\n"), done.stderr


@pytest.mark.parametrize(("page", "code"), DAMAGED)
def test_a_damaged_cache_is_only_one_line_on_stderr(tmp_path: Path, page: str, code: str) -> None:
    done = _damaged_cache_run(tmp_path, page)
    assert ONE_LINE_ERROR.fullmatch(done.stderr) and done.stderr.endswith(f"({code})\n"), (
        done.stderr
    )
