"""A poll that both saw a rebalance and failed on an unreadable message: the messages it had
are dropped to be read again from the committed offsets, so the failure must be dropped too.
Dead-lettering the unreadable message then would commit past the dropped ones (seen in a
fresh-clone `make test`: six dead-letter events before an unreadable one were never stored).

The Kafka client is a stand-in here: the point is the loop's bookkeeping between poll(), the
rebalance callback and the unreadable-message path, which a real broker times too loosely to
hit on purpose (the integration suite's hostile-message test met it by chance)."""

from __future__ import annotations

import threading

from kafka import TopicPartition
from kafka.errors import CorruptRecordError
from prometheus_client import CollectorRegistry

from streamsuite_ingestor.config import load_tree
from streamsuite_ingestor.metrics import Metrics
from streamsuite_ingestor.service import Ingestor

TP = TopicPartition("records.dlq", 0)


class Record:
    topic, partition, offset, key, value, headers = "records.dlq", 0, 0, b"k", b"{}", []
    serialized_key_size = serialized_value_size = 2


class RebalancingConsumer:
    """The group reassigns during the first poll() (the callback bumps the epoch) and the
    messages it had come back; the next poll(), taking what is buffered, fails on a message
    it cannot read. Both inside one ``_poll``."""

    def __init__(self, ingestor: Ingestor):
        self.ingestor = ingestor
        self.polls = 0
        self.sought: list[tuple[TopicPartition, str]] = []

    def poll(self, timeout_ms: int = 0, max_records: int | None = None):
        self.polls += 1
        if self.polls == 1:
            self.ingestor.new_epoch()
            return {TP: [Record()]}
        raise CorruptRecordError("Found invalid record structure")

    def assignment(self):
        return {TP}

    def committed(self, tp):
        return None

    def seek_to_beginning(self, tp):
        self.sought.append((tp, "beginning"))


def test_a_rebalance_during_a_failing_poll_drops_the_failure_with_the_messages():
    cfg = load_tree(
        {
            "KAFKA": {"BOOTSTRAP_SERVERS": "127.0.0.1:1", "TOPIC": "records",
                      "DLQ_TOPIC": "records.dlq"},
            "DATABASE": {"HOST": "127.0.0.1", "DBNAME": "d", "DBUSER": "u"},
        },
        {},
    )  # fmt: skip
    ingestor = Ingestor(cfg, [], Metrics(CollectorRegistry()), stop=threading.Event())
    consumer = ingestor.consumer = RebalancingConsumer(ingestor)
    records, error, epoch = ingestor._poll()
    assert records == []
    assert consumer.sought == [(TP, "beginning")]  # read again from the committed offset
    assert error is None  # met again after the messages before it, not dead-lettered now
    assert epoch == 1


class FailingAtOnce(RebalancingConsumer):
    """The rebalance and the failure in the very first poll(): no messages came back."""

    def poll(self, timeout_ms: int = 0, max_records: int | None = None):
        self.ingestor.new_epoch()
        raise CorruptRecordError("Found invalid record structure")


def test_a_rebalance_during_a_poll_that_failed_at_once_still_reads_again():
    cfg = load_tree(
        {
            "KAFKA": {"BOOTSTRAP_SERVERS": "127.0.0.1:1", "TOPIC": "records",
                      "DLQ_TOPIC": "records.dlq"},
            "DATABASE": {"HOST": "127.0.0.1", "DBNAME": "d", "DBUSER": "u"},
        },
        {},
    )  # fmt: skip
    ingestor = Ingestor(cfg, [], Metrics(CollectorRegistry()), stop=threading.Event())
    consumer = ingestor.consumer = FailingAtOnce(ingestor)
    assert ingestor._poll() == ([], None, 1)
    # The seek drops what the client kept for the failed partition: polls do not spin on it.
    assert consumer.sought == [(TP, "beginning")]
