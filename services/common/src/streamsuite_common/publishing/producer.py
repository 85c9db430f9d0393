"""Publishing a batch of messages in one Kafka transaction, delivery confirmed before it counts."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from typing import Any

from kafka import KafkaProducer
from kafka.errors import (
    CorruptRecordError,
    InvalidRecordError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)

from streamsuite_common.config import KafkaSettings
from streamsuite_common.kafka import connect_producer
from streamsuite_common.publishing.messages import OutMessage

# How long one call (a send waiting for buffer room or metadata) may block.
MAX_BLOCK_S = 30
# An open transaction of a crashed publisher holds back read_committed consumers until the
# broker aborts it; keep that short. The broker aborts a transaction older than this, so its
# records are waited for no longer either.
TRANSACTION_TIMEOUT_MS = 30_000


# Record batches fill up while a transaction is open (its files are still being read): the
# commit flushes whatever is left at once, so lingering costs no latency, and fewer, fuller
# requests cost the broker less than one per file.
LINGER_MS = 200
BATCH_SIZE = 256 * 1024
# A transaction begun right after the previous commit meets CONCURRENT_TRANSACTIONS while that
# commit's markers are still being written. kafka-python works out the short retry the Java
# client uses for it (20 ms) but its sender sleeps the producer's retry_backoff_ms (100 ms by
# default) instead: most of a publisher transaction's mean time was that sleep.
RETRY_BACKOFF_MS = 20

# The broker's verdicts on the records themselves: no retry changes them.
RECORD_REJECTIONS = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    InvalidRecordError,
    CorruptRecordError,
)


class TransactionTooLong(KafkaError):
    """A transaction that failed once it had run for its whole timeout: more than the broker
    takes in that time. ``acknowledged`` counts its records the broker had accepted by then;
    none means the broker was taking nothing (an outage, not too much data)."""

    retriable = False

    def __init__(self, detail: str, *, acknowledged: int, elapsed_s: float):
        super().__init__(detail)
        self.acknowledged = acknowledged
        self.elapsed_s = elapsed_s


def _settle(future: Any, deadline: float) -> None:
    """Wait for one record's verdict until ``deadline`` (KafkaTimeoutError past it); its
    failure is read from the future afterwards."""
    try:
        future.get(timeout=max(0.0, deadline - time.monotonic()))
    except KafkaTimeoutError:
        raise
    except Exception:  # noqa: S110 - failed: judged with the others by the caller
        pass


def transactional_options(
    transactional_id: str, transaction_timeout_ms: int = TRANSACTION_TIMEOUT_MS
) -> dict[str, Any]:
    """The producer settings of a transactional publisher, beside ``producer_options``."""
    return {
        "transactional_id": transactional_id,
        "transaction_timeout_ms": transaction_timeout_ms,
        "max_block_ms": MAX_BLOCK_S * 1000,
        "batch_size": BATCH_SIZE,
        "linger_ms": LINGER_MS,
        "retry_backoff_ms": RETRY_BACKOFF_MS,
    }


class TransactionalPublisher:
    """One transactional producer, rebuilt after any failure (a transactional producer in an
    error state cannot be reused)."""

    def __init__(
        self,
        settings: KafkaSettings,
        transactional_id: str,
        stop: threading.Event,
        *,
        transaction_timeout_s: float = TRANSACTION_TIMEOUT_MS / 1000,
    ):
        self._settings = settings
        self._transactional_id = transactional_id
        self._stop = stop
        self.transaction_timeout_s = transaction_timeout_s
        self._producer: KafkaProducer | None = None

    def connect(self) -> None:
        if self._producer is None:
            timeout_ms = int(self.transaction_timeout_s * 1000)
            producer = connect_producer(
                self._settings,
                stop=self._stop,
                **transactional_options(self._transactional_id, timeout_ms),
            )
            try:
                producer.init_transactions()
            except Exception:
                producer.close(timeout=5)
                raise
            self._producer = producer

    def publish(self, messages: Iterable[OutMessage]) -> None:
        """All of ``messages`` committed, or an exception and none of them visible. They are
        sent as the iterable yields them. A transaction that fails after running for its whole
        timeout raises ``TransactionTooLong`` (from the broker's error)."""
        self.connect()
        producer = self._producer
        assert producer is not None
        started = time.monotonic()
        deadline = started + self.transaction_timeout_s
        futures = []
        try:
            producer.begin_transaction()
            for m in messages:
                futures.append(producer.send(m.topic, key=m.key, value=m.value, headers=m.headers))
            # Past the deadline the broker aborts the transaction: waiting longer is no use.
            # The flush only sends at once: when the broker refuses a batch as too large,
            # kafka-python splits it and the flush raises UnknownError('Future not done'),
            # which says nothing about the records; each record's own future does.
            with contextlib.suppress(KafkaError):
                producer.flush(timeout=max(0.0, deadline - time.monotonic()))
            for future in futures:
                _settle(future, deadline)
            failed = [future.exception for future in futures if future.failed()]
            if failed:  # the broker's verdict on a record first: the others fail with it
                raise next((e for e in failed if isinstance(e, RECORD_REJECTIONS)), failed[0])
            producer.commit_transaction()
        except BaseException as exc:
            acknowledged = sum(1 for future in futures if future.succeeded())
            self.reset()
            elapsed = time.monotonic() - started
            # A hair of slack: the flush gives up at the deadline itself.
            outlived = elapsed >= self.transaction_timeout_s * 0.99
            if outlived and isinstance(exc, KafkaError) and not isinstance(exc, RECORD_REJECTIONS):
                raise TransactionTooLong(
                    f"the transaction failed after {elapsed:.1f} s, its timeout being "
                    f"{self.transaction_timeout_s:g} s, with {acknowledged:,} of its "
                    f"{len(futures):,} records acknowledged: {exc!r}",
                    acknowledged=acknowledged,
                    elapsed_s=elapsed,
                ) from exc
            raise

    def reset(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):  # it is broken already; closing is best effort
                self._producer.close(timeout=5)
            self._producer = None

    def close(self) -> None:
        self.reset()
