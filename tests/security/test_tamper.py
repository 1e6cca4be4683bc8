"""Tamper evidence (issue 12): change the stored state below the application —
as whoever holds the machine can — and prove it is found.

A log is written by a real ``testimony serve`` (receipts held by its
clients), copied per test, and changed on disk: a byte of an entry row, the
last entry row deleted, the database rolled back to an earlier copy, a blob
file altered, a checkpoint's signature replaced. For each, ``testimony audit``
exits non-zero with the finding that names it, or a client holding an earlier
receipt or checkpoint refuses what the server then serves, with the
protocol's own checks (``testimony.crypto.checkpoint``, ``merkle``,
``receipts``). Forked checkpoints — two signed trees of the same size with
different roots, or a tree that does not extend the one a client holds — are
refused by the same checks.

Known limits are tests too: a database replaced by an earlier copy of itself
is a consistent shorter log, which ``audit`` alone cannot tell from an honest
one (only a client or witness holding a later checkpoint can). A log cut
together with its checkpoint and tree nodes is named by the header and body
rows that outlive their entry (``inline-blob-unnamed``).
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testimony.client.errors import ServerRefused
from testimony.crypto import checkpoint, entries, merkle, note, signing
from testimony.crypto.errors import (
    CheckpointError,
    NoteSignatureError,
    ProofError,
    UnknownKeyError,
)
from testimony.service.domain.log import read_signer_key
from testimony.service.testing import LiveServer, start_server
from tests.security.live_log import (
    ORIGIN,
    LogClient,
    Sealed,
    run_testimony,
    seal,
    submit,
)
from tests.service.courier.support import init_data

DATABASE = "testimony.sqlite3"
EARLY = 4
"""Entries when the early copy of the database is taken (the intake key and 3 submissions)."""


@dataclass(frozen=True)
class Logged:
    """A data directory written by a real server, and what its clients hold."""

    data_dir: Path
    log_key: str
    receipts: list[tuple[Sealed, dict[str, Any]]]
    early_copy: Path
    """The database files as they were at EARLY entries."""
    size: int


def _database_files(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.glob(DATABASE + "*") if not p.name.endswith(".writer")]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Logged:
    """Six submissions (two with an attachment stored as a file blob), each in
    its own batch, so that a checkpoint is signed at every size from 1 to 7; a
    copy of the database is taken after the first three."""
    folder = tmp_path_factory.mktemp("logged")
    data_dir = init_data(folder)
    receipts: list[tuple[Sealed, dict[str, Any]]] = []
    early_copy = folder / "early"
    early_copy.mkdir()
    log_key = ""
    for phase in range(2):
        server = start_server(data_dir, folder / "server-output.txt")
        try:
            log_key = server.log_key()
            for n in range(3):
                sealed = seal(phase * 3 + n, bytes([n]) * 3000 if n == 1 else None)
                receipts.append((sealed, submit(server.url, sealed)))
        finally:
            assert "Traceback" not in server.stop()
        if phase == 0:
            for path in _database_files(data_dir):
                shutil.copy2(path, early_copy / path.name)
    assert [r["index"] for _, r in receipts] == list(range(1, 7))
    return Logged(data_dir, log_key, receipts, early_copy, size=7)


@pytest.fixture
def copy(logged: Logged, tmp_path: Path) -> Path:
    """A copy of the logged data directory, this test's to change."""
    target = tmp_path / "data"
    shutil.copytree(logged.data_dir, target)
    return target


@contextlib.contextmanager
def below_the_rules(data_dir: Path) -> Iterator[sqlite3.Connection]:
    """The database with its append-only triggers dropped, as its owner could."""
    with contextlib.closing(sqlite3.connect(data_dir / DATABASE)) as db:
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            db.execute(f'DROP TRIGGER "{name}"')
        yield db
        db.commit()


def audit_lines(data_dir: Path) -> list[str]:
    """``testimony audit``'s finding lines; asserts that it exits non-zero."""
    result = run_testimony("audit", "--data-dir", data_dir)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    assert "(audit-failed)" in result.stderr
    return result.stdout.splitlines()


