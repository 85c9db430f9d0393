"""Whatever another producer writes to either topic, the ingestor stays up, dead-letters each
message once by its Kafka coordinates and goes on storing the good ones after them."""

from __future__ import annotations

import json

from kafka.admin import ConfigResource, ConfigResourceType

from devstack.testing import wait_for
from streamsuite_common.kafka import connect_admin, connect_producer
from streamsuite_ingestor.routes import all_routes, parse_routes

from .conftest import running

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
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
BIG = 3 * 1024 * 1024


class RawHeaderKey(str):
    """A header key that goes on the wire as bytes that are not UTF-8, as a foreign
    producer's can (kafka-python itself only writes str keys, encoded)."""

    def encode(self, *args, **kwargs) -> bytes:
        return b"\xff\xfeheader"


def _event(**fields) -> bytes:
    base = {"origin": "publisher", "stage": "parse", "reason": "r", "detail": "d"}
    return json.dumps({**base, **fields}).encode()


def _allow_big_messages(kafka_settings, *topics: str) -> None:
    admin = connect_admin(kafka_settings)
    try:
        admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC, t, configs={"max.message.bytes": "8388608"}
                )
                for t in topics
            ]
        )
    finally:
        admin.close()


def test_hostile_messages_on_both_topics_become_dead_letters_and_the_stream_goes_on(
    kafka_settings, topics, make_config, db
):
    records, dlq = topics
    _allow_big_messages(kafka_settings, records, dlq)
    nested = b"[" * 100_000 + b"]" * 100_000
    hostile = [
        (records, b'{"ok": true}', [(RawHeaderKey("x"), b"v")]),
        (records, None, []),  # a tombstone
        (records, nested, []),
        (records, b'{"sensor": "s", "celsius": 1' + b"0" * 400 + b"}", []),
        (records, b'{"big": "' + b"x" * BIG + b'"}', []),
        (records, b"\xff\xfe not utf-8", []),
        (dlq, _event(raw_base64=5), []),
        (dlq, _event(doc_index="seven", kafka={"topic": 1}), []),
        (dlq, nested, []),
        (dlq, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, []),
        (dlq, None, []),
        (dlq, b"y" * BIG, []),
        (dlq, _event(), [(RawHeaderKey("x"), b"v")]),
        (records, b'{"after": "a header key that is not UTF-8"}', [(RawHeaderKey("y"), b"")]),
    ]
    producer = connect_producer(kafka_settings, max_request_size=8 * 1024 * 1024)
    written = []
    try:
        for topic, value, headers in hostile:
            future = producer.send(topic, key=b"k", value=value, headers=headers, partition=0)
            meta = future.get(timeout=60)
            written.append((topic, meta.partition, meta.offset))
        good = producer.send(records, value=b'{"name": "After", "age": 7}', partition=0)
        good.get(timeout=60)
    finally:
        producer.close()

    cfg = make_config(max_document_bytes=MAX_DOCUMENT_BYTES)
    with running(cfg, routes=ROUTES) as ingestor:
        wait_for(
            lambda: db.query("SELECT name FROM records") == [("After",)],
            timeout_s=90,
            what="the good message after the hostile ones",
        )
        wait_for(
            lambda: db.count("dead_letters") >= len(hostile),
            timeout_s=60,
            what=f"{len(hostile)} dead letters",
        )
        assert ingestor.consumer is not None

    letters = db.query(
        "SELECT reason, kafka_topic, kafka_partition, kafka_offset, dlq_topic, dlq_partition,"
        " dlq_offset FROM dead_letters"
    )
    assert len(letters) == len(hostile), letters
    by_coordinates = {(t, p, o): reason for reason, t, p, o, *_ in letters if t is not None}
    as_events = {(t, p, o): reason for reason, _, _, _, t, p, o in letters}
    for (topic, partition, offset), (_, _value, headers) in zip(written, hostile, strict=True):
        where = (topic, partition, offset)
        if headers:
            assert by_coordinates.get(where) == "unreadable-message", (where, letters)
        elif topic == records:
            assert where in by_coordinates, (where, letters)
        else:
            assert as_events.get(where) == "invalid-dead-letter-event", (where, letters)
    assert db.count() == 1
