"""The two database roles on the real PostgreSQL: the writer writes, the reader only reads."""

from __future__ import annotations

import dataclasses

import pytest
from psycopg2 import errors, sql

from streamsuite_common.db import DatabaseUnavailable, connect


def test_writer_creates_and_fills_tables_the_reader_can_select(
    writer_settings, reader_settings, db_schema
):
    table = sql.Identifier(db_schema, "people")
    writer = connect(writer_settings, application_name="test-writer")
    with writer, writer.cursor() as cur:
        cur.execute(sql.SQL("CREATE TABLE {} (name text, age int)").format(table))
        cur.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(table), ("Ada", 36))
    writer.close()

    reader = connect(reader_settings, application_name="test-reader")
    with reader, reader.cursor() as cur:
        cur.execute(sql.SQL("SELECT name, age FROM {}").format(table))
        assert cur.fetchall() == [("Ada", 36)]
    reader.close()


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO {table} VALUES ('Eve', 1)",
        "UPDATE {table} SET age = 2",
        "DELETE FROM {table}",
        "CREATE TABLE {schema}.sneaky (x int)",
        "TRUNCATE {table}",
    ],
)
def test_read_only_role_cannot_write(writer_settings, reader_settings, db_schema, statement):
    table = sql.Identifier(db_schema, "people")
    writer = connect(writer_settings, application_name="test-writer")
    with writer, writer.cursor() as cur:
        cur.execute(sql.SQL("CREATE TABLE {} (name text, age int)").format(table))
    writer.close()

    reader = connect(reader_settings, application_name="test-reader")
    # Even with the session's read-only default switched off, privileges refuse the write.
    reader.set_session(readonly=False)
    try:
        with (
            pytest.raises((errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction)),
            reader.cursor() as cur,
        ):
            cur.execute(sql.SQL(statement).format(table=table, schema=sql.Identifier(db_schema)))
        reader.rollback()
        with reader.cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
            assert cur.fetchone() == (0,)
    finally:
        reader.close()


def test_read_only_role_sessions_start_read_only(reader_settings):
    reader = connect(reader_settings, application_name="test-reader")
    try:
        with reader.cursor() as cur:
            cur.execute("SHOW default_transaction_read_only")
            assert cur.fetchone() == ("on",)
    finally:
        reader.close()


def test_wrong_password_fails_with_the_reason_instead_of_retrying(reader_settings):
    wrong = dataclasses.replace(reader_settings, user_pwd="not-the-password")
    with pytest.raises(DatabaseUnavailable, match="password authentication failed"):
        connect(wrong, application_name="test-wrong-password")
