"""The read-only pool without a server: session options, and refusals as DatabaseUnavailable."""

import pytest

from devstack.testing import free_port
from streamsuite_common.config import DatabaseSettings
from streamsuite_common.pool import DatabaseUnavailable, ReadOnlyPool, session_kwargs


def settings(**overrides: object) -> DatabaseSettings:
    values: dict[str, object] = {"host": "127.0.0.1", "dbname": "streamsuite", "dbuser": "reader"}
    values.update(overrides)
    return DatabaseSettings(**values)  # type: ignore[arg-type]


def test_sessions_are_read_only_in_utc_with_a_statement_timeout() -> None:
    kwargs = session_kwargs(settings(), statement_timeout_ms=2500, application_name="svc")
    assert "-c statement_timeout=2500" in kwargs["options"]
    assert "-c default_transaction_read_only=on" in kwargs["options"]
    assert "-c TimeZone=UTC" in kwargs["options"]
    assert kwargs["application_name"] == "svc"


def test_the_listener_connection_is_named_after_the_pool() -> None:
    pool = ReadOnlyPool(settings(), pool_size=2, pool_timeout_s=0.1, statement_timeout_ms=1000,
                        application_name="streamsuite-web")  # fmt: skip
    assert pool.listener_kwargs()["application_name"] == "streamsuite-web-listen"
    # Nothing is opened before the first request.
    assert pool.in_use == 0
    assert pool.idle == 0


def test_an_unreachable_server_is_database_unavailable() -> None:
    pool = ReadOnlyPool(settings(port=free_port(), connect_timeout_s=1), pool_size=1,
                        pool_timeout_s=0.1, statement_timeout_ms=1000,
                        application_name="test")  # fmt: skip
    with pytest.raises(DatabaseUnavailable, match="database unreachable"):
        pool.run(lambda conn: None)
    assert pool.in_use == 0


def test_a_request_waits_for_a_slot_then_gives_up() -> None:
    pool = ReadOnlyPool(settings(), pool_size=1, pool_timeout_s=0.05, statement_timeout_ms=1000,
                        application_name="test")  # fmt: skip
    assert pool._slots.acquire(timeout=0)  # the one slot is busy
    with pytest.raises(DatabaseUnavailable, match="all 1 database connections busy"):
        pool.run(lambda conn: None)
