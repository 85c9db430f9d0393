"""Schemathesis against the service's own OpenAPI document: the real app under uvicorn, as the
read-only role, on a schema of this module's own filled by the ingestor's code with records of
every shape and some dead letters. Every generated request (valid and invalid by the schema)
must answer without a 5xx, with a status code and content type the document declares, and a
body that conforms to the declared schema; and a request the document calls valid must be
accepted (positive_data_acceptance), so the document states what the API refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import httpx
import psycopg2
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from prometheus_client import CollectorRegistry
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.testing import bearer, jwt_test_settings
from streamsuite_common.config import DatabaseSettings, HttpSettings, LogSettings
from streamsuite_common.query.params import MAX_CONTAINS_CHARS
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
    positive_data_acceptance,
    response_schema_conformance,
    # A request the document calls valid is accepted: the constraints the API enforces
    # (non-empty texts, key needs value, no NUL) are stated in the document itself.
    positive_data_acceptance,
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
                         query_api=QueryApiSettings(), auth=jwt_test_settings())  # fmt: skip
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
def test_the_api_conforms_to_its_own_openapi_document(case, live_api, real_cursors):
    if case.query:
        # A selection answers part of each record, which the response schema (whole records)
        # cannot state, in any mode; test_select.py covers it.
        case.query.pop("select", None)
    if case.meta.generation.mode.is_positive:
        _follow_documented_rules(case, real_cursors)
    # A valid read token on every call: the fuzzing reaches the API behind authentication.
    case.call_and_validate(base_url=live_api, checks=CHECKS, headers=bearer(), timeout=30)


def _index_segments(path: object) -> int:
    return sum(part.isdigit() for part in path.split(".")) if isinstance(path, str) else 0


@pytest.fixture(scope="module")
def real_cursors(live_api) -> dict[str, str]:
    """A signed cursor of each paged listing (a generated one can only be a forgery)."""
    cursors = {}
    for path in ("/api/v1/records", "/api/v1/dead-letters"):
        page = httpx.get(f"{live_api}{path}", params={"limit": 1}, headers=bearer(),
                         timeout=30).json()  # fmt: skip
        cursors[path] = page["next_cursor"]
    page = httpx.get(f"{live_api}/api/v1/records", params={"limit": 1, "order": "asc"},
                     headers=bearer(), timeout=30).json()  # fmt: skip
    cursors["asc"] = page["next_cursor"]  # oldest first: a position, not interchangeable
    return cursors


def _moment(text: str) -> datetime:
    """A generated RFC 3339 date-time, compared in time, not as text (Z or +hh:mm)."""
    return datetime.fromisoformat(text.replace(" ", "+"))


def _follow_documented_rules(case, real_cursors: dict[str, str]) -> None:
    """The rules a JSON Schema cannot state, which the document states in words: `key` and
    `value` come together; a key path has at most 4 digits-only segments; `contains` is JSON;
    `jsonpath` is a JSON path; `until` is later than `since`, `age_max` not below `age_min`;
    a cursor is one the API signed; offsets need `partition`, `offset_max` not below
    `offset_min`; `after` only with `order=asc` and not with `cursor`; no `limit` with an
    export `format`. A schema-valid request
    that follows them is accepted."""
    if isinstance(case.body, dict) and _index_segments(case.body.get("key")) > 4:
        case.body["key"] = "items.0.price"
    query = case.query
    if not query:
        return
    for name in ("key", "has_key"):
        if _index_segments(query.get(name)) > 4:
            query[name] = "items.0.price"
    if "since" in query and "until" in query and _moment(query["until"]) <= _moment(query["since"]):
        del query["until"]
    if "age_min" in query and "age_max" in query and int(query["age_max"]) < int(query["age_min"]):
        del query["age_max"]
    if ("key" in query) != ("value" in query):
        query.setdefault("key", "age")
        query.setdefault("value", "36")
    if "contains" in query:  # as JSON, still within the documented length
        fragment = json.dumps(query["contains"], ensure_ascii=False)
        query["contains"] = fragment if len(fragment) <= MAX_CONTAINS_CHARS else '{"n": 30}'
    if "jsonpath" in query:
        query["jsonpath"] = "$.age > 30"
    if ("offset_min" in query or "offset_max" in query) and "partition" not in query:
        query["partition"] = 0
    low, high = query.get("offset_min"), query.get("offset_max")
    if low is not None and high is not None and int(high) < int(low):
        del query["offset_max"]
    if query.get("format") in ("ndjson", "csv"):
        query.pop("limit", None)  # an export has every record
    if "after" in query:
        query["order"] = "asc"
        query.pop("cursor", None)
    if "cursor" in query:
        ascending = query.get("order") == "asc"
        query["cursor"] = real_cursors["asc" if ascending else case.path]
