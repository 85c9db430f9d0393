"""A Kafka outage under a running ingestor: readiness 503, nothing committed that was not
stored, and after the broker returns every document is stored exactly once.

The broker is one of the test's own (same code as the local stack, other ports, state in a
temp dir), so stopping it does not disturb the shared one.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from devstack.kafka import KafkaBroker
from devstack.settings import StackSettings
from devstack.testing import free_port, http_status, wait_for

from .conftest import produce, raw_doc


@pytest.fixture
def own_broker():
    var = Path(tempfile.mkdtemp(prefix="ingestor-kafka-"))
    settings = dataclasses.replace(
        StackSettings.from_env(),
        var=var,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        partitions=3,
    )
    broker = KafkaBroker(settings)
    try:
        broker.start()
        broker.wait_ready()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(var, ignore_errors=True)


def test_kafka_outage_mid_stream_loses_and_duplicates_nothing(
    own_broker, make_config, processes, db
):
    port = free_port()
    base = make_config()
    kafka = dataclasses.replace(
        base.kafka,
        bootstrap_servers=(own_broker.settings.bootstrap,),
        topic=own_broker.settings.topic,
        dlq_topic=own_broker.settings.dlq_topic,
    )
    cfg = dataclasses.replace(base, kafka=kafka, http=dataclasses.replace(base.http, port=port))
    docs = [raw_doc(f"outage/{n:04d}.json", json.dumps({"n": n}).encode()) for n in range(1_000)]
    ready = f"http://127.0.0.1:{port}/readyz"

    process = processes(cfg)
    produce(kafka, kafka.topic, docs[:500])
    wait_for(lambda: db.count() == 500, timeout_s=90, what=f"first half: {process.tail()}")
    wait_for(lambda: http_status(ready) == 200, what="ready before the outage")

    own_broker.stop()
    wait_for(lambda: http_status(ready) == 503, what="readiness 503 while Kafka is down")
    assert http_status(f"http://127.0.0.1:{port}/healthz") == 200
    assert process.proc is not None
    assert process.proc.poll() is None, f"the ingestor exited: {process.tail()}"

    own_broker.start()
    own_broker.wait_ready()
    wait_for(lambda: http_status(ready) == 200, timeout_s=120, what="ready after the outage")
    produce(kafka, kafka.topic, docs[500:])
    wait_for(lambda: db.count() == 1_000, timeout_s=120, what=f"second half: {process.tail()}")

    assert db.query("SELECT count(DISTINCT source) FROM records") == [(1_000,)]
    assert db.count("dead_letters") == 0
    assert process.terminate() == 0, process.tail()
