"""The read statements: constant SQL text chosen by which filters are present, with every
value, key path, JSON fragment and JSON path bound as a named parameter. Nothing a client
sends ever becomes SQL text; ``search_path`` names the schema, so tables are unqualified.

Each builder returns ``(sql, params)`` for ``cursor.execute``. Pure, no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from streamsuite_common.query.filters import DeadLetterFilter, Page, RecordFilter
from streamsuite_common.query.values import containment_fragments, jsonpath_is_predicate

Statement = tuple[str, dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Preparable:
    """A statement PostgreSQL parses and plans once per connection (``PREPARE``), then runs
    by name (``EXECUTE``): planning the record JSON expression was about 300 µs of the
    430 µs of server time a by-id read took. Only statements whose one plan suits every value
    are registered (an id, a limit); a document filter's plan depends on its value."""

    name: str
    prepare: str  # PREPARE name(types) AS the text with $1..$n, run once per connection
    execute: str  # EXECUTE name(%(param)s, ...), with the statement's own parameters


# The registered statements by their text: a read's step is looked up here as it runs.
PREPARABLE: dict[str, Preparable] = {}
_PARAM = re.compile(r"%\((\w+)\)s")


def preparable(name: str, text: str, types: dict[str, str]) -> str:
    """Register ``text`` (named ``%(param)s`` parameters, each with its SQL type in
    ``types``, in order) as a prepared statement; returns ``text``."""
    order = list(types)
    if sorted(set(_PARAM.findall(text))) != sorted(order):
        raise ValueError(f"{name}: parameters {_PARAM.findall(text)} are not {order}")
    body = _PARAM.sub(lambda m: f"${order.index(m.group(1)) + 1}", text).replace("%%", "%")
    signature = f"({', '.join(types.values())})" if types else ""
    arguments = f"({', '.join(f'%({param})s' for param in order)})" if types else ""
    PREPARABLE[text] = Preparable(
        name, f"PREPARE {name}{signature} AS {body}", f"EXECUTE {name}{arguments}"
    )
    return text


# List pages show a document whose stored (compressed) size is beyond this as a preview: its
# first PREVIEW_CHARS characters, ``payload`` null and ``payload_truncated`` true; the whole
# document is on ``/records/{id}``. pg_column_size reads no TOAST, so the test is cheap.
PREVIEW_ABOVE_BYTES = 64 * 1024
PREVIEW_CHARS = 1000


def _json_text(column: str) -> str:
    return f"coalesce(to_json(r.{column})::text, 'null')"


def _json_number(column: str) -> str:
    return f"coalesce(r.{column}::text, 'null')"


def _json_time(column: str) -> str:
    # The session runs in UTC; RFC 3339 with microseconds and Z.
    return (
        f"coalesce(to_json(to_char(r.{column} AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text, 'null')"
    )


# The record's JSON object, one ``%s`` per field; ``%%`` because the statements go through
# psycopg2's parameter formatting (``preparable`` turns it back for PREPARE).
_RECORD_TEMPLATE = (
    '{"id":%s,"kind":%s,"source":%s,"sha256":%s,"doc_index":%s,"name":%s,"age":%s,'
    '"payload":%s,"kafka":{"topic":%s,"partition":%s,"offset":%s},'
    '"produced_at":%s,"ingested_at":%s}'
).replace("%", "%%")


def record_json_sql(*, preview: bool) -> str:
    """The record JSON object built by PostgreSQL from the columns of ``r`` (one row of
    records), so Python only forwards text; the payload spliced in as jsonb prints it.
    One ``format()`` call, not a chain of ``||``: PostgreSQL resolves one function instead of
    some thirty operators, about 110 µs less to plan each statement."""
    payload = "r.payload::text"
    if preview:
        payload = (
            f"CASE WHEN pg_column_size(r.payload) <= {PREVIEW_ABOVE_BYTES} THEN r.payload::text "
            'ELSE \'null,"payload_truncated":true,"payload_preview":\' '
            f"|| to_json(left(r.payload::text, {PREVIEW_CHARS}))::text END"
        )
    fields = [
        "r.id",
        "to_json(r.kind)",
        _json_text("source"),
        _json_text("sha256"),
        _json_number("doc_index"),
        _json_text("name"),
        _json_number("age"),
        payload,
        "to_json(r.kafka_topic)",
        "r.kafka_partition",
        "r.kafka_offset",
        _json_time("produced_at"),
        _json_time("ingested_at"),
    ]
    return f"format('{_RECORD_TEMPLATE}', {', '.join(fields)})"


