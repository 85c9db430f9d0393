"""A Kafka outage while the publisher runs: readiness 503, files held and retried, none lost.

Uses a broker of its own (same code as the local stack, other ports) so that stopping it does
not disturb the shared one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kafka import KafkaConsumer, TopicPartition

from devstack.kafka import KafkaBroker
from devstack.settings import StackSettings
from devstack.testing import free_port, http_status, wait_for
from streamsuite_common.config import KafkaSettings
from streamsuite_common.kafka import client_options


def _committed_keys(kafka: KafkaSettings, topic: str) -> list[str]:
    consumer = KafkaConsumer(
        **client_options(kafka, client_id="outage-reader"), isolation_level="read_committed"
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        keys: list[str] = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=500).values():
                keys += [record.key.decode() for record in records]
        return keys
    finally:
        consumer.close()


@pytest.fixture
def own_broker(tmp_path_factory):
    settings = dataclasses.replace(
        StackSettings.from_env(),
        var=Path(tmp_path_factory.mktemp("broker")),
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        partitions=1,
    )
    broker = KafkaBroker(settings)
    broker.start()
    broker.wait_ready()
    yield broker
    broker.stop()


def test_broker_outage_holds_files_turns_readiness_503_and_loses_nothing(own_broker, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    kafka = KafkaSettings(bootstrap_servers=(own_broker.settings.bootstrap,))
    port = free_port()
    config = tmp_path / "publisher.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "KAFKA": {"BOOTSTRAP_SERVERS": own_broker.settings.bootstrap},
                "HTTP": {"HOST": "127.0.0.1", "PORT": port},
                "LOG": {"FORMAT": "json"},
                "PUBLISHER": {"STABLE_S": 0.2, "RESCAN_S": 0.5},
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "streamsuite_publisher", "--cfg", str(config), "--dir", str(inbox)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    readyz = f"http://127.0.0.1:{port}/readyz"
    try:
        wait_for(lambda: http_status(readyz) == 200, what="publisher ready")
        (inbox / "before.json").write_text('{"when": "before"}')
        wait_for(
            lambda: (inbox / "processed" / "before.json").is_file(), what="first file published"
        )

        own_broker.stop()
        wait_for(lambda: http_status(readyz) == 503, what="readiness 503 during the outage")
        # Renamed in, so each is complete at once and claimed even while the batch of an
        # earlier one is held by the outage (the read-ahead takes arrivals during a publish).
        # Written in place, a file that became ready after the first claim waited for a scan
        # the held publish never let come: the test then timed out (a fresh-clone make test).
        staging = tmp_path / "staging"
        staging.mkdir()
        for n in range(3):
            (staging / f"during-{n}.json").write_text(json.dumps({"n": n}))
            os.rename(staging / f"during-{n}.json", inbox / f"during-{n}.json")
        # The files are claimed and held, never moved to processed/ or error/ while Kafka is away.
        # The loop may first sit out one Kafka call that waits for the broker (up to 60 s).
        wait_for(lambda: not list(inbox.glob("during-*.json")), timeout_s=150, what="files claimed")
        assert not list((inbox / "processed").glob("during-*"))
        assert not list((inbox / "error").glob("during-*"))
        assert process.poll() is None, "the publisher must not exit during an outage"
        assert http_status(f"http://127.0.0.1:{port}/healthz") == 200

        own_broker.start()
        own_broker.wait_ready()
        wait_for(lambda: http_status(readyz) == 200, what="readiness back to 200")
        wait_for(
            lambda: len(list((inbox / "processed").glob("during-*.json"))) == 3,
            what="held files published after the outage",
            timeout_s=180,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    assert code == 0
    keys = _committed_keys(kafka, "records")
    assert sorted(set(keys)) == ["before.json", "during-0.json", "during-1.json", "during-2.json"]
