"""Each test gets a schema of its own, migrated by the ingestor's own migrations and filled by
the ingestor's own code (decode + Store, or Kafka + the ingestor loop), and a real uvicorn
server of the query API on a free port, connected as the read-only role."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import socket
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

from streamsuite_common.config import HttpSettings, LogSettings
from streamsuite_common.contract import DeadLetter, document_headers
from streamsuite_common.db import connect_kwargs
from streamsuite_ingestor.decode import decode_dead_letter, decode_document
from streamsuite_ingestor.migrate import migrate
from streamsuite_ingestor.routes import all_routes
from streamsuite_ingestor.store import Store
from streamsuite_query_api.app import create_app
from streamsuite_query_api.config import QueryApiConfig, QueryApiSettings


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], Any], *, timeout_s: float = 30, what: str = "it") -> Any:
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
            row = decode_document(message, self.store.routes, 1 << 20)
            assert not isinstance(row, DeadLetter), f"refused: {row}"
            rows.append(row)
        outcome = self.store.write(rows, [])
        assert sum(outcome.stored.values()) == len(rows)
        return self.ids_of(rows)

    def ids_of(self, rows) -> list[int]:
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
                           detail=f"{reason} detail", raw=raw, **fields)  # fmt: skip
        message = Message(f"{self.topic}.dlq", 0, self._next_offset(),
                          json.dumps(event.to_json()).encode(), [])  # fmt: skip
        self.store.write([], [decode_dead_letter(message)])


@contextlib.contextmanager
def migrated_schema(admin_conn, writer_settings, reader_settings) -> Iterator[str]:
    """A migrated schema of its own, readable by the reader role; dropped on exit."""
    name = unique("query_api_test")
    writer = dataclasses.replace(writer_settings, schema=name)
    conn = psycopg2.connect(**connect_kwargs(writer, application_name="query-api-test-migrate"))
    try:
        migrate(conn, name, reader_role=reader_settings.dbuser)
    finally:
        conn.close()
    try:
        yield name
    finally:
        with admin_conn.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@contextlib.contextmanager
def filling(writer_settings, schema: str) -> Iterator[Filler]:
    store = Store(dataclasses.replace(writer_settings, schema=schema), all_routes(),
                  application_name="query-api-test-fill")  # fmt: skip
    try:
        yield Filler(store, unique("topic").replace("_", "."))
    finally:
        store.close()


@pytest.fixture
def schema(admin_conn, writer_settings, reader_settings) -> Iterator[str]:
    """A migrated schema of this test's own, readable by the reader role; dropped after."""
    with migrated_schema(admin_conn, writer_settings, reader_settings) as name:
        yield name


@pytest.fixture
def filler(writer_settings, schema) -> Iterator[Filler]:
    with filling(writer_settings, schema) as made:
        yield made


def api_config(reader_settings, schema: str, **options: Any) -> QueryApiConfig:
    settings = {"pool_size": 4, "stream_heartbeat_s": 0.5, **options}
    return QueryApiConfig(
        database=dataclasses.replace(reader_settings, schema=schema),
        log=LogSettings(level="warning", format="json"),
        http=HttpSettings(host="127.0.0.1", port=free_port()),
        query_api=QueryApiSettings(**settings),
    )


@contextlib.contextmanager
def serving(cfg: QueryApiConfig) -> Iterator[httpx.Client]:
    """The app under a real uvicorn server in a thread; a client bound to its address."""
    app = create_app(cfg, registry=CollectorRegistry())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=cfg.http.port,
                                           log_config=None, access_log=False,
                                           timeout_graceful_shutdown=2))  # fmt: skip
    thread = threading.Thread(target=server.run, name="query-api", daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout_s=15, what="uvicorn to start")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{cfg.http.port}", timeout=30) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
    finally:
        app.state.ctx.notifier.stop_streams()
        server.should_exit = True
        thread.join(timeout=15)
        assert not thread.is_alive(), "the server did not stop"


@pytest.fixture
def api(reader_settings, schema) -> Iterator[httpx.Client]:
    with serving(api_config(reader_settings, schema)) as client:
        yield client


def items(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["items"]


def ids(response: httpx.Response) -> list[int]:
    return [item["id"] for item in items(response)]
