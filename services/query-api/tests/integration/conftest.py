"""Each test gets a schema of its own, migrated by the ingestor's own migrations and filled by
the ingestor's own code (decode + Store, or Kafka + the ingestor loop), and a real uvicorn
server of the query API on a free port, connected as the read-only role."""

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
from streamsuite_common.config import HttpSettings, LogSettings
from streamsuite_query_api.app import create_app
from streamsuite_query_api.config import QueryApiConfig, QueryApiSettings

__all__ = ["Filler", "free_port", "unique", "wait_for"]  # re-exported for the test modules


@contextlib.contextmanager
def migrated_schema(admin_conn, writer_settings, reader_settings) -> Iterator[str]:
    """A migrated schema of its own, readable by the reader role; dropped on exit."""
    with testing.migrated_schema(
        admin_conn, writer_settings, reader_settings, prefix="query_api_test"
    ) as name:
        yield name


@contextlib.contextmanager
def filling(writer_settings, schema: str) -> Iterator[Filler]:
    with testing.filling(writer_settings, schema, application_name="query-api-test-fill",
                         max_document_bytes=1 << 20) as made:  # fmt: skip
        yield made


@pytest.fixture
def schema(admin_conn, writer_settings, reader_settings) -> Iterator[str]:
    """A migrated schema of this test's own, readable by the reader role; dropped after."""
    with migrated_schema(admin_conn, writer_settings, reader_settings) as name:
        yield name


@pytest.fixture
def filler(writer_settings, schema) -> Iterator[Filler]:
    with filling(writer_settings, schema) as made:
        yield made


# Test servers are not throttled unless a test says so (schemathesis runs flat out).
UNTHROTTLED = LimitSettings(rate_per_s=100_000, burst=1_000_000, concurrency=1000,
                            scan_concurrency=1000)  # fmt: skip


def api_config(
    reader_settings,
    schema: str,
    *,
    auth: AuthSettings | None = None,
    limits: LimitSettings = UNTHROTTLED,
    **options: Any,
) -> QueryApiConfig:
    settings = {"pool_size": 4, "stream_heartbeat_s": 0.5, **options}
    return QueryApiConfig(
        database=dataclasses.replace(reader_settings, schema=schema),
        log=LogSettings(level="warning", format="json"),
        http=HttpSettings(host="127.0.0.1", port=free_port()),
        query_api=QueryApiSettings(**settings),
        auth=auth or jwt_test_settings(),
        limits=limits,
    )


@contextlib.contextmanager
def serving(cfg: QueryApiConfig, *, scopes: tuple[str, ...] = ("read",)) -> Iterator[httpx.Client]:
    """The app under a real uvicorn server in a thread; a client bound to its address that
    sends a token of ``scopes`` (signed with the tests' secret; none when empty)."""
    app = create_app(cfg, registry=CollectorRegistry())
    with testing.serving_app(app, cfg.http.port, name="query-api",
                             on_stop=app.state.ctx.notifier.stop_streams) as client:  # fmt: skip
        if scopes:
            client.headers.update(bearer(*scopes))
        yield client


@pytest.fixture
def api(reader_settings, schema) -> Iterator[httpx.Client]:
    with serving(api_config(reader_settings, schema)) as client:
        yield client


def items(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["items"]


def ids(response: httpx.Response) -> list[int]:
    return [item["id"] for item in items(response)]
