"""Proof of work (docs/protocol.md §8): stateless MACed challenges, accepted once."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.pow import leading_zero_bits, solve
from testimony.service.domain.clock import FixedClock, Granularity
from testimony.service.domain.errors import (
    BadSettings,
    ProofOfWorkExpired,
    ProofOfWorkInsufficient,
    ProofOfWorkInvalid,
    ProofOfWorkRequired,
    ProofOfWorkReused,
)
from testimony.service.domain.pow import ProofOfWork, StoredSpentChallenges
from testimony.service.store import db

NOW = datetime(2026, 11, 25, 12, 34, 56, tzinfo=UTC)


class MemorySpent:
    def __init__(self) -> None:
        self.spent: dict[bytes, int] = {}

    def spend(self, digest: bytes, expires: int) -> bool:
        if digest in self.spent:
            return False
        self.spent[digest] = expires
        return True


def make(
    bits: int = 8, *, clock: FixedClock | None = None, secret: bytes = b"k" * 32
) -> ProofOfWork:
    return ProofOfWork(
        secret=secret,
        bits=bits,
        ttl_seconds=600,
        clock=clock or FixedClock(NOW),
        granularity=Granularity(),
    )


def solved(pow_: ProofOfWork) -> dict[str, str]:
    challenge = pow_.issue()
    return {"challenge": challenge.challenge, "nonce": solve(challenge.challenge, challenge.bits)}


def test_a_solved_challenge_is_accepted_once() -> None:
    pow_, spent = make(), MemorySpent()
    proof = solved(pow_)
    pow_.check(proof, spent)
    with pytest.raises(ProofOfWorkReused):
        pow_.check(proof, spent)


def test_the_spent_record_expires_no_earlier_than_the_challenge_and_is_coarse() -> None:
    pow_, spent = make(), MemorySpent()
    pow_.check(solved(pow_), spent)
    (expires,) = spent.spent.values()
    challenge_expiry = int(NOW.timestamp()) + 600
    assert expires >= challenge_expiry
    assert expires % 3600 == 0


def test_a_weak_nonce_is_refused_and_not_spent() -> None:
    pow_, spent = make(bits=12), MemorySpent()
    challenge = pow_.issue().challenge
    raw = b64u_decode(challenge)
    nonce = next(
        n.to_bytes(4, "big")
        for n in range(10_000)
        if leading_zero_bits(hashlib.sha256(raw + n.to_bytes(4, "big")).digest()) < 12
    )
    with pytest.raises(ProofOfWorkInsufficient):
        pow_.check({"challenge": challenge, "nonce": b64u_encode(nonce)}, spent)
    assert not spent.spent


def test_an_expired_challenge_is_refused() -> None:
    clock = FixedClock(NOW)
    pow_ = make(clock=clock)
    proof = solved(pow_)
    clock.advance(timedelta(seconds=600))
    with pytest.raises(ProofOfWorkExpired):
        pow_.check(proof, MemorySpent())


@pytest.mark.parametrize("position", [0, 1, 5, 12, 30, 41])
def test_a_changed_challenge_byte_is_refused(position: int) -> None:
    pow_ = make()
    proof = solved(pow_)
    raw = bytearray(b64u_decode(proof["challenge"]))
    raw[position] ^= 0x01
    with pytest.raises(ProofOfWorkInvalid):
        pow_.check({**proof, "challenge": b64u_encode(bytes(raw))}, MemorySpent())


def test_another_servers_challenge_is_refused() -> None:
    proof = solved(make(secret=b"a" * 32))
    with pytest.raises(ProofOfWorkInvalid):
        make(secret=b"b" * 32).check(proof, MemorySpent())


@pytest.mark.parametrize(
    "proof",
    [
        {},
        [],
        "x",
        {"challenge": "AA"},
        {"challenge": 1, "nonce": "AA"},
        {"challenge": "!!", "nonce": "AA"},
    ],
)
def test_a_malformed_proof_is_refused(proof: object) -> None:
    with pytest.raises(ProofOfWorkInvalid):
        make().check(proof, MemorySpent())


def test_a_missing_proof_is_refused_when_on_and_ignored_when_off() -> None:
    with pytest.raises(ProofOfWorkRequired):
        make().check(None, MemorySpent())
    make(bits=0).check(None, MemorySpent())
    make(bits=0).check({"anything": 1}, MemorySpent())


def test_raising_the_difficulty_keeps_issued_challenges_valid() -> None:
    pow_, spent = make(bits=4), MemorySpent()
    proof = solved(pow_)
    pow_.bits = 20
    pow_.check(proof, spent)
    assert pow_.issue().bits == 20


@pytest.mark.parametrize(
    "kwargs",
    [{"secret": b"short"}, {"bits": -1}, {"bits": 65}, {"ttl_seconds": 0}],
)
def test_bad_settings_are_refused(kwargs: dict[str, object]) -> None:
    arguments: dict[str, object] = {
        "secret": b"k" * 32,
        "bits": 8,
        "ttl_seconds": 600,
        "clock": FixedClock(NOW),
        "granularity": Granularity(),
        **kwargs,
    }
    with pytest.raises(BadSettings):
        ProofOfWork(**arguments)  # type: ignore[arg-type]


def test_the_store_table_spends_a_challenge_once_across_processes(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/pow.db"
    engine = db.create_engine(url)
    db.upgrade(engine)
    clock = FixedClock(NOW)
    pow_ = make(clock=clock)
    proof = solved(pow_)
    pow_.check(proof, StoredSpentChallenges(engine, clock=clock))
    # Another process (another object on the same database) sees it spent.
    with pytest.raises(ProofOfWorkReused):
        pow_.check(proof, StoredSpentChallenges(engine, clock=clock))
    engine.dispose()