LIST_RECORD_JSON = record_json_sql(preview=True)
FULL_RECORD_JSON = record_json_sql(preview=False)


def _rendered(inner: str, *, preview: bool, order: str = "r.id DESC") -> str:
    """(id, record JSON) of the rows ``inner`` selects, rendered after its LIMIT."""
    expression = LIST_RECORD_JSON if preview else FULL_RECORD_JSON
    return f"SELECT r.id, {expression} FROM ({inner}) r ORDER BY {order}"  # noqa: S608


DEAD_LETTER_COLUMNS = (
    "id, origin, stage, reason, detail, source, sha256, doc_index, line, raw, "
    "octet_length(raw) AS raw_bytes, raw_truncated, "
    "kafka_topic, kafka_partition, kafka_offset, dlq_topic, dlq_partition, dlq_offset, "
    "refused_at, created_at"
)


def record_conditions(f: RecordFilter) -> tuple[list[str], dict[str, Any]]:
    """WHERE conditions (ANDed) and their parameters for a record filter."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if f.key is not None and f.value is not None:
        # #> pins the exact position and makes it equality; it comes first, so a walk of ids
        # checks it before the index condition (PostgreSQL keeps the order of equal costs).
        where.append("payload #> %(key_path)s::text[] = %(key_value)s::jsonb")
        params["key_path"], params["key_value"] = list(f.key), f.value
        if f.value.startswith('"'):
            # A string: the GIN index (jsonb_ops) finds the documents holding it at any depth
            # from its one entry. Containment would also intersect the key's entry, and a key
            # in every document made that the slow part (3.6 of 5.8 ms at 1 M records);
            # a string is rarely commoner than its key. #> above keeps it exact.
            where.append("payload @@ %(key_value_anywhere)s::jsonpath")
            params["key_value_anywhere"] = f"$.** == {f.value}"
        else:
            # Containment narrows through the GIN index (a number, true, an object: common
            # values whose key is the better entry); #> makes it equality (containment alone
            # would let [1,2] match [1]).
            fragments = containment_fragments(f.key, f.value)
            alternatives = []
            for number, fragment in enumerate(fragments):
                params[f"key_fragment_{number}"] = fragment
                alternatives.append(f"payload @> %(key_fragment_{number})s::jsonb")
            where.append("(" + " OR ".join(alternatives) + ")")
    if f.has_key is not None:
        # The top-level key first, with ``?``: the jsonb_ops GIN index (records_payload_keys)
        # serves it (it prices a jsonpath ``@?`` existence as a full index scan); #> then
        # checks the whole path. A digits-only first segment may be an array index: no ``?``.
        if not f.has_key[0].isdigit():
            where.append("payload ? %(has_key_first)s")
            params["has_key_first"] = f.has_key[0]
        where.append("payload #> %(has_key_path)s::text[] IS NOT NULL")
        params["has_key_path"] = list(f.has_key)
    if f.contains is not None:
        # Also a top-level array with an element containing the fragment.
        where.append("(payload @> %(contains)s::jsonb OR payload @> %(contains_in_array)s::jsonb)")
        params["contains"], params["contains_in_array"] = f.contains, f"[{f.contains}]"
    if f.jsonpath is not None:
        # A predicate matches when true; a filter or path when it finds something.
        operator = "@@" if jsonpath_is_predicate(f.jsonpath) else "@?"
        where.append(f"payload {operator} %(jsonpath)s::jsonpath")
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
    # Served by records_kafka_position (kafka_partition, kafka_offset), migration 0005.
    if f.partition is not None:
        where.append("kafka_partition = %(partition)s")
        params["partition"] = f.partition
    if f.offset_min is not None:
        where.append("kafka_offset >= %(offset_min)s")
        params["offset_min"] = f.offset_min
    if f.offset_max is not None:
        where.append("kafka_offset <= %(offset_max)s")
        params["offset_max"] = f.offset_max
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
    """(id, list JSON) newest first, one row more than the page."""
    where, params = record_conditions(f)
    inner, params = _page_sql("records", "*", where, params, page)
    return _rendered(inner, preview=True), params


# The pages without a filter, the first and the next ones: one plan (records_pkey backwards)
# suits every limit and cursor.
preparable(
    "streamsuite_records_page",
    records_page_sql(RecordFilter(), Page(limit=1))[0],
    {"limit": "integer"},
)
preparable(
    "streamsuite_records_page_before",
    records_page_sql(RecordFilter(), Page(limit=1, before_id=2))[0],
    {"before_id": "bigint", "limit": "integer"},
)


# Document filters (`key`+`value`, `contains`, `jsonpath`) are served by the GIN index, but
# with ORDER BY id DESC LIMIT the planner walks records_pkey backwards whenever it expects the
# matches to be spread evenly, and reads the whole table when they are all old or rare. So a
# page of them is read in bounded steps (``read.list_records``): the newest FIRST_WINDOW ids;
# if the matches found there say the page fills within PAYLOAD_WINDOW ids, the ids below them
# up to that; else (rare values, or none in the first window) the matches below from the
# index, newest sorted out of the candidates. The first window is small: at 1 M rows a
# window of 1,000 ids cost 2.0 ms and one of 200 0.4 ms, and a common value (one row in
# 1,000) finds about one match in either, too few to walk on, so the index serves the page.
FIRST_WINDOW = 200
PAYLOAD_WINDOW = 10_000


def uses_payload_index(f: RecordFilter) -> bool:
    return (
        f.key is not None
        or f.contains is not None
        or f.jsonpath is not None
        or (f.has_key is not None and not f.has_key[0].isdigit())
    )


def records_window_sql(
    f: RecordFilter, top: int, limit: int, window: int = PAYLOAD_WINDOW
) -> Statement:
    """Newest first, among the ``window`` ids below ``top`` only: a bounded walk."""
    where, params = record_conditions(f)
    where += ["id < %(top)s", "id >= %(floor)s"]
    params.update(top=top, floor=top - window, limit=limit)
    inner = (
        f"SELECT * FROM records WHERE {' AND '.join(where)} "  # noqa: S608
        "ORDER BY id DESC LIMIT %(limit)s"
    )
    return _rendered(inner, preview=True), params


def records_below_sql(f: RecordFilter, below: int, limit: int) -> Statement:
    """Newest first below ``below``, from the matching ids: ``OFFSET 0`` fences the
    candidate subquery so the planner cannot turn it back into a backwards walk of the
    primary key; it reads the GIN index (or, for a filter it cannot serve, one scan), and
    only the ``limit`` newest ids are fetched whole."""
    where, params = record_conditions(f)
    where.append("id < %(below)s")
    params.update(below=below, limit=limit)
    inner = (
        "SELECT * FROM records WHERE id = ANY(ARRAY("  # noqa: S608
        f"SELECT id FROM (SELECT id FROM records WHERE {' AND '.join(where)} OFFSET 0) matches "
        "ORDER BY id DESC LIMIT %(limit)s))"
    )
    return _rendered(inner, preview=True), params


_RECORD_BY_ID = preparable(
    "streamsuite_record_by_id",
    _rendered("SELECT * FROM records WHERE id = %(id)s", preview=False),
    {"id": "bigint"},
)


def record_by_id_sql(record_id: int) -> Statement:
    """(id, whole record JSON)."""
    return _RECORD_BY_ID, {"id": record_id}


# --- the stream, in commit order (see migration 0003) ---
#
# Ids are taken at INSERT and seen at COMMIT, so a writer that commits late can add ids below
# ones already streamed. Each row carries the id of the transaction that wrote it (``xid``,
# NULL = 0 for rows older than the column). Every transaction below the reading snapshot's
# xmin has finished, so the rows with such an xid are final: the stream sends only those, in
# (xid, id) order, and its position is an (xid, id) pair that never has to move back.
COMMIT_KEY = "coalesce(xid, '0'::xid8)"


def stream_horizon_sql() -> Statement:
    """The reading snapshot's xmin: every transaction below it has finished."""
    return "SELECT pg_snapshot_xmin(pg_current_snapshot())::text", {}


