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
