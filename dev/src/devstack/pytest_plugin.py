"""Fixtures for the integration and e2e tests of every package (a pytest11 entry point).

They reach the local stack that ``make test`` (``devstack run``) or ``make up`` runs: one broker
and one database per run, shared by all tests, which isolate themselves by unique topic, group
and schema names. Without a running stack an integration test fails with how to start one; it
never skips, so a green run always means the real Kafka and PostgreSQL were there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from devstack.settings import StackSettings
from devstack.stack import read_env_file
from streamsuite_common.config import DatabaseSettings, KafkaSettings
from streamsuite_common.kafka import connect_admin, ensure_topics


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests under an integration, browser, e2e, chart or k8s folder carry that marker."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for marker in ("integration", "browser", "e2e", "chart", "k8s"):
            if marker in parts:
                item.add_marker(marker)


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    """DEVSTACK_* variables of the running stack: from the environment or var/stack.env."""
    if "DEVSTACK_KAFKA_BOOTSTRAP" in os.environ:
        return {key: value for key, value in os.environ.items() if key.startswith("DEVSTACK_")}
    env_file = StackSettings.from_env().env_file
    if env_file.is_file():
        return read_env_file(env_file)
    pytest.fail(
        "integration tests need the local Kafka and PostgreSQL: run them with `make test`, "
        "or start `make up` in another terminal",
        pytrace=False,
    )


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def kafka_settings(stack_env: dict[str, str]) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=(stack_env["DEVSTACK_KAFKA_BOOTSTRAP"],))


@pytest.fixture
def make_topic(kafka_settings: KafkaSettings) -> Iterator[Callable[..., str]]:
    """Create topics with unique names for this test; they are deleted afterwards."""
    admin = connect_admin(kafka_settings)
    created: list[str] = []

    def make(prefix: str = "test", partitions: int = 1) -> str:
        name = unique(prefix).replace("_", ".")
        ensure_topics(admin, [name], partitions=partitions)
        created.append(name)
        return name

    yield make
    if created:
        admin.delete_topics(created)
    admin.close()


def _role_settings(stack_env: dict[str, str], role: str) -> DatabaseSettings:
    password = Path(stack_env[f"DEVSTACK_{role}_PASSWORD_FILE"]).read_text().strip()
    return DatabaseSettings(
        host=stack_env["DEVSTACK_PG_HOST"],
        port=int(stack_env["DEVSTACK_PG_PORT"]),
        dbname=stack_env["DEVSTACK_PG_DBNAME"],
        dbuser=stack_env[f"DEVSTACK_{role}_ROLE"],
        user_pwd=password,
        sslmode="disable",
        connect_timeout_s=10,
    )


@pytest.fixture(scope="session")
def writer_settings(stack_env: dict[str, str]) -> DatabaseSettings:
    """The writer role (the ingestor's) on the stack's database."""
    return _role_settings(stack_env, "WRITER")


@pytest.fixture(scope="session")
def reader_settings(stack_env: dict[str, str]) -> DatabaseSettings:
    """The read-only role (query API's and web's) on the stack's database."""
    return _role_settings(stack_env, "READER")


@pytest.fixture
def admin_conn(stack_env: dict[str, str]) -> Iterator[psycopg2.extensions.connection]:
    """A superuser connection to the stack's database, autocommit."""
    conn = psycopg2.connect(
        stack_env["DEVSTACK_PG_ADMIN_DSN"], dbname=stack_env["DEVSTACK_PG_DBNAME"]
    )
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def db_schema(
    admin_conn: psycopg2.extensions.connection, stack_env: dict[str, str]
) -> Iterator[str]:
    """A schema of this test's own, owned by the writer and readable by the reader."""
    name = unique("test")
    ids = {
        "schema": sql.Identifier(name),
        "writer": sql.Identifier(stack_env["DEVSTACK_WRITER_ROLE"]),
        "reader": sql.Identifier(stack_env["DEVSTACK_READER_ROLE"]),
    }
    with admin_conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA {schema} AUTHORIZATION {writer}").format(**ids))
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {schema} TO {reader}").format(**ids))
    yield name
    with admin_conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA {schema} CASCADE").format(**ids))
