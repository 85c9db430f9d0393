"""The publisher's Prometheus metrics (``streamsuite_publisher_*``)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

FILES = Counter(
    "streamsuite_publisher_files_total",
    "Files handled, by outcome: published, partial (some documents refused), refused",
    ["outcome"],
)
DOCUMENTS = Counter(
    "streamsuite_publisher_documents_total",
    "Documents handled, by outcome: published or refused",
    ["outcome"],
)
REFUSALS = Counter(
    "streamsuite_publisher_refusals_total",
    "Files or documents refused, by reason",
    ["reason"],
)
BYTES = Counter("streamsuite_publisher_bytes_total", "Bytes read from published files")
PUBLISH_SECONDS = Histogram(
    "streamsuite_publisher_publish_seconds",
    "Time to publish one batch of files in one Kafka transaction",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
FILE_LATENCY_SECONDS = Histogram(
    "streamsuite_publisher_file_latency_seconds",
    "From a file's last modification to its documents being committed to Kafka",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
BACKLOG = Gauge("streamsuite_publisher_inbox_backlog_files", "Files waiting in the inbox")
INBOX_OLDEST_AGE = Gauge(
    "streamsuite_publisher_inbox_oldest_file_age_seconds",
    "Age (since its last modification) of the oldest file waiting in the inbox; 0 when none",
)
LAST_PUBLISH = Gauge(
    "streamsuite_publisher_last_publish_timestamp_seconds",
    "When a batch of files was last committed to Kafka",
)
KAFKA_RETRIES = Counter(
    "streamsuite_publisher_kafka_retries_total", "Batches retried after a Kafka failure"
)


# Modification time (s since the epoch) of the oldest waiting file at the last scan. The age is
# computed when scraped, so it keeps growing while the loop is busy or waits out an outage.
_oldest_mtime: float | None = None


def oldest_age_s(oldest_mtime: float | None, now: float) -> float:
    return 0.0 if oldest_mtime is None else max(0.0, now - oldest_mtime)


def observe_inbox(mtimes_ns: Iterable[int]) -> None:
    """After a scan: the number of waiting files and the oldest one's modification time."""
    global _oldest_mtime
    mtimes = list(mtimes_ns)
    BACKLOG.set(len(mtimes))
    _oldest_mtime = min(mtimes) / 1e9 if mtimes else None


INBOX_OLDEST_AGE.set_function(lambda: oldest_age_s(_oldest_mtime, time.time()))
