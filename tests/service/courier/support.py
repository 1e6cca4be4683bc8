"""A real ``testimony serve`` for the courier's tests, with proof of work on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testimony.crypto import hpke
from testimony.crypto.encoding import b64u_encode
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings
from tests import live_server
from tests.live_server import LiveServer
from tests.vectors.loader import load_json

ORIGIN = "courier.test/log"
POW_BITS = 8
VECTOR = load_json("testimony/submission.json")
INTAKE_SEED = bytes.fromhex(VECTOR["intake_seed"])


def intake_key_file(folder: Path) -> Path:
    """The vector's intake public key as a b64u file (what a courier saves)."""
    path = folder / "intake.pub"
    path.write_text(b64u_encode(hpke.public_key(INTAKE_SEED)) + "\n", encoding="ascii")
    return path


def start_server(data_dir: Path, output: Path, port: int | None = None) -> LiveServer:
    """Start ``testimony serve`` on ``data_dir`` with proof of work at POW_BITS."""
    return live_server.start_server(data_dir, output, pow_bits=POW_BITS, port=port)


def init_data(folder: Path) -> Path:
    data_dir = folder / "data"
    init_data_dir(Settings(data_dir=data_dir), hpke.public_key(INTAKE_SEED), origin=ORIGIN)
    return data_dir


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    """A fresh server with the vector's intake key and proof of work at 8 bits."""
    server = start_server(init_data(tmp_path), tmp_path / "server-output.txt")
    try:
        yield server
    finally:
        output = server.stop()
        assert "Traceback" not in output
