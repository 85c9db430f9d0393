"""File dropped → row queryable, through a running publisher and ingestor (`make bench`).

Both services run as processes started through their command lines against the local stack
(their own topics, consumer group and database schema). Files of JSON Lines are renamed into
the inbox at a steady rate (1,000 documents a second by default) and a poller sees each row
appear in PostgreSQL; the latency of a document is its file's rename → its row visible to
another session. Prints p50, p99 and max, and the rate reached, and where the time goes: each
document's produced-at, record timestamp (sent) and ingested-at split it in stages.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg2
import yaml
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from psycopg2 import sql

from devstack.services import SERVICES, config_tree, environment
from devstack.settings import StackSettings
from devstack.stack import read_env_file
from devstack.testing import free_port, http_get
from streamsuite_common.config import KafkaSettings
from streamsuite_common.kafka import client_options, connect_admin, ensure_topics

POLL_S = 0.005  # how often the watcher of the table looks: the resolution of the numbers


def document(n: int) -> dict:
    if n % 2:
        return {"name": f"person-{n}", "age": n % 100, "city": "Lisbon"}
    return {"order": n, "lines": [{"sku": f"sku-{n % 97}", "qty": n % 5 + 1}], "note": "x" * 40}


def start(name: str, settings: StackSettings, tree: dict, workdir: Path, *args: str):
    spec = next(spec for spec in SERVICES if spec.name == name)
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(tree))
    log = (workdir / f"{name}.log").open("wb")
    command = [sys.executable, "-m", spec.module, "--cfg", str(path), *args]
    env = environment(spec, settings, os.environ)
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


class RowWatcher:
    """Sees rows of the schema's records table appear: (source, doc_index) → (wall time it was
    seen, its produced-at and ingested-at as wall times)."""

    def __init__(self, dsn: str, dbname: str, schema: str):
        self.seen: dict[tuple[str, int], tuple[float, float, float]] = {}
        self._conn = psycopg2.connect(dsn, dbname=dbname)
        self._conn.autocommit = True
        self._query = sql.SQL(
            "SELECT id, source, doc_index, extract(epoch FROM produced_at),"
            " extract(epoch FROM ingested_at) FROM {}.records WHERE id > %s ORDER BY id"
        ).format(sql.Identifier(schema))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> RowWatcher:
        self._thread.start()
        return self

    def _run(self) -> None:
        last = 0
        with self._conn.cursor() as cur:
            while not self._stop.wait(POLL_S):
                cur.execute(self._query, (last,))
                now = time.time()
                for row_id, source, doc_index, produced, ingested in cur.fetchall():
                    self.seen[(source, doc_index)] = (now, float(produced), float(ingested))
                    last = row_id

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._conn.close()


def wait_until(condition, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_latency: timed out waiting for {what}")
        time.sleep(0.05)


def means(port: int, *histograms: str) -> dict[str, tuple[float, float]]:
    """(count, mean) of each named histogram on a service's /metrics."""
    status, _, body = http_get(f"http://127.0.0.1:{port}/metrics")
    found: dict[str, tuple[float, float]] = {}
    if status != 200:
        return found
    for family in text_string_to_metric_families(
        body.decode() if isinstance(body, bytes) else body
    ):
        if family.name in histograms:
            values = {s.name.removeprefix(family.name): s.value for s in family.samples}
            count = values.get("_count", 0.0)
            found[family.name] = (count, values.get("_sum", 0.0) / count if count else 0.0)
    return found


