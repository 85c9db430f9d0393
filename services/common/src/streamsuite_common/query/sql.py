"""The read statements: constant SQL text chosen by which filters are present, with every
value, key path, JSON fragment and JSON path bound as a named parameter. Nothing a client
sends ever becomes SQL text; ``search_path`` names the schema, so tables are unqualified.

Each builder returns ``(sql, params)`` for ``cursor.execute``. Pure, no I/O.
"""

from __future__ import annotations

from typing import Any

from streamsuite_common.query.filters import DeadLetterFilter, Page, RecordFilter
from streamsuite_common.query.values import containment_fragments

Statement = tuple[str, dict[str, Any]]

RECORD_COLUMNS = (
    "id, kind, source, sha256, doc_index, name, age, payload::text AS payload, "
    "kafka_topic, kafka_partition, kafka_offset, produced_at, ingested_at"
)
DEAD_LETTER_COLUMNS = (
    "id, origin, stage, reason, detail, source, sha256, doc_index, line, raw, raw_truncated, "
    "kafka_topic, kafka_partition, kafka_offset, dlq_topic, dlq_partition, dlq_offset, "
    "refused_at, created_at"
)


def record_conditions(f: RecordFilter) -> tuple[list[str], dict[str, Any]]:
    """WHERE conditions (ANDed) and their parameters for a record filter."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if f.key is not None and f.value is not None:
        # Containment narrows through the GIN (jsonb_path_ops) index; #> pins the exact
        # position and makes it equality (containment alone would let [1,2] match [1]).
        fragments = containment_fragments(f.key, f.value)
        alternatives = []
        for number, fragment in enumerate(fragments):
            params[f"key_fragment_{number}"] = fragment
            alternatives.append(f"payload @> %(key_fragment_{number})s::jsonb")
        where.append("(" + " OR ".join(alternatives) + ")")
        where.append("payload #> %(key_path)s::text[] = %(key_value)s::jsonb")
        params["key_path"], params["key_value"] = list(f.key), f.value
    if f.has_key is not None:
        # jsonb_path_ops cannot index key existence: this one scans (in id order, LIMITed).
        where.append("payload #> %(has_key_path)s::text[] IS NOT NULL")
        params["has_key_path"] = list(f.has_key)
    if f.contains is not None:
        # Also a top-level array with an element containing the fragment.
        where.append("(payload @> %(contains)s::jsonb OR payload @> %(contains_in_array)s::jsonb)")
        params["contains"], params["contains_in_array"] = f.contains, f"[{f.contains}]"
    if f.jsonpath is not None:
        where.append("payload @@ %(jsonpath)s::jsonpath")
        params["jsonpath"] = f.jsonpath
    for column in ("kind", "name", "source"):
        value = getattr(f, column)
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = value
    if f.age_min is not None:
        where.append("age >= %(age_min)s")
        params["age_min"] = f.age_min
    if f.age_max is not None:
        where.append("age <= %(age_max)s")
        params["age_max"] = f.age_max
    if f.since is not None:
        where.append("ingested_at >= %(since)s")
        params["since"] = f.since
    if f.until is not None:
        where.append("ingested_at < %(until)s")
        params["until"] = f.until
    return where, params


def _page_sql(table: str, columns: str, where: list[str], params: dict, page: Page) -> Statement:
    where = list(where)
    if page.before_id is not None:
        where.append("id < %(before_id)s")
        params["before_id"] = page.before_id
    # One row more than asked tells whether there is a next page.
    params["limit"] = page.limit + 1
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT {columns} FROM {table}{clause} ORDER BY id DESC LIMIT %(limit)s", params  # noqa: S608 - constant fragments only


def records_page_sql(f: RecordFilter, page: Page) -> Statement:
    where, params = record_conditions(f)
    return _page_sql("records", RECORD_COLUMNS, where, params, page)


# Document filters (`key`+`value`, `contains`, `jsonpath`) are served by the GIN index, but
# with ORDER BY id DESC LIMIT the planner walks records_pkey backwards whenever it expects the
# matches to be spread evenly, and reads the whole table when they are all old or rare. So a
# page of them is read in two bounded steps (``read.list_records``): the newest
# PAYLOAD_WINDOW ids only, then, if that did not fill the page, the matches below them from
# the index, newest sorted out of the candidates.
PAYLOAD_WINDOW = 10_000


def uses_payload_index(f: RecordFilter) -> bool:
    return f.key is not None or f.contains is not None or f.jsonpath is not None


def records_window_sql(f: RecordFilter, top: int, limit: int) -> Statement:
    """Newest first, among the PAYLOAD_WINDOW ids below ``top`` only: a bounded walk."""
    where, params = record_conditions(f)
    where += ["id < %(top)s", "id >= %(floor)s"]
    params.update(top=top, floor=top - PAYLOAD_WINDOW, limit=limit)
    return (
        f"SELECT {RECORD_COLUMNS} FROM records WHERE {' AND '.join(where)} "  # noqa: S608
        "ORDER BY id DESC LIMIT %(limit)s",
        params,
    )


def records_below_sql(f: RecordFilter, below: int, limit: int) -> Statement:
    """Newest first below ``below``, from the matching ids: ``OFFSET 0`` fences the
    candidate subquery so the planner cannot turn it back into a backwards walk of the
    primary key; it reads the GIN index (or, for a filter it cannot serve, one scan), and
    only the ``limit`` newest ids are fetched whole."""
    where, params = record_conditions(f)
    where.append("id < %(below)s")
    params.update(below=below, limit=limit)
    return (
        f"SELECT {RECORD_COLUMNS} FROM records WHERE id = ANY(ARRAY("  # noqa: S608
        f"SELECT id FROM (SELECT id FROM records WHERE {' AND '.join(where)} OFFSET 0) matches "
        "ORDER BY id DESC LIMIT %(limit)s)) ORDER BY id DESC",
        params,
    )


def record_by_id_sql(record_id: int) -> Statement:
    return f"SELECT {RECORD_COLUMNS} FROM records WHERE id = %(id)s", {"id": record_id}  # noqa: S608


def records_after_sql(f: RecordFilter, after_id: int, limit: int) -> Statement:
    """Oldest first after ``after_id``: what the stream sends next."""
    where, params = record_conditions(f)
    where.append("id > %(after_id)s")
    params["after_id"], params["limit"] = after_id, limit
    return (
        f"SELECT {RECORD_COLUMNS} FROM records WHERE {' AND '.join(where)} "  # noqa: S608
        "ORDER BY id ASC LIMIT %(limit)s",
        params,
    )


def latest_record_id_sql() -> Statement:
    return "SELECT coalesce(max(id), 0) FROM records", {}


def dead_letters_page_sql(f: DeadLetterFilter, page: Page) -> Statement:
    where: list[str] = []
    params: dict[str, Any] = {}
    for column in ("reason", "origin", "stage", "source"):
        value = getattr(f, column)
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = value
    if f.since is not None:
        where.append("created_at >= %(since)s")
        params["since"] = f.since
    if f.until is not None:
        where.append("created_at < %(until)s")
        params["until"] = f.until
    return _page_sql("dead_letters", DEAD_LETTER_COLUMNS, where, params, page)


STATS_SQL: dict[str, str] = {
    "kinds": "SELECT kind, count(*) FROM records GROUP BY kind ORDER BY kind",
    "reasons": "SELECT reason, count(*) FROM dead_letters GROUP BY reason ORDER BY reason",
    # Sixty one-minute buckets ending with the current minute, empty ones included.
    "per_minute": (
        "SELECT m.minute, count(r.id) FROM generate_series("
        "date_trunc('minute', now()) - interval '59 minutes', date_trunc('minute', now()), "
        "interval '1 minute') AS m(minute) "
        "LEFT JOIN records r ON r.ingested_at >= m.minute "
        "AND r.ingested_at < m.minute + interval '1 minute' "
        "GROUP BY m.minute ORDER BY m.minute"
    ),
    "last": "SELECT max(ingested_at), max(id) FROM records",
}
