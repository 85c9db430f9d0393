"""Metrics under worker processes (prometheus_client's multiprocess mode, a real process per
worker): a value the exposing process would read through ``set_function`` reaches /metrics from
whichever worker exposes it, and an ended worker's live gauges go."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from prometheus_client import CollectorRegistry, Gauge

from devstack.testing import wait_for
from streamsuite_common import metrics_workers

WORKER = textwrap.dedent("""
    import sys
    from prometheus_client import CollectorRegistry, Gauge
    from streamsuite_common.metrics_workers import sample_into
    gauge = Gauge("pool_in_use", "in use", registry=CollectorRegistry(),
                  multiprocess_mode="livesum")
    sample_into(gauge, lambda: int(sys.argv[1]))
    sys.stdin.read()  # a worker serving until told to stop
""")


def _pod_value(path: str) -> float:
    registry = metrics_workers.PodRegistry(path)
    Gauge("unused", "registered as a worker's metrics are", registry=registry)
    return registry.get_sample_value("pool_in_use") or 0.0


def test_a_sampled_gauge_adds_up_over_workers_and_forgets_an_ended_one(tmp_path):
    path = str(tmp_path)
    env = {**os.environ, metrics_workers.ENV: path}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(n)], env=env,
                                stdin=subprocess.PIPE) for n in (3, 4)]  # fmt: skip
    try:
        # With set_function the files would say 0: only the process itself calls it.
        wait_for(lambda: _pod_value(path) == 7, timeout_s=30, what="both workers' samples")
        first = workers[0]
        first.communicate(timeout=30)
        metrics_workers.forget_worker(first.pid, path)
        assert _pod_value(path) == 4
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.communicate(timeout=30)


def test_a_single_process_keeps_set_function(monkeypatch):
    monkeypatch.delenv(metrics_workers.ENV, raising=False)
    registry = CollectorRegistry()
    gauge = Gauge("pool_in_use", "in use", registry=registry)
    metrics_workers.sample_into(gauge, lambda: 5)
    assert isinstance(metrics_workers.registry(), CollectorRegistry)
    assert registry.get_sample_value("pool_in_use") == 5
