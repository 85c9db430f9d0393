"""/stats (and the web Status page, the same read) counts records per minute in constant time
on a big table: above read.EXACT_COUNT_BELOW rows an index probe per minute, not a read of
every record of the last hour; the numbers still match the exact counts when ids follow the
ingestion time (one writer)."""

from __future__ import annotations

import dataclasses
import json

from devstack.testing import migrated_schema, records_rows_read
from streamsuite_common.db import connect
from streamsuite_common.query import read as query_read
from streamsuite_common.query.sql import STATS_SQL

ROWS = 120_000  # above EXACT_COUNT_BELOW, spread over the last 40 minutes
EXACT_SQL = (
    "SELECT m.minute, count(r.id) FROM generate_series(date_trunc('minute', now()) "
    "- interval '59 minutes', date_trunc('minute', now()), interval '1 minute') AS m(minute) "
    "LEFT JOIN records r ON r.ingested_at >= m.minute "
    "AND r.ingested_at < m.minute + interval '1 minute' GROUP BY m.minute ORDER BY m.minute"
)


def test_records_per_minute_on_a_big_table_reads_a_few_rows_and_matches_the_counts(
    admin_conn, writer_settings, reader_settings
):
    assert ROWS > query_read.EXACT_COUNT_BELOW
    with migrated_schema(admin_conn, writer_settings, reader_settings,
                         prefix="stats_per_minute") as schema:  # fmt: skip
        writer = connect(dataclasses.replace(writer_settings, schema=schema),
                         application_name="stats-per-minute-fill")  # fmt: skip
        writer.autocommit = True
        with writer.cursor() as cur:
            # In id order, 20 ms apart, the newest a second ago: 40 minutes of records.
            cur.execute(
                "INSERT INTO records (kind, payload, kafka_topic, kafka_partition, kafka_offset,"
                " ingested_at) SELECT 'unstructured', '{}', 'stats', 0, n, now() - "
                "make_interval(secs => (%(rows)s - n) * 0.02) - interval '1 second' "
                "FROM generate_series(1, %(rows)s) AS n",
                {"rows": ROWS},
            )
            cur.execute("ANALYZE records")
        writer.close()
        reader = connect(dataclasses.replace(reader_settings, schema=schema),
                         application_name="stats-per-minute-read")  # fmt: skip
        try:
            with reader.cursor() as cur:
                cur.execute(STATS_SQL["per_minute"])
                estimated = cur.fetchall()
                cur.execute(EXACT_SQL)
                exact = cur.fetchall()
                cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + STATS_SQL["per_minute"])
                (plan,) = cur.fetchone()[0]
        finally:
            reader.close()
    assert len(estimated) == 60
    assert sum(count for _, count in exact) == ROWS
    assert estimated == exact
    read_rows = records_rows_read(plan["Plan"])
    # 61 probes and max(id): a few hundred rows at most, not the hour's 120,000.
    assert read_rows < 1000, (read_rows, json.dumps(plan)[:2000])


def test_the_per_minute_threshold_is_the_stats_threshold():
    # Exact counts exactly when /stats says its numbers are exact (read._kind_counts).
    assert f"< {query_read.EXACT_COUNT_BELOW} THEN" in STATS_SQL["per_minute"]
