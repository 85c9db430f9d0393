"""The reads, each a small function taking an open psycopg2 connection (autocommit, read-only
role, ``search_path`` at the schema): the query API and the web UI call the same ones.

A filter PostgreSQL itself refuses (an invalid JSON path, a number beyond its range) raises
``InvalidQuery``; any other database error propagates for the caller to map to 503.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import psycopg2
import psycopg2.extensions

from streamsuite_common.query import render, sql
from streamsuite_common.query.cursor import CursorCodec
from streamsuite_common.query.errors import InvalidQuery
from streamsuite_common.query.filters import (
    DEAD_LETTERS_SCOPE,
    RECORDS_SCOPE,
    DeadLetterFilter,
    Page,
    RecordFilter,
)

Connection = psycopg2.extensions.connection

# SQLSTATEs that blame a bound value: class 22 (data exception: bad jsonb/jsonpath value,
# numeric overflow, invalid regex) and 42601 (syntax error: jsonpath syntax).
_INPUT_CLASSES = ("22",)
_INPUT_CODES = ("42601",)


@dataclasses.dataclass(frozen=True)
class JsonPage:
    """Items as JSON texts, newest first, and the cursor of the next page (None: the end)."""

    items: list[str]
    next_cursor: str | None
    last_id: int | None = None

    def to_json(self) -> str:
        return render.page_json(self.items, self.next_cursor)


def _blames_input(exc: psycopg2.Error) -> bool:
    code = exc.pgcode or ""
    return code[:2] in _INPUT_CLASSES or code in _INPUT_CODES


def _execute(conn: Connection, statement: sql.Statement, f: RecordFilter | None = None) -> list:
    text, params = statement
    try:
        with conn.cursor() as cur:
            cur.execute(text, params)
            return cur.fetchall()
    except psycopg2.Error as exc:
        if not conn.autocommit and not conn.closed:
            conn.rollback()
        if not _blames_input(exc):
            raise
        message = (exc.diag.message_primary or str(exc)).strip().splitlines()[0]
        raise InvalidQuery(_culprit(f, message), f"PostgreSQL refused it: {message}") from None


def _culprit(f: RecordFilter | None, message: str) -> str:
    """The parameter a refused statement most likely failed on, for the message."""
    given = [name for name in ("value", "contains", "jsonpath") if f and getattr(f, name)]
    if "jsonpath" in given and ("jsonpath" in message or "regular expression" in message):
        return "jsonpath"
    return given[0] if len(given) == 1 else "filter"


def _page(
    rows: list, page: Page, codec: CursorCodec, scope: str, to_json: Callable[[Any], str]
) -> JsonPage:
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    last_id = rows[-1][0] if rows else None
    cursor = codec.encode(scope, last_id) if more and last_id is not None else None
    return JsonPage([to_json(row) for row in rows], cursor, last_id)


def list_records(conn: Connection, f: RecordFilter, page: Page, codec: CursorCodec) -> JsonPage:
    if sql.uses_payload_index(f):
        rows = _payload_rows(conn, f, page)
    else:
        rows = _execute(conn, sql.records_page_sql(f, page), f)
    return _page(rows, page, codec, RECORDS_SCOPE, render.record_json)


def _payload_rows(conn: Connection, f: RecordFilter, page: Page) -> list:
    """One row more than the page, newest first, in two bounded steps (see ``sql``)."""
    want = page.limit + 1
    top = page.before_id if page.before_id is not None else latest_record_id(conn) + 1
    rows = _execute(conn, sql.records_window_sql(f, top, want), f)
    below = top - sql.PAYLOAD_WINDOW
    if len(rows) < want and below > 1:
        rows += _execute(conn, sql.records_below_sql(f, below, want - len(rows)), f)
    return rows


def get_record(conn: Connection, record_id: int) -> str | None:
    rows = _execute(conn, sql.record_by_id_sql(record_id))
    return render.record_json(rows[0]) if rows else None


def records_after(
    conn: Connection, f: RecordFilter, after_id: int, limit: int
) -> list[tuple[int, str]]:
    """(id, record JSON) of matching records after ``after_id``, oldest first."""
    rows = _execute(conn, sql.records_after_sql(f, after_id, limit), f)
    return [(row[0], render.record_json(row)) for row in rows]


def latest_record_id(conn: Connection) -> int:
    return _execute(conn, sql.latest_record_id_sql())[0][0]


def list_dead_letters(
    conn: Connection, f: DeadLetterFilter, page: Page, codec: CursorCodec
) -> JsonPage:
    rows = _execute(conn, sql.dead_letters_page_sql(f, page))
    return _page(rows, page, codec, DEAD_LETTERS_SCOPE, render.dead_letter_json)


def _counts(rows: Sequence[tuple[str, int]]) -> dict[str, int]:
    return {key: count for key, count in rows}


def stats(conn: Connection) -> dict[str, Any]:
    kinds = _counts(_execute(conn, (sql.STATS_SQL["kinds"], {})))
    reasons = _counts(_execute(conn, (sql.STATS_SQL["reasons"], {})))
    minutes = _execute(conn, (sql.STATS_SQL["per_minute"], {}))
    last_at, last_id = _execute(conn, (sql.STATS_SQL["last"], {}))[0]
    return {
        "records": {
            "total": sum(kinds.values()),
            "by_kind": {kind: kinds.get(kind, 0) for kind in ("relational", "unstructured")},
        },
        "dead_letters": {"total": sum(reasons.values()), "by_reason": reasons},
        "records_per_minute": [
            {"minute": render.timestamp(minute), "count": count} for minute, count in minutes
        ],
        "last_ingested_at": render.timestamp(last_at),
        "last_record_id": last_id,
    }
