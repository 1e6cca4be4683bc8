"""The evidence bundle's human report (docs/protocol.md §11): ``data/report.html``,
the same as ``report.pdf``, and the bag's ``VERIFY.txt``.

The reader is a lawyer, not an engineer, so the report says in plain words
what the bundle holds — the incidents (time range as given, places, how many
independent sources corroborate them), each testimony's statement in the
language the witness wrote it beside the reviewers' translations, the
photos, the other files with their SHA-256, a timeline, the custody table —
and how to check it: with ``testimony verify``, and with standard tools
alone (``sha256sum -c``, ``bagit.py --validate``, ``age``), saying as plainly
what those tools do not prove.

The renderer works from a plain data model (:class:`ReportModel`), which
the export fills; it reads nothing else but, when given the bag's folder,
the photos it embeds.

The page is **inert and self-contained**: its CSS is inlined; it has no
script and no URL pointing outside it (the only ``src`` is a ``data:`` URI,
the only ``href`` an anchor within the page); a strict Content-Security-Policy
(``default-src 'none'; img-src data:; style-src 'unsafe-inline'``) stands at
its top, so a browser that opens it fetches nothing. Every string of the
model — what a witness or a reviewer wrote, and everything else the bag says
— is shown through ``workstation/text.py``'s :func:`~testimony.workstation.text.marked`
(each bidi override, control or invisible character as a visible
``⟦U+202E⟧``), then HTML-escaped: the template environment does both to
every value it prints (its ``finalize``), so no value can be forgotten.

A photo is embedded as the bag holds it (the bytes the witness sealed, never
re-encoded: the report shows the evidence), and only if its bytes are a JPEG,
PNG, GIF or WebP image by their own signature (never by name or declared
type), hash to the SHA-256 the manifest gives, and declare no more pixels
than the workstation decodes (``attachments.MAX_PIXELS``); anything else is
listed with a sentence saying why it is not shown. A report embeds at most
:data:`EMBED_BUDGET` bytes of photos, in report order; the others are shown by
their caption and their path in the bundle.

The PDF is WeasyPrint's rendering of the same HTML, with a URL fetcher that
refuses every URL but a ``data:`` one: the renderer fetches nothing.

All the words are in :data:`STRINGS`, in English only for now (the
statements stay in the language the witness wrote them); a language is
added there, key by key, and named by ``ReportModel.lang``.
"""

from __future__ import annotations

import io
import os
import re
import textwrap
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from testimony.crypto.encoding import b64_encode, sha256

from .attachments import MAX_PIXELS, MAX_SIDE, sniff
from .text import marked

__all__ = [
    "COMMANDS",
    "CSP",
    "EMBED_BUDGET",
    "MAX_EMBED",
    "STRINGS",
    "ReportAnswer",
    "ReportEvent",
    "ReportFile",
    "ReportIncident",
    "ReportModel",
    "ReportTestimony",
    "render_html",
    "render_pdf",
    "verify_text",
]

MAX_EMBED = 32 << 20
"""Bytes of a photo to embed at most (a larger one is listed, not shown)."""

EMBED_BUDGET = 64 << 20
"""Bytes of photos one report embeds in all (about 85 MiB as ``data:`` URIs): in
report order, each photo that fits in what is left is embedded, and every other
is shown by its caption and its path in the bundle. A bundle of a gigabyte of
photos would otherwise make a page no browser opens, and cost more to write
than the rest of the export."""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


# --- The data model -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFile:
    """One file of a testimony, numbered from 0 as in ``M.attachments``."""

    number: int
    name: str
    media_type: str
    size: int
    sha256: str
    """Lowercase hex, as the witness's manifest gives it."""
    path: str
    """The file's path inside the bag, relative to ``data/``
    (``testimonies/<id>/files/0-photo.jpg``)."""
    image: bool
    """Whether it is to be shown as a photo (its declared type is an image);
    the bytes decide whether it is."""
    withheld: bool = False


@dataclass(frozen=True)
class ReportAnswer:
    """One answer of a statement: the form's label and what the witness wrote."""

    label: str
    text: str
    withheld: bool = False


