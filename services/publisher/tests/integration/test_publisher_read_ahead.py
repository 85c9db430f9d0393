"""The publisher reads its next files while a transaction is open (issue 15), against the real
broker: order and contents unchanged, every file exactly once, also when it is killed while
the next batch is claimed and unsent (issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from itertools import chain

import yaml

from devstack.testing import wait_for
from streamsuite_common.config import load_config
from streamsuite_common.publishing.messages import OutMessage
from streamsuite_common.publishing.producer import TransactionalPublisher
from streamsuite_common.shutdown import Shutdown
from streamsuite_publisher.config import DEFAULTS, PublisherConfig
from streamsuite_publisher.service import PublisherService
from streamsuite_publisher.spool import Spool

from .test_publisher_kafka import (
    config_tree,
    files_under,
    identities,
    read_topic,
    start_process,
)

FILES, DOCS = 10, 3


class WaitsForReadAhead(TransactionalPublisher):
    """A real transactional publisher that, once its first transaction has its first
    message, waits until files of the next batch are claimed: only a publisher that reads
    ahead while a transaction is open gets past this."""

    def __init__(self, *args, claimed, **kwargs):
        super().__init__(*args, **kwargs)
        self._claimed = claimed
        self.waited = False

    def publish(self, messages: Iterable[OutMessage]) -> None:
        if not self.waited:
            it = iter(messages)
            first = next(it)
            wait_for(lambda: self._claimed() > 5, timeout_s=30,
                     what="the next batch's files claimed while a transaction is open")  # fmt: skip
            self.waited = True
            messages = chain([first], it)
        super().publish(messages)


def test_next_files_are_read_while_a_transaction_is_open_and_order_is_kept(
    kafka_settings, make_topic, tmp_path
):
    topic, dlq = make_topic("records", partitions=1), make_topic("dlq")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(FILES):
        lines = "\n".join(json.dumps({"file": n, "line": i}) for i in range(DOCS))
        (inbox / f"f-{n:02d}.jsonl").write_text(lines)
    tree = config_tree(kafka_settings, topic, dlq, BATCH_FILES=5, STABLE_S=0)
    cfg = load_config(
        PublisherConfig, {**tree, "PUBLISHER": {**tree["PUBLISHER"], "INBOX": str(inbox)}}, {},
        DEFAULTS,
    )  # fmt: skip
    shutdown = Shutdown()
    spool = Spool(inbox)
    publisher = WaitsForReadAhead(
        cfg.kafka, f"test-{spool.owner}", shutdown.event,
        claimed=lambda: len(files_under(inbox / "processing", ".jsonl"))
        + len(files_under(inbox / "processed", ".jsonl")),
    )  # fmt: skip
    try:
        PublisherService(cfg, spool, publisher, shutdown).run(once=True)
    finally:
        publisher.close()
        spool.close()
    assert publisher.waited
    assert len(files_under(inbox / "processed", ".jsonl")) == FILES
    assert files_under(inbox / "processing", ".jsonl") == []

    # One partition: offsets are the order of publishing. Each file's documents in order and
    # together, the files in the order they were claimed (their names), each exactly once.
    found = [
        (source, index) for source, _sha, index in identities(read_topic(kafka_settings, topic))
    ]
    assert found == [(f"f-{n:02d}.jsonl", i) for n in range(FILES) for i in range(DOCS)]


# The real publisher process, held at a known moment by a hook of this test (nothing in the
# product): its first transaction open in Kafka with one record written, while the read-ahead
# thread claims the next batch. Killed there, it leaves both batches claimed and unsent.
HELD_PUBLISHER = """
import sys, threading
from pathlib import Path
from streamsuite_common.publishing.producer import TransactionalPublisher
from streamsuite_publisher.cli import main

publish = TransactionalPublisher.publish

def held(self, messages):
    def first_then_hold():
        for message in messages:
            yield message
            self._producer.flush()  # in the log, its transaction open
            Path(sys.argv[1]).touch()
            threading.Event().wait()  # until the test kills this process

    publish(self, first_then_hold())

TransactionalPublisher.publish = held
sys.exit(main(sys.argv[2:]))
"""


def test_a_kill_while_the_next_batch_is_claimed_and_unsent_publishes_every_file_once(
    kafka_settings, make_topic, tmp_path
):
    topic, dlq = make_topic("records", partitions=1), make_topic("dlq")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    count, batch = 20, 5
    for n in range(count):
        (inbox / f"f-{n:02d}.json").write_text(json.dumps({"n": n}))
    tree = config_tree(kafka_settings, topic, dlq, BATCH_FILES=batch, STABLE_S=0)
    config = tmp_path / "publisher.yaml"
    config.write_text(yaml.safe_dump(tree))
    marker = tmp_path / "held"
    process = subprocess.Popen(
        [sys.executable, "-c", HELD_PUBLISHER, str(marker), "--cfg", str(config),
         "--dir", str(inbox)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("STREAMSUITE_")},
    )  # fmt: skip

    def held_with_the_next_batch_claimed() -> bool:
        assert process.poll() is None, process.stderr.read().decode()
        claimed = files_under(inbox / "processing", ".json")
        return marker.exists() and len(claimed) >= 2 * batch

    try:
        wait_for(held_with_the_next_batch_claimed, timeout_s=120,
                 what="the first batch open in Kafka and the next one claimed, unsent")  # fmt: skip
    finally:
        process.kill()
        process.wait(30)
    assert len(files_under(inbox / "processing", ".json")) >= 2 * batch
    assert files_under(inbox / "processed") == []

    restarted = start_process(tree, inbox, tmp_path, "--once")
    assert restarted.wait(180) == 0, restarted.stderr.read().decode()

    # Every claim recovered and every file published once: the killed transaction was
    # aborted (the restart took its transactional id), nothing of it visible.
    assert len(files_under(inbox / "processed", ".json")) == count
    assert files_under(inbox / "processing", ".json") == []
    found = [source for source, _sha, _index in identities(read_topic(kafka_settings, topic))]
    assert sorted(found) == [f"f-{n:02d}.json" for n in range(count)]
    assert read_topic(kafka_settings, dlq) == []
