"""A local Prometheus for the local stack (`make prometheus`): it scrapes the four services and
loads the chart's alert rules, so the alerts can be seen pending and firing without Kubernetes.

The rules are the chart's, rendered by helm for the release "streamsuite" in the namespace
"local"; each scrape job is named like the Service on Kubernetes (streamsuite-<service>) and
labels its series namespace="local" and pod="<service>", so every rule matches unchanged.
Prometheus is Debian's (the package promtool comes from, unpacked into .cache/tools), its state
in var/prometheus/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from devstack.chartcheck import helm
from devstack.readiness_prober import ReadinessProber
from devstack.services import SERVICES
from devstack.settings import StackSettings, repo_root
from devstack.testing import free_port, http_get, http_status, wait_for

NAMESPACE = "local"
RELEASE = "streamsuite"
MONITORING_API = "monitoring.coreos.com/v1"
DEFAULT_PORT = 9090


def prometheus_binary(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    cache = Path(env.get("STREAMSUITE_CACHE", repo_root() / ".cache"))
    return Path(env.get("PROMETHEUS", cache / "tools/prometheus/usr/bin/prometheus"))


def rule_groups(set_values: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The groups of the chart's PrometheusRule, rendered for the local namespace (``set_values``:
    e.g. lower thresholds, as `helm --set` takes them)."""
    text = helm.template(
        repo_root() / "helm" / "streamsuite",
        release=RELEASE,
        namespace=NAMESPACE,
        set_values=set_values,
        api_versions=[MONITORING_API],
    )
    for doc in yaml.safe_load_all(text):
        if doc and doc.get("kind") == "PrometheusRule":
            return doc["spec"]["groups"]
    raise RuntimeError("the chart rendered no PrometheusRule")


def stack_targets(settings: StackSettings) -> dict[str, str]:
    """Service name → host:port of its /metrics in the local stack."""
    return {s.name: f"127.0.0.1:{settings.service_port(s.port)}" for s in SERVICES}


