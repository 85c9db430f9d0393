"""Before it joins its group, the ingestor waits for its topics' partitions (a Kafka client
stood in): it asks again until every topic has some, keeps its liveness heartbeat fresh while it
waits, survives the client's errors, and a stop ends the wait."""

from __future__ import annotations

import threading

from kafka.errors import KafkaTimeoutError
from prometheus_client import CollectorRegistry

from streamsuite_ingestor import service
from streamsuite_ingestor.config import load_tree
from streamsuite_ingestor.metrics import Metrics
from streamsuite_ingestor.service import Ingestor


class Consumer:
    """partitions_for_topic answers from ``answers`` (a set, or an exception), in turn."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.asked: list[str] = []

    def partitions_for_topic(self, topic):
        self.asked.append(topic)
        answer = self.answers.pop(0) if self.answers else {0}
        if isinstance(answer, Exception):
            raise answer
        return answer


def ingestor(answers) -> tuple[Ingestor, Consumer]:
    tree = {
        "KAFKA": {"BOOTSTRAP_SERVERS": "127.0.0.1:1", "TOPIC": "records"},
        "DATABASE": {"HOST": "127.0.0.1", "DBNAME": "d", "DBUSER": "u"},
    }
    cfg = load_tree(tree, {})
    made = Ingestor(cfg, [], Metrics(CollectorRegistry()), stop=threading.Event())
    made.consumer = consumer = Consumer(answers)  # type: ignore[assignment]
    return made, consumer


def test_it_asks_until_every_topic_has_partitions_keeping_its_heartbeat(monkeypatch):
    made, consumer = ingestor([set(), {0}, KafkaTimeoutError(), {0, 1, 2}, {0}])
    beats: list[float] = []
    monkeypatch.setattr(service, "_TOPIC_WAIT_S", 0)
    original = made.stop.wait

    def wait(timeout=None):
        beats.append(made.heartbeat)
        return original(0)

    monkeypatch.setattr(made.stop, "wait", wait)
    made.heartbeat = 0.0
    made._await_partitions(["records", "records.dlq"])
    # Round 1: records has none; round 2: the client failed; round 3: both have some.
    assert consumer.asked == ["records", "records.dlq", "records", "records", "records.dlq"]
    assert len(beats) == 2
    assert all(beat > 0.0 for beat in beats)  # fresh at every turn of the wait


def test_a_stop_ends_the_wait():
    made, consumer = ingestor([set()] * 1000)
    made.stop.set()
    made._await_partitions(["records"])
    assert consumer.asked == []
