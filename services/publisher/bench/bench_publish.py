"""Publisher throughput against the real broker of the local stack (`make bench`), beside
kafka-python's raw producer rate for the same messages, measured in the same run.

Contenders, interleaved run by run (so the shared machine's noise hits them alike), median and
spread of ``--runs``:

- publisher, JSON Lines: ``--jsonl-files`` files of ``--lines`` lines each in the inbox, the
  publisher's defaults (transactions of at most BATCH_FILES files / BATCH_DOCUMENTS documents,
  published files moved to processed/), from the first claim until the inbox is empty;
- raw producer, JSON Lines: kafka-python's ``KafkaProducer`` with the publisher's producer
  settings (acks=all, idempotent, compressed, transactional) producing the same messages,
  built beforehand, in transactions of the same files: the ceiling of the producer itself;
- publisher, small files: ``--files`` small JSON files, moved to processed/ (files/s);
- raw producer, small files: their messages, in transactions of BATCH_FILES files.

Target (issue 15): the publisher's JSON Lines rate at least 0.85 x the raw producer's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaProducer

from devstack.settings import StackSettings
from devstack.stack import read_env_file
from streamsuite_common.config import KafkaSettings, LogSettings, load_config
from streamsuite_common.contract import utc_now
from streamsuite_common.kafka import connect_admin, ensure_topics, producer_options
from streamsuite_common.logs import configure_logging
from streamsuite_common.publishing.formats import Limits, parse_file
from streamsuite_common.publishing.messages import OutMessage, file_messages, sha256_hex
from streamsuite_common.publishing.producer import TransactionalPublisher, transactional_options
from streamsuite_common.shutdown import Shutdown
from streamsuite_publisher.config import DEFAULTS, PublisherConfig
from streamsuite_publisher.service import PublisherService
from streamsuite_publisher.spool import PROCESSED, Spool

TARGET = 0.85
Files = list[tuple[str, bytes]]


def small_document(n: int) -> dict:
    return {"name": f"person-{n}", "age": n % 100, "tags": ["bench", str(n % 7)]}


def jsonl_document(n: int) -> dict:
    return {"name": f"person-{n}", "age": n % 100, "city": "Lisbon",
            "address": {"street": f"Rua {n % 977}", "number": n % 300},
            "scores": [n % 10, n % 13, n % 17], "active": n % 2 == 0}  # fmt: skip


def publisher_config(kafka: KafkaSettings, topic: str, inbox: Path) -> PublisherConfig:
    tree = {
        "KAFKA": {"BOOTSTRAP_SERVERS": ",".join(kafka.bootstrap_servers), "TOPIC": topic,
                  "DLQ_TOPIC": f"{topic}.dlq"},
        "PUBLISHER": {"INBOX": str(inbox), "STABLE_S": 0},
    }  # fmt: skip
    return load_config(PublisherConfig, tree, {}, DEFAULTS)


def run_publisher(kafka: KafkaSettings, topic: str, inbox: Path, files: Files) -> float:
    """Seconds from the first claim until every file is published and moved to processed/."""
    for name, data in files:
        (inbox / name).write_bytes(data)
    cfg = publisher_config(kafka, topic, inbox)
    shutdown = Shutdown()
    publisher = TransactionalPublisher(cfg.kafka, f"bench-{uuid.uuid4().hex}", shutdown.event)
    publisher.connect()
    started = time.perf_counter()
    PublisherService(cfg, Spool(inbox), publisher, shutdown).run(once=True)
    elapsed = time.perf_counter() - started
    publisher.close()
    moved = sum(1 for _ in (inbox / PROCESSED).rglob("*.json*"))
    assert moved == len(files), f"{moved} of {len(files)} files in processed/"
    return elapsed


def transactions(cfg: PublisherConfig, topic: str, files: Files) -> list[list[OutMessage]]:
    """The messages of ``files`` grouped as the publisher groups them into transactions."""
    settings = cfg.publisher
    limits = Limits(max_documents=settings.batch_documents)
    batches: list[list[OutMessage]] = [[]]
    count = 0
    for name, data in files:
        messages = file_messages(origin="publisher", source=name, sha256=sha256_hex(data),
                                 parsed=parse_file(name, data, limits), topic=topic,
                                 dlq_topic=f"{topic}.dlq", produced_at=utc_now())  # fmt: skip
        full = count == settings.batch_files
        if batches[-1] and (full or len(batches[-1]) + len(messages) > settings.batch_documents):
            batches.append([])
            count = 0
        batches[-1] += messages
        count += 1
    return batches


def run_raw(kafka: KafkaSettings, batches: list[list[OutMessage]]) -> float:
    """kafka-python's producer alone: the same messages from memory, the same transactions."""
    options = transactional_options(f"bench-raw-{uuid.uuid4().hex}")
    producer = KafkaProducer(**producer_options(kafka, **options))
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


