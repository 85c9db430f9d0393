"""StreamsuiteDependencyDown and StreamsuiteServiceNotReady on real processes, in the local
Prometheus with the chart's rules: an ingestor and a query API reach PostgreSQL through a TCP
forwarder of the test's own (devstack.tcp_proxy), so cutting it takes their database away from
them only; the stack's PostgreSQL stays up for every other test. The query API's `tables` check
is made to fail while PostgreSQL answers by revoking its role's SELECT on this test's schema.
A readiness prober stands in for the kubelet: the services set the gauge the rules read
(streamsuite_<service>_dependency_up) when /readyz runs, and nothing else calls it locally."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml
from psycopg2 import sql

from devstack import prometheus
from devstack.readiness_prober import ReadinessProber
from devstack.tcp_proxy import TcpProxy
from devstack.testing import TEST_JWT_SECRET, free_port, http_status, wait_for
from streamsuite_common.config import KafkaSettings

DOWN = "StreamsuiteDependencyDown"
NOT_READY = "StreamsuiteServiceNotReady"


def _alerts(base: str, name: str) -> dict[tuple[str, str], str]:
    """(pod, or job when the alert has none; dependency) → state of the active alerts ``name``."""
    return {
        (a["labels"].get("pod", a["labels"]["job"]), a["labels"]["dependency"]): a["state"]
        for a in prometheus.active_alerts(base).get(name, [])
    }


def _checks(base: str, metric: str) -> dict[str, float]:
    """Readiness check → its value of ``metric`` as Prometheus last scraped it."""
    return {r["metric"]["dependency"]: float(r["value"][1]) for r in prometheus.query(base, metric)}


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def _config(path: Path, tree: dict) -> Path:
    path.write_text(yaml.safe_dump(tree))
    return path


def test_a_lost_database_and_an_unreadable_table_trip_their_alerts(
    kafka_settings, make_topic, db_schema, stack_env, admin_conn, tmp_path
):
    with contextlib.ExitStack() as stack:
        proxy = stack.enter_context(
            TcpProxy(stack_env["DEVSTACK_PG_HOST"], int(stack_env["DEVSTACK_PG_PORT"]))
        )
        targets = _start_services(stack, proxy.port, kafka_settings, make_topic, db_schema,
                                  stack_env, tmp_path)  # fmt: skip
        for address in targets.values():
            wait_for(
                lambda address=address: http_status(f"http://{address}/readyz") == 200,
                timeout_s=90,
                what=f"{address} ready (the ingestor migrated the schema and joined its group)",
            )
        stack.enter_context(ReadinessProber(targets.values(), period_s=1))
        base = stack.enter_context(prometheus.running(tmp_path / "prometheus", targets))
        # Every check of both services scraped as passing, and the rules evaluated on that.
        wait_for(
            lambda: (
                _checks(base, "streamsuite_ingestor_dependency_up")
                == {"kafka": 1, "postgres": 1, "partitions": 1, "fetching": 1}
                and _checks(base, "streamsuite_query_api_dependency_up")
                == {"postgres": 1, "tables": 1}
            ),
            timeout_s=60,
            what="every readiness check scraped as passing",
        )
        prometheus.wait_evaluated(base)
        assert _alerts(base, DOWN) == {}
        assert _alerts(base, NOT_READY) == {}

        # PostgreSQL goes away for these two services only.
        proxy.cut()
        wait_for(
            lambda: (
                _alerts(base, DOWN).keys()
                == {("streamsuite-ingestor", "postgres"), ("streamsuite-query-api", "postgres")}
            ),
            timeout_s=60,
            what="dependency-down alerts for the ingestor's and the query API's postgres",
        )
        # `for: 5m`: the expression is true, not for long yet.
        assert set(_alerts(base, DOWN).values()) == {"pending"}
        with admin_conn.cursor() as cur:  # the shared server never went down
            cur.execute("SELECT 1")
        proxy.restore()
        wait_for(
            lambda: _alerts(base, DOWN) == {} and _alerts(base, NOT_READY) == {},
            timeout_s=60,
            what="the alerts cleared once PostgreSQL is back",
        )

        # PostgreSQL answers, but the query API's role may no longer read the records table.
        records = sql.Identifier(db_schema, "records")
        reader = sql.Identifier(stack_env["DEVSTACK_READER_ROLE"])
        with admin_conn.cursor() as cur:
            cur.execute(sql.SQL("REVOKE SELECT ON {} FROM {}").format(records, reader))
        wait_for(
            lambda: _alerts(base, NOT_READY).keys() == {("query-api", "tables")},
            timeout_s=60,
            what="the query API not ready: tables",
        )
        assert _alerts(base, NOT_READY) == {("query-api", "tables"): "pending"}  # `for: 10m`
        assert _alerts(base, DOWN) == {}
        with admin_conn.cursor() as cur:
            cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(records, reader))
        wait_for(
            lambda: _alerts(base, NOT_READY) == {},
            timeout_s=60,
            what="the not-ready alert cleared once the table is readable again",
        )


def _start_services(
    stack: contextlib.ExitStack,
    pg_port: int,
    kafka_settings: KafkaSettings,
    make_topic: Callable[..., str],
    db_schema: str,
    stack_env: dict[str, str],
    tmp_path: Path,
) -> dict[str, str]:
    """An ingestor (it migrates the schema) and a query API on ``db_schema``, both reaching
    PostgreSQL on 127.0.0.1:``pg_port``; stopped when ``stack`` closes. Returns their
    service name → host:port."""
    ports = {"ingestor": free_port(), "query-api": free_port()}
    database = {
        "HOST": "127.0.0.1", "PORT": pg_port, "DBNAME": stack_env["DEVSTACK_PG_DBNAME"],
        "SCHEMA": db_schema, "SSLMODE": "disable",
    }  # fmt: skip
    ingestor_cfg = _config(tmp_path / "ingestor.yaml", {
        "KAFKA": {
            "BOOTSTRAP_SERVERS": ",".join(kafka_settings.bootstrap_servers),
            "TOPIC": make_topic("records"), "DLQ_TOPIC": make_topic("dlq"),
        },
        "HTTP": {"HOST": "127.0.0.1", "PORT": ports["ingestor"]},
        "DATABASE": {**database, "DBUSER": stack_env["DEVSTACK_WRITER_ROLE"]},
        "INGESTOR": {"GROUP_ID": f"{db_schema}-ingestor",
                     "READER_ROLE": stack_env["DEVSTACK_READER_ROLE"]},
    })  # fmt: skip
    api_cfg = _config(tmp_path / "query-api.yaml", {
        "HTTP": {"HOST": "127.0.0.1", "PORT": ports["query-api"]},
        "DATABASE": {**database, "DBUSER": stack_env["DEVSTACK_READER_ROLE"]},
        "AUTH": {"JWT_SECRET": TEST_JWT_SECRET},
    })  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSUITE_")}
    for module, cfg, role in (
        ("streamsuite_ingestor", ingestor_cfg, "WRITER"),
        ("streamsuite_query_api", api_cfg, "READER"),
    ):
        password = stack_env[f"DEVSTACK_{role}_PASSWORD_FILE"]
        log = stack.enter_context((tmp_path / f"{module}.log").open("wb"))  # if it fails
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--cfg", str(cfg)],
            env={**env, "STREAMSUITE_DATABASE__USER_PWD_FILE": password},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        stack.callback(_stop, process)
    return {name: f"127.0.0.1:{port}" for name, port in ports.items()}
