"""Batches the broker cannot take as one transaction (issue 14), against the real broker: a
transaction that outlives its timeout, a record the broker refuses. The batch is split down to
the file at fault, which is refused with a dead letter (sent like any batch, so a failure of its
own send does not lose it); the rest is published and the publisher moves on, never retrying
the same transaction forever."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from devstack.pytest_plugin import unique
from devstack.testing import wait_for
from streamsuite_common.config import KafkaSettings, load_config
from streamsuite_common.contract import DeadLetter
from streamsuite_common.kafka import client_options, connect_admin
from streamsuite_common.publishing.messages import OutMessage
from streamsuite_common.publishing.producer import TransactionalPublisher
from streamsuite_common.shutdown import Shutdown
from streamsuite_publisher.config import DEFAULTS, PublisherConfig
from streamsuite_publisher.service import PublisherService
from streamsuite_publisher.spool import Spool

from .test_publisher_kafka import config_tree, files_under, read_topic

TIMEOUT_S = 5  # the publisher's transaction timeout here: far more than one small file takes


def wait_until_the_broker_aborts(kafka: KafkaSettings, topic: str) -> None:
    """Until the broker has aborted the open transaction on ``topic`` (one partition): its
    last stable offset stays at the transaction's first record while it is open, and passes
    every record written so far only once the abort marker is written. The broker looks for
    timed-out transactions every 10 s."""
    tp = TopicPartition(topic, 0)
    uncommitted = KafkaConsumer(**client_options(kafka, client_id="tx-watch"))
    committed = KafkaConsumer(
        **client_options(kafka, client_id="tx-watch"), isolation_level="read_committed"
    )
    try:
        written = uncommitted.end_offsets([tp])[tp]  # the open transaction's records included
        wait_for(lambda: committed.end_offsets([tp])[tp] >= written,
                 what="the broker aborting the transaction that outlived its timeout",
                 timeout_s=TIMEOUT_S + 60, interval_s=0.5)  # fmt: skip
    finally:
        uncommitted.close()
        committed.close()


class OutlivesItsTimeout(TransactionalPublisher):
    """A real transactional publisher whose transactions that carry ``slow`` stall, once that
    file's first record is in the log, until the broker has aborted them for outliving the
    transaction timeout: what a file too large for a slow broker does, at a known moment."""

    def __init__(self, *args, kafka: KafkaSettings, topic: str, slow: bytes, **kwargs):
        super().__init__(*args, **kwargs)
        self._kafka, self._topic, self._slow = kafka, topic, slow
        self.stalled = 0

    def publish(self, messages: Iterable[OutMessage]) -> None:
        def stalling() -> Iterator[OutMessage]:
            stalled = False
            for message in messages:
                yield message
                if (message.topic, message.key) == (self._topic, self._slow) and not stalled:
                    stalled = True
                    self.stalled += 1
                    assert self._producer is not None
                    self._producer.flush()  # in the log, its transaction open
                    wait_until_the_broker_aborts(self._kafka, self._topic)

        super().publish(stalling())


def _service(tree: dict, inbox: Path, publisher_factory) -> tuple[PublisherService, Shutdown]:
    tree = {**tree, "PUBLISHER": {**tree["PUBLISHER"], "INBOX": str(inbox)}}
    cfg = load_config(PublisherConfig, tree, {}, DEFAULTS)
    shutdown = Shutdown()
    spool = Spool(inbox)
    publisher = publisher_factory(cfg, f"test-{spool.owner}", shutdown)
    return PublisherService(cfg, spool, publisher, shutdown), shutdown


def _run_until_the_inbox_is_empty(service: PublisherService, shutdown: Shutdown, what: str):
    """``run(once=True)`` in a thread: a publisher that retries forever fails the wait instead
    of hanging the test."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            service.run(once=True)
        except BaseException as exc:  # the test asserts there is none
            errors.append(exc)
        finally:
            service.publisher.close()
            service.spool.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        wait_for(lambda: not thread.is_alive(), what=what, timeout_s=240, interval_s=0.5)
    finally:
        shutdown.request()
        thread.join(120)
    assert errors == []


