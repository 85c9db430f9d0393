"""Small helpers the test suites share: free ports, waiting on a condition, HTTP probes, a
migrated schema of a test's own, filling it through the ingestor's Store, and serving an ASGI
app or running the ingestor loop in a thread.

Tests wait on conditions with a deadline, never for a fixed time, so they pass on a slow
machine and stay quick on a fast one. The ingestor, httpx and uvicorn are imported inside the
helpers that use them: devstack does not depend on them, the test suites that call these do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg2
from psycopg2 import sql

from streamsuite_common.config import DatabaseSettings
from streamsuite_common.contract import DeadLetter, document_headers
from streamsuite_common.db import connect_kwargs

if TYPE_CHECKING:
    import httpx

    from streamsuite_ingestor.config import IngestorConfig
    from streamsuite_ingestor.service import Ingestor
    from streamsuite_ingestor.store import Store


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port nothing listens on right now, chosen outside the kernel's ephemeral range:
    a port from that range can be taken by any outgoing connection before the test binds it."""
    low, high = _ephemeral_range()
    candidates = [port for port in range(20000, 32000) if not low <= port <= high]
    for port in random.sample(candidates, len(candidates)):
        if _bindable(port):
            return port
    raise RuntimeError("no free port in 20000-31999")


def free_offset(bases: Iterable[int]) -> int:
    """An offset that moves every port in ``bases`` to a free port outside the ephemeral range
    (for a second stack's services, which keep their relative ports)."""
    low, high = _ephemeral_range()
    ports = list(bases)
    for _ in range(500):
        offset = random.randrange(10_000, 20_000)  # noqa: S311 - not for security
        moved = [port + offset for port in ports]
        if not any(low <= port <= high for port in moved) and all(map(_bindable, moved)):
            return offset
    raise RuntimeError(f"no free offset for ports {ports}")


def records_rows_read(plan: dict) -> int:
    """Rows all scans of ``records`` (table or its indexes) returned over all their loops, in
    an ``EXPLAIN (ANALYZE, FORMAT JSON)`` plan: how much of the table a read touched."""
    own = 0
    if plan.get("Relation Name") == "records":
        own = plan["Actual Rows"] * plan["Actual Loops"]
    return own + sum(records_rows_read(child) for child in plan.get("Plans", []))


def wait_for(
    condition: Callable[[], Any],
    *,
    what: str = "condition",
    timeout_s: float = 60,
    interval_s: float = 0.1,
) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(interval_s)


