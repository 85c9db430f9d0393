"""The chart's alert rules on a real ingestor, in the local Prometheus (`make prometheus`): a
table locked by someone else holds every batch back, so the lag grows and nothing is committed:
StreamsuiteConsumerLagGrowing and StreamsuiteIngestStalled become pending (thresholds lowered
through the chart's values so the test need not wait ten minutes)."""

from __future__ import annotations

import dataclasses
import json
import urllib.parse

import psycopg2
from psycopg2 import sql

from devstack import prometheus
from devstack.testing import free_port, http_get, http_status, wait_for
from streamsuite_common.config import HttpSettings

from .conftest import produce, raw_doc


def _pending(base: str) -> set[str]:
    status, _, body = http_get(f"{base}/api/v1/alerts")
    if status != 200:
        return set()
    return {a["labels"]["alertname"] for a in json.loads(body)["data"]["alerts"]}


def _lag_scraped(base: str) -> float | None:
    query = "sum(streamsuite_ingestor_consumer_lag_messages)"
    status, _, body = http_get(f"{base}/api/v1/query?query={urllib.parse.quote(query)}")
    result = json.loads(body)["data"]["result"] if status == 200 else []
    return float(result[0]["value"][1]) if result else None


def test_a_locked_table_trips_the_lag_and_stall_alerts(
    kafka_settings, topics, make_config, processes, db, stack_env, schema, tmp_path
):
    port = free_port()
    cfg = dataclasses.replace(
        make_config(lock_timeout_s=0.5), http=HttpSettings(host="127.0.0.1", port=port)
    )
    processes(cfg)
    produce(kafka_settings, topics[0], [raw_doc("first.json", b'{"n": 0}')], partition=0)
    wait_for(lambda: db.count() == 1, timeout_s=60, what="the first record")

    prom_port = free_port()
    config_file = prometheus.prepare(
        tmp_path / "prometheus",
        {"ingestor": f"127.0.0.1:{port}"},
        interval="1s",
        set_values={"monitoring.rules.lagMessages": "0", "monitoring.rules.stalledSeconds": "5"},
    )
    binary = prometheus.prometheus_binary()
    assert binary.is_file(), f"{binary}: `make chart-test` or `make prometheus` unpacks it"
    server = prometheus.start(binary, config_file, tmp_path / "data", prom_port)
    base = f"http://127.0.0.1:{prom_port}"
    locker = psycopg2.connect(
        stack_env["DEVSTACK_PG_ADMIN_DSN"], dbname=stack_env["DEVSTACK_PG_DBNAME"]
    )
    try:
        wait_for(lambda: http_status(f"{base}/-/ready") == 200, what="Prometheus ready")
        # Scraped with no lag yet, so the lag that follows is seen growing.
        wait_for(lambda: _lag_scraped(base) == 0, what="a scrape with no lag")
        assert not {"StreamsuiteConsumerLagGrowing", "StreamsuiteIngestStalled"} & _pending(base)
        with locker.cursor() as cur:
            cur.execute(
                sql.SQL("LOCK TABLE {}.records IN ACCESS EXCLUSIVE MODE").format(
                    sql.Identifier(schema)
                )
            )
        for n in range(1, 4):
            produce(kafka_settings, topics[0], [raw_doc(f"held-{n}.json", b"{}")], partition=0)
        wait_for(
            lambda: {"StreamsuiteConsumerLagGrowing", "StreamsuiteIngestStalled"} <= _pending(base),
            timeout_s=90,
            what="the lag and stall alerts pending",
        )
    finally:
        locker.rollback()
        locker.close()
        server.terminate()
        server.wait(60)
    wait_for(lambda: db.count() == 4, timeout_s=60, what="the held records once the lock is gone")
