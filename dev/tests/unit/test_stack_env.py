"""read_env_file: the var/stack.env that the running stack leaves for tests and shells."""

from pathlib import Path

import pytest

from devstack.postgres import Endpoint
from devstack.settings import StackSettings
from devstack.stack import read_env_file, stack_env


class FakePostgres:
    """Stands in for LocalPostgres/ExternalPostgres: stack_env only reads ``endpoint``."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint


def test_reads_key_value_lines_and_skips_comments_and_blanks(tmp_path: Path) -> None:
    path = tmp_path / "stack.env"
    path.write_text(
        "# The running local stack\n"
        "DEVSTACK_KAFKA_BOOTSTRAP=127.0.0.1:9092\n"
        "\n"
        "DEVSTACK_TOPIC=records\n"
        "#DEVSTACK_TOPIC=commented-out\n"
    )
    assert read_env_file(path) == {
        "DEVSTACK_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
        "DEVSTACK_TOPIC": "records",
    }


def test_value_keeps_everything_after_the_first_equals_sign(tmp_path: Path) -> None:
    path = tmp_path / "stack.env"
    path.write_text("DEVSTACK_PG_ADMIN_DSN=host=/tmp/pg port=5432 user=postgres\n")
    assert read_env_file(path) == {"DEVSTACK_PG_ADMIN_DSN": "host=/tmp/pg port=5432 user=postgres"}


def test_lines_without_equals_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "stack.env"
    path.write_text("garbage line\nA=1\n")
    assert read_env_file(path) == {"A": "1"}


def test_empty_value_is_kept_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "stack.env"
    path.write_text("A=\n")
    assert read_env_file(path) == {"A": ""}


def test_later_lines_win(tmp_path: Path) -> None:
    path = tmp_path / "stack.env"
    path.write_text("A=1\nA=2\n")
    assert read_env_file(path) == {"A": "2"}


def test_round_trips_the_format_the_stack_writes(tmp_path: Path) -> None:
    values = {
        "DEVSTACK_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
        "DEVSTACK_PG_PORT": "5432",
        "DEVSTACK_VAR": str(tmp_path / "var"),
        "DEVSTACK_WRITER_PASSWORD_FILE": str(tmp_path / "var" / "secrets" / "w.password"),
    }
    path = tmp_path / "stack.env"
    path.write_text(
        "# The running local stack, for tests and shells; removed when it stops.\n"
        + "\n".join(f"{key}={value}" for key, value in values.items())
        + "\n"
    )
    assert read_env_file(path) == values


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_env_file(tmp_path / "absent.env")


def test_stack_env_written_as_lines_reads_back_unchanged(tmp_path: Path) -> None:
    settings = StackSettings(root=tmp_path, var=tmp_path / "var", cache=tmp_path / "c")
    endpoint = Endpoint(
        "127.0.0.1",
        15432,
        {"host": "127.0.0.1", "port": 15432, "user": "postgres", "password": "", "dbname": None},
    )
    values = stack_env(settings, FakePostgres(endpoint))  # type: ignore[arg-type]
    assert values["DEVSTACK_PG_PORT"] == "15432"
    assert values["DEVSTACK_PG_ADMIN_DSN"] == "host=127.0.0.1 port=15432 user=postgres"
    assert values["DEVSTACK_WRITER_PASSWORD_FILE"] == str(
        settings.secrets / "streamsuite_writer.password"
    )
    assert not [key for key in values if "PASSWORD" in key and not key.endswith("_FILE")]
    path = tmp_path / "stack.env"
    path.write_text("# header\n" + "\n".join(f"{k}={v}" for k, v in values.items()) + "\n")
    assert read_env_file(path) == values