@dataclass(frozen=True)
class ReportTestimony:
    id: str
    index: int
    """The entry's index in the log."""
    received: str
    """When the log received it, as the log gives it (coarse: §9)."""
    lang: str
    """The language the witness wrote in (BCP 47)."""
    answers: list[ReportAnswer]
    translations: dict[str, str]
    """The reviewers' translations: language -> text."""
    files: list[ReportFile]
    followups: list[ReportTestimony]
    role: str | None = None
    """Its role in the incident (a witness's account, a relayed one...)."""


@dataclass(frozen=True)
class ReportEvent:
    """One custody event: an entry of ``custody/events.jsonl`` (or the export)."""

    index: int
    when: str
    who: str
    what: str
    verified: bool
    """Whether its signature and its inclusion proof checked out."""


@dataclass(frozen=True)
class ReportIncident:
    id: str
    title: str
    status: str
    start: str | None
    end: str | None
    places: list[str]
    corroboration: int
    """Independent sources."""
    first_hand: int
    relayed: int
    description: str


@dataclass(frozen=True)
class ReportModel:
    bundle_id: str
    organisation: str
    profile: str
    recipient: str
    exported_by: str
    exported_on: str
    """A day (``YYYY-MM-DD``), as ``Bagging-Date``."""
    checkpoint_size: int
    log_key: str
    incidents: list[ReportIncident]
    testimonies: list[ReportTestimony]
    events: list[ReportEvent]
    redactions: int
    lang: str = "en"


