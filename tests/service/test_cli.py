"""The ``testimony`` command end to end in a temporary folder: init, log-key,
audit, raw, intake-key new; every error is one line ``testimony: ... (code)``."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from typer.testing import CliRunner

from testimony.crypto import submission
from testimony.crypto.encoding import b64u_decode
from testimony.service.api.app import create_app
from testimony.service.cli import app
from testimony.service.settings import Settings
from tests.service.intake_support import TestClient, tus_upload

ONE_LINE_ERROR = re.compile(r"testimony: [^\n]+ \([a-z0-9-]+\)\n")


def run(*args: str | Path) -> Any:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def assert_one_line_error(result: Any, code: str) -> None:
    assert result.exit_code == 1, result.output
    assert ONE_LINE_ERROR.fullmatch(result.stderr), result.stderr
    assert result.stderr.rstrip().endswith(f"({code})")


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "intake.seed", tmp_path / "intake.pub"
    result = run("intake-key", "new", "--private", private, "--public", public)
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"intake key id: [0-9a-f]{32}\n", result.stdout)
    return private, public


@pytest.fixture
def data_dir(tmp_path: Path, keys: tuple[Path, Path]) -> Path:
    data = tmp_path / "data"
    result = run(
        "init", "--data-dir", data, "--intake-public-key", keys[1], "--origin", "cli.test/log"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("log key: cli.test/log+")
    return data


def test_init_prints_the_key_that_log_key_prints(data_dir: Path) -> None:
    key = run("log-key", "--data-dir", data_dir)
    assert key.exit_code == 0
    assert re.fullmatch(r"cli\.test/log\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+\n", key.stdout)


def test_init_prints_the_setup_token_once_and_keeps_only_its_hash(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    from testimony.crypto import codes

    data = tmp_path / "fresh"
    result = run("init", "--data-dir", data, "--intake-public-key", keys[1])
    assert result.exit_code == 0, result.output
    token = result.stdout.splitlines()[-1]
    assert codes.normalise_code(token) == token and not token.startswith("-")
    kept = (data / "setup-token.sha256").read_text()
    assert kept == codes.code_hash(token) + "\n"
    assert (data / "setup-token.sha256").stat().st_mode & 0o777 == 0o600
    for path in data.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_init_twice_is_a_one_line_error(data_dir: Path, keys: tuple[Path, Path]) -> None:
    again = run("init", "--data-dir", data_dir, "--intake-public-key", keys[1])
    assert_one_line_error(again, "already-initialised")


def test_intake_key_new_refuses_to_overwrite(keys: tuple[Path, Path]) -> None:
    again = run("intake-key", "new", "--private", keys[0], "--public", keys[1])
    assert_one_line_error(again, "already-initialised")


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["log-key", "--data-dir", "{tmp}/nothing"], "not-initialised"),
        (["audit", "--data-dir", "{tmp}/nothing"], "not-initialised"),
        (["rebuild-projections", "--data-dir", "{tmp}/nothing"], "not-initialised"),
        (
            ["raw", "00" * 32, "--data-dir", "{tmp}/nothing", "--out", "{tmp}/out"],
            "not-initialised",
        ),
        (["init", "--data-dir", "{tmp}/d", "--intake-public-key", "{tmp}/absent"], "bad-key-file"),
        (["log-key", "--config", "{tmp}/absent.toml"], "bad-settings"),
        (["log-key"], "bad-settings"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: list[str], code: str) -> None:
    result = run(*(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert_one_line_error(result, code)


def _submit(data_dir: Path) -> dict[str, Any]:
    """One submission with one attachment, sealed to the CLI-made intake key."""
    public = b64u_decode((data_dir.parent / "intake.pub").read_text().strip())
    attachment = submission.seal_attachment(b"photo", name="p.jpg", media_type="image/jpeg")
    sealed = submission.seal_submission(public, {"v": 1, "attachments": [attachment.descriptor]})
    with TestClient(create_app(Settings(data_dir=data_dir, pow_bits=0))) as client:
        tus_upload(client, attachment.ciphertext)
        answer = client.post(
            "/api/v1/submissions", json=sealed.request(attachments=[attachment.blob])
        )
        assert answer.status_code == 201, answer.text
    return {
        "receipt": answer.json(),
        "header": sealed.header,
        "body": sealed.body,
        "blob": (attachment.blob, attachment.ciphertext),
    }


def test_raw_writes_the_exact_ciphertexts_as_a_bundle_lays_them_out(
    data_dir: Path, tmp_path: Path
) -> None:
    submitted = _submit(data_dir)
    receipt = submitted["receipt"]
    out = tmp_path / "raw"
    result = run("raw", receipt["id"], "--data-dir", data_dir, "--out", out)
    assert result.exit_code == 0, result.output
    entry = json.loads((out / "entry.json").read_text())
    assert entry == {"entry": receipt["entry"], "id": receipt["id"]}
    assert (out / "header.bin").read_bytes() == submitted["header"]
    assert (out / "body.bin").read_bytes() == submitted["body"]
    blob_id, ciphertext = submitted["blob"]
    assert sorted(p.name for p in (out / "blobs").iterdir()) == [blob_id]
    assert (out / "blobs" / blob_id).read_bytes() == ciphertext
    named = json.loads(b64u_decode(entry["entry"]))
    assert named["header"] == hashlib.sha256((out / "header.bin").read_bytes()).hexdigest()
    # Not over a folder that holds something, and not for an unknown id.
    assert_one_line_error(
        run("raw", receipt["id"], "--data-dir", data_dir, "--out", out), "output-exists"
    )
    assert_one_line_error(
        run("raw", "00" * 32, "--data-dir", data_dir, "--out", tmp_path / "x"), "entry-not-found"
    )


def test_audit_passes_then_names_a_changed_blob(data_dir: Path) -> None:
    submitted = _submit(data_dir)
    ok = run("audit", "--data-dir", data_dir)
    assert ok.exit_code == 0, ok.output
    blob_id, _ = submitted["blob"]
    path = data_dir / "blobs" / blob_id[:2] / blob_id[2:4] / blob_id
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    failed = run("audit", "--data-dir", data_dir)
    assert failed.exit_code == 1
    assert (
        failed.stdout == f"blob {blob_id}: its bytes do not hash to its id (blob-hash-mismatch)\n"
    )
    assert failed.stderr.endswith("(audit-failed)\n")


def test_rebuild_projections_restores_the_tables_the_log_implies(data_dir: Path) -> None:
    submitted = _submit(data_dir)
    blob_id, _ = submitted["blob"]
    engine = sqlalchemy.create_engine(f"sqlite:///{data_dir}/testimony.sqlite3")

    def derived() -> tuple[list[str], bool]:
        with engine.connect() as connection:
            ids = list(connection.execute(sqlalchemy.text("SELECT id FROM submissions")).scalars())
            referenced = connection.execute(
                sqlalchemy.text("SELECT referenced FROM blobs WHERE id = :id"), {"id": blob_id}
            ).scalar_one()
        return ids, bool(referenced)

    before = derived()
    assert before == ([submitted["receipt"]["id"]], True)
    with engine.begin() as connection:  # the projections lost, as after a bad restore
        connection.execute(sqlalchemy.text("DELETE FROM submissions"))
        connection.execute(sqlalchemy.text("UPDATE blobs SET referenced = false"))
    assert derived() == ([], False)
    rebuilt = run("rebuild-projections", "--data-dir", data_dir)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert rebuilt.stdout == "rebuilt the projections from 2 entries\n"
    assert derived() == before
    engine.dispose()
    assert run("audit", "--data-dir", data_dir).exit_code == 0


def test_audit_by_database_url_needs_the_pinned_key(data_dir: Path) -> None:
    url = f"sqlite:///{data_dir}/testimony.sqlite3"
    unpinned = run("audit", "--database-url", url)
    assert unpinned.exit_code == 1
    assert "(no-log-key)" in unpinned.stdout
    key = run("log-key", "--data-dir", data_dir).stdout.strip()
    pinned = run("audit", "--database-url", url, "--log-key", key)
    assert pinned.exit_code == 0, pinned.output
    assert "blobs not checked" in pinned.stderr


def test_the_console_script_prints_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from testimony.service.cli import main; main()",
            "log-key",
            "--data-dir",
            str(tmp_path / "none"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert ONE_LINE_ERROR.fullmatch(result.stderr), result.stderr
