"""The query API at QUERY_API.WORKERS=2, the real command line on the real PostgreSQL: /metrics
is one view of the pod (requests served by either worker add up, gauges once), the per-client
limits hold for the pod, not per worker, SIGTERM ends every worker's streams and exits 0, and a
worker that dies is started again."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from devstack.testing import free_port, wait_for

PREFIX = "streamsuite_query_api"
BY_ID = "/api/v1/records/{record_id}"


@dataclass
class Api:
    process: subprocess.Popen
    base: str
    metrics_dir: Path
    log: Path

    def metrics(self) -> str:
        return httpx.get(f"{self.base}/metrics", timeout=10).text

    def workers(self) -> set[int]:
        """Live workers: each has its live gauges' file (the pool size is set at start)."""
        names = glob.glob(str(self.metrics_dir / "gauge_livesum_*.db"))
        return {int(re.search(r"_(\d+)\.db$", name)[1]) for name in names}

    def served_by(self, pid: int, route: str | None = None) -> float:
        """Requests (of ``route``, else any) one worker answered, from its own file."""
        files = glob.glob(str(self.metrics_dir / f"counter_{pid}.db"))
        return sum(sample.value for metric in MultiProcessCollector.merge(files)
                   for sample in metric.samples
                   if sample.name == f"{PREFIX}_requests_total"
                   and route in (None, sample.labels["route"]))  # fmt: skip

    def stream_clients_of(self, pid: int) -> float:
        files = glob.glob(str(self.metrics_dir / f"gauge_livesum_{pid}.db"))
        return sum(sample.value for metric in MultiProcessCollector.merge(files)
                   for sample in metric.samples
                   if sample.name == f"{PREFIX}_stream_clients")  # fmt: skip


