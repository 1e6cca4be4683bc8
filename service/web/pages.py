"""The witness pages (issue 5, "Witness pages"; docs/protocol.md §3, §5 to §8, §10 happen
in the page's script, ``js/src/witness-page.js``).

| request | page |
| --- | --- |
| ``GET /`` | the language choice |
| ``GET /{lang}/`` | what happens to a testimony, the forms to fill |
| ``GET /{lang}/forms/{id}`` | a form (latest version) rendered in ``lang`` |
| ``GET /{lang}/key`` | the intake key's fingerprint and how to check it |
| ``GET /{lang}/return`` | back with a receipt code: reviewers' questions, follow-ups (§7) |
| ``GET /{lang}/offline`` | sealing without JavaScript or network (``testimony seal``) |
| ``GET /{lang}/offline/{id}.html`` | the offline sealing page of a form, as a download |
| ``GET /static/{name}`` | the built scripts and the style sheet |

Pages are rendered on the server from the form definition; the only script
is served from ``/static/`` with subresource integrity (``integrity.json``),
under :data:`PAGE_CSP` (no inline script or style, nothing from elsewhere).
An unknown language is answered like any unknown path (a 404 problem
document); an unknown form, or a form not in that language, with a 404 page.
The language is only ever in the URL: no cookie, no ``Accept-Language``, no
storage. A form page never sends answers in the clear: its form has no
action, its send button is disabled until the script has loaded, and the
script seals before anything leaves the device.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from testimony.crypto import hpke
from testimony.crypto.encoding import b64u_encode
from testimony.forms.consent import consent_wording
from testimony.service.domain.errors import FormNotFound

from .i18n import UiStrings, ui_strings
from .render import field_view, forms_data, key_groups, script_json, templates

__all__ = ["LEAVE_URL", "PAGE_CSP", "router"]

PAGE_CSP = (
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
    "style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""The pages' Content-Security-Policy: hash-wasm needs ``'wasm-unsafe-eval'``;
a Worker takes its CSP from its own response, so ``/static/`` has it too."""

LEAVE_URL = "https://www.wikipedia.org/"
"""Where "leave quickly" goes: an ordinary, widely used site."""

HTML = "text/html; charset=utf-8"
_HERE = Path(__file__).resolve().parent
_STATIC = _HERE / "static"
_STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*\.(js|css|json)$")
_MEDIA_TYPES = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "json": "application/json",
}

router = APIRouter(include_in_schema=False)


@cache
def _integrity() -> dict[str, str]:
    """SRI values: the bundles' from ``integrity.json``, the style sheet's computed."""
    values: dict[str, str] = json.loads((_STATIC / "integrity.json").read_text(encoding="utf-8"))
    css = hashlib.sha384((_STATIC / "witness.css").read_bytes()).digest()
    values["witness.css"] = "sha384-" + base64.b64encode(css).decode("ascii")
    return values


def _language_links(strings: UiStrings, rest: str) -> list[tuple[str, str, str]]:
    return [(code, strings.autonyms[code], f"/{code}/{rest}") for code in strings.languages]


def _render(
    template: str, *, lang: str, status: int = 200, rest: str = "", **values: Any
) -> HTMLResponse:
    strings = ui_strings()
    known = lang in strings.languages
    body = (
        templates()
        .get_template(template)
        .render(
            lang=lang,
            lang_known=known,
            t=strings.for_language(lang if known else "en"),
            languages=_language_links(strings, rest) if known else [],
            leave_url=LEAVE_URL,
            integrity=_integrity(),
            **values,
        )
    )
    return HTMLResponse(body, status_code=status, media_type=HTML)


def _unknown_path() -> HTTPException:
    """An unknown language is an unknown path: the API's 404 problem document."""
    return HTTPException(status_code=404)


def not_found_page() -> HTMLResponse:
    """The 404 page, in English, with the language choice one link away."""
    return _render("not_found.html", lang="en", status=404)


def _intake_key(request: Request) -> bytes:
    keys = list(request.app.state.server.intake.intake_keys.values())
    key: bytes = keys[-1]  # the key forms are sealed to (as create_app picks it)
    return key


@router.get("/", response_class=HTMLResponse)
def choose_language() -> HTMLResponse:
    """Every page language, each named in itself."""
    strings = ui_strings()
    choices = [(code, strings.autonyms[code], f"/{code}/") for code in strings.languages]
    prompts = {code: strings.texts["choose_language"][code] for code in strings.languages}
    return _render("choose.html", lang="en", choices=choices, prompts=prompts)


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """A built script, the style sheet or ``integrity.json``; 404 for anything else."""
    if not _STATIC_NAME.fullmatch(name) or not (_STATIC / name).is_file():
        raise _unknown_path()
    media_type = _MEDIA_TYPES[name.rsplit(".", 1)[1]]
    return Response((_STATIC / name).read_bytes(), media_type=media_type)


@router.get("/{lang}", response_class=HTMLResponse)
def language_root(lang: str) -> Response:
    """``/ru`` → ``/ru/``."""
    if lang not in ui_strings().languages:
        raise _unknown_path()
    return RedirectResponse(f"/{lang}/", status_code=308)


