"""Settings from flags, then the environment, then a TOML file."""

from __future__ import annotations

from pathlib import Path

import pytest

from testimony.service.domain.errors import BadSettings
from testimony.service.settings import Settings, load_settings


def test_flags_win_over_the_environment_which_wins_over_the_file(tmp_path: Path) -> None:
    config = tmp_path / "testimony.toml"
    config.write_text('pow_bits = 20\nport = 7000\nhost = "0.0.0.0"\ndata_dir = "/srv/t"\n')
    env = {"TESTIMONY_POW_BITS": "12", "TESTIMONY_PORT": "7100"}
    settings = load_settings({"pow_bits": 4, "port": None}, environ=env, config=config)
    assert settings.pow_bits == 4  # flag
    assert settings.port == 7100  # environment
    assert settings.host == "0.0.0.0"  # file
    assert settings.data_dir == Path("/srv/t")
    assert settings.time_granularity_minutes == 60  # default


def test_the_database_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/testimony.sqlite3"
    with pytest.raises(BadSettings):
        _ = Settings().resolved_database_url


@pytest.mark.parametrize(
    ("flags", "env", "toml"),
    [
        ({}, {"TESTIMONY_PORT": "eighty"}, ""),
        ({}, {}, "nonsense_setting = 1\n"),
        ({}, {}, "port = [1]\n"),
        ({}, {}, "port = \n"),
        ({"pow_bits": 65}, {}, ""),
        ({"workers": 0}, {}, ""),
        ({}, {"TESTIMONY_WORKERS": "65"}, ""),
        ({}, {"TESTIMONY_TIME_GRANULARITY_MINUTES": "0"}, ""),
        ({"port": 0}, {}, ""),
    ],
)
def test_bad_settings_are_refused(
    tmp_path: Path, flags: dict[str, object], env: dict[str, str], toml: str
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(toml)
    with pytest.raises(BadSettings):
        load_settings(flags, environ=env, config=config)


def test_a_missing_config_file_is_a_bad_setting(tmp_path: Path) -> None:
    with pytest.raises(BadSettings):
        load_settings({}, environ={}, config=tmp_path / "absent.toml")


def test_workers_share_the_postgresql_connection_budget() -> None:
    """PostgreSQL allows 100 connections by default: however many workers
    serve, together they open at most ``database_connections``."""
    from testimony.service.store import db

    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    for workers in (1, 2, 4, 8, 40):
        settings = Settings(database_url=url, workers=workers)
        engine = db.create_engine(url, max_connections=settings.connections_per_worker)
        try:
            per_worker = engine.pool.size() + engine.pool._max_overflow  # type: ignore[attr-defined]
        finally:
            engine.dispose()
        assert per_worker <= min(sum(db.POOL_SIZES["postgresql"]), 80 // workers)
        assert workers * per_worker <= settings.database_connections
    # Fewer than two each (one for the batch, one for requests) is refused at once,
    # on PostgreSQL only: SQLite opens no server connections.
    with pytest.raises(BadSettings, match="database_connections"):
        Settings(database_url=url, workers=64)
    with pytest.raises(BadSettings, match="database_connections"):
        load_settings(
            {"workers": 4},
            environ={"TESTIMONY_DATABASE_URL": url, "TESTIMONY_DATABASE_CONNECTIONS": "7"},
        )
    assert Settings(workers=64).workers == 64
