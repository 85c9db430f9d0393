"""Kafka message -> row or refusal, without Kafka or PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from streamsuite_common.contract import DeadLetter, KafkaCoordinates, document_headers
from streamsuite_ingestor.decode import (
    DeadLetterRow,
    Row,
    decode_dead_letter,
    decode_document,
    store_refusal,
)
from streamsuite_ingestor.routes import all_routes

PRODUCED = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
HEADERS = document_headers(source="people/ada.json", sha256="ab" * 32, doc_index=0,
                           produced_at=PRODUCED)  # fmt: skip


@dataclasses.dataclass
class Message:
    value: bytes | None
    headers: list = dataclasses.field(default_factory=lambda: list(HEADERS))
    topic: str = "records"
    partition: int = 2
    offset: int = 41
    timestamp: int = 1_700_000_000_000
    timestamp_type: int = 0
    key: bytes | None = None


def decode(value: bytes | None, **kwargs) -> Row | DeadLetter:
    return decode_document(Message(value, **kwargs), all_routes(), max_bytes=1024)


def refused(value: bytes | None, **kwargs) -> DeadLetter:
    result = decode(value, **kwargs)
    assert isinstance(result, DeadLetter), result
    return result


def test_name_and_age_document_is_relational_with_typed_values():
    row = decode(b'{"name": "Ada Lovelace", "age": 36, "extra": true}')
    assert isinstance(row, Row)
    assert (row.kind, row.route, row.column("name"), row.column("age")) == (
        "relational", "person", "Ada Lovelace", 36,
    )  # fmt: skip
    assert row.payload == '{"name": "Ada Lovelace", "age": 36, "extra": true}'
    assert (row.meta.source, row.meta.doc_index, row.produced_at) == (
        "people/ada.json",
        0,
        PRODUCED,
    )
    assert row.kafka == KafkaCoordinates("records", 2, 41)


@pytest.mark.parametrize(
    "value",
    [b'{"name": "Ada"}', b'{"age": 3}', b"[1, 2]", b'"text"', b"42", b'{"Name": "A", "age": 1}'],
)
def test_documents_that_do_not_claim_the_shape_are_unstructured(value):
    row = decode(value)
    assert isinstance(row, Row)
    assert (row.kind, row.column("name"), row.column("age")) == ("unstructured", None, None)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (b'{"name": "Bob", "age": "forty"}', "field 'age' expected an integer, got string 'forty'"),
        (b'{"name": "Bob", "age": true}', "field 'age' expected an integer, got boolean true"),
        (b'{"name": "Bob", "age": 36.5}', "field 'age' expected an integer, got number 36.5"),
        (b'{"name": "Bob", "age": 151}', "field 'age' must be between 0 and 150, got integer 151"),
        (b'{"name": "Bob", "age": -1}', "field 'age' must be between 0 and 150"),
        (b'{"name": "  ", "age": 3}', "field 'name' must not be empty"),
        (b'{"name": 7, "age": 3}', "field 'name' expected a string, got integer 7"),
        (b'{"name": "B", "age": null}', "field 'age' expected an integer, got null"),
    ],
)
def test_document_claiming_the_shape_with_wrong_types_is_a_route_violation(value, problem):
    letter = refused(value)
    assert (letter.reason, letter.stage, letter.origin) == ("route-violation", "route", "ingestor")
    assert problem in letter.detail
    assert letter.detail.startswith("route 'person'")


@pytest.mark.parametrize(
    ("value", "reason", "detail"),
    [
        (b'{"value": NaN, "other": Infinity}', "non-finite-number", "NaN"),
        (b'{"v": -Infinity}', "non-finite-number", "-Infinity"),
        (b'{"note": "before\\u0000after"}', "nul-character", "NUL"),
        (b'{"be\\u0000fore": 1}', "nul-character", "NUL"),
        (b'["\\ud800"]', "invalid-unicode", "surrogate"),
        (b'{"name": "x", "age": ', "invalid-json", "line 1 column 22"),
        (b"", "empty", "no value"),
        (None, "empty", "no value"),
        (b'{"name": "Jos\xe9", "age": 30}', "not-utf8", "byte 0xe9 at offset 13"),
        (b"[" * 2000 + b"]" * 2000, "too-large", "4000 bytes"),
    ],
)
def test_poison_messages_are_refused_with_a_specific_reason(value, reason, detail):
    letter = refused(value)
    assert letter.reason == reason
    assert detail in letter.detail
    assert letter.raw == (value or b"")
    assert letter.kafka == KafkaCoordinates("records", 2, 41)
    assert (letter.source, letter.sha256, letter.doc_index) == ("people/ada.json", "ab" * 32, 0)


def test_invalid_json_refusal_names_the_line():
    assert refused(b'{\n"a": 1,\n}').line == 3


def test_deep_nesting_is_refused_not_crashing():
    depth = 100_000
    letter = decode_document(Message(b"[" * depth + b"]" * depth), all_routes(), 1 << 20)
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "too-deep"


def test_escaped_backslash_before_u0000_is_text_not_nul():
    row = decode(b'{"path": "C:\\\\u0000"}')
    assert isinstance(row, Row)
    assert json.loads(row.payload) == {"path": "C:\\u0000"}


def test_surrogate_pair_escape_is_valid_text():
    assert isinstance(decode(b'{"e": "\\ud83d\\ude80"}'), Row)


def test_numbers_keep_their_text_for_jsonb():
    row = decode(b'{"big": 123456789012345678901234567890, "pi": 3.14159265358979323846}')
    assert "123456789012345678901234567890" in row.payload
    assert "3.14159265358979323846" in row.payload


def test_integer_too_long_for_python_int_is_not_a_crash():
    digits = b"9" * 5000
    row = decode_document(Message(b'{"n": ' + digits + b"}"), all_routes(), 1 << 20)
    assert isinstance(row, Row)


def test_message_without_headers_has_no_identity_and_uses_broker_time():
    row = decode(b'{"a": 1}', headers=[])
    assert (row.meta.source, row.meta.sha256, row.meta.doc_index) == (None, None, None)
    assert row.produced_at == datetime.fromtimestamp(1_700_000_000, UTC)


def test_half_an_identity_counts_as_none():
    row = decode(b'{"a": 1}', headers=[("source", b"a.json"), ("sha256", b"ff")])
    assert (row.meta.source, row.meta.sha256) == (None, None)


def test_naive_produced_at_header_is_read_as_utc():
    row = decode(b"{}", headers=[("produced-at", b"2026-11-20T10:00:00")])
    assert row.produced_at == PRODUCED


def test_nul_in_a_header_is_refused():
    headers = [("source", b"a\x00b"), ("sha256", b"ff"), ("doc-index", b"0")]
    assert refused(b"{}", headers=headers).reason == "invalid-header"


def test_dead_letter_event_is_read_with_its_dlq_coordinates():
    event = DeadLetter(origin="publisher", stage="parse", reason="invalid-yaml", detail="bad",
                       raw=b"x: [", source="a.yaml", sha256="cd" * 32, line=1)  # fmt: skip
    _, value, headers = event.to_message()
    item = decode_dead_letter(Message(value, headers=headers, topic="records.dlq", offset=5))
    assert isinstance(item, DeadLetterRow)
    assert item.dlq == KafkaCoordinates("records.dlq", 2, 5)
    assert (item.event.origin, item.event.reason, item.event.raw) == (
        "publisher", "invalid-yaml", b"x: [",
    )  # fmt: skip


def test_malformed_dead_letter_event_is_kept_as_its_own_dead_letter():
    item = decode_dead_letter(Message(b"not json", headers=[], topic="records.dlq"))
    assert (item.event.origin, item.event.reason, item.event.raw) == (
        "unknown", "invalid-dead-letter-event", b"not json",
    )  # fmt: skip
    assert "not JSON" in item.event.detail


def test_store_refusal_keeps_the_original_bytes_and_coordinates():
    row = decode(b'{"x": 1e1000000}')
    letter = store_refusal(row, "PostgreSQL 22003: value overflows numeric format")
    assert (letter.stage, letter.reason, letter.raw) == (
        "store", "rejected-by-postgres", b'{"x": 1e1000000}',
    )  # fmt: skip
    assert letter.kafka == row.kafka
    assert DeadLetter.from_message(letter.to_message()[1]).kafka == row.kafka
