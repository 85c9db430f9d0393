"""The publishers' inbox backlog for the Status page, from Kafka: each publisher reports
``{instance, host, inbox, spool, inbox_files, oldest_waiting_s, at}`` every 10 s to the
compacted status topic, keyed by instance (streamsuite_publisher.status); a tombstone says it
stopped. The web UI reads it with a group-less consumer: every partition, from the first
message of the last ``SILENT_AFTER_S`` (+ slack for clocks) to the end offsets, keeps the
newest event per instance and hides instances silent for longer. Publishers that share an inbox
(the same ``spool``) report the same files: a total counts each inbox once.

The read runs in a worker thread of its own; a page waits at most ``PAGE_WAIT_S`` for it (a
slow Kafka shows as such, the read finishes for the next page) and a result is reused for
``CACHE_S``, so many browsers refreshing Status cost Kafka one read."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import math
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streamsuite_common.config import KafkaSettings
from streamsuite_common.kafka import connect_consumer

SILENT_AFTER_S = 120.0  # a publisher that has not reported for this long is not shown
CLOCK_SLACK_S = 60.0  # read a little further back: the publishers' clocks are not ours
CACHE_S = 10.0
PAGE_WAIT_S = 4.0
READ_BUDGET_S = 3.0  # reading the messages themselves, once the offsets are known
SHOWN_CHARS = 256  # of a name, host or inbox: the page stays small whatever a report holds
MAX_FILES = 2**53  # a count beyond this is not a publisher's (nor exact in JSON)


class BadStatus(ValueError):
    """A status event that is not what a publisher sends."""


@dataclasses.dataclass(frozen=True)
class PublisherStatus:
    instance: str
    host: str
    inbox: str
    spool: str
    inbox_files: int
    oldest_waiting_s: float
    at: datetime

    def age_s(self, now: datetime) -> float:
        return max(0.0, (now - self.at).total_seconds())


@dataclasses.dataclass(frozen=True)
class BacklogTotal:
    files: int
    oldest_waiting_s: float
    inboxes: int


@dataclasses.dataclass(frozen=True)
class BacklogReport:
    publishers: list[PublisherStatus]
    total: BacklogTotal
    topic: str
    error: str | None = None
    unreadable: int = 0  # events that were not a publisher's status (skipped)
    incomplete: bool = False  # not everything up to the end offsets was read in time


def _text(event: Mapping[str, Any], name: str) -> str:
    value = event.get(name, "")
    if not isinstance(value, str):
        raise BadStatus(f"{name}: expected text")
    return value


def _number(event: Mapping[str, Any], name: str) -> float:
    value = event.get(name)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value < math.inf  # NaN fails both comparisons; 1e400 parses as inf
    ):
        raise BadStatus(f"{name}: expected a finite number >= 0")
    return value


def parse_status(key: bytes | None, value: bytes) -> PublisherStatus:
    """Pure: one status event's value (its key names the instance when the value does not)."""
    try:
        event = json.loads(value)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadStatus(f"not JSON: {str(exc)[:80]}") from exc
    if not isinstance(event, dict):
        raise BadStatus("not a JSON object")
    instance = _text(event, "instance") or (key or b"").decode("utf-8", "replace")
    at_text = _text(event, "at")
    try:
        at = datetime.fromisoformat(at_text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadStatus(f"at: not a time: {at_text[:40]!r}") from exc
    if at.tzinfo is None:
        raise BadStatus("at: no time zone")
    files = _number(event, "inbox_files")
    if files != int(files) or files > MAX_FILES:
        raise BadStatus(f"inbox_files: expected a whole number up to {MAX_FILES}")
    inbox = _text(event, "inbox")
    return PublisherStatus(
        instance=instance[:SHOWN_CHARS],
        host=_text(event, "host")[:SHOWN_CHARS],
        inbox=inbox[:SHOWN_CHARS],
        # Compared only (inboxes counted once in the total), never shown: kept whole.
        spool=_text(event, "spool") or inbox or instance,
        inbox_files=int(files),
        oldest_waiting_s=float(_number(event, "oldest_waiting_s")),
        at=at,
    )


def newest_per_instance(
    events: Iterable[tuple[bytes | None, bytes | None]],
) -> tuple[dict[str, PublisherStatus], int]:
    """Pure: ``(key, value)`` in offset order (one key lives on one partition) into the newest
    status per instance; a tombstone (value None) removes its instance. Also the count of
    events that could not be read (skipped, never fatal)."""
    newest: dict[str, PublisherStatus] = {}
    unreadable = 0
    for key, value in events:
        if value is None:
            if key is not None:
                newest.pop(key.decode("utf-8", "replace"), None)
            continue
        try:
            status = parse_status(key, value)
        except BadStatus:
            unreadable += 1
            continue
        newest[(key or b"").decode("utf-8", "replace") or status.instance] = status
    return newest, unreadable


def visible(
    statuses: Iterable[PublisherStatus], now: datetime, silent_after_s: float = SILENT_AFTER_S
) -> list[PublisherStatus]:
    """Pure: the publishers heard from in the last ``silent_after_s``, by instance."""
    shown = [s for s in statuses if (now - s.at).total_seconds() <= silent_after_s]
    return sorted(shown, key=lambda s: s.instance)


def total(statuses: Iterable[PublisherStatus]) -> BacklogTotal:
    """Pure: every inbox counted once (its newest report), summed; the oldest file of all."""
    per_inbox: dict[str, PublisherStatus] = {}
    for status in statuses:
        known = per_inbox.get(status.spool)
        if known is None or status.at > known.at:
            per_inbox[status.spool] = status
    reports = per_inbox.values()
    return BacklogTotal(
        files=sum(s.inbox_files for s in reports),
        oldest_waiting_s=max((s.oldest_waiting_s for s in reports), default=0.0),
        inboxes=len(per_inbox),
    )


def report_of(
    newest: Mapping[str, PublisherStatus], now: datetime, topic: str, **extra: Any
) -> BacklogReport:
    shown = visible(newest.values(), now)
    return BacklogReport(shown, total(shown), topic, **extra)


class BacklogReader:
    """One group-less consumer, made on first use and kept, read in a worker thread."""

    def __init__(self, settings: KafkaSettings):
        self.settings = settings
        self.topic = settings.effective_status_topic
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="web-backlog")
        self._running: concurrent.futures.Future[BacklogReport] | None = None
        self._cached: tuple[float, BacklogReport] | None = None
        self._consumer: KafkaConsumer | None = None

    def report(self, wait_s: float = PAGE_WAIT_S) -> BacklogReport:
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < CACHE_S:
                return self._cached[1]
            if self._running is None:
                self._running = self._pool.submit(self._read_safely)
            running = self._running
        try:
            return running.result(timeout=wait_s)
        except concurrent.futures.TimeoutError:
            with self._lock:
                if self._cached is not None:  # the last one read; this read goes on for the next
                    return self._cached[1]
            return BacklogReport([], total([]), self.topic,
                                 error=f"Kafka did not answer within {wait_s:g} s")  # fmt: skip

    def _read_safely(self) -> BacklogReport:
        try:
            report = self._read()
        except Exception as exc:  # Kafka down, no topic, no ACL: the page says so, nothing else
            self._close_consumer()
            report = BacklogReport([], total([]), self.topic,
                                   error=f"{exc.__class__.__name__}: {str(exc)[:160]}")  # fmt: skip
        with self._lock:
            self._cached = (time.monotonic(), report)
            self._running = None
        return report

    def _read(self) -> BacklogReport:
        if self._consumer is None:  # no group: it joins nothing, commits nothing
            quick = dataclasses.replace(self.settings, connect_timeout_s=5.0)
            self._consumer = connect_consumer(quick, group_id=None)  # type: ignore[arg-type]
        consumer = self._consumer
        partitions = consumer.partitions_for_topic(self.topic)
        if not partitions:
            raise LookupError(f"no topic {self.topic} (KAFKA.STATUS_TOPIC) on the brokers")
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        since_ms = int((time.time() - SILENT_AFTER_S - CLOCK_SLACK_S) * 1000)
        starts = consumer.offsets_for_times({tp: since_ms for tp in tps})
        ends = consumer.end_offsets(tps)
        first = {}
        for tp in tps:
            found = starts.get(tp)
            if found is not None and found.offset < ends[tp]:  # None: nothing that recent
                first[tp] = found.offset
        left = {tp: ends[tp] for tp in first}
        if first:
            consumer.assign(list(first))
            for tp, offset in first.items():
                consumer.seek(tp, offset)
        events: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + READ_BUDGET_S
        while left and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=200).items():
                if tp not in left:
                    continue
                events += [(r.key, r.value) for r in records if r.offset < left[tp]]
            left = {tp: end for tp, end in left.items() if consumer.position(tp) < end}
        newest, unreadable = newest_per_instance(events)
        now = datetime.now(UTC)
        return report_of(newest, now, self.topic, unreadable=unreadable, incomplete=bool(left))

    def _close_consumer(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):  # a broken client: nothing more to do
                self._consumer.close()
        self._consumer = None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._close_consumer()


def format_age(seconds: float) -> str:
    """Pure: a duration for people, two units at most: ``8 s``, ``5 min 3 s``, ``2 h 10 min``."""
    left = max(0, int(seconds))
    units = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
    for index, (unit, size) in enumerate(units[:-1]):
        if left >= size:
            smaller, small_size = units[index + 1]
            rest = (left % size) // small_size
            return f"{left // size} {unit}" + (f" {rest} {smaller}" if rest else "")
    return f"{left} s"


def rows(report: BacklogReport, now: datetime) -> list[dict[str, Any]]:
    """Pure: the Status table's rows, one per publisher instance."""
    return [
        {
            "instance": s.instance,
            "host": s.host,
            "inbox": s.inbox,
            "files": s.inbox_files,
            "oldest": format_age(s.oldest_waiting_s) if s.inbox_files else "—",
            "oldest_s": s.oldest_waiting_s,
            "reported": f"{format_age(s.age_s(now))} ago",
        }
        for s in report.publishers
    ]
