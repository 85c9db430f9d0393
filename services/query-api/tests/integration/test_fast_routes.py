"""The by-id read and the list page skip FastAPI's parameter machinery (``fast_routes``) and
answer exactly as the declared routes: anything but a plain request is the declared route's to
validate."""

from __future__ import annotations

import dataclasses
import random
import urllib.parse

from prometheus_client import CollectorRegistry

from devstack import testing
from streamsuite_common.config import HttpSettings
from streamsuite_query_api.app import create_app
from streamsuite_query_api.fast_routes import RecordById, RecordsPage

from .conftest import api_config, bearer, free_port


def test_the_fast_routes_come_before_the_declared_ones(reader_settings, schema):
    app = create_app(api_config(reader_settings, schema))
    # Starlette wraps no ASGI app endpoint.
    assert [type(route.app) for route in app.router.routes[:2]] == [RecordsPage, RecordById]
    # The OpenAPI document still describes the declared routes.
    assert {"/api/v1/records", "/api/v1/records/{record_id}"} <= set(app.openapi()["paths"])


# Listing queries, good and bad: every filter, numbers as FastAPI and the parser might read
# them differently, limits, repeats, unknown names, NUL, over-long values, exports, select.
LIST_QUERIES = [
    "", "limit=2", "limit=+2", "limit=%202", "limit=2.0", "limit=0", "limit=1001", "limit=",
    "limit=2&limit=3", "key=n&value=1", 'key=n&value="1"', "key=n", "value=1", "key=a..b&value=1",
    "key=" + "a" * 300 + "&value=1", "has_key=n", "has_key=", 'contains={"n":1}', "contains={",
    "jsonpath=$.n > 0", "jsonpath=$.n ? (@ > 0)", "jsonpath=$$", "kind=relational", "kind=other",
    "name=Ada", "name=", "name=A%00", "source=s", "age_min=1&age_max=99", "age_min=9&age_max=1",
    "age_min=-5", "age_min=99999999999", "partition=0&offset_min=0&offset_max=5",
    "offset_min=0", "partition=-1", "order=asc", "order=asc&after=0", "order=asc&after=-1",
    "order=up", "after=1", "cursor=abc", "cursor=" + "x" * 300,
    "since=2026-01-01T00:00:00Z", "since=2026-01-01T00:00:00 01:00", "since=yesterday",
    "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "colour=red", "LIMIT=2",
    "select=id,name", "select=nope", "format=ndjson", "format=csv&limit=1", "format=xml",
]  # fmt: skip


def random_queries(count: int) -> list[str]:
    """Parameter names the route knows (and one it does not) with odd values."""
    rng = random.Random(16)
    names = ["limit", "key", "value", "has_key", "contains", "jsonpath", "kind", "name",
             "age_min", "age_max", "source", "partition", "offset_min", "offset_max", "since",
             "until", "order", "after", "cursor", "colour"]  # fmt: skip
    values = ["1", "-1", "0x10", "1e3", "\u0663", "\uff19", "true", "null", "[]", "{}", "a.b",
              "$.a", "2026-01-01T00:00:00Z", " ", "\t1", "desc", "asc", "relational",
              "9" * 25]  # fmt: skip
    queries = []
    for _ in range(count):
        pairs = [(rng.choice(names), rng.choice(values)) for _ in range(rng.randint(1, 3))]
        queries.append(urllib.parse.urlencode(pairs))
    return queries


def test_a_list_query_answers_as_the_declared_route_alone(reader_settings, schema, filler):
    """The same queries to the app and to one without the fast routes: the same status,
    content type and body, whatever the query."""
    filler.add({"name": "Ada", "age": 36}, {"n": 1}, {"n": 2, "a": {"b": 1}}, {"name": "Bo"})
    cfg = api_config(reader_settings, schema)
    fast_app = create_app(cfg, registry=CollectorRegistry())
    declared_cfg = dataclasses.replace(cfg, http=HttpSettings(host="127.0.0.1", port=free_port()))
    declared_app = create_app(declared_cfg, registry=CollectorRegistry())
    fast_types = (RecordsPage, RecordById)
    declared_app.router.routes = [
        route for route in declared_app.router.routes
        if not isinstance(getattr(route, "app", None), fast_types)
    ]  # fmt: skip
    with (
        testing.serving_app(fast_app, cfg.http.port, name="fast", on_stop=lambda: None) as fast,
        testing.serving_app(declared_app, declared_cfg.http.port, name="declared",
                            on_stop=lambda: None) as declared,
    ):  # fmt: skip
        for client in (fast, declared):
            client.headers.update(bearer("read"))
        first = fast.get("/api/v1/records", params={"limit": 1}).json()
        queries = [*LIST_QUERIES, f"limit=1&cursor={first['next_cursor']}", *random_queries(150)]
        answered = set()
        for query in queries:
            ours, theirs = (c.get(f"/api/v1/records?{query}") for c in (fast, declared))
            assert ours.status_code == theirs.status_code, query
            assert ours.headers["content-type"] == theirs.headers["content-type"], query
            assert ours.content == theirs.content, query
            answered.add(ours.status_code)
        for accept in ("application/x-ndjson", "text/csv", "application/json"):
            ours, theirs = (c.get("/api/v1/records", headers={"Accept": accept})
                            for c in (fast, declared))  # fmt: skip
            assert (ours.status_code, ours.content) == (theirs.status_code, theirs.content), accept
    assert answered == {200, 400}  # both kinds of answer were compared


def test_plain_and_delegated_by_id_requests_answer_as_the_declared_route(api, filler):
    [record_id] = filler.add({"name": "Ada", "age": 36})
    plain = api.get(f"/api/v1/records/{record_id}")
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "application/json"
    assert plain.json()["payload"] == {"name": "Ada", "age": 36}
    assert api.get(f"/api/v1/records/{record_id}",
                   headers={"If-None-Match": plain.headers["etag"]}).status_code == 304  # fmt: skip
    # With a query string: the declared route (select works, unknown parameters are refused).
    selected = api.get(f"/api/v1/records/{record_id}", params={"select": "id,kind"})
    assert selected.json() == {"id": record_id, "kind": "relational"}
    unknown = api.get(f"/api/v1/records/{record_id}", params={"colour": "red"})
    assert unknown.status_code == 400
    assert unknown.json()["code"] == "unknown-parameter"
    # Out of range or not a number: the declared route's 400 naming the parameter.
    for bad in ("0", "9223372036854775808", "abc"):
        refused = api.get(f"/api/v1/records/{bad}")
        assert refused.status_code == 400, bad
        assert refused.json()["parameter"] == "record_id", bad
    assert api.head(f"/api/v1/records/{record_id}").status_code == 405
    assert api.get("/api/v1/records/999999999").status_code == 404
    # Counted under the declared route's template, not the concrete path.
    metrics = api.get("/metrics").text
    assert 'route="/api/v1/records/{record_id}",status="200"' in metrics
    assert f'/api/v1/records/{record_id}"' not in metrics
