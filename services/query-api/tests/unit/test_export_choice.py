"""Which representation an export request asks for, and what an export refuses."""

from __future__ import annotations

import pytest

from streamsuite_common.query import InvalidQuery
from streamsuite_query_api.export import choose_format, export_params


@pytest.mark.parametrize(
    ("param", "accept", "kind"),
    [
        (None, None, "json"),
        (None, "application/json", "json"),
        (None, "*/*", "json"),
        (None, "application/x-ndjson", "ndjson"),
        (None, "text/html, application/jsonl;q=0.9", "ndjson"),
        (None, "Text/CSV; charset=utf-8", "csv"),
        ("json", "text/csv", "json"),  # the parameter wins
        ("csv", None, "csv"),
    ],
)
def test_format_by_parameter_else_by_accept(param, accept, kind):
    assert choose_format(param, accept) == kind


def test_unknown_format_and_limit_on_an_export_are_refused_by_name():
    with pytest.raises(InvalidQuery, match=r"^format: must be one of json, ndjson, csv"):
        choose_format("xml", None)
    with pytest.raises(InvalidQuery, match=r"^limit: not with an export"):
        export_params([("limit", "5"), ("format", "csv")])
    assert export_params([("kind", "relational"), ("format", "csv")]) == [("kind", "relational")]