def audit_passes(data_dir: Path) -> bool:
    result = run_testimony("audit", "--data-dir", data_dir)
    assert "Traceback" not in result.stderr
    return result.returncode == 0


@contextlib.contextmanager
def serving(data_dir: Path, log_key: str) -> Iterator[tuple[LiveServer, LogClient]]:
    """A server started on ``data_dir`` and a client that pinned ``log_key``."""
    server = start_server(data_dir, data_dir.parent / "server-output.txt")
    try:
        with LogClient(server.url, log_key) as client:
            yield server, client
    finally:
        assert "Traceback" not in server.stop()


def test_the_untouched_log_passes_and_every_receipt_is_proved(logged: Logged, copy: Path) -> None:
    # The baseline every other test departs from.
    assert audit_passes(copy)
    with serving(copy, logged.log_key) as (_, client):
        for sealed, receipt in logged.receipts:
            client.check_receipt(receipt, sealed.request)


# --- changes the audit names -----------------------------------------------------------


def test_a_flipped_byte_in_an_entry_row_is_named_and_its_receipt_no_longer_matches(
    logged: Logged, copy: Path
) -> None:
    with below_the_rules(copy) as db:
        (entry,) = db.execute("SELECT entry FROM log_entries WHERE idx = 3").fetchone()
        at = bytes(entry).index(b'"header":"') + 20
        flipped = bytearray(entry)
        flipped[at] ^= 0x01
        db.execute("UPDATE log_entries SET entry = ? WHERE idx = 3", (bytes(flipped),))
    lines = audit_lines(copy)
    assert any(line.startswith("entry 3: ") and "(entry-id-mismatch)" in line for line in lines)
    # Every checkpoint signed over entry 3 no longer matches the entries.
    assert {f"checkpoint at size {size}" for size in range(4, 8)} <= {
        line.split(":")[0] for line in lines if "(checkpoint-root-mismatch)" in line
    }
    # The witness holding entry 3's receipt is not served the entry it was given.
    sealed, receipt = logged.receipts[2]
    with (
        serving(copy, logged.log_key) as (_, client),
        pytest.raises(AssertionError, match="entry 3 is not the receipt's"),
    ):
        client.check_receipt(receipt, sealed.request)


def test_a_deleted_last_entry_row_is_named_and_its_receipt_is_not_served(
    logged: Logged, copy: Path
) -> None:
    with below_the_rules(copy) as db:
        db.execute("DELETE FROM log_entries WHERE idx = 6")
    lines = audit_lines(copy)
    assert "checkpoint at size 7: the log has only 6 entries (checkpoint-beyond-log)" in lines
    sealed, receipt = logged.receipts[-1]
    with serving(copy, logged.log_key) as (_, client), pytest.raises(ServerRefused):
        client.check_receipt(receipt, sealed.request)


def test_an_altered_blob_file_is_named(logged: Logged, copy: Path) -> None:
    sealed, _ = logged.receipts[1]  # the first submission with an attachment
    ((blob, _),) = sealed.blobs.items()
    path = copy / "blobs" / blob[:2] / blob[2:4] / blob
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x80
    path.write_bytes(bytes(data))
    lines = audit_lines(copy)
    assert lines == [f"blob {blob}: its bytes do not hash to its id (blob-hash-mismatch)"]


def _signature_of(signed: str) -> str:
    return signed.rstrip("\n").rsplit("\n", 1)[1]


@pytest.mark.parametrize("how", ["another checkpoint's signature", "another key's signature"])
def test_a_replaced_checkpoint_signature_is_named_and_refused_by_clients(
    logged: Logged, copy: Path, how: str
) -> None:
    with below_the_rules(copy) as db:
        notes = dict(db.execute("SELECT size, note FROM checkpoints"))
        original = notes[7]
        if how == "another checkpoint's signature":
            # The log key's own, valid signature, of another text.
            forged = original.replace(_signature_of(original), _signature_of(notes[6]))
            expected, refusal = "checkpoint-bad-checkpoint-signature", NoteSignatureError
        else:
            # Signed under the log's name by a key that is not the log's.
            other = signing.private_key_from_seed(bytes(range(32)))
            forged = note.sign_note(note.parse_note(original).text, other, ORIGIN)
            expected, refusal = "checkpoint-unknown-checkpoint-key", UnknownKeyError
        assert forged != original
        db.execute("UPDATE checkpoints SET note = ? WHERE size = 7", (forged,))
    assert audit_lines(copy) == [
        f"checkpoint at size 7: {refusal.__doc__} ({expected})",
        # and so the last entry is signed by nothing
        "entries 6 to 6 are covered by no checkpoint (log-unsigned-tail)",
    ]
    # What a client is served as the latest checkpoint, it refuses.
    with pytest.raises(refusal):
        checkpoint.verify(forged, logged.log_key, origin=ORIGIN)


