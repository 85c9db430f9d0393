"""The ingestor's lag and progress metrics tell the truth: lag counts the messages not stored
yet (polled or not), up to the last stable offset, and the commit timestamp moves only when a
batch is stored."""

from __future__ import annotations

import psycopg2
from psycopg2 import sql

from devstack.testing import unique, wait_for
from streamsuite_common.kafka import connect_producer

from .conftest import produce, raw_doc, running


def _lag(ingestor, topic: str, partition: int = 0) -> float | None:
    """The gauge's value for one partition, None while it has no sample."""
    for family in ingestor.metrics.lag.collect():
        for sample in family.samples:
            if sample.labels == {"topic": topic, "partition": str(partition)}:
                return sample.value
    return None


def test_lag_counts_polled_messages_until_they_are_stored(
    kafka_settings, topics, make_config, db, stack_env, schema
):
    with running(make_config(lock_timeout_s=0.5)) as ingestor:
        produce(kafka_settings, topics[0], [raw_doc("first.json", b'{"n": 0}')], partition=0)
        wait_for(lambda: db.count() == 1, what="the first record")
        wait_for(lambda: _lag(ingestor, topics[0]) == 0, what="no lag once it is stored")
        # Offsets are committed just after the database commit (the writer thread's).
        committed_at = wait_for(
            lambda: ingestor.metrics.last_commit._value.get(), what="the first offset commit"
        )
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
            docs = [raw_doc(f"locked-{n}.json", b'{"n": %d}' % n) for n in range(1, 4)]
            produce(kafka_settings, topics[0], docs, partition=0)
            wait_for(
                lambda: ingestor.metrics.retries.labels("postgres")._value.get() >= 2,
                timeout_s=60,
                what="the batch put back for the lock, more than once",
            )
            # Polled again and again, stored never: all three are still lag.
            wait_for(lambda: _lag(ingestor, topics[0]) == 3, what="the unstored batch as lag")
            assert ingestor.metrics.last_commit._value.get() == committed_at
        finally:
            locker.rollback()
            locker.close()
        wait_for(lambda: db.count() == 4, what="the batch once the lock is gone")
        wait_for(lambda: _lag(ingestor, topics[0]) == 0, what="no lag once they are stored")
        wait_for(
            lambda: ingestor.metrics.last_commit._value.get() > committed_at,
            what="the batch's offset commit",
        )


def test_lag_counts_neither_markers_nor_an_open_transaction(
    kafka_settings, topics, make_config, db
):
    producer = connect_producer(kafka_settings, transactional_id=unique("lag-tx"))
    try:
        producer.init_transactions()
        producer.begin_transaction()
        for n in range(2):
            doc = raw_doc(f"committed-{n}.json", b'{"n": %d}' % n)
            producer.send(topics[0], value=doc.value, headers=doc.headers(), partition=0)
        producer.commit_transaction()  # two messages and a commit marker
        producer.begin_transaction()
        for n in range(2):
            doc = raw_doc(f"open-{n}.json", b'{"n": %d}' % n)
            producer.send(topics[0], value=doc.value, headers=doc.headers(), partition=0)
        producer.flush(timeout=60)  # written, but the transaction stays open: not readable yet
        with running(make_config()) as ingestor:
            wait_for(lambda: db.count() == 2, what="the committed transaction's records")
            # Above the high watermark's 5 offsets: 2 stored, 1 marker, 2 not readable yet.
            wait_for(lambda: _lag(ingestor, topics[0]) == 0, what="no lag for what is unreadable")
        producer.abort_transaction()
    finally:
        producer.close()
