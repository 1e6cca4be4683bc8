"""The report's budget of embedded photos (workstation/report.py, ``EMBED_BUDGET``):
in report order, each photo that fits in what is left is embedded as the bag's
own bytes, and every other is shown by its caption and its path in the bundle;
the page stays inert and self-contained whatever is embedded."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from testimony.workstation import report
from testimony.workstation.report import CSP, ReportFile, render_html
from testimony.workstation.text import marked
from tests.workstation.test_report import FID, TID, _file, _model, parse, words


def _jpeg(side: int) -> bytes:
    """A JPEG of noise, ``side`` pixels square (the larger, the more bytes)."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "JPEG")
    return out.getvalue()


def _write(root: Path, file: ReportFile, data: bytes) -> None:
    target = root / "data" / file.path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _figures(html: str) -> dict[str, Any]:
    """Each figure by its id: its ``<img>`` (or None) and its words."""
    tree = parse(html)
    found = {}
    for figure in tree.root.all("figure"):
        images = figure.all("img")
        found[figure.attrs["id"]] = (images[0] if images else None, words(figure.text()))
    return found


def test_photos_are_embedded_in_report_order_while_the_budget_lasts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "bundle"
    first, large, small, later = _jpeg(16), _jpeg(160), _jpeg(8), _jpeg(8)
    assert len(large) > len(small)
    files = [
        _file(0, "first.jpg", "image/jpeg", first, True),
        _file(1, "large.jpg", "image/jpeg", large, True),
        _file(2, "small.jpg", "image/jpeg", small, True),
    ]
    followup_photo = _file(0, "later.jpg", "image/jpeg", later, True, tid=FID)
    for file, data in [*zip(files, (first, large, small), strict=True), (followup_photo, later)]:
        _write(root, file, data)
    model = _model(files)
    testimony = model.testimonies[0]
    followup = replace(testimony.followups[0], files=[followup_photo])
    model = replace(model, testimonies=[replace(testimony, files=files, followups=[followup])])
    # Room for the first and the small one only: the large one does not fit in
    # what is left after the first; the follow-up's comes after all three.
    monkeypatch.setattr(report, "EMBED_BUDGET", len(first) + len(small))

    html = render_html(model, root)
    figures = _figures(html)

    def shown(figure_id: str, data: bytes) -> None:
        image, _text = figures[figure_id]
        assert image is not None, figure_id
        prefix = "data:image/jpeg;base64,"
        assert image.attrs["src"].startswith(prefix)
        assert base64.b64decode(image.attrs["src"][len(prefix) :]) == data

    def listed(figure_id: str, file: ReportFile) -> None:
        image, text = figures[figure_id]
        assert image is None, figure_id
        assert f"in the bundle as data/{file.path}" in text
        assert f"File {file.number}: {file.name}" in text  # the caption stays
        assert file.sha256 in text

    shown(f"t-{TID}-file-0", first)
    listed(f"t-{TID}-file-1", files[1])
    shown(f"t-{TID}-file-2", small)
    listed(f"t-{FID}-file-0", followup_photo)

    # Still inert: no script, every src a data: URI, the CSP unchanged at the top.
    tree = parse(html)
    assert "<script" not in html.lower()
    assert all(a["src"].startswith("data:image/") for t, a in tree.tags if "src" in a)
    assert tree.root.one("head").all("meta")[1].attrs["content"] == CSP


def test_with_the_default_budget_every_photo_of_a_small_bundle_is_shown(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    data = _jpeg(32)
    files = [_file(n, f"{n}.jpg", "image/jpeg", data, True) for n in range(3)]
    for file in files:
        _write(root, file, data)
    model = _model(files)
    model = replace(model, testimonies=[replace(model.testimonies[0], files=files)])
    figures = _figures(render_html(model, root))
    assert all(image is not None for image, _text in figures.values())
    assert len(figures) == 3


def test_the_data_uri_is_printed_as_it_is_not_marked_character_by_character(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Marking a photo's base64 costs seconds per megabyte and can change nothing."""
    root = tmp_path / "bundle"
    data = _jpeg(64)
    file = _file(0, "photo.jpg", "image/jpeg", data, True)
    _write(root, file, data)
    model = _model([file])
    seen: list[str] = []

    def counting(text: str) -> str:
        seen.append(text)
        return marked(text)

    monkeypatch.setattr("testimony.workstation.report.marked", counting)
    html = render_html(model, root)
    assert base64.b64encode(data).decode("ascii") in html
    assert seen and not any(text.startswith("data:") for text in seen)
    assert hashlib.sha256(data).hexdigest() in html
