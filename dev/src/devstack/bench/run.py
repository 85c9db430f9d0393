"""`make bench` (inside `devstack run`): every contender over the same documents, interleaved,
BENCH_RUNS rounds; writes bench/results.md and bench/results.png and prints the table.

    BENCH_DOCS=200000 BENCH_RUNS=3 BENCH_CONTENDERS=ingestor-1,connect-1 make bench

Each round produces the documents once to a fresh topic; each contender then gets a fresh
schema (and consumer group) of its own, and the order rotates from round to round.
"""

# The table speaks typography: the times sign and the en dash of ranges.
# ruff: noqa: RUF001

from __future__ import annotations

import dataclasses
import os
import pickle
import platform
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from kafka.admin import KafkaAdminClient, NewTopic

from devstack.bench import connect, database, documents, ingestor, raw
from devstack.bench.chart import draw
from devstack.bench.database import Stack
from devstack.bench.results import (
    Contender,
    Sample,
    ingest_line,
    ratio_lines,
    summarize,
    table,
)

CONNECT = "Kafka Connect + Debezium JDBC sink"
CONTENDERS: tuple[Contender, ...] = (
    Contender("ingestor-1", "streamsuite ingestor, 1 replica", 1),
    Contender("ingestor-3", "streamsuite ingestor, 3 replicas", 3),
    Contender("connect-1", f"{CONNECT}, tasks=1, streamsuite's table", 1),
    Contender("connect-3", f"{CONNECT}, tasks=3, streamsuite's table", 3),
    Contender("connect-bare-1", f"{CONNECT}, tasks=1, bare table", 1),
    Contender("connect-bare-3", f"{CONNECT}, tasks=3, bare table", 3),
    Contender("consume", "raw: kafka-python consume-only"),
    Contender("insert-records", "raw: INSERT … ON CONFLICT, 500 a batch, streamsuite's table"),
    Contender("insert-bare", "raw: INSERT … ON CONFLICT, 500 a batch, bare table"),
    Contender("copy-records", "raw: COPY, streamsuite's table"),
    Contender("copy-bare", "raw: COPY, bare table"),
)
PARTITIONS = 3


@dataclasses.dataclass(frozen=True)
class Options:
    docs: int
    runs: int
    contenders: tuple[Contender, ...]
    timeout_s: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Options:
        wanted = [k for k in env.get("BENCH_CONTENDERS", "").split(",") if k]
        known = {c.key: c for c in CONTENDERS}
        unknown = [k for k in wanted if k not in known]
        if unknown:
            raise SystemExit(f"BENCH_CONTENDERS: unknown {unknown}; known: {list(known)}")
        return cls(
            docs=int(env.get("BENCH_DOCS", "200000")),
            runs=int(env.get("BENCH_RUNS", "3")),
            contenders=tuple(known[k] for k in wanted) if wanted else CONTENDERS,
            timeout_s=float(env.get("BENCH_TIMEOUT_S", "900")),
        )


def rotated(contenders: tuple[Contender, ...], round_no: int) -> list[Contender]:
    """Round r starts r places further on, so no contender always runs first or last."""
    shift = round_no % len(contenders)
    return list(contenders[shift:] + contenders[:shift])


def run_one(
    contender: Contender, stack: Stack, env: Mapping[str, str], *, tag: str, topic: str,
    dlq: str, docs_file: Path, opts: Options, root: Path,
) -> Sample:  # fmt: skip
    key = contender.key
    schema = f"bench_{tag}_{key.replace('-', '_')}"
    bare = "bare" in key
    common = {"key": key, "n": opts.docs, "timeout_s": opts.timeout_s}
    try:
        if key != "consume":
            if bare:
                database.create_bare(stack, schema)
            else:
                database.migrate_records(stack, schema, env)
        if key.startswith("ingestor-"):
            return ingestor.run(
                stack, env, topic=topic, dlq=dlq, schema=schema, group=f"bench-{tag}-{key}",
                replicas=contender.parallelism, **common,
            )  # fmt: skip
        if key.startswith("connect-"):
            if not bare:
                database.add_coordinates_key(stack, schema)
            return connect.run(
                stack, env, topic=topic, schema=schema, tasks=contender.parallelism, bare=bare,
                root=root, cache=root / ".cache", **common,
            )  # fmt: skip
        method = key.split("-")[0]
        return raw.run(
            stack, env, method=method, topic=topic, schema=schema, bare=bare,
            docs_file=docs_file, **common,
        )  # fmt: skip
    finally:
        if key != "consume":
            database.drop_schema(stack, schema)


