"""JSON values and key paths from request text, checked so that PostgreSQL never sees text it
would refuse (a NUL, a lone surrogate, NaN) and numbers stay exact (``Decimal``, never float).

Everything here is pure. JSON text made here is only ever *bound* as a query parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from streamsuite_common.query.errors import InvalidQuery

MAX_KEY_CHARS = 256
MAX_PATH_SEGMENTS = 32
# Each digits-only segment may be an array index or an object key: 2**n containment
# alternatives, so their number is bounded.
MAX_INDEX_SEGMENTS = 4
# The same rules as JSON Schema patterns (ECMA 262), for the OpenAPI document: text without
# NUL, and a key path of 1..MAX_PATH_SEGMENTS non-empty segments.
TEXT_PATTERN = "^[^\\x00]*$"
KEY_PATH_PATTERN = f"^[^.\\x00]+(\\.[^.\\x00]+){{0,{MAX_PATH_SEGMENTS - 1}}}$"
MAX_JSON_DEPTH = 64


def check_text(param: str, text: str) -> str:
    """Text PostgreSQL can hold: no NUL character, no lone UTF-16 surrogate."""
    if "\x00" in text:
        raise InvalidQuery(param, "contains a NUL character, which no stored document can hold")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidQuery(param, "contains a lone UTF-16 surrogate; not valid Unicode") from None
    return text


def parse_key_path(param: str, text: str) -> tuple[str, ...]:
    """A dotted key path (``address.city``, ``items.0.price``) into its segments."""
    check_text(param, text)
    if not text:
        raise InvalidQuery(param, "must not be empty")
    if len(text) > MAX_KEY_CHARS:
        raise InvalidQuery(param, f"longer than {MAX_KEY_CHARS} characters ({len(text)})")
    segments = tuple(text.split("."))
    if any(segment == "" for segment in segments):
        raise InvalidQuery(
            param, f"{text!r} has an empty segment (a leading, trailing or double dot)"
        )
    if len(segments) > MAX_PATH_SEGMENTS:
        raise InvalidQuery(param, f"more than {MAX_PATH_SEGMENTS} segments")
    if sum(segment.isdigit() for segment in segments) > MAX_INDEX_SEGMENTS:
        raise InvalidQuery(param, f"more than {MAX_INDEX_SEGMENTS} numeric (array index) segments")
    return segments


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class _NumberOutOfRange(ValueError):
    pass


def _exact_number(text: str) -> Decimal:
    # Decimal's default context refuses exponents beyond +-999999 (InvalidOperation, which
    # json.loads would let escape): such a number is valid JSON that no column can hold.
    try:
        return Decimal(text)
    except ArithmeticError:
        raise _NumberOutOfRange(f"number {text[:40]} is out of range") from None


def parse_json(param: str, text: str) -> Any:
    """Strict JSON with exact numbers; InvalidQuery saying where it breaks."""
    check_text(param, text)
    try:
        value = json.loads(
            text,
            parse_float=_exact_number,
            parse_int=_exact_number,
            parse_constant=_refuse_constant,
        )
    except json.JSONDecodeError as exc:
        raise InvalidQuery(param, f"not JSON: {exc.msg} at column {exc.colno}") from None
    except ValueError as exc:
        raise InvalidQuery(param, str(exc)) from None
    except RecursionError:
        raise InvalidQuery(param, "nested too deeply") from None
    to_json_text(param, value)  # checks depth, keys and strings
    return value


def value_from_param(param: str, text: str) -> Any:
    """A query-string value: JSON when it parses as JSON, else the text as a string.

    ``30`` is the number, ``"30"`` (with quotes) the string, ``true``/``null`` the literals,
    ``Ada`` the string ``"Ada"``.
    """
    check_text(param, text)
    try:
        return parse_json(param, text)
    except InvalidQuery as exc:
        if "NUL" in exc.problem or "surrogate" in exc.problem or "out of range" in exc.problem:
            raise
        return text


def to_json_text(param: str, value: Any, depth: int = 0) -> str:
    """Compact JSON of a parsed value (``Decimal`` numbers kept exact), checked for storage."""
    if depth > MAX_JSON_DEPTH:
        raise InvalidQuery(param, f"nested deeper than {MAX_JSON_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(check_text(param, value), ensure_ascii=False)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidQuery(param, f"{value} is not a JSON number")
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Only from callers that parsed JSON themselves; repr is the shortest exact form.
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidQuery(param, f"{value} is not a JSON number")
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(to_json_text(param, item, depth + 1) for item in value) + "]"
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidQuery(param, "object keys must be strings")
            parts.append(f"{to_json_text(param, key)}:{to_json_text(param, item, depth + 1)}")
        return "{" + ",".join(parts) + "}"
    raise InvalidQuery(param, f"unsupported value of type {type(value).__name__}")


def containment_fragments(path: Sequence[str], value_text: str) -> list[str]:
    """JSON documents that a record containing ``value`` at ``path`` must contain (``@>``).

    A digits-only segment is an array index or an object key; both shapes are produced, so
    ``items.0.price`` gives ``{"items":[{"price":V}]}`` and ``{"items":{"0":{"price":V}}}``.
    The fragments narrow the search through the GIN index; the exact position is checked
    separately with ``#>``.
    """
    fragments = [value_text]
    for segment in reversed(path):
        key = json.dumps(segment, ensure_ascii=False)
        wrapped = [f"{{{key}:{inner}}}" for inner in fragments]
        if segment.isdigit():
            wrapped += [f"[{inner}]" for inner in fragments]
        fragments = wrapped
    return fragments


# A jsonpath whose value is a boolean: a comparison, a logical operator, exists(...),
# like_regex, starts with, is unknown, outside the filters ``? (...)``.
_PREDICATE = re.compile(r"==|!=|<|>|&&|\|\||!|\bexists\s*\(|\blike_regex\b|\bstarts\s+with\b"
                        r"|\bis\s+unknown\b")  # fmt: skip


def _outside_filters_and_strings(path: str) -> str:
    """The path with its string literals and its filter expressions ``? (...)`` cut out."""
    kept: list[str] = []
    depth = 0  # inside a filter's parentheses
    filter_open = False
    index = 0
    while index < len(path):
        char = path[index]
        if char == '"':
            index += 1
            while index < len(path) and path[index] != '"':
                index += 2 if path[index] == "\\" else 1
        elif char == "?" and depth == 0:
            filter_open = True
        elif char == "(" and (filter_open or depth > 0):
            depth += 1
            filter_open = False
        elif char == ")" and depth > 0:
            depth -= 1
        elif depth == 0 and not (filter_open and char.isspace()):
            filter_open = False
            kept.append(char)
        index += 1
    return "".join(kept)


def jsonpath_is_predicate(path: str) -> bool:
    """Whether ``path`` is a predicate (``$.a > 1``: match when true, ``@@``) rather than a
    filter or a plain path (``$.a ? (@ > 1)``: match when it finds something, ``@?``).
    PostgreSQL's ``@@`` answers NULL for a non-boolean path, so a filter matched nothing."""
    return _PREDICATE.search(_outside_filters_and_strings(path).lower()) is not None
