"""/healthz, /readyz and /metrics with real dependency checks, through real outages.

The outage tests run a broker and a database server of their own (same code as the local
stack, other ports, state in a temp dir) so stopping them does not disturb the shared ones.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
import subprocess
import sys
import threading
import time
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
    base = serve({"kafka": KafkaProbe(settings, timeout_s=1)})
    _wait_for_status(f"{base}/readyz", 200)

    own_kafka.stop()
    body = _wait_for_status(f"{base}/readyz", 503)
    assert body["checks"]["kafka"].startswith("kafka unreachable")
    assert http_get(f"{base}/healthz")[0] == 200

    own_kafka.start()
    own_kafka.wait_ready()
    _wait_for_status(f"{base}/readyz", 200)


def _down_broker(**probe: float) -> KafkaProbe:
    """A real probe of a broker address nothing listens on: it retries until its timeout."""
    return KafkaProbe(KafkaSettings(bootstrap_servers=(f"127.0.0.1:{free_port()}",)), **probe)


def test_readyz_answers_within_its_bound_while_a_check_hangs(serve):
    # A probe that keeps trying for 30 s stands for any dependency that does not answer.
    base = serve({"kafka": _down_broker(timeout_s=30), "inbox": lambda: None})
    for _ in range(2):  # the second probe finds the first run still going and does not stack
        started = time.monotonic()
        code, _, body = http_get(f"{base}/readyz", timeout_s=60)
        elapsed = time.monotonic() - started
        assert code == 503
        assert json.loads(body)["checks"] == {"kafka": "no answer within 2 s", "inbox": "ok"}
        assert elapsed < 5, f"/readyz took {elapsed:.1f} s (the chart's probe timeout is 5 s)"
    names = [thread.name for thread in threading.enumerate()]
    assert names.count("readiness-kafka") == 1


HEALTH_SERVER = """
import signal, sys
from prometheus_client import CollectorRegistry
from streamsuite_common.config import KafkaSettings, LogSettings
from streamsuite_common.health import HealthServer, Readiness
from streamsuite_common.kafka import KafkaProbe
from streamsuite_common.logs import configure_logging

configure_logging("test", LogSettings(level="info", format="json"))
probe = KafkaProbe(KafkaSettings(bootstrap_servers=(sys.argv[1],)), timeout_s=5)
readiness = Readiness({"kafka": probe}, service="test", registry=CollectorRegistry(), cache_s=0)
server = HealthServer("127.0.0.1", 0, readiness, registry=CollectorRegistry()).start()
print(f"PORT {server.port}", flush=True)
signal.pause()
"""


def test_a_probe_that_hangs_up_before_the_answer_leaves_one_log_line():
    child = subprocess.Popen(
        [sys.executable, "-c", HEALTH_SERVER, f"127.0.0.1:{free_port()}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stdout), daemon=True)
    reader.start()
    try:
        port = int(wait_for(lambda: next((x.split()[1] for x in lines if x.startswith("PORT ")),
                                         None), what="the health server's port"))  # fmt: skip
        with socket.create_connection(("127.0.0.1", port)) as probe:
            probe.sendall(b"GET /readyz HTTP/1.1\r\nHost: test\r\n\r\n")
            # Give up at once, the way a probe does at its timeout: close with a reset.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Either the one line, or (without it) socketserver's traceback ending in the error.
        ends = ("BrokenPipe", "ConnectionReset")
        wait_for(lambda: any("went away" in x or x.startswith(ends) for x in lines),
                 what="the server to notice", timeout_s=30)  # fmt: skip
    finally:
        child.terminate()
        child.wait(10)
        reader.join(10)
    output = "".join(lines)
    assert "Traceback" not in output, output
    [line] = [json.loads(x) for x in lines if "went away" in x]
    assert line["event"] == "health client went away"
    assert line["error"] in ("BrokenPipeError", "ConnectionResetError")
