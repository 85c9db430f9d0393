"""Each query parameter is declared once (``query.params``): the OpenAPI document says the
bounds, lengths and choices the parser enforces, because both read the same declaration."""

from __future__ import annotations

import pytest

from streamsuite_common.query import InvalidQuery, params, parse_dead_letter_params
from streamsuite_common.query import parse_record_params as parse_records
from streamsuite_common.query.cursor import CursorCodec
from streamsuite_query_api.parameters import documented, names, parameter, schema

CODEC = CursorCodec(b"k" * 32)
# The parameters a valid value needs company for (offsets need a partition, value a key).
COMPANY = {"offset_min": {"partition": "0"}, "offset_max": {"partition": "0"},
           "after": {"order": "asc"}, "value": {"key": "age"}, "key": {"value": "1"}}  # fmt: skip
RECORD_PARAMS = (*params.RECORDS, *params.ORDERING)


def parse(param: params.Param, text: str) -> None:
    query = {**COMPANY.get(param.name, {}), param.name: text}
    if param in params.DEAD_LETTERS and param not in RECORD_PARAMS:
        parse_dead_letter_params(query, CODEC)
    else:
        parse_records(query, CODEC, incremental=True)


INTEGERS = [p for p in RECORD_PARAMS + params.DEAD_LETTERS if p.kind == "integer"]
TEXTS = [p for p in RECORD_PARAMS + params.DEAD_LETTERS if p.kind in ("text", "json")]
CHOICES = [p for p in RECORD_PARAMS if p.kind == "choice"]


@pytest.mark.parametrize("param", INTEGERS, ids=lambda p: p.name)
def test_an_integer_is_accepted_at_its_documented_bounds_and_refused_beyond(param):
    documented_schema = schema(param)
    low, high = documented_schema["minimum"], documented_schema["maximum"]
    parse(param, str(low))
    parse(param, str(high))
    for outside in (low - 1, high + 1):
        with pytest.raises(InvalidQuery) as refused:
            parse(param, str(outside))
        assert refused.value.param == param.name


@pytest.mark.parametrize("param", TEXTS, ids=lambda p: p.name)
def test_a_text_is_refused_past_its_documented_length(param):
    longest = schema(param)["maxLength"]
    with pytest.raises(InvalidQuery, match=f"longer than {longest} characters"):
        parse(param, "x" * (longest + 1))


@pytest.mark.parametrize("param", CHOICES, ids=lambda p: p.name)
def test_a_choice_takes_exactly_its_documented_values(param):
    for choice in schema(param)["enum"]:
        parse(param, choice)
    with pytest.raises(InvalidQuery, match="must be one of"):
        parse(param, "something-else")


def test_an_empty_value_is_documented_where_the_parser_takes_it():
    assert "minLength" not in schema(params.VALUE)
    parse_records({"key": "name", "value": ""}, CODEC)
    assert schema(params.NAME)["minLength"] == 1
    with pytest.raises(InvalidQuery, match="must not be empty"):
        parse_records({"name": ""}, CODEC)


def test_a_route_accepts_the_names_it_documents():
    extra = documented(params.DEAD_LETTERS)
    assert names(extra) == params.names(params.DEAD_LETTERS)
    assert parameter(params.LIMIT)["schema"]["default"] == params.DEFAULT_LIMIT
