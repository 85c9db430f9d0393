"""The bounded pool of read-only PostgreSQL sessions the query API and the web UI read through.

A semaphore bounds the connections in use and makes a request wait up to ``pool_timeout_s``
for one, then fail with ``DatabaseUnavailable`` (the services answer 503). Idle connections are
kept for the next request (up to ``pool_size``); none is opened before the first request, so a
service starts (and reports not ready) while PostgreSQL is down. (psycopg2's own pool with
``minconn=0`` closes every connection it is given back, so each request paid a new login.)
A connection that went stale (a restarted server) is retried once: reads are safe to repeat.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import psycopg2
import psycopg2.extensions

from streamsuite_common.config import DatabaseSettings
from streamsuite_common.db import connect_kwargs
from streamsuite_common.query.steps import PreparingConnection, Steps, ask, run_on

if TYPE_CHECKING:
    from streamsuite_common.async_pool import AsyncReadPool

T = TypeVar("T")
Connection = psycopg2.extensions.connection
QUERY_CANCELED = "57014"


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot answer now (down, all connections busy, query cancelled): a 503."""


class StatementTimeout(DatabaseUnavailable):
    """The statement ran past ``statement_timeout``: the query API answers 504."""


def session_kwargs(
    settings: DatabaseSettings, *, statement_timeout_ms: int, application_name: str
) -> dict:
    kwargs = connect_kwargs(settings, application_name=application_name)
    # Read-only by default on top of the role's grants; UTC so timestamps print one way.
    kwargs["options"] += (
        f" -c statement_timeout={int(statement_timeout_ms)}"
        " -c default_transaction_read_only=on -c TimeZone=UTC"
    )
    return kwargs


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


class ReadOnlyPool:
    def __init__(
        self,
        settings: DatabaseSettings,
        *,
        pool_size: int,
        pool_timeout_s: float,
        statement_timeout_ms: int,
        application_name: str,
    ):
        self.settings = settings
        self.size = pool_size
        self.statement_timeout_ms = statement_timeout_ms
        self.application_name = application_name
        self._timeout_s = pool_timeout_s
        self._kwargs = session_kwargs(
            settings, statement_timeout_ms=statement_timeout_ms, application_name=application_name
        )
        self._idle: list[Connection] = []
        self._closed = False
        self._slots = threading.BoundedSemaphore(pool_size)
        self._lock = threading.Lock()
        self._in_use = 0
        # Connections that answered before: a failure on one of them may be staleness.
        self._proven: weakref.WeakSet[Connection] = weakref.WeakSet()

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def idle(self) -> int:
        return len(self._idle)

    def listener_kwargs(self) -> dict:
        """Connection options for a dedicated (non-pooled) connection, such as LISTEN's."""
        return dict(self._kwargs, application_name=f"{self.application_name}-listen")

    def run(self, action: Callable[[Connection], T]) -> T:
        """``action(connection)`` on a pooled connection; DatabaseUnavailable when it cannot."""
        if not self._slots.acquire(timeout=self._timeout_s):
            raise DatabaseUnavailable(
                f"all {self.size} database connections busy for {self._timeout_s:g}s"
            )
        with self._lock:
            self._in_use += 1
        try:
            return self._run(action)
        finally:
            with self._lock:
                self._in_use -= 1
            self._slots.release()

    def read(self, make_steps: Callable[..., Steps[T]], *args: object, **kwargs: object) -> T:
        """A sans-IO read (``query.steps``) on a pooled connection; a retry starts it anew."""
        return self.run(lambda conn: run_on(conn, make_steps(*args, **kwargs)))

    read_from_thread = read  # what ``records_readable`` calls, from its checking thread

    def _run(self, action: Callable[[Connection], T]) -> T:
        for attempt in (1, 2):
            conn = self._checkout()
            reused = conn in self._proven
            discard = False
            try:
                result = action(conn)
                self._proven.add(conn)
                return result
            except psycopg2.Error as exc:
                if exc.pgcode == QUERY_CANCELED:
                    raise StatementTimeout(
                        f"query cancelled after {self.statement_timeout_ms} ms "
                        "(statement timeout); narrow the filters"
                    ) from exc
                if not isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)):
                    raise
                discard = True
                if attempt == 2 or not reused:
                    raise DatabaseUnavailable(f"database error: {first_line(exc)}") from exc
            finally:
                self._checkin(conn, discard=discard)
        raise AssertionError("unreachable")  # pragma: no cover

    def _checkout(self) -> Connection:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None or conn.closed:
            try:
                conn = psycopg2.connect(**self._kwargs, connection_factory=PreparingConnection)
            except psycopg2.Error as exc:
                raise DatabaseUnavailable(f"database unreachable: {first_line(exc)}") from exc
        if not conn.autocommit:
            conn.autocommit = True
        return conn

    def _checkin(self, conn: Connection, *, discard: bool) -> None:
        """Keep a healthy connection for the next request; close anything else."""
        keep = not discard and not conn.closed and not self._closed
        if keep and conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            keep = False  # autocommit sessions are idle between statements; anything else is odd
        if keep:
            with self._lock:
                keep = len(self._idle) < self.size
                if keep:
                    self._idle.append(conn)
        if not keep:
            with contextlib.suppress(psycopg2.Error):
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(psycopg2.Error):
                conn.close()


READ_TABLES = ("records", "dead_letters")
_TABLES_EXIST = "SELECT to_regclass('records'), to_regclass('dead_letters')"
_TABLES_READABLE = "SELECT 1 FROM records, dead_letters LIMIT 0"


class TablesMissing(Exception):
    """The schema is not migrated yet: every read would fail."""


def _probe(schema: str) -> Steps[None]:
    # to_regclass resolves through the session's search_path (the configured schema).
    found = (yield ask((_TABLES_EXIST, {})))[0]
    missing = [t for t, exists in zip(READ_TABLES, found, strict=True) if not exists]
    if missing:
        raise TablesMissing(
            f"no table {', '.join(missing)} in schema {schema} yet: waiting for the "
            "migrations (the ingestor's first start or the migration Job)"
        )
    yield ask((_TABLES_READABLE, {}))  # and the role may read them


def records_readable(pool: ReadOnlyPool | AsyncReadPool) -> Callable[[], None]:
    """A readiness check: the migrated tables exist and the role can read them, not just the
    server answers. On a first install PostgreSQL answers before the ingestor (or the migration
    Job) created the tables; a reader ready then would answer every request with an error."""
    schema = pool.settings.schema

    def check() -> None:
        try:
            pool.read_from_thread(_probe, schema)
        except psycopg2.Error as exc:
            raise RuntimeError(f"tables not readable: {first_line(exc)}") from exc

    return check