def _admin(stack: Stack) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=stack.bootstrap, client_id="streamsuite-bench")


def _postgres_version(stack: Stack) -> str:
    conn = stack.connect()
    with conn.cursor() as cur:
        cur.execute("SHOW server_version")
        version = cur.fetchone()[0]
    conn.close()
    return version


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return (
        f"{os.cpu_count()} CPUs ({model}), {memory_kb / 1024**2:.0f} GiB, "
        f"{platform.system()} {platform.release()}; shared with other work, hence medians "
        f"(load average {os.getloadavg()[0]:.0f} when the results were written)"
    )


def _git_commit(root: Path) -> str:
    result = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    return result.stdout.strip() or "?"


def report(
    opts: Options, samples: list[Sample], failures: list[str], stack: Stack, root: Path,
    started: datetime, produce_s: list[float],
) -> str:  # fmt: skip
    from importlib.metadata import version

    summaries = summarize(opts.contenders, samples)
    headline = ingest_line(summaries)
    keys = ",".join(c.key for c in opts.contenders)
    minutes = (datetime.now(UTC) - started).seconds // 60
    lines = [
        "# Throughput: streamsuite ingestor vs Kafka Connect + Debezium JDBC sink",
        "",
        "Written by `make bench` (dev/src/devstack/bench); numbers, not pass/fail.",
        "",
        *([headline, ""] if headline else []),
        "## Results",
        "",
        f"{opts.docs:,} documents in {PARTITIONS} partitions (half `{{name, age, city}}`, half "
        f"nested JSON of 300–600 bytes, the publisher's headers), produced once per round to a "
        f"fresh topic; {len(produce_s)} of {opts.runs} interleaved rounds done; median "
        "(min–max). Steady state = first row → last row. CPU = user + system seconds of the "
        "contender's own processes (/proc), PostgreSQL's and the broker's not included.",
        "",
        table(summaries),
        "",
        "Ratios (steady state, medians):",
        "",
        *ratio_lines(summaries),
        "",
        "![chart](results.png)",
        "",
        "## How each contender runs",
        "",
        "- ingestor: `python -m streamsuite_ingestor run`, N processes in one consumer group, its "
        "schema migrated beforehand by `python -m streamsuite_ingestor migrate`.",
        "- Connect: standalone worker, Debezium JDBC sink, `insert.mode=upsert`, "
        "primary key = the Kafka coordinates (InsertField fills kafka_topic/partition/offset, "
        "`primary.key.mode=record_value` on them), value as a string "
        "hoisted into `payload` (jsonb through `stringtype=unspecified`); on streamsuite's table "
        "the headers fill source/sha256/doc_index/produced_at and kind is a constant (no "
        "relational projection), and a unique index on the Kafka coordinates is added for its "
        "ON CONFLICT (one index more than the ingestor maintains).",
        "- bare table: (kafka_topic, kafka_partition, kafka_offset) primary key + payload jsonb.",
        "- raw INSERT/COPY read the round's documents from a file (no Kafka); INSERT commits "
        "every 500 rows, COPY every 20,000.",
        "",
        "## Run",
        "",
        f"- command: `BENCH_DOCS={opts.docs} BENCH_RUNS={opts.runs} BENCH_CONTENDERS={keys} "
        "devstack run -- python -m devstack.bench` (the last step of `make bench`, which "
        "passes BENCH_* through)",
        f"- started {started:%Y-%m-%d %H:%M} UTC, took {minutes} min; producing the "
        f"documents took {', '.join(f'{s:.0f}' for s in produce_s)} s",
        f"- machine: {machine()}",
        f"- versions: streamsuite {_git_commit(root)} (working tree), Python "
        f"{platform.python_version()}, kafka-python {version('kafka-python')}, psycopg2 "
        f"{version('psycopg2-binary')}, Apache Kafka 4.3.1 broker, PostgreSQL "
        f"{_postgres_version(stack)}, {connect.VERSIONS}, Java {_java_version()}",
    ]
    if failures:
        lines += ["", "## Failed runs", "", *[f"- {f}" for f in failures]]
    return "\n".join(lines) + "\n"


