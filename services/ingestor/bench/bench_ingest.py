"""Ingest throughput of the ingestor process against the running local stack, beside ceilings.

    .venv/bin/python services/ingestor/bench/bench_ingest.py [--replicas 1] [--gin-compare]
    BENCH_DOCUMENTS=50000 .venv/bin/python services/ingestor/bench/bench_ingest.py

The documents of issue 15: 200,000 (BENCH_DOCUMENTS or --documents for fewer) in 3
partitions with the publisher's headers (source, sha256, doc-index, content-type,
produced-at; 100 documents a file), half ``{name, age, city}`` (the relational route), half
nested JSON of 300-600 bytes.

1. pre-fills a topic of its own;
2. ceiling: consumes the topic with kafka-python, storing nothing;
3. ceilings: the ingestor's Store writes the decoded rows (no Kafka) into the real table and
   indexes, by COPY into a staging table + INSERT ... SELECT and by multi-row INSERT;
4. ingest: ``python -m streamsuite_ingestor --cfg FILE`` as N processes of one group; rates
   from process start to the last row and from the first row to the last; CPU seconds per
   1,000 documents (the ingestor processes' user + system time, from /proc);
5. with --gin-compare: 3 and 4 again with the GIN indexes on ``payload`` dropped.

Topics and schemas it creates are removed at the end. Needs `make up` or `devstack up`
(or `devstack run -- ...`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import yaml
from psycopg2 import sql

from devstack.settings import StackSettings
from devstack.stack import read_env_file
from streamsuite_common.config import DatabaseSettings, KafkaSettings
from streamsuite_common.contract import file_headers
from streamsuite_common.db import connect
from streamsuite_common.kafka import (
    connect_admin,
    connect_consumer,
    connect_producer,
    ensure_topics,
)
from streamsuite_ingestor import store as store_module
from streamsuite_ingestor.decode import Row, decode_document
from streamsuite_ingestor.migrate import migrate
from streamsuite_ingestor.routes import all_routes

PARTITIONS = 3
DOCS_PER_FILE = 100
CLK_TCK = os.sysconf("SC_CLK_TCK")
GIN_DROPPED: set[str] = set()  # by --gin-compare, for the report
CITIES = ("Lisbon", "Oslo", "Kraków", "Zürich", "Austin", "Osaka", "Nairobi", "Lima")


@dataclasses.dataclass
class Message:
    """What decode_document reads of a Kafka record, for the no-Kafka ceilings."""

    topic: str
    partition: int
    offset: int
    value: bytes
    headers: list
    timestamp: int = -1
    timestamp_type: int = 0
    key: bytes | None = None


def nested(i: int, rng: random.Random) -> dict:
    """A nested document of 300-600 bytes."""
    target = rng.randint(300, 600)
    doc = {
        "device": {"id": f"dev-{i % 997}", "site": {"name": rng.choice(CITIES), "rack": i % 40}},
        "reading": {"seq": i, "celsius": round(rng.uniform(-20, 40), 2), "ok": i % 7 != 0},
        "tags": [],
    }
    while len(json.dumps(doc)) < target - 12:
        doc["tags"].append(f"t{rng.randint(0, 99_999):05d}")
    return doc


def documents(n: int, seed: int = 15) -> list[tuple[bytes, list]]:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    now = datetime.now(UTC)
    out, headers = [], None
    for i in range(n):
        if i % DOCS_PER_FILE == 0:
            source = f"bench/{i // DOCS_PER_FILE:06d}.jsonl"
            headers = file_headers(source, f"{i // DOCS_PER_FILE:064x}", now)
        doc = (
            {"name": f"person {i}", "age": i % 100, "city": rng.choice(CITIES)}
            if i % 2 == 0
            else nested(i, rng)
        )
        out.append((json.dumps(doc).encode(), headers(i % DOCS_PER_FILE)))
    return out


def prefill(kafka: KafkaSettings, topic: str, docs: list[tuple[bytes, list]]) -> float:
    started = time.monotonic()
    producer = connect_producer(kafka, linger_ms=20, batch_size=256 * 1024)
    for number, (value, headers) in enumerate(docs):
        # A file's documents stay in one partition, as the publisher's keyed messages do.
        partition = (number // DOCS_PER_FILE) % PARTITIONS
        producer.send(topic, value=value, headers=headers, partition=partition)
    producer.flush(timeout=600)
    producer.close()
    return time.monotonic() - started


def consume_only(kafka: KafkaSettings, topic: str, n: int) -> float:
    consumer = connect_consumer(kafka, topic, group_id=f"bench-raw-{uuid.uuid4().hex[:8]}")
    seen, started = 0, None
    deadline = time.monotonic() + 900
    while seen < n and time.monotonic() < deadline:
        polled = consumer.poll(timeout_ms=500, max_records=2000)
        if polled and started is None:
            started = time.monotonic()
        seen += sum(len(batch) for batch in polled.values())
    elapsed = time.monotonic() - (started or time.monotonic())
    consumer.close(autocommit=False)
    assert seen >= n, f"consumed {seen} of {n}"
    return elapsed


def migrated(database: DatabaseSettings, *, gin: bool, drop: Sequence[str] = ()) -> None:
    conn = connect(database, application_name="bench")
    migrate(conn, database.schema)
    with conn, conn.cursor() as cur:
        for name in drop:  # to compare index sets, e.g. without later migrations' indexes
            cur.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name)))
    if not gin:
        with conn, conn.cursor() as cur:
            cur.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = 'records' AND indexdef LIKE '%USING gin%'"
            )
            for (name,) in cur.fetchall():
                GIN_DROPPED.add(name)
                cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    conn.close()


def write_only(
    database: DatabaseSettings, docs: list[tuple[bytes, list]], method: str, batch_bytes: int
) -> float:
    """The Store alone writing the decoded rows in batches of about ``batch_bytes``."""
    routes = all_routes()
    rows: list[Row] = []
    for offset, (value, headers) in enumerate(docs):
        row = decode_document(Message("bench", 0, offset, value, headers), routes, 1 << 20)
        assert isinstance(row, Row)
        rows.append(row)
    # (the Store before it had write methods took none: the bench also runs on older code)
    kwargs = {"method": method} if hasattr(store_module, "WRITE_METHODS") else {}
    store = store_module.Store(database, routes, application_name="bench", **kwargs)
    started = time.monotonic()
    batch: list[Row] = []
    size = 0
    for row in rows:
        batch.append(row)
        size += len(row.payload)
        if size >= batch_bytes:
            store.write(batch, [])
            batch, size = [], 0
    store.write(batch, [])
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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def ingest(
    config: dict, env: dict[str, str], database: DatabaseSettings, n: int, replicas: int
) -> tuple[float, float, float]:
    """(s from process start to the last row, s from the first row to the last, CPU s)."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    children = []
    started = time.monotonic()
    for index in range(replicas):
        path = workdir / f"ingestor-{index}.yaml"
        path.write_text(yaml.safe_dump(config))
        child_env = {
            **env,
            "STREAMSUITE_INGESTOR__REPLICA_INDEX": str(index),
            "STREAMSUITE_INGESTOR__GROUP_INSTANCE_ID": f"bench-{index}-{uuid.uuid4().hex[:6]}",
        }
        log = (workdir / f"ingestor-{index}.log").open("wb")
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "streamsuite_ingestor", "--cfg", str(path)],
                env=child_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    first = None
    deadline = started + 1800
    cpu = 0.0
    try:
        while time.monotonic() < deadline:
            for child in children:
                if child.poll() is not None:
                    raise SystemExit(f"an ingestor exited ({child.returncode}); logs in {workdir}")
            stored = count(database)
            if stored and first is None:
                first = time.monotonic()
            if stored >= n:
                cpu = sum(cpu_seconds(child.pid) for child in children)
                break
            time.sleep(0.05)
        done = time.monotonic()
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=60)
    assert count(database) == n, f"stored {count(database)} of {n}; logs in {workdir}"
    return done - started, done - (first or started), cpu


