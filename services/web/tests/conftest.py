"""Shared fixtures of the web tests. Integration and browser tests get a schema of their own,
migrated by the ingestor's own migrations and filled by the ingestor's own code (decode + Store
directly, or Kafka + the real ingestor loop in a thread), and a real uvicorn server of the web
UI on a free port, connected as the read-only role. Unit tests use none of this."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry

from devstack import testing
from devstack.kafka import ensure_status_topic
from devstack.testing import Filler, bearer, free_port, jwt_test_settings, unique, wait_for
from streamsuite_common.auth import AuthSettings, LimitSettings
from streamsuite_common.config import DatabaseSettings, HttpSettings, KafkaSettings, LogSettings
from streamsuite_common.kafka import connect_admin
from streamsuite_ingestor.config import IngestorConfig, IngestorSettings
from streamsuite_ingestor.routes import all_routes
from streamsuite_ingestor.service import Ingestor
from streamsuite_web.app import create_app
from streamsuite_web.config import WebConfig, WebSettings

__all__ = ["Filler", "unique", "wait_for"]  # re-exported for the test modules

XSS_SCRIPT = "<script>window.__xss = 1; alert(1)</script>"
XSS_IMG = '<img src=x onerror="window.__xss = 2; alert(2)">'


@contextlib.contextmanager
def migrated_schema(admin_conn, writer_settings, reader_settings) -> Iterator[str]:
    with testing.migrated_schema(admin_conn, writer_settings, reader_settings,
                                 prefix="web_test", routes=all_routes()) as name:  # fmt: skip
        yield name


@contextlib.contextmanager
def filling(writer_settings: DatabaseSettings, schema: str) -> Iterator[Filler]:
    with testing.filling(writer_settings, schema, application_name="web-test-fill") as made:
        yield made


# Test servers are not throttled unless a test says so (browsers load pages flat out).
UNTHROTTLED = LimitSettings(rate_per_s=100_000, burst=1_000_000, concurrency=1000,
                            scan_concurrency=1000)  # fmt: skip
# What the tests' clients (httpx and the browser) sign in with unless a test says otherwise.
CLIENT_SCOPES = ("read", "submit")


def web_config(
    reader_settings: DatabaseSettings,
    schema: str,
    kafka: KafkaSettings | None = None,
    *,
    auth: AuthSettings | None = None,
    limits: LimitSettings = UNTHROTTLED,
    **web: Any,
) -> WebConfig:
    options: dict[str, Any] = {
        "pool_size": 4,
        "stream_heartbeat_s": 0.5,
        "submit_enabled": kafka is not None,
        "transactional_id": unique("web-test"),
    }
    options.update(web)
    return WebConfig(
        database=dataclasses.replace(reader_settings, schema=schema),
        log=LogSettings(level="warning", format="json"),
        http=HttpSettings(host="127.0.0.1", port=free_port()),
        web=WebSettings(**options),
        auth=auth or jwt_test_settings(),
        kafka=kafka,
        limits=limits,
    )


@contextlib.contextmanager
def serving(cfg: WebConfig, *, scopes: tuple[str, ...] = CLIENT_SCOPES) -> Iterator[httpx.Client]:
    """The app under a real uvicorn server in a thread; a client bound to its address that
    sends a bearer token of ``scopes`` (signed with the tests' secret; none when empty)."""
    app = create_app(cfg, registry=CollectorRegistry())
    with testing.serving_app(app, cfg.http.port, name="web",
                             on_stop=app.state.ctx.notifier.stop_streams) as client:  # fmt: skip
        if scopes:
            client.headers.update(bearer(*scopes))
        yield client


@contextlib.contextmanager
def running_ingestor(
    kafka: KafkaSettings,
    writer_settings: DatabaseSettings,
    reader_role: str,
    schema: str,
    *,
    routes: Any = None,
    group_id: str | None = None,
) -> Iterator[Ingestor]:
    """The real ingestor loop in a thread, reading ``kafka.topic``/``dlq_topic`` into
    ``schema``; stopped (finishing its batch) on the way out. Give ``group_id`` to resume
    where an earlier one stopped (a restart with other ``routes``)."""
    cfg = IngestorConfig(
        kafka=kafka,
        database=dataclasses.replace(writer_settings, schema=schema),
        log=LogSettings(level="warning", format="json"),
        http=HttpSettings(host="127.0.0.1", port=0),
        ingestor=IngestorSettings(group_id=group_id or unique("web-test-ingestor"),
                                  batch_timeout_ms=100, session_timeout_s=6.0,
                                  reader_role=reader_role),
    )  # fmt: skip
    with testing.running_ingestor(cfg, routes) as ingestor:
        yield ingestor


@pytest.fixture
def schema(admin_conn, writer_settings, reader_settings) -> Iterator[str]:
    with migrated_schema(admin_conn, writer_settings, reader_settings) as name:
        yield name


@pytest.fixture
def filler(writer_settings, schema) -> Iterator[Filler]:
    with filling(writer_settings, schema) as made:
        yield made


@pytest.fixture
def topics(make_topic) -> tuple[str, str]:
    """(records topic, DLQ topic) of this test's own."""
    return make_topic("web.records"), make_topic("web.records.dlq")


@pytest.fixture
def test_kafka(kafka_settings, topics) -> KafkaSettings:
    return dataclasses.replace(
        kafka_settings, topic=topics[0], dlq_topic=topics[1], connect_timeout_s=20
    )


@pytest.fixture
def web(reader_settings, schema) -> Iterator[httpx.Client]:
    """The web UI (Submit off) on this test's schema."""
    with serving(web_config(reader_settings, schema)) as client:
        yield client


@contextlib.contextmanager
def status_topics(
    kafka_settings: KafkaSettings, make_topic: Any, prefix: str
) -> Iterator[KafkaSettings]:
    """Records and DLQ topics of the caller's own, and the compacted status topic beside them
    (``<records topic>.status``, as the publisher and the web UI name it by default)."""
    topic, dlq = make_topic(prefix), make_topic(f"{prefix}.dlq")
    kafka = dataclasses.replace(kafka_settings, topic=topic, dlq_topic=dlq, connect_timeout_s=20)
    admin = connect_admin(kafka_settings)
    try:
        ensure_status_topic(admin, kafka.effective_status_topic)
        yield kafka
    finally:
        admin.delete_topics([kafka.effective_status_topic])
        admin.close()


@pytest.fixture
def status_kafka(kafka_settings, make_topic) -> Iterator[KafkaSettings]:
    with status_topics(kafka_settings, make_topic, "web.backlog") as kafka:
        yield kafka


@contextlib.contextmanager
def publisher_process(
    kafka: KafkaSettings, inbox: Path, workdir: Path
) -> Iterator[subprocess.Popen]:
    """The real publisher as the stack runs it (its own process and config file) on ``inbox``;
    files wait there (an hour's stability window), so its backlog holds still. Stopped with
    SIGTERM, as Kubernetes stops it."""
    tree = {
        "KAFKA": {"BOOTSTRAP_SERVERS": ",".join(kafka.bootstrap_servers), "TOPIC": kafka.topic,
                  "DLQ_TOPIC": kafka.dlq_topic},
        "LOG": {"FORMAT": "json", "LEVEL": "warning"},
        "HTTP": {"HOST": "127.0.0.1", "PORT": free_port()},
        "PUBLISHER": {"STABLE_S": 3600, "RESCAN_S": 0.5},
    }  # fmt: skip
    config = workdir / "publisher.yaml"
    config.write_text(yaml.safe_dump(tree))
    with (workdir / "publisher.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamsuite_publisher", "--cfg", str(config),
             "--dir", str(inbox)],
            stdout=log, stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("STREAMSUITE_")},
        )  # fmt: skip
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()  # a stop that hangs fails its test, not the rest of the run
                    process.wait()
                    raise