# --- The words ----------------------------------------------------------------------------

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Evidence bundle {bundle_id}",
        "cover.heading": "Evidence bundle",
        "cover.intro": (
            "This report is a readable copy of what the evidence bundle holds. The evidence "
            "itself is the data under data/ in the bundle, which can be checked as the last "
            "section, “How to verify this bundle”, explains."
        ),
        "cover.language": (
            "The report is in English. Each statement is shown in the language the witness "
            "wrote it in, beside the translations the reviewers made."
        ),
        "cover.marks": (
            "Characters that would be invisible or would change how text is displayed (for "
            "example a right-to-left override, U+202E) are shown as a visible mark such as "
            "⟦U+202E⟧, never silently."
        ),
        "cover.bundle": "Bundle",
        "cover.organisation": "Organisation",
        "cover.profile": "Export profile",
        "cover.recipient": "Recipient",
        "cover.exported-by": "Exported by",
        "cover.exported-on": "Exported on",
        "cover.checkpoint": "Log checkpoint",
        "cover.checkpoint-value": (
            "the organisation's log as it stood at {size} entries, signed (its checkpoint)"
        ),
        "cover.log-key": "Log key",
        "cover.withheld": "Withheld items",
        "cover.withheld-none": "none",
        "cover.withheld-some": (
            "{count}, each listed in bundle.json with a commitment (a hash that lets the "
            "organisation later prove what was withheld, without letting anyone guess it)"
        ),
        "cover.contents": "Contents",
        "incidents.heading": "Incidents",
        "incidents.none": "This bundle includes no incident.",
        "incident.status": "Status",
        "incident.time": "Time",
        "incident.time-not-given": "not given",
        "incident.time-range": "from {start} to {end}",
        "incident.time-from": "from {start}",
        "incident.time-until": "until {end}",
        "incident.places": "Places",
        "incident.places-none": "not given",
        "incident.corroboration": "Corroboration",
        "incident.corroboration-value": (
            "{count} independent sources: {first_hand} first-hand, {relayed} relayed"
        ),
        "incident.description": "Description",
        "incident.id": "Record",
        "testimonies.heading": "Testimonies",
        "testimonies.none": "This bundle includes no testimony.",
        "testimony.heading": "Testimony {index}",
        "followup.heading": "Follow-up {index} from the same witness",
        "testimony.id": "Entry id",
        "testimony.index": "Log index",
        "testimony.received": "Received",
        "testimony.lang": "Written in",
        "testimony.lang-unknown": "not given",
        "testimony.role": "Role in the incident",
        "testimony.original": "Statement as written ({lang})",
        "testimony.original-unknown": "Statement as written",
        "testimony.translations": "Reviewers' translations",
        "testimony.translation": "Translation into {lang}",
        "testimony.translations-none": "The reviewers made no translation.",
        "testimony.answers-none": "The statement has no answers.",
        "testimony.photos": "Photos",
        "testimony.files": "Files",
        "testimony.files-none": "No file.",
        "testimony.followups": "Follow-ups",
        "file.number": "No.",
        "file.name": "Name",
        "file.type": "Declared type",
        "file.size": "Size (bytes)",
        "file.sha256": "SHA-256",
        "file.path": "In the bundle",
        "file.caption": "File {number}: {name}",
        "withheld": "withheld (listed in bundle.json with a commitment)",
        "photo.not-embedded": "Not embedded in this copy of the report: see data/{path}.",
        "photo.missing": "Not shown: the file is not in the bundle.",
        "photo.not-image": (
            "Not shown: its contents are not a JPEG, PNG, GIF or WebP image, whatever its "
            "name or declared type says. It is in the bundle as data/{path}."
        ),
        "photo.mismatch": (
            "Not shown: the file in the bundle does not match the SHA-256 the witness's "
            "manifest gives for it."
        ),
        "photo.unreadable": (
            "Not shown: the image cannot be read. It is in the bundle as data/{path}."
        ),
        "photo.too-large": (
            "Not shown: the image is too large to embed. It is in the bundle as data/{path}."
        ),
        "photo.over-budget": (
            "Not shown here, to keep this report small enough to open: the report embeds "
            "the first photos only. It is in the bundle as data/{path}."
        ),
        "timeline.heading": "Timeline",
        "timeline.intro": (
            "The incidents at the time they are said to have happened, and the testimonies "
            "at the time the log received them (dates as given)."
        ),
        "timeline.when": "When",
        "timeline.what": "What",
        "timeline.incident": "Incident: {title}",
        "timeline.testimony": "Testimony {index} received",
        "timeline.followup": "Follow-up {index} received (to testimony {parent})",
        "timeline.undated": "date not given",
        "timeline.none": "Nothing to show.",
        "custody.heading": "Custody",
        "custody.intro": (
            "Every recorded event concerning the testimonies of this bundle: who accessed, "
            "annotated, replied to or exported them, and when. “Verified” says whether the "
            "event's signature and its proof of inclusion in the organisation's log were "
            "checked and found correct."
        ),
        "custody.index": "Log index",
        "custody.when": "When",
        "custody.who": "Who",
        "custody.what": "What",
        "custody.verified": "Verified",
        "custody.none": "No custody event.",
        "yes": "yes",
        "no": "no",
        # How to verify: the same words in report.html, report.pdf and VERIFY.txt.
        "verify.heading": "How to verify this bundle",
        "verify.intro": (
            "The bundle is a folder (or a ZIP file of that folder, possibly encrypted with "
            "age) in the BagIt format (RFC 8493). It can be checked without trusting the "
            "organisation that made it, and without trusting this report. Below, the "
            "bundle's folder is called `bundle`, its ZIP file `bundle.zip` and the encrypted "
            "file `bundle.zip.age`: use the real names."
        ),
        "verify.tool.heading": "1. With the testimony program (checks everything)",
        "verify.tool.run": "Run one of these, depending on what you received:",
        "verify.tool.identity": (
            "`key.txt` is the recipient's age private key; it is needed only for an "
            "encrypted bundle."
        ),
        "verify.tool.checks": (
            "It checks that no file of the bundle has changed since it was made; that "
            "every testimony, follow-up and custody event is recorded in the organisation's "
            "append-only log (each carries a proof that it is included in the log's signed "
            "checkpoint of {checkpoint} entries); that the checkpoint is signed by the log "
            "key; that each statement and file decrypts from the exact sealed data the log "
            "recorded; the witnesses' signatures on follow-ups; that every reviewer who "
            "acted had the standing to do so; every custody signature; and that the export "
            "itself is recorded in the log."
        ),
        "verify.tool.verdict": "If every check passes, it says so and says what its verdict rests on:",
        "verify.tool.self": (
            "“self-certified”: the log key was taken from the bundle itself. The bundle is "
            "then complete and consistent with itself, but this does not show that it comes "
            "from the organisation's real log: someone who forged a whole bundle could have "
            "made a log key of their own."
        ),
        "verify.tool.pinned": (
            "“pinned”: the log key was given on the command line (`--log-key`), or the "
            "checkpoint is cosigned by witnesses whose keys you gave. The verdict then does "
            "not rest on the bundle alone."
        ),
        "verify.tool.pin": (
            "To rule out a forged bundle, obtain the organisation's log key from a source "
            "you trust independently of the bundle (for example as the organisation "
            "publishes it), check that it is the same as the key below, and run this, with "
            "that key in place of KEY:"
        ),
        "verify.tool.key": "The log key this bundle names: `{log_key}`",
        "verify.tool.fail": (
            "If any check fails, the program names it, ends with an error, and the bundle "
            "should not be relied on."
        ),
        "verify.tool.withheld": (
            "Where part of a statement is withheld, the rest of it cannot be decrypted from "
            "the sealed original without revealing the withheld part; it is vouched for by "
            "the signature of the reviewers who made the export instead, and the program "
            "says so."
        ),
        "verify.std.heading": "2. With standard tools alone",
        "verify.std.age": (
            "If you received `bundle.zip.age`, it is encrypted to you: decrypt it with age "
            "and your private key `key.txt`:"
        ),
        "verify.std.unzip": "Unzip `bundle.zip` into a folder `bundle`:",
        "verify.std.unzip-folder": (
            "If this makes a single folder inside `bundle`, that folder is the bundle: use "
            "its path in place of `bundle` below."
        ),
        "verify.std.sha": (
            "From inside the bundle's folder, check every file against the bundle's lists of "
            "hashes (`manifest-sha256.txt` lists each file of data/ as its SHA-256 hash and "
            "its path, data/…; `tagmanifest-sha256.txt` lists the other files):"
        ),
        "verify.std.sha-ok": "Every line must end in “OK”.",
        "verify.std.percent": (
            "A file whose name contains a percent sign (%) is listed with it encoded as "
            "“%25”, as BagIt requires; sha256sum then reports that it cannot find the file. "
            "bagit.py and testimony verify read such names correctly."
        ),
        "verify.std.bagit": (
            "From the folder that contains the bundle, check the whole bag with the "
            "Library of Congress's BagIt tool (bagit-python: `pip install bagit`); it must "
            "say that the bag is valid:"
        ),
        "verify.not.heading": "3. What the standard tools do not prove",
        "verify.not.lists": (
            "sha256sum and bagit.py show only that the files agree with the bundle's own "
            "lists of hashes. Anyone who changes a file can also rewrite those lists, so "
            "they do not show who made the bundle or that it was not altered."
        ),
        "verify.not.signatures": (
            "They check no signature: not the witnesses', not the reviewers', not the log's."
        ),
        "verify.not.log": (
            "They do not check that the testimonies and custody events are recorded in the "
            "organisation's log, nor when (the proofs of inclusion and the checkpoint)."
        ),
        "verify.not.sealed": (
            "They do not check that the decrypted statements and files are what the "
            "witnesses sealed."
        ),
        "verify.not.age": (
            "Decrypting with age shows only that the file was encrypted to your key, not "
            "who encrypted it."
        ),
        "verify.not.only": "Only testimony verify checks these.",
        "verify.report": (
            "This report and VERIFY.txt are made from the bundle's data when it is exported. "
            "The checks above cover the data; they do not check what this report says. Where "
            "the report and the data under data/ differ, the data is the evidence."
        ),
        "verify-text.heading": "Evidence bundle {bundle_id}",
        "verify-text.facts": (
            "Organisation: {organisation}\n"
            "Exported on: {exported_on}\n"
            "Log checkpoint: {checkpoint} entries\n"
            "Log key: {log_key}"
        ),
    }
}


