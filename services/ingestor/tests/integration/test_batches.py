"""Batch shape on the real stack: bounded by bytes as well as by count, and a batch PostgreSQL
rejects for one row is bisected, not replayed one savepoint per row."""

from __future__ import annotations

import json

from devstack.testing import wait_for

from .conftest import produce, raw_doc, running


def _histogram(metric) -> dict[str, float]:
    """{le: cumulative count} of a histogram without labels, plus "count"."""
    out = {}
    for sample in metric.collect()[0].samples:
        if sample.name.endswith("_bucket"):
            out[sample.labels["le"]] = sample.value
        elif sample.name.endswith("_count"):
            out["count"] = sample.value
    return out


def test_batches_are_bounded_by_bytes(kafka_settings, topics, make_config, db):
    docs = [
        raw_doc(f"big/{n:02d}.json", json.dumps({"n": n, "pad": "x" * 400}).encode())
        for n in range(30)
    ]
    produce(kafka_settings, topics[0], docs, partition=0)  # all there before the first poll
    with running(make_config(max_batch_bytes=1024)) as ingestor:
        wait_for(lambda: db.count() == 30, what="every record")
        sizes = _histogram(ingestor.metrics.batch_size)
        bytes_ = _histogram(ingestor.metrics.batch_bytes)
    # ~600 bytes a message with its headers: one, at most two, per transaction.
    assert sizes["5.0"] == sizes["count"], sizes
    assert bytes_["16384.0"] == bytes_["count"], bytes_


def test_one_bad_row_in_a_batch_costs_few_subtransactions(
    kafka_settings, topics, make_config, db, admin_conn
):
    def xid() -> int:
        with admin_conn.cursor() as cur:
            cur.execute("SELECT txid_current()")
            return cur.fetchone()[0]

    with running(make_config()) as ingestor:
        produce(kafka_settings, topics[0], [raw_doc("warm.json", b'{"n": -1}')], partition=0)
        wait_for(lambda: db.count() == 1, what="the first record")
        before = xid()
        docs = [raw_doc(f"many/{n:02d}.json", json.dumps({"n": n}).encode()) for n in range(64)]
        docs[37] = raw_doc("many/huge.json", b'{"x": 1e1000000}')
        produce(kafka_settings, topics[0], docs, partition=0)
        wait_for(lambda: db.count() == 64, what="63 more records")
        wait_for(lambda: db.count("dead_letters") == 1, what="the one refusal")
        assert ingestor.metrics.batch_size.collect()[0].samples
    # Every subtransaction that writes takes a transaction id: one savepoint per row would
    # take 64 and more; halving takes about 2·log2(64).
    used = xid() - before
    assert used < 40, f"{used} transaction ids for 64 messages with one bad row"
    assert db.query("SELECT reason FROM dead_letters") == [("rejected-by-postgres",)]
