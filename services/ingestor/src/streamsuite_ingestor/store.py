"""PostgreSQL side: one transaction per batch, idempotent inserts, one-at-a-time on bad data.

Rows go to ``records`` with ``ON CONFLICT DO NOTHING`` on the record identity (and, for
messages without one, on their Kafka coordinates), so a batch read twice after a crash, or a
document sent twice, is stored once. They get there by COPY into a session-local staging
table and one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`` (measured faster
than a multi-row INSERT, which stays as ``method="insert"`` for the bench). Dead-letter
events go to ``dead_letters`` in the same transaction, idempotent the same way. When
PostgreSQL rejects a batch for its data, the batch is written again in halves (a savepoint
each, halving what fails) so the good ones are kept and each bad one becomes a refusal
carrying PostgreSQL's own message.

The session is bounded (statement_timeout, lock_timeout, tcp_user_timeout): a lock held by
someone else or a vanished server turns into an error and a retry, never a hang.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras
from psycopg2 import sql

from streamsuite_common.config import DatabaseSettings
from streamsuite_common.contract import DeadLetter
from streamsuite_common.db import connect_kwargs
from streamsuite_common.logs import get_logger
from streamsuite_ingestor.batching import bisect
from streamsuite_ingestor.decode import DeadLetterRow, Row, store_refusal
from streamsuite_ingestor.routes import Route

log = get_logger(__name__)

NOTIFY_CHANNEL = "streamsuite_records"
# SQLSTATE classes that blame the data (22 data exception, 23 integrity constraint, 54 program
# limit such as nesting depth): only these turn a message into a dead letter. Anything else
# (permissions, a missing table, a cancelled statement) is the database's problem: retried.
DATA_ERROR_CLASSES = ("22", "23", "54")

RECORD_COLUMNS = (
    "kind", "route", "source", "sha256", "doc_index", "payload", "name", "age",
    "kafka_topic", "kafka_partition", "kafka_offset", "produced_at",
)  # fmt: skip
DEAD_LETTER_COLUMNS = (
    "origin", "stage", "reason", "detail", "source", "sha256", "doc_index", "line", "raw",
    "raw_truncated", "kafka_topic", "kafka_partition", "kafka_offset", "dlq_topic",
    "dlq_partition", "dlq_offset", "refused_at",
)  # fmt: skip


WRITE_METHODS = ("copy", "insert")
STAGING_TABLE = "ingest_staging"
# The staging table has the records columns as text where COPY has to parse them anyway;
# ``ord`` keeps the batch's order, so ids follow the offsets. Temporary: one per session.
STAGING_COLUMNS = (*RECORD_COLUMNS, "ord")
_STAGING_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGING_TABLE} ("
    "kind text, route text, source text, sha256 text, doc_index bigint, payload text, "
    "name text, age integer, kafka_topic text, kafka_partition integer, kafka_offset bigint, "
    "produced_at timestamptz, ord integer) ON COMMIT DELETE ROWS"
)
# COPY's text format: backslash first, then the characters that end fields and rows.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class StoreUnavailable(Exception):
    """The database cannot take the batch right now (down, restarting, refusing): retry later."""


@dataclasses.dataclass
class Outcome:
    stored: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    duplicates: int = 0
    dead_letters: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    # Rows PostgreSQL would not take: the caller sends them to the DLQ topic.
    refusals: list[DeadLetter] = dataclasses.field(default_factory=list)
    max_record_id: int | None = None


# --- statement builders (pure) ---


def insert_records_sql() -> tuple[sql.Composed, str]:
    """The bulk upsert into ``records`` and its per-row template for execute_values."""
    template = ", ".join("%s::jsonb" if c == "payload" else "%s" for c in RECORD_COLUMNS)
    return sql.SQL(
        "INSERT INTO records ({}) VALUES %s ON CONFLICT DO NOTHING "
        "RETURNING id, kind, kafka_topic, kafka_partition, kafka_offset"
    ).format(sql.SQL(", ").join(map(sql.Identifier, RECORD_COLUMNS))), f"({template})"


def copy_staging_sql() -> str:
    return f"COPY {STAGING_TABLE} ({', '.join(STAGING_COLUMNS)}) FROM STDIN"


def copy_records_sql() -> str:
    return f"COPY records ({', '.join(RECORD_COLUMNS)}) FROM STDIN"


# The last id this session took from ``records``' identity: the highest of a COPY just run.
LAST_RECORD_ID_SQL = "SELECT currval(pg_get_serial_sequence('records', 'id'))"


def insert_from_staging_sql() -> sql.Composed:
    """The staged rows into ``records``, in batch order, skipping those already there."""
    columns = sql.SQL(", ").join(map(sql.Identifier, RECORD_COLUMNS))
    selected = sql.SQL(", ").join(
        sql.SQL("payload::jsonb") if c == "payload" else sql.Identifier(c) for c in RECORD_COLUMNS
    )
    return sql.SQL(
        "INSERT INTO records ({}) SELECT {} FROM {} ORDER BY ord ON CONFLICT DO NOTHING "
        "RETURNING id, kind, kafka_topic, kafka_partition, kafka_offset"
    ).format(columns, selected, sql.Identifier(STAGING_TABLE))


def _copy_field(value: Any) -> str:
    if value is None:
        return "\\N"
    if type(value) is str:
        return value.translate(_COPY_ESCAPES) if _needs_escape(value) else value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _needs_escape(text: str) -> bool:
    return "\\" in text or "\t" in text or "\n" in text or "\r" in text


def copy_text(rows: Sequence[Row], *, staged: bool = True) -> str:
    """The rows in COPY's text format, one line each, fields in ``RECORD_COLUMNS`` order and,
    for the staging table, the row's place in the batch last (``ord``)."""
    lines = []
    for number, row in enumerate(rows):
        fields = [_copy_field(value) for value in record_params(row)]
        if staged:
            fields.append(str(number))
        lines.append("\t".join(fields))
    lines.append("")
    return "\n".join(lines)


