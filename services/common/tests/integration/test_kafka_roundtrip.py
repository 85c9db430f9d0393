"""The Kafka helpers against the real broker: durable producer, read_committed consumer."""

from __future__ import annotations

import time

from kafka import KafkaConsumer

from streamsuite_common.kafka import connect_consumer, connect_producer


def _drain(consumer: KafkaConsumer, expected: int, timeout_s: float = 30) -> list:
    """Poll until ``expected`` records arrived or the timeout passed; return what came."""
    records: list = []
    deadline = time.monotonic() + timeout_s
    while len(records) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return records


def test_produced_message_is_consumed_with_key_and_headers(kafka_settings, make_topic):
    topic = make_topic("roundtrip")
    producer = connect_producer(kafka_settings)
    headers = [("source", b"people/ada.json"), ("doc-index", b"0")]
    producer.send(topic, key=b"people/ada.json", value=b'{"name":"Ada"}', headers=headers)
    producer.flush(timeout=30)
    producer.close()

    consumer = connect_consumer(kafka_settings, topic, group_id=f"{topic}-group")
    try:
        records = _drain(consumer, 1)
    finally:
        consumer.close()

    assert [(r.key, r.value, r.headers) for r in records] == [
        (b"people/ada.json", b'{"name":"Ada"}', headers)
    ]


def test_read_committed_consumer_never_sees_an_aborted_transaction(kafka_settings, make_topic):
    topic = make_topic("tx")
    producer = connect_producer(kafka_settings, transactional_id=f"{topic}-tx")
    producer.init_transactions()
    producer.begin_transaction()
    producer.send(topic, value=b"aborted")
    producer.abort_transaction()
    producer.begin_transaction()
    producer.send(topic, value=b"committed-1")
    producer.send(topic, value=b"committed-2")
    producer.commit_transaction()
    producer.close()

    consumer = connect_consumer(kafka_settings, topic, group_id=f"{topic}-group")
    try:
        records = _drain(consumer, 2)
        # Anything still in flight after the committed pair would show up here.
        records += _drain(consumer, 1, timeout_s=2)
    finally:
        consumer.close()

    assert [r.value for r in records] == [b"committed-1", b"committed-2"]


def test_consumer_group_resumes_after_committed_offset(kafka_settings, make_topic):
    topic = make_topic("resume")
    group = f"{topic}-group"
    producer = connect_producer(kafka_settings)
    for n in range(3):
        producer.send(topic, value=f"m{n}".encode())
    producer.flush(timeout=30)

    first = connect_consumer(kafka_settings, topic, group_id=group)
    assert [r.value for r in _drain(first, 3)] == [b"m0", b"m1", b"m2"]
    first.commit()
    first.close()

    producer.send(topic, value=b"m3")
    producer.flush(timeout=30)
    producer.close()
    second = connect_consumer(kafka_settings, topic, group_id=group)
    try:
        assert [r.value for r in _drain(second, 1)] == [b"m3"]
    finally:
        second.close()
