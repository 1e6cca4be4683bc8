"""``testimony monitor witness`` over real HTTP (C2SP tlog-witness, docs/protocol.md
§13, docs/monitor.md): a chain of checkpoints signed with a test log key over
real trees is cosigned, and the cosignatures verify with the witness's
published key; a stale ``old`` is told the witness's size (409,
``text/x.tlog.size``); a bad proof is 422, an unknown origin 404, another
key 403, a malformed body 400; a same-size fork is refused, nothing cosigned,
and kept as evidence; the state survives a restart; and a checkpoint whose
record cannot be written is not cosigned."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testimony.crypto import checkpoint, cosignature, merkle, note
from testimony.crypto.encoding import b64_encode

ORIGIN = "witness.test/log"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
VKEY = note.verifier_key(ORIGIN, LOG_KEY.public_key().public_bytes_raw())
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
AT = datetime(2026, 12, 7, 12, tzinfo=UTC)
MONITOR = [sys.executable, "-m", "testimony.client.monitor"]
START_SECONDS = 20.0


class Log:
    """A real tree of the test log, growing, with its signed checkpoints."""

    def __init__(self) -> None:
        self.store = merkle.MemoryHashStore()
        self.size = 0

    def grow(self, count: int) -> str:
        leaves = [merkle.leaf_hash(b"entry %d" % (self.size + i)) for i in range(count)]
        result = merkle.append(self.size, leaves, self.store)
        self.store.write_nodes(result.nodes)
        self.size = result.size
        return checkpoint.sign(ORIGIN, self.size, result.root, LOG_KEY, ORIGIN, AT)

    def proof(self, old: int) -> list[bytes]:
        return merkle.consistency_proof(old, self.size, self.store) if old else []


def body(old: int, proof: list[bytes], signed: str) -> bytes:
    lines = [f"old {old}", *(b64_encode(node) for node in proof)]
    return ("\n".join(lines) + "\n\n" + signed).encode("utf-8")


@dataclass
class Running:
    url: str
    process: subprocess.Popen[str]

    def post(self, content: bytes) -> httpx.Response:
        return httpx.post(self.url + "/add-checkpoint", content=content, timeout=10)

    def stop(self) -> str:
        self.process.terminate()
        out, err = self.process.communicate(timeout=10)
        return out + err


def serving(key: Path, state: Path) -> list[str]:
    """The command line of the witness on a free port."""
    log = f"{ORIGIN}={VKEY}"
    where = ["--state", str(state), "--listen", "127.0.0.1:0"]
    return [*MONITOR, "witness", "--key", str(key), "--log", log, *where]


def start(key: Path, state: Path) -> Running:
    """The witness as its operator starts it, on a free port; returns once it
    has printed that it listens (no fixed wait)."""
    process = subprocess.Popen(
        serving(key, state),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(START_SECONDS)
    if not lines or " at http://" not in lines[0]:
        process.kill()
        raise AssertionError(f"the witness did not start: {process.communicate()}")
    return Running(lines[0].rsplit(" at ", 1)[1].strip(), process)


@pytest.fixture
def witness_key(tmp_path: Path) -> tuple[Path, cosignature.CosignerKey]:
    key = tmp_path / "witness.key"
    made = subprocess.run(
        [*MONITOR, "witness-key", "--name", "witness.test/w1", "--out", str(key)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert key.stat().st_mode & 0o777 == 0o600
    return key, cosignature.parse_cosigner_key(made.stdout.strip())


@pytest.fixture
def running(tmp_path: Path, witness_key: tuple[Path, cosignature.CosignerKey]) -> Iterator[Running]:
    witness = start(witness_key[0], tmp_path / "state")
    try:
        yield witness
    finally:
        assert "Traceback" not in witness.stop()


def state_file(state: Path) -> Path:
    return state / "logs" / (hashlib.sha256(ORIGIN.encode()).hexdigest() + ".json")


def cosigned_by(signed: str, answer: httpx.Response, key: cosignature.CosignerKey) -> int:
    """The timestamp of the witness's valid cosignature in ``answer`` on ``signed``."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text.startswith("\u2014 witness.test/w1 ") and answer.text.endswith("\n")
    (found,) = cosignature.cosignatures(cosignature.add(signed, [answer.text]), [key])
    # The log's own signature is untouched by the cosignature beside it.
    checkpoint.verify(cosignature.add(signed, [answer.text]), VKEY)
    return found.timestamp


