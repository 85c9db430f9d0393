"""Statement builders and parameters of the store, without a database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from streamsuite_common.contract import DeadLetter, DocumentMeta, KafkaCoordinates
from streamsuite_ingestor.decode import DeadLetterRow, Row
from streamsuite_ingestor.routes import DEFAULT_ROUTE, Match, parse_routes
from streamsuite_ingestor.store import (
    DEAD_LETTER_COLUMNS,
    RECORD_COLUMNS,
    dead_letter_params,
    insert_dead_letters_sql,
    insert_records_sql,
    insert_route_sql,
    is_data_sqlstate,
    notify_payload,
    record_params,
)

from .test_migrations import render

AT = datetime(2026, 1, 1, tzinfo=UTC)
DLQ = KafkaCoordinates("records.dlq", 0, 9)


def test_records_upsert_skips_conflicts_and_casts_the_payload_to_jsonb():
    statement, template = insert_records_sql()
    text = render(statement)
    assert text.startswith('INSERT INTO records ("kind", "route", "source"')
    assert "ON CONFLICT DO NOTHING RETURNING id, kind" in text
    assert template.count("%s") == len(RECORD_COLUMNS)
    assert template.split(", ")[RECORD_COLUMNS.index("payload")] == "%s::jsonb"


def test_record_params_follow_the_column_order():
    row = Row(
        payload='{"name": "Ada", "age": 36}',
        meta=DocumentMeta(source="a.json", sha256="ff", doc_index=0),
        kafka=KafkaCoordinates("records", 1, 5),
        produced_at=AT,
        match=Match(DEFAULT_ROUTE, ("Ada", 36)),
    )
    params = dict(zip(RECORD_COLUMNS, record_params(row), strict=True))
    assert params == {
        "kind": "relational", "route": "person", "source": "a.json", "sha256": "ff",
        "doc_index": 0, "payload": '{"name": "Ada", "age": 36}', "name": "Ada", "age": 36,
        "kafka_topic": "records", "kafka_partition": 1, "kafka_offset": 5, "produced_at": AT,
    }  # fmt: skip


def test_table_route_values_do_not_fill_the_name_and_age_columns():
    route = parse_routes(
        {"routes": [{"name": "r", "table": "t", "fields": [{"name": "name", "type": "string"}]}]}
    )[0]
    row = Row("{}", DocumentMeta(), KafkaCoordinates("r", 0, 0), None, Match(route, ("x",)))
    assert row.column("name") is None
    assert render(insert_route_sql(route)) == (
        'INSERT INTO "t" ("record_id", "name") VALUES %s ON CONFLICT DO NOTHING'
    )


def test_dead_letter_params_follow_the_column_order():
    event = DeadLetter(origin="publisher", stage="parse", reason="invalid-yaml", detail="bad",
                       raw=b"x", source="a.yaml", sha256="ff", doc_index=1, line=2,
                       kafka=KafkaCoordinates("records", 3, 4), at=AT)  # fmt: skip
    params = dict(
        zip(DEAD_LETTER_COLUMNS, dead_letter_params(DeadLetterRow(event, DLQ)), strict=True)
    )
    assert bytes(params.pop("raw")) == b"x"
    assert params == {
        "origin": "publisher", "stage": "parse", "reason": "invalid-yaml", "detail": "bad",
        "source": "a.yaml", "sha256": "ff", "doc_index": 1, "line": 2, "raw_truncated": False,
        "kafka_topic": "records", "kafka_partition": 3, "kafka_offset": 4,
        "dlq_topic": "records.dlq", "dlq_partition": 0, "dlq_offset": 9, "refused_at": AT,
    }  # fmt: skip
    assert "ON CONFLICT DO NOTHING" in render(insert_dead_letters_sql())


@pytest.mark.parametrize(
    ("pgcode", "data"),
    [("22003", True), ("22P02", True), ("23514", True), ("54001", True), ("42501", False),
     ("42P01", False), ("57014", False), ("40001", False), (None, False)],
)  # fmt: skip
def test_only_data_errors_turn_messages_into_dead_letters(pgcode, data):
    assert is_data_sqlstate(pgcode) is data


def test_notify_payload_names_schema_and_newest_id():
    assert json.loads(notify_payload("s1", 3, 42)) == {
        "schema": "s1", "table": "records", "count": 3, "max_id": 42,
    }  # fmt: skip
