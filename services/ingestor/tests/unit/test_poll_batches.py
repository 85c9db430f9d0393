"""How ``_poll`` makes a batch (pure bookkeeping around the Kafka client, a stand-in here): one
poll that may wait, then what the client already holds, up to the batch's count and bytes; a
batch over its bytes is cut and the rest sought back to; messages polled before a failing poll
come with the error; a stop ends the buffered polls; a batch in flight shortens the wait."""

from __future__ import annotations

import threading

import pytest
from kafka import TopicPartition
from kafka.errors import CorruptRecordError
from prometheus_client import CollectorRegistry

from streamsuite_ingestor.config import load_tree
from streamsuite_ingestor.metrics import Metrics
from streamsuite_ingestor.service import Ingestor

TP = TopicPartition("records", 0)


class Record:
    topic, partition, key, headers = "records", 0, None, []

    def __init__(self, offset: int, size: int = 100):
        self.offset, self.value = offset, b"x" * size


class Consumer:
    """Answers each poll() with the next of ``answers`` (a list of records, or an exception),
    then with nothing; notes the polls' arguments and the seeks."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.polls: list[tuple[int, int]] = []
        self.sought: list[tuple[TopicPartition, int]] = []

    def poll(self, timeout_ms: int = 0, max_records: int | None = None):
        self.polls.append((timeout_ms, max_records))
        answer = self.answers.pop(0) if self.answers else []
        if isinstance(answer, Exception):
            raise answer
        return {TP: answer} if answer else {}

    def assignment(self):
        return {TP}

    def seek(self, tp, offset):
        self.sought.append((tp, offset))


def ingestor(answers, **settings) -> tuple[Ingestor, Consumer]:
    cfg = load_tree(
        {
            "KAFKA": {"BOOTSTRAP_SERVERS": "127.0.0.1:1", "TOPIC": "records"},
            "DATABASE": {"HOST": "127.0.0.1", "DBNAME": "d", "DBUSER": "u"},
            "INGESTOR": {"BATCH_SIZE": 500, "BATCH_TIMEOUT_MS": 500, **settings},
        },
        {},
    )
    made = Ingestor(cfg, [], Metrics(CollectorRegistry()), stop=threading.Event())
    made.consumer = consumer = Consumer(answers)  # type: ignore[assignment]
    return made, consumer


def offsets(records) -> list[int]:
    return [r.offset for r in records]


def test_what_the_client_holds_joins_the_batch_up_to_its_count():
    made, consumer = ingestor([[Record(0), Record(1)], [Record(2)], [Record(3), Record(4)]],
                              BATCH_SIZE=4)  # fmt: skip
    records, error, epoch = made._poll()
    assert (offsets(records), error, epoch) == ([0, 1, 2, 3, 4], None, 0)
    # Waits once, then only asks for what is there, never more than the count left.
    assert consumer.polls == [(500, 4), (0, 2), (0, 1)]


def test_an_empty_poll_ends_the_batch():
    made, consumer = ingestor([[Record(0)], [], [Record(1)]])
    assert offsets(made._poll()[0]) == [0]
    assert len(consumer.polls) == 2


def test_nothing_polled_is_an_empty_batch_after_one_wait():
    made, consumer = ingestor([])
    assert made._poll() == ([], None, 0)
    assert consumer.polls == [(500, 500)]


def test_a_batch_over_its_bytes_is_cut_and_the_rest_sought_back_to():
    big = [Record(n, size=600) for n in range(3)]
    made, consumer = ingestor([big[:2], big[2:]], MAX_BATCH_BYTES=1024)
    records, error, _ = made._poll()
    assert (offsets(records), error) == ([0], None)
    assert consumer.polls == [(500, 500)]  # 1,200 bytes polled: no more asked for
    assert consumer.sought == [(TP, 1)]


def test_messages_polled_before_a_failing_poll_come_with_its_error():
    failure = CorruptRecordError("Found invalid record structure")
    made, _ = ingestor([[Record(0), Record(1)], failure])
    records, error, epoch = made._poll()
    assert (offsets(records), error, epoch) == ([0, 1], failure, 0)


def test_a_failing_first_poll_is_its_error_alone():
    failure = CorruptRecordError("Found invalid record structure")
    made, _ = ingestor([failure])
    assert made._poll() == ([], failure, 0)


def test_a_stop_ends_the_buffered_polls():
    made, consumer = ingestor([[Record(0)], [Record(1)]])
    made.stop.set()
    assert offsets(made._poll()[0]) == [0]
    assert len(consumer.polls) == 1


@pytest.mark.parametrize(("timeout_ms", "expected"), [(500, 50), (20, 20)])
def test_a_batch_in_flight_shortens_the_wait(timeout_ms, expected):
    made, consumer = ingestor([], BATCH_TIMEOUT_MS=timeout_ms)
    made.in_flight = object()  # type: ignore[assignment]
    made._poll()
    assert consumer.polls == [(expected, 500)]