def _projected(row: Row) -> bool:
    """Whether the row also goes into a route's own table (which needs its record id)."""
    return row.match is not None and row.match.route.table is not None


def insert_route_sql(route: Route) -> sql.Composed:
    columns = [sql.Identifier("record_id"), *map(sql.Identifier, route.columns)]
    return sql.SQL("INSERT INTO {} ({}) VALUES %s ON CONFLICT DO NOTHING").format(
        sql.Identifier(route.table), sql.SQL(", ").join(columns)
    )


def insert_dead_letters_sql() -> sql.Composed:
    return sql.SQL(
        "INSERT INTO dead_letters ({}) VALUES %s ON CONFLICT DO NOTHING RETURNING id, reason"
    ).format(sql.SQL(", ").join(map(sql.Identifier, DEAD_LETTER_COLUMNS)))


def record_params(row: Row) -> tuple[Any, ...]:
    meta, match, kafka = row.meta, row.match, row.kafka
    name = age = None
    if match is not None and match.route.table is None:
        name, age = row.column("name"), row.column("age")
    return (
        row.kind, row.route, meta.source, meta.sha256, meta.doc_index, row.payload, name, age,
        kafka.topic, kafka.partition, kafka.offset, row.produced_at,
    )  # fmt: skip


def dead_letter_params(item: DeadLetterRow) -> tuple[Any, ...]:
    """Column values of one event, storable as they are: the contract (``DeadLetter``)
    validated the event and made its text and raw bytes fit the columns."""
    event, kafka = item.event, item.event.kafka
    coords = (None, None, None)
    if kafka is not None:
        coords = (kafka.topic, kafka.partition, kafka.offset)
    return (
        event.origin, event.stage, event.reason, event.detail,
        event.source, event.sha256, event.doc_index, event.line,
        event.raw, event.raw_truncated,
        *coords,
        item.dlq.topic, item.dlq.partition, item.dlq.offset, event.at,
    )  # fmt: skip


def notify_payload(schema: str, count: int, max_id: int) -> str:
    return json.dumps({"schema": schema, "table": "records", "count": count, "max_id": max_id})


def is_data_sqlstate(sqlstate: str | None) -> bool:
    return bool(sqlstate) and sqlstate[:2] in DATA_ERROR_CLASSES


def is_data_error(exc: psycopg2.Error) -> bool:
    return is_data_sqlstate(exc.pgcode)


def _is_data_error(exc: Exception) -> bool:
    return isinstance(exc, psycopg2.Error) and is_data_error(exc)


def session_kwargs(
    base: dict[str, Any],
    *,
    statement_timeout_s: float,
    lock_timeout_s: float,
    tcp_user_timeout_s: float,
) -> dict[str, Any]:
    """psycopg2.connect arguments with the session's time bounds added."""
    options = (
        f"{base.get('options', '')} -c statement_timeout={int(statement_timeout_s * 1000)}"
        f" -c lock_timeout={int(lock_timeout_s * 1000)}"
    ).strip()
    return {**base, "options": options, "tcp_user_timeout": int(tcp_user_timeout_s * 1000)}


