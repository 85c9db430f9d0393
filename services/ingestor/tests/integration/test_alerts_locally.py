"""The chart's alert rules on a real ingestor process, in the local Prometheus (`make
prometheus`), each first seen quiet and then tripped by a real fault:

- a table locked by someone else holds every batch back, so the lag grows and nothing is
  committed: StreamsuiteConsumerLagGrowing and StreamsuiteIngestStalled (thresholds lowered
  through the chart's values so the test need not wait ten minutes);
- poison messages stored as dead letters faster than the shipped threshold (1 a minute):
  StreamsuiteDeadLettersHigh, after a near miss of a single one;
- documents produced an hour before they are stored: StreamsuiteEndToEndLatencyHigh (shipped
  60 s p95), after a near miss of one such straggler among forty on time.

Pending is enough: it means the expression is true (`for:` then only delays firing).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from devstack import prometheus
from devstack.testing import free_port, table_locked, wait_for
from streamsuite_common.config import HttpSettings

from .conftest import produce, raw_doc

LAG = "StreamsuiteConsumerLagGrowing"
STALLED = "StreamsuiteIngestStalled"
DEAD_LETTERS = "StreamsuiteDeadLettersHigh"
LATENCY = "StreamsuiteEndToEndLatencyHigh"


def _ingestor(make_config, processes, **options) -> str:
    """An ingestor process serving /metrics; its host:port."""
    port = free_port()
    cfg = dataclasses.replace(
        make_config(**options), http=HttpSettings(host="127.0.0.1", port=port)
    )
    processes(cfg)
    return f"127.0.0.1:{port}"


def test_a_locked_table_trips_the_lag_and_stall_alerts(
    kafka_settings, topics, make_config, processes, db, stack_env, schema, tmp_path
):
    target = _ingestor(make_config, processes, lock_timeout_s=0.5)
    produce(kafka_settings, topics[0], [raw_doc("first.json", b'{"n": 0}')], partition=0)
    wait_for(lambda: db.count() == 1, timeout_s=60, what="the first record")

    with prometheus.running(
        tmp_path / "prometheus",
        {"ingestor": target},
        set_values={"monitoring.rules.lagMessages": "0", "monitoring.rules.stalledSeconds": "5"},
    ) as base:
        # Scraped with no lag yet, so the lag that follows is seen growing.
        lag = "sum(streamsuite_ingestor_consumer_lag_messages)"
        wait_for(lambda: prometheus.scalar(base, lag) == 0, what="a scrape with no lag")
        prometheus.wait_evaluated(base)
        assert not {LAG, STALLED} & set(prometheus.active_alerts(base))
        with table_locked(stack_env, schema):
            for n in range(1, 4):
                produce(kafka_settings, topics[0], [raw_doc(f"held-{n}.json", b"{}")], partition=0)
            wait_for(
                lambda: {LAG, STALLED} <= set(prometheus.active_alerts(base)),
                timeout_s=90,
                what="the lag and stall alerts pending",
            )
    wait_for(lambda: db.count() == 4, timeout_s=60, what="the held records once the lock is gone")


def test_dead_letters_faster_than_the_threshold_trip_the_dead_letter_alert(
    kafka_settings, topics, make_config, processes, db, tmp_path
):
    target = _ingestor(make_config, processes)

    def poison(first: int, last: int) -> None:
        docs = [raw_doc(f"poison-{n}.json", b"{not json") for n in range(first, last)]
        produce(kafka_settings, topics[0], docs)

    dead = "sum(streamsuite_ingestor_dead_letters_total)"
    with prometheus.running(tmp_path / "prometheus", {"ingestor": target}) as base:
        produce(kafka_settings, topics[0], [raw_doc("good.json", b'{"n": 1}')])
        wait_for(
            lambda: prometheus.scalar(base, "sum(streamsuite_ingestor_records_total)") == 1,
            timeout_s=180,  # the ingestor's start and first assignment on a loaded machine
            what="a good record stored and scraped",
        )
        prometheus.wait_evaluated(base)
        assert DEAD_LETTERS not in prometheus.active_alerts(base)
        # The counter of a reason is born at its first dead letter, and rate() counts only
        # what it sees added after that: one, scraped, then one more.
        poison(0, 1)
        wait_for(lambda: prometheus.scalar(base, dead) == 1, timeout_s=90, what="1 dead letter")
        poison(1, 2)
        wait_for(lambda: prometheus.scalar(base, dead) == 2, timeout_s=90, what="2 dead letters")
        # Near miss: one more in the rule's ten minutes is 0.1 a minute (rate()'s extrapolation
        # of a short series makes it at most 0.31), under the shipped 1 a minute.
        prometheus.wait_evaluated(base)
        assert DEAD_LETTERS not in prometheus.active_alerts(base)
        poison(2, 22)  # 20 more: at least 2 a minute over the ten minutes
        wait_for(
            lambda: DEAD_LETTERS in prometheus.active_alerts(base),
            timeout_s=90,
            what="the dead-letter alert",
        )
        (alert,) = prometheus.active_alerts(base)[DEAD_LETTERS]
        assert alert["state"] == "pending"  # `for: 5m`: the expression is true, not for long
        assert float(alert["value"]) > 1
    assert db.count("dead_letters") == 22
    assert db.count() == 1


def test_documents_produced_long_before_they_are_stored_trip_the_latency_alert(
    kafka_settings, topics, make_config, processes, db, tmp_path
):
    target = _ingestor(make_config, processes)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)

    def docs(prefix: str, count: int, produced_at: datetime | None = None) -> list:
        return [
            raw_doc(f"{prefix}-{n}.json", f'{{"n": {n}}}'.encode(), produced_at=produced_at)
            for n in range(count)
        ]

    stored = "sum(streamsuite_ingestor_end_to_end_seconds_count)"
    with prometheus.running(tmp_path / "prometheus", {"ingestor": target}) as base:
        # Scraped empty first, so every document that follows counts in the rule's rate().
        wait_for(lambda: prometheus.scalar(base, stored) == 0, what="the histogram scraped")
        # Near miss: one document an hour late among forty on time is not the p95.
        produce(kafka_settings, topics[0], docs("on-time", 40) + docs("straggler", 1, an_hour_ago))
        wait_for(
            lambda: prometheus.scalar(base, stored) == 41,
            timeout_s=180,  # the ingestor's start and first assignment on a loaded machine
            what="41 documents stored and scraped",
        )
        prometheus.wait_evaluated(base)
        assert LATENCY not in prometheus.active_alerts(base)
        produce(kafka_settings, topics[0], docs("late", 40, an_hour_ago))
        wait_for(
            lambda: LATENCY in prometheus.active_alerts(base),
            timeout_s=90,
            what="the latency alert",
        )
        (alert,) = prometheus.active_alerts(base)[LATENCY]
        assert alert["state"] == "pending"  # `for: 10m`: the expression is true, not for long
        assert float(alert["value"]) > 60
    assert db.count() == 81
