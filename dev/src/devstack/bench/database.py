"""The bench's tables: streamsuite's records table made by the ingestor's own migrations (its
CLI, so the bench measures whatever indexes the ingestor ships), and a bare table beside it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import psycopg2
from psycopg2 import sql

BARE_TABLE = "bare_records"


@dataclasses.dataclass(frozen=True)
class Stack:
    """Where the running stack's broker and PostgreSQL are (from devstack's DEVSTACK_* env)."""

    bootstrap: str
    pg_host: str
    pg_port: int
    dbname: str
    user: str
    password_file: str
    var: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Stack:
        return cls(
            bootstrap=env["DEVSTACK_KAFKA_BOOTSTRAP"],
            pg_host=env["DEVSTACK_PG_HOST"],
            pg_port=int(env["DEVSTACK_PG_PORT"]),
            dbname=env["DEVSTACK_PG_DBNAME"],
            user=env["DEVSTACK_WRITER_ROLE"],
            password_file=env["DEVSTACK_WRITER_PASSWORD_FILE"],
            var=Path(env["DEVSTACK_VAR"]),
        )

    @property
    def password(self) -> str:
        return Path(self.password_file).read_text().strip()

    def connect(self, schema: str | None = None) -> psycopg2.extensions.connection:
        options = f"-c search_path={schema}" if schema else ""
        return psycopg2.connect(
            host=self.pg_host, port=self.pg_port, dbname=self.dbname, user=self.user,
            password=self.password, sslmode="disable", options=options,
            application_name="streamsuite-bench",
        )  # fmt: skip

    def ingestor_env(self, base: Mapping[str, str], **values: str) -> dict[str, str]:
        """The ingestor's configuration as STREAMSUITE_* variables (its documented scheme)."""
        env = {k: v for k, v in base.items() if not k.startswith("STREAMSUITE_")}
        env.update(
            STREAMSUITE_KAFKA__BOOTSTRAP_SERVERS=self.bootstrap,
            STREAMSUITE_DATABASE__HOST=self.pg_host,
            STREAMSUITE_DATABASE__PORT=str(self.pg_port),
            STREAMSUITE_DATABASE__DBNAME=self.dbname,
            STREAMSUITE_DATABASE__DBUSER=self.user,
            STREAMSUITE_DATABASE__USER_PWD_FILE=self.password_file,
            STREAMSUITE_DATABASE__SSLMODE="disable",
            STREAMSUITE_INGESTOR__READER_ROLE="",
            STREAMSUITE_LOG__LEVEL="warning",
            STREAMSUITE_LOG__FORMAT="json",
            STREAMSUITE_HTTP__HOST="127.0.0.1",
            STREAMSUITE_HTTP__PORT="0",
        )
        env.update({f"STREAMSUITE_{k}": v for k, v in values.items()})
        return env


def migrate_records(stack: Stack, schema: str, env: Mapping[str, str]) -> None:
    """streamsuite's tables in a fresh ``schema``, by `python -m streamsuite_ingestor migrate`."""
    result = subprocess.run(
        [sys.executable, "-m", "streamsuite_ingestor", "migrate"],
        env=stack.ingestor_env(env, DATABASE__SCHEMA=schema),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ingestor migrate failed: {(result.stderr or result.stdout)[-500:]}")


def create_bare(stack: Stack, schema: str) -> None:
    """A table with the Kafka coordinates as primary key and the document, nothing else."""
    with stack.connect() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        cur.execute(
            sql.SQL(
                "CREATE TABLE {}.{} (kafka_topic text NOT NULL, kafka_partition integer NOT NULL,"
                " kafka_offset bigint NOT NULL, payload jsonb NOT NULL,"
                " PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset))"
            ).format(sql.Identifier(schema), sql.Identifier(BARE_TABLE))
        )
    conn.close()


def add_coordinates_key(stack: Stack, schema: str) -> None:
    """Connect's upsert says ON CONFLICT (topic, partition, offset): that needs a whole unique
    index on the coordinates (streamsuite's own covers only messages without identity)."""
    with stack.connect(schema) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE UNIQUE INDEX records_bench_coordinates"
            " ON records (kafka_topic, kafka_partition, kafka_offset)"
        )
    conn.close()


def drop_schema(stack: Stack, schema: str) -> None:
    with stack.connect() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    conn.close()


class RowWatch:
    """Polls a table's row count: when the first row appeared and when the last one did."""

    def __init__(self, stack: Stack, schema: str, table: str, interval_s: float = 0.2):
        self.conn = stack.connect(schema)
        self.conn.autocommit = True
        self.query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        self.interval_s = interval_s

    def count(self) -> int:
        with self.conn.cursor() as cur:
            cur.execute(self.query)
            return cur.fetchone()[0]

    def wait(self, n: int, timeout_s: float, alive) -> tuple[float, float]:
        """(wall time of the first row, of the n-th row); RuntimeError when ``alive()`` turns
        false or time runs out first."""
        first = None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            stored = self.count()
            now = time.time()
            if stored and first is None:
                first = now
            if stored >= n:
                return first, now
            if not alive():
                raise RuntimeError(f"the contender stopped with {stored} of {n} rows stored")
            time.sleep(self.interval_s)
        raise RuntimeError(f"timed out with {self.count()} of {n} rows stored")

    def close(self) -> None:
        self.conn.close()
