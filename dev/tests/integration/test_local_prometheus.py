"""The local Prometheus (`make prometheus`) loads the chart's alert rules and sees them trip on
the local processes: a real publisher whose inbox holds a file that waits (StreamsuiteInboxStuck
pending), an ingestor that does not answer (StreamsuiteServiceDown pending), and an ingestor
stopped while the publisher publishes (StreamsuiteConsumerLagGrowing pending)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from psycopg2 import sql

from devstack import prometheus
from devstack.testing import free_port, http_get, http_status, wait_for


def _down(base: str) -> set[str]:
    return {
        a["labels"]["job"] for a in prometheus.active_alerts(base).get("StreamsuiteServiceDown", [])
    }


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
    targets = {"publisher": f"127.0.0.1:{publisher_port}", "ingestor": f"127.0.0.1:{free_port()}"}
    try:
        with prometheus.running(tmp_path / "prometheus", targets) as base:
            _, _, body = http_get(f"{base}/api/v1/rules")
            loaded = {r["name"] for g in json.loads(body)["data"]["groups"] for r in g["rules"]}
            assert loaded == {r["alert"] for g in prometheus.rule_groups() for r in g["rules"]}
            wait_for(
                lambda: "StreamsuiteInboxStuck" in prometheus.active_alerts(base),
                timeout_s=60,
                what="inbox alert",
            )
            (stuck,) = prometheus.active_alerts(base)["StreamsuiteInboxStuck"]
            assert stuck["state"] == "pending"  # `for: 5m`: the expression is true, not for long
            assert stuck["labels"]["pod"] == "publisher"
            # The ingestor does not answer; query-api and web have no target at all here; the
            # publisher answers (before its first scrape, its `up` was absent for a moment).
            wait_for(
                lambda: (
                    _down(base)
                    == {"streamsuite-ingestor", "streamsuite-query-api", "streamsuite-web"}
                ),
                what="service-down alerts for the three services that do not answer",
            )
    finally:
        _stop(publisher)


def _config(path: Path, tree: dict) -> Path:
    path.write_text(yaml.safe_dump(tree))
    return path


def test_stopping_the_ingestor_trips_the_lag_alert(
    kafka_settings, make_topic, db_schema, stack_env, admin_conn, tmp_path
):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    kafka = {
        "BOOTSTRAP_SERVERS": ",".join(kafka_settings.bootstrap_servers),
        "TOPIC": make_topic("records"),
        "DLQ_TOPIC": make_topic("dlq"),
    }
    publisher_port, ingestor_port = free_port(), free_port()
    publisher_cfg = _config(tmp_path / "publisher.yaml", {
        "KAFKA": kafka,
        "HTTP": {"HOST": "127.0.0.1", "PORT": publisher_port},
        "PUBLISHER": {"STABLE_S": 0.2, "RESCAN_S": 0.5},
    })  # fmt: skip
    ingestor_cfg = _config(tmp_path / "ingestor.yaml", {
        "KAFKA": kafka,
        "HTTP": {"HOST": "127.0.0.1", "PORT": ingestor_port},
        "DATABASE": {
            "HOST": stack_env["DEVSTACK_PG_HOST"], "PORT": int(stack_env["DEVSTACK_PG_PORT"]),
            "DBNAME": stack_env["DEVSTACK_PG_DBNAME"], "DBUSER": stack_env["DEVSTACK_WRITER_ROLE"],
            "SCHEMA": db_schema, "SSLMODE": "disable",
        },
        "INGESTOR": {"GROUP_ID": f"{db_schema}-ingestor", "BATCH_TIMEOUT_MS": 100,
                     "READER_ROLE": stack_env["DEVSTACK_READER_ROLE"]},
    })  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSUITE_")}
    ingestor_env = {
        **env,
        "STREAMSUITE_DATABASE__USER_PWD_FILE": stack_env["DEVSTACK_WRITER_PASSWORD_FILE"],
    }
    publisher = _start(
        [sys.executable, "-m", "streamsuite_publisher", "--cfg", str(publisher_cfg),
         "--dir", str(inbox)], env=env,
    )  # fmt: skip
    ingestor = _start(
        [sys.executable, "-m", "streamsuite_ingestor", "--cfg", str(ingestor_cfg)],
        env=ingestor_env,
    )
    targets = {"publisher": f"127.0.0.1:{publisher_port}", "ingestor": f"127.0.0.1:{ingestor_port}"}

    def stored() -> int:
        with admin_conn.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT count(*) FROM {}.records").format(sql.Identifier(db_schema))
            )
            return cur.fetchone()[0]

    dropped = 0

    def drop() -> None:
        nonlocal dropped
        dropped += 1
        (tmp_path / "new.json").write_text(json.dumps({"n": dropped}))
        (tmp_path / "new.json").rename(inbox / f"doc-{dropped}.json")

    lag = "StreamsuiteConsumerLagGrowing"
    both_scraped = (
        'sum(streamsuite_publisher_documents_total{outcome="published"})'
        " + sum(streamsuite_ingestor_records_total)"
    )
    try:
        # The window "published, none stored" shrunk from 600 s to 5 s, so the test need not wait.
        with prometheus.running(
            tmp_path / "prometheus", targets, set_values={"monitoring.rules.stalledSeconds": "5"}
        ) as base:
            wait_for(
                lambda: http_status(f"http://127.0.0.1:{ingestor_port}/readyz") == 200,
                timeout_s=90,
                what="the ingestor ready (tables migrated)",
            )
            drop()
            wait_for(lambda: stored() == 1, timeout_s=90, what="the first document stored")
            # Both running: what is published is stored, so no lag alert once both scrapes saw
            # the document (a scrape of the publisher that sees it before the ingestor's scrape
            # does may trip it for a moment).
            wait_for(
                lambda: prometheus.scalar(base, both_scraped) == 2,
                what="the document published and stored, scraped",
            )
            prometheus.wait_evaluated(base)
            wait_for(
                lambda: lag not in prometheus.active_alerts(base),
                what="no lag alert while the ingestor stores",
            )
            _stop(ingestor)

            def published_and_alerting() -> bool:
                drop()  # one more document per poll: the publisher keeps publishing
                return lag in prometheus.active_alerts(base)

            wait_for(published_and_alerting, timeout_s=90, interval_s=1, what="the lag alert")
            (alert,) = prometheus.active_alerts(base)[lag]
            assert alert["state"] == "pending"  # `for: 10m`: the expression is true, not for long
            assert alert["annotations"]["summary"] == (
                "Documents are published and no ingestor stores them"
            )
            assert stored() == 1
    finally:
        _stop(publisher)
        if ingestor.poll() is None:
            _stop(ingestor)


def test_the_config_names_the_jobs_like_the_chart_services(tmp_path: Path):
    targets = {"ingestor": "127.0.0.1:9102", "web": "127.0.0.1:8080"}
    cfg = prometheus.config(targets, tmp_path / "rules.yaml", "5s")
    jobs = {job["job_name"]: job["static_configs"][0] for job in cfg["scrape_configs"]}
    assert jobs["streamsuite-ingestor"] == {
        "targets": ["127.0.0.1:9102"],
        "labels": {"namespace": "local", "pod": "ingestor"},
    }
    assert set(jobs) == {"streamsuite-ingestor", "streamsuite-web"}
