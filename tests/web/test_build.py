"""The built sealing module (service/web/static/) is exactly what the pinned
sources build (service/web/js/), loads nothing from elsewhere, and carries
correct subresource-integrity values."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess

import pytest

from tests.web.browser import REPO, STATIC

JS = REPO / "service" / "web" / "js"
BUNDLES = [
    "seal.js",
    "seal-worker.js",
    "witness-page.js",
    "page.js",
    "return-page.js",
    "offline-page.js",
    "offline-seal-worker.js",
]
# URLs that appear in the bundles only inside licence comments and error text.
DOCUMENTATION_URLS = {
    "https://www.npmjs.com/package/hash-wasm",
    "https://github.com/facebook/regenerator/blob/main/LICENSE",
}


def test_dependencies_are_pinned_exactly_and_locked() -> None:
    package = json.loads((JS / "package.json").read_text())
    pinned = {**package["dependencies"], **package["devDependencies"]}
    for name, version in pinned.items():
        assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", version), f"{name} is not pinned: {version}"
    lock = json.loads((JS / "package-lock.json").read_text())
    assert lock["lockfileVersion"] == 3
    for name, version in pinned.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    for name, entry in lock["packages"].items():
        if name:  # every package is checked against its registry hash by `npm ci`
            assert entry["integrity"].startswith("sha512-"), name
            assert entry.get("resolved", "https://registry.npmjs.org/").startswith(
                "https://registry.npmjs.org/"
            ), name


def test_the_committed_bundles_are_the_build_of_the_sources() -> None:
    if not (JS / "node_modules" / ".package-lock.json").exists():
        pytest.fail("service/web/js/node_modules is missing: run `npm ci` in service/web/js")
    node = shutil.which("node")
    assert node is not None, "Node.js is needed to check the build"
    done = subprocess.run(
        [node, "build.mjs", "--check"], cwd=JS, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_integrity_values_match_the_bundles() -> None:
    integrity = json.loads((STATIC / "integrity.json").read_text())
    assert sorted(integrity) == sorted(BUNDLES)
    for name in BUNDLES:
        digest = base64.b64encode(hashlib.sha384((STATIC / name).read_bytes()).digest()).decode()
        assert integrity[name] == f"sha384-{digest}"


def test_bundles_fetch_nothing_from_elsewhere() -> None:
    for name in BUNDLES:
        text = (STATIC / name).read_text(encoding="utf-8")
        urls = set(re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"'`)]*", text))
        assert urls <= DOCUMENTATION_URLS, (name, urls - DOCUMENTATION_URLS)
        assert "importScripts" not in text
        assert "eval(" not in text and "new Function" not in text
