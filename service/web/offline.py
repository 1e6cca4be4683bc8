"""The offline sealing page (issue 5, item 5; docs/protocol.md §3, §4, §5, §7): one
self-contained HTML file, opened from disk with no network, that seals a
testimony into a ``.testimony`` envelope for ``testimony upload``.

:func:`offline_page` writes it from a form definition and an intake public
key. The file embeds:

- each chosen language's form, pre-rendered with the witness page's own
  field macros (``templates/_fields.html``) inside ``offline_form.html``;
  the first language is in the page, the others in ``<template>`` elements
  the script swaps in;
- the form definition and its ``sha256``, the intake key and its key id
  (shown in groups of four; the script refuses to seal if the two disagree),
  the answer rules (``forms/static/rules.json``) and problem messages, the
  pages' texts (``strings.json``) and the offline page's own
  (``offline-strings.json``);
- the style sheet (``static/witness.css``), the page's script
  (``static/offline-page.js``) and the sealing Worker's source
  (``static/offline-seal-worker.js``, a classic script started from a Blob
  URL: a page opened from ``file://`` can start neither a Worker from a file
  nor a module Worker from a Blob URL, as measured in Chromium).

Its Content-Security-Policy (a ``<meta>``) allows exactly the inline script
and style by their SHA-256, Workers from ``blob:``, WebAssembly, and no
network at all. The output depends only on the inputs and the package's
files: the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from markupsafe import Markup

from testimony.crypto import hpke
from testimony.crypto.encoding import b64u_encode
from testimony.crypto.errors import CryptoError
from testimony.forms import FormDefinition
from testimony.forms.consent import consent_wording

from .i18n import UiStrings, ui_strings
from .render import field_view, forms_data, key_groups, script_json, templates

__all__ = ["OfflinePage", "OfflinePageRefused", "offline_page", "offline_strings"]


class OfflinePageRefused(ValueError):
    """The offline page cannot be made from these inputs (a bad key, a language
    the form or the pages lack)."""

    code = "seal-refused"


_STATIC = Path(__file__).resolve().parent / "static"
_CLOSERS = ("</script", "</style", "<!--")


@dataclass(frozen=True)
class OfflinePage:
    """A generated page: its bytes, the key id it is pinned to, its languages."""

    html: bytes
    intake_key_id: str
    languages: tuple[str, ...]


@cache
def offline_strings() -> UiStrings:
    """The offline page's own texts (``offline-strings.json``), in every page
    language. Raises ``ValueError`` if the package data is broken."""
    folder = resources.files(__package__)
    data = json.loads(folder.joinpath("offline-strings.json").read_text(encoding="utf-8"))
    strings = UiStrings(
        languages=tuple(data["languages"]),
        texts=data["strings"],
        autonyms=ui_strings().autonyms,
        review=data["review"],
    )
    broken = strings.problems()
    if broken:
        raise ValueError("service/web/offline-strings.json: " + "; ".join(broken))
    return strings


def _inline(name: str) -> str:
    """A built file to inline; refuses one that could end its element early."""
    text = (_STATIC / name).read_text(encoding="utf-8")
    lowered = text.lower()
    for closer in _CLOSERS:
        if closer in lowered:
            raise ValueError(f"service/web/static/{name} holds {closer!r} and cannot be inlined")
    return text


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _policy(script: str, css: str) -> str:
    return (
        "default-src 'none'; "
        f"script-src {_csp_hash(script)} 'wasm-unsafe-eval'; "
        "worker-src blob:; "
        f"style-src {_csp_hash(css)}; "
        "img-src blob: data:; connect-src 'none'; form-action 'none'; base-uri 'none'"
    )


def _choose_languages(definition: FormDefinition, languages: Sequence[str] | None) -> list[str]:
    available = [lang for lang in definition.languages if lang in ui_strings().languages]
    if not languages:
        if not available:
            raise OfflinePageRefused(f"form {definition.id} has no language the pages have")
        return available
    chosen = list(dict.fromkeys(languages))
    unknown = [lang for lang in chosen if lang not in available]
    if unknown:
        raise OfflinePageRefused(
            f"form {definition.id} cannot be shown in {', '.join(unknown)}; "
            f"it can in {', '.join(available)}"
        )
    return chosen


def _language_block(
    definition: dict[str, Any], lang: str, key_id: str, messages: Any, consent: Any
) -> Markup:
    texts = ui_strings().for_language(lang)
    html = (
        templates()
        .get_template("offline_form.html")
        .render(
            lang=lang,
            t=texts,
            o=offline_strings().for_language(lang),
            m={key: value[lang] for key, value in messages["messages"].items()},
            title=definition["title"][lang],
            key_id=key_id,
            key_groups=key_groups(key_id),
            fields=[field_view(field, lang, messages) for field in definition["fields"]],
            consent_title=consent["title"][lang],
            consent=[field_view(field, lang, messages) for field in consent["fields"]],
        )
    )
    return Markup(html)  # noqa: S704 - rendered by the autoescaping environment


def offline_page(
    definition: FormDefinition,
    intake_public_key: bytes,
    languages: Sequence[str] | None = None,
) -> OfflinePage:
    """The offline page for ``definition``, pinned to ``intake_public_key``.

    ``languages``: the languages to offer, the first shown on opening (default:
    every language of the form the pages have, in the form's order). Raises
    :class:`OfflinePageRefused` for a key that is
    not an S1 public key or a language the form or the pages lack, and
    ``ValueError`` when the package's built files are broken.
    """
    try:
        hpke.seal(intake_public_key, b"testimony/v1 key check", b"")
    except CryptoError:
        raise OfflinePageRefused("the intake key is not an S1 public key") from None
    chosen = _choose_languages(definition, languages)
    key_id = hpke.key_id(intake_public_key)
    source = definition.as_json()
    rules, messages = forms_data()
    consent = consent_wording().as_json()
    blocks = {lang: _language_block(source, lang, key_id, messages, consent) for lang in chosen}
    strings = ui_strings()
    extra = offline_strings()
    page_data = {
        "defaultLang": chosen[0],
        "fallback": definition.languages[0],
        "form": {"definition": source, "sha256": definition.sha256},
        "intakeKey": b64u_encode(intake_public_key),
        "intakeKeyId": key_id,
        "rules": rules,
        "messages": messages,
        "titles": {
            lang: f"{source['title'][lang]} · {extra.texts['offline_page_title'][lang]}"
            for lang in chosen
        },
        "ui": {lang: {**strings.for_language(lang), **extra.for_language(lang)} for lang in chosen},
        "worker": _inline("offline-seal-worker.js"),
        # v1.1 §3: the script writes M.consent.text_sha256 = hex(H(JCS(this))).
        "consentDocument": consent,
    }
    script = _inline("offline-page.js")
    css = _inline("witness.css")
    first = chosen[0]
    html = (
        templates()
        .get_template("offline_page.html")
        .render(
            lang=first,
            csp=_policy(script, css),
            page_title=page_data["titles"][first],
            t=strings.for_language(first),
            languages=[(lang, strings.autonyms[lang]) for lang in chosen],
            default_block=blocks[first],
            blocks=list(blocks.items()),
            page_data=script_json(page_data),
            script=Markup(script),  # noqa: S704 - our own bundle, checked by _inline
            css=Markup(css),  # noqa: S704 - our own style sheet, checked by _inline
        )
    )
    return OfflinePage(html=html.encode("utf-8"), intake_key_id=key_id, languages=tuple(chosen))