# --- a rollback, and forks --------------------------------------------------------------


def _roll_back(logged: Logged, data_dir: Path) -> None:
    for path in _database_files(data_dir):
        path.unlink()
    for path in logged.early_copy.iterdir():
        shutil.copy2(path, data_dir / path.name)


def test_a_database_rolled_back_to_an_earlier_copy_is_refused_by_clients_holding_later_receipts(
    logged: Logged, copy: Path
) -> None:
    _roll_back(logged, copy)
    # Limit: the copy is an honest shorter log; the data directory alone cannot
    # tell (docs/security.md). Only what clients and witnesses hold can.
    assert audit_passes(copy)
    later = [(s, r) for s, r in logged.receipts if r["index"] >= EARLY]
    held = checkpoint.verify(later[-1][1]["checkpoint"], logged.log_key, origin=ORIGIN)
    with serving(copy, logged.log_key) as (server, client):
        _, served = client.served_checkpoint()
        assert served.size == EARLY < held.size
        with pytest.raises(AssertionError, match="rolled back"):
            client.check_grew_from(held, served)
        for sealed, receipt in later:
            with pytest.raises(AssertionError, match=r"rolled back|beyond the served log"):
                client.check_receipt(receipt, sealed.request)
        for sealed, receipt in logged.receipts:
            if receipt["index"] < EARLY:  # receipts from before the copy still hold
                client.check_receipt(receipt, sealed.request)

        # The rolled-back server signs new entries until it is as large as the
        # log the client saw, and larger: a fork, refused both ways.
        forked: list[checkpoint.Checkpoint] = []
        for n in range(held.size - EARLY + 1):
            submit(server.url, seal(1000 + n))
            forked.append(client.served_checkpoint()[1])
        same_size = next(c for c in forked if c.size == held.size)
        assert same_size.root != held.root  # both signed by the log key
        with pytest.raises(ProofError):
            client.check_grew_from(held, same_size)
        assert forked[-1].size > held.size
        with pytest.raises(ProofError):
            client.check_grew_from(held, forked[-1])
    # The fork is a consistent log too: the audit passes it.
    assert audit_passes(copy)


def test_a_log_cut_with_its_checkpoint_and_tree_nodes_is_named(logged: Logged, copy: Path) -> None:
    with below_the_rules(copy) as db:
        db.execute("DELETE FROM log_entries WHERE idx = 6")
        db.execute("DELETE FROM checkpoints WHERE size = 7")
        db.execute("DELETE FROM tree_nodes WHERE (idx + 1) << level > 6")
    lines = audit_lines(copy)
    assert any("inline-blob-unnamed" in line for line in lines), lines


def test_a_log_cut_with_its_checkpoint_is_refused_by_the_client_holding_the_last_receipt(
    logged: Logged, copy: Path
) -> None:
    with below_the_rules(copy) as db:
        db.execute("DELETE FROM log_entries WHERE idx = 6")
        db.execute("DELETE FROM checkpoints WHERE size = 7")
        db.execute("DELETE FROM tree_nodes WHERE (idx + 1) << level > 6")
        # What outlives the cut (what the audit names, see the test above).
        named = {
            blob
            for (entry,) in db.execute("SELECT entry FROM log_entries")
            for blob in entries.parse_entry(bytes(entry)).kept_blobs()
        }
        inline = {blob for (blob,) in db.execute("SELECT id FROM inline_blobs")}
        assert len(inline - named) == 2  # the cut submission's header and body
    sealed, receipt = logged.receipts[-1]
    with serving(copy, logged.log_key) as (_, client):
        _, served = client.served_checkpoint()
        assert served.size == 6
        with pytest.raises(AssertionError, match=r"rolled back|beyond the served log"):
            client.check_receipt(receipt, sealed.request)


