"""A bounded pool of read-only PostgreSQL sessions with a statement timeout.

Same behaviour as the query API's pool (candidate to move into ``streamsuite_common``): a page
waits up to ``pool_timeout_s`` for a free connection, a cancelled or failed query becomes
``DatabaseUnavailable`` (answered 503), and a stale connection (a restarted server) is retried
once, since reads are safe to repeat.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import TypeVar

import psycopg2
import psycopg2.extensions
import psycopg2.pool

from streamsuite_common.config import DatabaseSettings
from streamsuite_common.db import connect_kwargs

T = TypeVar("T")
Connection = psycopg2.extensions.connection
QUERY_CANCELED = "57014"
APPLICATION = "streamsuite-web"


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot answer now (down, all connections busy, query cancelled)."""


def session_kwargs(settings: DatabaseSettings, *, statement_timeout_ms: int, name: str) -> dict:
    kwargs = connect_kwargs(settings, application_name=name)
    kwargs["options"] += (
        f" -c statement_timeout={int(statement_timeout_ms)}"
        " -c default_transaction_read_only=on -c TimeZone=UTC"
    )
    return kwargs


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


class Database:
    def __init__(
        self,
        settings: DatabaseSettings,
        *,
        pool_size: int,
        pool_timeout_s: float,
        statement_timeout_ms: int,
    ):
        self.settings = settings
        self.size = pool_size
        self.statement_timeout_ms = statement_timeout_ms
        self._timeout_s = pool_timeout_s
        self._kwargs = session_kwargs(
            settings, statement_timeout_ms=statement_timeout_ms, name=APPLICATION
        )
        # minconn 0: the UI starts (and says PostgreSQL is down) while the server is away.
        self._pool = psycopg2.pool.ThreadedConnectionPool(0, pool_size, **self._kwargs)
        self._slots = threading.BoundedSemaphore(pool_size)
        self._lock = threading.Lock()
        self._in_use = 0
        self._proven: weakref.WeakSet[Connection] = weakref.WeakSet()

    @property
    def in_use(self) -> int:
        return self._in_use

    def listener_kwargs(self) -> dict:
        return dict(self._kwargs, application_name=f"{APPLICATION}-listen")

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
                    raise DatabaseUnavailable(
                        f"query cancelled after {self.statement_timeout_ms} ms "
                        "(statement timeout); narrow the filters"
                    ) from exc
                if not isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)):
                    raise
                discard = True
                if attempt == 2 or not reused:
                    raise DatabaseUnavailable(f"database error: {first_line(exc)}") from exc
            finally:
                with contextlib.suppress(psycopg2.pool.PoolError):
                    self._pool.putconn(conn, close=discard or conn.closed != 0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _checkout(self) -> Connection:
        try:
            conn = self._pool.getconn()
        except (psycopg2.Error, psycopg2.pool.PoolError) as exc:
            raise DatabaseUnavailable(f"database unreachable: {first_line(exc)}") from exc
        if not conn.autocommit:
            conn.autocommit = True
        return conn

    def close(self) -> None:
        with contextlib.suppress(psycopg2.Error, psycopg2.pool.PoolError):
            self._pool.closeall()
