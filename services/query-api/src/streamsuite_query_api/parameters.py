"""The query parameters of the OpenAPI document, written from their one declaration
(``streamsuite_common.query.params``): the routes read them with the query layer's parser, not
with FastAPI's, so the document says what that parser accepts.

``documented`` gives a route's ``openapi_extra``; ``inputs.reject_unknown_params`` takes the
names a route accepts from the same place."""

from __future__ import annotations

from typing import Any

from streamsuite_common.query.params import Param
from streamsuite_common.query.values import KEY_PATH_PATTERN, TEXT_PATTERN


def schema(param: Param) -> dict[str, Any]:
    """Pure: the JSON schema of one parameter's value."""
    if param.kind == "integer":
        out: dict[str, Any] = {"type": "integer", "minimum": param.minimum,
                               "maximum": param.maximum}  # fmt: skip
    elif param.kind == "choice":
        out = {"type": "string", "enum": list(param.choices)}
    elif param.kind == "timestamp":
        out = {"type": "string", "format": "date-time"}
    else:  # text, key_path, json: what check_text and parse_key_path refuse, said as a pattern
        pattern = KEY_PATH_PATTERN if param.kind == "key_path" else TEXT_PATTERN
        out = {"type": "string", "pattern": pattern}
        if not param.allow_empty:
            out["minLength"] = 1
        if param.max_chars is not None:
            out["maxLength"] = param.max_chars
    if param.default is not None:
        out["default"] = param.default
    return out


def parameter(param: Param) -> dict[str, Any]:
    """Pure: one OpenAPI parameter object (in the query string, never required)."""
    out: dict[str, Any] = {"name": param.name, "in": "query", "required": False,
                           "schema": schema(param)}  # fmt: skip
    if param.description:
        out["description"] = param.description
    if param.example is not None:
        out["example"] = param.example
    return out


def documented(params: tuple[Param, ...]) -> dict[str, Any]:
    """A route's ``openapi_extra``: FastAPI adds these to the parameters it declares itself
    (path and header parameters)."""
    return {"parameters": [parameter(param) for param in params]}


def names(openapi_extra: dict[str, Any] | None) -> tuple[str, ...]:
    """The query parameters ``documented`` put in a route's ``openapi_extra``."""
    listed = (openapi_extra or {}).get("parameters", [])
    return tuple(p["name"] for p in listed if p.get("in") == "query")
