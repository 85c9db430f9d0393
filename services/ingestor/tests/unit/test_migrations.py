"""Migration files: order, history checks, and the bundled set."""

from __future__ import annotations

import pytest
from psycopg2 import sql

from streamsuite_ingestor.migrate import (
    Column,
    Migration,
    MigrationError,
    RouteTableConflict,
    bundled_migrations,
    lock_key,
    parse_migrations,
    pending,
    route_table_changes,
    route_table_sql,
)
from streamsuite_ingestor.routes import Field, Route, parse_routes


def test_migrations_run_in_version_order_not_name_order():
    found = parse_migrations(
        [("0010_later.sql", "B"), ("0002_early.sql", "A"), ("README.md", "x"), ("2_bad.sql", "y")]
    )
    assert [(m.version, m.name) for m in found] == [(2, "0002_early.sql"), (10, "0010_later.sql")]


def test_two_files_with_one_version_are_refused():
    with pytest.raises(MigrationError, match="version 0001"):
        parse_migrations([("0001_a.sql", ""), ("0001_b.sql", "")])


def test_pending_skips_applied_ones():
    a, b = Migration(1, "0001_a.sql", "A"), Migration(2, "0002_b.sql", "B")
    assert pending([a, b], {1: a.checksum}) == [b]
    assert pending([a, b], {1: a.checksum, 2: b.checksum}) == []


def test_changed_applied_migration_is_refused():
    a = Migration(1, "0001_a.sql", "A")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        pending([a], {1: "0" * 64})


def test_database_ahead_of_the_code_is_refused():
    with pytest.raises(MigrationError, match="0002"):
        pending([Migration(1, "0001_a.sql", "A")], {1: Migration(1, "", "A").checksum, 2: "x"})


def test_bundled_migrations_are_numbered_from_one_without_gaps():
    versions = [m.version for m in bundled_migrations()]
    assert versions == list(range(1, len(versions) + 1))
    assert "CREATE TABLE records" in bundled_migrations()[0].sql


def test_lock_key_is_per_schema_and_a_signed_bigint():
    assert lock_key("a") == lock_key("a") != lock_key("b")
    assert -(2**63) <= lock_key("a") < 2**63


def test_route_table_statement_quotes_names_and_types_columns():
    route = parse_routes(
        {"routes": [{"name": "r", "table": "readings", "fields": [
            {"name": "v", "type": "number"}, {"name": "ok", "type": "boolean"}]}]}
    )[0]  # fmt: skip
    statement = render(route_table_sql(route))
    assert statement == (
        'CREATE TABLE IF NOT EXISTS "readings" (record_id bigint PRIMARY KEY REFERENCES records '
        '(id) ON DELETE CASCADE, "v" double precision NOT NULL, "ok" boolean NOT NULL)'
    )


def render(statement) -> str:
    """psycopg2 renders SQL through a live connection; this renders the pieces we build."""
    if isinstance(statement, sql.Composed):
        return "".join(render(part) for part in statement.seq)
    if isinstance(statement, sql.Identifier):
        return ".".join('"' + s.replace('"', '""') + '"' for s in statement.strings)
    return statement.string


READING = Route(
    name="reading",
    table="readings",
    fields=(Field("sensor", "string", "sensor"), Field("hum", "integer", "hum")),
)


def _sql(statements) -> list[str]:
    return [" ".join(repr(part) for part in s.seq) for s in statements]


def test_route_table_gets_new_fields_as_nullable_columns():
    existing = [Column("record_id", "bigint", False), Column("sensor", "text", False)]
    [change] = route_table_changes(READING, existing)
    assert "ADD COLUMN" in _sql([change])[0]
    assert "'hum'" in _sql([change])[0]
    assert "NOT NULL" not in _sql([change])[0]


def test_a_column_whose_field_left_the_route_may_be_null():
    existing = [
        Column("record_id", "bigint", False),
        Column("sensor", "text", False),
        Column("hum", "bigint", False),
        Column("old", "double precision", False),
    ]
    [change] = route_table_changes(READING, existing)
    assert "DROP NOT NULL" in _sql([change])[0]
    assert "'old'" in _sql([change])[0]


def test_a_new_table_or_a_matching_one_needs_no_change():
    assert route_table_changes(READING, []) == []
    existing = [Column("record_id", "bigint", False), Column("sensor", "text", False),
                Column("hum", "bigint", True)]  # fmt: skip
    assert route_table_changes(READING, existing) == []


def test_a_changed_column_type_is_a_conflict_naming_table_and_column():
    existing = [Column("record_id", "bigint", False), Column("sensor", "text", False),
                Column("hum", "text", False)]  # fmt: skip
    with pytest.raises(RouteTableConflict, match="table 'readings' column 'hum' is text"):
        route_table_changes(READING, existing)
