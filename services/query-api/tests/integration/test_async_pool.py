"""The query API's pool on the event loop (``streamsuite_common.async_pool``) against the real
PostgreSQL: its bound and wait, a statement timeout, a killed backend, a cancelled request and
a value PostgreSQL refuses. A statement blocked on an advisory lock held by the test stands
for a slow query, so nothing here depends on how fast the machine is."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable, Iterator

import pytest

from streamsuite_common.async_pool import AsyncReadPool
from streamsuite_common.pool import DatabaseUnavailable, StatementTimeout
from streamsuite_common.query import CursorCodec, InvalidQuery, Page, parse_record_params, sql
from streamsuite_common.query import read as query_read
from streamsuite_common.query.steps import ask

from .conftest import unique, wait_for

LOCKED = "SELECT pg_advisory_xact_lock(%(key)s)"


def _rows(text: str, params: dict | None = None):
    return (yield ask((text, params or {})))


def _as_written(text: str):
    """``text`` sent as it is, without parameter formatting (its % signs stay)."""
    return (yield ask((text, None)))  # type: ignore[arg-type]


def _pid():
    return (yield ask(("SELECT pg_backend_pid()", {})))[0][0]


@pytest.fixture
def make_pool(reader_settings, schema) -> Iterator[Callable[..., AsyncReadPool]]:
    made: list[AsyncReadPool] = []

    def make(**options) -> AsyncReadPool:
        settings = {"pool_size": 1, "pool_timeout_s": 0.2, "statement_timeout_ms": 60_000,
                    "application_name": unique("async-pool"), **options}  # fmt: skip
        pool = AsyncReadPool(dataclasses.replace(reader_settings, schema=schema), **settings)
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.close()


@pytest.fixture
def lock(admin_conn) -> Iterator[dict]:
    """An advisory lock the test holds: a read taking it waits until the test lets go."""
    admin_conn.autocommit = True
    key = {"key": random.randrange(1, 2**62)}
    with admin_conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%(key)s)", key)
    yield key
    with admin_conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock_all()")


def _waiting_backends(admin_conn, application_name: str) -> list[int]:
    with admin_conn.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND state = 'active'"
            " AND wait_event_type = 'Lock'",
            (application_name,),
        )
        return [row[0] for row in cur.fetchall()]


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Let the loop run until ``condition`` holds (the pool works on this loop)."""
    async with asyncio.timeout(30):
        while not condition():
            await asyncio.sleep(0.01)
    assert condition(), what


def test_a_request_waits_for_a_slot_then_the_pool_is_unavailable(make_pool, lock, admin_conn):
    pool = make_pool(pool_size=1, pool_timeout_s=0.2)

    async def scenario() -> None:
        holder = asyncio.create_task(pool.read(_rows, LOCKED, lock))
        await _until(lambda: bool(_waiting_backends(admin_conn, pool.application_name)),
                     "the first read to wait on the lock")  # fmt: skip
        assert pool.in_use == 1
        with pytest.raises(DatabaseUnavailable, match=r"all 1 database connections busy for 0\.2s"):
            await pool.read(_rows, "SELECT 1")
        with admin_conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%(key)s)", lock)
        assert await holder == [("",)]
        assert await pool.read(_rows, "SELECT 1") == [(1,)]

    asyncio.run(scenario())
    assert (pool.in_use, pool.idle) == (0, 1)


def test_a_statement_timeout_is_statement_timeout_and_the_session_is_kept(make_pool, lock):
    pool = make_pool(statement_timeout_ms=200)

    async def scenario() -> None:
        before = await pool.read(_pid)
        with pytest.raises(StatementTimeout, match="after 200 ms"):
            await pool.read(_rows, LOCKED, lock)
        assert await pool.read(_pid) == before

    asyncio.run(scenario())


def test_a_killed_backend_is_retried_once_on_a_new_connection(make_pool, admin_conn):
    pool = make_pool()

    async def scenario() -> None:
        old = await pool.read(_pid)
        with admin_conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (old,))
        wait_for(lambda: not _alive(admin_conn, old), what="the backend to go")
        new = await pool.read(_pid)
        assert new != old

    asyncio.run(scenario())
    assert (pool.in_use, pool.idle) == (0, 1)


def _alive(admin_conn, pid: int) -> bool:
    with admin_conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
        return cur.fetchone() is not None


