"""The testimony page of the reviewer's web UI (workstation/ui/pages/testimony.py):
what a reviewer reads there, each change made from it, the files served
only in their safe forms, hostile text kept inert, and the custody history."""

from __future__ import annotations

import html as htmlib
import io
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest
from PIL import Image

from testimony.crypto import checkpoint, hpke, merkle, signing
from testimony.workstation import attachments, triage
from testimony.workstation import incidents as incident_records
from testimony.workstation.attachments import audio_type, export_name
from testimony.workstation.home import fingerprint

from .support import ENGLISH, HOSTILE_NAME, OTHER, POLYGLOT_TAIL, UI, text_of

SANDBOX = "default-src 'none'; sandbox"


@pytest.fixture
def ui(tmp_path: Any, monkeypatch: Any) -> Iterator[UI]:
    desk = UI(tmp_path, monkeypatch)
    yield desk
    desk.close()


def page(ui: UI, testimony: str) -> str:
    answer = ui.get(f"/testimony/{testimony}")
    assert answer.status_code == 200, answer.text
    return answer.text


def section(html: str, heading_id: str) -> str:
    """The ``<section>`` a heading of this id labels."""
    start = html.index(f'aria-labelledby="{heading_id}"')
    return html[start : html.index("</section>", start)]


def flashes(html: str) -> str:
    found = re.search(r'<div class="flashes".*?</div>', html, re.S)
    return text_of(found.group(0)) if found else ""


def change(ui: UI, testimony: str, action: str, data: dict[str, Any]) -> str:
    """POST a form of the page as the browser does; the page it goes back to."""
    back = f"/testimony/{testimony}"
    answer = ui.post(f"{back}/{action}", {"back": back, **data})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == back
    return page(ui, testimony)


def give_witness_box(ui: UI, testimony: str) -> None:
    """Put the witness's whole S1 box key in the cached submission, as a sync
    does when the server serves it (the fixture keeps only its hash)."""
    cache = ui.workstation.cache
    record = cache.record("submission", testimony)
    record["witness_box"] = hpke.public_key(os.urandom(32)).hex()
    cache.put_record("submission", testimony, record)


# --- reading -------------------------------------------------------------------------------------


def test_the_statement_in_its_language_with_the_form_labels_in_the_reviewers(ui: UI) -> None:
    russian = ui.ids.russian
    html = page(ui, russian)
    statement = section(html, "statement-title")
    assert "In your own words, what happened?" in statement
    assert "Who was harmed?" in statement
    narrative = "Ночью 7 февраля подожгли дом соседей в Масанчи. Мы видели людей в масках."
    assert f'<bdi dir="auto" class="untrusted" lang="ru">{narrative}</bdi>' in statement
    # a choice is in the reviewer's language, the witness's own "other" words in theirs
    assert '<bdi dir="auto" class="untrusted" lang="en">Shooting</bdi>' in statement
    assert 'lang="ru">угрозы по телефону</bdi>' in statement
    assert "2020-02-07 23:30 to 2020-02-08" in text_of(statement)
    # the files answer points to the files below
    assert '<a href="#file-1">file 1</a>' in statement and 'id="file-1"' in html
    # consent, with the consent form's labels
    assert "Prosecutors and courts" in statement
    head = text_of(html[: html.index('class="grid-2')])
    assert "ru" in head and "kordai-2020@2" in head and "yes (replies possible)" in head
    assert "Поджоги в Масанчи" in head and "eyewitness" in head
    assert f'href="/incident/{ui.ids.incident}"' in html

    switched = ui.post("/language", {"lang": "ru", "back": f"/testimony/{russian}"})
    assert switched.status_code == 303
    html = page(ui, russian)
    statement = section(html, "statement-title")
    assert "Расскажите своими словами: что произошло?" in statement
    assert "Кто пострадал?" in statement
    assert "In your own words" not in html
    assert f'lang="ru">{narrative}</bdi>' in statement
    assert "Прокуратура и суд" in statement
    assert "Показания" in html and "История хранения" in html
    assert "очевидец" in html  # the link's role, in Russian too


