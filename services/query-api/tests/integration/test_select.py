"""select= on the records list, a record and an NDJSON export: only the fields asked."""

from __future__ import annotations

import json

import pytest

from .conftest import items


def test_select_answers_only_the_fields_asked(api, filler):
    [record_id] = filler.add({"name": "Ada", "age": 36, "n": 1.50})
    [item] = items(api.get("/api/v1/records", params={"select": "payload,id"}))
    assert item == {"id": record_id, "payload": {"name": "Ada", "age": 36, "n": 1.50}}
    one = api.get(f"/api/v1/records/{record_id}", params={"select": "kafka,name"})
    assert one.status_code == 200
    assert set(one.json()) == {"name", "kafka"}
    full = api.get(f"/api/v1/records/{record_id}")
    assert one.headers["etag"] != full.headers["etag"]  # another representation
    export = api.get("/api/v1/records", params={"select": "id", "format": "ndjson"})
    assert [json.loads(line) for line in export.text.splitlines()] == [{"id": record_id}]


@pytest.mark.parametrize(
    "params",
    [{"select": "id,nope"}, {"select": ""}, {"select": "id", "format": "csv"}],
)
def test_a_bad_select_is_a_400_naming_it(api, params):
    response = api.get("/api/v1/records", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["parameter"] == "select"
