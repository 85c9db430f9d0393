"""The query API's pool of read-only PostgreSQL sessions, on the event loop.

psycopg2 in asynchronous mode: a statement is sent, then ``conn.poll()`` is followed with the
loop's ``add_reader``/``add_writer`` on the connection's socket, so a read costs no worker
thread (the hop to one and back was about a third of a by-id answer's GIL time). The reads
are the same sans-IO steps the web UI runs on blocking connections (``query.steps``).

The promises of ``pool.ReadOnlyPool``, kept: at most ``pool_size`` connections in use, a
request waits up to ``pool_timeout_s`` for one, then ``DatabaseUnavailable`` (503); idle
connections are kept, none opened before the first request; a stale connection (a restarted
server) is retried once on a new one; a statement timeout is ``StatementTimeout`` (504); a
bound value PostgreSQL refuses is ``InvalidQuery`` (400). A request cancelled mid-statement
(its client went away) leaves no busy connection behind: the statement is cancelled on the
server and the connection closed, from a worker thread (libpq's cancel blocks).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import weakref
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg2
import psycopg2.extensions

from streamsuite_common.config import DatabaseSettings
from streamsuite_common.pool import (
    QUERY_CANCELED,
    DatabaseUnavailable,
    StatementTimeout,
    first_line,
    session_kwargs,
)
from streamsuite_common.query.steps import PreparingConnection, Step, Steps, failed, prepared

T = TypeVar("T")
Connection = psycopg2.extensions.connection
_POLL_OK = psycopg2.extensions.POLL_OK
_POLL_READ = psycopg2.extensions.POLL_READ
_POLL_WRITE = psycopg2.extensions.POLL_WRITE


def _wake(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def wait_ready(conn: Connection) -> None:
    """Until ``conn.poll()`` says the connection finished what it was doing (connecting, or
    the statement sent); raises what psycopg2 raises for a failed statement."""
    loop = asyncio.get_running_loop()
    while True:
        state = conn.poll()
        if state == _POLL_OK:
            return
        fd = conn.fileno()
        waiter = loop.create_future()
        if state == _POLL_READ:
            loop.add_reader(fd, _wake, waiter)
            try:
                await waiter
            finally:
                loop.remove_reader(fd)
        elif state == _POLL_WRITE:
            loop.add_writer(fd, _wake, waiter)
            try:
                await waiter
            finally:
                loop.remove_writer(fd)
        else:  # pragma: no cover - psycopg2 documents only the three states
            raise psycopg2.OperationalError(f"unexpected poll state {state}")


async def execute(conn: Connection, step: Step) -> list:
    """One step on an asynchronous connection: its rows, or ``InvalidQuery``."""
    (text, params), f = step
    cur = conn.cursor()
    try:
        cur.execute(text, params)
        await wait_ready(conn)
        return cur.fetchall() if cur.description is not None else []  # PREPARE: no rows
    except psycopg2.Error as exc:
        return failed(exc, text, f)
    finally:
        cur.close()


async def drive(steps: Steps[T], answer: Callable[[Step], Awaitable[list]]) -> T:
    """``query.steps.drive`` on the event loop: ``answer`` awaits each statement's rows."""
    try:
        step = next(steps)
        while True:
            step = steps.send(await answer(step))
    except StopIteration as done:
        return done.value


def _cancel_and_close(conn: Connection) -> None:
    with contextlib.suppress(psycopg2.Error):
        if conn.isexecuting():
            conn.cancel()  # the server stops the statement now, not at statement_timeout
    with contextlib.suppress(psycopg2.Error):
        conn.close()