def test_the_follow_up_and_a_reply_are_a_conversation_in_order(ui: UI) -> None:
    russian = ui.ids.russian
    give_witness_box(ui, russian)
    html = change(ui, russian, "reply", {"reply_text": "Когда именно подожгли сарай?"})
    assert "Reply sent to the witness" in flashes(html)
    conversation = section(html, "conversation-title")
    followup = conversation.index("Ещё: у соседей сгорел сарай.")
    reply = conversation.index("Когда именно подожгли сарай?")
    assert followup < reply
    turns = re.findall(r'<li class="turn (from-witness|from-org)">', conversation)
    assert turns == ["from-witness", "from-org"]
    ours = conversation[conversation.index('<li class="turn from-org">') :]
    assert '<span class="status sent">sent</span>' in ours[: ours.index("</li>")]
    kinds = [e.kind for e in triage.events(ui.workstation.cache, russian)]
    assert kinds.index("followup") < kinds.index("reply")
    sent = [e for e in triage.events(ui.workstation.cache, russian) if e.kind == "reply"]
    assert sent[0].payload["text"] == "Когда именно подожгли сарай?" and sent[0].sent


def test_the_note_shows_its_author(ui: UI) -> None:
    notes = section(page(ui, ui.ids.russian), "notes-title")
    assert "Сверить с картой." in notes
    assert fingerprint(OTHER.id)[:9] in notes


def test_a_translation_appears_beside_the_statement(ui: UI) -> None:
    kazakh = ui.ids.kazakh
    html = change(
        ui,
        kazakh,
        "translate",
        {"translation_lang": "en", "translation_text": "In Sortobe houses were burnt."},
    )
    assert "Translation into en added" in flashes(html)
    reading = html[html.index('<div class="grid-2 reading">') :]
    translations = section(reading, "translations-title")
    assert '<bdi dir="auto" class="untrusted" lang="en">In Sortobe houses were burnt.</bdi>' in (
        translations
    )
    assert reading.index("statement-title") < reading.index("translations-title")
    # a newer translation into the same language replaces it
    html = change(
        ui, kazakh, "translate", {"translation_lang": "en", "translation_text": "Newer words."}
    )
    translations = section(html, "translations-title")
    assert "Newer words." in translations and "In Sortobe houses" not in translations
    kinds = [e.kind for e in triage.events(ui.workstation.cache, kazakh)]
    assert kinds.count("translation") == 2
    # a refused one keeps both the language and the text typed
    html = change(
        ui, kazakh, "translate", {"translation_lang": "English", "translation_text": "Kept."}
    )
    assert "That is no language code" in flashes(html)
    assert 'name="translation_lang" value="English"' in html and ">Kept.</textarea>" in html
    assert [e.kind for e in triage.events(ui.workstation.cache, kazakh)].count("translation") == 2


# --- changes -------------------------------------------------------------------------------------


def test_state_and_duplicate(ui: UI) -> None:
    english, kazakh = ui.ids.english, ui.ids.kazakh
    html = change(ui, english, "state", {"state": "needs-follow-up", "duplicate_of": ""})
    assert "needs follow-up" in flashes(html)
    assert triage.testimony(ui.workstation.cache, english).state == "needs-follow-up"
    html = change(ui, english, "state", {"state": "duplicate", "duplicate_of": kazakh[:8]})
    row = triage.testimony(ui.workstation.cache, english)
    assert (row.state, row.duplicate_of) == ("duplicate", kazakh)
    assert f'href="/testimony/{kazakh}"' in html
    # a duplicate-of with another state is refused; what was typed is kept
    html = change(ui, english, "state", {"state": "rejected", "duplicate_of": kazakh[:8]})
    assert "duplicate-of-without-duplicate" in flashes(html)
    assert f'value="{kazakh[:8]}"' in html
    assert triage.testimony(ui.workstation.cache, english).state == "duplicate"


def test_assign_to_me_another_reviewer_and_nobody(ui: UI) -> None:
    english = ui.ids.english
    html = page(ui, english)
    assert f'<option value="{OTHER.id}"' in html  # a reviewer of the organisation
    change(ui, english, "assign", {"reviewer": "me"})
    assert triage.testimony(ui.workstation.cache, english).assignee == ui.workstation.me.id
    html = change(ui, english, "assign", {"reviewer": OTHER.id})
    assert triage.testimony(ui.workstation.cache, english).assignee == OTHER.id
    assert fingerprint(OTHER.id)[:9] in flashes(html)
    change(ui, english, "assign", {"reviewer": "nobody"})
    assert triage.testimony(ui.workstation.cache, english).assignee is None
    html = change(ui, english, "assign", {"reviewer": "ab" * 16})
    assert "no-standing" in flashes(html)


