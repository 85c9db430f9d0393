"""Kafka-coordinate filters (`partition`, `offset_min`, `offset_max`) served by their index,
and oldest-first incremental reads (`order=asc`) that a polling client can follow without
missing a batch of one writer that took its ids first and committed after another's."""

from __future__ import annotations

import base64
import dataclasses
import os
import re

import psycopg2
import psycopg2.extensions
import pytest
from psycopg2 import sql

from streamsuite_common.db import connect_kwargs
from streamsuite_common.pool import ReadOnlyPool
from streamsuite_common.query import CursorCodec, Page, RecordFilter
from streamsuite_common.query import read as query_read

from .conftest import ids, items, wait_for
from .test_stream_commit_order import writer


def insert_at(conn, partition: int, offset: int, document: str = "{}") -> int:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO records (kind, payload, kafka_topic, kafka_partition, kafka_offset) "
            "VALUES ('unstructured', %s::jsonb, 'coordinates', %s, %s) RETURNING id",
            (document, partition, offset),
        )
        return cur.fetchone()[0]


@pytest.fixture
def spread(writer_settings, schema) -> dict[tuple[int, int], int]:
    """Record ids by (partition, offset): three partitions, offsets 0..9 each."""
    with writer(writer_settings, schema, "spread") as conn:
        made = {(p, o): insert_at(conn, p, o) for o in range(10) for p in range(3)}
        conn.commit()
    return made


