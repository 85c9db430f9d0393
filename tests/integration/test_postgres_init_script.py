"""helm/streamsuite/files/postgres-init.sh (run by the official postgres image on first start,
in the chart and in compose.yaml) against the real PostgreSQL server: the roles it creates can do
what the services need and no more."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import errors, sql
from psycopg2.extensions import parse_dsn

from devstack.postgres import bin_dir
from devstack.testing import unique

SCRIPT = Path(__file__).resolve().parents[2] / "helm" / "streamsuite" / "files" / "postgres-init.sh"


@pytest.fixture
def initialised(stack_env, admin_conn):
    """Run the script as the image would, with names of this test's own; drop them after."""
    admin = parse_dsn(stack_env["DEVSTACK_PG_ADMIN_DSN"])
    names = {"db": unique("initdb"), "writer": unique("writer"), "reader": unique("reader")}
    env = {
        "PATH": f"{bin_dir()}:{os.environ['PATH']}",
        "PGHOST": admin.get("host", ""),
        "PGPORT": admin.get("port", "5432"),
        "PGPASSWORD": admin.get("password", ""),
        "POSTGRES_USER": admin["user"],
        "WRITER_PASSWORD": "writer-pw",
        "READER_PASSWORD": "reader-pw",
        "STREAMSUITE_DATABASE": names["db"],
        "STREAMSUITE_WRITER": names["writer"],
        "STREAMSUITE_READER": names["reader"],
    }
    result = subprocess.run(
        ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    # Over TCP, where the server asks for passwords (the admin DSN may be a trusted socket).
    connect = {"host": stack_env["DEVSTACK_PG_HOST"], "port": stack_env["DEVSTACK_PG_PORT"]}
    yield names, connect
    with admin_conn.cursor() as cur:
        cur.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(names["db"]))
        )
        for role in (names["writer"], names["reader"]):
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _connect(connect, db, user, password):
    conn = psycopg2.connect(dbname=db, user=user, password=password, **connect)
    conn.autocommit = True
    return conn


def test_writer_owns_the_database_and_reader_reads_what_the_writer_creates(initialised):
    names, connect = initialised
    writer = _connect(connect, names["db"], names["writer"], "writer-pw")
    try:
        with writer.cursor() as cur:
            cur.execute("CREATE SCHEMA data")
            cur.execute("CREATE TABLE data.t (v int)")
            cur.execute("INSERT INTO data.t VALUES (1)")
            cur.execute(
                sql.SQL("GRANT USAGE ON SCHEMA data TO {}").format(sql.Identifier(names["reader"]))
            )
    finally:
        writer.close()
    reader = _connect(connect, names["db"], names["reader"], "reader-pw")
    try:
        with reader.cursor() as cur:
            cur.execute("SELECT v FROM data.t")  # no GRANT on the table: default privileges
            assert cur.fetchall() == [(1,)]
            with pytest.raises(errors.ReadOnlySqlTransaction):
                cur.execute("INSERT INTO data.t VALUES (2)")
    finally:
        reader.close()


def test_reader_cannot_create_anything(initialised):
    names, connect = initialised
    reader = _connect(connect, names["db"], names["reader"], "reader-pw")
    try:
        with reader.cursor() as cur, pytest.raises(errors.ReadOnlySqlTransaction):
            cur.execute("CREATE TABLE public.sneaky (v int)")
    finally:
        reader.close()


def test_wrong_password_is_refused(initialised):
    names, connect = initialised
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        _connect(connect, names["db"], names["reader"], "not-the-password")
