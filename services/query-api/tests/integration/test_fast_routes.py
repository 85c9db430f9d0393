"""The by-id read skips FastAPI's parameter machinery (``fast_routes``) and answers exactly as
the declared route: anything but the plain request is the declared route's to validate."""

from __future__ import annotations

from streamsuite_query_api.app import create_app
from streamsuite_query_api.fast_routes import RecordById

from .conftest import api_config


def test_the_fast_route_comes_before_the_declared_one(reader_settings, schema):
    app = create_app(api_config(reader_settings, schema))
    first = app.router.routes[0]
    assert isinstance(first.app, RecordById)  # Starlette wraps no ASGI app endpoint
    # The OpenAPI document still describes the declared route.
    assert "/api/v1/records/{record_id}" in app.openapi()["paths"]


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