def _strings(lang: str) -> Callable[..., str]:
    english = STRINGS["en"]
    chosen = STRINGS.get(lang, english)

    def t(key: str, **values: Any) -> str:
        text = chosen.get(key, english[key])
        return text.format(**values) if values else text

    return t


# --- How to verify: one structure, written as HTML and as plain text ----------------------


@dataclass(frozen=True)
class _Block:
    kind: str
    """``p`` (a paragraph), ``cmd`` (commands, one a line) or ``list`` (items)."""
    lines: tuple[str, ...]


@dataclass(frozen=True)
class _Part:
    title: str
    blocks: tuple[_Block, ...]


def _p(text: str) -> _Block:
    return _Block("p", (text,))


def _cmd(*lines: str) -> _Block:
    return _Block("cmd", lines)


def _list(*items: str) -> _Block:
    return _Block("list", items)


COMMANDS = {
    "verify-folder": "testimony verify bundle/",
    "verify-zip": "testimony verify bundle.zip",
    "verify-age": "testimony verify bundle.zip.age --identity key.txt",
    "verify-pinned": 'testimony verify --log-key "KEY" bundle/',
    "age": "age -d -i key.txt bundle.zip.age > bundle.zip",
    "unzip": "unzip bundle.zip -d bundle",
    "manifest": "cd bundle && sha256sum -c manifest-sha256.txt",
    "tagmanifest": "sha256sum -c tagmanifest-sha256.txt",
    "bagit": "bagit.py --validate bundle/",
}
"""The commands the guide gives, exactly (the tests read them here)."""


