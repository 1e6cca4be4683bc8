"""``testimony audit`` (docs/protocol.md §9): passes on an honest store and names
the entry, checkpoint or blob after tampering below the database's rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy.engine import Engine

from testimony.crypto.encoding import b64u_decode
from testimony.service.api.app import create_app
from testimony.service.domain.audit import Finding, audit
from testimony.service.domain.clock import Granularity
from testimony.service.server import audit_settings
from testimony.service.settings import Settings
from testimony.service.store import db
from testimony.service.store.blobs import FilesystemBlobStore
from testimony.service.store.log import LogStore
from tests.service.api.witness_client import WitnessClient
from tests.service.intake_support import TestClient


@pytest.fixture
def populated(initialised: Settings, intake_public: bytes) -> Settings:
    """Three submissions with attachments, each in its own batch (log of 4)."""
    with TestClient(create_app(initialised)) as client:
        key = client.get("/api/v1/log/key").text.strip()
        me = WitnessClient(client, log_key=key, origin="test.invalid/log")
        for n in range(3):
            me.submit(me.seal(intake_public, {f"f{n}.bin": bytes([n]) * 5000}, {"n": n}))
    return initialised


@pytest.fixture
def engine(populated: Settings) -> Iterator[Engine]:
    engine = db.create_engine(populated.resolved_database_url)
    yield engine
    engine.dispose()


def findings(settings: Settings) -> list[Finding]:
    notes, found = audit_settings(settings)
    assert notes == []
    return found


def codes(found: list[Finding]) -> set[str]:
    return {f.code for f in found}


def below_the_rules(engine: Engine, *statements: str) -> None:
    """Run ``statements`` with the append-only triggers out of the way, as an owner could."""
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            names = (
                connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                .scalars()
                .all()
            )
            for name in names:
                connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
        else:
            for table in ("log_entries", "tree_nodes", "checkpoints", "inline_blobs"):
                connection.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for statement in statements:
            connection.execute(sqlalchemy.text(statement))


def test_an_honest_store_passes(populated: Settings) -> None:
    assert findings(populated) == []


def test_the_audit_reports_its_progress_up_to_the_whole_log(populated: Settings) -> None:
    reports: list[tuple[int, int]] = []
    notes, found = audit_settings(populated, progress=lambda *report: reports.append(report))
    assert (notes, found) == ([], [])
    assert reports and reports[-1] == (4, 4)  # the intake-key entry and three submissions
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)


def test_a_changed_blob_byte_is_named(populated: Settings, engine: Engine) -> None:
    with engine.connect() as connection:
        entry = json.loads(
            connection.exec_driver_sql("SELECT entry FROM log_entries WHERE idx = 2").scalar_one()
        )
    blob_id = entry["attachments"][0]
    path = FilesystemBlobStore(populated.blobs_dir).path(blob_id)
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    found = findings(populated)
    assert [(f.code, f.blob, f.index) for f in found] == [("blob-hash-mismatch", blob_id, 2)]
    assert blob_id in found[0].line()


def test_a_missing_attachment_blob_is_named(populated: Settings, engine: Engine) -> None:
    with engine.connect() as connection:
        entry = json.loads(
            connection.exec_driver_sql("SELECT entry FROM log_entries WHERE idx = 3").scalar_one()
        )
    blob_id = entry["attachments"][0]
    FilesystemBlobStore(populated.blobs_dir).path(blob_id).unlink()
    found = findings(populated)
    assert ("blob-missing", blob_id, 3) in [(f.code, f.blob, f.index) for f in found]


def test_a_header_deleted_below_the_triggers_is_named(populated: Settings, engine: Engine) -> None:
    # Headers and inline bodies are rows of `inline_blobs`, committed with their entry.
    with engine.connect() as connection:
        entry = json.loads(
            connection.exec_driver_sql("SELECT entry FROM log_entries WHERE idx = 3").scalar_one()
        )
    below_the_rules(engine, f"DELETE FROM inline_blobs WHERE id = '{entry['header']}'")
    found = findings(populated)
    assert [(f.code, f.blob, f.index) for f in found] == [("blob-missing", entry["header"], 3)]


def test_a_body_byte_changed_below_the_triggers_is_named(
    populated: Settings, engine: Engine
) -> None:
    with engine.connect() as connection:
        entry = json.loads(
            connection.exec_driver_sql("SELECT entry FROM log_entries WHERE idx = 1").scalar_one()
        )
        body = bytearray(
            connection.exec_driver_sql(
                f"SELECT data FROM inline_blobs WHERE id = '{entry['body']}'"
            ).scalar_one()
        )
    body[7] ^= 0x01
    below_the_rules(engine)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("UPDATE inline_blobs SET data = :d WHERE id = :i"),
            {"d": bytes(body), "i": entry["body"]},
        )
    found = findings(populated)
    assert [(f.code, f.blob, f.index) for f in found] == [("blob-hash-mismatch", entry["body"], 1)]


def test_an_entry_changed_below_the_triggers_is_named(populated: Settings, engine: Engine) -> None:
    with engine.connect() as connection:
        original = bytes(
            connection.exec_driver_sql("SELECT entry FROM log_entries WHERE idx = 2").scalar_one()
        )
    altered = original.replace(b'"witness":null', b'"witness":"AAAA"')
    assert altered != original
    below_the_rules(engine)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("UPDATE log_entries SET entry = :e WHERE idx = 2"), {"e": altered}
        )
    found = findings(populated)
    assert ("entry-id-mismatch", 2) in [(f.code, f.index) for f in found]
    # Every checkpoint over the entry no longer matches the entries.
    mismatched = sorted(f.size for f in found if f.code == "checkpoint-root-mismatch")
    assert mismatched == [3, 4]
    assert all(
        f.code in {"entry-id-mismatch", "checkpoint-root-mismatch", "tree-node-mismatch"}
        for f in found
    )


def test_an_entry_and_its_id_changed_together_are_still_found(
    populated: Settings, engine: Engine
) -> None:
    # The attacker also rewrites the stored id and the leaf node: only the
    # signed checkpoints give it away.
    import hashlib

    with engine.connect() as connection:
        original = bytes(
            connection.exec_driver_sql("SELECT entry FROM log_entries WHERE idx = 1").scalar_one()
        )
    altered = original.replace(b'"v":1', b'"v":2')
    leaf = hashlib.sha256(b"\x00" + altered).digest()
    below_the_rules(engine)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("UPDATE log_entries SET entry = :e, entry_id = :i WHERE idx = 1"),
            {"e": altered, "i": leaf},
        )
        connection.execute(
            sqlalchemy.text("UPDATE tree_nodes SET hash = :h WHERE level = 0 AND idx = 1"),
            {"h": leaf},
        )
    found = codes(findings(populated))
    assert "checkpoint-root-mismatch" in found
    assert "entry-id-mismatch" not in found


def test_a_changed_tree_node_is_named(populated: Settings, engine: Engine) -> None:
    below_the_rules(engine, "UPDATE tree_nodes SET hash = tree_nodes.hash WHERE level = 99")
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("UPDATE tree_nodes SET hash = :h WHERE level = 1 AND idx = 0"),
            {"h": bytes(32)},
        )
    found = findings(populated)
    assert ("tree-node-mismatch", 0) in [(f.code, f.index) for f in found]
    assert "level 1, index 0" in next(f.message for f in found if f.code == "tree-node-mismatch")


def test_a_changed_checkpoint_is_named(populated: Settings, engine: Engine) -> None:
    with engine.connect() as connection:
        note = connection.exec_driver_sql(
            "SELECT note FROM checkpoints WHERE size = 3"
        ).scalar_one()
    forged = note.replace("time 2026-11-25T12:00:00Z", "time 2026-11-25T13:00:00Z")
    below_the_rules(engine)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("UPDATE checkpoints SET note = :n WHERE size = 3"), {"n": forged}
        )
    found = findings(populated)
    assert [(f.code, f.size) for f in found] == [("checkpoint-bad-checkpoint-signature", 3)]


def test_deleted_entries_are_named_and_every_finding_is_reported(
    populated: Settings, engine: Engine
) -> None:
    below_the_rules(
        engine, "DELETE FROM submissions WHERE idx = 1", "DELETE FROM log_entries WHERE idx = 1"
    )
    blob = next(p for p in populated.blobs_dir.rglob("*") if p.is_file() and len(p.name) == 64)
    blob.write_bytes(b"not the ciphertext")
    found = findings(populated)
    found_codes = codes(found)
    # One audit names the gap, the checkpoints it breaks and the changed blob.
    assert ("entry-missing", 1, "entry 1 is missing") in [
        (f.code, f.index, f.message) for f in found
    ]
    assert "blob-hash-mismatch" in found_codes
    assert "checkpoint-root-mismatch" in found_codes or "checkpoint-beyond-log" in found_codes


def test_without_a_log_key_the_signatures_are_unchecked_and_that_is_a_finding(
    populated: Settings, engine: Engine
) -> None:
    found = audit(
        log=LogStore(engine),
        engine=engine,
        blobs=None,
        verifier_key=None,
        granularity=Granularity(),
    )
    assert [f.code for f in found] == ["no-log-key"]


def test_times_finer_than_the_granularity_are_named(populated: Settings, engine: Engine) -> None:
    found = audit(
        log=LogStore(engine),
        engine=engine,
        blobs=None,
        verifier_key=None,
        granularity=Granularity(7 * 60),  # 12:00 is not a multiple of 7 minutes since 1970
    )
    assert {"entry-time-too-fine", "checkpoint-time-too-fine"} <= codes(found)


def test_a_pinned_key_of_another_log_fails_every_checkpoint(populated: Settings) -> None:
    from testimony.crypto import note, signing

    other = note.verifier_key(
        "test.invalid/log", signing.public_key_bytes(signing.private_key_from_seed(bytes(32)))
    )
    found = findings(populated.replace(log_key=other))
    assert {f.code for f in found} == {"checkpoint-unknown-checkpoint-key"}
    assert sorted(f.size for f in found) == [1, 2, 3, 4]


def test_the_vector_entry_decodes(vector: dict[str, object]) -> None:
    # The audit reads entries as JCS: the vector's entry is canonical.
    from testimony.crypto import canonical

    entry = b64u_decode(str(vector["entry"]))
    assert canonical.dumps(json.loads(entry)) == entry


def test_audit_needs_a_database(tmp_path: Path) -> None:
    from testimony.service.domain.errors import NotInitialised

    with pytest.raises(NotInitialised):
        audit_settings(Settings(data_dir=tmp_path / "nothing"))