def spread(values: list[float]) -> str:
    return f"{min(values):,.0f}-{max(values):,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=5_000, help="small JSON files")
    parser.add_argument("--jsonl-files", type=int, default=10, help="JSON Lines files")
    parser.add_argument("--lines", type=int, default=10_000, help="lines per JSON Lines file")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    configure_logging("bench", LogSettings(level="warning", format="console"))
    env = read_env_file(StackSettings.from_env().env_file)
    kafka = KafkaSettings(bootstrap_servers=(env["DEVSTACK_KAFKA_BOOTSTRAP"],))
    admin = connect_admin(kafka)
    run_id = uuid.uuid4().hex[:8]
    names = ("publisher-jsonl", "raw-jsonl", "publisher-files", "raw-files")
    topics = {name: f"bench.{run_id}.{name}" for name in names}
    all_topics = [*topics.values(), *(f"{t}.dlq" for t in topics.values())]
    ensure_topics(admin, all_topics, partitions=3)

    jsonl = [
        (f"part-{f:03d}.jsonl",
         "\n".join(json.dumps(jsonl_document(f * args.lines + n)) for n in range(args.lines))
         .encode())
        for f in range(args.jsonl_files)
    ]  # fmt: skip
    small = [(f"f-{n:05d}.json", json.dumps(small_document(n)).encode()) for n in range(args.files)]
    cfg = publisher_config(kafka, "unused", Path("/nonexistent"))
    raw_jsonl = transactions(cfg, topics["raw-jsonl"], jsonl)
    raw_small = transactions(cfg, topics["raw-files"], small)

    contenders: dict[str, Callable[[Path], float]] = {
        "publisher-jsonl": lambda d: run_publisher(kafka, topics["publisher-jsonl"], d, jsonl),
        "raw-jsonl": lambda d: run_raw(kafka, raw_jsonl),
        "publisher-files": lambda d: run_publisher(kafka, topics["publisher-files"], d, small),
        "raw-files": lambda d: run_raw(kafka, raw_small),
    }
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for name, contender in contenders.items():
                inbox = Path(tmp) / f"{name}-{run}"
                inbox.mkdir()
                seconds[name].append(contender(inbox))
    admin.delete_topics(all_topics)
    admin.close()

    docs = {"publisher-jsonl": args.jsonl_files * args.lines, "raw-jsonl": args.jsonl_files
            * args.lines, "publisher-files": args.files, "raw-files": args.files}  # fmt: skip
    nfiles = {"publisher-jsonl": args.jsonl_files, "raw-jsonl": args.jsonl_files,
              "publisher-files": args.files, "raw-files": args.files}  # fmt: skip
    rates = {name: [docs[name] / s for s in values] for name, values in seconds.items()}
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(f"publisher vs kafka-python's raw producer, same broker, interleaved, median of "
          f"{args.runs} (spread)")  # fmt: skip
    print(f"{'contender':<18} {'docs/s':>9} {'spread docs/s':>17} {'files/s':>9}")
    for name in contenders:
        files_s = median[name] * nfiles[name] / docs[name]
        print(f"{name:<18} {median[name]:>9,.0f} {spread(rates[name]):>17} {files_s:>9,.1f}")
    jsonl_ratio = median["publisher-jsonl"] / median["raw-jsonl"]
    files_ratio = median["publisher-files"] / median["raw-files"]
    verdict = "met" if jsonl_ratio >= TARGET else "MISSED"
    print(f"JSON Lines: publisher = {jsonl_ratio:.2f} x raw producer "
          f"(target >= {TARGET} x: {verdict})")  # fmt: skip
    print(f"small files (moved to processed/): publisher = {files_ratio:.2f} x raw producer")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
