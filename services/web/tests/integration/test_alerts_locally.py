"""The chart's StreamsuiteHttpErrors on a real web UI server, in the local Prometheus (`make
prometheus`): bad requests (4xx, the client's fault) leave it quiet; a records table locked by
someone else makes every Records page run past its statement timeout, answered 503, and trips
it. Pending is enough: it means the expression is true (`for: 5m` then only delays firing)."""

from __future__ import annotations

from devstack import prometheus
from devstack.testing import table_locked

from ..conftest import serving, wait_for, web_config

HTTP_ERRORS = "StreamsuiteHttpErrors"


def test_pages_answering_5xx_trip_the_http_error_alert_and_4xx_do_not(
    reader_settings, schema, filler, stack_env, tmp_path
):
    filler.add({"n": 1})
    cfg = web_config(reader_settings, schema, statement_timeout_ms=100)
    target = {"web": f"{cfg.http.host}:{cfg.http.port}"}
    answered = 'sum(streamsuite_web_requests_total{route="/records"})'
    with serving(cfg) as client, prometheus.running(tmp_path / "prometheus", target) as base:

        def bad_requests(count: int) -> None:
            for _ in range(count):
                assert client.get("/records", params={"limit": "-1"}).status_code == 400

        # Near miss: the series of a status is born at its first answer and rate() counts what
        # is added after that: one bad request, scraped, then nineteen more.
        bad_requests(1)
        wait_for(lambda: prometheus.scalar(base, answered) == 1, what="1 answer scraped")
        bad_requests(19)
        wait_for(lambda: prometheus.scalar(base, answered) == 20, what="20 answers scraped")
        prometheus.wait_evaluated(base)
        assert HTTP_ERRORS not in prometheus.active_alerts(base)

        def failing_and_alerting() -> bool:
            assert client.get("/records").status_code == 503
            return HTTP_ERRORS in prometheus.active_alerts(base)

        with table_locked(stack_env, schema):
            wait_for(failing_and_alerting, timeout_s=90, what="the HTTP error alert")
        (alert,) = prometheus.active_alerts(base)[HTTP_ERRORS]
        assert alert["state"] == "pending"
        assert alert["labels"]["job"] == "streamsuite-web"
        assert client.get("/records").status_code == 200
