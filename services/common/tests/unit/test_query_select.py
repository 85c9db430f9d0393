"""select=: the fields of a record cut out of the JSON text PostgreSQL built, never parsed,
even when strings and the document hold text that looks like the markers."""

from __future__ import annotations

import json

import pytest

from streamsuite_common.query import InvalidQuery
from streamsuite_common.query.filters import RECORD_FIELDS, parse_select
from streamsuite_common.query.render import project, record_fields

TRICKY = (
    '{"id":7,"kind":"relational","source":"a\\",\\"kind\\":\\"x.json","sha256":null,'
    '"doc_index":null,"name":"Ada \\"age\\":1","age":36,'
    '"payload":{"id": 1, "kafka": {"topic": "t"}, "s": ",\\"ingested_at\\":", "n": 1.50},'
    '"kafka":{"topic":"records","partition":2,"offset":9},'
    '"produced_at":null,"ingested_at":"2026-01-31T12:00:00.000000Z"}'
)
PREVIEW = (
    '{"id":8,"kind":"unstructured","source":null,"sha256":null,"doc_index":null,"name":null,'
    '"age":null,"payload":null,"payload_truncated":true,"payload_preview":"{\\"a\\": 1",'
    '"kafka":{"topic":"records","partition":0,"offset":1},"produced_at":null,'
    '"ingested_at":"2026-01-31T12:00:00.000000Z"}'
)


def test_every_field_is_cut_out_exactly():
    fields = record_fields(TRICKY)
    assert tuple(fields) == RECORD_FIELDS
    whole = json.loads(TRICKY)
    for name, text in fields.items():
        assert json.loads(text) == whole[name], name
    assert fields["payload"].endswith('"n": 1.50}')  # the document's own text, digits kept


def test_a_projection_keeps_the_fields_asked_in_record_order():
    assert json.loads(project(TRICKY, ("id", "name", "payload"))) == {
        "id": 7,
        "name": 'Ada "age":1',
        "payload": json.loads(TRICKY)["payload"],
    }
    assert project(TRICKY, None) == TRICKY
    # A list preview keeps its preview keys with its payload.
    assert json.loads(project(PREVIEW, ("id", "payload"))) == {
        "id": 8, "payload": None, "payload_truncated": True, "payload_preview": '{"a": 1',
    }  # fmt: skip


def test_select_names_record_fields_in_record_order():
    assert parse_select(None) is None
    assert parse_select("payload, id,kafka") == ("id", "payload", "kafka")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty field name"),
        ("id,,name", "empty field name"),
        ("id,nme", "unknown field 'nme'"),
        ("payload.name", "unknown field"),
        ("id,id", "named twice"),
    ],
)
def test_bad_selects_name_the_parameter(text, problem):
    with pytest.raises(InvalidQuery) as caught:
        parse_select(text)
    assert caught.value.param == "select"
    assert problem in caught.value.problem
