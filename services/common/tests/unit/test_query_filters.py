"""Request parameters into filters: typed values, dotted paths, bounds, and refusals that name
the parameter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streamsuite_common.query import (
    CursorCodec,
    InvalidQuery,
    parse_dead_letter_params,
    parse_key_value_body,
    parse_record_params,
    parse_stream_params,
)
from streamsuite_common.query.values import containment_fragments, value_from_param

CODEC = CursorCodec("test")


def parse(**params):
    return parse_record_params(params, CODEC)


@pytest.mark.parametrize(
    ("text", "json_text"),
    [
        ("30", "30"),
        ('"30"', '"30"'),
        ("Ada", '"Ada"'),
        ("true", "true"),
        ("null", "null"),
        ("0.1000000000000000000001", "0.1000000000000000000001"),
        ("1e400", "1E+400"),
        ('{"a": [1, "x"]}', '{"a":[1,"x"]}'),
        ("{not json", '"{not json"'),
        ("NaN", '"NaN"'),
    ],
)
def test_value_is_json_when_it_parses_else_a_string(text, json_text):
    record_filter, _ = parse(key="k", value=text)
    assert record_filter.value == json_text


def test_value_parsing_keeps_numbers_exact():
    from decimal import Decimal

    assert value_from_param("value", "0.1000000000000000000001") == Decimal(
        "0.1000000000000000000001"
    )


def test_dotted_key_becomes_path_segments():
    record_filter, page = parse(key="address.city", value="London")
    assert record_filter.key == ("address", "city")
    assert (page.limit, page.before_id) == (50, None)


def test_digit_segments_give_array_and_object_alternatives():
    assert sorted(containment_fragments(("items", "0", "price"), "1")) == sorted(
        ['{"items":{"0":{"price":1}}}', '{"items":[{"price":1}]}']
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"key": "a"}, "value: required together with key"),
        ({"key": "", "value": "1"}, "key: must not be empty"),
        ({"key": "a.", "value": "1"}, "key: 'a.' has an empty segment"),
        ({"key": "x" * 257, "value": "1"}, "key: longer than 256 characters (257)"),
        ({"key": "0.1.2.3.4", "value": "1"}, "key: more than 4 numeric"),
        ({"key": "a\x00", "value": "1"}, "key: contains a NUL character"),
        ({"key": "a", "value": '"\\ud800"'}, "value: contains a lone UTF-16 surrogate"),
        ({"limit": "0"}, "limit: must be between 1 and 1000, got 0"),
        ({"limit": "1e3"}, "limit: expected a whole number"),
        ({"limit": "99999999999999999999999"}, "limit: expected a whole number"),
        ({"kind": "x"}, "kind: must be one of relational, unstructured"),
        ({"age_min": "9", "age_max": "1"}, "age_max: must not be below age_min"),
        ({"contains": "[1,"}, "contains: not JSON"),
        # Valid JSON, but beyond what Decimal can represent (was an uncaught 500).
        ({"key": "a", "value": "1e" + "9" * 30}, "value: number 1e999"),
        ({"key": "a", "value": "[1e-" + "9" * 30 + "]"}, "value: number 1e-999"),
        ({"contains": '{"a": 1e' + "9" * 30 + "}"}, "contains: number 1e999"),
        ({"contains": "[" * 100 + "]" * 100}, "contains: nested deeper than 64"),
        ({"jsonpath": "$" * 1025}, "jsonpath: longer than 1024"),
        ({"name": ""}, "name: must not be empty"),
        ({"since": "2026-01-01"}, "since: expected an RFC 3339 timestamp"),
        ({"since": "2026-01-01T00:00:00"}, "since: needs a UTC offset"),
        (
            {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
            "until: must be later",
        ),
        ({"cursor": "x.y"}, "cursor: invalid"),
        ({"bogus": "1"}, "bogus: unknown parameter"),
    ],
)
def test_bad_parameters_name_themselves(params, message):
    with pytest.raises(InvalidQuery) as caught:
        parse(**params)
    assert str(caught.value).startswith(message), str(caught.value)


def test_repeated_parameter_is_refused():
    with pytest.raises(InvalidQuery, match="limit: given more than once"):
        parse_record_params([("limit", "1"), ("limit", "2")], CODEC)


def test_timestamps_accept_z_offsets_and_a_plus_decoded_as_space():
    record_filter, _ = parse(since="2026-01-31T12:00:00Z", until="2026-01-31T15:00:00 02:00")
    assert record_filter.since == datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert record_filter.until == datetime(2026, 1, 31, 13, tzinfo=UTC)


def test_stream_takes_document_filters_but_not_paging():
    assert parse_stream_params({"kind": "relational"}).kind == "relational"
    with pytest.raises(InvalidQuery, match="limit: unknown parameter"):
        parse_stream_params({"limit": "5"})


def test_dead_letter_filter_and_cursor_scope():
    cursor = CODEC.encode("dead_letters", 42)
    dead_filter, page = parse_dead_letter_params(
        {"reason": "invalid-json", "cursor": cursor}, CODEC
    )
    assert (dead_filter.reason, page.before_id) == ("invalid-json", 42)
    with pytest.raises(InvalidQuery, match="cursor: invalid: not a cursor of this listing"):
        parse(cursor=cursor)


@pytest.mark.parametrize(
    ("body", "key", "value"),
    [
        (b'{"key": "age", "value": 30}', ("age",), "30"),
        (b'{"key": "age", "value": "30"}', ("age",), '"30"'),
        (b'{"key": "a.b", "value": null}', ("a", "b"), "null"),
        (b'{"key": "x", "value": 1.50}', ("x",), "1.50"),
        ('{"key": "名", "value": ["🚀"]}'.encode(), ("名",), '["🚀"]'),
    ],
)
def test_body_key_value_is_typed(body, key, value):
    record_filter = parse_key_value_body(body)
    assert (record_filter.key, record_filter.value) == (key, value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body: empty"),
        (b"\xff", "body: not UTF-8"),
        (b"[]", "body: expected a JSON object"),
        (b'{"key": "a"}', "value: required"),
        (b'{"key": true, "value": 1}', "key: expected a string, got a boolean"),
        (b'{"key": "a", "value": Infinity}', "body: Infinity is not a JSON number"),
        (b'{"key": "a", "value": "\\u0000"}', "body: contains a NUL"),
        (b'{"key": "a", "value": 1e999999999999999999999}', "body: number 1e999"),
        (b'{"key": "a", "value": 1, "extra": 1}', "extra: unknown field"),
    ],
)
def test_bad_bodies_name_the_problem(body, message):
    with pytest.raises(InvalidQuery) as caught:
        parse_key_value_body(body)
    assert str(caught.value).startswith(message), str(caught.value)


def test_timestamps_are_bound_in_utc_whatever_offset_rfc_3339_allows():
    from streamsuite_common.query.filters import parse_timestamp

    # PostgreSQL refuses an offset of +23:03; the same instant in UTC it takes.
    assert parse_timestamp("since", "6486-07-07T04:20:45+23:03") == datetime(
        6486, 7, 6, 5, 17, 45, tzinfo=UTC
    )
    assert parse_timestamp("since", "2026-01-31T12:00:00+02:00").utcoffset().total_seconds() == 0
    # Beyond Python's range in UTC: the earliest / latest moment, which selects the same.
    assert parse_timestamp("since", "0001-01-01T00:00:00+05:00") == datetime.min.replace(tzinfo=UTC)