def stream_position_sql(record_id: int) -> Statement:
    """The commit position of record ``record_id`` (or of the newest record below it)."""
    return (
        f"SELECT {COMMIT_KEY}::text, id FROM records WHERE id <= %(id)s "  # noqa: S608
        "ORDER BY id DESC LIMIT 1",
        {"id": record_id},
    )


def records_after_sql(
    f: RecordFilter, after: tuple[str, int], horizon: str, limit: int, *, preview: bool = False
) -> Statement:
    """(id, xid, record JSON) of the rows after position ``after`` and below the ``horizon``
    xid, in commit order: what the stream sends next (whole records), or an ascending list
    page (``preview``: big documents as previews)."""
    where, params = record_conditions(f)
    where += [
        f"({COMMIT_KEY}, id) > (%(after_xid)s::xid8, %(after_id)s)",
        f"{COMMIT_KEY} < %(horizon)s::xid8",
    ]
    params.update(after_xid=after[0], after_id=after[1], horizon=horizon, limit=limit)
    inner = (
        f"SELECT *, {COMMIT_KEY} AS commit_xid FROM records "  # noqa: S608
        f"WHERE {' AND '.join(where)} ORDER BY {COMMIT_KEY}, id LIMIT %(limit)s"
    )
    expression = LIST_RECORD_JSON if preview else FULL_RECORD_JSON
    return (
        f"SELECT r.id, r.commit_xid::text, {expression} FROM ({inner}) r "  # noqa: S608
        "ORDER BY r.commit_xid, r.id",
        params,
    )


