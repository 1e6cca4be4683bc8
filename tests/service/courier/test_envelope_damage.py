"""Damaged envelopes are refused with ``EnvelopeInvalid`` and nothing else
(issue 12 item 4; service/courier/envelope.py, docs/protocol.md §4).

A 4,000-case mutation fuzz of ``read_envelope`` once raised ``EOFError``
(member sizes past the end of the file), ``NotImplementedError`` (a bad
"version needed to extract"), ``UnicodeDecodeError`` (an invalid UTF-8 name
with the UTF-8 flag set) and ``OSError(EINVAL)`` (a header placed before the
start of the file). Each symptom has a crafted case here, beside a seeded
mutation fuzz and a hypothesis one; ``tests/fuzz/fuzz_envelope.py`` is the
coverage-guided harness.
"""

from __future__ import annotations

import errno
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testimony.service.courier import upload
from testimony.service.courier.envelope import read_envelope
from testimony.service.courier.errors import EnvelopeInvalid
from testimony.service.courier.upload import Courier

from . import damage

FUZZ_CASES = 2_000
FUZZ_SEED = 20_260_412


def _outcome(path: Path) -> str:
    """``ok``, ``EnvelopeInvalid``, or the name of any other exception raised."""
    try:
        read_envelope(path)
    except EnvelopeInvalid:
        return "EnvelopeInvalid"
    except Exception as exc:  # what the test is looking for
        return type(exc).__name__
    return "ok"


@pytest.mark.timeout(120)
def test_a_seeded_mutation_fuzz_raises_only_envelope_invalid(tmp_path: Path) -> None:
    rng = random.Random(FUZZ_SEED)
    outcomes: Counter[str] = Counter()
    first: dict[str, int] = {}
    for case in range(FUZZ_CASES):
        path = damage.write(tmp_path, "case.testimony", damage.mutate(rng))
        outcome = _outcome(path)
        outcomes[outcome] += 1
        first.setdefault(outcome, case)
    escaped = {
        name: count for name, count in outcomes.items() if name not in ("ok", "EnvelopeInvalid")
    }
    assert not escaped, f"escaped read_envelope: {escaped} (first case of each: {first})"
    # The mutator does reach the parser: most cases are refused.
    assert outcomes["EnvelopeInvalid"] > FUZZ_CASES // 2


_EDIT = st.tuples(
    st.sampled_from(["header", "anywhere", "truncate", "insert"]),
    st.integers(min_value=0, max_value=1 << 32),
    st.binary(min_size=1, max_size=8),
)


def _apply(edits: list[tuple[str, int, bytes]]) -> bytes:
    data = bytearray(damage.SOURCE)
    for kind, where, value in edits:
        if kind == "header" and data:
            at = damage.HEADER_POSITIONS[where % len(damage.HEADER_POSITIONS)] % len(data)
            data[at : at + len(value)] = value
        elif kind == "anywhere" and data:
            at = where % len(data)
            data[at : at + len(value)] = value
        elif kind == "truncate":
            del data[where % (len(data) + 1) :]
        else:
            at = where % (len(data) + 1)
            data[at:at] = value
    return bytes(data)


@pytest.mark.timeout(120)
@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(edits=st.lists(_EDIT, min_size=1, max_size=4))
def test_hypothesis_mutations_raise_only_envelope_invalid(
    tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[str, int, bytes]]
) -> None:
    path = damage.write(tmp_path_factory.mktemp("h"), "case.testimony", _apply(edits))
    assert _outcome(path) in ("ok", "EnvelopeInvalid")


CRAFTED: dict[str, tuple[Callable[[], bytes], str]] = {
    # EOFError before: a stored member read past the end of the file.
    "request.json past the end": (lambda: damage.sizes_past_the_end(0), "past the end"),
    "a blob past the end": (lambda: damage.sizes_past_the_end(2), "past the end"),
    # NotImplementedError before: "zip file version 6553.5".
    "version needed 0xffff": (lambda: damage.bad_version_needed(0), "version"),
    "version needed 6.4": (lambda: damage.bad_version_needed(1, 64), "version"),
    # UnicodeDecodeError before, when the directory is read or the member opened.
    "invalid UTF-8 name, flag 11, directory": (
        lambda: damage.invalid_utf8_name(where="central"),
        "UTF-8",
    ),
    "invalid UTF-8 name, flag 11, local header": (
        lambda: damage.invalid_utf8_name(where="local"),
        "UTF-8",
    ),
    # OSError(EINVAL) before: a seek before the start of the file.
    "a header before the start": (damage.offsets_before_the_start, "outside the file"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_each_reported_symptom_is_refused_as_envelope_invalid_naming_the_file(
    tmp_path: Path, case: str
) -> None:
    make, reason = CRAFTED[case]
    path = damage.write(tmp_path, "damaged-01.testimony", make())
    with pytest.raises(EnvelopeInvalid) as refused:
        read_envelope(path)
    message = str(refused.value)
    assert "damaged-01.testimony" in message and reason in message, message
    assert len(message.splitlines()) == 1
    assert refused.value.code == "envelope-invalid"


def test_a_missing_envelope_is_still_an_os_error_not_damage(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_envelope(tmp_path / "absent.testimony")


def test_an_os_error_without_a_file_name_names_the_envelope(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: ``Invalid argument: None (upload-failed)``."""
    path = damage.write(tmp_path, "masanchi-07.testimony", damage.SOURCE)

    def fail(_path: object) -> None:
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(upload, "read_envelope", fail)
    # Nothing is sent: the envelope is read before the server is asked anything.
    with Courier("http://127.0.0.1:9") as courier:
        delivery = courier.deliver(path)
    assert delivery.status == "failed" and delivery.error is not None
    assert str(delivery.error) == "Invalid argument: masanchi-07.testimony"
    assert delivery.error.code == "upload-failed"
