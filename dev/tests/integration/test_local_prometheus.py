"""The local Prometheus (`make prometheus`) loads the chart's alert rules and sees them trip on
the local processes: a real publisher whose inbox holds a file that waits (StreamsuiteInboxStuck
pending) and an ingestor that does not answer (StreamsuiteServiceDown pending)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from devstack import prometheus
from devstack.testing import free_port, http_get, http_status, wait_for


def _alerts(base: str) -> dict[str, list[dict]]:
    """Alert name → its active (pending or firing) alerts."""
    status, _, body = http_get(f"{base}/api/v1/alerts")
    active: dict[str, list[dict]] = {}
    if status == 200:
        for alert in json.loads(body)["data"]["alerts"]:
            active.setdefault(alert["labels"]["alertname"], []).append(alert)
    return active


def _down(base: str) -> set[str]:
    return {a["labels"]["job"] for a in _alerts(base).get("StreamsuiteServiceDown", [])}


def _start(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(60)


def test_the_rules_trip_on_the_local_processes(kafka_settings, make_topic, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # Not stable for an hour: it waits, last modified an hour ago (over the 600 s threshold).
    waiting = inbox / "waiting.json"
    waiting.write_text('{"n": 1}')
    an_hour_ago = time.time() - 3600
    os.utime(waiting, (an_hour_ago, an_hour_ago))
    publisher_port = free_port()
    cfg = tmp_path / "publisher.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "KAFKA": {
                    "BOOTSTRAP_SERVERS": ",".join(kafka_settings.bootstrap_servers),
                    "TOPIC": make_topic("records"),
                    "DLQ_TOPIC": make_topic("dlq"),
                },
                "HTTP": {"HOST": "127.0.0.1", "PORT": publisher_port},
                "PUBLISHER": {"STABLE_S": 3600, "RESCAN_S": 0.5},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSUITE_")}
    publisher = _start(
        [sys.executable, "-m", "streamsuite_publisher", "--cfg", str(cfg), "--dir", str(inbox)],
        env=env,
    )
    port = free_port()
    targets = {"publisher": f"127.0.0.1:{publisher_port}", "ingestor": f"127.0.0.1:{free_port()}"}
    config_file = prometheus.prepare(tmp_path / "prometheus", targets, interval="1s")
    binary = prometheus.prometheus_binary()
    assert binary.is_file(), f"{binary}: `make chart-test` or `make prometheus` unpacks it"
    server = prometheus.start(binary, config_file, tmp_path / "data", port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_status(f"{base}/-/ready") == 200, what="Prometheus ready")
        _, _, body = http_get(f"{base}/api/v1/rules")
        loaded = {r["name"] for g in json.loads(body)["data"]["groups"] for r in g["rules"]}
        assert loaded == {r["alert"] for g in prometheus.rule_groups() for r in g["rules"]}
        wait_for(lambda: "StreamsuiteInboxStuck" in _alerts(base), timeout_s=60, what="inbox alert")
        (stuck,) = _alerts(base)["StreamsuiteInboxStuck"]
        assert stuck["state"] == "pending"  # `for: 5m`: the expression is true, not for long
        assert stuck["labels"]["pod"] == "publisher"
        # The ingestor does not answer; query-api and web have no target at all here; the
        # publisher answers (before its first scrape, its `up` was absent for a moment).
        wait_for(
            lambda: (
                _down(base) == {"streamsuite-ingestor", "streamsuite-query-api", "streamsuite-web"}
            ),
            what="service-down alerts for the three services that do not answer",
        )
    finally:
        _stop(server)
        _stop(publisher)


def test_the_config_names_the_jobs_like_the_chart_services(tmp_path: Path):
    targets = {"ingestor": "127.0.0.1:9102", "web": "127.0.0.1:8080"}
    cfg = prometheus.config(targets, tmp_path / "rules.yaml", "5s")
    jobs = {job["job_name"]: job["static_configs"][0] for job in cfg["scrape_configs"]}
    assert jobs["streamsuite-ingestor"] == {
        "targets": ["127.0.0.1:9102"],
        "labels": {"namespace": "local", "pod": "ingestor"},
    }
    assert set(jobs) == {"streamsuite-ingestor", "streamsuite-web"}
