"""The publisher's Prometheus metrics (``streamsuite_publisher_*``)."""

from __future__ import annotations

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
BACKLOG = Gauge("streamsuite_publisher_inbox_backlog", "Files waiting in the inbox")
KAFKA_RETRIES = Counter(
    "streamsuite_publisher_kafka_retries_total", "Batches retried after a Kafka failure"
)
