"""The publisher's status report: every ``INTERVAL_S`` seconds a small JSON event with its inbox
backlog (files waiting, age of the oldest) goes to the compacted topic
``KAFKA.STATUS_TOPIC`` (``<TOPIC>.status``), keyed by this publisher's instance. The web UI's
Status page reads the newest event per instance from there: the services meet only in Kafka and
PostgreSQL, and the publisher has no database.

It runs in its own thread with its own plain producer (no transaction, no idempotence: a lost
or doubled report is replaced by the next one), so a slow or missing status topic never holds
up publishing: failures are counted and logged when the state changes, nothing more. On a clean
stop a tombstone (null value) removes the instance at once instead of letting it go silent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kafka import KafkaProducer
from prometheus_client import Counter

from streamsuite_common.config import KafkaSettings
from streamsuite_common.contract import rfc3339, utc_now
from streamsuite_common.kafka import connect_admin, producer_options
from streamsuite_common.logs import get_logger
from streamsuite_publisher import metrics
from streamsuite_publisher.identity import spool_id
from streamsuite_publisher.spool import PROCESSING, Spool

log = get_logger(__name__)

INTERVAL_S = 10.0
FIRST_REPORT_S = 2.0
# One report may take this long to be acknowledged; the next one is due INTERVAL_S later anyway.
SEND_TIMEOUT_S = 5.0

REPORTS = Counter(
    "streamsuite_publisher_status_reports_total",
    "Inbox status reports sent to the status topic, by outcome: sent or failed",
    ["outcome"],
)
for _outcome in ("sent", "failed"):  # both series exist from the start, at 0
    REPORTS.labels(_outcome)


@dataclasses.dataclass(frozen=True)
class Backlog:
    files: int
    oldest_waiting_s: float


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who reports: ``instance`` is the key (the transactional id, stable across restarts and
    unique per running publisher); ``spool`` names the inbox, so publishers sharing one are
    counted once in a total."""

    instance: str
    host: str
    inbox: str
    spool: str


def status_value(identity: Identity, backlog: Backlog, at: datetime) -> bytes:
    """Pure: the event's JSON value."""
    event = {
        "instance": identity.instance,
        "host": identity.host,
        "inbox": identity.inbox,
        "spool": identity.spool,
        "inbox_files": backlog.files,
        "oldest_waiting_s": round(backlog.oldest_waiting_s, 1),
        "at": rfc3339(at),
    }
    return json.dumps(event, separators=(",", ":")).encode()


def metrics_backlog() -> Backlog:
    """The backlog as the loop's last scan left it in the metrics (the age keeps growing)."""
    files = metrics.BACKLOG.collect()[0].samples[0].value
    age = metrics.INBOX_OLDEST_AGE.collect()[0].samples[0].value
    return Backlog(int(files), float(age))


def publisher_identity(instance: str, spool: Spool) -> Identity:
    processing = spool.root / PROCESSING
    try:
        processing.mkdir(parents=True, exist_ok=True)
        inbox_id = spool_id(processing)
    except (OSError, ValueError):  # the report still goes; the inbox path names it instead
        inbox_id = str(spool.root)
    return Identity(instance, socket.gethostname(), str(spool.root), inbox_id)


class StatusReporter:
    def __init__(
        self,
        settings: KafkaSettings,
        identity: Identity,
        backlog: Callable[[], Backlog] = metrics_backlog,
        *,
        interval_s: float = INTERVAL_S,
    ):
        self.settings = settings
        self.topic = settings.effective_status_topic
        self.identity = identity
        self.backlog = backlog
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._producer: KafkaProducer | None = None
        self._failing = False
        self._client_id = f"{settings.producer_client_id}-status"
        self._thread = threading.Thread(target=self._run, name="status-report", daemon=True)

    def start(self) -> StatusReporter:
        self._thread.start()
        return self

    def _run(self) -> None:
        # The first report waits for the loop's first scan (until then the backlog reads 0).
        delay = min(FIRST_REPORT_S, self.interval_s)
        while not self._stop.wait(delay):
            self._send(status_value(self.identity, self.backlog(), utc_now()))
            delay = self.interval_s

    def _require_topic(self) -> None:
        """Never send to a topic the brokers do not have: kafka-python's producer would log an
        error for it ten times a second for as long as it lives."""
        admin = connect_admin(self.settings, client_id=self._client_id, timeout_s=SEND_TIMEOUT_S)
        try:
            if self.topic not in set(admin.list_topics()):
                raise LookupError(f"no topic {self.topic} on the brokers (KAFKA.STATUS_TOPIC)")
        finally:
            admin.close()

    def _connect(self) -> KafkaProducer:
        if self._producer is None:
            self._require_topic()
            options: dict[str, Any] = producer_options(
                self.settings,
                client_id=self._client_id,
                enable_idempotence=False,  # a plain write: no IdempotentWrite, no sequence state
                acks=1,
                linger_ms=0,
                max_block_ms=int(SEND_TIMEOUT_S * 1000),
                bootstrap_timeout_ms=int(SEND_TIMEOUT_S * 1000),
            )
            self._producer = KafkaProducer(**options)
        return self._producer

    def _send(self, value: bytes | None) -> bool:
        try:
            producer = self._connect()
            producer.send(self.topic, key=self.identity.instance.encode(), value=value).get(
                timeout=SEND_TIMEOUT_S
            )
        except Exception as exc:  # Kafka down, no such topic, no ACL: publishing goes on
            REPORTS.labels("failed").inc()
            self._close_producer()  # a topic deleted meanwhile: checked again before the next
            if not self._failing:
                error = f"{exc.__class__.__name__}: {exc}"[:300]
                log.warning("inbox status report not sent; retrying every interval",
                            topic=self.topic, error=error)  # fmt: skip
            self._failing = True
            return False
        REPORTS.labels("sent").inc()
        if self._failing:
            log.info("inbox status reports sent again", topic=self.topic)
        self._failing = False
        return True

    def stop(self) -> None:
        """Stop reporting and say so with a tombstone (best effort), then close."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(SEND_TIMEOUT_S + 5)
        if self._producer is not None:  # it reported: the tombstone goes where the reports went
            self._send(None)
        self._close_producer()

    def _close_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):  # a broken client: nothing more to do
                self._producer.close(timeout=2)
        self._producer = None
