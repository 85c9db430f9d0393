"""The stream sends records in commit order: with several writers (two ingestor replicas, or
two pods overlapping in a rolling update) a batch that took its ids first but commits last
is still sent, and a filtered stream moves on past records that do not match."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator

import psycopg2

from streamsuite_common.db import connect_kwargs
from streamsuite_common.pool import ReadOnlyPool
from streamsuite_common.query import RecordFilter
from streamsuite_common.query import read as query_read

from .conftest import wait_for


@contextlib.contextmanager
def writer(writer_settings, schema: str, name: str) -> Iterator:
    """A connection of the writer role in its own transaction (as an ingestor's batch)."""
    settings = dataclasses.replace(writer_settings, schema=schema)
    conn = psycopg2.connect(**connect_kwargs(settings, application_name=name))
    try:
        yield conn
    finally:
        conn.close()


def insert(conn, document: str, offset: int) -> int:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO records (kind, payload, kafka_topic, kafka_partition, kafka_offset) "
            "VALUES ('unstructured', %s::jsonb, 'two-writers', 0, %s) RETURNING id",
            (document, offset),
        )
        return cur.fetchone()[0]


def _read_events(client, out: list, ready: threading.Event, stop: threading.Event) -> None:
    with client.stream("GET", "/api/v1/stream", timeout=60) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith(": streaming"):
                ready.set()
            elif line.startswith(": heartbeat"):
                out.append("heartbeat")
            elif line.startswith("id: "):
                out.append(int(line[4:]))
            if stop.is_set():
                return


def test_a_batch_committing_after_a_later_one_is_still_streamed(api, writer_settings, schema):
    events: list = []
    ready, stop = threading.Event(), threading.Event()
    reader = threading.Thread(target=_read_events, args=(api, events, ready, stop), daemon=True)
    reader.start()
    assert ready.wait(10), "the stream did not open"
    with (
        writer(writer_settings, schema, "writer-a") as a,
        writer(writer_settings, schema, "writer-b") as b,
    ):
        early = insert(a, '{"writer": "a"}', 1)  # takes the lower id, commits last
        late = insert(b, '{"writer": "b"}', 2)
        assert early < late
        b.commit()
        # Two heartbeats after B's commit: the stream has read at least once since.
        beats = events.count("heartbeat")
        wait_for(lambda: events.count("heartbeat") >= beats + 2, what="two heartbeats")
        a.commit()
    wait_for(lambda: early in events and late in events, what="both writers' records")
    stop.set()
    reader.join(timeout=10)
    records = [e for e in events if e != "heartbeat"]
    assert records == [early, late], "commit order: A's transaction began first"


def test_a_filtered_stream_moves_past_records_that_do_not_match(reader_settings, schema, filler):
    pool = ReadOnlyPool(
        dataclasses.replace(reader_settings, schema=schema), pool_size=1, pool_timeout_s=5,
        statement_timeout_ms=5000, application_name="stream-position-test",
    )  # fmt: skip
    try:
        match = RecordFilter(key=("wanted",), value="true")
        start = pool.run(lambda c: query_read.stream_start(c, None))
        filler.add(*({"wanted": False, "n": n} for n in range(20)))
        batch = pool.run(lambda c: query_read.records_after(c, match, start, 500))
        assert batch.records == []
        # Past the twenty rows just read: the next read does not look at them again.
        assert int(batch.position[0]) > int(start[0])
        again = pool.run(lambda c: query_read.records_after(c, RecordFilter(), batch.position, 500))
        assert again.records == []
        [wanted] = filler.add({"wanted": True})
        found = pool.run(lambda c: query_read.records_after(c, match, batch.position, 500))
        assert [record_id for record_id, _ in found.records] == [wanted]
    finally:
        pool.close()


def test_a_filter_only_postgresql_refuses_is_a_400_before_the_stream_starts(api):
    response = api.get("/api/v1/stream", params={"jsonpath": '$.a ? (@ like_regex "(")'})
    assert response.status_code == 400, response.text
    assert "jsonpath" in response.text
    response = api.get("/api/v1/stream", params={"jsonpath": "$$ nonsense"})
    assert response.status_code == 400, response.text