def _java_version() -> str:
    result = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    first = (result.stderr or result.stdout).splitlines()[:1]
    return first[0].split('"')[1] if first and '"' in first[0] else "?"


def publish(
    opts: Options, samples: list[Sample], failures: list[str], stack: Stack, root: Path,
    started: datetime, produce_s: list[float],
) -> str:  # fmt: skip
    """bench/results.md and bench/results.png from the samples so far; returns the text."""
    text = report(opts, samples, failures, stack, root, started, produce_s)
    (root / "bench" / "results.md").write_text(text)
    summaries = summarize(opts.contenders, samples)
    if summaries:
        title = f"{opts.docs:,} documents, {len(produce_s)} rounds, {datetime.now(UTC):%Y-%m-%d}"
        draw(summaries, root / "bench" / "results.png", title)
    return text


def main() -> int:
    opts = Options.from_env(os.environ)
    root = Path(__file__).resolve().parents[4]
    stack = Stack.from_env(os.environ)
    env = dict(os.environ)
    started = datetime.now(UTC)
    if any(c.key.startswith("connect") for c in opts.contenders):
        connect.fetch(root, root / ".cache")
    work = stack.var / "bench"
    work.mkdir(parents=True, exist_ok=True)
    docs = documents.documents(opts.docs)
    docs_file = work / "documents.pickle"
    docs_file.write_bytes(pickle.dumps(docs))
    text = ""
    samples: list[Sample] = []
    failures: list[str] = []
    produce_s: list[float] = []
    for round_no in range(opts.runs):
        tag = uuid.uuid4().hex[:6]
        topic, dlq = f"bench.{tag}", f"bench.{tag}.dlq"
        admin = _admin(stack)
        admin.create_topics([NewTopic(topic, PARTITIONS, 1), NewTopic(dlq, 1, 1)])
        try:
            produce_s.append(documents.produce(stack.bootstrap, topic, docs))
            print(f"round {round_no + 1}/{opts.runs}: {opts.docs:,} documents on {topic} "
                  f"({produce_s[-1]:.0f} s)", flush=True)  # fmt: skip
            for contender in rotated(opts.contenders, round_no):
                t0 = time.monotonic()
                try:
                    sample = run_one(
                        contender, stack, env, tag=tag, topic=topic, dlq=dlq,
                        docs_file=docs_file, opts=opts, root=root,
                    )  # fmt: skip
                except Exception as exc:  # a broken contender is reported, the rest still run
                    traceback.print_exc()
                    failures.append(f"round {round_no + 1}, {contender.key}: {exc}"[:600])
                    continue
                samples.append(sample)
                print(
                    f"  {contender.key:<15} {sample.docs / sample.total_s:>8,.0f} docs/s from "
                    f"start, {sample.docs / sample.steady_s:>8,.0f} steady, "
                    f"{sample.cpu_s * 1000 / sample.docs:.2f} CPU s/1k "
                    f"({time.monotonic() - t0:.0f} s)",
                    flush=True,
                )
        finally:
            admin.delete_topics([topic, dlq])
            admin.close()
        # After every round, so a run cut short still leaves what it measured.
        text = publish(opts, samples, failures, stack, root, started, produce_s)
    print()
    print(text)
    return 1 if not samples else 0


if __name__ == "__main__":
    sys.exit(main())
