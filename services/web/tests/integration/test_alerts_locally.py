"""The chart's StreamsuiteHttpErrors on a real web UI server, in the local Prometheus (`make
prometheus`): bad requests (4xx, the client's fault) leave it quiet; a records table locked by
someone else makes every Records page run past its statement timeout, answered 503, and trips
it. Pending is enough: it means the expression is true (`for: 5m` then only delays firing)."""

from __future__ import annotations

from devstack import prometheus
from devstack.testing import table_locked

from ..conftest import serving, web_config


def test_pages_answering_5xx_trip_the_http_error_alert_and_4xx_do_not(
    reader_settings, schema, filler, stack_env, tmp_path
):
    filler.add({"n": 1})
    cfg = web_config(reader_settings, schema, statement_timeout_ms=100)
    target = {"web": f"{cfg.http.host}:{cfg.http.port}"}
    answered = 'sum(streamsuite_web_requests_total{route="/records"})'
    with serving(cfg) as client, prometheus.running(tmp_path / "prometheus", target) as base:
        prometheus.drive_http_errors(base, client, path="/records", answered=answered,
                                     failing_status=503, job="streamsuite-web",
                                     failing=table_locked(stack_env, schema))  # fmt: skip
