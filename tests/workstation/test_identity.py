"""The reviewer's identity on a workstation: keys made once, sealed under a
passphrase, readable by nobody without it (docs/protocol.md §12.1)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from testimony.crypto import keyfile
from testimony.crypto.encoding import b64u_encode
from testimony.crypto.errors import MalformedInput
from testimony.crypto.keyring import reviewer_id
from testimony.service.cli import app
from testimony.workstation import home as homes

PASSPHRASE = "CANARY-passphrase correct horse battery"
FAST = keyfile.FAST_FOR_TESTS


def test_an_identity_is_sealed_and_opens_only_with_its_passphrase(tmp_path: Path) -> None:
    public = homes.create_identity(tmp_path / "ws", PASSPHRASE, cost=FAST)
    assert public.id == reviewer_id(public.sign_key)
    identity = homes.unlock_identity(tmp_path / "ws", PASSPHRASE)
    assert identity.id == public.id and identity.box_public == public.box_key
    assert homes.read_public_identity(tmp_path / "ws") == public
    with pytest.raises(keyfile.KeyfileError) as caught:
        homes.unlock_identity(tmp_path / "ws", PASSPHRASE + " ")
    assert caught.value.code == "wrong-passphrase"
    assert PASSPHRASE not in str(caught.value)


def test_the_file_holds_no_secret_in_the_clear_and_is_private(tmp_path: Path) -> None:
    homes.create_identity(tmp_path / "ws", PASSPHRASE, cost=FAST)
    identity = homes.unlock_identity(tmp_path / "ws", PASSPHRASE)
    path = tmp_path / "ws" / homes.IDENTITY_FILE
    data = path.read_bytes()
    for secret in (identity.sign_seed, identity.box_seed):
        assert secret not in data
        assert b64u_encode(secret).encode() not in data
        assert secret.hex().encode() not in data
    assert PASSPHRASE.encode() not in data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ws").stat().st_mode) == 0o700


def test_an_identity_is_never_overwritten(tmp_path: Path) -> None:
    first = homes.create_identity(tmp_path, PASSPHRASE, cost=FAST)
    with pytest.raises(homes.WorkstationError) as caught:
        homes.create_identity(tmp_path, "another passphrase", cost=FAST)
    assert caught.value.code == "identity-exists"
    assert homes.read_public_identity(tmp_path) == first


@pytest.mark.parametrize(
    "alter",
    [
        lambda f: f["kdf"].update(iterations=f["kdf"]["iterations"] + 1),
        lambda f: f["public"].update(reviewer="0" * 32),
        lambda f: f.update(sealed=f["sealed"][:-2] + ("AA" if f["sealed"][-2:] != "AA" else "BB")),
        lambda f: f.update(nonce="AAAAAAAAAAAAAAAA"),
    ],
    ids=["kdf", "public", "sealed", "nonce"],
)
def test_an_altered_file_does_not_open(tmp_path: Path, alter: object) -> None:
    homes.create_identity(tmp_path, PASSPHRASE, cost=FAST)
    path = tmp_path / homes.IDENTITY_FILE
    file = json.loads(path.read_bytes())
    alter(file)  # type: ignore[operator]
    path.write_text(json.dumps(file), encoding="utf-8")
    with pytest.raises((keyfile.KeyfileError, MalformedInput)):
        keyfile.open_(path.read_bytes(), PASSPHRASE)
    with pytest.raises((keyfile.KeyfileError, homes.WorkstationError)):
        homes.unlock_identity(tmp_path, PASSPHRASE)


@pytest.mark.parametrize("data", [b"", b"{}", b"not json", b'{"v":1}', b"\xff" * 40])
def test_what_is_no_key_file_is_one_clear_error(data: bytes) -> None:
    with pytest.raises(MalformedInput):
        keyfile.open_(data, PASSPHRASE)


def test_absurd_kdf_parameters_are_refused_before_any_work(tmp_path: Path) -> None:
    sealed = json.loads(keyfile.seal({"a": 1}, PASSPHRASE, label="t", cost=FAST))
    sealed["kdf"]["memory_kib"] = 1 << 40
    with pytest.raises(MalformedInput, match="out of range"):
        keyfile.open_(json.dumps(sealed).encode(), PASSPHRASE)


# --- the commands ---------------------------------------------------------------------


def _testimony(*args: str, passphrase: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    if passphrase is not None:
        env["TESTIMONY_PASSPHRASE"] = passphrase
    return subprocess.run(
        [sys.executable, "-c", "from testimony.service.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_reviewer_new_prints_the_fingerprint_and_show_reads_it_back(tmp_path: Path) -> None:
    made = _testimony(
        "reviewer", "new", "--workstation", str(tmp_path / "ws"), passphrase=PASSPHRASE
    )
    assert made.returncode == 0, made.stderr
    line = made.stdout.splitlines()[0]
    assert line.startswith("reviewer id: ")
    fingerprint = line.removeprefix("reviewer id: ")
    assert len(fingerprint.replace(" ", "")) == 32
    shown = _testimony("reviewer", "show", "--workstation", str(tmp_path / "ws"))
    assert shown.returncode == 0 and shown.stdout.strip() == line
    assert PASSPHRASE not in made.stdout + made.stderr


def test_reviewer_new_reads_the_passphrase_file(tmp_path: Path) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "reviewer",
            "new",
            "--workstation",
            str(tmp_path / "ws"),
            "--passphrase-file",
            str(secret),
        ],
    )
    assert result.exit_code == 0, result.output
    assert homes.unlock_identity(tmp_path / "ws", PASSPHRASE).id in result.output.replace(" ", "")


@pytest.mark.parametrize(
    ("passphrase", "code"),
    [(None, "no-passphrase"), ("short", "passphrase-too-short")],
)
def test_a_missing_or_short_passphrase_is_one_line_and_writes_nothing(
    tmp_path: Path, passphrase: str | None, code: str
) -> None:
    result = _testimony(
        "reviewer", "new", "--workstation", str(tmp_path / "ws"), passphrase=passphrase
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.strip().endswith(f"({code})")
    assert not (tmp_path / "ws" / homes.IDENTITY_FILE).exists()


def test_a_second_identity_is_refused_in_one_line(tmp_path: Path) -> None:
    homes.create_identity(tmp_path / "ws", PASSPHRASE, cost=FAST)
    result = _testimony(
        "reviewer", "new", "--workstation", str(tmp_path / "ws"), passphrase=PASSPHRASE
    )
    assert result.returncode == 1
    assert result.stderr.strip().endswith("(identity-exists)")
    assert "Traceback" not in result.stderr


def test_show_without_an_identity_says_what_to_run(tmp_path: Path) -> None:
    result = _testimony("reviewer", "show", "--workstation", str(tmp_path))
    assert result.returncode == 1
    assert "testimony reviewer new" in result.stderr and "(no-identity)" in result.stderr
