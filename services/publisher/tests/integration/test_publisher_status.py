"""The publisher's status reports on the real Kafka: keyed by its instance, carrying its inbox
backlog, a tombstone when it stops; and a status topic it cannot write never holds up
publishing (counted as failed reports, nothing more)."""

from __future__ import annotations

import json
import re
import signal

from kafka import KafkaConsumer, TopicPartition

from devstack.kafka import ensure_status_topic
from devstack.testing import free_port, http_get, wait_for
from streamsuite_common.kafka import client_options, connect_admin

from .test_publisher_kafka import config_tree, start_process


def status_events(kafka_settings, topic: str) -> list[tuple[str, dict | None]]:
    """Every (key, value) on the status topic so far, in order; value None for a tombstone."""
    consumer = KafkaConsumer(**client_options(kafka_settings, client_id="status-test"))
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        events = []
        while consumer.position(tp) < end:
            for records in consumer.poll(timeout_ms=500).values():
                events += [(r.key.decode(), r.value and json.loads(r.value)) for r in records]
        return events
    finally:
        consumer.close()


def reports_counted(port: int, outcome: str) -> float:
    _, _, text = http_get(f"http://127.0.0.1:{port}/metrics")
    found = re.search(
        rf'^streamsuite_publisher_status_reports_total{{outcome="{outcome}"}} (\S+)$', text, re.M
    )
    return float(found.group(1)) if found else 0.0


def test_reports_carry_the_backlog_and_a_stop_leaves_a_tombstone(
    kafka_settings, make_topic, tmp_path
):
    topic, dlq = make_topic("records"), make_topic("dlq")
    status_topic = f"{topic}.status"
    admin = connect_admin(kafka_settings)
    ensure_status_topic(admin, status_topic)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "waiting.json").write_text('{"n": 1}')
    tree = config_tree(kafka_settings, topic, dlq, STABLE_S=3600)  # it waits: a backlog of 1
    try:
        process = start_process(tree, inbox, tmp_path)
        try:
            events = wait_for(lambda: status_events(kafka_settings, status_topic),
                              what="a status report")  # fmt: skip
            key, event = events[0]
            assert event is not None
            assert key == event["instance"]
            assert key.startswith("streamsuite-publisher-")
            assert (event["inbox"], event["inbox_files"]) == (str(inbox), 1)
            assert event["oldest_waiting_s"] >= 0
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == 0
        assert status_events(kafka_settings, status_topic)[-1] == (key, None)
    finally:
        admin.delete_topics([status_topic])
        admin.close()


def test_a_missing_status_topic_never_holds_up_publishing(kafka_settings, make_topic, tmp_path):
    topic, dlq = make_topic("records"), make_topic("dlq")  # and no <topic>.status
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    port = free_port()
    tree = config_tree(kafka_settings, topic, dlq)
    tree["HTTP"]["PORT"] = port
    process = start_process(tree, inbox, tmp_path)
    try:
        wait_for(lambda: reports_counted(port, "failed") >= 1, what="a failed status report")
        (inbox / "one.json").write_text('{"n": 1}')
        wait_for(lambda: list((inbox / "processed").rglob("one.json")), what="one.json published")
        assert reports_counted(port, "sent") == 0
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
