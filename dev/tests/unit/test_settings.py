"""StackSettings.from_env: defaults from DESIGN.md, DEVSTACK_* overrides, bad values refused."""

from pathlib import Path

import pytest

from devstack.settings import SettingsError, StackSettings, repo_root


def test_defaults_match_the_design() -> None:
    settings = StackSettings.from_env({})
    assert settings.kafka_port == 9092
    assert settings.kafka_controller_port == 9093
    assert settings.pg_port == 5432
    assert settings.partitions == 3
    assert settings.database_url is None
    assert settings.topic == "records"
    assert settings.dlq_topic == "records.dlq"
    assert settings.root == repo_root()
    assert settings.var == (repo_root() / "var").resolve()
    assert settings.cache == (repo_root() / ".cache").resolve()


def test_repo_root_is_the_checkout_holding_the_kafka_pom() -> None:
    assert (repo_root() / "dev" / "kafka" / "pom.xml").is_file()


def test_env_moves_ports_state_and_cache(tmp_path: Path) -> None:
    env = {
        "DEVSTACK_KAFKA_PORT": "19092",
        "DEVSTACK_KAFKA_CONTROLLER_PORT": "19093",
        "DEVSTACK_PG_PORT": "15432",
        "DEVSTACK_PARTITIONS": "6",
        "DEVSTACK_VAR": str(tmp_path / "var"),
        "STREAMSUITE_CACHE": str(tmp_path / "cache"),
        "DATABASE_URL": "postgresql://postgres:pw@db:5432/postgres",
    }
    settings = StackSettings.from_env(env)
    assert (settings.kafka_port, settings.kafka_controller_port) == (19092, 19093)
    assert settings.pg_port == 15432
    assert settings.partitions == 6
    assert settings.var == (tmp_path / "var").resolve()
    assert settings.cache == (tmp_path / "cache").resolve()
    assert settings.database_url == "postgresql://postgres:pw@db:5432/postgres"


def test_relative_var_is_made_absolute() -> None:
    settings = StackSettings.from_env({"DEVSTACK_VAR": "some/relative/var"})
    assert settings.var.is_absolute()
    assert settings.var.parts[-3:] == ("some", "relative", "var")


def test_empty_database_url_means_the_embedded_server() -> None:
    assert StackSettings.from_env({"DATABASE_URL": ""}).database_url is None


@pytest.mark.parametrize(
    "variable", ["DEVSTACK_KAFKA_PORT", "DEVSTACK_KAFKA_CONTROLLER_PORT", "DEVSTACK_PG_PORT"]
)
@pytest.mark.parametrize("bad", ["abc", "", "0", "65536", "-1", "90 92", "9092.0"])
def test_bad_port_raises_settings_error_naming_the_variable(variable: str, bad: str) -> None:
    with pytest.raises(SettingsError) as info:
        StackSettings.from_env({variable: bad})
    assert str(info.value).startswith(f"{variable}={bad!r} is not a port number")


@pytest.mark.parametrize("port", ["1", "65535"])
def test_port_bounds_are_accepted(port: str) -> None:
    assert StackSettings.from_env({"DEVSTACK_PG_PORT": port}).pg_port == int(port)


@pytest.mark.parametrize("bad", ["0", "-2", "three", ""])
def test_bad_partitions_raise_settings_error(bad: str) -> None:
    with pytest.raises(SettingsError, match=r"^DEVSTACK_PARTITIONS=.* is not a positive number$"):
        StackSettings.from_env({"DEVSTACK_PARTITIONS": bad})


def test_a_superscript_digit_port_raises_settings_error() -> None:
    with pytest.raises(SettingsError):
        StackSettings.from_env({"DEVSTACK_PG_PORT": "²"})


def test_derived_paths_and_bootstrap(tmp_path: Path) -> None:
    settings = StackSettings(root=tmp_path, var=tmp_path / "v", cache=tmp_path / "c", kafka_port=1)
    assert settings.bootstrap == "127.0.0.1:1"
    assert settings.logs == tmp_path / "v" / "log"
    assert settings.run == tmp_path / "v" / "run"
    assert settings.secrets == tmp_path / "v" / "secrets"
    assert settings.inbox == tmp_path / "v" / "inbox"
    assert settings.env_file == tmp_path / "v" / "stack.env"
