"""COPY into the staging table: the text format and the INSERT ... SELECT, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

from streamsuite_common.contract import DocumentMeta, KafkaCoordinates
from streamsuite_ingestor.decode import Row
from streamsuite_ingestor.routes import DEFAULT_ROUTE, Match
from streamsuite_ingestor.store import STAGING_COLUMNS, copy_text, insert_from_staging_sql

from .test_migrations import render

AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_copy_text_escapes_what_ends_fields_and_rows_and_keeps_the_batch_order():
    payload = '{"a": "tab\\there", "b": "back\\\\slash"}\n'
    rows = [
        Row(payload, DocumentMeta(source="a\tb.json", sha256="ff", doc_index=0),
            KafkaCoordinates("records", 1, 5), AT, Match(DEFAULT_ROUTE, ("Ada", 36))),
        Row("{}", DocumentMeta(), KafkaCoordinates("records", 2, 6), None),
    ]  # fmt: skip
    lines = copy_text(rows).split("\n")
    assert lines[-1] == ""  # every row ends with a newline
    first = lines[0].split("\t")
    assert first[STAGING_COLUMNS.index("source")] == "a\\tb.json"
    # A backslash is doubled, so a JSON escape reaches PostgreSQL unchanged.
    assert first[STAGING_COLUMNS.index("payload")] == (
        '{"a": "tab\\\\there", "b": "back\\\\\\\\slash"}\\n'
    )
    assert first[STAGING_COLUMNS.index("name")] == "Ada"
    assert first[STAGING_COLUMNS.index("produced_at")] == "2026-01-01T00:00:00+00:00"
    second = lines[1].split("\t")
    assert second[STAGING_COLUMNS.index("source")] == "\\N"
    assert [line.split("\t")[-1] for line in lines[:2]] == ["0", "1"]


def test_insert_from_staging_skips_conflicts_in_batch_order():
    text = render(insert_from_staging_sql())
    assert "payload::jsonb" in text
    assert 'FROM "ingest_staging" ORDER BY ord ON CONFLICT DO NOTHING RETURNING id' in text


def test_copy_straight_into_records_has_the_record_columns_only():
    from streamsuite_ingestor.store import RECORD_COLUMNS, copy_records_sql

    rows = [Row("{}", DocumentMeta(), KafkaCoordinates("records", 2, 6), None)]
    (line, end) = copy_text(rows, staged=False).split("\n")
    assert end == ""
    assert len(line.split("\t")) == len(RECORD_COLUMNS)
    assert copy_records_sql() == f"COPY records ({', '.join(RECORD_COLUMNS)}) FROM STDIN"