def test_tag_and_untag(ui: UI) -> None:
    english = ui.ids.english
    html = page(ui, english)
    assert '<datalist id="tag-vocabulary">' in html
    assert '<option value="violation/arson">Violation: ' in html
    html = change(ui, english, "tag", {"tag": "Масанчи"})  # a label, in another script
    assert "Tagged: Masanchi" in flashes(html)
    assert triage.testimony(ui.workstation.cache, english).tags == ("place/masanchi",)
    change(ui, english, "tag", {"tag": "violation/arson"})
    html = change(ui, english, "untag", {"tag": "place/masanchi"})
    assert "Untagged: Masanchi" in flashes(html)
    assert triage.testimony(ui.workstation.cache, english).tags == ("violation/arson",)


def test_an_unknown_tag_is_refused_and_what_was_typed_is_kept(ui: UI) -> None:
    english = ui.ids.english
    html = change(ui, english, "tag", {"tag": "no such tag at all"})
    message = flashes(html)
    assert "No tag of the vocabulary is called no such tag at all" in message
    assert "unknown-tag" in message
    assert 'name="tag" list="tag-vocabulary" value="no such tag at all"' in html
    assert triage.testimony(ui.workstation.cache, english).tags == ()
    # the draft is given back once
    assert 'value="no such tag at all"' not in page(ui, english)


def test_note(ui: UI) -> None:
    english = ui.ids.english
    html = change(ui, english, "note", {"note_text": "Ask about the road."})
    assert "Note added" in flashes(html)
    notes = section(html, "notes-title")
    assert "Ask about the road." in notes and fingerprint(ui.workstation.me.id)[:9] in notes
    found = [e for e in triage.events(ui.workstation.cache, english) if e.kind == "note"]
    assert [e.payload["text"] for e in found] == ["Ask about the road."]
    html = change(ui, english, "note", {"note_text": "   "})
    assert "the text is empty" in flashes(html)


def test_link_new_incident_and_unlink(ui: UI) -> None:
    english, incident = ui.ids.english, ui.ids.incident
    cache = ui.workstation.cache
    html = change(
        ui,
        english,
        "link",
        {
            "incident": incident,
            "role": "hearsay",
            "reliability": "fairly-reliable",
            "validity": "possibly-true",
        },
    )
    assert "Linked to Поджоги в Масанчи" in flashes(html)
    links = dict(incident_records.linked_incidents(cache, english))
    link = links[incident]
    assert (link.role, link.reliability, link.validity) == (
        "hearsay",
        "fairly-reliable",
        "possibly-true",
    )
    assert f'href="/incident/{incident}"' in html

    html = change(
        ui,
        english,
        "new-incident",
        {
            "title": "Задержания на дороге",
            "role": "eyewitness",
            "reliability": "",
            "validity": "",
        },
    )
    assert "Задержания на дороге" in flashes(html)
    links = dict(incident_records.linked_incidents(cache, english))
    assert len(links) == 2
    (new,) = set(links) - {incident}
    assert incident_records.get(cache, new).title == "Задержания на дороге"
    assert links[new].role == "eyewitness" and links[new].reliability == "cannot-judge"

    html = change(ui, english, "unlink", {"incident": incident})
    assert "Unlinked from" in flashes(html)
    assert set(dict(incident_records.linked_incidents(cache, english))) == {new}
    history = section(html, "history-title")
    assert "linked to Поджоги в Масанчи" in history and "unlinked from Поджоги" in history

    html = change(ui, english, "new-incident", {"title": " ", "role": "victim"})
    assert "An incident needs a title" in flashes(html)


