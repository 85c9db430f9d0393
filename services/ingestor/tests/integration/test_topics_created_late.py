"""An ingestor started before its topics exist (the chart creates them with the pods) waits for
their partitions, says so, and stores once they exist: it joins its group only then, so the
group's first assignment never lacks a topic's partitions."""

from __future__ import annotations

import dataclasses

from devstack.testing import wait_for
from streamsuite_common.kafka import connect_admin, ensure_topics

from .conftest import produce, raw_doc, unique


def test_an_ingestor_started_before_its_topics_waits_then_stores(
    kafka_settings, make_config, processes, db
):
    records, dlq = unique("late.records").replace("_", "."), unique("late.dlq").replace("_", ".")
    cfg = make_config()
    cfg = dataclasses.replace(
        cfg, kafka=dataclasses.replace(cfg.kafka, topic=records, dlq_topic=dlq)
    )
    process = processes(cfg)
    admin = connect_admin(kafka_settings)
    try:
        wait_for(
            lambda: "waiting for the topics to exist" in process.tail(200),
            timeout_s=60,
            what="the ingestor saying it waits for its topics",
        )
        assert "partitions assigned" not in process.tail(200)  # not in the group yet
        ensure_topics(admin, [records], partitions=3)
        ensure_topics(admin, [dlq], partitions=1)
        produce(kafka_settings, records, [raw_doc("late.json", b'{"late": true}')], partition=2)
        wait_for(lambda: db.count() == 1, timeout_s=90, what="the record stored")
    finally:
        admin.delete_topics([records, dlq])
        admin.close()
