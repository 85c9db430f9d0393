"""Contenders: the raw ceilings, each in a process of its own (``python -m devstack.bench.raw``)
so start-up, wall time and CPU are counted as for the others.

- consume: kafka-python reads the topic, stores nothing;
- insert: batched ``INSERT … ON CONFLICT DO NOTHING``, 500 rows a statement and a transaction;
- copy: ``COPY … FROM STDIN`` (CSV), 20,000 rows a transaction;
into streamsuite's records table or the bare table. The database ceilings read the run's
documents from a file the orchestrator wrote (no Kafka), and print one JSON line: the wall
times of the first and last row (or message) and their own CPU seconds.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import pickle
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from psycopg2.extras import execute_values

from devstack.bench.database import BARE_TABLE, Stack
from devstack.bench.documents import Document
from devstack.bench.processes import Group
from devstack.bench.results import Sample

INSERT_BATCH = 500
COPY_BATCH = 20_000
PARTITIONS = 3
RECORD_COLUMNS = (
    "kind", "route", "source", "sha256", "doc_index", "payload", "name", "age",
    "kafka_topic", "kafka_partition", "kafka_offset", "produced_at",
)  # fmt: skip
BARE_COLUMNS = ("kafka_topic", "kafka_partition", "kafka_offset", "payload")


def record_row(i: int, doc: Document, topic: str) -> tuple:
    """The records row the ingestor would store for message ``i`` (people are relational)."""
    _, value, headers = doc
    h = dict(headers)
    parsed = json.loads(value)
    person = "name" in parsed and "age" in parsed
    return (
        "relational" if person else "unstructured",
        "person" if person else None,
        h["source"].decode(),
        h["sha256"].decode(),
        int(h["doc-index"]),
        value.decode(),
        parsed["name"] if person else None,
        parsed["age"] if person else None,
        topic,
        i % PARTITIONS,
        i // PARTITIONS,
        h["produced-at"].decode(),
    )


def bare_row(i: int, doc: Document, topic: str) -> tuple:
    return (topic, i % PARTITIONS, i // PARTITIONS, doc[1].decode())


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def consume(stack: Stack, topic: str, n: int) -> tuple[float, float]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=stack.bootstrap,
        group_id=f"bench-consume-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_poll_records=500,
    )
    seen, first = 0, None
    while seen < n:
        polled = consumer.poll(timeout_ms=500)
        got = sum(len(batch) for batch in polled.values())
        if got and first is None:
            first = time.time()
        seen += got
    last = time.time()
    consumer.close(autocommit=False)
    return first, last


def _chunks(rows: list[tuple], size: int) -> Iterator[list[tuple]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def write(stack: Stack, schema: str, method: str, bare: bool, docs: list[Document], topic: str):
    make, columns = (bare_row, BARE_COLUMNS) if bare else (record_row, RECORD_COLUMNS)
    rows = [make(i, doc, topic) for i, doc in enumerate(docs)]
    table = BARE_TABLE if bare else "records"
    conflict = (
        "(kafka_topic, kafka_partition, kafka_offset)" if bare else "(source, sha256, doc_index)"
    )
    conn = stack.connect(schema)
    # Rows appear only at a commit (COPY's first one holds 20,000): the steady rate of a
    # database ceiling runs from its first statement.
    first = time.time()
    with conn.cursor() as cur:
        if method == "insert":
            statement = (
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES %s "  # noqa: S608 - constants
                f"ON CONFLICT {conflict} DO NOTHING"
            )
            for chunk in _chunks(rows, INSERT_BATCH):
                execute_values(cur, statement, chunk, page_size=INSERT_BATCH)
                conn.commit()
        else:
            for chunk in _chunks(rows, COPY_BATCH):
                buffer = io.StringIO()
                csv.writer(buffer).writerows(chunk)
                buffer.seek(0)
                cur.copy_expert(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer
                )
                conn.commit()
    conn.close()
    return first, time.time()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("method", choices=("consume", "insert", "copy"))
    parser.add_argument("--topic", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--schema", default="")
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--docs", default="")
    args = parser.parse_args(argv)
    stack = Stack.from_env(os.environ)
    if args.method == "consume":
        first, last = consume(stack, args.topic, args.n)
    else:
        docs = pickle.loads(Path(args.docs).read_bytes())[: args.n]  # noqa: S301 - our own file
        first, last = write(stack, args.schema, args.method, args.bare, docs, args.topic)
    print(json.dumps({"first": first, "last": last, "cpu": _cpu()}), flush=True)
    return 0


def run(
    stack: Stack, env: Mapping[str, str], *, key: str, method: str, topic: str, n: int,
    schema: str = "", bare: bool = False, docs_file: Path | None = None, timeout_s: float,
) -> Sample:  # fmt: skip
    command = [sys.executable, "-m", "devstack.bench.raw", method, "--topic", topic, "--n", str(n)]
    if method != "consume":
        command += ["--schema", schema, "--docs", str(docs_file)] + (["--bare"] if bare else [])
    log = stack.var / "bench" / f"{key}.log"
    group = Group([command], [dict(env)], log)
    try:
        code = group.procs[0].wait(timeout=timeout_s)
    finally:
        group.stop()
    if code != 0:
        raise RuntimeError(f"raw {method} exited {code}: see {log}")
    # Its last line of output is the report (the log gathers every run of this contender).
    report = json.loads(log.read_text().strip().splitlines()[-1])
    return Sample(
        key, n, report["last"] - group.started, report["last"] - report["first"], report["cpu"]
    )


if __name__ == "__main__":
    sys.exit(main())