def test_a_reply_to_a_testimony_without_witness_key_is_refused_and_kept(ui: UI) -> None:
    english = ui.ids.english
    html = page(ui, english)
    form = html[html.index('action="/testimony/' + english + '/reply"') :]
    form = form[: form.index("</form>")]
    assert "The witness left no witness key" in form
    assert "<fieldset disabled" in form
    html = change(ui, english, "reply", {"reply_text": "Which road exactly?"})
    message = flashes(html)
    assert "The witness left no witness key" in message and "parent-without-witness" in message
    assert ">Which road exactly?</textarea>" in html
    assert not [e for e in triage.events(ui.workstation.cache, english) if e.kind == "reply"]
    assert not ui.server.posted


def test_a_change_without_the_token_is_refused(ui: UI) -> None:
    english = ui.ids.english
    answer = ui.client.post(
        f"/testimony/{english}/note",
        data={"note_text": "forged", "back": f"/testimony/{english}"},
        headers={"Origin": ui.origin, "Sec-Fetch-Site": "same-origin"},
    )
    assert answer.status_code == 403
    assert not [e for e in triage.events(ui.workstation.cache, english) if e.kind == "note"]


def test_an_unknown_testimony_is_a_clear_404(ui: UI) -> None:
    for ref in ("abcdef0123456789", "zz"):
        answer = ui.get(f"/testimony/{ref}")
        assert answer.status_code == 404
        assert f"There is no testimony {ref} in this workstation" in text_of(answer.text)
    prefix = page(ui, ui.ids.kazakh[:6])  # a unique prefix of 6 digits is enough
    assert ui.ids.kazakh in prefix


# --- files ---------------------------------------------------------------------------------------


def test_the_photo_is_shown_only_as_its_safe_copy(ui: UI) -> None:
    russian = ui.ids.russian
    html = page(ui, russian)
    files = section(html, "files-title")
    img = re.search(r"<img [^>]*>", files)
    assert img is not None
    tag = img.group(0)
    assert f'src="/testimony/{russian}/file/1/safe"' in tag
    assert 'alt="дом.jpg"' in tag and 'width="64"' in tag and 'height="48"' in tag
    answer = ui.get(f"/testimony/{russian}/file/1/safe")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"] == SANDBOX
    assert answer.headers["content-disposition"] == 'inline; filename="safe-copy-1.jpg"'
    assert answer.headers["cache-control"] == "no-store"
    body = answer.content
    for canary in (b"CANARY-EXIF-DESCRIPTION", b"CANARY-JPEG-COMMENT", b"<script", POLYGLOT_TAIL):
        assert canary not in body
    with Image.open(io.BytesIO(body)) as image:
        assert image.format == "JPEG" and image.size == (64, 48)
        assert not image.getexif()


def test_no_route_returns_an_original_inline(ui: UI) -> None:
    russian = ui.ids.russian
    cache = ui.workstation.cache
    for number in (1, 2):
        _, original = attachments.original(cache, russian, number)
        download = ui.get(f"/testimony/{russian}/file/{number}/download")
        assert download.status_code == 200 and download.content == original
        assert download.headers["content-type"] == "application/octet-stream"
        disposition = download.headers["content-disposition"]
        assert disposition.startswith(
            f'attachment; filename="testimony-{russian[:12]}-{number}.bin"; '
        )
        assert download.headers["content-security-policy"] == SANDBOX
        # the audio route plays nothing that is not audio: neither the photo nor the PDF
        refused = ui.get(f"/testimony/{russian}/file/{number}/audio")
        assert refused.status_code == 400 and original not in refused.content
        assert b"CANARY" not in refused.content
        for other in ("", "/original", "/inline", "/view", "/raw"):
            assert ui.get(f"/testimony/{russian}/file/{number}{other}").status_code == 404
    assert (
        "filename*=UTF-8''%D0%B4%D0%BE%D0%BC.jpg"
        in ui.get(f"/testimony/{russian}/file/1/download").headers["content-disposition"]
    )
    # the PDF has no safe copy, and is offered for export only
    pdf = ui.get(f"/testimony/{russian}/file/2/safe")
    assert pdf.status_code == 400 and b"CANARY-PDF" not in pdf.content
    row = section(page(ui, russian), "files-title")
    row = row[row.index('id="file-2"') :]
    row = row[: row.index("</tr>")]
    assert "<img" not in row and "<audio" not in row
    assert f'href="/testimony/{russian}/file/2/download"' in row
    assert "open it only with a viewer you trust, ideally offline" in row.lower()
    missing = ui.get(f"/testimony/{russian}/file/9/download")
    assert missing.status_code == 404


