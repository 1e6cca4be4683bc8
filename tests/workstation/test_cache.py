"""The workstation's cache is encrypted at rest: nothing decrypted reaches
the disk in the clear, and only this reviewer's identity opens it."""

from __future__ import annotations

from pathlib import Path

import pytest

from testimony.crypto import keyfile
from testimony.crypto.keyring import Identity
from testimony.workstation import home as homes
from testimony.workstation.cache import CACHE_FILE, Cache

PASSPHRASE = "a passphrase for the cache tests"
CANARY = "CANARY-CACHE Айгуль видела пожар в Масанчи"


def _identity(folder: Path) -> Identity:
    homes.create_identity(folder, PASSPHRASE, cost=keyfile.FAST_FOR_TESTS)
    return homes.unlock_identity(folder, PASSPHRASE)


def test_what_is_cached_reads_back_and_is_nowhere_on_disk_in_the_clear(tmp_path: Path) -> None:
    identity = _identity(tmp_path)
    secret = b"\x42" * 32
    with Cache(tmp_path, identity) as cache:
        with cache.transaction():
            cache.put_record("testimony", "a" * 64, {"narrative": CANARY})
            cache.add_group(0, secret)
            cache.put("server", "http://intake.example")
        assert cache.record("testimony", "a" * 64) == {"narrative": CANARY}
        on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
        for needle in (
            CANARY.encode(),
            "CANARY-CACHE".encode("utf-16-le"),
            secret,
            b"intake.example",
        ):
            assert needle not in on_disk
    with Cache(tmp_path, identity) as cache:
        assert cache.record("testimony", "a" * 64) == {"narrative": CANARY}
        assert cache.groups() == {0: secret}
        assert cache.get("server") == "http://intake.example"
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert CANARY.encode() not in on_disk and b"SQLite format 3" not in on_disk


def test_another_reviewer_s_identity_does_not_open_it(tmp_path: Path) -> None:
    with Cache(tmp_path / "a", _identity(tmp_path / "a")):
        pass
    (tmp_path / "b").mkdir()
    other = _identity(tmp_path / "b")
    (tmp_path / "b" / CACHE_FILE).write_bytes((tmp_path / "a" / CACHE_FILE).read_bytes())
    with pytest.raises(homes.WorkstationError) as caught:
        Cache(tmp_path / "b", other)
    assert caught.value.code == "cache-unreadable"


def test_a_damaged_cache_is_one_clear_error(tmp_path: Path) -> None:
    identity = _identity(tmp_path)
    with Cache(tmp_path, identity) as cache, cache.transaction():
        cache.put_record("note", "1", {"text": CANARY})
    path = tmp_path / CACHE_FILE
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(homes.WorkstationError) as caught:
        Cache(tmp_path, identity)
    assert caught.value.code == "cache-unreadable"
    assert CANARY not in str(caught.value)


def test_a_failed_transaction_keeps_nothing(tmp_path: Path) -> None:
    identity = _identity(tmp_path)
    with Cache(tmp_path, identity) as cache:
        with pytest.raises(RuntimeError), cache.transaction():
            cache.put_record("tag", "x", {"tag": "arson"})
            raise RuntimeError("interrupted")
        assert cache.record("tag", "x") is None
