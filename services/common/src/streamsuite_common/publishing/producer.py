"""Publishing a batch of messages in one Kafka transaction, delivery confirmed before it counts."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from typing import Any

from kafka import KafkaProducer

from streamsuite_common.config import KafkaSettings
from streamsuite_common.kafka import connect_producer
from streamsuite_common.publishing.messages import OutMessage

# How long the records of one batch may take to be acknowledged before the batch is retried.
FLUSH_TIMEOUT_S = 30
# An open transaction of a crashed publisher holds back read_committed consumers until the
# broker aborts it; keep that short.
TRANSACTION_TIMEOUT_MS = 30_000


# Record batches fill up while a transaction is open (its files are still being read): the
# commit flushes whatever is left at once, so lingering costs no latency, and fewer, fuller
# requests cost the broker less than one per file.
LINGER_MS = 200
BATCH_SIZE = 256 * 1024


def transactional_options(transactional_id: str) -> dict[str, Any]:
    """The producer settings of a transactional publisher, beside ``producer_options``."""
    return {
        "transactional_id": transactional_id,
        "transaction_timeout_ms": TRANSACTION_TIMEOUT_MS,
        "max_block_ms": FLUSH_TIMEOUT_S * 1000,
        "batch_size": BATCH_SIZE,
        "linger_ms": LINGER_MS,
    }


class TransactionalPublisher:
    """One transactional producer, rebuilt after any failure (a transactional producer in an
    error state cannot be reused)."""

    def __init__(self, settings: KafkaSettings, transactional_id: str, stop: threading.Event):
        self._settings = settings
        self._transactional_id = transactional_id
        self._stop = stop
        self._producer: KafkaProducer | None = None

    def connect(self) -> None:
        if self._producer is None:
            producer = connect_producer(
                self._settings,
                stop=self._stop,
                **transactional_options(self._transactional_id),
            )
            try:
                producer.init_transactions()
            except Exception:
                producer.close(timeout=5)
                raise
            self._producer = producer

    def publish(self, messages: Iterable[OutMessage]) -> None:
        """All of ``messages`` committed, or an exception and none of them visible. They are
        sent as the iterable yields them (the publisher's batch may still be being read)."""
        self.connect()
        producer = self._producer
        assert producer is not None
        try:
            producer.begin_transaction()
            futures = [
                producer.send(m.topic, key=m.key, value=m.value, headers=m.headers)
                for m in messages
            ]
            producer.flush(timeout=FLUSH_TIMEOUT_S)
            for future in futures:
                if future.failed():
                    raise future.exception
            producer.commit_transaction()
        except BaseException:
            self.reset()
            raise

    def reset(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):  # it is broken already; closing is best effort
                self._producer.close(timeout=5)
            self._producer = None

    def close(self) -> None:
        self.reset()
