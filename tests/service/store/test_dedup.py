"""service/store/log.py: an append item carrying a dedup key resolves to the
entry that first logged that content, against the ``submissions`` projection
and the earlier items of its batch, under the writer lock (docs/protocol.md §3:
"repeating the same request ... appends nothing")."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from testimony.crypto import merkle
from testimony.service.store.batching import AppendBatcher
from testimony.service.store.log import LogStore
from testimony.service.store.models import Submission
from testimony.service.store.projections import SubmissionKey

from .support import read_note, stand_in_sign, submission_entry

DEADLINE = 60.0


def _key(n: int) -> SubmissionKey:
    """The content key of ``submission_entry(n)``."""
    return SubmissionKey("ab" * 16, f"{n + 1:064x}", f"{n:064x}")


def _hour(n: int, hour: int) -> bytes:
    return submission_entry(n, received=f"2024-01-01T{hour:02d}:00:00Z")


def _submission_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(Submission)).scalar_one())


def test_a_logged_content_key_resolves_to_its_first_entry(log: LogStore) -> None:
    first = log.append_batch([b"other", _hour(1, 10)], stand_in_sign, dedup_keys=[None, _key(1)])
    checkpoint = first.checkpoint
    # The same submission an hour later: other bytes, same content key.
    again = log.append_batch([_hour(1, 11)], stand_in_sign, dedup_keys=[_key(1)])
    assert again.indexes == (1,)
    assert again.appended == (False,)
    assert again.ids == (merkle.leaf_hash(_hour(1, 10)),)
    assert again.checkpoint == checkpoint  # nothing new: nothing signed
    again.inclusion[0].verify(again.ids[0], read_note(checkpoint.note)[1])
    assert log.size() == 2
    assert log.entry(1) == _hour(1, 10)


def test_duplicates_within_a_batch_and_with_the_log_are_dropped(log: LogStore) -> None:
    log.append_batch([_hour(1, 10)], stand_in_sign, dedup_keys=[_key(1)])
    batch = [_hour(2, 10), _hour(1, 12), _hour(2, 11), _hour(3, 10), _hour(2, 10)]
    keys = [_key(2), _key(1), _key(2), _key(3), _key(2)]
    result = log.append_batch(batch, stand_in_sign, dedup_keys=keys)
    assert result.indexes == (1, 0, 1, 2, 1)
    assert result.appended == (True, False, False, True, False)
    firsts = [_hour(2, 10), _hour(1, 10), _hour(2, 10), _hour(3, 10), _hour(2, 10)]
    assert result.ids == tuple(merkle.leaf_hash(e) for e in firsts)
    assert result.size == 3
    _size, root = read_note(result.checkpoint.note)
    for entry_id, proof in zip(result.ids, result.inclusion, strict=True):
        proof.verify(entry_id, root)
    assert log.entries(0, 3) == [_hour(1, 10), _hour(2, 10), _hour(3, 10)]
    assert _submission_rows(log.engine) == 3


def test_entries_without_a_key_are_deduplicated_by_bytes_only(log: LogStore) -> None:
    result = log.append_batch([_hour(1, 10), _hour(1, 11), _hour(1, 10)], stand_in_sign)
    assert result.indexes == (0, 1, 0)
    assert result.appended == (True, True, False)


def test_dedup_keys_are_checked(engine: Engine, log: LogStore) -> None:
    with pytest.raises(ValueError, match="one dedup key"):
        log.append_batch([b"a", b"b"], stand_in_sign, dedup_keys=[None])
    without_index = LogStore(engine, dedup_index=None)
    with pytest.raises(ValueError, match="no dedup index"):
        without_index.append_batch([_hour(1, 10)], stand_in_sign, dedup_keys=[_key(1)])
    assert without_index.append_batch([b"a"], stand_in_sign, dedup_keys=[None]).indexes == (0,)
    assert log.size() == 1


def test_two_threads_appending_one_content_in_different_hours_append_once(
    log: LogStore,
) -> None:
    """Both pass any earlier lookup; the writer lock lets exactly one append."""

    def append(start: threading.Barrier, n: int, hour: int) -> tuple[int, bool]:
        start.wait(DEADLINE)
        result = log.append_batch([_hour(n, hour)], stand_in_sign, dedup_keys=[_key(n)])
        return result.indexes[0], result.appended[0]

    for round_ in range(10):
        start = threading.Barrier(2)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(append, start, round_, hour) for hour in (10, 11)]
            outcomes = [future.result(DEADLINE) for future in futures]
        assert outcomes[0][0] == outcomes[1][0] == round_
        assert sorted(appended for _index, appended in outcomes) == [False, True]
    assert log.size() == 10
    assert _submission_rows(log.engine) == 10


def test_the_batcher_passes_dedup_keys(log: LogStore) -> None:
    with AppendBatcher(log, stand_in_sign) as batcher:
        futures = [
            batcher.submit_future(_hour(1, hour), dedup_key=_key(1)) for hour in (10, 11, 12)
        ]
        receipts = [future.result(DEADLINE) for future in futures]
        later = batcher.submit(_hour(1, 13), dedup_key=_key(1))
    assert {r.index for r in [*receipts, later]} == {0}
    assert {r.entry_id for r in [*receipts, later]} == {merkle.leaf_hash(_hour(1, 10))}
    assert [r.appended for r in receipts] == [True, False, False]
    assert not later.appended
    assert log.size() == 1
