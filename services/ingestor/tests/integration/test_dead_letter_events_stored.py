"""Dead-letter events that are valid JSON but not storable as they are (a lone surrogate or a
NUL in a text field, raw bytes over the cap) are stored as the contract makes them, and the
stream goes on: the contract (``DeadLetter``) is the one place that checks an event."""

from __future__ import annotations

import base64
import json

from devstack.testing import wait_for
from streamsuite_common.contract import MAX_DEAD_LETTER_RAW_BYTES
from streamsuite_common.kafka import connect_producer

from .conftest import running


def _event(**fields) -> bytes:
    base = {"origin": "publisher", "stage": "parse", "reason": "r", "detail": "d"}
    return json.dumps({**base, **fields}).encode()


def test_events_the_contract_makes_storable_are_stored_and_the_stream_goes_on(
    kafka_settings, topics, make_config, db
):
    records, dlq = topics
    big = base64.b64encode(b"z" * (MAX_DEAD_LETTER_RAW_BYTES + 10)).decode()
    events = [
        _event(source="surrogate.json", detail="half a pair: \ud800"),  # json.dumps escapes it
        _event(source="nul.json", origin="pub\u0000lisher"),
        _event(source="big.json", raw_base64=big),
    ]
    producer = connect_producer(kafka_settings, max_request_size=2 * 1024 * 1024)
    try:
        for value in events:
            producer.send(dlq, key=b"k", value=value, partition=0).get(timeout=60)
        producer.send(records, value=b'{"name": "After", "age": 7}', partition=0).get(timeout=60)
    finally:
        producer.close()

    with running(make_config()):
        wait_for(
            lambda: (
                db.query("SELECT name FROM records") == [("After",)]
                and db.count("dead_letters") == len(events)
            ),
            timeout_s=90,
            what="the record and the three dead letters",
        )
    rows = {
        source: (origin, detail, len(bytes(raw)), truncated)
        for source, origin, detail, raw, truncated in db.query(
            "SELECT source, origin, detail, raw, raw_truncated FROM dead_letters"
        )
    }
    assert rows == {
        "surrogate.json": ("publisher", "half a pair: \ufffd", 0, False),
        "nul.json": ("pub\ufffdlisher", "d", 0, False),
        "big.json": ("publisher", "d", MAX_DEAD_LETTER_RAW_BYTES, True),
    }