def drop_schema(database: DatabaseSettings) -> None:
    conn = connect(database, application_name="bench-cleanup")
    with conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(database.schema))
        )
    conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--documents", type=int, default=int(os.environ.get("BENCH_DOCUMENTS", "200000"))
    )
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--batch-bytes", type=int, default=1 << 20, help="for the ceilings")
    parser.add_argument("--gin-compare", action="store_true")
    parser.add_argument("--skip-ceilings", action="store_true")
    parser.add_argument(
        "--drop-index", action="append", default=[], help="drop this index of records first"
    )
    args = parser.parse_args()

    stack_env = read_env_file(StackSettings.from_env().env_file)
    kafka = KafkaSettings(bootstrap_servers=(stack_env["DEVSTACK_KAFKA_BOOTSTRAP"],))
    password_file = stack_env["DEVSTACK_WRITER_PASSWORD_FILE"]
    base = DatabaseSettings(
        host=stack_env["DEVSTACK_PG_HOST"], port=int(stack_env["DEVSTACK_PG_PORT"]),
        dbname=stack_env["DEVSTACK_PG_DBNAME"], dbuser=stack_env["DEVSTACK_WRITER_ROLE"],
        user_pwd=Path(password_file).read_text().strip(), sslmode="disable",
    )  # fmt: skip
    tag = uuid.uuid4().hex[:8]
    topic, dlq = f"bench.records.{tag}", f"bench.dlq.{tag}"
    admin = connect_admin(kafka)
    ensure_topics(admin, [topic], partitions=PARTITIONS)
    ensure_topics(admin, [dlq], partitions=1)
    n = args.documents
    schemas: list[DatabaseSettings] = []
    rate: dict[str, str] = {}

    def schema(name: str) -> DatabaseSettings:
        database = dataclasses.replace(base, schema=f"bench_{name}_{tag}")
        schemas.append(database)
        return database

    try:
        docs = documents(n)
        rate["prefill (kafka-python produce)"] = f"{n / prefill(kafka, topic, docs):,.0f}"
        gins = (True, False) if args.gin_compare else (True,)
        if not args.skip_ceilings:
            rate["ceiling: consume only"] = f"{n / consume_only(kafka, topic, n):,.0f}"
            for gin in gins:
                for method in getattr(store_module, "WRITE_METHODS", ("insert",)):
                    database = schema(f"{method}_{'gin' if gin else 'nogin'}")
                    migrated(database, gin=gin, drop=args.drop_index)
                    seconds = write_only(database, docs, method, args.batch_bytes)
                    label = f"ceiling: Store {method}" + ("" if gin else ", no GIN")
                    rate[label] = f"{n / seconds:,.0f}"
        for gin in gins:
            database = schema(f"ingest_{'gin' if gin else 'nogin'}")
            migrated(database, gin=gin, drop=args.drop_index)
            config = {
                "KAFKA": {"BOOTSTRAP_SERVERS": kafka.bootstrap_servers[0], "TOPIC": topic,
                          "DLQ_TOPIC": dlq},
                "DATABASE": {"HOST": base.host, "PORT": base.port, "DBNAME": base.dbname,
                             "DBUSER": base.dbuser, "SCHEMA": database.schema},
                "HTTP": {"HOST": "127.0.0.1", "PORT": 0},
                "LOG": {"LEVEL": "warning"},
                "INGESTOR": {"GROUP_ID": f"bench-{tag}-{gin}", "READER_ROLE": "",
                             "MIGRATE_ON_START": False},
            }  # fmt: skip
            env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSUITE_")} | {
                "STREAMSUITE_DATABASE__USER_PWD_FILE": password_file
            }
            total_s, steady_s, cpu = ingest(config, env, database, n, args.replicas)
            suffix = f" x{args.replicas}" + ("" if gin else ", no GIN")
            rate[f"ingest{suffix}: process start -> last row"] = f"{n / total_s:,.0f}"
            rate[f"ingest{suffix}: first row -> last row"] = f"{n / steady_s:,.0f}"
            rate[f"ingest{suffix}: CPU s per 1,000 docs"] = f"{cpu / n * 1000:.3f}"
    finally:
        for database in schemas:
            drop_schema(database)
        admin.delete_topics([topic, dlq])
        admin.close()

    print(f"{n} documents, {PARTITIONS} partitions, {args.replicas} ingestor process(es)")
    if args.drop_index:
        print(f"  without {', '.join(args.drop_index)}")
    if GIN_DROPPED:
        print(f"  no GIN: without {', '.join(sorted(GIN_DROPPED))}")
    for name, value in rate.items():
        unit = "" if "CPU" in name else " docs/s"
        print(f"  {name:<48} {value:>10}{unit}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
