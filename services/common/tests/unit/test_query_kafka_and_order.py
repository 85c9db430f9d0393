"""Kafka-coordinate filters and oldest-first (commit order) pages: parsed with refusals that
name the parameter, bound (never inlined) in the statements, and positions in signed cursors."""

from __future__ import annotations

import pytest

from streamsuite_common.query import (
    CursorCodec,
    CursorError,
    InvalidQuery,
    RecordFilter,
    parse_record_params,
    parse_stream_params,
)
from streamsuite_common.query.filters import RECORDS_ASC_SCOPE, RECORDS_SCOPE
from streamsuite_common.query.sql import records_after_sql, records_page_sql

CODEC = CursorCodec("test")


def parse(**params):
    return parse_record_params(params, CODEC, incremental=True)


def test_oldest_first_only_where_the_caller_takes_it():
    # The web UI's pages and downloads end where the cursor does: never an endless order.
    with pytest.raises(InvalidQuery, match="order: unknown parameter"):
        parse_record_params({"order": "asc"}, CODEC)


def test_partition_and_offset_bounds_become_the_filter():
    record_filter, _ = parse(partition="2", offset_min="1200", offset_max="1300")
    assert (record_filter.partition, record_filter.offset_min, record_filter.offset_max) == (
        2, 1200, 1300,
    )  # fmt: skip
    exact, _ = parse(partition="0", offset_min="7", offset_max="7")
    assert (exact.partition, exact.offset_min, exact.offset_max) == (0, 7, 7)
    alone, _ = parse(partition=str(2**31 - 1))
    assert (alone.partition, alone.offset_min) == (2**31 - 1, None)


def test_the_stream_takes_the_kafka_filters_too():
    assert parse_stream_params({"partition": "1", "offset_min": "5"}).offset_min == 5


@pytest.mark.parametrize(
    ("params", "param", "problem"),
    [
        ({"partition": "-1"}, "partition", "between 0 and 2147483647"),
        ({"partition": str(2**31)}, "partition", "between 0 and 2147483647"),
        ({"partition": "one"}, "partition", "whole number"),
        ({"partition": "1", "offset_min": "-5"}, "offset_min", "between 0 and"),
        ({"partition": "1", "offset_max": str(2**63)}, "offset_max", "between 0 and"),
        ({"offset_min": "5"}, "offset_min", "needs partition"),
        ({"offset_max": "5"}, "offset_max", "needs partition"),
        ({"partition": "1", "offset_min": "9", "offset_max": "8"}, "offset_max", "below"),
        ({"order": "up"}, "order", "one of desc, asc"),
        ({"after": "5"}, "after", "only with order=asc"),
        ({"order": "asc", "after": "-1"}, "after", "between 0 and"),
        ({"order": "asc", "after": "x"}, "after", "whole number"),
    ],
)
def test_bad_kafka_and_order_parameters_name_themselves(params, param, problem):
    with pytest.raises(InvalidQuery) as caught:
        parse(**params)
    assert caught.value.param == param
    assert problem in caught.value.problem


def test_ascending_pages_start_after_an_id_or_a_position():
    _, newest_first = parse()
    assert not newest_first.ascending
    _, from_start = parse(order="asc")
    assert (from_start.ascending, from_start.after_id, from_start.position) == (True, None, None)
    _, after = parse(order="asc", after="4212", limit="10")
    assert (after.after_id, after.limit) == (4212, 10)
    token = CODEC.encode_position(RECORDS_ASC_SCOPE, ("1234567", 99))
    _, resumed = parse(order="asc", cursor=token)
    assert resumed.position == ("1234567", 99)


def test_a_cursor_of_one_order_is_refused_in_the_other():
    desc_token = CODEC.encode(RECORDS_SCOPE, 50)
    asc_token = CODEC.encode_position(RECORDS_ASC_SCOPE, ("10", 50))
    with pytest.raises(InvalidQuery, match="cursor: invalid: not a cursor of this listing"):
        parse(order="asc", cursor=desc_token)
    with pytest.raises(InvalidQuery, match="cursor: invalid: not a cursor of this listing"):
        parse(cursor=asc_token)
    with pytest.raises(InvalidQuery, match="after: give after or cursor, not both"):
        parse(order="asc", after="1", cursor=asc_token)


def test_positions_round_trip_in_cursors_and_refuse_bad_numbers():
    for position in (("0", 0), (str(2**64 - 1), 2**63 - 1)):
        token = CODEC.encode_position(RECORDS_ASC_SCOPE, position)
        assert CODEC.decode_position(RECORDS_ASC_SCOPE, token) == position
    forged = CODEC._seal({"s": RECORDS_ASC_SCOPE, "x": -1, "id": 5})
    with pytest.raises(CursorError, match="corrupt"):
        CODEC.decode_position(RECORDS_ASC_SCOPE, forged)
    with pytest.raises(CursorError, match="signature"):
        CursorCodec("other").decode_position(RECORDS_ASC_SCOPE, forged)


def test_kafka_filters_are_bound_never_inlined():
    f = RecordFilter(partition=3, offset_min=10, offset_max=20)
    for text, params in (
        records_page_sql(f, parse()[1]),
        records_after_sql(f, ("5", 3), "9", 100, preview=True),
    ):
        assert "kafka_partition = %(partition)s" in text
        assert "kafka_offset >= %(offset_min)s AND kafka_offset <= %(offset_max)s" in text
        assert (params["partition"], params["offset_min"], params["offset_max"]) == (3, 10, 20)


def test_ascending_list_pages_show_previews_and_the_stream_whole_records():
    page_text, _ = records_after_sql(RecordFilter(), ("0", 0), "9", 10, preview=True)
    stream_text, _ = records_after_sql(RecordFilter(), ("0", 0), "9", 10)
    assert "payload_preview" in page_text
    assert "payload_preview" not in stream_text


def test_a_csv_row_keeps_the_document_text_and_every_digit():
    from streamsuite_common.query.render import CSV_COLUMNS, csv_text, record_csv_row

    text = (
        '{"id":7,"kind":"relational","source":"a,b.json","sha256":"ab","doc_index":0,'
        '"name":"Ada","age":36,"payload":{"kafka": {"topic": "x"}, "p": 0.1000000000000000000001}'
        ',"kafka":{"topic":"records","partition":2,"offset":9007199254740993},'
        '"produced_at":null,"ingested_at":"2026-01-31T12:00:00.000000Z"}'
    )
    row = record_csv_row(text)
    assert dict(zip(CSV_COLUMNS, row, strict=True)) == {
        "id": "7", "kind": "relational", "source": "a,b.json", "sha256": "ab",
        "doc_index": "0", "name": "Ada", "age": "36", "kafka_topic": "records",
        "kafka_partition": "2", "kafka_offset": "9007199254740993", "produced_at": "",
        "ingested_at": "2026-01-31T12:00:00.000000Z",
        "payload": '{"kafka": {"topic": "x"}, "p": 0.1000000000000000000001}',
    }  # fmt: skip
    assert csv_text([row]).startswith('7,relational,"a,b.json",ab,')
    assert csv_text([row]).endswith("\r\n")
