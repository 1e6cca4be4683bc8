"""The evidence bundle's human report (docs/protocol.md §11; workstation/report.py):
report.html inert and self-contained (no script, no URL outside the page, a strict
CSP, photos as data: URIs of the bag's own bytes), every hostile string escaped
and its bidi and control characters shown as marks, the statement in its own
language beside the translations, the custody table, the "How to verify" page
with the exact commands, the same in VERIFY.txt, and a PDF made without
fetching anything."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil
import socket
import struct
import subprocess
import zlib
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from testimony.workstation import report
from testimony.workstation.report import (
    COMMANDS,
    CSP,
    ReportAnswer,
    ReportEvent,
    ReportFile,
    ReportIncident,
    ReportModel,
    ReportTestimony,
    render_html,
    render_pdf,
    verify_text,
)

TID = "a1" * 16
FID = "b2" * 16
STATEMENT = "Солдаты пришли в Масанчи утром. <script>alert('x')</script> Дом сгорел."
TRANSLATION = "Soldiers came to Masanchi in the morning. The house burned down."
TRACKER = '<img src="http://127.0.0.1:9/track.png">'
RLO_NAME = "отчёт\u202egpj.pdf"
WITHHELD = "withheld (listed in bundle.json with a commitment)"


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` by ``height`` pixels and holds nothing more."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


PDF = b"%PDF-1.4\n% a witness's document\n"


def _file(
    number: int, name: str, media: str, data: bytes, image: bool, tid: str = TID
) -> ReportFile:
    clean = re.sub(r"[\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069/\\]", "_", name)
    return ReportFile(
        number=number,
        name=name,
        media_type=media,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        path=f"testimonies/{tid}/files/{number}-{clean}",
        image=image,
    )


@dataclass
class Bag:
    root: Path
    jpeg: bytes
    model: ReportModel
    extra: dict[str, Any] = field(default_factory=dict)

    def write(self, file: ReportFile, data: bytes) -> None:
        target = self.root / "data" / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _model(files: list[ReportFile], **changes: Any) -> ReportModel:
    followup = ReportTestimony(
        id=FID,
        index=31,
        received="2024-05-09T12:00:00Z",
        lang="ru",
        answers=[ReportAnswer("Что ещё вы видели?", "Машины уехали на север.")],
        translations={"en": "The vehicles left to the north."},
        files=[],
        followups=[],
    )
    testimony = ReportTestimony(
        id=TID,
        index=17,
        received="2024-05-04T09:00:00Z",
        lang="ru",
        answers=[
            ReportAnswer("Что произошло?", STATEMENT),
            ReportAnswer("Ваше имя", "", withheld=True),
        ],
        translations={"en": TRANSLATION + " " + TRACKER},
        files=files,
        followups=[followup],
        role="first-hand account",
    )
    incident = ReportIncident(
        id="c3" * 16,
        title="Burning of houses in Masanchi",
        status="confirmed",
        start="2024-05-02",
        end="2024-05-03",
        places=["Масанчи", "Sortobe"],
        corroboration=3,
        first_hand=2,
        relayed=1,
        description="Several houses burned. " + TRACKER,
    )
    events = [
        ReportEvent(
            18, "2024-05-05T10:00:00Z", "reviewer-aigul", "access: opened the testimony", True
        ),
        ReportEvent(
            19, "2024-05-06T10:00:00Z", "reviewer-bolat", "annotation: translation (en)", True
        ),
        ReportEvent(40, "2024-06-01T08:00:00Z", "reviewer-x\u202eevil", "export", False),
    ]
    model = ReportModel(
        bundle_id="d4" * 16,
        organisation="Human Rights Documentation Centre",
        profile="court",
        recipient="Office of the Prosecutor",
        exported_by="reviewer-aigul",
        exported_on="2024-06-01",
        checkpoint_size=41,
        log_key="testimony.example.org+1a2b3c4d+AbCdEf0123456789",
        incidents=[incident],
        testimonies=[testimony],
        events=events,
        redactions=1,
    )
    return replace(model, **changes)


@pytest.fixture
def bag(tmp_path: Path) -> Bag:
    jpeg = _jpeg()
    photo = _file(0, "фото.jpg", "image/jpeg", jpeg, True)
    document = _file(1, RLO_NAME, "application/pdf", PDF, False)
    withheld = ReportFile(2, "", "", 0, "", "", image=False, withheld=True)
    result = Bag(tmp_path / "bundle", jpeg, _model([photo, document, withheld]))
    result.write(photo, jpeg)
    result.write(document, PDF)
    return result


# --- A small HTML tree, to look at the page as a browser parses it -----------------------

VOID = {"meta", "img", "br", "col", "link", "hr", "input", "source", "wbr"}
BLOCKS = {"dt", "dd", "td", "th", "li", "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "br"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        """The text as read: block elements and cells apart from their neighbours."""
        parts = []
        for child in self.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag in BLOCKS:
                parts.append(f" {child.text()} ")
            else:
                parts.append(child.text())
        return "".join(parts)

    def all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if (tag is None or child.tag == tag) and all(
                    attrs[k] in child.attrs.get(k.rstrip("_"), "").split()
                    if k.startswith("class")
                    else child.attrs.get(k) == v
                    for k, v in attrs.items()
                ):
                    found.append(child)
                found.extend(child.all(tag, **attrs))
        return found

    def one(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.tags.append((tag, node.attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> _Tree:
    tree = _Tree()
    tree.feed(html)
    tree.close()
    assert tree.stack == [tree.root], "unclosed elements"
    return tree


def words(text: str) -> str:
    return " ".join(text.split())


# --- The page is inert and self-contained ------------------------------------------------


def test_the_page_has_no_script_and_no_url_outside_itself(bag: Bag) -> None:
    html = render_html(bag.model, bag.root)
    tree = parse(html)
    assert "<script" not in html.lower()
    assert all(tag != "script" for tag, _ in tree.tags)
    for tag, attrs in tree.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name == "src":
                assert value.startswith("data:image/"), (tag, value[:40])
            if name == "href":
                assert value.startswith("#"), (tag, value)
            assert "http://" not in value and "https://" not in value, (tag, name, value)
        assert tag not in ("link", "iframe", "object", "embed", "base", "form", "svg")
    style = tree.root.one("style").text()
    assert "url(" not in style and "@import" not in style
    assert "http" not in style
    assert not any("style" in attrs for _, attrs in tree.tags)


def test_the_csp_stands_at_the_top(bag: Bag) -> None:
    html = render_html(bag.model, bag.root)
    assert html.startswith("<!DOCTYPE html>")
    tree = parse(html)
    head = tree.root.one("head")
    metas = [c for c in head.children if isinstance(c, Node)]
    assert metas[0].tag == "meta" and metas[0].attrs == {"charset": "utf-8"}
    assert metas[1].attrs == {"http-equiv": "Content-Security-Policy", "content": CSP}
    assert CSP == "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def test_hostile_strings_are_escaped_and_their_bidi_characters_shown(bag: Bag) -> None:
    html = render_html(bag.model, bag.root)
    assert "\u202e" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    # The injected image is text, not a tag: no src points at it.
    assert "&lt;img src=&#34;http://127.0.0.1:9/track.png&#34;&gt;" in html
    tree = parse(html)
    assert [a["src"][:15] for t, a in tree.tags if t == "img"] == ["data:image/jpeg"]
    # The file name with its U+202E: shown as a mark, so "gpj.pdf" reads as it is.
    files = tree.root.one("table", class_="files")
    assert "отчёт⟦U+202E⟧gpj.pdf" in files.text()
    custody = tree.root.one("table", class_="custody")
    assert "reviewer-x⟦U+202E⟧evil" in custody.text()


def test_control_characters_anywhere_in_the_model_are_marked(bag: Bag) -> None:
    model = replace(
        bag.model,
        organisation="Centre\x1b[31m",
        recipient="Court\u2066x",
        log_key="key\u200b",
    )
    html = render_html(model, bag.root)
    text = verify_text(model)
    for out in (html, text):
        assert "\x1b" not in out and "\u2066" not in out and "\u200b" not in out
    assert "Centre⟦U+001B⟧[31m" in html and "Court⟦U+2066⟧x" in html
    assert "Centre⟦U+001B⟧[31m" in text and "key⟦U+200B⟧" in text


# --- What the report shows ---------------------------------------------------------------


def test_cover(bag: Bag) -> None:
    cover = parse(render_html(bag.model, bag.root)).root.one("header", id="cover")
    text = words(cover.text())
    for expected in (
        bag.model.bundle_id,
        "Organisation Human Rights Documentation Centre",
        "Export profile court",
        "Recipient Office of the Prosecutor",
        "Exported by reviewer-aigul",
        "Exported on 2024-06-01",
        "as it stood at 41 entries",
        "Log key testimony.example.org+1a2b3c4d+AbCdEf0123456789",
        "Withheld items 1, each listed in bundle.json with a commitment",
        "The report is in English.",
    ):
        assert expected in text, expected


def test_the_incident_with_its_time_range_places_and_corroboration(bag: Bag) -> None:
    tree = parse(render_html(bag.model, bag.root))
    incident = tree.root.one("article", class_="incident")
    text = words(incident.text())
    assert "Burning of houses in Masanchi" in text
    assert "Status confirmed" in text
    assert "Time from 2024-05-02 to 2024-05-03" in text
    assert [words(li.text()) for li in incident.all("li")] == ["Масанчи", "Sortobe"]
    assert "Corroboration 3 independent sources: 2 first-hand, 1 relayed" in text


@pytest.mark.parametrize(
    ("start", "end", "shown"),
    [
        ("2024-05", None, "from 2024-05"),
        (None, "2024-05-03", "until 2024-05-03"),
        ("2024-05-03", "2024-05-03", "Time 2024-05-03"),
        (None, None, "Time not given"),
    ],
)
def test_a_time_range_is_shown_as_given(
    bag: Bag, start: str | None, end: str | None, shown: str
) -> None:
    incident = replace(bag.model.incidents[0], start=start, end=end)
    html = render_html(replace(bag.model, incidents=[incident]), bag.root)
    assert shown in words(parse(html).root.one("article", class_="incident").text())


def test_the_statement_in_its_language_beside_the_translation(bag: Bag) -> None:
    tree = parse(render_html(bag.model, bag.root))
    article = tree.root.one("article", id=f"t-{TID}")
    table = article.all("table", class_="side-by-side")[0]  # (the follow-up has its own)
    (row,) = [r for r in table.all("tr") if r.all("td")][:1]
    original, translations = row.all("td")
    assert original.attrs["lang"] == "ru" and "original" in original.attrs["class"]
    assert STATEMENT in original.text()
    assert "Что произошло?" in original.text()
    assert "translations" in translations.attrs["class"]
    translation = translations.one("p")
    assert translation.attrs["lang"] == "en"
    assert TRANSLATION in translation.text()
    assert WITHHELD in original.text()
    head = words(table.one("thead").text())
    assert head == "Statement as written (ru) Reviewers' translations"


def test_an_invalid_language_tag_is_no_attribute(bag: Bag) -> None:
    testimony = replace(bag.model.testimonies[0], lang='ru" onload="x', translations={"e n": "x"})
    tree = parse(render_html(replace(bag.model, testimonies=[testimony]), bag.root))
    original = tree.root.all("td", class_="original")[0]
    assert "lang" not in original.attrs
    assert "lang" not in tree.root.all("td", class_="translations")[0].one("p").attrs
    assert not any(k.startswith("on") for _, a in tree.tags for k in a)


def test_the_photo_is_the_bags_own_bytes(bag: Bag) -> None:
    tree = parse(render_html(bag.model, bag.root))
    (img,) = tree.root.all("img")
    prefix = "data:image/jpeg;base64,"
    assert img.attrs["src"].startswith(prefix)
    assert base64.b64decode(img.attrs["src"][len(prefix) :]) == bag.jpeg
    assert (img.attrs["width"], img.attrs["height"]) == ("64", "48")
    figure = tree.root.one("figure")
    assert "File 0: фото.jpg" in figure.text()
    assert hashlib.sha256(bag.jpeg).hexdigest() in figure.text()


def test_other_files_are_listed_with_their_sha256(bag: Bag) -> None:
    files = parse(render_html(bag.model, bag.root)).root.one("table", class_="files")
    rows = [words(r.text()) for r in files.one("tbody").all("tr")]
    assert rows[1].startswith("1 отчёт⟦U+202E⟧gpj.pdf application/pdf")
    assert hashlib.sha256(PDF).hexdigest() in rows[1]
    assert f"data/testimonies/{TID}/files/1-отчёт_gpj.pdf" in rows[1]
    assert rows[2] == f"2 {WITHHELD}"


def _photo_model(bag: Bag, data: bytes, declared: bytes | None = None) -> ReportModel:
    photo = _file(0, "фото.jpg", "image/jpeg", declared if declared is not None else data, True)
    bag.write(photo, data)
    testimony = replace(bag.model.testimonies[0], files=[photo])
    return replace(bag.model, testimonies=[testimony])


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("pdf-named-jpeg", "its contents are not a JPEG, PNG, GIF or WebP image"),
        ("changed", "does not match the SHA-256"),
        ("bomb", "too large to embed"),
        ("broken", "the image cannot be read"),
        ("climbs", "the file is not in the bundle"),
        ("link", "the file is not in the bundle"),
        ("no-bag", "Not embedded in this copy of the report"),
    ],
)
def test_a_photo_not_shown_says_why(bag: Bag, case: str, reason: str, tmp_path: Path) -> None:
    root: Path | None = bag.root
    if case == "pdf-named-jpeg":
        model = _photo_model(bag, PDF)
    elif case == "changed":
        model = _photo_model(bag, bag.jpeg, declared=bag.jpeg + b"x")
    elif case == "bomb":
        model = _photo_model(bag, _png_header_only(100_000, 100_000))
    elif case == "broken":
        model = _photo_model(bag, b"\xff\xd8\xff" + b"\x00" * 64)
    elif case == "climbs":
        secret = tmp_path / "secret.jpg"
        secret.write_bytes(bag.jpeg)
        photo = replace(_file(0, "x.jpg", "image/jpeg", bag.jpeg, True), path="../../secret.jpg")
        model = replace(bag.model, testimonies=[replace(bag.model.testimonies[0], files=[photo])])
    elif case == "link":
        outside = tmp_path / "outside.jpg"
        outside.write_bytes(bag.jpeg)
        photo = _file(0, "x.jpg", "image/jpeg", bag.jpeg, True)
        target = bag.root / "data" / photo.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(outside)
        model = replace(bag.model, testimonies=[replace(bag.model.testimonies[0], files=[photo])])
    else:
        model, root = bag.model, None
    tree = parse(render_html(model, root))
    assert tree.root.all("img") == []
    assert reason in words(tree.root.one("figure").text())


def test_followups_are_shown_with_the_testimony(bag: Bag) -> None:
    tree = parse(render_html(bag.model, bag.root))
    testimony = tree.root.one("article", id=f"t-{TID}")
    followup = testimony.one("article", id=f"t-{FID}")
    assert "Follow-up 31 from the same witness" in followup.text()
    assert "Машины уехали на север." in followup.one("td", class_="original").text()
    assert "The vehicles left to the north." in followup.one("td", class_="translations").text()


def test_the_timeline_in_date_order(bag: Bag) -> None:
    timeline = parse(render_html(bag.model, bag.root)).root.one("table", class_="timeline")
    rows = [words(r.text()) for r in timeline.one("tbody").all("tr")]
    assert rows == [
        "from 2024-05-02 to 2024-05-03 Incident: Burning of houses in Masanchi",
        "2024-05-04T09:00:00Z Testimony 17 received",
        "2024-05-09T12:00:00Z Follow-up 31 received (to testimony 17)",
    ]
    links = [a.attrs["href"] for a in timeline.all("a")]
    assert links == [f"#incident-{'c3' * 16}", f"#t-{TID}", f"#t-{FID}"]


def test_the_custody_table(bag: Bag) -> None:
    custody = parse(render_html(bag.model, bag.root)).root.one("table", class_="custody")
    assert words(custody.one("thead").text()) == "Log index When Who What Verified"
    rows = [[words(td.text()) for td in r.all("td")] for r in custody.one("tbody").all("tr")]
    assert rows == [
        ["18", "2024-05-05T10:00:00Z", "reviewer-aigul", "access: opened the testimony", "yes"],
        ["19", "2024-05-06T10:00:00Z", "reviewer-bolat", "annotation: translation (en)", "yes"],
        ["40", "2024-06-01T08:00:00Z", "reviewer-x⟦U+202E⟧evil", "export", "no"],
    ]


EXACT = [
    "testimony verify bundle/",
    "testimony verify bundle.zip",
    "testimony verify bundle.zip.age --identity key.txt",
    "cd bundle && sha256sum -c manifest-sha256.txt",
    "sha256sum -c tagmanifest-sha256.txt",
    "bagit.py --validate bundle/",
    "age -d -i key.txt bundle.zip.age > bundle.zip",
]
NOT_PROVEN = [
    "They check no signature: not the witnesses', not the reviewers', not the log's.",
    "They do not check that the testimonies and custody events are recorded in the "
    "organisation's log",
    "Anyone who changes a file can also rewrite those lists",
    "Decrypting with age shows only that the file was encrypted to your key, not who encrypted it.",
]


def test_how_to_verify_gives_the_exact_commands(bag: Bag) -> None:
    section = parse(render_html(bag.model, bag.root)).root.one("section", id="verify")
    assert words(section.one("h2").text()) == "How to verify this bundle"
    commands = [line for pre in section.all("pre") for line in pre.text().splitlines()]
    assert set(EXACT) <= set(commands)
    assert set(commands) == set(COMMANDS.values())
    text = words(section.text())
    assert "self-certified" in text and "--log-key" in text
    assert bag.model.log_key in text
    for sentence in NOT_PROVEN:
        assert sentence in text, sentence


def test_verify_txt_says_the_same(bag: Bag) -> None:
    text = verify_text(bag.model)
    lines = [line.strip() for line in text.splitlines()]
    assert set(EXACT) <= set(lines)
    assert set(COMMANDS.values()) <= set(lines)
    flat = words(text)
    assert bag.model.bundle_id in flat and bag.model.log_key in flat
    assert "How to verify this bundle" in flat
    for sentence in NOT_PROVEN:
        assert sentence in flat, sentence
    assert all(c.isprintable() or c == "\n" for c in text)
    # Every heading, paragraph, item and command of the page's section, in the same order.
    section = parse(render_html(bag.model, bag.root)).root.one("section", id="verify")
    position = 0
    for node in section.all():
        if node.tag in ("h2", "h3", "p", "li", "pre"):
            found = flat.find(words(node.text()), position)
            assert found >= 0, node.text()
            position = found


def test_withheld_items_are_named_so(bag: Bag) -> None:
    html = parse(render_html(bag.model, bag.root)).root
    withheld = [words(n.text()) for n in html.all(class_="withheld")]
    assert withheld == [WITHHELD, WITHHELD]


# --- The PDF -----------------------------------------------------------------------------


def _pdftotext(path: Path) -> str:
    tool = shutil.which("pdftotext")
    assert tool, "pdftotext (Debian's poppler-utils) is installed by `make install`"
    out = subprocess.run([tool, "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return words(out.stdout.decode("utf-8"))


def test_the_pdf_holds_the_statement_and_how_to_verify(bag: Bag, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    render_pdf(bag.model, out, bag.root)
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    assert b"/Subtype /Image" in data or b"/Subtype/Image" in data
    text = _pdftotext(out)
    assert "Солдаты пришли в Масанчи утром." in text
    assert "Дом сгорел." in text
    assert "Soldiers came to Masanchi in the morning." in text
    assert "How to verify this bundle" in text
    assert "cd bundle && sha256sum -c manifest-sha256.txt" in text
    assert "отчёт⟦U+202E⟧" in text
    assert "⟦U+202E⟧evil" in text  # (a narrow column may break "reviewer-x" at its hyphen)


def test_the_pdf_fetches_nothing(bag: Bag, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[str] = []
    real = report._fetcher

    def counting() -> Any:
        fetcher = real()
        inner = fetcher.fetch

        def fetch(url: str, headers: Any = None) -> Any:
            fetched.append(url)
            return inner(url, headers)

        fetcher.fetch = fetch
        return fetcher

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the renderer opened a connection: {args}")

    monkeypatch.setattr(report, "_fetcher", counting)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    render_pdf(bag.model, tmp_path / "report.pdf", bag.root)
    assert fetched, "the photo is read through the fetcher"
    assert all(url.startswith("data:image/jpeg;base64,") for url in fetched)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/track.png", "https://example.org/", "file:///etc/passwd", "ftp://x/"],
)
def test_the_fetcher_refuses_everything_but_data(url: str) -> None:
    with pytest.raises(ValueError, match="fetches nothing"):
        report._fetcher().fetch(url)


def test_the_fetcher_serves_data_uris() -> None:
    response = report._fetcher().fetch("data:text/plain;base64,aGk=")
    assert response.read() == b"hi"