def describe_error(exc: psycopg2.Error) -> str:
    message = (exc.diag.message_primary if exc.diag else None) or str(exc).strip()
    detail = exc.diag.message_detail if exc.diag else None
    text = f"PostgreSQL {exc.pgcode}: {message}" + (f" ({detail})" if detail else "")
    return text.splitlines()[0] if text else "PostgreSQL error"


class Store:
    """The ingestor's database connection and its batch writes."""

    def __init__(
        self,
        settings: DatabaseSettings,
        routes: Sequence[Route],
        *,
        application_name: str = "streamsuite-ingestor",
        statement_timeout_s: float = 60.0,
        lock_timeout_s: float = 10.0,
        tcp_user_timeout_s: float = 30.0,
        method: str = "copy",
    ):
        if method not in WRITE_METHODS:
            raise ValueError(f"method must be one of {WRITE_METHODS}, not {method!r}")
        self.method = method
        self.settings = settings
        self.routes = tuple(routes)
        self._kwargs = session_kwargs(
            connect_kwargs(settings, application_name=application_name),
            statement_timeout_s=statement_timeout_s,
            lock_timeout_s=lock_timeout_s,
            tcp_user_timeout_s=tcp_user_timeout_s,
        )
        self._conn: psycopg2.extensions.connection | None = None

    def connection(self) -> psycopg2.extensions.connection:
        """The kept connection, opened (one attempt) when there is none; the caller retries."""
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg2.connect(**self._kwargs)
            except psycopg2.Error as exc:
                raise StoreUnavailable(describe_error(exc) if exc.pgcode else str(exc)) from exc
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg2.Error):  # already broken: nothing to hand back
                self._conn.close()
            self._conn = None

    def write(self, rows: Sequence[Row], dead: Sequence[DeadLetterRow]) -> Outcome:
        """Store one batch in one transaction; raise StoreUnavailable to have it retried."""
        if not rows and not dead:
            return Outcome()
        conn = self.connection()
        try:
            return self._transaction(conn, rows, dead, in_halves=False)
        except psycopg2.Error as exc:
            if conn.closed or not is_data_error(exc):
                self.close()
                raise StoreUnavailable(describe_error(exc)) from exc
            log.warning("batch rejected, storing it in halves", error=describe_error(exc))
        try:
            return self._transaction(conn, rows, dead, in_halves=True)
        except psycopg2.Error as exc:
            self.close()
            raise StoreUnavailable(describe_error(exc)) from exc

    def _transaction(
        self,
        conn: psycopg2.extensions.connection,
        rows: Sequence[Row],
        dead: Sequence[DeadLetterRow],
        *,
        in_halves: bool,
    ) -> Outcome:
        outcome = Outcome()
        with conn, conn.cursor() as cur:
            if in_halves:
                stored, bad = bisect(
                    rows, lambda part: self._guarded(cur, lambda: self._insert_rows(cur, part)),
                    _is_data_error,
                )  # fmt: skip
                outcome.refusals += [store_refusal(row, describe_error(e)) for row, e in bad]
                reasons, bad_events = bisect(dead, self._dead_letters_attempt(cur), _is_data_error)
                outcome.dead_letters.update(reasons)
                for item, exc in bad_events:
                    outcome.dead_letters.update(self._insert_plain_dead_letter(cur, item, exc))
            else:
                stored = self._insert_rows(cur, rows)
                outcome.dead_letters.update(self._insert_dead_letters(cur, dead))
            for _, kind in stored:
                outcome.stored[kind] += 1
            outcome.duplicates = len(rows) - len(stored) - len(outcome.refusals)
            if stored:
                outcome.max_record_id = max(record_id for record_id, _ in stored)
                cur.execute(
                    "SELECT pg_notify(%s, %s)",
                    (
                        NOTIFY_CHANNEL,
                        notify_payload(self.settings.schema, len(stored), outcome.max_record_id),
                    ),
                )
        return outcome

    @staticmethod
    def _guarded(cur: psycopg2.extensions.cursor, action: Any) -> Any:
        """Run ``action`` under a savepoint; a data error undoes it alone and is re-raised."""
        cur.execute("SAVEPOINT one_message")
        try:
            result = action()
        except psycopg2.Error as exc:
            if not is_data_error(exc):
                raise
            cur.execute("ROLLBACK TO SAVEPOINT one_message")
            raise
        cur.execute("RELEASE SAVEPOINT one_message")
        return result

    def _insert_rows(
        self, cur: psycopg2.extensions.cursor, rows: Sequence[Row]
    ) -> list[tuple[int, str]]:
        if not rows:
            return []
        if self.method == "copy" and not any(_projected(row) for row in rows):
            direct = self._copy_direct(cur, rows)
            if direct is not None:
                return direct
        if self.method == "copy":
            # One round trip: the table once per session, emptied of a bisect's earlier part.
            cur.execute(f"{_STAGING_DDL}; TRUNCATE {STAGING_TABLE}")
            cur.copy_expert(copy_staging_sql(), io.StringIO(copy_text(rows)))
            cur.execute(insert_from_staging_sql())
            returned = cur.fetchall()
        else:
            statement, template = insert_records_sql()
            returned = psycopg2.extras.execute_values(
                cur,
                statement,
                [record_params(row) for row in rows],
                template=template,
                page_size=len(rows),
                fetch=True,
            )
        by_coordinates = {(r.kafka.topic, r.kafka.partition, r.kafka.offset): r for r in rows}
        projections: dict[str, list[tuple[Any, ...]]] = collections.defaultdict(list)
        for record_id, _, topic, partition, offset in returned:
            row = by_coordinates[(topic, partition, offset)]
            if row.match is not None and row.match.route.table is not None:
                projections[row.match.route.name].append((record_id, *row.match.values))
        for route in self.routes:
            if projections.get(route.name):
                psycopg2.extras.execute_values(
                    cur, insert_route_sql(route), projections[route.name], page_size=10_000
                )
        return [(record_id, kind) for record_id, kind, *_ in returned]

    @staticmethod
    def _copy_direct(
        cur: psycopg2.extensions.cursor, rows: Sequence[Row]
    ) -> list[tuple[int, str]] | None:
        """The batch COPYed straight into ``records`` (half the database's work of staging
        it first), or None when PostgreSQL refused it (a row already stored, after a
        redelivery; or bad data): undone, and the staged INSERT ... ON CONFLICT sorts it out.
        Only the highest id is known: the caller counts and notifies with it."""
        cur.execute("SAVEPOINT direct_copy")
        try:
            cur.copy_expert(copy_records_sql(), io.StringIO(copy_text(rows, staged=False)))
        except psycopg2.Error as exc:
            if not is_data_error(exc):
                raise
            cur.execute("ROLLBACK TO SAVEPOINT direct_copy")
            return None
        cur.execute("RELEASE SAVEPOINT direct_copy")
        cur.execute(LAST_RECORD_ID_SQL)
        (last,) = cur.fetchone()
        # Ids of one COPY ascend but need not be consecutive (other writers take ids too):
        # the last one is exact, the others stand in for counting only.
        return [(last, row.kind) for row in rows]

    @staticmethod
    def _insert_dead_letters(
        cur: psycopg2.extensions.cursor, dead: Sequence[DeadLetterRow]
    ) -> collections.Counter[str]:
        if not dead:
            return collections.Counter()
        returned = psycopg2.extras.execute_values(
            cur,
            insert_dead_letters_sql(),
            [dead_letter_params(item) for item in dead],
            page_size=len(dead),
            fetch=True,
        )
        return collections.Counter(reason for _, reason in returned)

    def _dead_letters_attempt(self, cur: psycopg2.extensions.cursor) -> Any:
        def attempt(part: Sequence[DeadLetterRow]) -> list[str]:
            counts = self._guarded(cur, lambda: self._insert_dead_letters(cur, part))
            return list(counts.elements())

        return attempt

    def _insert_plain_dead_letter(
        self, cur: psycopg2.extensions.cursor, item: DeadLetterRow, exc: Exception
    ) -> collections.Counter[str]:
        """Keep what we can of an event PostgreSQL refused: the raw bytes and its reason."""
        assert isinstance(exc, psycopg2.Error)
        log.error("dead-letter event not storable as is", error=describe_error(exc))
        plain = dataclasses.replace(
            item.event,
            reason="unstorable-dead-letter",
            detail=f"{describe_error(exc)}; original reason: {item.event.reason}",
            source=None,
            sha256=None,
            doc_index=None,
            line=None,
            kafka=None,
        )
        return self._guarded(
            cur, lambda: self._insert_dead_letters(cur, [DeadLetterRow(plain, item.dlq)])
        )
