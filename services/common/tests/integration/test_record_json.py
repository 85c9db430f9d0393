"""The record JSON PostgreSQL builds (``sql.record_json_sql``: one ``format()`` call) is the
record, field for field and in order, for the values that are hard to print: NULL columns,
quotes, backslashes, control and non-ASCII characters, microsecond and missing timestamps, a
payload big enough for a list preview; whether the statement is run as written or prepared."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import UTC, datetime

import psycopg2
import pytest

from devstack.testing import migrated_schema
from streamsuite_common.db import connect, connect_kwargs
from streamsuite_common.query import Page, RecordFilter, sql
from streamsuite_common.query import read as query_read
from streamsuite_common.query.cursor import CursorCodec
from streamsuite_common.query.steps import PreparingConnection

TRICKY = 'quote " backslash \\ newline \n tab \t bell \x07 é ✓ 𝄞 %s %% {}'
# Beyond the preview size once compressed (hex of random bytes: half of it stays).
BIG = {"text": random.Random(16).randbytes(sql.PREVIEW_ABOVE_BYTES * 2).hex(), "n": 1}
ROWS = [
    # kind, source, sha256, doc_index, name, age, payload, topic, produced_at
    ("relational", "a/b.json", "ab" * 32, 0, TRICKY, 36, {"name": TRICKY, "age": 36},
     "records", datetime(2026, 1, 2, 3, 4, 5, 600007, tzinfo=UTC)),
    ("unstructured", None, None, None, None, None, [1, "two", None, {"3": [4.5e-7]}],
     'topic "q"', None),
    ("unstructured", TRICKY, "cd" * 32, 7, None, None, BIG, "records",
     datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)),
]  # fmt: skip


def expected(record_id: int, row: tuple, kafka: tuple[int, int], ingested_at: datetime) -> list:
    """The record as its JSON must read, as (key, value) pairs in order."""
    kind, source, sha256, doc_index, name, age, payload, topic, produced_at = row

    def stamp(moment: datetime | None) -> str | None:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment else None

    return [("id", record_id), ("kind", kind), ("source", source), ("sha256", sha256),
            ("doc_index", doc_index), ("name", name), ("age", age), ("payload", payload),
            ("kafka", [("topic", topic), ("partition", kafka[0]), ("offset", kafka[1])]),
            ("produced_at", stamp(produced_at)), ("ingested_at", stamp(ingested_at))]  # fmt: skip


def pairs(text: str) -> list:
    """JSON with every object as (key, value) pairs in order, payloads compared as values."""
    loaded = json.loads(text, object_pairs_hook=list)
    return [(key, dict_like(value) if key == "payload" else value) for key, value in loaded]


def dict_like(value):
    if (
        isinstance(value, list)
        and value
        and all(isinstance(item, tuple) and len(item) == 2 for item in value)
    ):
        return {key: dict_like(inner) for key, inner in value}
    if isinstance(value, list):
        return [dict_like(item) for item in value]
    return value


@pytest.fixture
def stored(admin_conn, writer_settings, reader_settings):
    """ROWS in a schema of their own: (reader settings, [(id, row, (partition, offset),
    ingested_at)])."""
    with migrated_schema(admin_conn, writer_settings, reader_settings,
                         prefix="record_json") as schema:  # fmt: skip
        writer = connect(dataclasses.replace(writer_settings, schema=schema),
                         application_name="record-json-fill")  # fmt: skip
        writer.autocommit = True
        made = []
        with writer.cursor() as cur:
            for offset, row in enumerate(ROWS):
                kind, source, sha256, doc_index, name, age, payload, topic, produced_at = row
                cur.execute(
                    "INSERT INTO records (kind, source, sha256, doc_index, name, age, payload,"
                    " kafka_topic, kafka_partition, kafka_offset, produced_at) VALUES (%s, %s,"
                    " %s, %s, %s, %s, %s, %s, 3, %s, %s) RETURNING id, ingested_at",
                    (kind, source, sha256, doc_index, name, age, json.dumps(payload), topic,
                     offset, produced_at),
                )  # fmt: skip
                record_id, ingested_at = cur.fetchone()
                made.append((record_id, row, (3, offset), ingested_at))
        writer.close()
        yield dataclasses.replace(reader_settings, schema=schema), made


@pytest.mark.parametrize("factory", [None, PreparingConnection], ids=["as-written", "prepared"])
def test_a_record_reads_as_its_columns_whole_and_in_a_list(stored, factory):
    settings, made = stored
    kwargs = connect_kwargs(settings, application_name="record-json-read")
    conn = psycopg2.connect(**kwargs, **({"connection_factory": factory} if factory else {}))
    conn.autocommit = True
    try:
        for _ in range(2):  # prepared: the second time runs by name
            for record_id, row, kafka, ingested_at in made:
                whole = query_read.get_record(conn, record_id)
                assert pairs(whole) == expected(record_id, row, kafka, ingested_at)
            page = query_read.list_records(conn, RecordFilter(), Page(limit=10), CursorCodec("k"))
        assert [json.loads(item)["id"] for item in page.items] == [r[0] for r in reversed(made)]
        for item, (record_id, row, kafka, ingested_at) in zip(
            page.items, reversed(made), strict=True
        ):
            listed = dict(json.loads(item))
            if row[6] is BIG:  # a preview: the payload's first characters, not the document
                assert listed["payload"] is None
                assert listed["payload_truncated"] is True
                assert len(listed["payload_preview"]) == sql.PREVIEW_CHARS
                continue
            assert pairs(item) == expected(record_id, row, kafka, ingested_at)
    finally:
        conn.close()