@router.get("/{lang}/", response_class=HTMLResponse)
def start(lang: str, request: Request) -> HTMLResponse:
    """What happens to a testimony, and the forms published in ``lang``."""
    if lang not in ui_strings().languages:
        raise _unknown_path()
    forms = [
        {"href": f"/{lang}/forms/{form['id']}", "title": form["title"][lang]}
        for form in request.app.state.forms.summaries()
        if lang in form["title"]
    ]
    return _render("start.html", lang=lang, forms=forms)


@router.get("/{lang}/forms/{form_id}", response_class=HTMLResponse)
def form_page(lang: str, form_id: str, request: Request) -> HTMLResponse:
    """The latest version of ``form_id`` in ``lang``; 404 when either is unknown."""
    strings = ui_strings()
    if lang not in strings.languages:
        raise _unknown_path()
    try:
        published = request.app.state.forms.latest(form_id)
    except FormNotFound:
        return not_found_page()
    definition = published["definition"]
    if lang not in definition["languages"]:
        return not_found_page()
    rules, messages = forms_data()
    consent = consent_wording().as_json()
    page_data = {
        "lang": lang,
        "fallback": definition["languages"][0],
        "form": {"definition": definition, "sha256": published["sha256"]},
        "intakeKey": published["intake_key"],
        "intakeKeyId": published["intake_key_id"],
        "logKey": request.app.state.server.log_view.verifier_key,
        "rules": rules,
        "messages": messages,
        "ui": strings.for_language(lang),
        # v1.1 §3: the script writes M.consent.text_sha256 = hex(H(JCS(this))).
        "consentDocument": consent,
    }
    return _render(
        "form.html",
        lang=lang,
        rest=f"forms/{form_id}",
        title=definition["title"][lang],
        fields=[field_view(field, lang, messages) for field in definition["fields"]],
        consent_title=consent["title"][lang],
        consent=[field_view(field, lang, messages) for field in consent["fields"]],
        m={key: texts[lang] for key, texts in messages["messages"].items()},
        page_data=script_json(page_data),
    )


@router.get("/{lang}/key", response_class=HTMLResponse)
def key_page(lang: str, request: Request) -> HTMLResponse:
    """The intake key's id in groups of four, the log key, and how to check them."""
    if lang not in ui_strings().languages:
        raise _unknown_path()
    return _render(
        "key.html",
        lang=lang,
        rest="key",
        key_groups=key_groups(hpke.key_id(_intake_key(request))),
        log_key=request.app.state.server.log_view.verifier_key,
    )


@router.get("/{lang}/return", response_class=HTMLResponse)
def return_page(lang: str, request: Request) -> HTMLResponse:
    """A witness back with a receipt code: the replies to them, and a follow-up form.

    The code is typed into the page and never sent: the script
    (``js/src/return-page.js``) derives the witness keys from it (§7).
    """
    if lang not in ui_strings().languages:
        raise _unknown_path()
    intake_key = _intake_key(request)
    page_data = {
        "lang": lang,
        "intakeKey": b64u_encode(intake_key),
        "logKey": request.app.state.server.log_view.verifier_key,
        "ui": ui_strings().for_language(lang),
    }
    return _render("return.html", lang=lang, rest="return", page_data=script_json(page_data))


@router.get("/{lang}/offline", response_class=HTMLResponse)
def offline_page(lang: str, request: Request) -> HTMLResponse:
    """How to seal without JavaScript or network: ``testimony seal`` and ``upload``."""
    if lang not in ui_strings().languages:
        raise _unknown_path()
    from .offline import offline_strings

    summaries = request.app.state.forms.summaries()
    return _render(
        "offline.html",
        lang=lang,
        rest="offline",
        example_form=summaries[0]["id"] if summaries else "FORM",
        server_hint=str(request.base_url).rstrip("/"),
        key_groups=key_groups(hpke.key_id(_intake_key(request))),
        o=offline_strings().for_language(lang),
        offline_pages=[
            {"href": f"/{lang}/offline/{form['id']}.html", "title": form["title"][lang]}
            for form in summaries
            if lang in form["title"]
        ],
    )


@router.get("/{lang}/offline/{form_id}.html")
def offline_page_download(lang: str, form_id: str, request: Request) -> Response:
    """The offline sealing page of ``form_id`` (``offline.py``), ``lang`` first,
    pinned to the server's intake key, as a download; 404 when either is unknown."""
    from testimony.forms import load_form

    from .offline import offline_page as make_offline_page

    if lang not in ui_strings().languages:
        raise _unknown_path()
    try:
        published = request.app.state.forms.latest(form_id)
    except FormNotFound:
        return not_found_page()
    definition = load_form(published["definition"])
    if lang not in definition.languages:
        return not_found_page()
    others = [code for code in definition.languages if code != lang]
    offered = [lang, *[code for code in others if code in ui_strings().languages]]
    page = make_offline_page(definition, _intake_key(request), offered)
    return Response(
        page.html,
        media_type=HTML,
        headers={
            "Content-Disposition": f'attachment; filename="{definition.id}-offline-{lang}.html"'
        },
    )