class AsyncReadPool:
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
        self._connect_timeout_s = float(self._kwargs.pop("connect_timeout"))
        self._idle: list[Connection] = []
        self._closed = False
        # Slots by hand, not asyncio.Semaphore: the pool outlives any one event loop
        # (tests drive one app from several), and a handed-over slot must not get lost.
        self._free = pool_size
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._in_use = 0
        self._proven: weakref.WeakSet[Connection] = weakref.WeakSet()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def idle(self) -> int:
        return len(self._idle)

    def listener_kwargs(self) -> dict:
        """Connection options for a dedicated (non-pooled) connection, such as LISTEN's."""
        kwargs = dict(self._kwargs, application_name=f"{self.application_name}-listen")
        kwargs["connect_timeout"] = int(self._connect_timeout_s)
        return kwargs

    def bind(self) -> None:
        """Remember the serving loop, for ``read_from_thread`` (call it from that loop)."""
        self._loop = asyncio.get_running_loop()

    async def read(self, make_steps: Callable[..., Steps[T]], *args: object, **kwargs: object) -> T:
        """A sans-IO read on a pooled connection; DatabaseUnavailable when it cannot."""
        await self._acquire()
        self._in_use += 1
        try:
            return await self._read(make_steps, args, kwargs)
        finally:
            self._in_use -= 1
            self._release()

    def read_from_thread(self, make_steps: Callable[..., Steps[T]], *args: object) -> T:
        """``read`` from another thread (the readiness checks), on the serving loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise DatabaseUnavailable("the service is not serving yet")
        future = asyncio.run_coroutine_threadsafe(self.read(make_steps, *args), loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError as exc:
            raise DatabaseUnavailable("the service is stopping") from exc

    async def _acquire(self) -> None:
        if self._free and not self._waiters:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._timeout_s):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._release()  # a slot came as we gave up: pass it on
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise DatabaseUnavailable(
                    f"all {self.size} database connections busy for {self._timeout_s:g}s"
                ) from None
            raise

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the next in line
                return
        self._free += 1

    async def _read(self, make_steps: Callable[..., Steps[T]], args: tuple, kwargs: dict) -> T:
        for attempt in (1, 2):
            conn = await self._checkout()
            reused = conn in self._proven
            discard = True
            try:
                steps = prepared(conn, make_steps(*args, **kwargs))
                result = await drive(steps, functools.partial(execute, conn))
                discard = False
                self._proven.add(conn)
                return result
            except psycopg2.Error as exc:
                if exc.pgcode == QUERY_CANCELED:
                    discard = False  # the session is fine, the statement was too slow
                    raise StatementTimeout(
                        f"query cancelled after {self.statement_timeout_ms} ms "
                        "(statement timeout); narrow the filters"
                    ) from exc
                if not isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)):
                    discard = conn.isexecuting()
                    raise
                if attempt == 2 or not reused:
                    raise DatabaseUnavailable(f"database error: {first_line(exc)}") from exc
            except Exception:
                # Not the connection's fault (InvalidQuery, a read's own error): it is idle.
                discard = conn.isexecuting()
                raise
            finally:
                # Also reached when cancelled mid-statement (discard stays True).
                self._checkin(conn, discard=discard)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _checkout(self) -> Connection:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        try:
            conn = psycopg2.connect(
                **self._kwargs, async_=1, connection_factory=PreparingConnection
            )
        except psycopg2.Error as exc:
            raise DatabaseUnavailable(f"database unreachable: {first_line(exc)}") from exc
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                await wait_ready(conn)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, psycopg2.Error):
                raise DatabaseUnavailable(f"database unreachable: {first_line(exc)}") from exc
            if isinstance(exc, TimeoutError):
                raise DatabaseUnavailable(
                    f"database unreachable: no connection in {self._connect_timeout_s:g}s"
                ) from None
            raise
        return conn

    def _checkin(self, conn: Connection, *, discard: bool) -> None:
        """Keep a healthy idle connection for the next request; close anything else."""
        keep = not discard and not conn.closed and not self._closed
        if keep and conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            keep = False
        if keep and len(self._idle) < self.size:
            self._idle.append(conn)
        elif conn.closed:
            pass
        elif conn.isexecuting():
            asyncio.get_running_loop().run_in_executor(None, _cancel_and_close, conn)
        else:
            with contextlib.suppress(psycopg2.Error):
                conn.close()

    def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(psycopg2.Error):
                conn.close()
