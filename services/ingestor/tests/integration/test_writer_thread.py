"""The writer thread: a batch is stored while the next is polled, and its offsets are committed
only afterwards and only for partitions the ingestor still holds."""

from __future__ import annotations

import threading
from contextlib import closing

import psycopg2
from kafka import TopicPartition
from prometheus_client import CollectorRegistry
from psycopg2 import sql

from devstack.testing import wait_for
from streamsuite_common.kafka import connect_admin, connect_consumer
from streamsuite_ingestor.metrics import Metrics
from streamsuite_ingestor.routes import all_routes
from streamsuite_ingestor.service import Ingestor

from .conftest import produce, raw_doc

PER_PARTITION = 20


def _committed(kafka_settings, group: str, topic: str) -> dict[int, int]:
    admin = connect_admin(kafka_settings)
    try:
        offsets = admin.list_group_offsets({group: None})[group]
    finally:
        admin.close()
    return {
        tp.partition: meta.offset
        for tp, meta in offsets.items()
        if tp.topic == topic and meta.offset >= 0
    }


def test_a_partition_revoked_while_its_batch_is_written_is_not_committed(
    kafka_settings, topics, make_config, db, stack_env
):
    topic = topics[0]
    for partition in range(3):
        docs = [raw_doc(f"p{partition}/{n}.json", b'{"n": %d}' % n) for n in range(PER_PARTITION)]
        produce(kafka_settings, topic, docs, partition=partition)
    cfg = make_config(lock_timeout_s=300.0, batch_size=1000)
    ingestor = Ingestor(cfg, all_routes(), Metrics(CollectorRegistry()), stop=threading.Event())
    ingestor.migrate()
    ingestor.connect()
    other = None
    stop_other = threading.Event()
    try:
        admin = psycopg2.connect(
            stack_env["DEVSTACK_PG_ADMIN_DSN"], dbname=stack_env["DEVSTACK_PG_DBNAME"]
        )
        with closing(admin) as locker:
            # The records table locked: the batch in flight waits inside PostgreSQL.
            with locker.cursor() as cur:
                cur.execute(
                    sql.SQL("LOCK TABLE {}.records IN ACCESS EXCLUSIVE MODE").format(
                        sql.Identifier(db.schema)
                    )
                )
            batch = wait_for(lambda: ingestor._poll()[0], what="a first batch")
            ingestor.submit(ingestor.decode(batch, ingestor._epoch))
            partitions = {r.partition for r in batch}
            assert partitions == {0, 1, 2}

            # Another member joins: the rebalance (inside the ingestor's next polls) hands it
            # partitions of the batch still being written.
            other = connect_consumer(kafka_settings, *topics, group_id=cfg.ingestor.group_id)

            def poll_other() -> None:
                while not stop_other.is_set():
                    other.poll(timeout_ms=200)

            poller = threading.Thread(target=poll_other, daemon=True)
            poller.start()

            def handed_over() -> set[int]:
                ingestor._poll()  # what it polls meanwhile is read again later
                mine = {tp.partition for tp in ingestor.consumer.assignment() if tp.topic == topic}
                theirs = {tp.partition for tp in other.assignment() if tp.topic == topic}
                return theirs if theirs and not mine & theirs else set()

            theirs = wait_for(handed_over, what="the other member to get partitions")
            assert ingestor.in_flight is not None, "the batch must still be in flight"
            locker.rollback()  # the write goes through now

        ingestor.finish()
        assert db.count() == 3 * PER_PARTITION  # stored whole
        committed = _committed(kafka_settings, cfg.ingestor.group_id, topic)
        assert not set(committed) & theirs, f"committed revoked partitions: {committed}"
    finally:
        stop_other.set()
        if other is not None:
            other.close(autocommit=False)
        ingestor.stop.set()
        ingestor.close()


def test_offsets_follow_the_database_commit_with_a_batch_behind_in_flight(
    kafka_settings, topics, make_config, db
):
    """Two batches: the second is polled and decoded while the first is written; after each
    finishes, exactly what it stored is committed."""
    topic = topics[0]
    docs = [raw_doc(f"q/{n}.json", b'{"n": %d}' % n) for n in range(10)]
    produce(kafka_settings, topic, docs, partition=0)
    cfg = make_config(batch_size=5)
    ingestor = Ingestor(cfg, all_routes(), Metrics(CollectorRegistry()), stop=threading.Event())
    ingestor.migrate()
    ingestor.connect()
    try:
        first = wait_for(lambda: ingestor._poll()[0], what="a first batch")
        ingestor.submit(ingestor.decode(first, ingestor._epoch))
        second = wait_for(lambda: ingestor._poll()[0], what="a second batch")
        assert 0 not in _committed(kafka_settings, cfg.ingestor.group_id, topic)
        ingestor.finish()
        assert db.count() == 5
        assert _committed(kafka_settings, cfg.ingestor.group_id, topic)[0] == 5
        ingestor.submit(ingestor.decode(second, ingestor._epoch))
        ingestor.finish()
        assert db.count() == 10
        assert _committed(kafka_settings, cfg.ingestor.group_id, topic)[0] == 10
        assert TopicPartition(topic, 0) in ingestor.consumer.assignment()
    finally:
        ingestor.stop.set()
        ingestor.close()


def test_a_stop_between_the_database_commit_and_the_offset_commit_duplicates_nothing(
    kafka_settings, topics, make_config, db
):
    """The writer has committed the batch to PostgreSQL, the offsets never reach Kafka (the
    process dies there): the next ingestor reads the batch again and stores nothing twice,
    by identity for the publisher's messages and by Kafka coordinates for the others."""
    topic = topics[0]
    with_identity = [raw_doc(f"k/{n}.json", b'{"n": %d}' % n) for n in range(6)]
    without = [raw_doc(f"k/bare-{n}.json", b'{"bare": %d}' % n) for n in range(6)]
    produce(kafka_settings, topic, with_identity, partition=0)
    produce(kafka_settings, topic, without, partition=0, with_headers=False)
    cfg = make_config()
    first = Ingestor(cfg, all_routes(), Metrics(CollectorRegistry()), stop=threading.Event())
    first.migrate()
    first.connect()
    try:
        batch = wait_for(
            lambda: (polled := first._poll()[0]) and len(polled) == 12 and polled,
            what="the twelve messages in one batch",
        )
        first.submit(first.decode(batch, first._epoch))
        first.in_flight.future.result()  # stored in PostgreSQL ...
        assert db.count() == 12
        first.in_flight = None  # ... and dead before its offsets are committed
    finally:
        first.stop.set()
        first.close()
    assert 0 not in _committed(kafka_settings, cfg.ingestor.group_id, topic)

    second = Ingestor(cfg, all_routes(), Metrics(CollectorRegistry()), stop=threading.Event())
    second.connect()
    try:

        def read_again() -> bool:
            batch = second._poll()[0]
            if batch:
                second.handle(batch)
            return _committed(kafka_settings, cfg.ingestor.group_id, topic).get(0) == 12

        wait_for(read_again, what="the batch read again and committed")
        assert second.metrics.duplicates._value.get() == 12
        assert db.count() == 12
        assert db.query("SELECT count(*) FROM records WHERE sha256 IS NULL") == [(6,)]
    finally:
        second.stop.set()
        second.close()