def test_audio_is_played_only_when_its_bytes_are_audio(ui: UI) -> None:
    ws = ui.workstation
    ogg = b"OggS\x00\x02" + bytes(22) + b"\x01vorbis CANARY-AUDIO"
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(24)
    fake = b"<html><script>alert('not audio')</script></html>"
    testimony = ws.submission(
        ENGLISH,
        files=[
            (ogg, "voice.bin", "application/octet-stream"),
            (wav, "call.wav", "audio/wav"),
            (fake, "song.mp3", "audio/mpeg"),
        ],
    )
    triage.refresh(ws.cache)
    html = page(ui, testimony)
    audios = re.findall(r"<audio [^>]*>", html)
    assert audios == [
        f'<audio controls preload="none" src="/testimony/{testimony}/file/1/audio" '
        'aria-label="voice.bin">',
        f'<audio controls preload="none" src="/testimony/{testimony}/file/2/audio" '
        'aria-label="call.wav">',
    ]
    played = ui.get(f"/testimony/{testimony}/file/1/audio")
    assert played.status_code == 200 and played.content == ogg
    assert played.headers["content-type"] == "audio/ogg"
    assert played.headers["content-security-policy"] == SANDBOX
    assert played.headers["content-disposition"] == 'inline; filename="audio-1.ogg"'
    assert played.headers["x-content-type-options"] == "nosniff"
    assert ui.get(f"/testimony/{testimony}/file/2/audio").headers["content-type"] == "audio/wav"
    refused = ui.get(f"/testimony/{testimony}/file/3/audio")
    assert refused.status_code == 400 and b"alert('not audio')" not in refused.content


def test_audio_signatures() -> None:
    assert audio_type(b"OggS\x00\x02") == ("audio/ogg", "ogg")
    assert audio_type(b"ID3\x04\x00") == ("audio/mpeg", "mp3")
    assert audio_type(b"\xff\xfb\x90\x64") == ("audio/mpeg", "mp3")
    assert audio_type(b"\xff\xf1\x50\x80") == ("audio/aac", "aac")
    assert audio_type(b"RIFF\x00\x00\x00\x00WAVEfmt ") == ("audio/wav", "wav")
    assert audio_type(b"\x00\x00\x00\x20ftypM4A \x00\x00") == ("audio/mp4", "m4a")
    assert audio_type(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm") == (
        "audio/webm",
        "webm",
    )
    for other in (
        b"\xff\xd8\xff\xe0 JPEG",
        b"%PDF-1.7",
        b"RIFF\x00\x00\x00\x00WEBPVP8 ",
        b"\x00\x00\x00\x20ftypisom",
        b"MZ\x90\x00",
        b"",
    ):
        assert audio_type(other) is None


def test_export_names_cannot_hide_their_extension() -> None:
    assert export_name(HOSTILE_NAME) == "invoicegpj.exe"
    assert export_name("../../etc/passwd") == "etcpasswd"
    assert export_name("a\\b:c*?.txt") == "abc.txt"
    assert export_name("\u202e\u2066\u200b") == "attachment"
    assert export_name(". hidden .") == "hidden"
    long = export_name("x" * 400 + ".pdf")
    assert len(long) == 150 and long.endswith(".pdf")


# --- hostile text --------------------------------------------------------------------------------


def test_the_hostile_testimony_is_inert(ui: UI) -> None:
    hostile = ui.ids.hostile
    html = page(ui, hostile)
    assert "<script>alert" not in html and "<script" not in html.replace(
        '<script src="/static/ui.js" defer></script>', ""
    )
    assert 'href="javascript' not in html.lower()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html  # shown as text
    assert "\u202e" not in html
    assert '<span class="cc" title="RIGHT-TO-LEFT OVERRIDE">U+202E</span>' in html
    files = section(html, "files-title")
    assert 'invoice<span class="cc" title="RIGHT-TO-LEFT OVERRIDE">U+202E</span>gpj.exe' in files
    assert "<code>.exe</code>" in files  # what the name really ends in
    download = ui.get(f"/testimony/{hostile}/file/1/download")
    disposition = download.headers["content-disposition"]
    assert disposition == (
        f"attachment; filename=\"testimony-{hostile[:12]}-1.bin\"; filename*=UTF-8''invoicegpj.exe"
    )
    assert "\u202e" not in unquote(disposition) and "%E2%80%AE" not in disposition.upper()
    assert download.headers["content-type"] == "application/octet-stream"