def _guide(model: ReportModel) -> tuple[str, str, list[_Part]]:
    """The "How to verify" section: its title, introduction and parts. The strings it
    returns are plain text, the model's values in them not yet marked."""
    t = _strings(model.lang)
    c = COMMANDS
    values = {"checkpoint": model.checkpoint_size, "log_key": model.log_key}
    tool = _Part(
        t("verify.tool.heading"),
        (
            _p(t("verify.tool.run")),
            _cmd(c["verify-folder"], c["verify-zip"], c["verify-age"]),
            _p(t("verify.tool.identity")),
            _p(t("verify.tool.checks", **values)),
            _p(t("verify.tool.verdict")),
            _list(t("verify.tool.self"), t("verify.tool.pinned")),
            _p(t("verify.tool.pin")),
            _cmd(c["verify-pinned"]),
            _p(t("verify.tool.key", **values)),
            _p(t("verify.tool.fail")),
            _p(t("verify.tool.withheld")),
        ),
    )
    standard = _Part(
        t("verify.std.heading"),
        (
            _p(t("verify.std.age")),
            _cmd(c["age"]),
            _p(t("verify.std.unzip")),
            _cmd(c["unzip"]),
            _p(t("verify.std.unzip-folder")),
            _p(t("verify.std.sha")),
            _cmd(c["manifest"], c["tagmanifest"]),
            _p(t("verify.std.sha-ok")),
            _p(t("verify.std.percent")),
            _p(t("verify.std.bagit")),
            _cmd(c["bagit"]),
        ),
    )
    unproven = _Part(
        t("verify.not.heading"),
        (
            _list(
                t("verify.not.lists"),
                t("verify.not.signatures"),
                t("verify.not.log"),
                t("verify.not.sealed"),
                t("verify.not.age"),
            ),
            _p(t("verify.not.only")),
            _p(t("verify.report")),
        ),
    )
    return t("verify.heading"), t("verify.intro"), [tool, standard, unproven]


