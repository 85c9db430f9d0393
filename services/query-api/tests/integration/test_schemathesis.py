"""Schemathesis against the service's own OpenAPI document: the real app under uvicorn, as the
read-only role, on a schema of this module's own filled by the ingestor's code with records of
every shape and some dead letters. Every generated request (valid and invalid by the schema)
must answer without a 5xx, with a status code and content type the document declares, and a
body that conforms to the declared schema."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg2
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from prometheus_client import CollectorRegistry
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from streamsuite_common.config import DatabaseSettings, HttpSettings, LogSettings
from streamsuite_query_api.app import create_app
from streamsuite_query_api.config import QueryApiConfig, QueryApiSettings

from .conftest import api_config, filling, migrated_schema, serving

DOCUMENTS = [
    {"name": "Ada Lovelace", "age": 36, "address": {"city": "London", "zip": None}},
    {"name": "Grace Hopper", "age": 85, "tags": ["navy", "cobol"]},
    {"n": 30, "group": "g1", "nested": {"v": [1, 2, {"deep": True}]}},
    {"n": "30", "tags": ["cobol"], "price": 0.1000000000000000000001},
    [{"id": 1, "tags": ["x"]}, {"id": 2}],
    {"items": [{"price": 49.9}, {"price": 10}], "0": {"1": "digits as keys"}},
    "just a string",
    12345678901234567890,
    None,
    {"name": "Zoë ☃", "age": 0, "emoji": "\U0001f600"},
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live_api(stack_env, writer_settings, reader_settings) -> Iterator[str]:
    """Base URL of the app serving a filled schema of this module's own."""
    admin = psycopg2.connect(stack_env["DEVSTACK_PG_ADMIN_DSN"],
                             dbname=stack_env["DEVSTACK_PG_DBNAME"])  # fmt: skip
    admin.autocommit = True
    try:
        with migrated_schema(admin, writer_settings, reader_settings) as schema:
            with filling(writer_settings, schema) as filler:
                filler.add(*DOCUMENTS)
                filler.add(*DOCUMENTS[:4], source="batch.json")
                filler.dead_letter("invalid-json", b"{broken", source="bad.json",
                                   sha256="ab" * 32, doc_index=0, line=1)  # fmt: skip
                filler.dead_letter("not-utf8", b"\xff\xfe\x00")
                filler.dead_letter("empty", b"")
            with serving(api_config(reader_settings, schema)) as client:
                yield str(client.base_url).rstrip("/")
    finally:
        admin.close()


def _own_openapi_document() -> dict:
    """The document the app serves at /openapi.json. ``create_app`` does no I/O, so it can be
    built at collection time (schemathesis's lazy ``from_fixture`` loader does not run under
    pytest 9); the test below checks that the live server serves this very document."""
    settings_ = DatabaseSettings(host="127.0.0.1", dbname="unused", dbuser="unused")
    cfg = QueryApiConfig(database=settings_, log=LogSettings(), http=HttpSettings(),
                         query_api=QueryApiSettings())  # fmt: skip
    return create_app(cfg, registry=CollectorRegistry()).openapi()


OPENAPI = _own_openapi_document()
# The SSE stream never ends by design (heartbeats until the client leaves), so a generated
# request to it would wait forever for the body the checks read; its input validation and
# events are covered by the regular tests (test_safety, test_paging_and_stream).
schema = schemathesis.openapi.from_dict(OPENAPI).exclude(path="/api/v1/stream")


def test_the_live_server_serves_the_fuzzed_document(live_api):
    assert httpx.get(f"{live_api}/openapi.json", timeout=30).json() == OPENAPI


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_the_api_conforms_to_its_own_openapi_document(case, live_api):
    case.call_and_validate(base_url=live_api, checks=CHECKS, timeout=30)