def sent_times(kafka: KafkaSettings, topic: str) -> dict[tuple[str, int], float]:
    """(source, doc-index) → the record's timestamp (CreateTime: when the publisher sent it),
    for every committed record of the topic."""
    consumer = KafkaConsumer(
        **client_options(kafka, client_id="bench-latency"), isolation_level="read_committed",
        enable_auto_commit=False,
    )  # fmt: skip
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        sent: dict[tuple[str, int], float] = {}
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    headers = dict(record.headers)
                    index = int(headers.get("doc-index", b"0"))
                    sent[(record.key.decode(), index)] = record.timestamp / 1000
        return sent
    finally:
        consumer.close()


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=1000, help="documents a second")
    parser.add_argument("--docs-per-file", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    settings = StackSettings.from_env()
    env = read_env_file(settings.env_file)
    run_id = uuid.uuid4().hex[:8]
    topic, dlq, schema = f"bench.{run_id}.latency", f"bench.{run_id}.latency.dlq", f"bench_{run_id}"
    kafka = KafkaSettings(bootstrap_servers=(env["DEVSTACK_KAFKA_BOOTSTRAP"],))
    admin = connect_admin(kafka)
    ensure_topics(admin, [topic, dlq], partitions=3)
    pg = psycopg2.connect(env["DEVSTACK_PG_ADMIN_DSN"], dbname=env["DEVSTACK_PG_DBNAME"])
    pg.autocommit = True
    ids = {"schema": sql.Identifier(schema), "writer": sql.Identifier(env["DEVSTACK_WRITER_ROLE"])}
    with pg.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA {schema} AUTHORIZATION {writer}").format(**ids))

    processes = []
    watcher = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            inbox, staging = workdir / "inbox", workdir / "staging"
            inbox.mkdir()
            staging.mkdir()
            quiet = {"LOG": {"LEVEL": "warning", "FORMAT": "json"}}
            ports = {"ingestor": free_port(), "publisher": free_port()}
            spec = {spec.name: spec for spec in SERVICES}
            ingestor = config_tree(spec["ingestor"], settings) | quiet
            ingestor["HTTP"] = {"HOST": "127.0.0.1", "PORT": ports["ingestor"]}
            ingestor["KAFKA"] |= {"TOPIC": topic, "DLQ_TOPIC": dlq}
            ingestor["DATABASE"]["SCHEMA"] = schema
            ingestor["INGESTOR"] = {"GROUP_ID": f"bench-{run_id}", "READER_ROLE": ""}
            publisher = config_tree(spec["publisher"], settings) | quiet
            publisher["KAFKA"] |= {"TOPIC": topic, "DLQ_TOPIC": dlq}
            publisher["HTTP"] = {"HOST": "127.0.0.1", "PORT": ports["publisher"]}
            processes.append(start("ingestor", settings, ingestor, workdir))
            processes.append(start("publisher", settings, publisher, workdir, "--dir", str(inbox)))

            dropped: dict[str, float] = {}

            def drop(name: str, data: bytes) -> None:
                (staging / name).write_bytes(data)
                dropped[name] = time.time()
                os.rename(staging / name, inbox / name)

            # Warm up: both services up, the table there, the group's partitions assigned.
            def table_exists() -> bool:
                with pg.cursor() as cur:
                    cur.execute("SELECT to_regclass(%s)", (f"{schema}.records",))
                    return cur.fetchone()[0] is not None

            wait_until(table_exists, "the ingestor's tables", 120)
            watcher = RowWatcher(env["DEVSTACK_PG_ADMIN_DSN"], env["DEVSTACK_PG_DBNAME"], schema)
            watcher.start()
            for n in range(3):
                drop(f"warmup-{n}.json", b'{"warm": "up"}')
                wait_until(lambda n=n: (f"warmup-{n}.json", 0) in watcher.seen, "warm-up", 120)

            files_per_s = args.rate / args.docs_per_file
            count = int(args.seconds * files_per_s)
            payloads = []
            for f in range(count):
                docs = (document(f * args.docs_per_file + d) for d in range(args.docs_per_file))
                payloads.append(("\n".join(json.dumps(doc) for doc in docs) + "\n").encode())
            started = time.monotonic()
            for f, data in enumerate(payloads):
                delay = started + f / files_per_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                drop(f"f-{f:06d}.jsonl", data)
            last_drop = time.monotonic()
            expected = [
                (f"f-{f:06d}.jsonl", d) for f in range(count) for d in range(args.docs_per_file)
            ]
            wait_until(lambda: all(key in watcher.seen for key in expected), "every row", 300)
            # Where the middle stage goes: the publisher's transactions, the ingestor's batches.
            stats = means(ports["publisher"], "streamsuite_publisher_publish_seconds") | means(
                ports["ingestor"], "streamsuite_ingestor_batch_duration_seconds",
                "streamsuite_ingestor_batch_size_messages")  # fmt: skip
            sent = sent_times(kafka, topic)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        if watcher is not None:
            watcher.stop()
        with pg.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA {schema} CASCADE").format(**ids))
        pg.close()
        admin.delete_topics([topic, dlq])
        admin.close()

    def ms(stage: int) -> list[float]:
        """Milliseconds from the previous moment to ``stage`` (1: produced-at, 2: sent = the
        record's timestamp, 3: ingested-at = the ingestor's transaction start, 4: seen), for
        every document."""
        result = []
        for key in expected:
            seen, produced, ingested = watcher.seen[key]
            moments = [dropped[key[0]], produced, sent.get(key, produced), ingested, seen]
            result.append((moments[stage] - moments[stage - 1]) * 1000)
        return result

    latencies = [(watcher.seen[key][0] - dropped[key[0]]) * 1000 for key in expected]
    rate = len(expected) / (last_drop - started)
    print(
        "file renamed into the inbox → row visible in PostgreSQL (publisher + ingestor processes)"
    )
    print(f"{len(expected):,} documents in {count:,} files of {args.docs_per_file}, "
          f"{rate:,.0f} docs/s dropped; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"latency ms: p50 {percentile(latencies, 0.5):.0f}  p99 {percentile(latencies, 0.99):.0f}"
          f"  max {max(latencies):.0f}  (targets: p50 < 100, p99 < 300)")  # fmt: skip
    stages = (
        "renamed → produced-at (publisher: claim, read)",
        "→ sent (record timestamp: after the last txn)",
        "→ ingested-at (commit, fetch, ingestor poll)",
        "→ visible (ingestor transaction, poller)",
    )
    for stage, name in enumerate(stages, start=1):
        p50, p99 = percentile(ms(stage), 0.5), percentile(ms(stage), 0.99)
        print(f"  {name:<47} p50 {p50:>6.0f}  p99 {p99:>6.0f}")
    for metric, what, scale, unit in (
        ("streamsuite_publisher_publish_seconds", "publisher transactions", 1000, "ms"),
        ("streamsuite_ingestor_batch_duration_seconds", "ingestor batches, poll → commit", 1000,
         "ms"),
        ("streamsuite_ingestor_batch_size_messages", "ingestor batch size", 1, "messages"),
    ):  # fmt: skip
        if metric in stats:
            count, mean = stats[metric]
            print(f"  {what:<47} {count:,.0f}, mean {mean * scale:,.1f} {unit}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
