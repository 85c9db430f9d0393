"""Shared fixtures of the web tests. Integration and browser tests get a schema of their own,
migrated by the ingestor's own migrations and filled by the ingestor's own code (decode + Store
directly, or Kafka + the real ingestor loop in a thread), and a real uvicorn server of the web
UI on a free port, connected as the read-only role. Unit tests use none of this."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from devstack import testing
from devstack.testing import Filler, bearer, free_port, jwt_test_settings, unique, wait_for
from streamsuite_common.auth import AuthSettings, LimitSettings
from streamsuite_common.config import DatabaseSettings, HttpSettings, KafkaSettings, LogSettings
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
