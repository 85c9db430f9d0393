"""/healthz, /readyz and /metrics with real dependency checks, through real outages.

The outage tests run a broker and a database server of their own (same code as the local
stack, other ports, state in a temp dir) so stopping them does not disturb the shared ones.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from devstack.kafka import KafkaBroker
from devstack.postgres import LocalPostgres
from devstack.settings import StackSettings
from devstack.testing import free_port, http_get, wait_for
from streamsuite_common.config import DatabaseSettings, KafkaSettings
from streamsuite_common.db import DatabaseProbe
from streamsuite_common.health import HealthServer, Readiness
from streamsuite_common.kafka import KafkaProbe


def _wait_for_status(url: str, status: int, timeout_s: float = 60) -> dict:
    code, _, body = wait_for(
        lambda: (r := http_get(url))[0] == status and r, what=f"{url} to answer {status}",
        timeout_s=timeout_s,
    )  # fmt: skip
    assert code == status
    return json.loads(body)


@pytest.fixture
def serve():
    servers: list[HealthServer] = []

    def start(checks: dict, alive=lambda: True) -> str:
        registry = CollectorRegistry()
        readiness = Readiness(checks, service="test", registry=registry, cache_s=0)
        server = HealthServer("127.0.0.1", 0, readiness, registry=registry, alive=alive).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def own_stack_settings(tmp_path_factory) -> StackSettings:
    shared = StackSettings.from_env()
    return dataclasses.replace(
        shared,
        var=Path(tmp_path_factory.mktemp("own")),
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        pg_port=free_port(),
        partitions=1,
        database_url=None,
    )


@pytest.fixture
def own_postgres(own_stack_settings) -> Iterator[LocalPostgres]:
    server = LocalPostgres(own_stack_settings)
    server.start()
    server.wait_ready()
    yield server
    server.stop()


@pytest.fixture
def own_kafka(own_stack_settings) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(own_stack_settings)
    broker.start()
    broker.wait_ready()
    yield broker
    broker.stop()


def test_all_three_endpoints_answer_with_the_shared_stack(serve, kafka_settings, writer_settings):
    base = serve(
        {
            "kafka": KafkaProbe(kafka_settings),
            "postgres": DatabaseProbe(writer_settings, application_name="test"),
        }
    )
    assert http_get(f"{base}/healthz")[0] == 200
    assert _wait_for_status(f"{base}/readyz", 200) == {
        "status": "ready",
        "checks": {"kafka": "ok", "postgres": "ok"},
    }
    code, content_type, text = http_get(f"{base}/metrics")
    assert code == 200
    assert content_type.startswith("text/plain")
    assert 'streamsuite_test_dependency_up{dependency="kafka"} 1.0' in text
    assert http_get(f"{base}/nope")[0] == 404


def test_liveness_does_not_depend_on_readiness(serve):
    def broken() -> None:
        raise ConnectionError("kafka unreachable")

    base = serve({"kafka": broken})
    assert http_get(f"{base}/healthz")[0] == 200
    body = _wait_for_status(f"{base}/readyz", 503)
    assert body["checks"] == {"kafka": "kafka unreachable"}


def test_readiness_follows_postgres_going_away_and_coming_back(serve, own_postgres):
    endpoint = own_postgres.endpoint
    settings = DatabaseSettings(
        host=endpoint.host, port=endpoint.port, dbname="postgres", dbuser="postgres",
        user_pwd="", sslmode="disable",
    )  # fmt: skip
    # Host connections need a password; the probe uses the socket like a local admin would.
    settings = dataclasses.replace(settings, host=str(own_postgres.sockets))
    base = serve({"postgres": DatabaseProbe(settings, application_name="test")})
    _wait_for_status(f"{base}/readyz", 200)

    own_postgres.stop()
    body = _wait_for_status(f"{base}/readyz", 503)
    assert body["checks"]["postgres"].startswith("postgres unreachable")
    assert http_get(f"{base}/healthz")[0] == 200

    own_postgres.start()
    own_postgres.wait_ready()
    _wait_for_status(f"{base}/readyz", 200)


def test_readiness_follows_kafka_going_away_and_coming_back(serve, own_kafka):
    settings = KafkaSettings(bootstrap_servers=(own_kafka.settings.bootstrap,))
    base = serve({"kafka": KafkaProbe(settings, timeout_s=2)})
    _wait_for_status(f"{base}/readyz", 200)

    own_kafka.stop()
    body = _wait_for_status(f"{base}/readyz", 503)
    assert body["checks"]["kafka"].startswith("kafka unreachable")
    assert http_get(f"{base}/healthz")[0] == 200

    own_kafka.start()
    own_kafka.wait_ready()
    _wait_for_status(f"{base}/readyz", 200)