def test_partition_and_offset_filters_match_exactly_those_records(api, spread):
    def newest_first(**params) -> list[int]:
        return ids(api.get("/api/v1/records", params={"limit": 1000, **params}))

    by = lambda keep: sorted((i for k, i in spread.items() if keep(*k)), reverse=True)  # noqa: E731
    assert newest_first(partition=1) == by(lambda p, o: p == 1)
    assert newest_first(partition=2, offset_min=3, offset_max=5) == by(
        lambda p, o: p == 2 and 3 <= o <= 5
    )
    assert newest_first(partition=0, offset_min=7, offset_max=7) == [spread[(0, 7)]]
    assert newest_first(partition=0, offset_min=8) == by(lambda p, o: p == 0 and o >= 8)
    assert newest_first(partition=9) == []
    # The stream takes them too (a filter PostgreSQL plans before the stream starts).
    with api.stream("GET", "/api/v1/stream", params={"partition": 1, "offset_max": 3}) as live:
        assert live.status_code == 200


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"offset_min": 5}, "offset_min"),
        ({"partition": -1}, "partition"),
        ({"partition": 2**31}, "partition"),
        ({"partition": 0, "offset_min": 5, "offset_max": 4}, "offset_max"),
        ({"partition": 0, "offset_max": 2**63}, "offset_max"),
        ({"order": "sideways"}, "order"),
        ({"after": 3}, "after"),
    ],
)
def test_bad_coordinates_and_orders_are_400s_naming_the_parameter(api, params, parameter):
    response = api.get("/api/v1/records", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["parameter"] == parameter


def test_a_partition_and_offset_range_is_read_through_its_index(
    admin_conn, schema, reader_settings
):
    rows = 100_000
    with admin_conn.cursor() as cur:
        cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        cur.execute(
            "INSERT INTO records (kind, payload, kafka_topic, kafka_partition, kafka_offset) "
            "SELECT 'unstructured', '{}', 'coordinates', i %% 3, i / 3 "
            "FROM generate_series(0, %(rows)s - 1) AS i",
            {"rows": rows},
        )
        cur.execute("VACUUM ANALYZE records")
    statements: list = []

    class Recording(psycopg2.extensions.cursor):
        def execute(self, query, vars=None):
            statements.append((query, vars))
            return super().execute(query, vars)

    settings = dataclasses.replace(reader_settings, schema=schema)
    conn = psycopg2.connect(**connect_kwargs(settings, application_name="coordinates-plan"),
                            cursor_factory=Recording)  # fmt: skip
    conn.autocommit = True
    try:
        wanted = RecordFilter(partition=1, offset_min=20_000, offset_max=20_009)
        page = query_read.list_records(conn, wanted, Page(limit=50), CursorCodec("k"))
    finally:
        conn.close()
    assert len(page.items) == 10
    with admin_conn.cursor() as cur:
        query, params = statements[-1]
        cur.execute("EXPLAIN (ANALYZE, COSTS OFF) " + query, params)
        plan = "\n".join(row[0] for row in cur.fetchall())
    assert "records_kafka_position" in plan, plan
    removed = sum(int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", plan))
    assert removed < 100, plan


def _poll(api, cursor: str | None, **params) -> tuple[list[int], str]:
    query = {"order": "asc", "limit": 100, **params}
    if cursor is not None:
        query["cursor"] = cursor
    response = api.get("/api/v1/records", params=query)
    page = response.json()
    assert response.status_code == 200, response.text
    assert page["next_cursor"]
    return [item["id"] for item in page["items"]], page["next_cursor"]


class Poller:
    """A client tailing oldest first: it follows ``next_cursor`` and keeps what it saw."""

    def __init__(self, api, **params):
        self.api, self.params, self.cursor, self.seen = api, params, None, []

    def poll(self) -> list[int]:
        # The first poll starts with the parameters (e.g. after=), the next ones from a cursor.
        params = self.params if self.cursor is None else {}
        got, self.cursor = _poll(self.api, self.cursor, **params)
        self.seen += got
        return got

    def until(self, count: int) -> list[int]:
        # Another session's open transaction anywhere on the server holds the horizon back.
        wait_for(lambda: self.poll() is not None and len(self.seen) >= count,
                 what=f"{count} records read oldest first")  # fmt: skip
        return self.seen


def test_polling_oldest_first_misses_no_batch_that_commits_late(api, filler, writer_settings,
                                                                 schema):  # fmt: skip
    [old] = filler.add({"before": True})
    client = Poller(api, after=0)
    assert client.until(1) == [old]
    with (
        writer(writer_settings, schema, "writer-a") as a,
        writer(writer_settings, schema, "writer-b") as b,
    ):
        early = insert_at(a, 0, 100, '{"writer": "a"}')  # takes the lower id, commits last
        late = insert_at(b, 1, 100, '{"writer": "b"}')
        assert early < late
        b.commit()
        # B is committed but A, which took a lower id first, is still running: an id-based
        # read would hand out B now and never go back for A.
        assert late in ids(api.get("/api/v1/records"))  # newest first: visible
        client.poll()
        a.commit()
    assert client.until(3) == [old, early, late]
    assert client.poll() == []  # caught up: an empty page, and a cursor to poll again
    # A client that kept only ids resumes after one the same way.
    assert _poll(api, None, after=early)[0] == [late]
    assert _poll(api, None, after=old, partition=1)[0] == [late]  # filters apply


def test_an_ascending_page_stops_at_its_byte_budget_and_goes_on(reader_settings, schema, filler):
    made = filler.add(*({"n": n, "pad": "x" * 100} for n in range(3)))
    pool = ReadOnlyPool(
        dataclasses.replace(reader_settings, schema=schema), pool_size=1, pool_timeout_s=5,
        statement_timeout_ms=5000, application_name="ascending-budget-test",
    )  # fmt: skip
    codec = CursorCodec("k")
    try:
        seen: list[int] = []
        page = Page(limit=10, ascending=True)
        for _ in range(3):
            found = pool.run(
                lambda c, p=page: query_read.ascending_page(c, RecordFilter(), p, codec, budget=1)
            )
            assert len(found.items) == 1  # one whole record even over the budget
            seen.append(found.last_id)
            position = codec.decode_position("records-asc", found.next_cursor)
            page = Page(limit=10, ascending=True, position=position)
        assert seen == made
    finally:
        pool.close()


def test_ascending_lists_show_big_documents_as_previews(api, filler):
    # Random text: compressed, it still takes more than the 64 KiB a list shows whole.
    [big] = filler.add({"blob": base64.b64encode(os.urandom(120_000)).decode()})
    [item] = items(api.get("/api/v1/records", params={"order": "asc"}))
    assert (item["id"], item["payload_truncated"]) == (big, True)