def config(targets: Mapping[str, str], rules_file: Path, interval: str) -> dict[str, Any]:
    """prometheus.yml: one job per service, labelled as the chart's ServiceMonitors would be."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules_file)],
        "scrape_configs": [
            {
                "job_name": f"{RELEASE}-{name}",
                "static_configs": [
                    {"targets": [address], "labels": {"namespace": NAMESPACE, "pod": name}}
                ],
            }
            for name, address in sorted(targets.items())
        ],
    }


def prepare(
    directory: Path,
    targets: Mapping[str, str],
    interval: str = "5s",
    set_values: Mapping[str, str] | None = None,
) -> Path:
    """Write the rules and prometheus.yml under ``directory``; returns the config file."""
    directory.mkdir(parents=True, exist_ok=True)
    rules = directory / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups(set_values)}, sort_keys=False))
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config(targets, rules, interval), sort_keys=False))
    return path


def command(binary: Path, config_file: Path, data: Path, port: int) -> list[str]:
    return [
        str(binary),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]


def start(binary: Path, config_file: Path, data: Path, port: int) -> subprocess.Popen:
    """Prometheus in the background (for tests); its warnings go to stderr."""
    return subprocess.Popen(command(binary, config_file, data, port), stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def running(
    directory: Path,
    targets: Mapping[str, str],
    *,
    interval: str = "1s",
    set_values: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """A Prometheus for ``targets`` (service name → host:port) with the chart's rules, state
    under ``directory``, for a test: its base URL once it is ready; stopped on the way out."""
    binary = prometheus_binary()
    assert binary.is_file(), f"{binary}: `make chart-test` or `make prometheus` unpacks it"
    config_file = prepare(directory, targets, interval=interval, set_values=set_values)
    port = free_port()
    server = start(binary, config_file, directory / "data", port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_status(f"{base}/-/ready") == 200, what="Prometheus ready")
        yield base
    finally:
        server.terminate()
        server.wait(60)


def _api(base: str, path: str) -> Any:
    """The ``data`` of a Prometheus API answer; None when it does not answer 200."""
    status, _, body = http_get(f"{base}/api/v1/{path}")
    return json.loads(body)["data"] if status == 200 else None


def active_alerts(base: str) -> dict[str, list[dict[str, Any]]]:
    """Alert name → its active (pending or firing) alerts in the Prometheus at ``base``."""
    active: dict[str, list[dict[str, Any]]] = {}
    for alert in (_api(base, "alerts") or {"alerts": []})["alerts"]:
        active.setdefault(alert["labels"]["alertname"], []).append(alert)
    return active


def query(base: str, expr: str) -> list[dict[str, Any]]:
    """The instant vector ``expr`` evaluates to now (empty when Prometheus does not answer)."""
    data = _api(base, f"query?query={urllib.parse.quote(expr)}")
    return data["result"] if data else []


def scalar(base: str, expr: str) -> float | None:
    """The value of a one-element ``expr`` (e.g. a ``sum(...)``); None while it has none."""
    result = query(base, expr)
    return float(result[0]["value"][1]) if result else None


def _evaluated_since(base: str, moment: float) -> bool:
    groups = (_api(base, "rules") or {"groups": []})["groups"]
    return bool(groups) and all(
        datetime.fromisoformat(g["lastEvaluation"]).timestamp() > moment for g in groups
    )


def wait_evaluated(base: str, timeout_s: float = 60) -> None:
    """Wait for an evaluation of every rule group that started after this call: the alerts
    then reflect every sample a query answered before it (a check that nothing fires)."""
    called = time.time()
    wait_for(lambda: _evaluated_since(base, called), timeout_s=timeout_s, what="a rule evaluation")


HTTP_ERRORS = "StreamsuiteHttpErrors"


def drive_http_errors(
    base: str,
    client: Any,
    *,
    path: str,
    answered: str,
    failing_status: int,
    job: str,
    failing: Any,
) -> None:
    """StreamsuiteHttpErrors on a real HTTP service (its requests counter ``answered`` summed
    over ``path``): twenty 400s leave it quiet, then inside ``failing`` (a context that makes
    ``path`` answer ``failing_status``) it turns pending for ``job``, and after it ``path``
    answers 200 again. The series of a status is born at its first answer and rate() counts
    what is added after that: one bad request is scraped before the other nineteen."""

    def bad_requests(count: int) -> None:
        for _ in range(count):
            assert client.get(path, params={"limit": "-1"}).status_code == 400

    bad_requests(1)
    wait_for(lambda: scalar(base, answered) == 1, what="1 answer scraped")
    bad_requests(19)
    wait_for(lambda: scalar(base, answered) == 20, what="20 answers scraped")
    wait_evaluated(base)
    assert HTTP_ERRORS not in active_alerts(base)

    def failing_and_alerting() -> bool:
        assert client.get(path).status_code == failing_status
        return HTTP_ERRORS in active_alerts(base)

    with failing:
        wait_for(failing_and_alerting, timeout_s=90, what="the HTTP error alert")
    (alert,) = active_alerts(base)[HTTP_ERRORS]
    assert alert["state"] == "pending"
    assert alert["labels"]["job"] == job
    assert client.get(path).status_code == 200


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack.prometheus", description=__doc__)
    parser.add_argument("--port", type=int, help=f"default {DEFAULT_PORT} + the port offset")
    parser.add_argument("--interval", default="5s", help="scrape and rule evaluation interval")
    args = parser.parse_args(argv)
    settings = StackSettings.from_env()
    port = args.port or settings.service_port(DEFAULT_PORT)
    directory = settings.var / "prometheus"
    targets = stack_targets(settings)
    config_file = prepare(directory, targets, args.interval)
    binary = prometheus_binary()
    if not binary.is_file():
        print(f"prometheus not found at {binary}: run make prometheus", file=sys.stderr)
        return 2
    print(f"Prometheus on http://127.0.0.1:{port}/alerts (rules: {directory / 'rules.yaml'})")
    sys.stdout.flush()
    # The services set their dependency gauges only when /readyz runs: probe it as the kubelet
    # does, or StreamsuiteDependencyDown and StreamsuiteServiceNotReady could never trip here.
    with ReadinessProber(targets.values()):
        try:  # Ctrl-C reaches Prometheus too (same process group); it stops cleanly
            return subprocess.call(command(binary, config_file, directory / "data", port))
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