def test_a_cancelled_request_cancels_its_statement_and_frees_its_slot(make_pool, lock, admin_conn):
    pool = make_pool(pool_size=1)

    async def scenario() -> None:
        request = asyncio.create_task(pool.read(_rows, LOCKED, lock))
        await _until(lambda: bool(_waiting_backends(admin_conn, pool.application_name)),
                     "the read to wait on the lock")  # fmt: skip
        request.cancel()  # the client went away
        with pytest.raises(asyncio.CancelledError):
            await request
        assert (pool.in_use, pool.idle) == (0, 0)
        # The statement stops on the server now (the lock is still held: it would wait for
        # the whole minute of its statement timeout otherwise).
        await _until(lambda: not _waiting_backends(admin_conn, pool.application_name),
                     "the cancelled statement to stop")  # fmt: skip
        assert await pool.read(_rows, "SELECT 1") == [(1,)]

    asyncio.run(scenario())
    assert (pool.in_use, pool.idle) == (0, 1)


def test_a_value_postgresql_refuses_is_invalid_query_naming_it(make_pool):
    pool = make_pool()
    codec = CursorCodec("k")
    record_filter, _ = parse_record_params([("jsonpath", '$.a ? (@ like_regex "(")')], codec)

    async def scenario() -> None:
        with pytest.raises(InvalidQuery) as refused:
            await pool.read(query_read.list_records.steps, record_filter, Page(limit=5), codec)
        assert refused.value.param == "jsonpath"
        assert "PostgreSQL refused it" in str(refused.value)
        assert await pool.read(_rows, "SELECT 1") == [(1,)]

    asyncio.run(scenario())
    assert (pool.in_use, pool.idle) == (0, 1)


def _prepared_names():
    rows = yield ask(("SELECT name FROM pg_prepared_statements ORDER BY name", {}))
    return [row[0] for row in rows]


def test_a_record_by_id_is_prepared_once_per_connection_and_answers_as_its_statement(
    make_pool, filler
):
    """The by-id statement is planned once per connection (PREPARE), then run by name; the
    answer is the one the statement itself gives."""
    (record_id,) = filler.add({"a": 1})
    pool = make_pool()
    text, params = sql.record_by_id_sql(record_id)

    async def scenario() -> None:
        first = await pool.read(query_read.get_record.steps, record_id)
        second = await pool.read(query_read.get_record.steps, record_id)
        # The same text with a space more is not registered: PostgreSQL plans it as sent.
        ((_, plain),) = await pool.read(_rows, text + " ", params)
        assert first == second == plain
        assert '"a": 1' in plain
        assert await pool.read(_prepared_names) == ["streamsuite_record_by_id"]
        assert await pool.read(query_read.get_record.steps, record_id + 1) is None

    asyncio.run(scenario())


def test_a_statement_prepared_before_the_pool_knew_is_used_not_an_error(make_pool, filler):
    """A read cancelled after its PREPARE was sent never learns that it ran; the next PREPARE
    of the name on that session (42P05: it exists) is taken as done."""
    (record_id,) = filler.add({"b": 2})
    pool = make_pool()
    statement = sql.PREPARABLE[sql.record_by_id_sql(record_id)[0]]

    async def scenario() -> None:
        await pool.read(_as_written, statement.prepare)  # behind the pool's back
        found = await pool.read(query_read.get_record.steps, record_id)
        assert found is not None
        assert '"b": 2' in found
        assert await pool.read(query_read.get_record.steps, record_id) == found

    asyncio.run(scenario())
    assert (pool.in_use, pool.idle) == (0, 1)


def test_a_session_that_lost_its_prepared_statements_prepares_them_again(make_pool, filler):
    """DEALLOCATE behind the pool's back (a pooler, an operator): the EXECUTE that meets it
    fails as an OperationalError, and the pool's one retry, on a new connection, prepares
    again and answers."""
    (record_id,) = filler.add({"c": 3})
    pool = make_pool()

    async def scenario() -> None:
        found = await pool.read(query_read.get_record.steps, record_id)
        await pool.read(_as_written, "DEALLOCATE ALL")
        assert await pool.read(_prepared_names) == []
        assert await pool.read(query_read.get_record.steps, record_id) == found
        assert await pool.read(_prepared_names) == ["streamsuite_record_by_id"]

    asyncio.run(scenario())
    assert (pool.in_use, pool.idle) == (0, 1)
