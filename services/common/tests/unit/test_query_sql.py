"""The statements are constant text with placeholders: no filter value ever appears in them."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime

from streamsuite_common.query import Page, RecordFilter
from streamsuite_common.query.filters import DeadLetterFilter
from streamsuite_common.query.sql import (
    dead_letter_by_id_sql,
    dead_letters_page_sql,
    filter_check_sql,
    record_by_id_sql,
    records_after_sql,
    records_below_sql,
    records_page_sql,
    records_window_sql,
    stream_position_sql,
    uses_payload_index,
)

EVIL = "x'); DROP TABLE records; --"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")

EVERYTHING = RecordFilter(
    key=(EVIL, "0"),
    value=f'"{EVIL}"',
    has_key=(EVIL,),
    contains=f'{{"{EVIL}":1}}',
    jsonpath=f'$."{EVIL}" == 1',
    kind="relational",
    name=EVIL,
    age_min=1,
    age_max=2,
    source=EVIL,
    since=datetime(2026, 1, 1, tzinfo=UTC),
    until=datetime(2026, 2, 1, tzinfo=UTC),
)


def _check(statement):
    text, params = statement
    assert EVIL not in text
    assert "DROP" not in text
    # Every placeholder has a parameter and every parameter a placeholder.
    assert set(PLACEHOLDER.findall(text)) == set(params)
    # No other % in the text but %% (a literal %: format()'s placeholders in the record
    # JSON): nothing else could be interpolated.
    assert "%" not in PLACEHOLDER.sub("", text).replace("%%", "")
    return text, params


def test_every_filter_is_bound_never_inlined():
    text, params = _check(records_page_sql(EVERYTHING, Page(limit=10, before_id=99)))
    assert params["key_path"] == [EVIL, "0"]
    assert params["name"] == EVIL
    assert params["limit"] == 11
    assert params["before_id"] == 99
    # A string value: the index finds it anywhere from its one entry, #> keeps it exact.
    assert "payload @@ %(key_value_anywhere)s::jsonpath" in text
    assert params["key_value_anywhere"] == f'$.** == "{EVIL}"'
    assert "payload #> %(key_path)s::text[] = %(key_value)s::jsonb" in text
    # Any other value: containment of the key too (both shapes of a digits-only segment).
    text, params = _check(records_page_sql(dataclasses.replace(EVERYTHING, value="1"), Page()))
    assert "payload @> %(key_fragment_0)s::jsonb OR payload @> %(key_fragment_1)s::jsonb" in text
    assert "key_value_anywhere" not in params
    assert "payload @@ %(jsonpath)s::jsonpath" in text
    # The record JSON is built by PostgreSQL after the LIMIT, for the page's rows only.
    assert text.endswith("ORDER BY id DESC LIMIT %(limit)s) r ORDER BY r.id DESC")
    assert text.startswith('SELECT r.id, format(\'{"id":%%s,')


def test_no_filter_is_a_plain_newest_first_page():
    text, params = _check(records_page_sql(RecordFilter(), Page()))
    assert "WHERE" not in text
    assert params == {"limit": 51}


def test_other_statements_bind_their_inputs():
    _check(record_by_id_sql(7))
    _check(filter_check_sql(EVERYTHING))
    _check(stream_position_sql(7))
    text, params = _check(records_after_sql(EVERYTHING, ("5", 3), "9", 100))
    # Commit order: only finished transactions (below the horizon), by (xid, id).
    assert "(coalesce(xid, '0'::xid8), id) > (%(after_xid)s::xid8, %(after_id)s)" in text
    assert "coalesce(xid, '0'::xid8) < %(horizon)s::xid8" in text
    assert "ORDER BY coalesce(xid, '0'::xid8), id LIMIT %(limit)s" in text
    assert (params["after_xid"], params["after_id"], params["horizon"]) == ("5", 3, "9")
    _check(dead_letters_page_sql(DeadLetterFilter(reason=EVIL, source=EVIL), Page()))


def test_list_pages_show_big_documents_as_previews_and_details_whole():
    text, _ = records_page_sql(RecordFilter(), Page())
    assert "pg_column_size(r.payload) <= 65536 THEN r.payload::text" in text
    assert "payload_preview" in text
    text, _ = record_by_id_sql(7)
    assert "payload_preview" not in text
    assert ',"payload":%%s,' in text
    assert "r.age::text, 'null'), r.payload::text, to_json(r.kafka_topic)" in text


def test_dead_letter_lists_leave_the_raw_bytes_out():
    text, _ = dead_letters_page_sql(DeadLetterFilter(), Page(), raw=False)
    assert " NULL AS raw," in text
    assert "octet_length(raw) AS raw_bytes" in text
    text, _ = dead_letter_by_id_sql(3)
    assert " raw, octet_length(raw)" in text


def test_document_filters_read_a_window_then_the_index():
    assert uses_payload_index(RecordFilter(contains="{}"))
    assert uses_payload_index(RecordFilter(has_key=("a",), kind="relational"))
    assert not uses_payload_index(RecordFilter(has_key=("0",), kind="relational"))
    text, params = _check(records_window_sql(EVERYTHING, 50_001, 11))
    assert "id < %(top)s AND id >= %(floor)s" in text
    assert (params["top"], params["floor"], params["limit"]) == (50_001, 40_001, 11)
    text, params = _check(records_below_sql(EVERYTHING, 40_001, 11))
    assert "OFFSET 0) matches ORDER BY id DESC LIMIT %(limit)s" in text
    assert params["below"] == 40_001
