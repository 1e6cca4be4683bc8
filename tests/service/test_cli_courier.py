"""``testimony seal``, ``testimony upload`` and ``testimony forms import`` end to end:
an independent envelope delivered to a real server with proof of work, an
envelope sealed here opened with ``testimony.crypto`` alone, malformed
envelopes refused in one line, and a receipt code shown once and kept nowhere."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from testimony.crypto.encoding import b64u_decode
from testimony.crypto.receipts import verify_receipt
from testimony.crypto.submission import open_attachment, open_submission
from testimony.forms import bundled_forms
from testimony.forms.consent import consent_text_sha256
from testimony.service.cli import app
from tests.service.courier.support import INTAKE_SEED, VECTOR, LiveServer, intake_key_file
from tests.service.courier.support import live as live  # the fixture
from tests.vectors.loader import path as vector_path

KORDAI = bundled_forms().latest("kordai-2020")
CODE = re.compile(r"receipt code: ([0-9]{4}(?:-[0-9]{4}){4})\n")

RUSSIAN = {
    "lang": "ru",
    "answers": {
        "narrative": "Ночью 7 февраля подожгли дом соседей. Мы видели людей в масках.",
        "when": {"start": "2020-02-07T23:30", "end": "2020-02-08"},
        "where": {"text": "улица Ленина, у мечети"},
        "what_happened": ["arson", "shooting", {"other": "угрозы по телефону"}],
        "perpetrators": ["unknown_persons"],
        "victims": "Семья из пяти человек осталась без дома.",
    },
    "consent": {"share_with": ["prosecutor", "un_treaty_body"], "contact": True},
}


@pytest.fixture(autouse=True)
def pins_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    yield home


def run(*args: str | Path, stdin: str | None = None) -> Any:
    result = CliRunner().invoke(app, [str(a) for a in args], input=stdin)
    assert "Traceback" not in result.output
    return result


def seal_russian(tmp_path: Path) -> tuple[Any, Path, dict[str, bytes]]:
    form = tmp_path / "kordai-2020.json"
    form.write_bytes(KORDAI.definition.jcs)
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(RUSSIAN, ensure_ascii=False), encoding="utf-8")
    files = {"photo.jpg": bytes(range(256)) * 700, "запись.ogg": b"OggS" + b"\x01" * 90_000}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    out = tmp_path / "witness.testimony"
    result = run(
        "seal", "--form", form, "--intake-key", intake_key_file(tmp_path), "--out", out,
        "--answers", answers, "--attach", tmp_path / "photo.jpg", "--attach", tmp_path / "запись.ogg",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result, out, files


def test_a_sealed_envelope_opens_with_crypto_alone_to_the_answers_and_files(
    tmp_path: Path,
) -> None:
    result, out, files = seal_russian(tmp_path)
    with zipfile.ZipFile(out) as archive:
        infos = archive.infolist()
        request = json.loads(archive.read("request.json"))
        blobs = {info.filename[6:]: archive.read(info) for info in infos[1:]}
    assert {info.compress_type for info in infos} == {zipfile.ZIP_STORED}
    assert [info.filename for info in infos] == ["request.json"] + [
        "blobs/" + blob for blob in request["attachments"]
    ]
    assert set(request) == {"intake_key", "header", "body", "attachments", "witness", "witness_box"}
    assert request["witness"] and request["witness_box"]
    opened = open_submission(
        INTAKE_SEED, b64u_decode(request["header"]), b64u_decode(request["body"])
    )
    manifest = opened.manifest
    assert manifest["form"] == {"id": "kordai-2020", "version": 2, "sha256": KORDAI.sha256}
    assert manifest["lang"] == "ru" and manifest["consent"] == RUSSIAN["consent"]
    expected_answers = dict(RUSSIAN["answers"], files=request["attachments"])
    assert manifest["answers"] == expected_answers
    opened_files = {
        item["name"]: open_attachment(item, blobs[item["blob"]]) for item in manifest["attachments"]
    }
    assert opened_files == files
    assert request["intake_key"] in result.stdout  # the key id is shown


def test_the_receipt_code_is_printed_once_and_written_nowhere(tmp_path: Path) -> None:
    result, out, _ = seal_russian(tmp_path)
    (code,) = CODE.findall(result.stdout)
    assert result.stdout.count(code) == 1
    assert "write this code down" in result.stdout.lower()
    for needle in (code, code.replace("-", "")):
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert needle.encode() not in path.read_bytes(), path
    # The witness keys in the request are the code's (so follow-ups work).
    from testimony.crypto.receipt import derive

    request = json.loads(zipfile.ZipFile(out).read("request.json"))
    assert request["witness"] == derive(code).witness_b64u


def test_invalid_answers_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    form = tmp_path / "f.json"
    form.write_bytes(KORDAI.definition.jcs)
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps({"answers": {"when": {"start": "2020-13", "end": None}}}))
    result = run(
        "seal", "--form", form, "--intake-key", intake_key_file(tmp_path),
        "--out", tmp_path / "x.testimony", "--answers", answers,
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.rstrip().endswith("(answers-invalid)")
    assert not list(tmp_path.glob("*.testimony")) and not list(tmp_path.glob(".testimony-*"))


def test_the_interactive_prompt_seals_what_the_witness_typed_in_russian(tmp_path: Path) -> None:
    from tests.service.courier.test_prompt import SCRIPT

    form = tmp_path / "f.json"
    form.write_bytes(KORDAI.definition.jcs)
    out = tmp_path / "typed.testimony"
    result = run(
        "seal", "--form", form, "--intake-key", intake_key_file(tmp_path), "--out", out,
        "--lang", "ru", stdin="\n".join(SCRIPT) + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    request = json.loads(zipfile.ZipFile(out).read("request.json"))
    manifest = open_submission(
        INTAKE_SEED, b64u_decode(request["header"]), b64u_decode(request["body"])
    ).manifest
    assert manifest["answers"]["where"] == {"id": "masanchi"}
    # v1.1 §3: the prompt showed the consent wording, and the consent names it.
    assert manifest["consent"] == {
        "share_with": ["prosecutor", "human_rights_org"],
        "contact": True,
        "text_sha256": consent_text_sha256(),
    }


def test_leaving_the_prompt_writes_nothing(tmp_path: Path) -> None:
    form = tmp_path / "f.json"
    form.write_bytes(KORDAI.definition.jcs)
    result = run(
        "seal", "--form", form, "--intake-key", intake_key_file(tmp_path),
        "--out", tmp_path / "x.testimony", "--lang", "ru", stdin="Начало\n",
    )  # fmt: skip
    assert result.exit_code == 1 and result.stderr.rstrip().endswith("(aborted)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json", "intake.pub"]


@pytest.mark.slow
def test_the_independent_envelope_is_delivered_with_proof_of_work(
    live: LiveServer, tmp_path: Path
) -> None:
    envelope = tmp_path / "vector.testimony"
    shutil.copyfile(vector_path("testimony/submission.testimony"), envelope)
    result = run("upload", envelope, "--server", live.url)
    assert result.exit_code == 0, result.output
    receipt = json.loads((tmp_path / "vector.testimony.receipt.json").read_text())
    assert result.stdout == f"{envelope}: ok {receipt['id']}\n"
    verified = verify_receipt(receipt, live.log_key(), request=VECTOR["request"])
    entry = dict(verified.entry_object)
    del entry["received"]
    expected = json.loads(b64u_decode(VECTOR["entry"]))  # the independent implementation's
    del expected["received"]
    assert entry == expected
    assert sorted(entry["attachments"]) == sorted(VECTOR["blobs"])
    assert not (tmp_path / "vector.testimony.upload.json").exists()
    # Running again only verifies again.
    again = run("upload", envelope, "--server", live.url)
    assert again.exit_code == 0 and "already delivered" in again.stdout
    assert json.loads((tmp_path / "vector.testimony.receipt.json").read_text()) == receipt


@pytest.mark.slow
def test_a_sealed_envelope_is_delivered_and_a_changed_log_key_is_refused(
    live: LiveServer, tmp_path: Path
) -> None:
    _, out, _ = seal_russian(tmp_path)
    result = run("upload", out, "--server", live.url)
    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"{re.escape(str(out))}: ok [0-9a-f]{{64}}\n", result.stdout)
    other = tmp_path / "other.testimony"
    shutil.copyfile(vector_path("testimony/submission.testimony"), other)
    wrong = "someone.else/log+00000000+AQ" + "A" * 42
    refused = run("upload", other, "--server", live.url, "--log-key", wrong)
    assert refused.exit_code == 1
    assert "(log-key-mismatch)" in refused.stdout
    assert not (tmp_path / "other.testimony.receipt.json").exists()


def _malformed(tmp_path: Path, name: str, entries: list[tuple[str, bytes]], method: int) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in entries:
            archive.writestr(zipfile.ZipInfo(member), data, compress_type=method)
    return path


def test_malformed_envelopes_fail_in_one_line_each_and_upload_nothing(tmp_path: Path) -> None:
    with zipfile.ZipFile(vector_path("testimony/submission.testimony")) as archive:
        good = [(name, archive.read(name)) for name in archive.namelist()]
    blob = good[1][0]
    cases = [
        _malformed(tmp_path, "extra.testimony", [*good, ("readme.txt", b"x")], zipfile.ZIP_STORED),
        _malformed(tmp_path, "escape.testimony", [*good, ("../x", b"x")], zipfile.ZIP_STORED),
        _malformed(tmp_path, "deflated.testimony", good, zipfile.ZIP_DEFLATED),
        _malformed(
            tmp_path, "missing.testimony", [e for e in good if e[0] != blob], zipfile.ZIP_STORED
        ),
        _malformed(
            tmp_path,
            "altered.testimony",
            [(n, b"changed" if n == blob else d) for n, d in good],
            zipfile.ZIP_STORED,
        ),
    ]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases.append(_malformed(tmp_path, "twice.testimony", [*good, good[0]], zipfile.ZIP_STORED))
    # Port 9 (discard) is closed: any attempt to connect would fail differently.
    result = run("upload", *cases, "--server", "http://127.0.0.1:9")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == len(cases)
    for path, line in zip(cases, lines, strict=True):
        assert line.startswith(f"{path}: failed: ") and line.endswith("(envelope-invalid)"), line
    assert not list(tmp_path.glob("*.json"))
    assert result.stderr.rstrip().endswith("(upload-failed)")


def test_forms_import_writes_the_definition_and_prints_each_warning(tmp_path: Path) -> None:
    from tests.forms.test_xlsform import SETTINGS, VILLAGES, write_xlsform

    survey = [
        {"type": "text", "name": "what", "label::Russian (ru)": "Что?", "label::English (en)": "What?"},
        {"type": "select_one village", "name": "where", "label::Russian (ru)": "Где?", "label::English (en)": "Where?"},
        {"type": "calculate", "name": "calc", "calculation": "1+1"},
    ]  # fmt: skip
    source = write_xlsform(tmp_path / "f.xlsx", survey, VILLAGES, SETTINGS)
    out = tmp_path / "form.json"
    result = run("forms", "import", source, "--out", out)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["id"] == "kordai-xls"
    assert "warning: " in result.stdout and "calc" in result.stdout
    again = run("forms", "import", source, "--out", out)
    assert again.exit_code == 1 and again.stderr.rstrip().endswith("(file-exists)")


@pytest.mark.slow
def test_damaged_envelopes_fail_in_one_line_each_and_the_others_are_delivered(
    live: LiveServer, tmp_path: Path
) -> None:
    """Issue 12 item 4: before, sizes past the end printed only ``Aborted.`` and
    skipped the rest of the run, and a bad version or UTF-8 name a traceback."""
    from testimony.crypto import hpke
    from testimony.forms import Consent
    from testimony.service.courier.seal import seal_envelope
    from tests.service.courier import damage

    good1 = tmp_path / "good1.testimony"
    shutil.copyfile(vector_path("testimony/submission.testimony"), good1)
    good2 = seal_envelope(
        form=KORDAI.definition,
        intake_public_key=hpke.public_key(INTAKE_SEED),
        lang="ru",
        answers={"narrative": "Горели дома."},
        consent=Consent(share_with=frozenset(), contact=False),
        attachments=[],
        out=tmp_path / "good2.testimony",
    ).path
    damaged = [
        damage.write(tmp_path, "past-the-end.testimony", damage.sizes_past_the_end(2)),
        damage.write(tmp_path, "version.testimony", damage.bad_version_needed()),
        damage.write(tmp_path, "utf8-name.testimony", damage.invalid_utf8_name()),
        damage.write(tmp_path, "before-start.testimony", damage.offsets_before_the_start()),
    ]
    result = run("upload", good1, *damaged, good2, "--server", live.url)
    assert result.exit_code == 1
    assert "Aborted" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stdout.splitlines()
    assert len(lines) == 2 + len(damaged), result.output
    for path, line in zip([good1, *damaged, good2], lines, strict=True):
        if path in (good1, good2):
            receipt = json.loads(Path(f"{path}.receipt.json").read_text())
            assert line == f"{path}: ok {receipt['id']}"
        else:
            message = line.removeprefix(f"{path}: failed: ")
            assert message != line and path.name in message, line
            assert line.endswith("(envelope-invalid)"), line
            assert not Path(f"{path}.receipt.json").exists()
    assert result.stderr.splitlines() == [
        f"testimony: {len(damaged)} of {len(damaged) + 2} envelopes were not delivered (upload-failed)"
    ]
