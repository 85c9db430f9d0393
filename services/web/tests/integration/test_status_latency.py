"""The Status page's end-to-end latency per minute reads at most LATENCY_SAMPLE records a
minute, not every record of the last hour, and its percentiles stay those of the records:
exact where a minute has fewer, close to them where it has more."""

from __future__ import annotations

import dataclasses
import json

import pytest

from devstack.testing import migrated_schema, records_rows_read
from streamsuite_common.db import connect
from streamsuite_web.reads import LATENCY_SAMPLE, PER_MINUTE_SQL, per_minute

EXACT_SQL = (
    "SELECT m.minute, percentile_cont(0.5) WITHIN GROUP (ORDER BY s.seconds), "
    "percentile_cont(0.95) WITHIN GROUP (ORDER BY s.seconds), count(s.seconds) "
    "FROM generate_series(date_trunc('minute', now()) - interval '59 minutes', "
    "date_trunc('minute', now()), interval '1 minute') AS m(minute) LEFT JOIN LATERAL ("
    "SELECT extract(epoch FROM r.ingested_at - r.produced_at)::float8 AS seconds "
    "FROM records r WHERE r.ingested_at >= m.minute "
    "AND r.ingested_at < m.minute + interval '1 minute' AND r.produced_at IS NOT NULL"
    ") s ON true GROUP BY m.minute ORDER BY m.minute"
)


def fill_and_read(admin_conn, writer_settings, reader_settings, rows: int):
    """``rows`` records over the last 40 minutes in id order, each 0-0.999 s from produced to
    stored (scattered); the Status page's series, the exact one, and the plan's row reads."""
    with migrated_schema(admin_conn, writer_settings, reader_settings,
                         prefix="status_latency") as schema:  # fmt: skip
        writer = connect(dataclasses.replace(writer_settings, schema=schema),
                         application_name="status-latency-fill")  # fmt: skip
        writer.autocommit = True
        with writer.cursor() as cur:
            cur.execute(
                "INSERT INTO records (kind, payload, kafka_topic, kafka_partition, kafka_offset,"
                " ingested_at, produced_at) SELECT 'unstructured', '{}', 'lat', 0, n, t.at, "
                "t.at - make_interval(secs => (n * 7919 %% 1000) / 1000.0) FROM "
                "generate_series(1, %(rows)s) AS n, LATERAL (SELECT now() - make_interval("
                "secs => (%(rows)s - n) * (2400.0 / %(rows)s)) - interval '1 second' AS at) t",
                {"rows": rows},
            )
            cur.execute("ANALYZE records")
        writer.close()
        reader = connect(dataclasses.replace(reader_settings, schema=schema),
                         application_name="status-latency-read")  # fmt: skip
        try:
            series = per_minute(reader)["latency"]
            with reader.cursor() as cur:
                cur.execute(EXACT_SQL)
                exact = cur.fetchall()
                cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + PER_MINUTE_SQL["latency"],
                            {"sample": LATENCY_SAMPLE})  # fmt: skip
                (plan,) = cur.fetchone()[0]
        finally:
            reader.close()
    return series, exact, records_rows_read(plan["Plan"])


def test_a_busy_hour_is_read_from_a_sample_with_close_percentiles(
    admin_conn, writer_settings, reader_settings
):
    rows = 120_000  # 3,000 a minute, six times the sample
    series, exact, read_rows = fill_and_read(admin_conn, writer_settings, reader_settings, rows)
    assert sum(count for *_, count in exact) == rows
    assert len(series) == len(exact) == 60
    busy = 0
    for point, (minute, p50, p95, count) in zip(series, exact, strict=True):
        assert point["minute"] == minute
        if count == 0:
            assert (point["count"], point["p50"]) == (0, None)
            continue
        assert 0 < point["count"] <= min(count, LATENCY_SAMPLE + 1)
        if count >= 1000:  # a whole minute of the fill, not the partial ones at its edges
            busy += 1
            assert point["p50"] == pytest.approx(p50, abs=0.05)
            assert point["p95"] == pytest.approx(p95, abs=0.05)
    assert busy >= 35
    # 60 x (two probes and at most LATENCY_SAMPLE + 1 records); the whole hour is 120,000.
    assert read_rows < 60 * (LATENCY_SAMPLE + 10), (read_rows, json.dumps(series)[:500])


def test_a_quiet_hour_is_read_whole(admin_conn, writer_settings, reader_settings):
    series, exact, _ = fill_and_read(admin_conn, writer_settings, reader_settings, 6_000)
    assert [(p["minute"], p["p50"], p["p95"], p["count"]) for p in series] == [
        tuple(row) for row in exact
    ]
