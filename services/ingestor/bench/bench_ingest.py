"""Ingest throughput against the running local stack, beside the raw ceilings of the same run.

    .venv/bin/python services/ingestor/bench/bench_ingest.py [--documents 100000]

1. pre-fills a topic of its own with small documents (contract headers, a third relational);
2. ceiling A: consumes the topic with the ingestor's consumer settings, storing nothing;
3. ceiling B: bulk-inserts the same rows with the ingestor's store, no Kafka;
4. ingest: the ingestor itself, topic -> PostgreSQL, from start-up to the last row stored.

Topics and schemas it creates are removed at the end. Needs `make up` (or `devstack up`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry
from psycopg2 import sql

from devstack.settings import StackSettings
from devstack.stack import read_env_file
from streamsuite_common.config import (
    DatabaseSettings,
    HttpSettings,
    KafkaSettings,
    LogSettings,
)
from streamsuite_common.contract import document_headers
from streamsuite_common.db import connect
from streamsuite_common.kafka import (
    connect_admin,
    connect_consumer,
    connect_producer,
    ensure_topics,
)
from streamsuite_ingestor.config import IngestorConfig, IngestorSettings
from streamsuite_ingestor.decode import Row, decode_document
from streamsuite_ingestor.metrics import Metrics
from streamsuite_ingestor.migrate import migrate
from streamsuite_ingestor.routes import all_routes
from streamsuite_ingestor.service import Ingestor
from streamsuite_ingestor.store import Store

PARTITIONS = 3


@dataclasses.dataclass
class Message:
    """What decode_document reads of a Kafka record, for the no-Kafka ceiling."""

    topic: str
    partition: int
    offset: int
    value: bytes
    headers: list
    timestamp: int = -1
    timestamp_type: int = 0
    key: bytes | None = None


def documents(n: int) -> list[tuple[bytes, list]]:
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        doc = (
            {"name": f"person {i}", "age": i % 100}
            if i % 3 == 0
            else {"sensor": f"t-{i % 50}", "celsius": 20 + (i % 10) / 10, "seq": i}
        )
        value = json.dumps(doc).encode()
        headers = document_headers(
            source=f"bench/{i // 10}.jsonl", sha256=f"{i // 10:064x}", doc_index=i % 10,
            produced_at=now,
        )  # fmt: skip
        out.append((value, headers))
    return out


def prefill(kafka: KafkaSettings, topic: str, docs: list[tuple[bytes, list]]) -> float:
    started = time.monotonic()
    producer = connect_producer(kafka, linger_ms=20, batch_size=256 * 1024)
    for value, headers in docs:
        producer.send(topic, value=value, headers=headers)
    producer.flush(timeout=300)
    producer.close()
    return time.monotonic() - started


def consume_only(kafka: KafkaSettings, topic: str, n: int, batch_size: int) -> float:
    consumer = connect_consumer(
        kafka, topic, group_id=f"bench-raw-{uuid.uuid4().hex[:8]}", max_poll_records=batch_size
    )
    seen, started = 0, None
    deadline = time.monotonic() + 600
    while seen < n and time.monotonic() < deadline:
        polled = consumer.poll(timeout_ms=500, max_records=batch_size)
        if polled and started is None:
            started = time.monotonic()
        seen += sum(len(batch) for batch in polled.values())
    elapsed = time.monotonic() - (started or time.monotonic())
    consumer.close(autocommit=False)
    assert seen >= n, f"consumed {seen} of {n}"
    return elapsed


def insert_only(
    database: DatabaseSettings, docs: list[tuple[bytes, list]], batch_size: int
) -> float:
    conn = connect(database, application_name="bench")
    migrate(conn, database.schema)
    conn.close()
    routes = all_routes()
    rows = []
    for offset, (value, headers) in enumerate(docs):
        row = decode_document(Message("bench", 0, offset, value, headers), routes, 1 << 20)
        assert isinstance(row, Row)
        rows.append(row)
    store = Store(database, routes, application_name="bench")
    started = time.monotonic()
    for start in range(0, len(rows), batch_size):
        store.write(rows[start : start + batch_size], [])
    elapsed = time.monotonic() - started
    store.close()
    return elapsed


def count(database: DatabaseSettings) -> int:
    conn = connect(database, application_name="bench-count")
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT to_regclass('records') IS NOT NULL")
            if not cur.fetchone()[0]:
                return 0
            cur.execute("SELECT count(*) FROM records")
            return cur.fetchone()[0]
    finally:
        conn.close()


def ingest(cfg: IngestorConfig, n: int) -> tuple[float, float]:
    """(seconds from start-up to the last row, seconds from the first row to the last)."""
    stop = threading.Event()
    ingestor = Ingestor(cfg, all_routes(), Metrics(CollectorRegistry()), stop=stop)
    thread = threading.Thread(target=ingestor.run, daemon=True)
    started = time.monotonic()
    thread.start()
    first = None
    deadline = started + 900
    while time.monotonic() < deadline:
        stored = count(cfg.database)
        if stored and first is None:
            first = time.monotonic()
        if stored >= n:
            break
        time.sleep(0.05)
    done = time.monotonic()
    stop.set()
    thread.join(timeout=60)
    assert count(cfg.database) == n, "not every document was stored"
    return done - started, done - (first or started)


def drop_schema(database: DatabaseSettings) -> None:
    conn = connect(database, application_name="bench-cleanup")
    with conn, conn.cursor() as cur:
        name = sql.Identifier(database.schema)
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(name))
    conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=IngestorSettings.batch_size)
    args = parser.parse_args()

    env = read_env_file(StackSettings.from_env().env_file)
    kafka = KafkaSettings(bootstrap_servers=(env["DEVSTACK_KAFKA_BOOTSTRAP"],))
    base = DatabaseSettings(
        host=env["DEVSTACK_PG_HOST"], port=int(env["DEVSTACK_PG_PORT"]),
        dbname=env["DEVSTACK_PG_DBNAME"], dbuser=env["DEVSTACK_WRITER_ROLE"],
        user_pwd=Path(env["DEVSTACK_WRITER_PASSWORD_FILE"]).read_text().strip(),
        sslmode="disable",
    )  # fmt: skip
    tag = uuid.uuid4().hex[:8]
    topic, dlq = f"bench.records.{tag}", f"bench.dlq.{tag}"
    insert_db = dataclasses.replace(base, schema=f"bench_insert_{tag}")
    ingest_db = dataclasses.replace(base, schema=f"bench_ingest_{tag}")
    admin = connect_admin(kafka)
    ensure_topics(admin, [topic], partitions=PARTITIONS)
    ensure_topics(admin, [dlq], partitions=1)
    n = args.documents
    try:
        docs = documents(n)
        produce_s = prefill(kafka, topic, docs)
        consume_s = consume_only(kafka, topic, n, args.batch_size)
        insert_s = insert_only(insert_db, docs, args.batch_size)
        cfg = IngestorConfig(
            kafka=dataclasses.replace(kafka, topic=topic, dlq_topic=dlq),
            database=ingest_db,
            log=LogSettings(level="warning", format="json"),
            http=HttpSettings(port=0),
            ingestor=IngestorSettings(
                group_id=f"bench-ingestor-{tag}", batch_size=args.batch_size, reader_role=""
            ),
        )
        total_s, steady_s = ingest(cfg, n)
    finally:
        for database in (insert_db, ingest_db):
            drop_schema(database)
        admin.delete_topics([topic, dlq])
        admin.close()

    rate = {
        "prefill (produce)": n / produce_s,
        "ceiling A: consume only": n / consume_s,
        "ceiling B: bulk insert only": n / insert_s,
        "ingest (start-up included)": n / total_s,
        "ingest (first row to last)": n / steady_s,
    }
    print(f"{n} documents, {PARTITIONS} partitions, batch size {args.batch_size}")
    for name, value in rate.items():
        print(f"  {name:<30} {value:>10,.0f} records/s")
    ceiling = min(rate["ceiling A: consume only"], rate["ceiling B: bulk insert only"])
    print(
        f"  ratio ingest / lower ceiling   {rate['ingest (first row to last)'] / ceiling:>10.2f} "
        f"(start-up included: {rate['ingest (start-up included)'] / ceiling:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
