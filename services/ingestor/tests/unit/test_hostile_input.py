"""Whatever bytes a message holds, decoding gives a row or a dead letter, never an exception:
hand-picked hostile inputs first, then properties checked with Hypothesis."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamsuite_common.contract import (
    MAX_DEAD_LETTER_RAW_BYTES,
    DeadLetter,
    parse_document_headers,
)
from streamsuite_ingestor.decode import (
    DeadLetterRow,
    Row,
    decode_dead_letter,
    decode_document,
    parse_json,
)
from streamsuite_ingestor.routes import Violation, all_routes, classify, parse_routes

ROUTES = all_routes(
    parse_routes(
        {
            "routes": [
                {
                    "name": "reading",
                    "table": "readings",
                    "fields": [
                        {"name": "sensor", "type": "string"},
                        {"name": "celsius", "type": "number"},
                    ],
                }
            ]
        }
    )
)
GOOD_EVENT = {"origin": "publisher", "stage": "parse", "reason": "r", "detail": "d"}


@dataclasses.dataclass
class Message:
    value: bytes | None
    headers: list = dataclasses.field(default_factory=list)
    topic: str = "records.dlq"
    partition: int = 0
    offset: int = 7
    timestamp: int = 1_700_000_000_000
    timestamp_type: int = 0
    key: bytes | None = None


def _event(**fields) -> bytes:
    return json.dumps({**GOOD_EVENT, **fields}).encode()


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        (_event(raw_base64=5), "'raw_base64' is not a string"),
        (_event(raw_base64=["AA=="]), "'raw_base64' is not a string"),
        (_event(doc_index="seven"), "'doc_index' is not an integer"),
        (_event(doc_index=True), "'doc_index' is not an integer"),
        (_event(line=10**30), "'line' is out of range"),
        (_event(source=5), "'source' is not a string"),
        (_event(at=1234), "'at' is not a string"),
        (_event(at="yesterday"), "'at' is not an RFC 3339 time"),
        (_event(raw_truncated="yes"), "'raw_truncated' is not true or false"),
        (_event(kafka=[1, 2, 3]), "'kafka' must have topic, partition and offset"),
        (_event(kafka={"topic": "t", "partition": "zero", "offset": 1}), "'partition'"),
        (_event(kafka={"topic": "t", "partition": 0, "offset": 2**70}), "'offset'"),
        (_event(kafka={"topic": "t", "partition": 0}), "'kafka' must have"),
        (_event(kafka={"topic": "t", "partition": 0, "offset": 1, "x": 1}), "'kafka' must have"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
        (b"\xff\xfe", "not JSON"),
        (None, "not JSON"),
        (b"", "not JSON"),
        (b"5", "expected a JSON object"),
    ],
)
def test_malformed_dead_letter_events_are_kept_with_the_reason(value, complaint):
    item = decode_dead_letter(Message(value))
    assert item.event.reason == "invalid-dead-letter-event"
    assert complaint in item.event.detail
    assert item.event.raw == (value or b"")[:MAX_DEAD_LETTER_RAW_BYTES]  # up to the cap
    assert item.dlq.offset == 7


def test_a_valid_event_keeps_every_field():
    value = _event(
        raw_base64="eDog", doc_index=2, line=3, source="a.yaml", sha256="ff",
        kafka={"topic": "records", "partition": 1, "offset": 9}, at="2026-11-20T10:00:00Z",
    )  # fmt: skip
    event = decode_dead_letter(Message(value)).event
    assert (event.raw, event.doc_index, event.line, event.kafka.offset) == (b"x: ", 2, 3, 9)


@pytest.mark.parametrize("number", ["1" + "0" * 309, "-" + "9" * 400, "1" + "0" * 5000])
def test_integer_beyond_double_precision_in_a_number_field_is_a_violation(number):
    document, _ = parse_json(f'{{"sensor": "s", "celsius": {number}}}'.encode(), 1 << 20)
    outcome = classify(document, ROUTES)
    assert isinstance(outcome, Violation)
    assert "out of range for a number" in outcome.problem


def test_integer_beyond_double_precision_becomes_a_dead_letter_not_an_error():
    value = b'{"sensor": "s", "celsius": 1' + b"0" * 400 + b"}"
    letter = decode_document(Message(value, topic="records"), ROUTES, max_bytes=1 << 20)
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "route-violation"


# --- properties ---

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
_headers = st.lists(
    st.tuples(
        st.sampled_from(["source", "sha256", "doc-index", "produced-at", "content-type"])
        | st.text(),
        st.none() | st.binary(max_size=40),
    ),
    max_size=8,
)
_values = (
    st.none()
    | st.binary(max_size=200)
    | _json.map(lambda d: json.dumps(d).encode())
    | st.fixed_dictionaries({"sensor": _json, "celsius": _json, "name": _json, "age": _json}).map(
        lambda d: json.dumps(d).encode()
    )
)
_events = st.fixed_dictionaries(
    {},
    optional={
        name: _json
        for name in (
            *GOOD_EVENT,
            "raw_base64",
            "source",
            "sha256",
            "doc_index",
            "line",
            "at",
            "kafka",
            "raw_truncated",
        )
    },
).map(lambda d: json.dumps(d).encode())

_fuzz = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_fuzz
@given(value=_values, headers=_headers)
def test_any_records_message_decodes_to_a_row_or_a_dead_letter(value, headers):
    message = Message(value, headers=headers, topic="records")
    outcome = decode_document(message, ROUTES, max_bytes=1 << 20)
    assert isinstance(outcome, (Row, DeadLetter))
    if isinstance(outcome, DeadLetter):
        assert outcome.kafka is not None
        assert outcome.kafka.offset == 7
        DeadLetter.from_message(outcome.to_message()[1])  # what we send, we can read back


@_fuzz
@given(value=_events | _values, headers=_headers)
def test_any_dlq_message_decodes_to_a_dead_letter_row(value, headers):
    item = decode_dead_letter(Message(value, headers=headers))
    assert isinstance(item, DeadLetterRow)
    assert isinstance(item.event.origin, str)
    assert isinstance(item.event.raw, bytes)


@_fuzz
@given(headers=_headers)
def test_any_headers_parse_leniently(headers):
    meta = parse_document_headers(headers)
    assert meta.doc_index is None or meta.doc_index >= 0
