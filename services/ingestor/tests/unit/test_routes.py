"""Relational routes as data: classification and route definitions."""

from __future__ import annotations

import pytest

from streamsuite_ingestor.routes import (
    DEFAULT_ROUTE,
    Match,
    RouteError,
    Violation,
    all_routes,
    classify,
    load_routes_file,
    parse_routes,
)

READING = {
    "routes": [
        {
            "name": "reading",
            "table": "sensor_readings",
            "fields": [
                {"name": "sensor", "type": "string", "nonempty": True},
                {"name": "celsius", "type": "number", "min": -90, "max": 60},
                {"name": "at", "type": "string", "column": "measured_at"},
            ],
        }
    ]
}


def test_extra_route_matches_with_values_in_column_order():
    routes = all_routes(parse_routes(READING))
    outcome = classify({"sensor": "t-1", "celsius": 21.4, "at": "now", "x": 1}, routes)
    assert isinstance(outcome, Match)
    assert outcome.route.table == "sensor_readings"
    assert outcome.route.columns == ("sensor", "celsius", "measured_at")
    assert outcome.values == ("t-1", 21.4, "now")


def test_extra_route_violation_names_route_and_field():
    routes = all_routes(parse_routes(READING))
    outcome = classify({"sensor": "t-1", "celsius": 99, "at": "now"}, routes)
    assert outcome == Violation("reading", "celsius", "must be between -90 and 60, got integer 99")
    assert (
        str(outcome)
        == "route 'reading': field 'celsius' must be between -90 and 60, got integer 99"
    )


def test_default_route_comes_first():
    routes = all_routes(parse_routes(READING))
    both = {"name": "A", "age": 3, "sensor": "s", "celsius": 1, "at": "t"}
    assert classify(both, routes).route is DEFAULT_ROUTE


def test_integer_field_of_a_table_route_is_bounded_to_bigint():
    routes = parse_routes(
        {"routes": [{"name": "c", "table": "counts", "fields": [{"name": "n", "type": "integer"}]}]}
    )
    assert isinstance(classify({"n": 2**63}, routes), Violation)
    assert isinstance(classify({"n": 2**63 - 1}, routes), Match)


def test_number_field_refuses_booleans():
    routes = parse_routes(
        {"routes": [{"name": "c", "table": "t", "fields": [{"name": "v", "type": "number"}]}]}
    )
    assert classify({"v": True}, routes) == Violation(
        "c", "v", "expected a number, got boolean true"
    )


def _one(field: dict, **route) -> dict:
    return {"routes": [{"name": "r", "table": "t", "fields": [field], **route}]}


STRING = {"name": "a", "type": "string"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "'routes' list"),
        ({"routes": [{"name": "Bad-Name", "table": "t", "fields": []}]}, "SQL identifier"),
        (_one(STRING, table="records"), "the ingestor's own"),
        ({"routes": [{"name": "r", "table": "t", "fields": []}]}, "non-empty list"),
        ({"routes": [{"name": "r", "table": "t", "fields": [{"name": "a", "type": "date"}]}]},
         "'type' must be one of"),
        ({"routes": [{"name": "r", "table": "t", "fields": [{"name": "a", "type": "string",
                                                              "min": 1}]}]},
         "min/max apply"),
        ({"routes": [{"name": "r", "table": "t", "fields": [{"name": "a", "type": "string"},
                                                           {"name": "b", "type": "string",
                                                            "column": "a"}]}]},
         "distinct"),
        (_one(STRING, name="person"), "used twice"),
        (_one(STRING, extra=1), "unknown key 'extra'"),
    ],
)  # fmt: skip
def test_wrong_route_definitions_are_refused_with_the_place(data, message):
    with pytest.raises(RouteError, match=message):
        parse_routes(data)


def test_routes_file_that_is_not_yaml_is_refused(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text("routes: [unclosed")
    with pytest.raises(RouteError, match="cannot read"):
        load_routes_file(path)
