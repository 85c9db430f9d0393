"""Helpers for the ingestor's integration tests: each test gets its own topics, consumer group
and database schema on the shared stack, and runs the ingestor in a thread or as a process."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from psycopg2 import sql

from devstack import testing
from streamsuite_common.config import DatabaseSettings, HttpSettings, KafkaSettings, LogSettings
from streamsuite_common.contract import document_headers
from streamsuite_common.kafka import connect_consumer, connect_producer
from streamsuite_ingestor.config import IngestorConfig, IngestorSettings

SAMPLES = Path(
    os.environ.get("STREAMSUITE_SAMPLES", Path(__file__).parents[4] / "../shared/samples")
)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


# --- documents as the publisher would send them ---


@dataclasses.dataclass(frozen=True)
class Doc:
    source: str
    sha256: str
    doc_index: int
    value: bytes
    produced_at: datetime | None = None  # None: the moment it is sent, as the publisher does

    def headers(self) -> list[tuple[str, bytes]]:
        return document_headers(
            source=self.source,
            sha256=self.sha256,
            doc_index=self.doc_index,
            produced_at=self.produced_at or datetime.now(UTC),
        )


def sample_docs(name: str) -> list[Doc]:
    """A good sample file split into documents, the way the publisher splits it."""
    path = SAMPLES / "good" / name
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    text = raw.decode("utf-8")
    if name.endswith(".jsonl"):
        documents = [json.loads(line) for line in text.splitlines() if line.strip()]
    elif name.endswith((".yaml", ".yml")):
        documents = list(yaml.safe_load_all(text))
    else:
        documents = [json.loads(text)]
    return [
        Doc(name, digest, index, json.dumps(doc, ensure_ascii=False).encode("utf-8"))
        for index, doc in enumerate(documents)
    ]


def raw_doc(
    source: str, value: bytes, doc_index: int = 0, produced_at: datetime | None = None
) -> Doc:
    return Doc(source, hashlib.sha256(value).hexdigest(), doc_index, value, produced_at)


def produce(
    settings: KafkaSettings,
    topic: str,
    docs: list[Doc],
    *,
    with_headers: bool = True,
    partition: int | None = None,
) -> None:
    producer = connect_producer(settings, linger_ms=20)
    try:
        for doc in docs:
            producer.send(
                topic,
                key=doc.source.encode(),
                value=doc.value,
                headers=doc.headers() if with_headers else [],
                partition=partition,
            )
        producer.flush(timeout=60)
    finally:
        producer.close()


def read_topic(settings: KafkaSettings, topic: str, expected: int, timeout_s: float = 30) -> list:
    consumer = connect_consumer(settings, topic, group_id=unique("reader"))
    records: list = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


# --- the database side ---


class Db:
    """Queries against one test schema, through the admin connection."""

    def __init__(self, conn: psycopg2.extensions.connection, schema: str):
        self.conn = conn
        self.schema = schema

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            try:
                cur.execute(statement, params)
                return cur.fetchall()
            except psycopg2.errors.UndefinedTable:
                return []  # not migrated yet

    def count(self, table: str = "records") -> int:
        rows = self.query(f"SELECT count(*) FROM {table}")  # noqa: S608 - our own table names
        return rows[0][0] if rows else 0


@pytest.fixture
def schema(admin_conn) -> Iterator[str]:
    """A schema name of this test's own; the ingestor creates it, the test drops it."""
    name = unique("ingestor_test")
    yield name
    with admin_conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def db(admin_conn, schema) -> Db:
    return Db(admin_conn, schema)


@pytest.fixture
def topics(make_topic) -> tuple[str, str]:
    """(records topic with 3 partitions, DLQ topic with 1) of this test's own."""
    return make_topic("records", partitions=3), make_topic("records.dlq", partitions=1)


