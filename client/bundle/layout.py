"""Where everything lies in an evidence bundle (docs/protocol.md §11), and the
two naming rules the bag's paths follow.

A bundle is a BagIt 1.0 bag (RFC 8493). Paths here are **payload paths**:
relative to the bag's ``data/`` folder, with ``/`` between segments
(``testimonies/<id>/entry.json``); the manifest names them with ``data/``
in front.

- **A file's name** (:func:`file_name`): ``<n>-<name>``, ``<n>`` its position
  in ``M.attachments`` from 0, ``<name>`` the name the witness's device gave it,
  in NFC, with ``/``, ``\\`` and every Unicode ``Cc`` or ``Cf`` character (bidi
  overrides included) replaced by ``_``. **Decision**: a lone surrogate
  (``Cs``, which no file system can store) is replaced the same way, and a name
  whose ``<n>-<name>`` is longer than 255 bytes of UTF-8 (the limit of common
  file systems) is shortened, keeping its extension, so that the file can be
  written at all.
- **A path in a manifest** (:func:`encode_path`, :func:`decode_path`): as
  RFC 8493 §2.1.3 says, ``%``, CR and LF percent-encoded (``%25``, ``%0D``,
  ``%0A``), and compared after NFC normalisation (:func:`normalise`).
  **Decision**: a reader decodes exactly those three (case-insensitively) and
  leaves any other ``%`` as it is. Note that the Library of Congress ``bagit``
  tool (1.9) does not decode ``%25``: a bundle whose file name holds ``%``
  is valid by RFC 8493 and this project's verifier, not by that tool.

>>> file_name(0, "IMG\\u202egpj.exe/../x")
'0-IMG_gpj.exe_.._x'
>>> encode_path("files/0-50%\\n.txt")
'files/0-50%25%0A.txt'
>>> decode_path(encode_path("files/0-50%\\n.txt")) == "files/0-50%\\n.txt"
True
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "BLOBS",
    "BODY",
    "BUNDLE_JSON",
    "CEK",
    "CHECKPOINT",
    "DATA",
    "ENTRY",
    "EVENTS",
    "EXPORT_RECEIPT",
    "FILES",
    "FOLLOWUPS",
    "GOVERNANCE",
    "HEADER",
    "LOG_KEY",
    "MANIFEST",
    "MAX_NAME_BYTES",
    "PROOF",
    "REPORT",
    "REPORT_PDF",
    "REVIEWERS",
    "decode_path",
    "encode_path",
    "file_name",
    "followup_dir",
    "form_path",
    "incident_path",
    "normalise",
    "testimony_dir",
]

DATA = "data"
"""The payload folder of the bag."""

BUNDLE_JSON = "bundle.json"
REPORT = "report.html"
REPORT_PDF = "report.pdf"
CHECKPOINT = "custody/checkpoint.txt"
LOG_KEY = "custody/log-key.txt"
GOVERNANCE = "custody/governance.jsonl"
EVENTS = "custody/events.jsonl"
REVIEWERS = "custody/reviewers.json"
EXPORT_RECEIPT = "export-receipt.json"
"""A tag file (at the bag's root, not in ``data/``): it cannot lie inside the
payload whose manifest the export entry commits to."""

# In each testimonies/<id>/ and testimonies/<id>/followups/<id>/:
ENTRY = "entry.json"
HEADER = "header.bin"
BODY = "body.bin"
CEK = "cek.txt"
MANIFEST = "manifest.json"
PROOF = "proof.json"
BLOBS = "blobs"
FILES = "files"
FOLLOWUPS = "followups"

MAX_NAME_BYTES = 255
"""The longest file name (in bytes of UTF-8) written: ext4's, NTFS's, APFS's limit."""
_KEPT_SUFFIX = 16
_REPLACED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_ENCODED = re.compile(r"%(25|0[aAdD])")
_DECODED = {"25": "%", "0a": "\n", "0d": "\r"}


def testimony_dir(testimony_id: str) -> str:
    """``testimonies/<id>``: everything of one testimony."""
    return f"testimonies/{testimony_id}"


def followup_dir(parent: str, followup_id: str) -> str:
    """``testimonies/<parent>/followups/<id>``: a follow-up, laid out as a testimony."""
    return f"{testimony_dir(parent)}/{FOLLOWUPS}/{followup_id}"


def form_path(form_id: str, version: int) -> str:
    """``forms/<id>-<version>.json``."""
    return f"forms/{form_id}-{version}.json"


def incident_path(incident_id: str) -> str:
    """``incidents/<id>.json``."""
    return f"incidents/{incident_id}.json"


def normalise(path: str) -> str:
    """A path as paths are compared (RFC 8493 §2.1.3): NFC."""
    return unicodedata.normalize("NFC", path)


def _clean(name: str) -> str:
    text = unicodedata.normalize("NFC", name)
    return "".join(
        "_" if c in "/\\" or unicodedata.category(c) in _REPLACED_CATEGORIES else c for c in text
    )


def file_name(n: int, name: object) -> str:
    """``<n>-<name>`` as §11 names a decrypted attachment (see the module docstring).

    ``name`` is the descriptor's ``name``; anything but a string counts as an
    empty name.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError("a file's position is a whole number from 0")
    clean = _clean(name) if isinstance(name, str) else ""
    prefix = f"{n}-"
    whole = prefix + clean
    if len(whole.encode("utf-8")) <= MAX_NAME_BYTES:
        return whole
    stem, dot, suffix = clean.rpartition(".")
    if not dot or not stem or len(suffix) > _KEPT_SUFFIX:
        stem, suffix = clean, ""
    else:
        suffix = "." + suffix
    budget = MAX_NAME_BYTES - len(prefix.encode("utf-8")) - len(suffix.encode("utf-8"))
    while stem and len(stem.encode("utf-8")) > budget:
        stem = unicodedata.normalize("NFC", stem[:-1])
    return prefix + stem + suffix


def encode_path(path: str) -> str:
    """A payload (or tag file) path as a manifest line names it: NFC, then
    ``%``, CR and LF percent-encoded (RFC 8493 §2.1.3)."""
    return normalise(path).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_path(text: str) -> str:
    """The path a manifest line names: ``%25``, ``%0D`` and ``%0A`` decoded (in
    one pass, so ``%2525`` is ``%25``), then NFC."""
    return normalise(_ENCODED.sub(lambda m: _DECODED[m.group(1).lower()], text))
