"""The consumer loop: poll a batch, store it in one transaction, send refusals, commit offsets.

Order within a batch, and why it gives an exactly-once effect:

1. decode every message (pure); messages of the DLQ topic are dead-letter events;
2. one database transaction stores the rows and the events (idempotent inserts);
3. the ingestor's own refusals are produced to the DLQ topic and acknowledged;
4. only then are the batch's offsets committed.

Steps 2-3 run on a writer thread while this thread polls and decodes the next batch (psycopg2
lets go of the GIL while PostgreSQL works), one batch in flight at a time; step 4 stays here,
since the Kafka consumer belongs to this thread, and happens after the writer is done.

A crash anywhere before 4 means the batch is read again: the inserts skip what is there, and a
refusal sent twice is stored once, because ``dead_letters`` fills only from the topic and is
unique per refused message. PostgreSQL or Kafka unavailable at 2-4: the batch and the one
polled behind it are put back (the consumer seeks to their first offsets), nothing is
committed, and they are retried with backoff.

Rebalances: a partition revoked while its batch was in flight is not committed by us (the
rows are stored; its next owner reads them again from the last commit and skips them), so we
never commit a partition we no longer hold, and what was polled before a revocation is
dropped and put back rather than stored under a commitment we cannot keep.

No single message can stop the loop: one the Kafka client cannot even read becomes a dead letter
by its coordinates (``unreadable``), and one that breaks decoding in an unforeseen way becomes a
dead letter too. A consumer that stops fetching is rebuilt (``watchdog``). The group membership
is static (``group_instance_id``), so a restarted replica gets its partitions back at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import MemberToRemove
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from streamsuite_common import db, kafka
from streamsuite_common.config import ConfigError
from streamsuite_common.contract import DeadLetter, parse_document_headers
from streamsuite_common.kafka import KafkaUnavailable
from streamsuite_common.lag import partition_lag
from streamsuite_common.logs import get_logger
from streamsuite_common.retry import backoff_delays
from streamsuite_ingestor import unreadable
from streamsuite_ingestor.batching import (
    first_offsets,
    offsets_to_commit,
    record_bytes,
    split_by_bytes,
)
from streamsuite_ingestor.config import SERVICE, IngestorConfig
from streamsuite_ingestor.decode import (
    STAGE_DECODE,
    DeadLetterRow,
    Row,
    decode_dead_letter,
    decode_document,
)
from streamsuite_ingestor.decode import (
    refusal as refuse,
)
from streamsuite_ingestor.metrics import Metrics
from streamsuite_ingestor.migrate import migrate
from streamsuite_ingestor.routes import Route
from streamsuite_ingestor.store import Outcome, Store, StoreUnavailable
from streamsuite_ingestor.watchdog import FetchWatchdog

log = get_logger(__name__)

_LAG_EVERY_S = 1.0
_LAG_TIMEOUT_MS = 2_000
# While nothing arrives, ask the broker this often whether there is anything to fetch at all.
_CAUGHT_UP_EVERY_S = 5.0
_CAUGHT_UP_TIMEOUT_MS = 3_000
_LEAVE_TIMEOUT_S = 5.0
_IN_FLIGHT_POLL_MS = 50
FETCH_MAX_WAIT_MS = 100
_TOPIC_WAIT_S = 1.0


class FencedInstance(ConfigError):
    """Another running consumer of the group has our group instance id: a config mistake."""


class _Handoff(ConsumerRebalanceListener):
    """Logs hand-offs, forgets the lag of partitions that left, and starts a new epoch so a
    batch in flight across the hand-off is not committed.

    kafka-python calls it on its IO thread, where no blocking consumer call is allowed."""

    def __init__(self, ingestor: Ingestor):
        self._ingestor = ingestor

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._ingestor.new_epoch()
        if revoked:
            log.info("partitions revoked", partitions=_names(revoked))
        self._ingestor.forget(revoked)
        self._ingestor.assigned(None)

    def on_partitions_lost(self, lost: Any) -> None:
        self.on_partitions_revoked(lost)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self._ingestor.new_epoch()
        log.info("partitions assigned", partitions=_names(assigned))
        self._ingestor.assigned(assigned)


def _names(partitions: Any) -> list[str]:
    return sorted(f"{tp.topic}:{tp.partition}" for tp in partitions)


@dataclasses.dataclass
class Decoded:
    """A polled batch, decoded: what the writer stores and sends."""

    records: list[Any]
    rows: list[Row]
    events: list[DeadLetterRow]
    refusals: list[DeadLetter]
    started: float  # monotonic time of its poll
    epoch: int  # the group epoch it was polled in: a rebalance since voids its commit


@dataclasses.dataclass
class InFlight:
    batch: Decoded
    future: Future[Outcome]


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
        settings = cfg.ingestor
        self.store = Store(
            cfg.database,
            self.routes,
            application_name=SERVICE,
            statement_timeout_s=settings.statement_timeout_s,
            lock_timeout_s=settings.lock_timeout_s,
            tcp_user_timeout_s=settings.tcp_user_timeout_s,
        )
        self.consumer: KafkaConsumer | None = None
        self.producer: KafkaProducer | None = None
        self.heartbeat = time.monotonic()  # last loop turn, for /healthz
        self.watchdog = FetchWatchdog(settings.fetch_stall_s)
        self.instance_id = settings.instance_id()
        self.partitions: int | None = None  # None: not a member of the group (yet)
        self._lag_at = 0.0
        self._caught_up_at = 0.0
        self._fenced = False  # another member has our name: it must not be removed on exit
        # One batch is written while the next is polled and decoded.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingestor-writer")
        self.in_flight: InFlight | None = None
        # Bumped by every revocation and assignment (on kafka-python's IO thread).
        self._epoch = 0
        self._epoch_lock = threading.Lock()

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
        self.producer = kafka.connect_producer(self.cfg.kafka, stop=self.stop)
        self._connect_consumer()

    def _connect_consumer(self) -> None:
        settings, ingestor = self.cfg.kafka, self.cfg.ingestor
        self.consumer = kafka.connect_consumer(
            settings,
            group_id=ingestor.group_id,
            stop=self.stop,
            group_instance_id=self.instance_id,
            max_poll_records=ingestor.batch_size,
            session_timeout_ms=int(ingestor.session_timeout_s * 1000),
            heartbeat_interval_ms=int(ingestor.session_timeout_s * 1000 / 3),
            # A topic without metadata yet when the group assigned (created at the same time,
            # as the chart's topics are) gets its partitions at the next metadata refresh:
            # within 10 s, not kafka-python's default 5 minutes with nothing assigned.
            metadata_max_age_ms=10_000,
            # A fetch waits up to this long for data the broker does not yet release to a
            # read_committed reader; at the 500 ms default, file → queryable p99 was 595 ms
            # with 491 ms of it in this step (bench_latency.py).
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        self.consumer.subscribe([settings.topic, settings.dlq_topic], listener=_Handoff(self))
        # Subscribed first: the metadata fetched while waiting then updates the group's view of
        # the subscribed topics, so its first assignment is not followed by a needless rejoin.
        # The group is joined at the first poll, after the wait.
        self._await_partitions([settings.topic, settings.dlq_topic])
        log.info(
            "consuming",
            topics=[settings.topic, settings.dlq_topic],
            group=ingestor.group_id,
            instance=self.instance_id,
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
                if self.consumer is None:  # a rebuild gave up for now: try again
                    self._rebuild("reconnect")
                    continue
                self._update_lag()
                batch, poll_error, epoch = self._poll()
                if poll_error is None:
                    self._watch(got_messages=bool(batch))
                decoded = self.decode(batch, epoch) if batch else None
                try:
                    self.finish(behind=decoded)
                    if decoded is not None:
                        self.submit(decoded)
                    if poll_error is not None:
                        # Its partition's messages before it are stored before it is skipped.
                        self.finish()
                    delays = None
                except (StoreUnavailable, KafkaError) as exc:
                    delays = self._put_back(exc, delays, rebuild=poll_error is not None)
                    continue
                if poll_error is not None:
                    delays = self._poll_failed(poll_error, delays)
            with contextlib.suppress(StoreUnavailable, KafkaError):
                self.finish()  # the batch in hand, on SIGTERM
        finally:
            self.close()

    def _put_back(self, exc: Exception, delays: Any, *, rebuild: bool) -> Any:
        """The batches were put back (``finish``): count, log and wait before the retry."""
        self._raise_if_fenced(exc)
        dependency = "postgres" if isinstance(exc, StoreUnavailable) else "kafka"
        self.metrics.retries.labels(dependency).inc()
        delays = delays or backoff_delays()
        wait = next(delays)
        log.warning(
            "batch put back, will retry",
            dependency=dependency,
            error=str(exc) or exc.__class__.__name__,
            wait_s=wait,
        )
        if rebuild:
            # An unreadable message's partition may hold unstored messages before it:
            # start afresh from the committed offsets instead.
            self._rebuild("batch-put-back")
        self.stop.wait(wait)
        return delays

    def handle(self, batch: list[Any]) -> None:
        """Decode, store and commit one batch, start to end (tests and tools)."""
        self.submit(self.decode(batch, self._epoch))
        self.finish()

    # --- readiness (called from the health server's threads) ---

    def check_partitions(self) -> None:
        if self.partitions is None:
            raise RuntimeError("not a member of the consumer group yet: no partitions assigned")

    def check_fetching(self) -> None:
        if self.watchdog.stalled():
            raise RuntimeError(
                f"the consumer has fetched nothing for {self.watchdog.silent_for():.0f}s "
                "while it had something to fetch or the broker did not answer"
            )

    def assigned(self, partitions: Any) -> None:
        """The group gave us ``partitions`` (None: took them away, a rebalance is under way)."""
        self.partitions = None if partitions is None else len(partitions)
        self.metrics.assigned_partitions.set(self.partitions or 0)

    # --- the consumer's health ---

    def _watch(self, *, got_messages: bool) -> None:
        """Note progress; rebuild a consumer that has made none for too long."""
        if got_messages or self._caught_up():
            self.watchdog.progress()
            self.metrics.last_fetch.set(self.watchdog.progress_wall_time)
        elif self.watchdog.rebuild_due():
            self._rebuild("stalled")

    def _caught_up(self) -> bool:
        """Every now and then while idle: the broker confirms there is nothing to fetch."""
        now = time.monotonic()
        if self.consumer is None or now - self._caught_up_at < _CAUGHT_UP_EVERY_S:
            return False
        self._caught_up_at = now
        if self.partitions is None:
            return False
        owned = list(self.consumer.assignment())
        if not owned:
            return True  # a member with nothing to do (more replicas than partitions)
        try:
            ends = self.consumer.end_offsets(owned, timeout_ms=_CAUGHT_UP_TIMEOUT_MS)
            positions = {tp: self.consumer.position(tp, timeout_ms=0) for tp in owned}
        except (KafkaError, AssertionError):
            return False
        return all(
            positions.get(tp) is not None and positions[tp] >= end for tp, end in ends.items()
        )

    def _rebuild(self, reason: str) -> None:
        """Close the consumer and make a new one (same group and instance id)."""
        # The batch in flight is committed by the consumer that read it, if it can be.
        with contextlib.suppress(StoreUnavailable, KafkaError):
            self.finish()
        self.metrics.consumer_rebuilds.labels(reason).inc()
        self.watchdog.rebuilt()
        log.warning(
            "rebuilding the Kafka consumer",
            reason=reason,
            silent_s=round(self.watchdog.silent_for(), 1),
        )
        self._close_consumer()
        self.assigned(None)
        try:
            self._connect_consumer()
        except KafkaUnavailable as exc:
            log.warning("Kafka consumer not rebuilt yet, will retry", error=str(exc))
            self.stop.wait(1.0)

    def _poll_failed(self, exc: Exception, delays: Any) -> Any:
        """poll() raised: dead-letter an unreadable message, or back off from the broker."""
        self._raise_if_fenced(exc)
        if unreadable.is_unreadable_message(exc):
            self._dead_letter_unreadable(exc)
            return None
        self.metrics.retries.labels("kafka").inc()
        delays = delays or backoff_delays()
        wait = next(delays)
        log.warning("poll failed, will retry", error=str(exc) or type(exc).__name__, wait_s=wait)
        self.stop.wait(wait)
        return delays

    def _raise_if_fenced(self, exc: Exception) -> None:
        # The broker took our partitions for a newer member of the same name; kafka-python
        # says so only when we commit (or poll): retrying would fail for ever.
        if unreadable.is_fenced(exc):
            self._fenced = True
            raise FencedInstance(
                f"INGESTOR.GROUP_INSTANCE_ID: {self.instance_id!r} is used by another running "
                f"consumer of group {self.cfg.ingestor.group_id!r}"
            ) from exc

    def _dead_letter_unreadable(self, exc: Exception) -> None:
        assert self.consumer is not None
        where = unreadable.failed_position(self.consumer)
        if where is None:
            log.error("unreadable message at an unknown position", error=repr(exc))
            self._rebuild("unreadable-message")
            return
        tp, offset = where
        letter = unreadable.unreadable_dead_letter(tp, offset, exc)
        try:
            self._send([letter])
            self.consumer.commit({tp: OffsetAndMetadata(offset + 1, "", -1)})
        except KafkaError as send_error:
            self._raise_if_fenced(send_error)
            log.warning("unreadable message not dead-lettered yet", error=str(send_error))
            self._rebuild("unreadable-message")  # its fetcher state must not be polled again
            return
        self.metrics.unreadable.inc()
        # Seeking also makes the client drop the records it kept for the failed partition.
        self.consumer.seek(tp, offset + 1)

    def close(self) -> None:
        if self.in_flight is not None:  # not committed: read again next time, skipped then
            with contextlib.suppress(Exception):
                self.in_flight.future.result()
            self.in_flight = None
        self._writer.shutdown(wait=True)
        member = self.consumer is not None
        self._close_consumer()
        if member and self.stop.is_set() and not self._fenced:
            self._leave_group()
        if self.producer is not None:
            try:
                self.producer.close(timeout=5)
            except Exception as exc:  # closing is best effort
                log.warning("producer close failed", error=str(exc))
            self.producer = None
        self.store.close()

    def _close_consumer(self) -> None:
        if self.consumer is not None:
            # Nothing uncommitted is worth keeping. A static member does not leave the group
            # by closing (a rebuild comes straight back); a stopping one leaves afterwards.
            try:
                self.consumer.close(autocommit=False, timeout_ms=5_000)
            except Exception as exc:  # closing is best effort
                log.warning("consumer close failed", error=str(exc))
            self.consumer = None

    def _leave_group(self) -> None:
        """A stopping static member leaves explicitly (KIP-345 member removal), so the others
        take its partitions now; a crashed one keeps them until it is back or times out."""
        member = MemberToRemove(group_instance_id=self.instance_id, reason="stopping")
        admin = None
        try:
            admin = kafka.connect_admin(
                self.cfg.kafka, client_id=f"{SERVICE}-leave", timeout_s=_LEAVE_TIMEOUT_S
            )
            result = admin.remove_group_members(self.cfg.ingestor.group_id, [member])
            errors = [e.__name__ for e in result.values() if e.__name__ != "NoError"]
            log.info("left the consumer group", instance=self.instance_id, errors=errors)
        except (KafkaError, KafkaUnavailable, OSError) as exc:  # best effort
            log.warning("could not leave the consumer group", error=str(exc) or repr(exc))
        finally:
            if admin is not None:
                with contextlib.suppress(Exception):
                    admin.close()

    def _await_partitions(self, topics: list[str]) -> None:
        """Join the group (at the first poll) only once this client knows the topics'
        partitions. The group's
        leader assigns from what its client knows when the group forms: a topic created at
        that moment (the chart creates them with the pods, the tests just before) had no
        partition metadata yet ("No partition metadata for topic"), the member was assigned
        nothing, and sat so for minutes (two of three fresh-clone runs of the suite saw it)."""
        assert self.consumer is not None
        waiting: list[str] = []
        while not self.stop.is_set():
            self.heartbeat = time.monotonic()  # waiting, not stuck: /healthz stays alive
            try:
                missing = [t for t in topics if not self.consumer.partitions_for_topic(t)]
            except KafkaError as exc:
                missing = [f"{', '.join(topics)} ({exc.__class__.__name__})"]
            if not missing:
                return
            if missing != waiting:
                log.warning("waiting for the topics to exist", topics=missing)
                waiting = missing
            self.stop.wait(_TOPIC_WAIT_S)

    # --- one batch ---

    def _poll(self) -> tuple[list[Any], Exception | None, int]:
        """(a batch within the count and byte limits, the error a poll raised or None, the
        group epoch it belongs to).

        Messages polled before an error are returned with it: they are stored first. A
        rebalance during the polls voids them (``_drop_rebalanced``)."""
        assert self.consumer is not None
        epoch = self._epoch
        records, error = self._fetch()
        if self._epoch != epoch:
            self._drop_rebalanced(records, error)
            return [], None, self._epoch
        return self._within_bytes(records), error, epoch

    def _fetch(self) -> tuple[list[Any], Exception | None]:
        """The polled messages, and the error a poll raised (None if none did)."""
        records: list[Any] = []
        try:
            self._poll_into(records)
        except Exception as exc:  # a message the client cannot read, or the broker's trouble
            return records, exc
        return records, None

    def _poll_into(self, records: list[Any]) -> None:
        """One poll that may wait, then what is already buffered too (bigger transactions, no
        extra waiting), up to the batch's count and bytes. Appends as it goes, so the messages
        of the polls before a failing one stay in ``records``."""
        limit, max_bytes = self.cfg.ingestor.batch_size, self.cfg.ingestor.max_batch_bytes
        new = self._take(self._wait_ms(), limit)
        records += new
        size = sum(map(record_bytes, new))
        while records and len(records) < limit and size < max_bytes and not self.stop.is_set():
            new = self._take(0, limit - len(records))
            if not new:
                break
            records += new
            size += sum(map(record_bytes, new))

    def _wait_ms(self) -> int:
        """With a batch in flight, come back soon to commit it once it is stored."""
        wait_ms = self.cfg.ingestor.batch_timeout_ms
        if self.in_flight is not None:
            wait_ms = min(wait_ms, _IN_FLIGHT_POLL_MS)
        return wait_ms

    def _take(self, timeout_ms: int, max_records: int) -> list[Any]:
        """One poll's messages, of every partition."""
        assert self.consumer is not None
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        return [r for batch in polled.values() for r in batch]

    def _drop_rebalanced(self, records: list[Any], error: Exception | None) -> None:
        """The group rebalanced while we polled: what came is dropped, and every partition we
        hold starts again from its committed offset. The error goes too: an unreadable message
        is met again after the messages before it, read again from the committed offsets;
        dead-lettering it now would commit past them (they were just dropped): lost for good."""
        if records or error is not None:
            log.info("rebalanced while polling: reading again from the committed offsets")
            # Seeking also makes the client drop the records it kept for a failed partition
            # (without it, later polls spin on them and the ingestor wedges).
            self._seek_committed()

    def _within_bytes(self, records: list[Any]) -> list[Any]:
        """The batch cut to the byte limit; what is over it is sought back to, polled next."""
        if not records:
            return records
        batch, rest = split_by_bytes(records, self.cfg.ingestor.max_batch_bytes)
        if rest:
            self._rewind(rest)
        return batch

    def _seek_committed(self) -> None:
        """Every partition we hold back to its committed offset (the earliest, if none)."""
        assert self.consumer is not None
        for tp in self.consumer.assignment():
            try:
                committed = self.consumer.committed(tp)
            except (KafkaError, AssertionError) as exc:
                log.warning("committed offset not read, rebuilding", error=str(exc))
                self._rebuild("rebalanced")
                return
            if committed is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, committed)

    def decode(self, batch: list[Any], epoch: int) -> Decoded:
        """Pure work of this thread: messages into rows, events and refusals."""
        dlq_topic = self.cfg.kafka.dlq_topic
        max_bytes = self.cfg.ingestor.max_document_bytes
        routes = self.routes
        decoded = Decoded(batch, [], [], [], time.monotonic(), epoch)
        rows, events, refusals = decoded.rows, decoded.events, decoded.refusals
        for record in batch:
            try:
                if record.topic == dlq_topic:
                    events.append(decode_dead_letter(record))
                    continue
                item = decode_document(record, routes, max_bytes)
            except Exception as exc:  # a bug meets a message: refuse it, keep going
                log.exception("message could not be decoded", offset=record.offset)
                item = refuse(
                    record,
                    parse_document_headers(None),
                    stage=STAGE_DECODE,
                    reason="undecodable",
                    detail=f"the ingestor failed on it: {exc.__class__.__name__}",
                )
            (rows if type(item) is Row else refusals).append(item)
        return decoded

    def submit(self, decoded: Decoded) -> None:
        """Hand a decoded batch to the writer thread; the one before must be finished."""
        assert self.in_flight is None, "one batch in flight at a time"
        self.in_flight = InFlight(decoded, self._writer.submit(self._write, decoded))

    def _write(self, decoded: Decoded) -> Outcome:
        """On the writer thread: the database transaction, then the refusals to the DLQ."""
        outcome = self.store.write(decoded.rows, decoded.events)
        # Counted as soon as PostgreSQL has them, like the rows readers see.
        for kind, count in outcome.stored.items():
            self.metrics.records.labels(kind).inc(count)
        self.metrics.duplicates.inc(outcome.duplicates)
        for reason, count in outcome.dead_letters.items():
            self.metrics.dead_letters.labels(reason).inc(count)
        self._send([*decoded.refusals, *outcome.refusals])
        return outcome

    def finish(self, behind: Decoded | None = None) -> None:
        """Wait for the batch in flight; commit its offsets, or put it back and raise.

        ``behind``, polled after it, is put back with it: seeking to its offsets first and
        to the failed batch's (earlier) ones last leaves each partition at the earliest."""
        in_flight, self.in_flight = self.in_flight, None
        if in_flight is None:
            return
        batch = in_flight.batch
        try:
            in_flight.future.result()
        except (StoreUnavailable, KafkaError):
            if behind is not None:
                self._rewind(behind.records, behind.epoch)
            self._rewind(batch.records, batch.epoch)
            raise
        self._commit(batch.records, batch.epoch)
        self._count(batch)

    def _count(self, batch: Decoded) -> None:
        """Metrics and logs of a committed batch: per batch, not per message."""
        committed = datetime.now(UTC)
        # The documents of one file share their produced-at: one subtraction per file.
        ages: dict[datetime, float] = {}
        observe = self.metrics.end_to_end.observe
        for row in batch.rows:
            moment = row.produced_at
            if moment is not None:
                age = ages.get(moment)
                if age is None:
                    age = ages[moment] = max(0.0, (committed - moment).total_seconds())
                observe(age)
        self.metrics.batch_size.observe(len(batch.records))
        self.metrics.batch_bytes.observe(sum(map(record_bytes, batch.records)))
        self.metrics.batch_duration.observe(time.monotonic() - batch.started)
        for item in batch.events:
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

    def new_epoch(self) -> None:
        with self._epoch_lock:
            self._epoch += 1

    def _commit(self, records: Sequence[Any], epoch: int) -> None:
        """Commit what the batch stored, for the partitions we still hold since its poll.

        Without a consumer (a rebuild under way) nothing is committed: the rows are stored,
        and read again they are skipped."""
        if self.consumer is None:
            return
        offsets = offsets_to_commit(
            records, self.consumer.assignment(), same_epoch=epoch == self._epoch
        )
        if offsets:
            self.consumer.commit(
                {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}
            )
            self.metrics.last_commit.set_to_current_time()

    def _rewind(self, records: Sequence[Any], epoch: int | None = None) -> None:
        """Seek back to the records' first offsets so the same messages come again.

        After a rebalance (``epoch`` passed and changed) the new assignment already starts
        from the committed offsets: nothing to seek."""
        if self.consumer is None or (epoch is not None and epoch != self._epoch):
            return
        owned = self.consumer.assignment()
        for tp, offset in first_offsets(records).items():
            if tp in owned:
                self.consumer.seek(tp, offset)

    # --- lag ---

    def _update_lag(self) -> None:
        """Between batches (nothing in flight): see streamsuite_common.lag."""
        now = time.monotonic()
        if self.consumer is None or now - self._lag_at < _LAG_EVERY_S:
            return
        self._lag_at = now
        owned = list(self.consumer.assignment())
        if not owned:
            return
        try:
            # read_committed: the end offsets the broker lists are the last stable offsets.
            stable = self.consumer.end_offsets(owned, timeout_ms=_LAG_TIMEOUT_MS)
            positions = {tp: self.consumer.position(tp, timeout_ms=0) for tp in owned}
        except (KafkaError, AssertionError):
            return
        for tp in owned:
            lag = partition_lag(stable.get(tp), positions.get(tp))
            if lag is not None:
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(lag)

    def forget(self, partitions: Any) -> None:
        for tp in partitions or ():
            with contextlib.suppress(KeyError):  # never measured
                self.metrics.lag.remove(tp.topic, str(tp.partition))