@pytest.fixture
def make_config(kafka_settings, writer_settings, reader_settings, schema, topics):
    def make(database: DatabaseSettings | None = None, **ingestor: Any) -> IngestorConfig:
        options = {
            "group_id": unique("ingestor"),
            "batch_timeout_ms": 100,
            "session_timeout_s": 6.0,
            "reader_role": reader_settings.dbuser,
        }
        options.update(ingestor)
        return IngestorConfig(
            kafka=dataclasses.replace(
                kafka_settings, topic=topics[0], dlq_topic=topics[1], connect_timeout_s=20
            ),
            database=database or dataclasses.replace(writer_settings, schema=schema),
            log=LogSettings(level="info", format="json"),
            http=HttpSettings(host="127.0.0.1", port=0),
            ingestor=IngestorSettings(**options),
        )

    return make


# The ingestor's loop in a thread (``with running(cfg) as ingestor``).
running = testing.running_ingestor


# --- the ingestor as a process ---


def config_file(cfg: IngestorConfig, path: Path) -> Path:
    """A --cfg file for ``cfg`` (password excluded: it travels as a _FILE variable)."""
    tree = {
        "KAFKA": {
            "BOOTSTRAP_SERVERS": ",".join(cfg.kafka.bootstrap_servers),
            "TOPIC": cfg.kafka.topic,
            "DLQ_TOPIC": cfg.kafka.dlq_topic,
            "CONNECT_TIMEOUT_S": cfg.kafka.connect_timeout_s,
        },
        "DATABASE": {
            "HOST": cfg.database.host,
            "PORT": cfg.database.port,
            "DBNAME": cfg.database.dbname,
            "DBUSER": cfg.database.dbuser,
            "SCHEMA": cfg.database.schema,
            "SSLMODE": cfg.database.sslmode,
            "CONNECT_TIMEOUT_S": cfg.database.connect_timeout_s,
        },
        "LOG": {"LEVEL": "info", "FORMAT": "json"},
        "HTTP": {"HOST": cfg.http.host, "PORT": cfg.http.port},
        "INGESTOR": {
            "GROUP_ID": cfg.ingestor.group_id,
            "BATCH_SIZE": cfg.ingestor.batch_size,
            "BATCH_TIMEOUT_MS": cfg.ingestor.batch_timeout_ms,
            "SESSION_TIMEOUT_S": cfg.ingestor.session_timeout_s,
            "READER_ROLE": cfg.ingestor.reader_role,
            "GROUP_INSTANCE_ID": cfg.ingestor.group_instance_id,
            "ROUTES_FILE": cfg.ingestor.routes_file,
            "MAX_BATCH_BYTES": cfg.ingestor.max_batch_bytes,
            "FETCH_STALL_S": cfg.ingestor.fetch_stall_s,
            "LOCK_TIMEOUT_S": cfg.ingestor.lock_timeout_s,
        },
    }
    path.write_text(yaml.safe_dump(tree))
    return path


class Process:
    """``python -m streamsuite_ingestor --cfg FILE`` with its output in a log file."""

    def __init__(self, cfg_path: Path, log_path: Path, password: str):
        self.cfg_path, self.log_path = cfg_path, log_path
        self.password_file = cfg_path.with_suffix(".password")
        self.password_file.write_text(password)
        self.proc: subprocess.Popen | None = None

    def start(self) -> Process:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSUITE_")}
        env["STREAMSUITE_DATABASE__USER_PWD_FILE"] = str(self.password_file)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamsuite_ingestor", "--cfg", str(self.cfg_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def terminate(self, timeout_s: float = 60) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(timeout=timeout_s)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def processes(tmp_path, writer_settings) -> Iterator[Callable[[IngestorConfig, str], Process]]:
    started: list[Process] = []

    def start(cfg: IngestorConfig, name: str = "ingestor") -> Process:
        if not cfg.ingestor.group_instance_id:
            # Static members of one group need names of their own: one per process name.
            member = f"{cfg.ingestor.group_id}-{name}"
            cfg = dataclasses.replace(
                cfg, ingestor=dataclasses.replace(cfg.ingestor, group_instance_id=member)
            )
        cfg_path = config_file(cfg, tmp_path / f"{name}.yaml")
        process = Process(cfg_path, tmp_path / f"{name}.log", cfg.database.user_pwd).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