def sample_value(text: str, name: str, **labels: str) -> float:
    """The value of one sample in the Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, value = line.rsplit(" ", 1)
        found = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if head.split("{")[0] == name and found == labels:
            return float(value)
    return 0.0


def leave_stale_counts(metrics_dir: Path, count: float) -> None:
    """What a previous run (a restarted container on the same emptyDir) would have left."""
    metrics_dir.mkdir(parents=True, exist_ok=True)
    stale = MmapedDict(str(metrics_dir / "counter_999999.db"))
    name = f"{PREFIX}_requests"
    key = mmap_key(name, f"{name}_total", ["route", "method", "status"], [BY_ID, "GET", "200"],
                   "HTTP requests answered, by route template, method and status")  # fmt: skip
    stale.write_value(key, count, 0.0)
    stale.close()


@contextlib.contextmanager
def workers_api(tmp_path, reader_settings, schema, **sections) -> Iterator[Api]:
    port = free_port()
    db = reader_settings
    tree = {
        "DATABASE": {"HOST": db.host, "PORT": db.port, "DBNAME": db.dbname, "DBUSER": db.dbuser,
                     "SCHEMA": schema, "SSLMODE": "disable"},
        "HTTP": {"HOST": "127.0.0.1", "PORT": port},
        "LOG": {"FORMAT": "json"},
        "AUTH": {"MODE": "none"},
        **sections,
    }  # fmt: skip
    tree["QUERY_API"] = {"WORKERS": 2, "POOL_SIZE": 3, **tree.get("QUERY_API", {})}
    cfg = tmp_path / "query-api.yaml"
    cfg.write_text(yaml.safe_dump(tree))
    metrics_dir = tmp_path / "metrics"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSUITE_")}
    env["STREAMSUITE_DATABASE__USER_PWD"] = db.user_pwd
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    log = tmp_path / "query-api.log"
    command = [sys.executable, "-m", "streamsuite_query_api", "--cfg", str(cfg)]
    with log.open("wb") as out:  # a session of its own: a kill reaches the workers too
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    api = Api(process, f"http://127.0.0.1:{port}", metrics_dir, log)
    try:
        wait_for(lambda: len(api.workers()) == 2, timeout_s=60, what="two workers")
        wait_for(lambda: _ready(api.base), timeout_s=60, what="the query API to be ready")
        yield api
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM as Kubernetes sends it, then whatever is left of the session killed (a
    supervisor killed alone would leave its workers serving)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def fresh_connections(base: str, path: str, count: int) -> list[int]:
    """``count`` concurrent requests, each on a connection of its own (so the kernel hands
    them to either worker); their statuses."""

    def one(_: int) -> int:
        return httpx.get(f"{base}{path}", timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def test_metrics_add_up_the_requests_of_every_worker(tmp_path, reader_settings, schema, filler):
    [record_id] = filler.add({"n": 1})
    leave_stale_counts(tmp_path / "metrics", 1000)
    with workers_api(tmp_path, reader_settings, schema) as api:
        statuses: list[int] = []

        def both_served() -> bool:
            statuses.extend(fresh_connections(api.base, f"/api/v1/records/{record_id}", 16))
            return all(api.served_by(pid, BY_ID) > 0 for pid in api.workers())

        wait_for(both_served, timeout_s=120, what="both workers to serve some requests")
        pids = api.workers()
        assert len(pids) == 2
        assert api.process.pid not in pids
        assert set(statuses) == {200}
        text = api.metrics()
        total = sample_value(text, f"{PREFIX}_requests_total", method="GET", route=BY_ID,
                             status="200")  # fmt: skip
        assert total == len(statuses) == sum(api.served_by(pid, BY_ID) for pid in pids)
        count = sample_value(text, f"{PREFIX}_request_seconds_count", method="GET", route=BY_ID,
                             status="200")  # fmt: skip
        assert count == len(statuses)
        # Gauges: the pod's pool (both workers' sizes), the last readiness answer.
        assert sample_value(text, f"{PREFIX}_db_pool_connections", state="size") == 6
        assert sample_value(text, f"{PREFIX}_dependency_up", dependency="postgres") == 1
        # Every family once, as with one worker (the alerts and dashboards read them).
        for family in ("requests_total", "request_seconds", "db_pool_connections",
                       "stream_clients", "dependency_up"):  # fmt: skip
            assert text.count(f"# TYPE {PREFIX}_{family} ") == 1, family
        api.process.send_signal(signal.SIGTERM)
        assert api.process.wait(timeout=60) == 0


def test_limits_hold_for_the_pod_not_per_worker(tmp_path, reader_settings, schema, filler):
    [record_id] = filler.add({"n": 1})
    burst, rate = 20, 0.1
    limits = {"BURST": burst, "RATE_PER_S": rate, "CONCURRENCY": 100}
    with workers_api(tmp_path, reader_settings, schema, LIMITS=limits) as api:
        started = time.monotonic()
        statuses: list[int] = []

        def both_exhausted() -> bool:
            # Each worker answered more than the whole burst (429s too): with limits counted
            # per worker, both would have let `burst` through.
            statuses.extend(fresh_connections(api.base, f"/api/v1/records/{record_id}", 16))
            return all(api.served_by(pid) > burst for pid in api.workers())

        wait_for(both_exhausted, timeout_s=120, what="both workers to see over a burst each")
        allowed = statuses.count(200)
        refilled = rate * (time.monotonic() - started)
        assert burst <= allowed <= burst + refilled, (allowed, refilled)
        assert statuses.count(429) == len(statuses) - allowed


def test_sigterm_ends_every_workers_streams_and_exits_0(tmp_path, reader_settings, schema):
    with workers_api(tmp_path, reader_settings, schema,
                     QUERY_API={"STREAM_HEARTBEAT_S": 30}) as api:  # fmt: skip
        readers: list[threading.Thread] = []

        def listen(opened: threading.Event) -> None:
            with httpx.stream("GET", f"{api.base}/api/v1/stream", timeout=120) as response:
                for _ in response.iter_lines():
                    opened.set()

        def open_stream() -> None:
            opened = threading.Event()
            readers.append(threading.Thread(target=listen, args=(opened,), daemon=True))
            readers[-1].start()
            assert opened.wait(30)

        def both_streaming() -> bool:
            open_stream()
            return all(api.stream_clients_of(pid) >= 1 for pid in api.workers())

        wait_for(both_streaming, timeout_s=120, what="a stream open on each worker")
        text = api.metrics()
        assert sample_value(text, f"{PREFIX}_stream_clients") == len(readers)
        api.process.send_signal(signal.SIGTERM)
        assert api.process.wait(timeout=60) == 0
        for reader in readers:
            reader.join(timeout=30)
            assert not reader.is_alive(), "a stream was not ended"
    out = api.log.read_text()
    assert "query API stopped" in out
    # The streams were ended by the stop, not cut when the grace period ran out.
    assert "graceful shutdown exceeded" not in out


def test_a_worker_that_dies_is_started_again(tmp_path, reader_settings, schema, filler):
    [record_id] = filler.add({"n": 1})
    with workers_api(tmp_path, reader_settings, schema) as api:
        served = fresh_connections(api.base, f"/api/v1/records/{record_id}", 8)
        victim = min(api.workers())
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in api.workers() and len(api.workers()) == 2,
                 timeout_s=60, what="the dead worker replaced")  # fmt: skip
        wait_for(lambda: _ready(api.base), timeout_s=60, what="ready again")
        served += fresh_connections(api.base, f"/api/v1/records/{record_id}", 8)
        text = api.metrics()
        # What the dead worker counted still counts; its pool is no longer the pod's.
        assert sample_value(text, f"{PREFIX}_requests_total", method="GET", route=BY_ID,
                            status="200") == len(served)  # fmt: skip
        assert sample_value(text, f"{PREFIX}_db_pool_connections", state="size") == 6
        api.process.send_signal(signal.SIGTERM)
        assert api.process.wait(timeout=60) == 0
