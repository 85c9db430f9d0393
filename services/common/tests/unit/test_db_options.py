"""psycopg2 connection options from DatabaseSettings, and which refusals are worth retrying."""

import psycopg2
import pytest

from streamsuite_common.config import DatabaseSettings
from streamsuite_common.db import connect_kwargs, describe, is_transient


def settings(**overrides: object) -> DatabaseSettings:
    values: dict[str, object] = {
        "host": "db.local",
        "port": 6543,
        "dbname": "streamsuite",
        "dbuser": "streamsuite_writer",
        "user_pwd": "s3cret",
        "sslmode": "require",
    }
    values.update(overrides)
    return DatabaseSettings(**values)  # type: ignore[arg-type]


def test_connect_kwargs_map_settings_to_libpq_names() -> None:
    kwargs = connect_kwargs(settings(), application_name="ingestor")
    assert kwargs["host"] == "db.local"
    assert kwargs["port"] == 6543
    assert kwargs["dbname"] == "streamsuite"
    assert kwargs["user"] == "streamsuite_writer"
    assert kwargs["password"] == "s3cret"
    assert kwargs["sslmode"] == "require"
    assert kwargs["application_name"] == "ingestor"


def test_connect_kwargs_bound_one_attempt_and_enable_keepalives() -> None:
    kwargs = connect_kwargs(settings(), application_name="ingestor")
    assert 0 < kwargs["connect_timeout"] <= 10
    assert kwargs["keepalives"] == 1
    idle, interval, count = (
        kwargs[k] for k in ("keepalives_idle", "keepalives_interval", "keepalives_count")
    )
    assert idle + interval * count <= 60  # a vanished server is noticed within a minute


def test_empty_password_is_passed_as_none() -> None:
    kwargs = connect_kwargs(settings(user_pwd=""), application_name="x")
    assert kwargs["password"] is None


def test_connect_kwargs_form_a_valid_dsn() -> None:
    kwargs = connect_kwargs(settings(), application_name="query-api")
    dsn = psycopg2.extensions.make_dsn(**kwargs)
    parsed = psycopg2.extensions.parse_dsn(dsn)
    assert parsed["user"] == "streamsuite_writer"
    assert parsed["application_name"] == "query-api"


def test_describe_is_user_at_host_port_db_without_the_password() -> None:
    text = describe(settings())
    assert text == "streamsuite_writer@db.local:6543/streamsuite"
    assert "s3cret" not in text


@pytest.mark.parametrize(
    "message",
    [
        'connection to server at "db" (10.0.0.5), port 5432 failed: Connection refused',
        'could not translate host name "db" to address: Name or service not known',
        "the database system is starting up",
        "server closed the connection unexpectedly",
        "",
    ],
)
def test_unreachable_or_starting_server_is_transient(message: str) -> None:
    assert is_transient(psycopg2.OperationalError(message)) is True


@pytest.mark.parametrize(
    "message",
    [
        'FATAL:  password authentication failed for user "streamsuite_writer"',
        'FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "x", database "y"',
        'FATAL:  database "streamsuite" does not exist',
        'FATAL:  role "nobody" does not exist',
    ],
)
def test_refusals_that_waiting_cannot_heal_are_not_transient(message: str) -> None:
    assert is_transient(psycopg2.OperationalError(message)) is False


def test_a_role_that_may_not_log_in_is_not_transient() -> None:
    error = psycopg2.OperationalError(
        'FATAL:  role "streamsuite_reader" is not permitted to log in'
    )
    assert is_transient(error) is False
