"""What devstack hands each service: its --cfg tree, its environment and its command line."""

import dataclasses
import sys
from pathlib import Path

import pytest
import yaml

from devstack.services import (
    ServiceSpec,
    command,
    config_tree,
    environment,
    role_name,
    write_config,
)
from devstack.settings import StackSettings
from streamsuite_common.config import (
    DatabaseSettings,
    HttpSettings,
    KafkaSettings,
    LogSettings,
    load_config,
)

INGESTOR = ServiceSpec(name="ingestor", module="streamsuite_ingestor", port=9102, db_role="writer")
QUERY_API = ServiceSpec(
    name="query-api", module="streamsuite_query_api", port=8000, db_role="reader"
)
PUBLISHER = ServiceSpec(
    name="publisher", module="streamsuite_publisher", port=9101, args=("--dir", "{inbox}")
)


@dataclasses.dataclass(frozen=True)
class DbServiceConfig:
    kafka: KafkaSettings
    database: DatabaseSettings
    log: LogSettings
    http: HttpSettings


@dataclasses.dataclass(frozen=True)
class KafkaServiceConfig:
    kafka: KafkaSettings
    log: LogSettings
    http: HttpSettings


@pytest.fixture
def settings(tmp_path: Path) -> StackSettings:
    return StackSettings(
        root=tmp_path,
        var=tmp_path / "var",
        cache=tmp_path / "cache",
        kafka_port=19092,
        pg_port=15432,
    )


def test_config_tree_points_at_the_local_broker_and_topics(settings: StackSettings) -> None:
    tree = config_tree(INGESTOR, settings)
    assert tree["KAFKA"]["BOOTSTRAP_SERVERS"] == "127.0.0.1:19092"
    assert tree["KAFKA"]["TOPIC"] == "records"
    assert tree["KAFKA"]["DLQ_TOPIC"] == "records.dlq"
    assert tree["KAFKA"]["PRODUCER_CLIENT_ID"] == "streamsuite-ingestor"
    assert tree["KAFKA"]["CONSUMER_CLIENT_ID"] == "streamsuite-ingestor"
    assert tree["HTTP"] == {"HOST": "127.0.0.1", "PORT": 9102}


def test_config_tree_of_a_writer_connects_as_the_writer_role(settings: StackSettings) -> None:
    database = config_tree(INGESTOR, settings)["DATABASE"]
    assert database == {
        "HOST": "127.0.0.1",
        "PORT": 15432,
        "DBNAME": "streamsuite",
        "DBUSER": "streamsuite_writer",
    }


def test_config_tree_of_a_reader_connects_as_the_reader_role(settings: StackSettings) -> None:
    assert config_tree(QUERY_API, settings)["DATABASE"]["DBUSER"] == "streamsuite_reader"


def test_service_without_a_db_role_gets_no_database_section(settings: StackSettings) -> None:
    assert "DATABASE" not in config_tree(PUBLISHER, settings)


def test_config_tree_holds_no_password(settings: StackSettings) -> None:
    for spec in (INGESTOR, QUERY_API, PUBLISHER):
        dumped = yaml.safe_dump(config_tree(spec, settings))
        assert "PWD" not in dumped
        assert "PASSWORD" not in dumped


def test_role_name_follows_the_db_role(settings: StackSettings) -> None:
    assert role_name(INGESTOR, settings) == settings.writer_role
    assert role_name(QUERY_API, settings) == settings.reader_role


def test_environment_drops_inherited_streamsuite_vars_and_keeps_the_rest(
    settings: StackSettings,
) -> None:
    base = {"PATH": "/usr/bin", "HOME": "/home/me", "STREAMSUITE_KAFKA__TOPIC": "leaked"}
    env = environment(PUBLISHER, settings, base)
    assert env["PATH"] == "/usr/bin"
    assert env["HOME"] == "/home/me"
    assert "STREAMSUITE_KAFKA__TOPIC" not in env
    assert env["STREAMSUITE_LOG__FORMAT"] == "json"
    assert "STREAMSUITE_DATABASE__USER_PWD_FILE" not in env
    assert base["STREAMSUITE_KAFKA__TOPIC"] == "leaked"  # the caller's mapping is untouched


def test_environment_of_a_db_service_points_at_its_password_file(
    settings: StackSettings,
) -> None:
    env = environment(INGESTOR, settings, {})
    expected = settings.secrets / "streamsuite_writer.password"
    assert env["STREAMSUITE_DATABASE__USER_PWD_FILE"] == str(expected)
    reader = environment(QUERY_API, settings, {})
    assert reader["STREAMSUITE_DATABASE__USER_PWD_FILE"].endswith("streamsuite_reader.password")


def test_command_runs_the_module_with_this_python_the_config_and_the_inbox(
    settings: StackSettings,
) -> None:
    assert command(PUBLISHER, "/tmp/publisher.yaml", settings) == [
        sys.executable,
        "-m",
        "streamsuite_publisher",
        "--cfg",
        "/tmp/publisher.yaml",
        "--dir",
        str(settings.inbox),
    ]
    assert command(INGESTOR, "c.yaml", settings)[-2:] == ["--cfg", "c.yaml"]


def test_what_devstack_writes_is_accepted_by_the_services_config_loader(
    settings: StackSettings,
) -> None:
    settings.secrets.mkdir(parents=True)
    (settings.secrets / "streamsuite_writer.password").write_text("pw\n")
    env = environment(INGESTOR, settings, {"PATH": "/usr/bin"})
    config = load_config(DbServiceConfig, config_tree(INGESTOR, settings), env)
    assert config.kafka.bootstrap_servers == ("127.0.0.1:19092",)
    assert config.database.dbuser == "streamsuite_writer"
    assert config.database.user_pwd == "pw"
    assert config.database.port == 15432
    assert config.log.format == "json"
    assert config.http.port == 9102
    publisher = load_config(
        KafkaServiceConfig, config_tree(PUBLISHER, settings), environment(PUBLISHER, settings, {})
    )
    assert publisher.http.port == 9101


def test_write_config_writes_the_tree_as_yaml_under_var(settings: StackSettings) -> None:
    path = Path(write_config(INGESTOR, settings))
    assert path == settings.var / "config" / "ingestor.yaml"
    text = path.read_text()
    assert text.startswith("# ingestor: ")
    assert yaml.safe_load(text) == config_tree(INGESTOR, settings)


def test_installed_reflects_whether_the_module_can_be_imported() -> None:
    assert ServiceSpec(name="x", module="json", port=1).installed is True
    missing = ServiceSpec(name="x", module="streamsuite_no_such_service_xyz", port=1)
    assert missing.installed is False
