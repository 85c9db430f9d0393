"""A jsonpath filter (``$.a ? (@ > 1)``) matches by existence (``@?``), a predicate
(``$.a > 1``) by its truth (``@@``): PostgreSQL's ``@@`` is NULL for a filter, which matched
nothing."""

from __future__ import annotations

import pytest

from streamsuite_common.query import RecordFilter
from streamsuite_common.query.sql import record_conditions
from streamsuite_common.query.values import jsonpath_is_predicate

PREDICATES = [
    "$.age > 50",
    '$.tags[*] == "navy"',
    "exists($.items[*] ? (@.price < 20))",
    "$.a ? (@ > 1) == 2",
    "($.a > 1)",
    '$.a starts with "x"',
    "!($.a > 1)",
    '$.a like_regex "^x"',
    "($.a > 1) is unknown",
    "$.a >= 1 && $.b <= 2",
]
FILTERS_AND_PATHS = [
    "$.a ? (@ > 1)",
    "$.a ?(@>1)",
    "$.items[*] ? (@.price < 20).name",
    'strict $.a ? (@ == "x")',
    '$."a>b"',
    '$."x == y"',
    "$.a",
    "$.exists",
    "$.starts",
]


@pytest.mark.parametrize("path", PREDICATES)
def test_predicates_match_by_truth(path):
    assert jsonpath_is_predicate(path)
    where, _ = record_conditions(RecordFilter(jsonpath=path))
    assert where == ["payload @@ %(jsonpath)s::jsonpath"]


@pytest.mark.parametrize("path", FILTERS_AND_PATHS)
def test_filters_and_paths_match_by_existence(path):
    assert not jsonpath_is_predicate(path)
    where, _ = record_conditions(RecordFilter(jsonpath=path))
    assert where == ["payload @? %(jsonpath)s::jsonpath"]