def filter_check_sql(f: RecordFilter) -> Statement:
    """Plans the filter without reading a row: PostgreSQL folds the bound casts (jsonpath,
    jsonb) while planning, so a value it refuses fails here, before a stream starts."""
    where, params = record_conditions(f)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT 1 FROM records{clause} LIMIT 0", params  # noqa: S608


_LATEST_RECORD_ID = preparable(
    "streamsuite_latest_record_id", "SELECT coalesce(max(id), 0) FROM records", {}
)


def latest_record_id_sql() -> Statement:
    return _LATEST_RECORD_ID, {}


# The API's list carries no raw bytes (up to 256 KiB each): ``/dead-letters/{id}`` has them.
DEAD_LETTER_LIST_COLUMNS = DEAD_LETTER_COLUMNS.replace(" raw,", " NULL AS raw,")


def dead_letter_by_id_sql(letter_id: int) -> Statement:
    return f"SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id = %(id)s", {"id": letter_id}  # noqa: S608


def dead_letters_page_sql(f: DeadLetterFilter, page: Page, *, raw: bool = True) -> Statement:
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
    columns = DEAD_LETTER_COLUMNS if raw else DEAD_LETTER_LIST_COLUMNS
    return _page_sql("dead_letters", columns, where, params, page)


STATS_SQL: dict[str, str] = {
    "kinds": "SELECT kind, count(*) FROM records GROUP BY kind ORDER BY kind",
    # PostgreSQL's own estimates: the row count of the last VACUUM/ANALYZE (-1: never) and
    # the share of each kind in its sample.
    "estimated_rows": "SELECT reltuples::bigint FROM pg_class WHERE oid = 'records'::regclass",
    "kind_shares": (
        "SELECT most_common_vals::text::text[], most_common_freqs FROM pg_stats "
        "WHERE schemaname = current_schema() AND tablename = 'records' AND attname = 'kind'"
    ),
    "reasons": "SELECT reason, count(*) FROM dead_letters GROUP BY reason ORDER BY reason",
    # Sixty one-minute buckets ending with the current minute, empty ones included. Counted
    # below read.EXACT_COUNT_BELOW rows (estimated_rows); above, the ids between the first
    # record of each minute and of the next (an index probe each, records_ingested), so an
    # hour of 1000 records/s costs 61 probes, not 3.6 M index entries (an estimate: ids
    # skipped by conflicts or concurrent writers count; /stats says ``estimated``).
    "per_minute": (
        "SELECT b.minute, CASE WHEN (SELECT reltuples FROM pg_class "
        "WHERE oid = 'records'::regclass) < 100000 THEN (SELECT count(*) FROM records r "
        "WHERE r.ingested_at >= b.minute AND r.ingested_at < b.minute + interval '1 minute') "
        "ELSE greatest(coalesce(lead(b.first_id) OVER (ORDER BY b.minute), l.next_id) "
        "- coalesce(b.first_id, l.next_id), 0) END "
        "FROM (SELECT m.minute, (SELECT r.id FROM records r WHERE r.ingested_at >= m.minute "
        "ORDER BY r.ingested_at, r.id LIMIT 1) AS first_id FROM generate_series("
        "date_trunc('minute', now()) - interval '59 minutes', date_trunc('minute', now()), "
        "interval '1 minute') AS m(minute)) b, "
        "(SELECT coalesce(max(id), 0) + 1 AS next_id FROM records) l ORDER BY b.minute"
    ),
    "last": "SELECT max(ingested_at), max(id) FROM records",
}
