"""Prometheus metrics of a service answered by several worker processes: one coherent view per
pod. Each worker writes its values to files in one directory (prometheus_client's multiprocess
mode, chosen by ``PROMETHEUS_MULTIPROC_DIR`` when prometheus_client is imported, so the
supervisor sets it before it starts the workers); ``/metrics``, whichever worker answers it,
reads every worker's files. Gauges say how their workers' values combine (``multiprocess_mode``,
ignored in a single process)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

ENV = "PROMETHEUS_MULTIPROC_DIR"
SAMPLE_S = 1.0  # how often a worker samples a gauge that would be a set_function


def directory() -> str | None:
    """The directory of this pod's worker metrics, when this process is one of its workers."""
    return os.environ.get(ENV) or None


def prepare() -> tuple[str, Callable[[], None]]:
    """Before the workers start: an empty directory for their metrics, exported to them, and
    how to clean it up at the end. ``$PROMETHEUS_MULTIPROC_DIR`` when set (emptied: a previous
    run's counts, e.g. of a restarted container on the same emptyDir, would add up), else a new
    directory under the temp dir (the chart's ``/tmp`` is an emptyDir; the root is read-only)."""
    given = directory()
    if given:
        os.makedirs(given, exist_ok=True)
        for path in glob.glob(os.path.join(given, "*.db")):
            os.remove(path)
        return given, lambda: None
    made = tempfile.mkdtemp(prefix="streamsuite-metrics-")
    os.environ[ENV] = made
    return made, lambda: shutil.rmtree(made, ignore_errors=True)


def forget_worker(pid: int, path: str) -> None:
    """A worker ended: its ``live*`` gauges go (counters and histograms stay, so totals never
    go backwards)."""
    mark_process_dead(pid, path)


class PodRegistry(CollectorRegistry):
    """The registry a worker's metrics register in (names are still checked once), whose
    exposition is every worker's values, read from the directory."""

    def __init__(self, path: str):
        super().__init__()
        self._every_worker = MultiProcessCollector(None, path)

    def collect(self) -> Iterable[Metric]:
        return self._every_worker.collect()


def registry() -> CollectorRegistry:
    """A worker's ``PodRegistry``, or a plain registry in a single process."""
    path = directory()
    return PodRegistry(path) if path else CollectorRegistry()


def sample_into(gauge: Gauge, read: Callable[[], float]) -> None:
    """``gauge.set_function(read)``, also under workers: a function is only called by the
    process that exposes the gauge, so each worker samples its own value every ``SAMPLE_S``."""
    if directory() is None:
        gauge.set_function(read)
        return

    def sample() -> None:
        while True:
            with contextlib.suppress(Exception):  # a closing pool: the next turn, or none
                gauge.set(read())
            time.sleep(SAMPLE_S)

    threading.Thread(target=sample, name="metrics-sample", daemon=True).start()