def test_no_inline_handler_or_style_on_the_page(ui: UI) -> None:
    for testimony in (ui.ids.russian, ui.ids.hostile, ui.ids.english):
        html = page(ui, testimony)
        tags = re.findall(r"<[a-zA-Z][^>]*>", html)
        assert not [t for t in tags if re.search(r"\s(on[a-z]+|style)\s*=", t)]
        assert "<style" not in html
        scripts = re.findall(r"<script[^>]*>", html)
        assert all(re.fullmatch(r'<script src="/static/[a-z]+\.js" defer>', s) for s in scripts)


# --- custody -------------------------------------------------------------------------------------


def test_the_custody_history_lists_every_event_and_each_access(ui: UI) -> None:
    russian, kazakh, english = ui.ids.russian, ui.ids.kazakh, ui.ids.english
    ws = ui.workstation
    ws.log({"type": "access", "reviewer": OTHER.id, "subjects": sorted([russian, kazakh])})
    mine = ws.size - 1
    ws.log({"type": "access", "reviewer": ws.me.id, "subjects": [english]})
    elsewhere = ws.size - 1
    html = page(ui, russian)
    history = section(html, "history-title")
    # no checkpoint in the filled workstation: the page says so, with the cached log's size
    assert f"{ws.cache.log_size()} entries cached" in text_of(history)
    assert "No signed checkpoint has been verified yet" in text_of(history)
    rows = {
        int(index): text_of(body)
        for index, body in re.findall(r'<th scope="row">#(\d+)</th>(.*?)</tr>', history, re.S)
    }
    assert mine in rows and elsewhere not in rows
    assert "the server handed this reviewer the testimony's ciphertexts" in htmlib.unescape(
        rows[mine]
    )
    assert fingerprint(OTHER.id)[:9] in rows[mine] and "(with 1 other" in htmlib.unescape(
        rows[mine]
    )
    events = triage.events(ws.cache, russian)
    assert events and all(e.index in rows for e in events)
    links = [link.index for _, link in incident_records.linked_incidents(ws.cache, russian)]
    assert links and all(index in rows for index in links)
    assert list(rows) == sorted(rows)
    followup = next(e for e in events if e.kind == "followup")
    assert "witness" in rows[followup.index] and "follow-up" in rows[followup.index]
    note = next(e for e in events if e.kind == "note")
    assert fingerprint(OTHER.id)[:9] in rows[note.index]


def test_the_history_names_the_latest_checkpoint_verified(ui: UI) -> None:
    cache = ui.workstation.cache
    size = cache.log_size() - 2
    note = checkpoint.sign(
        "log.example",
        size,
        merkle.root(cache.entry_ids(size)),
        signing.private_key_from_seed(bytes(32)),
        "log.example",
        datetime(2020, 2, 9, tzinfo=UTC),
    )
    cache.add_checkpoint(size, note)
    history = text_of(section(page(ui, ui.ids.russian), "history-title"))
    assert "verified copy of the log" in history
    assert f"Entries cached: {cache.log_size()}" in history
    assert f"the latest checkpoint verified covers {size} entries" in history


def test_a_look_alike_file_name_is_flagged(ui: UI) -> None:
    from testimony.workstation import triage

    testimony = ui.workstation.submission(
        files=[(b"%PDF-1.7", "p\u0430ypal-invoice.pdf", "application/pdf")]
    )
    triage.refresh(ui.workstation.cache)
    page = ui.get(f"/testimony/{testimony}")
    assert page.status_code == 200
    assert 'class="bad mixed-scripts"' in page.text and "p\u0430ypal" in page.text
    plain = ui.get(f"/testimony/{ui.ids.russian}")
    assert "mixed-scripts" not in plain.text
