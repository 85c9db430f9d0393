"""The consumer loop: poll a batch, store it in one transaction, send refusals, commit offsets.

Order within a batch, and why it gives an exactly-once effect:

1. decode every message (pure); messages of the DLQ topic are dead-letter events;
2. one database transaction stores the rows and the events (idempotent inserts);
3. the ingestor's own refusals are produced to the DLQ topic and acknowledged;
4. only then are the batch's offsets committed.

A crash anywhere before 4 means the batch is read again: the inserts skip what is there, and a
refusal sent twice is stored once, because ``dead_letters`` fills only from the topic and is
unique per refused message. PostgreSQL or Kafka unavailable at 2-4: the batch is put back (the
consumer seeks to its first offsets), nothing is committed, and it is retried with backoff.
Rebalances only happen inside ``poll``, when no batch is half done, so hand-off is clean.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from streamsuite_common import db, kafka
from streamsuite_common.contract import DeadLetter
from streamsuite_common.logs import get_logger
from streamsuite_common.retry import backoff_delays
from streamsuite_ingestor.config import SERVICE, IngestorConfig
from streamsuite_ingestor.decode import (
    DeadLetterRow,
    Row,
    decode_dead_letter,
    decode_document,
)
from streamsuite_ingestor.metrics import Metrics
from streamsuite_ingestor.migrate import migrate
from streamsuite_ingestor.routes import Route
from streamsuite_ingestor.store import Store, StoreUnavailable

log = get_logger(__name__)

_LAG_EVERY_S = 1.0


class _Handoff(ConsumerRebalanceListener):
    """Logs hand-offs and forgets the lag of partitions that left; nothing is in flight then."""

    def __init__(self, ingestor: Ingestor):
        self._ingestor = ingestor

    def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked:
            log.info("partitions revoked", partitions=_names(revoked))
        self._ingestor.forget(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("partitions assigned", partitions=_names(assigned))


def _names(partitions: Any) -> list[str]:
    return sorted(f"{tp.topic}:{tp.partition}" for tp in partitions)


class Ingestor:
    def __init__(
        self,
        cfg: IngestorConfig,
        routes: Sequence[Route],
        metrics: Metrics,
        *,
        stop: threading.Event,
    ):
        self.cfg = cfg
        self.routes = tuple(routes)
        self.metrics = metrics
        self.stop = stop
        self.store = Store(cfg.database, self.routes, application_name=SERVICE)
        self.consumer: KafkaConsumer | None = None
        self.producer: KafkaProducer | None = None
        self.heartbeat = time.monotonic()  # last loop turn, for /healthz
        self._lag_at = 0.0

    # --- life cycle ---

    def migrate(self) -> list[str]:
        conn = db.connect(self.cfg.database, application_name=f"{SERVICE}-migrate", stop=self.stop)
        try:
            return migrate(
                conn,
                self.cfg.database.schema,
                reader_role=self.cfg.ingestor.reader_role,
                routes=self.routes,
            )
        finally:
            conn.close()

    def connect(self) -> None:
        settings = self.cfg.kafka
        self.producer = kafka.connect_producer(settings, stop=self.stop)
        self.consumer = kafka.connect_consumer(
            settings,
            group_id=self.cfg.ingestor.group_id,
            stop=self.stop,
            max_poll_records=self.cfg.ingestor.batch_size,
            session_timeout_ms=int(self.cfg.ingestor.session_timeout_s * 1000),
            heartbeat_interval_ms=int(self.cfg.ingestor.session_timeout_s * 1000 / 3),
        )
        self.consumer.subscribe([settings.topic, settings.dlq_topic], listener=_Handoff(self))
        log.info(
            "consuming",
            topics=[settings.topic, settings.dlq_topic],
            group=self.cfg.ingestor.group_id,
            schema=self.cfg.database.schema,
        )

    def run(self) -> None:
        """Until ``stop`` is set: the batch in hand is finished (or put back) before leaving."""
        if self.cfg.ingestor.migrate_on_start:
            self.migrate()
        self.connect()
        try:
            delays = None
            while not self.stop.is_set():
                self.heartbeat = time.monotonic()
                batch = self._poll()
                self._update_lag()
                if not batch:
                    continue
                try:
                    self.handle(batch)
                    delays = None
                except (StoreUnavailable, KafkaError) as exc:
                    dependency = "postgres" if isinstance(exc, StoreUnavailable) else "kafka"
                    self.metrics.retries.labels(dependency).inc()
                    self._rewind(batch)
                    delays = delays or backoff_delays()
                    wait = next(delays)
                    log.warning(
                        "batch put back, will retry",
                        dependency=dependency,
                        error=str(exc) or exc.__class__.__name__,
                        messages=len(batch),
                        wait_s=wait,
                    )
                    self.stop.wait(wait)
        finally:
            self.close()

    def close(self) -> None:
        if self.consumer is not None:
            # Nothing uncommitted is worth keeping: leave the group so others take over now.
            try:
                self.consumer.close(autocommit=False, timeout_ms=5_000)
            except Exception as exc:  # closing is best effort
                log.warning("consumer close failed", error=str(exc))
            self.consumer = None
        if self.producer is not None:
            try:
                self.producer.close(timeout=5)
            except Exception as exc:  # closing is best effort
                log.warning("producer close failed", error=str(exc))
            self.producer = None
        self.store.close()

    # --- one batch ---

    def _poll(self) -> list[Any]:
        assert self.consumer is not None
        limit = self.cfg.ingestor.batch_size
        polled = self.consumer.poll(
            timeout_ms=self.cfg.ingestor.batch_timeout_ms, max_records=limit
        )
        records = [r for batch in polled.values() for r in batch]
        # Take what is already buffered too: bigger transactions, no extra waiting.
        while records and len(records) < limit and not self.stop.is_set():
            more = self.consumer.poll(timeout_ms=0, max_records=limit - len(records))
            if not more:
                break
            records += [r for batch in more.values() for r in batch]
        if records:
            # A rebalance inside the second poll may have taken partitions away.
            owned = self.consumer.assignment()
            records = [r for r in records if TopicPartition(r.topic, r.partition) in owned]
        return records

    def handle(self, batch: Sequence[Any]) -> None:
        started = time.monotonic()
        dlq_topic = self.cfg.kafka.dlq_topic
        max_bytes = self.cfg.ingestor.max_document_bytes
        rows: list[Row] = []
        events: list[DeadLetterRow] = []
        refusals: list[DeadLetter] = []
        for record in batch:
            if record.topic == dlq_topic:
                events.append(decode_dead_letter(record))
                continue
            decoded = decode_document(record, self.routes, max_bytes)
            (rows if isinstance(decoded, Row) else refusals).append(decoded)
        outcome = self.store.write(rows, events)
        refusals += outcome.refusals
        self._send(refusals)
        self._commit(batch)

        committed = datetime.now(UTC)
        for kind, count in outcome.stored.items():
            self.metrics.records.labels(kind).inc(count)
        self.metrics.duplicates.inc(outcome.duplicates)
        for reason, count in outcome.dead_letters.items():
            self.metrics.dead_letters.labels(reason).inc(count)
        for row in rows:
            if row.produced_at is not None:
                self.metrics.end_to_end.observe(
                    max(0.0, (committed - row.produced_at).total_seconds())
                )
        self.metrics.batch_size.observe(len(batch))
        self.metrics.batch_duration.observe(time.monotonic() - started)
        for item in events:
            event = item.event
            log.info(
                "dead letter stored",
                origin=event.origin,
                stage=event.stage,
                reason=event.reason,
                source=event.source,
                sha256=event.sha256,
                dlq_offset=item.dlq.offset,
            )

    def _send(self, refusals: Sequence[DeadLetter]) -> None:
        """Produce refusals to the DLQ topic and wait for every acknowledgement."""
        if not refusals:
            return
        assert self.producer is not None
        futures = []
        for refusal in refusals:
            key, value, headers = refusal.to_message()
            futures.append(
                self.producer.send(self.cfg.kafka.dlq_topic, key=key, value=value, headers=headers)
            )
        self.producer.flush(timeout=self.cfg.kafka.request_timeout_s)
        for future in futures:
            future.get(timeout=0)  # raises the send's error, if it had one
        for refusal in refusals:
            self.metrics.refusals.labels(refusal.reason).inc()
            kafka_at = refusal.kafka
            log.warning(
                "message refused",
                stage=refusal.stage,
                reason=refusal.reason,
                detail=refusal.detail,
                source=refusal.source,
                sha256=refusal.sha256,
                topic=kafka_at.topic if kafka_at else None,
                partition=kafka_at.partition if kafka_at else None,
                offset=kafka_at.offset if kafka_at else None,
            )

    def _commit(self, batch: Sequence[Any]) -> None:
        assert self.consumer is not None
        last: dict[TopicPartition, int] = {}
        for record in batch:
            tp = TopicPartition(record.topic, record.partition)
            last[tp] = max(last.get(tp, -1), record.offset)
        self.consumer.commit(
            {tp: OffsetAndMetadata(offset + 1, "", -1) for tp, offset in last.items()}
        )

    def _rewind(self, batch: Sequence[Any]) -> None:
        """Seek back to the batch's first offsets so the same messages come again."""
        if self.consumer is None:
            return
        first: dict[TopicPartition, int] = {}
        for record in batch:
            tp = TopicPartition(record.topic, record.partition)
            first[tp] = min(first.get(tp, record.offset), record.offset)
        owned = self.consumer.assignment()
        for tp, offset in first.items():
            if tp in owned:
                self.consumer.seek(tp, offset)

    # --- lag ---

    def _update_lag(self) -> None:
        now = time.monotonic()
        if self.consumer is None or now - self._lag_at < _LAG_EVERY_S:
            return
        self._lag_at = now
        lags: dict[TopicPartition, int] = collections.OrderedDict()
        for tp in self.consumer.assignment():
            try:
                highwater = self.consumer.highwater(tp)
                position = self.consumer.position(tp, timeout_ms=0)
            except KafkaError:
                continue
            if highwater is not None and position is not None:
                lags[tp] = max(0, highwater - position)
        for tp, lag in lags.items():
            self.metrics.lag.labels(tp.topic, str(tp.partition)).set(lag)

    def forget(self, partitions: Any) -> None:
        for tp in partitions or ():
            with contextlib.suppress(KeyError):  # never measured
                self.metrics.lag.remove(tp.topic, str(tp.partition))
