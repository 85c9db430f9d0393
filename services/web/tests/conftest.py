"""Shared fixtures of the web tests. Integration and browser tests get a schema of their own,
migrated by the ingestor's own migrations and filled by the ingestor's own code (decode + Store
directly, or Kafka + the real ingestor loop in a thread), and a real uvicorn server of the web
UI on a free port, connected as the read-only role. Unit tests use none of this."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg2
import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from psycopg2 import sql

from devstack.testing import free_port
from streamsuite_common.config import DatabaseSettings, HttpSettings, KafkaSettings, LogSettings
from streamsuite_common.contract import DeadLetter, document_headers
from streamsuite_common.db import connect_kwargs
from streamsuite_ingestor.config import IngestorConfig, IngestorSettings
from streamsuite_ingestor.decode import decode_dead_letter, decode_document
from streamsuite_ingestor.metrics import Metrics as IngestorMetrics
from streamsuite_ingestor.migrate import migrate
from streamsuite_ingestor.routes import all_routes
from streamsuite_ingestor.service import Ingestor
from streamsuite_ingestor.store import Store
from streamsuite_web.app import create_app
from streamsuite_web.config import WebConfig, WebSettings

XSS_SCRIPT = "<script>window.__xss = 1; alert(1)</script>"
XSS_IMG = '<img src=x onerror="window.__xss = 2; alert(2)">'


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def wait_until(condition: Callable[[], Any], *, timeout_s: float = 30, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(0.05)


@dataclasses.dataclass
class Message:
    """A consumed Kafka message, as the ingestor's decoder reads it."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: list
    key: bytes | None = None
    timestamp: int = 0
    timestamp_type: int = 0


class Filler:
    """Stores documents through the ingestor's decoder and Store (the writer role)."""

    def __init__(self, store: Store, topic: str):
        self.store = store
        self.topic = topic
        self._offset = 0
        self._lock = threading.Lock()

    def _next_offset(self) -> int:
        with self._lock:
            self._offset += 1
            return self._offset

    def add(self, *documents: Any, source: str | None = None) -> list[int]:
        """Store documents (JSON values, or bytes as sent); return their record ids."""
        rows = []
        for index, document in enumerate(documents):
            raw = document if isinstance(document, bytes) else json.dumps(document).encode()
            name = source or f"{unique('doc')}.json"
            headers = document_headers(
                source=name,
                sha256=hashlib.sha256(raw).hexdigest(),
                doc_index=index if source else 0,
                produced_at=datetime.now(UTC),
            )
            message = Message(self.topic, 0, self._next_offset(), raw, headers, name.encode())
            row = decode_document(message, self.store.routes, 1 << 22)
            assert not isinstance(row, DeadLetter), f"refused: {row}"
            rows.append(row)
        self.store.write(rows, [])
        offsets = [row.kafka.offset for row in rows]
        with self.store.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT kafka_offset, id FROM records WHERE kafka_topic = %s "
                "AND kafka_offset = ANY(%s)",
                (self.topic, offsets),
            )
            by_offset = dict(cur.fetchall())
        return [by_offset[offset] for offset in offsets]

    def dead_letter(self, reason: str, raw: bytes, **fields: Any) -> None:
        event = DeadLetter(origin="publisher", stage="parse", reason=reason,
                           detail=fields.pop("detail", f"{reason} detail"), raw=raw,
                           **fields)  # fmt: skip
        message = Message(f"{self.topic}.dlq", 0, self._next_offset(),
                          json.dumps(event.to_json()).encode(), [])  # fmt: skip
        self.store.write([], [decode_dead_letter(message)])


@contextlib.contextmanager
def migrated_schema(admin_conn, writer_settings, reader_settings) -> Iterator[str]:
    name = unique("web_test")
    writer = dataclasses.replace(writer_settings, schema=name)
    conn = psycopg2.connect(**connect_kwargs(writer, application_name="web-test-migrate"))
    try:
        migrate(conn, name, reader_role=reader_settings.dbuser, routes=all_routes())
    finally:
        conn.close()
    try:
        yield name
    finally:
        with admin_conn.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@contextlib.contextmanager