def http_get(
    url: str, timeout_s: float = 10, headers: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """(status, content type, body) of a GET; status 0 when nothing answers."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - tests
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - tests
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()
    except OSError:
        return 0, "", ""


def http_status(url: str, timeout_s: float = 10) -> int:
    return http_get(url, timeout_s)[0]


# The secret the test suites' own API and UI servers verify tokens with (AUTH.MODE=jwt).
TEST_JWT_SECRET = "streamsuite-tests-only-hs256-secret-0123456789"  # noqa: S105 - tests


def jwt_test_settings(**overrides: Any) -> Any:
    """AUTH settings of a test server: HS256 with ``TEST_JWT_SECRET`` unless overridden."""
    from streamsuite_common.auth import AuthSettings

    return AuthSettings(**{"mode": "jwt", "jwt_secret": TEST_JWT_SECRET, **overrides})


def bearer(*scopes: str, secret: str = TEST_JWT_SECRET, **claims: Any) -> dict[str, str]:
    """An ``Authorization`` header with an HS256 token of ``scopes`` (default: read)."""
    from streamsuite_common.auth import mint_token

    token = mint_token(secret, scopes or ("read",), **claims)
    return {"Authorization": f"Bearer {token}"}


@contextlib.contextmanager
def table_locked(stack_env: dict[str, str], schema: str, table: str = "records") -> Iterator[None]:
    """``schema.table`` held in ACCESS EXCLUSIVE mode by an admin connection of its own until
    the block ends: every read and write of it waits, however fast the machine is."""
    conn = psycopg2.connect(
        stack_env["DEVSTACK_PG_ADMIN_DSN"], dbname=stack_env["DEVSTACK_PG_DBNAME"]
    )
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("LOCK TABLE {}.{} IN ACCESS EXCLUSIVE MODE").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
            )
        yield
    finally:
        conn.rollback()
        conn.close()


@contextlib.contextmanager
def migrated_schema(
    admin_conn: psycopg2.extensions.connection,
    writer_settings: DatabaseSettings,
    reader_settings: DatabaseSettings,
    *,
    prefix: str,
    routes: Sequence = (),
) -> Iterator[str]:
    """A schema of its own, migrated by the ingestor's migrations and readable by the reader
    role; dropped on exit."""
    from streamsuite_ingestor.migrate import migrate

    name = unique(prefix)
    writer = dataclasses.replace(writer_settings, schema=name)
    conn = psycopg2.connect(**connect_kwargs(writer, application_name=f"{prefix}-migrate"))
    try:
        migrate(conn, name, reader_role=reader_settings.dbuser, routes=routes)
    finally:
        conn.close()
    try:
        yield name
    finally:
        with admin_conn.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


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

    def __init__(self, store: Store, topic: str, *, max_document_bytes: int):
        self.store = store
        self.topic = topic
        self.max_document_bytes = max_document_bytes
        self._offset = 0
        self._lock = threading.Lock()

    def _next_offset(self) -> int:
        with self._lock:
            self._offset += 1
            return self._offset

    def add(self, *documents: Any, source: str | None = None) -> list[int]:
        """Store documents (JSON values, or bytes as sent); return their record ids."""
        from streamsuite_ingestor.decode import decode_document

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
            row = decode_document(message, self.store.routes, self.max_document_bytes)
            assert not isinstance(row, DeadLetter), f"refused: {row}"
            rows.append(row)
        outcome = self.store.write(rows, [])
        assert sum(outcome.stored.values()) == len(rows)
        return self.ids_of(rows)

    def ids_of(self, rows: list) -> list[int]:
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
        from streamsuite_ingestor.decode import decode_dead_letter

        event = DeadLetter(origin="publisher", stage="parse", reason=reason,
                           detail=fields.pop("detail", f"{reason} detail"), raw=raw,
                           **fields)  # fmt: skip
        message = Message(f"{self.topic}.dlq", 0, self._next_offset(),
                          json.dumps(event.to_json()).encode(), [])  # fmt: skip
        self.store.write([], [decode_dead_letter(message)])


@contextlib.contextmanager
def filling(
    writer_settings: DatabaseSettings,
    schema: str,
    *,
    application_name: str,
    max_document_bytes: int = 1 << 22,
) -> Iterator[Filler]:
    """A ``Filler`` writing into ``schema`` on a topic name of its own."""
    from streamsuite_ingestor.routes import all_routes
    from streamsuite_ingestor.store import Store

    store = Store(dataclasses.replace(writer_settings, schema=schema), all_routes(),
                  application_name=application_name)  # fmt: skip
    try:
        yield Filler(
            store, unique("topic").replace("_", "."), max_document_bytes=max_document_bytes
        )
    finally:
        store.close()


@contextlib.contextmanager
def serving_app(
    app: Any, port: int, *, name: str, on_stop: Callable[[], None]
) -> Iterator[httpx.Client]:
    """``app`` under a real uvicorn server in a thread; a client bound to its address (with
    ``client.app`` set). ``on_stop`` runs before the server is told to exit (to end streams)."""
    import httpx
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False,
                                           timeout_graceful_shutdown=2))  # fmt: skip
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout_s=15, what="uvicorn to start", interval_s=0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
    finally:
        on_stop()
        server.should_exit = True
        thread.join(timeout=15)
        assert not thread.is_alive(), f"the {name} server did not stop"


@contextlib.contextmanager
def running_ingestor(cfg: IngestorConfig, routes: Sequence | None = None) -> Iterator[Ingestor]:
    """The ingestor's loop in a thread; stopped (finishing its batch) on the way out."""
    from prometheus_client import CollectorRegistry

    from streamsuite_ingestor.metrics import Metrics
    from streamsuite_ingestor.routes import all_routes
    from streamsuite_ingestor.service import Ingestor

    stop = threading.Event()
    ingestor = Ingestor(cfg, routes or all_routes(), Metrics(CollectorRegistry()), stop=stop)
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