def _inline(text: str) -> Markup:
    """Plain text as HTML: marked, escaped, and each `...` span as ``<code>``."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code spans
        parts = [text]
    out = []
    for i, part in enumerate(parts):
        safe = escape(marked(part))
        out.append(f"<code>{safe}</code>" if i % 2 else str(safe))
    return Markup("".join(out))  # noqa: S704 - every part is escaped above


def _plain(text: str) -> str:
    return marked(text.replace("`", ""))


def verify_text(model: ReportModel) -> str:
    """``VERIFY.txt``: the "How to verify this bundle" instructions in plain text,
    every value of the model with its invisible characters as visible marks."""
    t = _strings(model.lang)
    title, intro, parts = _guide(model)
    width = 76
    head = t("verify-text.heading", bundle_id=model.bundle_id)
    lines = [marked(head), "=" * min(len(head), width), ""]
    lines += _plain(
        t(
            "verify-text.facts",
            organisation=model.organisation,
            exported_on=model.exported_on,
            checkpoint=model.checkpoint_size,
            log_key=model.log_key,
        )
    ).splitlines()
    lines += ["", "", title, "-" * len(title), ""]
    lines += [*textwrap.wrap(_plain(intro), width), ""]
    for part in parts:
        lines += ["", part.title, ""]
        for block in part.blocks:
            if block.kind == "cmd":
                lines += [f"    {marked(line)}" for line in block.lines]
            elif block.kind == "list":
                for item in block.lines:
                    lines += textwrap.wrap(
                        _plain(item), width, initial_indent="  - ", subsequent_indent="    "
                    )
            else:
                lines += textwrap.wrap(_plain(block.lines[0]), width)
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# --- Photos -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Picture:
    file: ReportFile
    uri: Markup | None
    """A ``data:`` URI of the bag's bytes, or None when not shown. Markup, so that
    the template prints it as it is: a fixed media type and the base64 alphabet
    hold nothing to escape or to mark, and marking a photo's worth of base64
    character by character would cost seconds per megabyte."""
    reason: str | None
    """The key of the sentence that says why it is not shown."""
    width: int = 0
    height: int = 0


@dataclass
class _Budget:
    """What is left of :data:`EMBED_BUDGET` for the report being rendered."""

    left: int


_MEDIA = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}


def _bag_file(bag_root: Path, path: str, budget: _Budget) -> bytes | str:
    """The bytes of ``data/<path>`` if it is a regular file inside the bag's data/,
    reached through no link, at most :data:`MAX_EMBED` bytes and no more than
    what is left of the budget; else the key of the sentence that says why not."""
    data = bag_root / "data"
    relative = Path(path)
    parts = relative.parts
    if not parts or relative.is_absolute() or any(p in ("..", ".") for p in parts):
        return "photo.missing"
    try:
        here = data
        for part in parts:
            here = here / part
            if here.is_symlink():
                return "photo.missing"
        inside = os.path.realpath(data) + os.sep
        if not os.path.realpath(here).startswith(inside) or not here.is_file():
            return "photo.missing"
        size = here.stat().st_size
        if size > MAX_EMBED:
            return "photo.too-large"
        if size > budget.left:
            return "photo.over-budget"
        return here.read_bytes()
    except (OSError, ValueError):
        return "photo.missing"


def _dimensions(data: bytes, kind: str) -> tuple[int, int] | str:
    """The image's declared size, read from its header without decoding a pixel;
    else the key of the sentence that says why it is not shown: its header does
    not parse, or it declares more pixels than the workstation decodes."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                width, height = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "photo.too-large"
    except (OSError, ValueError, SyntaxError, EOFError, UnidentifiedImageError):
        return "photo.unreadable"
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        return "photo.too-large"
    return width, height


def _picture(file: ReportFile, bag_root: Path | None, budget: _Budget) -> _Picture:
    if file.withheld:
        return _Picture(file, None, "withheld")
    if bag_root is None:
        return _Picture(file, None, "photo.not-embedded")
    data = _bag_file(bag_root, file.path, budget)
    if isinstance(data, str):
        return _Picture(file, None, data)
    kind = sniff(data)
    if kind is None:
        return _Picture(file, None, "photo.not-image")
    if sha256(data).hex() != file.sha256.lower():
        return _Picture(file, None, "photo.mismatch")
    size = _dimensions(data, kind)
    if isinstance(size, str):
        return _Picture(file, None, size)
    budget.left -= len(data)
    # A fixed media type and base64: nothing in it to escape or to mark.
    uri = Markup(f"data:{_MEDIA[kind]};base64,{b64_encode(data)}")  # noqa: S704
    return _Picture(file, uri, None, *size)


def _pictures(
    testimonies: list[ReportTestimony], bag_root: Path | None, budget: _Budget | None = None
) -> dict[str, list[_Picture]]:
    """Each testimony's photos in report order (its own, then its follow-ups'),
    embedded while :data:`EMBED_BUDGET` lasts."""
    if budget is None:
        budget = _Budget(EMBED_BUDGET)
    found: dict[str, list[_Picture]] = {}
    for testimony in testimonies:
        found[testimony.id] = [_picture(f, bag_root, budget) for f in testimony.files if f.image]
        found.update(_pictures(testimony.followups, bag_root, budget))
    return found


# --- The timeline -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Moment:
    when: str | None
    """As shown (an incident's range, a testimony's time of receipt)."""
    what: str
    anchor: str
    key: str
    """What it sorts by: the earliest date given, "" if none."""


def _anchor(prefix: str, identifier: str) -> str:
    """A fragment id for an entry: its id with anything but ``[A-Za-z0-9_-]`` as ``_``."""
    return prefix + re.sub(r"[^A-Za-z0-9_-]", "_", identifier)