def test_a_file_whose_transaction_outlives_the_timeout_is_split_out_and_refused(
    kafka_settings, make_topic, tmp_path
):
    topic, dlq = make_topic("records", partitions=1), make_topic("dlq")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.json").write_text('{"n": 1}')
    (inbox / "b.json").write_text('{"n": 2}')
    (inbox / "slow.jsonl").write_text("".join(json.dumps({"i": i}) + "\n" for i in range(20)))
    tree = config_tree(kafka_settings, topic, dlq, STABLE_S=0, TRANSACTION_TIMEOUT_S=TIMEOUT_S)
    service, shutdown = _service(
        tree, inbox,
        lambda cfg, txid, shutdown: OutlivesItsTimeout(
            cfg.kafka, txid, shutdown.event, transaction_timeout_s=TIMEOUT_S,
            kafka=kafka_settings, topic=topic, slow=b"slow.jsonl",
        ),
    )  # fmt: skip

    _run_until_the_inbox_is_empty(service, shutdown, "the publisher done with every file")

    # The three files' transaction, then the slow file alone, twice; then it is refused.
    assert service.publisher.stalled == 3
    assert sorted(m.key for m in read_topic(kafka_settings, topic)) == ["a.json", "b.json"]
    assert sorted(p.name for p in files_under(inbox / "processed")) == ["a.json", "b.json"]
    [message] = read_topic(kafka_settings, dlq)
    letter = DeadLetter.from_message(message.value)
    assert (letter.source, letter.reason, letter.stage) == (
        "slow.jsonl", "transaction-timeout", "publish"
    )  # fmt: skip
    assert "PUBLISHER.TRANSACTION_TIMEOUT_S" in letter.detail
    assert (inbox / "error" / "slow.jsonl").is_file()
    report = json.loads((inbox / "error" / "slow.jsonl.error.json").read_text())
    assert report["reason"] == "transaction-timeout"
    assert files_under(inbox / "processing", ".jsonl") == []


@pytest.fixture
def small_message_topic(kafka_settings) -> Iterator[str]:
    """A records topic that takes messages up to 4 KiB, created so (no change in flight)."""
    name = unique("records").replace("_", ".")
    admin = connect_admin(kafka_settings)
    try:
        admin.create_topics([NewTopic(name, 1, 1, topic_configs={"max.message.bytes": "4096"})])
        yield name
        admin.delete_topics([name])
    finally:
        admin.close()


def _noise() -> str:
    """Random text: compression cannot shrink it under the topic's limit."""
    return base64.b64encode(os.urandom(12_000)).decode()


def test_a_record_the_broker_refuses_costs_only_its_own_file(
    kafka_settings, make_topic, small_message_topic, tmp_path
):
    topic, dlq = small_message_topic, make_topic("dlq")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("a", "b", "c", "d"):
        (inbox / f"{name}.json").write_text(json.dumps({"name": name}))
    (inbox / "big.json").write_text(json.dumps({"noise": _noise()}))
    tree = config_tree(kafka_settings, topic, dlq, STABLE_S=0)
    service, shutdown = _service(
        tree, inbox,
        lambda cfg, txid, shutdown: TransactionalPublisher(cfg.kafka, txid, shutdown.event),
    )  # fmt: skip

    _run_until_the_inbox_is_empty(service, shutdown, "the publisher done with every file")

    assert sorted(m.key for m in read_topic(kafka_settings, topic)) == [
        "a.json", "b.json", "c.json", "d.json"
    ]  # fmt: skip
    [message] = read_topic(kafka_settings, dlq)
    letter = DeadLetter.from_message(message.value)
    assert (letter.source, letter.reason) == ("big.json", "kafka-rejected")
    assert (inbox / "error" / "big.json").is_file()


class FencedBeforeItsDeadLetter(TransactionalPublisher):
    """A real transactional publisher fenced once, just before it sends a refused file's dead
    letter, by another producer taking its transactional id (a zombie's successor): a real
    failure of the dead letter's own transaction."""

    def __init__(self, *args, kafka: KafkaSettings, dlq: str, **kwargs):
        super().__init__(*args, **kwargs)
        self._kafka, self._dlq = kafka, dlq
        self.fenced = False

    def publish(self, messages: Iterable[OutMessage]) -> None:
        messages = list(messages)
        if not self.fenced and all(m.topic == self._dlq for m in messages):
            self.fenced = True
            self.connect()
            rogue = KafkaProducer(
                **client_options(self._kafka, client_id="rogue"),
                transactional_id=self._transactional_id,
            )
            rogue.init_transactions()
            rogue.close()
        super().publish(messages)


def test_the_dead_letter_of_a_refused_file_survives_a_failure_of_its_own_send(
    kafka_settings, make_topic, small_message_topic, tmp_path
):
    """It was sent once, and lost when that failed: the file went to error/ with no event
    downstream."""
    topic, dlq = small_message_topic, make_topic("dlq")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "big.json").write_text(json.dumps({"noise": _noise()}))
    tree = config_tree(kafka_settings, topic, dlq, STABLE_S=0)
    service, shutdown = _service(
        tree, inbox,
        lambda cfg, txid, shutdown: FencedBeforeItsDeadLetter(
            cfg.kafka, txid, shutdown.event, kafka=kafka_settings, dlq=dlq
        ),
    )  # fmt: skip

    _run_until_the_inbox_is_empty(service, shutdown, "the publisher done with the file")

    assert service.publisher.fenced
    [message] = read_topic(kafka_settings, dlq)
    letter = DeadLetter.from_message(message.value)
    assert (letter.source, letter.reason) == ("big.json", "kafka-rejected")
    assert (inbox / "error" / "big.json").is_file()
    assert read_topic(kafka_settings, topic) == []
