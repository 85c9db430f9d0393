"""Exports of GET /api/v1/records (`format=ndjson|csv`, or `Accept`): every matching record,
whole, streamed a page at a time; refusals are 400s before the first byte."""

from __future__ import annotations

import csv
import io
import json

import pytest
from psycopg2 import sql

ROWS = 30_000  # thirty export pages


@pytest.fixture
def large(admin_conn, schema) -> dict[str, int]:
    """ROWS small records on partitions 0..2, and one document too big for a list page."""
    with admin_conn.cursor() as cur:
        cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        cur.execute(
            "INSERT INTO records (kind, payload, kafka_topic, kafka_partition, kafka_offset) "
            "SELECT 'unstructured', jsonb_build_object('n', i, 'price', 0.1000000000000000000001),"
            " 'export', i %% 3, i FROM generate_series(1, %(rows)s) AS i",
            {"rows": ROWS},
        )
        cur.execute(
            "INSERT INTO records (kind, payload, kafka_topic, kafka_partition, kafka_offset) "
            "SELECT 'unstructured', jsonb_build_object('blob', string_agg(md5(g::text), '')), "
            "'export', 0, 0 FROM generate_series(1, 6000) AS g RETURNING id"
        )
        big = cur.fetchone()[0]
    return {"big": big}


def test_a_large_ndjson_export_has_every_record_whole_newest_first(api, large):
    ids, big = [], None
    with api.stream("GET", "/api/v1/records", params={"format": "ndjson"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        assert "content-length" not in response.headers  # streamed
        for line in response.iter_lines():
            record = json.loads(line)
            ids.append(record["id"])
            if record["id"] == large["big"]:
                big = record
    assert len(ids) == ROWS + 1
    assert ids == sorted(ids, reverse=True)
    assert len(big["payload"]["blob"]) == 6000 * 32  # whole, where a list page has a preview
    assert "payload_truncated" not in big


def test_a_csv_export_by_accept_keeps_numbers_exact_and_follows_the_filters(api, large):
    response = api.get("/api/v1/records", params={"partition": 1}, headers={"Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == ROWS // 3
    assert {row["kafka_partition"] for row in rows} == {"1"}
    first = rows[0]
    assert first["kafka_topic"] == "export"
    assert '"price": 0.1000000000000000000001' in first["payload"]  # as PostgreSQL prints it
    assert json.loads(first["payload"])["n"] == int(first["kafka_offset"])


def test_an_oldest_first_export_ends_when_caught_up(api, filler):
    made = filler.add(*({"n": n} for n in range(5)))
    response = api.get("/api/v1/records", params={"format": "ndjson", "order": "asc"})
    assert [json.loads(line)["id"] for line in response.text.splitlines()] == made


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"format": "ndjson", "limit": 5}, "limit"),
        ({"format": "xml"}, "format"),
        ({"format": "csv", "jsonpath": '$.a ? (@ like_regex "(")'}, "jsonpath"),
    ],
)
def test_a_bad_export_is_a_400_before_the_first_byte(api, params, parameter):
    response = api.get("/api/v1/records", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["parameter"] == parameter