def test_the_witness_cosigns_a_consistent_chain_and_refuses_the_rest(
    running: Running, witness_key: tuple[Path, cosignature.CosignerKey], tmp_path: Path
) -> None:
    key = witness_key[1]
    log = Log()
    first = log.grow(3)
    cosigned_by(first, running.post(body(0, [], first)), key)
    assert json.loads(state_file(tmp_path / "state").read_text())["size"] == 3

    second = log.grow(4)
    good = log.proof(3)
    cosigned_by(second, running.post(body(3, good, second)), key)
    # Written before the answer came: the record on disk names the new tree.
    assert json.loads(state_file(tmp_path / "state").read_text())["size"] == 7

    # A client that believes the witness is at 3 is told it is at 7.
    stale = running.post(body(3, good, second))
    assert (stale.status_code, stale.text) == (409, "7\n")
    assert stale.headers["content-type"] == "text/x.tlog.size"

    third = log.grow(2)
    bad = [bytes(32), *log.proof(7)[1:]]
    assert running.post(body(7, bad, third)).status_code == 422
    assert running.post(body(7, log.proof(7)[:-1], third)).status_code == 422
    assert running.post(body(10, [], third)).status_code == 400  # old above the size

    # Unknown origin, a known origin signed by another key, malformed bodies.
    other = checkpoint.sign("other.test/log", 9, bytes(32), LOG_KEY, "other.test/log", AT)
    assert running.post(body(0, [], other)).status_code == 404
    forged = checkpoint.sign(ORIGIN, 9, bytes(32), OTHER_KEY, ORIGIN, AT)
    assert running.post(body(7, log.proof(7), forged)).status_code == 403
    for malformed in (b"", b"old 07\n\n" + third.encode(), b"old 7\nnot a hash\n\n", b"\xff"):
        assert running.post(malformed).status_code == 400
    assert running.post(b"old 7\n" + b"x" * 70_000).status_code == 413

    # A fork: another tree of the size cosigned. Refused, nothing cosigned, kept.
    fork = checkpoint.sign(ORIGIN, 7, bytes(32), LOG_KEY, ORIGIN, AT)
    refused = running.post(body(7, [], fork))
    assert (refused.status_code, refused.text) == (409, "7\n")
    assert "\u2014" not in refused.text
    kept = [json.loads(p.read_text()) for p in (tmp_path / "state" / "evidence").iterdir()]
    assert {k["why"] for k in kept} >= {"another root at the size cosigned: a fork"}
    assert any(k["refused"] == fork and k["cosigned"] == second for k in kept)

    # The chain goes on from 7 exactly.
    cosigned_by(third, running.post(body(7, log.proof(7), third)), key)
    again = running.post(body(9, [], third))  # the same tree again: cosigned again
    cosigned_by(third, again, key)


def test_the_state_survives_a_restart_and_is_written_before_any_cosignature(
    witness_key: tuple[Path, cosignature.CosignerKey], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    log = Log()
    first = log.grow(5)
    witness = start(witness_key[0], state)
    try:
        cosigned_by(first, witness.post(body(0, [], first)), witness_key[1])
        # A second witness on the same state folder is refused at once.
        busy = subprocess.run(
            serving(witness_key[0], state),
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert busy.returncode == 1 and "(state-folder-busy)" in busy.stderr
    finally:
        assert "Traceback" not in witness.stop()

    witness = start(witness_key[0], state)
    try:
        # After the restart it still knows it cosigned the tree of 5.
        assert (witness.post(body(0, [], first)).text) == "5\n"
        second = log.grow(3)
        # When the new record cannot be written, nothing is cosigned and
        # nothing is forgotten: the witness stays at 5.
        record = state_file(state)
        saved = record.read_bytes()
        record.unlink()
        record.mkdir()
        (record / "in-the-way").write_text("x")
        failed = witness.post(body(5, log.proof(5), second))
        assert failed.status_code == 500 and "\u2014" not in failed.text
        (record / "in-the-way").unlink()
        record.rmdir()
        record.write_bytes(saved)
        cosigned_by(second, witness.post(body(5, log.proof(5), second)), witness_key[1])
    finally:
        assert "Traceback" not in witness.stop()


def test_a_key_file_others_may_read_is_refused(
    witness_key: tuple[Path, cosignature.CosignerKey], tmp_path: Path
) -> None:
    witness_key[0].chmod(0o644)
    refused = subprocess.run(
        serving(witness_key[0], tmp_path / "state"),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("testimony: ") and "chmod 600" in refused.stderr
    assert "PRIVATE" not in refused.stderr and "Traceback" not in refused.stderr
    again = subprocess.run(
        [*MONITOR, "witness-key", "--name", "witness.test/w1", "--out", str(witness_key[0])],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1 and "never replaced" in again.stderr


# --- hostile bodies, in process ------------------------------------------------------------


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.binary(max_size=600)
    | st.builds(
        lambda old, lines, tail: f"old {old}\n{lines}\n{tail}".encode(),
        st.integers(0, 2**70),
        st.text(max_size=200),
        st.text(max_size=400),
    )
)
def test_any_body_is_answered_with_a_status_of_tlog_witness_and_cosigns_nothing_unsigned(
    tmp_path: Path, data: bytes
) -> None:
    """Whatever the body, the witness answers one of tlog-witness's statuses
    (never an exception), and cosigns only a checkpoint the log key signed."""
    from testimony.client.monitor.witness import Witness

    signer = cosignature.CosignerSigner(
        "witness.test/w", Ed25519PrivateKey.from_private_bytes(bytes(32))
    )
    witness = Witness(signer, {ORIGIN: [VKEY]}, tmp_path / "state")
    answer = witness.add_checkpoint(data)
    # Drawn bytes carry no signature of the log key: never cosigned.
    assert answer.status in (400, 403, 404, 409, 422), answer


def test_a_signed_checkpoint_from_zero_is_cosigned_in_process(tmp_path: Path) -> None:
    from testimony.client.monitor.witness import Witness

    signer = cosignature.CosignerSigner(
        "witness.test/w", Ed25519PrivateKey.from_private_bytes(bytes(32))
    )
    witness = Witness(signer, {ORIGIN: [VKEY]}, tmp_path / "state")
    signed = Log().grow(3)
    answer = witness.add_checkpoint(body(0, [], signed))
    assert answer.status == 200
    assert cosignature.cosignatures(cosignature.add(signed, [answer.body]), [signer.key])
