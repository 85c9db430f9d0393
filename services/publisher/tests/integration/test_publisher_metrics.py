"""The publisher's progress metrics tell the truth: how many files wait in the inbox and how old
the oldest one is, and when files were last committed to Kafka."""

from __future__ import annotations

import os
import threading
import time

from devstack.testing import wait_for
from streamsuite_common.config import load_config
from streamsuite_common.publishing.producer import TransactionalPublisher
from streamsuite_common.shutdown import Shutdown
from streamsuite_publisher import metrics
from streamsuite_publisher.config import DEFAULTS, PublisherConfig
from streamsuite_publisher.service import PublisherService
from streamsuite_publisher.spool import Spool

from .test_publisher_kafka import config_tree, run_once


def test_the_oldest_waiting_file_keeps_ageing_in_the_metric(kafka_settings, make_topic, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    tree = config_tree(kafka_settings, make_topic("records"), make_topic("dlq"), STABLE_S=3600)
    cfg = load_config(
        PublisherConfig,
        {**tree, "PUBLISHER": {**tree["PUBLISHER"], "INBOX": str(inbox)}},
        {},
        DEFAULTS,
    )
    waiting = inbox / "waiting.json"
    waiting.write_text('{"n": 1}')
    ten_minutes_ago = time.time() - 600
    os.utime(waiting, (ten_minutes_ago, ten_minutes_ago))
    (inbox / "newer.json").write_text('{"n": 2}')
    shutdown = Shutdown()
    spool = Spool(inbox, delete_published=False)
    publisher = TransactionalPublisher(cfg.kafka, f"test-{spool.owner}", shutdown.event)
    service = PublisherService(cfg, spool, publisher, shutdown)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        # Not stable for an hour: both wait, the older since ten minutes.
        wait_for(lambda: metrics.BACKLOG._value.get() == 2, what="two files waiting")
        assert 600 <= _oldest_age() < 660
        waiting.unlink()
        wait_for(lambda: metrics.BACKLOG._value.get() == 1, what="one file waiting")
        assert _oldest_age() < 60
    finally:
        shutdown.request()
        thread.join(30)
        publisher.close()
        spool.close()


def _oldest_age() -> float:
    return metrics.INBOX_OLDEST_AGE.collect()[0].samples[0].value


def test_a_publish_moves_the_last_publish_timestamp(kafka_settings, make_topic, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "one.json").write_text('{"n": 1}')
    started = time.time()
    run_once(config_tree(kafka_settings, make_topic("records"), make_topic("dlq")), inbox)
    assert metrics.LAST_PUBLISH._value.get() >= started
    assert _oldest_age() == 0  # nothing waits any more
