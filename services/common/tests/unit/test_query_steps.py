"""The reads as sans-IO steps, driven with canned rows: the blocking runner (web UI) and the
event-loop runner (query API) ask the same statements and build the same answer; and the
async pool's slots without a server."""

from __future__ import annotations

import asyncio

import pytest

from devstack.testing import free_port
from streamsuite_common.async_pool import AsyncReadPool, drive
from streamsuite_common.config import DatabaseSettings
from streamsuite_common.pool import DatabaseUnavailable
from streamsuite_common.query import CursorCodec, Page, parse_record_params, sql
from streamsuite_common.query import read as query_read
from streamsuite_common.query import steps as query_steps

CODEC = CursorCodec("k")
LATEST = 1000


def canned(asked: list) -> callable:
    """Answers: the newest id is LATEST, and every other statement finds ids below its top."""

    def answer(step: query_steps.Step) -> list:
        asked.append(step)
        if step[0] == sql.latest_record_id_sql():
            return [(LATEST,)]
        return [(i, f'{{"id":{i}}}') for i in (LATEST, LATEST - 1, LATEST - 2)]

    return answer


def key_value_page():
    record_filter, _ = parse_record_params([("key", "a"), ("value", "1")], CODEC)
    return query_read.list_records.steps(record_filter, Page(limit=2), CODEC)


def test_both_runners_ask_the_same_statements_and_build_the_same_page() -> None:
    blocking_asked: list = []
    blocking = query_steps.drive(key_value_page(), canned(blocking_asked))

    async_asked: list = []
    answer = canned(async_asked)

    async def answer_later(step: query_steps.Step) -> list:
        await asyncio.sleep(0)  # a real suspension, as on a socket
        return answer(step)

    on_loop = asyncio.run(drive(key_value_page(), answer_later))

    assert blocking == on_loop
    assert blocking_asked == async_asked
    # The newest id, then one window below it that filled the page (limit + 1 rows): done.
    assert blocking_asked[0][0] == sql.latest_record_id_sql()
    assert len(blocking_asked) == 2
    assert blocking.items == [f'{{"id":{LATEST}}}', f'{{"id":{LATEST - 1}}}']
    assert blocking.next_cursor is not None
    # The filter rides with the statement, to name the parameter PostgreSQL refuses.
    assert blocking_asked[1][1] is not None


def test_a_composed_read_asks_only_what_it_needs() -> None:
    asked: list = []
    preview = '{"id":7,"payload_truncated":true,"payload_preview":"x"}'
    assert query_steps.drive(query_read.whole.steps(preview), canned(asked)) == '{"id":1000}'
    assert [step[0] for step in asked] == [sql.record_by_id_sql(7)]
    asked.clear()
    assert query_steps.drive(query_read.whole.steps('{"id":7}'), canned(asked)) == '{"id":7}'
    assert asked == []


def _pool(port: int, timeout_s: float = 0.05) -> AsyncReadPool:
    settings = DatabaseSettings(host="127.0.0.1", port=port, dbname="streamsuite",
                                dbuser="reader", connect_timeout_s=1)  # fmt: skip
    return AsyncReadPool(settings, pool_size=1, pool_timeout_s=timeout_s,
                         statement_timeout_ms=1000, application_name="test")  # fmt: skip


def test_the_async_pool_waits_for_a_slot_then_gives_up() -> None:
    pool = _pool(free_port())

    async def busy() -> None:
        await pool._acquire()  # the one slot is taken
        with pytest.raises(DatabaseUnavailable, match="all 1 database connections busy"):
            await pool.read(query_read.latest_record_id.steps)

    asyncio.run(busy())
    assert pool.in_use == 0


def test_a_slot_given_back_goes_to_the_request_waiting() -> None:
    pool = _pool(free_port(), timeout_s=30)

    async def handed_over() -> None:
        await pool._acquire()
        waiting = asyncio.create_task(pool.read(query_read.latest_record_id.steps))
        await asyncio.sleep(0)
        assert not waiting.done()
        pool._release()
        # It got the slot (no server there: unreachable, not busy) and gave it back.
        with pytest.raises(DatabaseUnavailable, match="database unreachable"):
            await waiting
        assert pool._free == 1

    asyncio.run(handed_over())
    assert pool.in_use == 0


class Session:
    """A connection's stand-in: only what ``steps.prepared`` reads (its ``prepared`` names)."""

    def __init__(self) -> None:
        self.prepared: set[str] = set()


def test_a_registered_statement_is_prepared_once_per_session_then_run_by_name() -> None:
    statement = sql.PREPARABLE[sql.record_by_id_sql(1)[0]]
    session, other = Session(), Session()
    for conn, expected in ((session, 2), (session, 1), (other, 2)):
        asked: list = []
        found = drive_sync(query_steps.prepared(conn, query_read.get_record.steps(7)), asked)
        texts = [text for (text, _), _ in asked]
        assert texts == [statement.prepare, statement.execute][-expected:]
        assert asked[-1][0][1] == {"id": 7}
        assert found == '{"id":7}'
    assert session.prepared == other.prepared == {statement.name}


def test_a_statement_not_registered_or_a_plain_connection_runs_as_written() -> None:
    latest = sql.PREPARABLE[sql.latest_record_id_sql()[0]]
    asked: list = []
    drive_sync(query_steps.prepared(Session(), key_value_page()), asked)
    written: list = []
    drive_sync(key_value_page(), written)
    # The newest id is registered; a document filter's windows (value-dependent plans) not.
    assert [step[0][0] for step in asked[:2]] == [latest.prepare, latest.execute]
    assert asked[2:] == written[1:]
    assert all(step[0][0] not in sql.PREPARABLE for step in written[1:])
    plain: list = []
    drive_sync(query_steps.prepared(object(), query_read.get_record.steps(7)), plain)
    assert [step[0] for step in plain] == [sql.record_by_id_sql(7)]


def test_a_prepared_statement_has_the_parameters_of_its_text_in_order() -> None:
    text = "SELECT %(b)s::int + %(a)s::int, '100%%'"
    with pytest.raises(ValueError, match="not"):
        sql.preparable("x", text, {"a": "integer"})
    sql.preparable("t_sum", text, {"a": "integer", "b": "integer"})
    made = sql.PREPARABLE.pop(text)
    assert made.prepare == "PREPARE t_sum(integer, integer) AS SELECT $2::int + $1::int, '100%'"
    assert made.execute == "EXECUTE t_sum(%(a)s, %(b)s)"


def drive_sync(steps: query_steps.Steps, asked: list):
    def answer(step: query_steps.Step) -> list:
        asked.append(step)
        text = step[0][0]
        if text.startswith("PREPARE"):
            return []
        return [(7, '{"id":7}')]

    return query_steps.drive(steps, answer)
