"""What could hang the ingestor does not: a consumer that stops fetching is rebuilt, and a table
locked by someone else delays a batch (put back, retried) instead of blocking it forever."""

from __future__ import annotations

import dataclasses

import psycopg2
from psycopg2 import sql

from devstack.testing import wait_for

from .conftest import produce, raw_doc, running


def _value(metric, *labels: str) -> float:
    return (metric.labels(*labels) if labels else metric)._value.get()


def test_a_consumer_that_stops_fetching_is_rebuilt(kafka_settings, topics, make_config, db):
    with running(make_config(fetch_stall_s=2.0)) as ingestor:
        produce(kafka_settings, topics[0], [raw_doc("before.json", b'{"n": 1}')])
        wait_for(lambda: db.count() == 1, what="the first record")
        consumer = ingestor.consumer
        assert consumer is not None
        # The consumer stops fetching (as one whose connection wedged would): nothing arrives
        # although the partitions have messages.
        consumer.pause(*consumer.assignment())
        produce(kafka_settings, topics[0], [raw_doc("after.json", b'{"n": 2}')])
        wait_for(lambda: db.count() == 2, timeout_s=60, what="the record after the stall")
        assert ingestor.consumer is not consumer
        assert _value(ingestor.metrics.consumer_rebuilds, "stalled") >= 1
        assert _value(ingestor.metrics.last_fetch) > 0
        ingestor.check_fetching()  # fetching again: ready


def test_a_locked_table_delays_the_batch_instead_of_hanging_it(
    kafka_settings, topics, make_config, db, stack_env, schema
):
    cfg = make_config(lock_timeout_s=0.5)
    with running(cfg) as ingestor:
        produce(kafka_settings, topics[0], [raw_doc("first.json", b'{"n": 1}')])
        wait_for(lambda: db.count() == 1, what="the first record")
        locker = psycopg2.connect(
            stack_env["DEVSTACK_PG_ADMIN_DSN"], dbname=stack_env["DEVSTACK_PG_DBNAME"]
        )
        try:
            with locker.cursor() as cur:
                cur.execute(
                    sql.SQL("LOCK TABLE {}.records IN ACCESS EXCLUSIVE MODE").format(
                        sql.Identifier(schema)
                    )
                )
            produce(kafka_settings, topics[0], [raw_doc("second.json", b'{"n": 2}')])
            wait_for(
                lambda: _value(ingestor.metrics.retries, "postgres") >= 2,
                timeout_s=60,
                what="the batch put back for the lock, more than once",
            )
        finally:
            locker.rollback()
            locker.close()
        wait_for(lambda: db.count() == 2, what="the second record once the lock is gone")


def test_session_bounds_reach_postgresql(make_config, writer_settings, schema):
    from streamsuite_ingestor.routes import all_routes
    from streamsuite_ingestor.store import Store

    cfg = make_config(statement_timeout_s=7, lock_timeout_s=3)
    store = Store(
        dataclasses.replace(writer_settings, schema=schema),
        all_routes(),
        statement_timeout_s=cfg.ingestor.statement_timeout_s,
        lock_timeout_s=cfg.ingestor.lock_timeout_s,
        tcp_user_timeout_s=cfg.ingestor.tcp_user_timeout_s,
    )
    try:
        with store.connection().cursor() as cur:
            cur.execute(
                "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"
            )
            assert cur.fetchone() == ("7s", "3s")
    finally:
        store.close()
