"""Versioned SQL migrations, applied once per schema under a transaction-scoped advisory lock,
so replicas starting together wait for one another instead of racing.

Migration files live in ``streamsuite_ingestor/migrations`` as ``NNNN_what.sql`` and run in
version order with ``search_path`` set to the configured schema. ``schema_migrations`` records
each version with the file's checksum: an applied file that changed afterwards stops the start.

Route tables follow their routes (like Kafka Connect's ``auto.evolve``): a field added to a route
adds a nullable column, a field taken out lets its column be NULL from then on, and a change
no table can follow without losing data (a column's type) stops the start, naming the column.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Sequence
from importlib import resources

import psycopg2.extensions
from psycopg2 import sql

from streamsuite_common.config import ConfigError
from streamsuite_common.logs import get_logger
from streamsuite_ingestor.routes import SQL_TYPES, Route

log = get_logger(__name__)

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    """The migrations on disk and in the database disagree; the message says how."""


class RouteTableConflict(ConfigError):
    """A route and its existing table disagree in a way no ALTER can settle without loss."""


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # as information_schema.columns.data_type spells it
    nullable: bool


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def parse_migrations(files: Iterable[tuple[str, str]]) -> list[Migration]:
    """(file name, content) pairs into migrations in version order; other files are ignored."""
    found: dict[int, Migration] = {}
    for filename, content in files:
        match = _FILE.match(filename)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations with version {version:04d}")
        found[version] = Migration(version, filename, content)
    return [found[v] for v in sorted(found)]


def bundled_migrations() -> list[Migration]:
    folder = resources.files("streamsuite_ingestor") / "migrations"
    return parse_migrations(
        (item.name, item.read_text(encoding="utf-8")) for item in folder.iterdir() if item.is_file()
    )


def pending(available: Sequence[Migration], applied: dict[int, str]) -> list[Migration]:
    """Migrations still to run; refuses a database ahead of this code or edited history."""
    known = {m.version: m for m in available}
    for version, checksum in sorted(applied.items()):
        if version not in known:
            raise MigrationError(
                f"the database has migration {version:04d}, which this ingestor does not know "
                "(a newer version migrated it)"
            )
        if known[version].checksum != checksum:
            raise MigrationError(f"migration {known[version].name} changed after it was applied")
    return [m for m in available if m.version not in applied]


def lock_key(schema: str) -> int:
    """A stable signed 64-bit advisory-lock key per schema."""
    digest = hashlib.sha256(f"streamsuite-ingestor:migrate:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def route_table_sql(route: Route) -> sql.Composed:
    """CREATE TABLE IF NOT EXISTS for an extra route: one row per matching record."""
    columns = [
        sql.SQL("{} {} NOT NULL").format(sql.Identifier(f.column), sql.SQL(SQL_TYPES[f.type]))
        for f in route.fields
    ]
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (record_id bigint PRIMARY KEY "
        "REFERENCES records (id) ON DELETE CASCADE, {})"
    ).format(sql.Identifier(route.table), sql.SQL(", ").join(columns))


def route_table_changes(route: Route, existing: Sequence[Column]) -> list[sql.Composed]:
    """ALTER TABLE statements that make ``route``'s table fit it; RouteTableConflict if none can.

    ``existing`` is the table's columns now (empty: the table is new and made elsewhere)."""
    if not existing or route.table is None:
        return []
    table = sql.Identifier(route.table)
    have = {c.name: c for c in existing}
    wanted = {f.column: SQL_TYPES[f.type] for f in route.fields}
    changes = []
    for name, sql_type in wanted.items():
        column = have.get(name)
        if column is None:
            # Rows stored before the field existed have no value for it: nullable.
            changes.append(
                sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                    table, sql.Identifier(name), sql.SQL(sql_type)
                )
            )
        elif column.sql_type != sql_type:
            raise RouteTableConflict(
                f"route {route.name!r}: table {route.table!r} column {name!r} is "
                f"{column.sql_type}, the route needs {sql_type}; migrate the table or use "
                "another column name"
            )
    for column in existing:
        if column.name not in wanted and column.name != "record_id" and not column.nullable:
            # The field left the route: new rows have no value for it.
            changes.append(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL").format(
                    table, sql.Identifier(column.name)
                )
            )
    return changes


def _evolve_route_table(cur: psycopg2.extensions.cursor, schema: str, route: Route) -> None:
    cur.execute(
        "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, route.table),
    )
    existing = [Column(*row) for row in cur.fetchall()]
    for statement in route_table_changes(route, existing):
        cur.execute(statement)
        log.info("route table changed", table=route.table, change=statement.as_string(cur))
    if not existing:
        cur.execute(route_table_sql(route))


def migrate(
    conn: psycopg2.extensions.connection,
    schema: str,
    *,
    reader_role: str = "",
    routes: Sequence[Route] = (),
    migrations: Sequence[Migration] | None = None,
) -> list[str]:
    """Bring ``schema`` up to date in one transaction; return the names of the files applied."""
    migrations = bundled_migrations() if migrations is None else migrations
    ids = {"schema": sql.Identifier(schema)}
    with conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(schema),))
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {schema}").format(**ids))
        cur.execute(sql.SQL("SET LOCAL search_path TO {schema}").format(**ids))
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur.execute("SELECT version, checksum FROM schema_migrations")
        todo = pending(migrations, dict(cur.fetchall()))
        for migration in todo:
            cur.execute(migration.sql)
            cur.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            log.info("migration applied", schema=schema, migration=migration.name)
        for route in routes:
            if route.table is not None:
                _evolve_route_table(cur, schema, route)
        if reader_role:
            _grant_reader(cur, schema, reader_role)
    return [m.name for m in todo]


def _grant_reader(cur: psycopg2.extensions.cursor, schema: str, role: str) -> None:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    if cur.fetchone() is None:
        log.warning("reader role does not exist; no grants made", role=role)
        return
    ids = {"schema": sql.Identifier(schema), "role": sql.Identifier(role)}
    for statement in (
        "GRANT USAGE ON SCHEMA {schema} TO {role}",
        "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}",
        # Tables made later (route tables, next migrations) are readable too, nothing more.
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role}",
    ):
        cur.execute(sql.SQL(statement).format(**ids))
