"""``testimony init`` and opening a data dir (docs/protocol.md §9; the intake-key entry)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from testimony.crypto import checkpoint, hpke, merkle, note
from testimony.crypto.encoding import b64u_decode
from testimony.service.domain.errors import (
    AlreadyInitialised,
    BadKeyFile,
    BadSettings,
    NotInitialised,
)
from testimony.service.domain.log import load_intake_keys, parse_intake_key_entry, read_signer_key
from testimony.service.server import (
    init_data_dir,
    new_intake_key,
    open_server,
    read_intake_public_key,
    rebuild_projections_of,
)
from testimony.service.settings import Settings
from testimony.service.store import db
from testimony.service.store.log import LogStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_makes_secret_files_0600_and_logs_the_intake_key(
    initialised: Settings, intake_public: bytes
) -> None:
    data = initialised.require_data_dir()
    assert mode(data) == 0o700
    assert mode(initialised.log_key_path) == 0o600
    assert mode(initialised.pow_secret_path) == 0o600
    assert len(initialised.pow_secret_path.read_bytes()) == 32

    engine = db.create_engine(initialised.resolved_database_url)
    try:
        log = LogStore(engine)
        assert log.size() == 1
        entry = log.entry(0)
        assert json.loads(entry) == {
            "type": "intake-key",
            "v": 1,
            "key": json.loads(entry)["key"],
            "key_id": hpke.key_id(intake_public),
            "received": "2026-11-25T12:00:00Z",
        }
        assert b64u_decode(json.loads(entry)["key"]) == intake_public
        assert load_intake_keys(log) == {hpke.key_id(intake_public): intake_public}
        # The first checkpoint covers it, signed by the key in the data dir.
        signer = read_signer_key(initialised.log_key_path)
        assert signer.name == "test.invalid/log"
        signed = checkpoint.verify(log.latest_checkpoint().note, str(signer.verifier()))
        assert signed.size == 1 and signed.root == merkle.leaf_hash(entry)
    finally:
        engine.dispose()


def test_init_never_overwrites(initialised: Settings, intake_public: bytes) -> None:
    key_before = initialised.log_key_path.read_bytes()
    with pytest.raises(AlreadyInitialised):
        init_data_dir(initialised, intake_public, origin="test.invalid/log")
    assert initialised.log_key_path.read_bytes() == key_before


def test_init_refuses_a_database_that_holds_a_log(
    initialised: Settings, intake_public: bytes, tmp_path: Path
) -> None:
    other_dir = initialised.replace(
        data_dir=tmp_path / "other", database_url=initialised.resolved_database_url
    )
    with pytest.raises(AlreadyInitialised):
        init_data_dir(other_dir, intake_public)
    assert not (tmp_path / "other" / "log-key").exists()


@pytest.mark.parametrize("origin", ["", "has space", "a+b"])
def test_an_origin_must_be_a_key_name(
    settings: Settings, intake_public: bytes, origin: str
) -> None:
    with pytest.raises(BadSettings):
        init_data_dir(settings, intake_public, origin=origin)


def test_a_readable_log_key_is_refused(initialised: Settings) -> None:
    os.chmod(initialised.log_key_path, 0o644)
    with pytest.raises(BadKeyFile):
        read_signer_key(initialised.log_key_path)


def test_a_garbled_log_key_is_refused_without_quoting_it(initialised: Settings) -> None:
    initialised.log_key_path.write_text("PRIVATE+KEY+nonsense")
    with pytest.raises(BadKeyFile) as caught:
        read_signer_key(initialised.log_key_path)
    assert "nonsense" not in str(caught.value)


def test_opening_an_uninitialised_dir_says_so(tmp_path: Path) -> None:
    with pytest.raises(NotInitialised):
        open_server(Settings(data_dir=tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotInitialised):
        open_server(Settings(data_dir=tmp_path / "empty"))


def test_new_intake_key_writes_a_seed_0600_and_the_public_key(tmp_path: Path) -> None:
    private, public = tmp_path / "k.seed", tmp_path / "k.pub"
    key_id = new_intake_key(private, public)
    assert mode(private) == 0o600 and len(private.read_bytes()) == 32
    public_key = read_intake_public_key(public)
    assert public_key == hpke.public_key(private.read_bytes())
    assert key_id == hpke.key_id(public_key)
    with pytest.raises(AlreadyInitialised):
        new_intake_key(private, tmp_path / "other.pub")


@pytest.mark.parametrize("content", [b"", b"not base64!", b"AAAA", b"\xff"])
def test_a_bad_intake_key_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "k.pub"
    path.write_bytes(content)
    with pytest.raises(BadKeyFile):
        read_intake_public_key(path)


def test_only_intake_key_entries_are_read_as_such() -> None:
    assert parse_intake_key_entry(b'{"type":"submission"}') is None
    assert parse_intake_key_entry(b"not json") is None


def test_the_signer_key_file_holds_a_c2sp_signer_key(initialised: Settings) -> None:
    text = initialised.log_key_path.read_text().strip()
    assert text.startswith("PRIVATE+KEY+test.invalid/log+")
    note.parse_signer_key(text)


def test_only_the_first_server_process_sweeps_temporary_files(initialised: Settings) -> None:
    """A forked worker (``serve --workers``) must not remove another worker's
    temporary file; the first process, started alone, removes a crash's."""
    leftover = initialised.blobs_dir / "tmp" / "put-in-progress"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"ciphertext being written")

    open_server(initialised, first=False).close()
    assert leftover.read_bytes() == b"ciphertext being written"

    open_server(initialised).close()
    assert not leftover.exists()


def test_rebuilding_the_projections_reports_progress_to_the_whole_log(
    initialised: Settings,
) -> None:
    reports: list[tuple[int, int]] = []
    replayed = rebuild_projections_of(initialised, progress=lambda *r: reports.append(r))
    assert replayed == 1  # the intake-key entry
    assert reports == [(1, 1)]
    with pytest.raises(NotInitialised):
        rebuild_projections_of(Settings(data_dir=initialised.require_data_dir() / "absent"))