def test_checkpoints_of_a_forked_tree_are_refused_by_the_client_checks(logged: Logged) -> None:
    # Two trees that agree on 3 leaves, then differ; each checkpoint is signed
    # by the real log key, so each verifies alone.
    signer = read_signer_key(logged.data_dir / "log-key")
    time = checkpoint.parse(logged.receipts[0][1]["checkpoint"]).time

    def signed_tree(leaves: list[bytes]) -> tuple[merkle.MemoryHashStore, checkpoint.Checkpoint]:
        store = merkle.MemoryHashStore()
        result = merkle.append(0, [merkle.leaf_hash(leaf) for leaf in leaves], store)
        store.write_nodes(result.nodes)
        text = checkpoint.sign(ORIGIN, result.size, result.root, signer.private_key, ORIGIN, time)
        return store, checkpoint.verify(text, logged.log_key, origin=ORIGIN)

    shared = [b"leaf %d" % n for n in range(3)]
    _, held = signed_tree([*shared, b"what the client saw", b"more"])
    _, same_size = signed_tree([*shared, b"rewritten", b"more"])
    assert (same_size.size, same_size.root != held.root) == (held.size, True)
    with pytest.raises(ProofError):
        merkle.verify_consistency(held.size, same_size.size, held.root, same_size.root, [])
    # A larger forked tree, with the best proof its own nodes give.
    longer_store, longer = signed_tree([*shared, b"rewritten", b"more", b"and more"])
    path = merkle.consistency_proof(held.size, longer.size, longer_store)
    with pytest.raises(ProofError):
        merkle.verify_consistency(held.size, longer.size, held.root, longer.root, path)
    # The honest extension of the same tree passes (the check is not simply refusing).
    honest_store, honest = signed_tree([*shared, b"what the client saw", b"more", b"and more"])
    merkle.verify_consistency(
        held.size, honest.size, held.root, honest.root,
        merkle.consistency_proof(held.size, honest.size, honest_store),
    )  # fmt: skip
    # A checkpoint signed by any other key is refused whatever its tree.
    other = signing.private_key_from_seed(bytes(32))
    text = checkpoint.sign(ORIGIN, held.size, held.root, other, ORIGIN, time)
    with pytest.raises(CheckpointError):
        checkpoint.verify(text, logged.log_key, origin=ORIGIN)


def test_a_cosignature_forged_or_orphaned_in_the_database_is_named(
    logged: Logged, copy: Path
) -> None:
    """The witnesses' cosignatures (§13) are kept in their own table, served
    below the log's signature: a line replaced there, or one naming no
    checkpoint, is named by the audit for every witness the settings name."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from testimony.crypto import cosignature
    from testimony.service.server import audit_settings
    from testimony.service.settings import Settings

    signer = cosignature.CosignerSigner("witness.test/w", Ed25519PrivateKey.generate())
    witness = f"{signer.key.name}+{signer.key.key_id.hex()}"
    settings = Settings(data_dir=copy, log_witnesses=(f"http://127.0.0.1:9={signer.key}",))
    with contextlib.closing(sqlite3.connect(copy / DATABASE)) as db:
        (text,) = db.execute("SELECT note FROM checkpoints WHERE size = 7").fetchone()
    honest = cosignature.cosign(text, signer, 1_800_000_000)
    with below_the_rules(copy) as db:
        db.execute("INSERT INTO cosignatures VALUES (7, ?, ?)", (witness, honest))
    assert audit_settings(settings)[1] == []
    forged = cosignature.cosign(text, signer, 1_800_000_001)[:-6] + "AAAA=\n"
    with below_the_rules(copy) as db:
        db.execute("UPDATE cosignatures SET line = ? WHERE size = 7", (forged,))
        db.execute("INSERT INTO cosignatures VALUES (99, ?, ?)", (witness, honest))
    codes = {(f.code, f.size) for f in audit_settings(settings)[1]}
    assert codes == {("cosignature-bad", 7), ("cosignature-orphan", 99)}
