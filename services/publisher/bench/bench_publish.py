"""Publisher throughput against the real broker of the local stack (`make bench`).

Measures, in one run and against the same broker:
  1. 10,000 small JSON files through the publisher (claim, read, parse, publish, move);
  2. one JSON Lines file of 100,000 lines through the publisher;
  3. the raw producer rate for the same messages: kafka-python with the publisher's producer
     settings (acks=all, idempotent, compressed, transactions of the same size), no files.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

from kafka import KafkaProducer

from devstack.settings import StackSettings
from devstack.stack import read_env_file
from streamsuite_common.config import KafkaSettings, LogSettings, load_config
from streamsuite_common.contract import utc_now
from streamsuite_common.kafka import connect_admin, ensure_topics, producer_options
from streamsuite_common.logs import configure_logging
from streamsuite_common.publishing.formats import parse_file
from streamsuite_common.publishing.messages import file_messages, sha256_hex
from streamsuite_common.publishing.producer import TRANSACTION_TIMEOUT_MS, TransactionalPublisher
from streamsuite_common.shutdown import Shutdown
from streamsuite_publisher.config import DEFAULTS, PublisherConfig
from streamsuite_publisher.service import PublisherService
from streamsuite_publisher.spool import Spool


def small_document(n: int) -> dict:
    return {"name": f"person-{n}", "age": n % 100, "tags": ["bench", str(n % 7)]}


def run_publisher(kafka: KafkaSettings, topic: str, inbox: Path, batch_files: int) -> float:
    tree = {
        "KAFKA": {"BOOTSTRAP_SERVERS": ",".join(kafka.bootstrap_servers), "TOPIC": topic,
                  "DLQ_TOPIC": f"{topic}.dlq"},
        "PUBLISHER": {"INBOX": str(inbox), "STABLE_S": 0, "BATCH_FILES": batch_files},
    }  # fmt: skip
    cfg = load_config(PublisherConfig, tree, {}, DEFAULTS)
    shutdown = Shutdown()
    spool = Spool(inbox, delete_published=True)
    publisher = TransactionalPublisher(cfg.kafka, f"bench-{uuid.uuid4().hex}", shutdown.event)
    publisher.connect()
    started = time.perf_counter()
    PublisherService(cfg, spool, publisher, shutdown).run(once=True)
    elapsed = time.perf_counter() - started
    publisher.close()
    return elapsed


def raw_producer(
    kafka: KafkaSettings, topic: str, files: list[tuple[str, bytes]], per_tx: int
) -> float:
    """The same messages, produced straight from memory in transactions of ``per_tx`` files."""
    batches, current = [], []
    for name, data in files:
        parsed = parse_file(name, data)
        current += file_messages(origin="publisher", source=name, sha256=sha256_hex(data),
                                 parsed=parsed, topic=topic, dlq_topic=f"{topic}.dlq",
                                 produced_at=utc_now())  # fmt: skip
        if len(current) >= per_tx:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    producer = KafkaProducer(**producer_options(
        kafka, transactional_id=f"bench-raw-{uuid.uuid4().hex}",
        transaction_timeout_ms=TRANSACTION_TIMEOUT_MS, batch_size=256 * 1024,
    ))  # fmt: skip
    producer.init_transactions()
    started = time.perf_counter()
    for batch in batches:
        producer.begin_transaction()
        for m in batch:
            producer.send(m.topic, key=m.key, value=m.value, headers=m.headers)
        producer.commit_transaction()
    elapsed = time.perf_counter() - started
    producer.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    configure_logging("bench", LogSettings(level="warning", format="console"))
    env = read_env_file(StackSettings.from_env().env_file)
    kafka = KafkaSettings(bootstrap_servers=(env["DEVSTACK_KAFKA_BOOTSTRAP"],))
    admin = connect_admin(kafka)
    run_id = uuid.uuid4().hex[:8]
    topics = {
        name: f"bench.{run_id}.{name}" for name in ("files", "lines", "raw-files", "raw-lines")
    }
    ensure_topics(admin, [*topics.values(), *(f"{t}.dlq" for t in topics.values())], partitions=3)

    files = [(f"f-{n:05d}.json", json.dumps(small_document(n)).encode()) for n in range(args.files)]
    lines = "\n".join(json.dumps(small_document(n)) for n in range(args.lines)).encode()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        inbox = Path(tmp) / "files"
        inbox.mkdir()
        for name, data in files:
            (inbox / name).write_bytes(data)
        elapsed = run_publisher(kafka, topics["files"], inbox, batch_files=100)
        raw = raw_producer(kafka, topics["raw-files"], files, per_tx=100)
        results.append(("10,000 small files", args.files, args.files, elapsed, raw))

        inbox = Path(tmp) / "lines"
        inbox.mkdir()
        (inbox / "big.jsonl").write_bytes(lines)
        elapsed = run_publisher(kafka, topics["lines"], inbox, batch_files=1)
        raw = raw_producer(kafka, topics["raw-lines"], [("big.jsonl", lines)], per_tx=args.lines)
        results.append((f"{args.lines:,}-line JSON Lines file", 1, args.lines, elapsed, raw))
    admin.delete_topics([*topics.values(), *(f"{t}.dlq" for t in topics.values())])
    admin.close()

    print("publisher throughput (docs/s) beside the raw producer rate of the same messages")
    print(f"{'scenario':<32} {'files/s':>9} {'docs/s':>9} {'raw docs/s':>11} {'ratio':>6}")
    for name, nfiles, ndocs, elapsed, raw in results:
        print(f"{name:<32} {nfiles / elapsed:>9,.1f} {ndocs / elapsed:>9,.0f} "
              f"{ndocs / raw:>11,.0f} {raw / elapsed:>6.0%}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