def _timeline(model: ReportModel) -> list[_Moment]:
    t = _strings(model.lang)
    moments: list[_Moment] = []
    for incident in model.incidents:
        moments.append(
            _Moment(
                _time_range(t, incident) if (incident.start or incident.end) else None,
                t("timeline.incident", title=incident.title),
                _anchor("incident-", incident.id),
                incident.start or incident.end or "",
            )
        )

    def add(testimonies: list[ReportTestimony], parent: ReportTestimony | None) -> None:
        for testimony in testimonies:
            what = (
                t("timeline.testimony", index=testimony.index)
                if parent is None
                else t("timeline.followup", index=testimony.index, parent=parent.index)
            )
            received = testimony.received or None
            moments.append(_Moment(received, what, _anchor("t-", testimony.id), testimony.received))
            add(testimony.followups, testimony)

    add(model.testimonies, None)
    # ISO dates sort as strings; a partial date ("2024-05") before the days of its month.
    return sorted(moments, key=lambda m: (not m.key, m.key))


def _time_range(t: Callable[..., str], incident: ReportIncident) -> str:
    start, end = incident.start, incident.end
    if start and end:
        return start if start == end else t("incident.time-range", start=start, end=end)
    if start:
        return t("incident.time-from", start=start)
    if end:
        return t("incident.time-until", end=end)
    return t("incident.time-not-given")


# --- The page -----------------------------------------------------------------------------

_LANG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")


def _lang(value: str) -> str | None:
    """A language tag fit for a ``lang`` attribute, or None."""
    return value if value and len(value) <= 35 and _LANG.fullmatch(value) else None


def _finalize(value: Any) -> Any:
    """What every ``{{ }}`` of the template prints: a string with its invisible
    characters marked (autoescape then escapes it); markup and numbers as they are."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return marked(value)


@cache
def _environment() -> Environment:
    folder = resources.files(__package__).joinpath("report_templates")
    env = Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=True,
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["inline"] = _inline
    env.filters["lang_tag"] = _lang
    env.globals["anchor"] = _anchor
    return env


@cache
def _css() -> Markup:
    css = (
        resources.files(__package__)
        .joinpath("report_templates", "report.css")
        .read_text(encoding="utf-8")
    )
    if "</" in css or "url(" in css or "@import" in css:  # pragma: no cover - our own file
        raise ValueError("report.css must stay inert: no </, url( or @import")
    return Markup(css)  # noqa: S704 - the package's own stylesheet


def render_html(model: ReportModel, bag_root: Path | None = None) -> str:
    """``report.html``: self-contained (CSS inlined, photos as ``data:`` URIs read
    from ``bag_root/data/<path>`` when ``bag_root`` is given), with no script and
    no URL outside the page, under a strict Content-Security-Policy."""
    t = _strings(model.lang)
    title, intro, parts = _guide(model)
    context: Mapping[str, Any] = {
        "m": model,
        "t": t,
        "csp": CSP,
        "css": _css(),
        "lang": _lang(model.lang) or "en",
        "pictures": _pictures(model.testimonies, bag_root),
        "timeline": _timeline(model),
        "time_range": lambda incident: _time_range(t, incident),
        "guide": {"title": title, "intro": intro, "parts": parts},
    }
    return _environment().get_template("report.html").render(context).lstrip()


def render_pdf(model: ReportModel, out: Path, bag_root: Path | None = None) -> None:
    """``report.pdf``: WeasyPrint's rendering of :func:`render_html`'s page. Its URL
    fetcher refuses every URL but a ``data:`` one: nothing is fetched."""
    from weasyprint import HTML

    html = render_html(model, bag_root)
    HTML(string=html, base_url=None, url_fetcher=_fetcher()).write_pdf(out)


def _fetcher() -> Any:
    """A WeasyPrint URL fetcher that serves ``data:`` URIs and refuses the rest."""
    from weasyprint.urls import URLFetcher

    class DataOnly(URLFetcher):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(allowed_protocols=("data",), allow_redirects=False)

        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.startswith("data:"):
                raise ValueError("the report fetches nothing")
            return super().fetch(url, headers)

    return DataOnly()
