"""The ingestor's Prometheus metrics, on a registry of its own so tests can run several."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_PREFIX = "streamsuite_ingestor"
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class Metrics:
    def __init__(self, registry: CollectorRegistry):
        self.records = Counter(
            f"{_PREFIX}_records",
            "Records newly stored, by kind (relational or unstructured)",
            ["kind"],
            registry=registry,
        )
        self.duplicates = Counter(
            f"{_PREFIX}_duplicates",
            "Messages whose record was already stored (re-sent or re-read), so skipped",
            registry=registry,
        )
        self.dead_letters = Counter(
            f"{_PREFIX}_dead_letters",
            "Dead letters newly stored in dead_letters, by reason",
            ["reason"],
            registry=registry,
        )
        self.refusals = Counter(
            f"{_PREFIX}_refusals",
            "Messages the ingestor refused and sent to the DLQ topic, by reason",
            ["reason"],
            registry=registry,
        )
        self.batch_size = Histogram(
            f"{_PREFIX}_batch_size_messages",
            "Messages per stored batch",
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
            registry=registry,
        )
        self.batch_duration = Histogram(
            f"{_PREFIX}_batch_duration_seconds",
            "Time from a batch's poll to its offset commit",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.end_to_end = Histogram(
            f"{_PREFIX}_end_to_end_seconds",
            "From a document's produced-at time to the commit of its batch",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.lag = Gauge(
            f"{_PREFIX}_consumer_lag_messages",
            "Messages not stored yet, up to the partition's last stable offset (no markers)",
            ["topic", "partition"],
            registry=registry,
        )
        self.retries = Counter(
            f"{_PREFIX}_batch_retries",
            "Batches put back for a retry because PostgreSQL or Kafka was unavailable",
            ["dependency"],
            registry=registry,
        )
        self.batch_bytes = Histogram(
            f"{_PREFIX}_batch_size_bytes",
            "Message bytes (key, value, headers) per stored batch",
            buckets=(1024, 16384, 131072, 1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20),
            registry=registry,
        )
        self.assigned_partitions = Gauge(
            f"{_PREFIX}_assigned_partitions",
            "Partitions of the records and DLQ topics this replica holds now",
            registry=registry,
        )
        self.last_fetch = Gauge(
            f"{_PREFIX}_last_fetch_timestamp_seconds",
            "When the consumer last received messages or confirmed it had nothing to fetch",
            registry=registry,
        )
        self.last_commit = Gauge(
            f"{_PREFIX}_last_commit_timestamp_seconds",
            "When the ingestor last committed a stored batch's offsets to Kafka",
            registry=registry,
        )
        self.consumer_rebuilds = Counter(
            f"{_PREFIX}_consumer_rebuilds",
            "Kafka consumers closed and made anew, by reason",
            ["reason"],
            registry=registry,
        )
        self.unreadable = Counter(
            f"{_PREFIX}_unreadable_messages",
            "Messages the Kafka client could not read, dead-lettered by their coordinates",
            registry=registry,
        )
