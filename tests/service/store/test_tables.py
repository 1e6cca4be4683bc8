"""service/store/blob_index.py, upload_table.py, pow_ledger.py: the working tables
behind small named operations, on SQLite and PostgreSQL (docs/protocol.md §6, §8)."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import pytest
from sqlalchemy import Connection, insert, update
from sqlalchemy.engine import Engine

from testimony.service.store import db
from testimony.service.store.blob_index import BlobIndex
from testimony.service.store.errors import UploadQuotaExceeded
from testimony.service.store.log import LogStore
from testimony.service.store.models import Blob, PowUsed
from testimony.service.store.pow_ledger import PowLedger
from testimony.service.store.upload_table import StoredUpload, UploadTable

from .support import stand_in_sign, submission_entry

HOUR = 1_700_002_800
DEADLINE = 60.0


def _blob(n: int) -> str:
    return f"{n:064x}"


# --- BlobIndex -------------------------------------------------------------------------


def test_a_recorded_blob_expires_only_while_unreferenced_and_old(engine: Engine) -> None:
    index = BlobIndex(engine)
    index.record({_blob(1): 10, _blob(2): 20}, created=HOUR)
    assert list(index.iter_ids()) == [_blob(1), _blob(2)]
    assert index.is_referenced(_blob(1)) is False and index.is_referenced(_blob(9)) is None
    assert index.unreferenced_since(HOUR - 3600) == []
    assert index.unreferenced_since(HOUR) == [_blob(1), _blob(2)]

    # A submission naming blob 2 marks it referenced (SubmissionProjection).
    LogStore(engine).append_batch([submission_entry(7, attachments=[_blob(2)])], stand_in_sign)
    assert index.is_referenced(_blob(2)) is True
    assert index.unreferenced_since(HOUR) == [_blob(1)]
    assert not index.delete_unreferenced(_blob(2), cutoff=HOUR)
    assert not index.delete_unreferenced(_blob(1), cutoff=HOUR - 3600)  # too young
    assert index.delete_unreferenced(_blob(1), cutoff=HOUR)
    assert not index.delete_unreferenced(_blob(1), cutoff=HOUR)  # gone already
    assert list(index.iter_ids(chunk=1)) == [_blob(2)]


def test_recording_again_or_claiming_restarts_an_unreferenced_blobs_expiry(engine: Engine) -> None:
    index = BlobIndex(engine)
    index.record({_blob(1): 10, _blob(2): 10}, created=HOUR)
    index.record({_blob(1): 10}, created=HOUR + 3600)
    index.record({_blob(1): 10}, created=HOUR)  # never moves back
    assert index.unreferenced_since(HOUR) == [_blob(2)]

    assert index.claim([_blob(2), _blob(3)], now=HOUR + 7200) == {_blob(2)}
    assert index.unreferenced_since(HOUR + 3600) == [_blob(1)]
    # Expiry that listed blob 2 before the claim does not delete it after.
    assert not index.delete_unreferenced(_blob(2), cutoff=HOUR)
    assert index.claim([], now=HOUR) == set()


def test_a_claim_and_an_expiry_racing_never_both_win(engine: Engine) -> None:
    """Whichever commits first decides: a claimed blob keeps its row, a deleted one is not claimed."""
    index = BlobIndex(engine)
    blobs = [_blob(n) for n in range(40)]
    index.record(dict.fromkeys(blobs, 1), created=HOUR)
    start = threading.Barrier(2)
    claimed: set[str] = set()
    deleted: set[str] = set()

    def claim() -> None:
        start.wait(DEADLINE)
        for blob_id in blobs:
            claimed.update(index.claim([blob_id], now=HOUR + 7200))

    def expire() -> None:
        start.wait(DEADLINE)
        for blob_id in reversed(blobs):
            if index.delete_unreferenced(blob_id, cutoff=HOUR):
                deleted.add(blob_id)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(claim), pool.submit(expire)]:
            future.result(DEADLINE)
    assert claimed | deleted == set(blobs)
    assert not claimed & deleted
    assert set(index.iter_ids()) == claimed


# --- UploadTable -----------------------------------------------------------------------


def _upload(n: int, length: int = 100, *, expires: int = HOUR + 3600) -> StoredUpload:
    return StoredUpload(
        id=f"upload-{n:016d}", length=length, offset=0, sha256=_blob(n), expires=expires
    )


def test_uploads_are_created_read_advanced_and_expired(engine: Engine) -> None:
    table = UploadTable(engine)
    table.insert_within_budget(_upload(1), unit=1, budget=1000)
    table.insert_within_budget(_upload(2, expires=HOUR), unit=1, budget=1000)
    assert table.get(_upload(1).id) == _upload(1)
    assert table.get("upload-unknown-0000") is None
    assert table.unfinished_of(_blob(1)) == [_upload(1)]
    assert table.unfinished_of(_blob(3)) == []

    table.set_offset(_upload(1).id, 100)
    finished = table.get(_upload(1).id)
    assert finished is not None and finished.finished
    assert table.unfinished_of(_blob(1)) == []
    assert [u.id for u in table.expired(HOUR)] == [_upload(2).id]
    table.delete(_upload(2).id)
    assert table.expired(HOUR + 3600) == [finished]


def test_the_budget_counts_unfinished_uploads_and_unreferenced_blobs(engine: Engine) -> None:
    """Each at least a unit: declared lengths of unfinished uploads, sizes of
    blobs no entry names."""
    table, index = UploadTable(engine), BlobIndex(engine)
    table.insert_within_budget(_upload(1, 60), unit=10, budget=100)
    with pytest.raises(UploadQuotaExceeded):
        table.insert_within_budget(_upload(2, 41), unit=10, budget=100)
    table.insert_within_budget(_upload(3, 5), unit=10, budget=100)  # counts 10
    with pytest.raises(UploadQuotaExceeded):
        table.insert_within_budget(_upload(4, 0), unit=10, budget=79)
    assert table.get(_upload(2).id) is None and table.get(_upload(4).id) is None
    assert table.budget_used(unit=10) == 70
    table.set_offset(_upload(1).id, 60)  # finished: its blob counts instead
    index.record({_blob(1): 60, _blob(7): 3}, created=HOUR)
    assert table.budget_used(unit=10) == 60 + 10 + 10
    with db.writer_connection(engine) as connection:
        connection.execute(update(Blob).where(Blob.id == _blob(1)).values(referenced=True))
    assert table.budget_used(unit=10) == 20
    table.insert_within_budget(_upload(5, 80), unit=10, budget=100)


def test_a_creation_is_admitted_in_the_transaction_that_inserts_it(engine: Engine) -> None:
    table = UploadTable(engine)
    seen: list[int] = []

    def refuse(connection: Connection, used: int) -> None:
        seen.append(used)
        connection.execute(insert(PowUsed).values(digest=bytes(32), expires=HOUR))
        raise ValueError("refused")

    table.insert_within_budget(_upload(1, 30), unit=1, budget=100)
    with pytest.raises(ValueError, match="refused"):
        table.insert_within_budget(_upload(2, 20), unit=1, budget=100, admit=refuse)
    assert seen == [50]  # the bytes taken with this upload
    assert table.get(_upload(2).id) is None
    assert PowLedger(engine).spend(bytes(32), expires=HOUR, now=HOUR - 60)  # rolled back


def test_concurrent_creations_never_pass_the_budget(engine: Engine) -> None:
    table = UploadTable(engine)
    start = threading.Barrier(8)

    def create(n: int) -> bool:
        start.wait(DEADLINE)
        try:
            table.insert_within_budget(_upload(n), unit=1, budget=300)
        except UploadQuotaExceeded:
            return False
        return True

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        created = list(pool.map(create, range(8), timeout=DEADLINE))
    assert created.count(True) == 3


@pytest.mark.postgres
def test_on_postgres_uploads_and_appends_do_not_wait_for_each_other(engine: Engine) -> None:
    if db.is_sqlite(engine):
        pytest.skip("SQLite has one write lock for both")
    table = UploadTable(engine)
    log = LogStore(engine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # While an append holds the log's writer lock, an upload is created.
        with db.writer_connection(engine):
            pool.submit(table.insert_within_budget, _upload(1), unit=1, budget=1000).result(
                DEADLINE
            )
        # While a creation holds the upload quota lock, an entry is appended.
        with db.writer_connection(engine, lock_key=db.UPLOAD_QUOTA_LOCK):
            appended = pool.submit(log.append_batch, [b"entry"], stand_in_sign).result(DEADLINE)
    assert appended.indexes == (0,)
    assert table.get(_upload(1).id) is not None


def _waiting_for_advisory_lock(engine: Engine, key: int) -> bool:
    with engine.connect() as connection:
        waiting = connection.exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid = %(high)s AND objid = %(low)s AND objsubid = 1",
            {"high": key >> 32, "low": key & 0xFFFF_FFFF},
        ).scalar_one()
    return bool(waiting)


@pytest.mark.postgres
def test_on_postgres_two_quota_checks_serialise(engine: Engine) -> None:
    if db.is_sqlite(engine):
        pytest.skip("covered by BEGIN IMMEDIATE")
    table = UploadTable(engine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with db.writer_connection(engine, lock_key=db.UPLOAD_QUOTA_LOCK):
            future = pool.submit(table.insert_within_budget, _upload(1), unit=1, budget=1000)
            deadline = time.monotonic() + DEADLINE
            while not _waiting_for_advisory_lock(engine, db.UPLOAD_QUOTA_LOCK):
                assert time.monotonic() < deadline, "the second creation never queued on the lock"
            assert not future.done()
        future.result(DEADLINE)
    assert table.get(_upload(1).id) is not None


# --- PowLedger -------------------------------------------------------------------------


def test_a_challenge_is_spent_once_and_forgotten_after_its_expiry(engine: Engine) -> None:
    ledger = PowLedger(engine)
    digest = bytes(range(32))
    assert ledger.spend(digest, expires=HOUR, now=HOUR - 600)
    assert not PowLedger(engine).spend(digest, expires=HOUR, now=HOUR - 300)
    # Past its expiry the row is purged (the challenge is refused as expired first).
    assert ledger.spend(bytes(32), expires=HOUR + 3600, now=HOUR)
    assert ledger.spend(digest, expires=HOUR + 3600, now=HOUR)
