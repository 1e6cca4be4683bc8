"""Fixtures and helpers shared by the intake server's tests (api/, domain/, test_cli.py).

Databases: ``database_url`` is a SQLite file, or (when
``TESTIMONY_TEST_POSTGRES_URL`` names a server) a fresh PostgreSQL schema made
for the test and dropped after it. The conftests of ``api/`` and ``domain/``
import the fixtures from here.
"""

from __future__ import annotations

import base64
import os
import secrets
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from testimony.crypto import hpke
from testimony.crypto.encoding import b64u_decode
from testimony.service.domain.clock import FixedClock
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings
from tests.vectors.loader import load_json

with warnings.catch_warnings():
    # starlette's TestClient warns that it prefers the `httpx2` fork; plain
    # httpx works, and the warning (an error under pytest) is about packaging.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

__all__ = [
    "DATABASES",
    "TUS",
    "TestClient",
    "assert_problem",
    "client",
    "database_url",
    "initialised",
    "intake_public",
    "log_size",
    "settings",
    "tus_upload",
    "vector",
]

POSTGRES_ENV = "TESTIMONY_TEST_POSTGRES_URL"
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
TUS = {"Tus-Resumable": "1.0.0"}
VECTOR = load_json("testimony/submission.json")
RECEIVED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
"""The vector's `received` time."""
NOW = datetime(2026, 11, 25, 12, 34, 56, tzinfo=UTC)
"""The tests' clock: inside the vector's hour, so it floors to its `received`."""


def postgres_url_or_skip() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set; CI must run the PostgreSQL tests")
        pytest.skip(f"{POSTGRES_ENV} is not set")
    return url


class PostgresSchema:
    """A fresh schema on the test server; ``url`` sets ``search_path`` to it."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.name = f"testimony_api_{secrets.token_hex(6)}"
        self._admin = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{self.name}"')
        self.url = (
            make_url(server_url)
            .update_query_dict({"options": f"-csearch_path={self.name}"})
            .render_as_string(hide_password=False)
        )

    def drop(self) -> None:
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')
        self._admin.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (SQLite in the data dir) or the URL of a fresh PostgreSQL schema."""
    if request.param in ("sqlite", None):
        yield None
        return
    schema = PostgresSchema(postgres_url_or_skip())
    try:
        yield schema.url
    finally:
        schema.drop()


@pytest.fixture
def vector() -> dict[str, Any]:
    """``tests/vectors/testimony/submission.json``."""
    return load_json("testimony/submission.json")


@pytest.fixture
def intake_public() -> bytes:
    """The vector's intake public key."""
    return hpke.public_key(bytes.fromhex(VECTOR["intake_seed"]))


@pytest.fixture
def clock() -> FixedClock:
    """A clock standing at 12:34:56 on the vector's day (floored: its `received`)."""
    return FixedClock(NOW)


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None, clock: FixedClock) -> Settings:
    """Settings of a data dir under ``tmp_path``; proof of work off."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url, pow_bits=0, clock=clock)


@pytest.fixture
def initialised(settings: Settings, intake_public: bytes) -> Settings:
    """``settings`` after ``testimony init`` with the vector's intake key."""
    init_data_dir(settings, intake_public, origin="test.invalid/log")
    return settings


def tus_upload(client: Any, data: bytes, *, blob_id: str | None = None) -> str:
    """Upload ``data`` over tus in one PATCH, paying the creation's proof of
    work if the server asks for one; returns the upload's URL."""
    import hashlib

    from testimony.crypto.pow import solve

    blob_id = blob_id or hashlib.sha256(data).hexdigest()
    metadata = "sha256 " + base64.b64encode(blob_id.encode()).decode()
    offer = client.get("/api/v1/pow", params={"length": len(data)}).json()
    if offer.get("bits"):
        proof = f"{offer['challenge']}:{solve(offer['challenge'], offer['bits'])}"
        metadata += ",pow " + base64.b64encode(proof.encode()).decode()
    created = client.post(
        "/api/v1/uploads/",
        headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": metadata},
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    if data:
        patched = client.patch(
            location,
            content=data,
            headers={
                **TUS,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert patched.status_code == 204, patched.text
    return str(location)


def upload_vector_blobs(client: Any) -> None:
    """Upload the vector's attachment blobs."""
    for data in VECTOR["blobs"].values():
        tus_upload(client, b64u_decode(data))


@pytest.fixture
def client(initialised: Settings) -> Iterator[TestClient]:
    """A client of the application over the initialised data dir."""
    from testimony.service.api.app import create_app

    with TestClient(create_app(initialised)) as test_client:
        yield test_client


PROBLEM = "application/problem+json"


def log_size(client: Any) -> int:
    """The number of entries in the log behind ``client``'s application."""
    return int(client.app.state.server.log.size())


def assert_problem(answer: Any, status: int, code: str) -> None:
    """``answer`` is an RFC 9457 problem document with ``status`` and ``code``."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    document = answer.json()
    assert set(document) == {"type", "title", "status", "code", "detail"}
    assert document["status"] == status
    assert document["code"] == code
    assert document["type"].endswith(code)