def filling(writer_settings: DatabaseSettings, schema: str) -> Iterator[Filler]:
    store = Store(dataclasses.replace(writer_settings, schema=schema), all_routes(),
                  application_name="web-test-fill")  # fmt: skip
    try:
        yield Filler(store, unique("topic").replace("_", "."))
    finally:
        store.close()


def web_config(
    reader_settings: DatabaseSettings,
    schema: str,
    kafka: KafkaSettings | None = None,
    **web: Any,
) -> WebConfig:
    options: dict[str, Any] = {
        "pool_size": 4,
        "stream_heartbeat_s": 0.5,
        "submit_enabled": kafka is not None,
        "transactional_id": unique("web-test"),
    }
    options.update(web)
    return WebConfig(
        database=dataclasses.replace(reader_settings, schema=schema),
        log=LogSettings(level="warning", format="json"),
        http=HttpSettings(host="127.0.0.1", port=free_port()),
        web=WebSettings(**options),
        kafka=kafka,
    )


@contextlib.contextmanager
def serving(cfg: WebConfig) -> Iterator[httpx.Client]:
    """The app under a real uvicorn server in a thread; a client bound to its address."""
    app = create_app(cfg, registry=CollectorRegistry())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=cfg.http.port,
                                           log_config=None, access_log=False,
                                           timeout_graceful_shutdown=2))  # fmt: skip
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout_s=15, what="uvicorn to start")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{cfg.http.port}", timeout=30) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
    finally:
        app.state.ctx.notifier.stop_streams()
        server.should_exit = True
        thread.join(timeout=15)
        assert not thread.is_alive(), "the web server did not stop"


@contextlib.contextmanager
def running_ingestor(
    kafka: KafkaSettings, writer_settings: DatabaseSettings, reader_role: str, schema: str
) -> Iterator[Ingestor]:
    """The real ingestor loop in a thread, reading ``kafka.topic``/``dlq_topic`` into
    ``schema``; stopped (finishing its batch) on the way out."""
    cfg = IngestorConfig(
        kafka=kafka,
        database=dataclasses.replace(writer_settings, schema=schema),
        log=LogSettings(level="warning", format="json"),
        http=HttpSettings(host="127.0.0.1", port=0),
        ingestor=IngestorSettings(group_id=unique("web-test-ingestor"), batch_timeout_ms=100,
                                  session_timeout_s=6.0, reader_role=reader_role),
    )  # fmt: skip
    stop = threading.Event()
    ingestor = Ingestor(cfg, all_routes(), IngestorMetrics(CollectorRegistry()), stop=stop)
    failure: list[BaseException] = []

    def target() -> None:
        try:
            ingestor.run()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="ingestor", daemon=True)
    thread.start()
    try:
        yield ingestor
    finally:
        stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the ingestor did not stop within 60s"
    assert not failure, f"the ingestor failed: {failure[0]!r}"


@pytest.fixture
def schema(admin_conn, writer_settings, reader_settings) -> Iterator[str]:
    with migrated_schema(admin_conn, writer_settings, reader_settings) as name:
        yield name


@pytest.fixture
def filler(writer_settings, schema) -> Iterator[Filler]:
    with filling(writer_settings, schema) as made:
        yield made


@pytest.fixture
def topics(make_topic) -> tuple[str, str]:
    """(records topic, DLQ topic) of this test's own."""
    return make_topic("web.records"), make_topic("web.records.dlq")


@pytest.fixture
def test_kafka(kafka_settings, topics) -> KafkaSettings:
    return dataclasses.replace(
        kafka_settings, topic=topics[0], dlq_topic=topics[1], connect_timeout_s=20
    )


@pytest.fixture
def web(reader_settings, schema) -> Iterator[httpx.Client]:
    """The web UI (Submit off) on this test's schema."""
    with serving(web_config(reader_settings, schema)) as client:
        yield client
