"""Consumer lag per partition for the Status page, from Kafka itself (the web UI talks to Kafka
and PostgreSQL only, never to another service): the committed offsets of every consumer group
that has any on the records topic, against each partition's last stable offset (what a
``read_committed`` consumer such as the ingestor can read, so open transactions are no
backlog). Commit markers take offsets but are no messages: a small gap is read and its
messages counted (a caught-up group's gap of one marker is a lag of 0); a gap too large to
read quickly is shown as the offset gap, marked approximate. Read at
most every ``CACHE_S`` seconds, so a Status page refreshing in many browsers costs Kafka one
look. The Kafka I/O is here; the computation is ``streamsuite_common.lag``, shared with the
ingestor's lag metric."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streamsuite_common.config import KafkaSettings
from streamsuite_common.kafka import connect_admin, connect_consumer
from streamsuite_common.lag import PartitionLag, lag_rows, partition_lag

CACHE_S = 10.0
# An offset gap this small is read to count its messages: commit markers take offsets too, so
# a group that is caught up has a gap of one marker and a lag of 0.
COUNT_UP_TO = 1000
COUNT_BUDGET_S = 2.0
# Groups asked about (in one request, every CACHE_S at most); the page says when a broker has
# more. A broker shared by thousands of groups is not this page's job.
MAX_GROUPS = 1000


@dataclasses.dataclass(frozen=True)
class LagReport:
    rows: list[PartitionLag]
    error: str | None = None
    topic: str = ""
    groups_left_out: int = 0


class LagReader:
    """Kafka clients made on first use and kept; one read at a time, cached."""

    def __init__(self, settings: KafkaSettings):
        self.settings = settings
        self._lock = threading.Lock()
        self._admin: Any = None
        self._consumer: KafkaConsumer | None = None
        self._cached: tuple[float, LagReport] | None = None

    def report(self) -> LagReport:
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < CACHE_S:
                return self._cached[1]
            try:
                rows, left_out = self._read()
                report = LagReport(rows, topic=self.settings.topic, groups_left_out=left_out)
            except Exception as exc:  # Kafka down or slow: the page says so, nothing else
                self.close_clients()
                report = LagReport([], f"{exc.__class__.__name__}: {str(exc)[:160]}",
                                   self.settings.topic)  # fmt: skip
            self._cached = (time.monotonic(), report)
            return report

    def _read(self) -> tuple[list[PartitionLag], int]:
        topic = self.settings.topic
        if self._admin is None:
            self._admin = connect_admin(self.settings, timeout_s=5)
        if self._consumer is None:  # no group: it only asks for offsets, joins nothing
            quick = dataclasses.replace(self.settings, connect_timeout_s=5.0)
            self._consumer = connect_consumer(quick, group_id=None)  # type: ignore[arg-type]
        partitions = self._consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        ends = {tp.partition: offset for tp, offset in self._consumer.end_offsets(tps).items()}
        committed: dict[str, dict[int, int]] = {}
        groups = sorted(group["group_id"] for group in self._admin.list_groups())
        if groups and tps:
            # One OffsetFetch for all groups (Kafka 3.0+), for this topic's partitions only.
            asked = {group: tps for group in groups[:MAX_GROUPS]}
            for group, offsets in self._admin.list_group_offsets(asked).items():
                mine = {tp.partition: meta.offset for tp, meta in offsets.items()
                        if tp.topic == topic and meta.offset >= 0}  # fmt: skip
                if mine:  # a group that never committed here is not a reader of this topic
                    committed[group] = mine
        rows = [self._counted(row) for row in lag_rows(committed, ends)]
        return rows, max(0, len(groups) - MAX_GROUPS)

    def _counted(self, row: PartitionLag) -> PartitionLag:
        gap = partition_lag(row.end, row.committed)
        if not gap or gap > COUNT_UP_TO:
            return row
        consumer = self._consumer
        assert consumer is not None
        tp = TopicPartition(self.settings.topic, row.partition)
        consumer.assign([tp])
        consumer.seek(tp, row.committed)
        count, deadline = 0, time.monotonic() + COUNT_BUDGET_S
        # read_committed: only the messages of committed transactions, markers skipped
        while consumer.position(tp) < row.end and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200, max_records=COUNT_UP_TO).values():
                count += sum(1 for record in records if record.offset < row.end)
        if consumer.position(tp) < row.end:
            return row  # not read in time: the offset gap it is
        return dataclasses.replace(row, messages=count)

    def close_clients(self) -> None:
        for client in (self._consumer, self._admin):
            if client is not None:
                with contextlib.suppress(Exception):  # a broken client: nothing more to do
                    client.close()
        self._admin = self._consumer = None

    def close(self) -> None:
        with self._lock:
            self.close_clients()
