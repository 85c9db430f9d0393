"""Request parameters into validated filters: pure, one ``InvalidQuery`` naming the parameter.

Parameters arrive as (name, text) pairs, as in a query string; an unknown name or a name given
twice is refused rather than ignored, so a typo never silently widens a result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from streamsuite_common.query import params
from streamsuite_common.query.cursor import CursorCodec, CursorError
from streamsuite_common.query.errors import InvalidQuery
from streamsuite_common.query.params import (
    DEFAULT_LIMIT,
    RECORD_FIELDS,
    Param,
)
from streamsuite_common.query.values import (
    check_text,
    parse_json,
    parse_key_path,
    to_json_text,
    value_from_param,
)

RECORDS_SCOPE = "records"
RECORDS_ASC_SCOPE = "records-asc"  # a commit-order position, not an id: not interchangeable
DEAD_LETTERS_SCOPE = "dead_letters"

# The parameter names of each reading, from their declarations (``params``).
DOCUMENT_PARAMS = params.names(params.DOCUMENT)
PAGE_PARAMS = params.names(params.PAGE)
RECORD_PARAMS = params.names(params.RECORDS)
ORDER_PARAMS = params.names(params.ORDERING)
STREAM_PARAMS = params.names(params.STREAM)
DEAD_LETTER_PARAMS = params.names(params.DEAD_LETTERS)


@dataclasses.dataclass(frozen=True)
class RecordFilter:
    """What a record must satisfy; None means "any". JSON values are compact JSON text."""

    key: tuple[str, ...] | None = None
    value: str | None = None  # JSON text; set exactly when key is
    has_key: tuple[str, ...] | None = None
    contains: str | None = None  # JSON text
    jsonpath: str | None = None
    kind: str | None = None
    name: str | None = None
    age_min: int | None = None
    age_max: int | None = None
    source: str | None = None
    partition: int | None = None  # Kafka coordinates of the message the record came from
    offset_min: int | None = None  # inclusive; offsets only with a partition
    offset_max: int | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclasses.dataclass(frozen=True)
class DeadLetterFilter:
    reason: str | None = None
    origin: str | None = None
    stage: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclasses.dataclass(frozen=True)
class Page:
    """Newest first: at most ``limit`` items with ids below ``before_id`` (None: the newest).

    ``ascending``: oldest first in commit order (``read.list_records``), after the commit
    position ``position`` (from a cursor) or after record ``after_id`` (None: the start)."""

    limit: int = DEFAULT_LIMIT
    before_id: int | None = None
    ascending: bool = False
    position: tuple[str, int] | None = None  # (xid as text, record id)
    after_id: int | None = None


def _single_values(
    pairs: Iterable[tuple[str, str]] | Mapping[str, str], allowed: Iterable[str]
) -> dict[str, str]:
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    allowed = tuple(allowed)
    values: dict[str, str] = {}
    for name, text in items:
        if name not in allowed:
            raise InvalidQuery(name, f"unknown parameter; known: {', '.join(allowed)}")
        if name in values:
            raise InvalidQuery(name, "given more than once")
        values[name] = text
    return values


def _text(values: Mapping[str, str], param: Param) -> str | None:
    text = values.get(param.name)
    if text is None:
        return None
    check_text(param.name, text)
    if not text and not param.allow_empty:
        raise InvalidQuery(param.name, "must not be empty (leave the parameter out instead)")
    if param.max_chars is not None and len(text) > param.max_chars:
        raise InvalidQuery(param.name, f"longer than {param.max_chars} characters ({len(text)})")
    return text


def _int(values: Mapping[str, str], param: Param) -> int | None:
    text = values.get(param.name)
    if text is None:
        return None
    stripped = text.strip()
    body = stripped[1:] if stripped[:1] in "+-" else stripped
    if not body.isascii() or not body.isdigit() or len(body) > 19:
        raise InvalidQuery(param.name, f"expected a whole number, got {text[:40]!r}")
    number = int(stripped)
    low, high = param.minimum, param.maximum
    assert low is not None
    assert high is not None
    if not low <= number <= high:
        raise InvalidQuery(param.name, f"must be between {low} and {high}, got {number}")
    return number


def _choice(values: Mapping[str, str], param: Param) -> str | None:
    text = values.get(param.name)
    if text is None:
        return param.default if isinstance(param.default, str) else None
    if text not in param.choices:
        raise InvalidQuery(
            param.name, f"must be one of {', '.join(param.choices)}; got {text[:40]!r}"
        )
    return text


def parse_timestamp(name: str, text: str) -> datetime:
    """RFC 3339 with an explicit offset (``2026-01-31T12:00:00Z``, ``...+02:00``)."""
    check_text(name, text)
    candidate = text.strip()
    # A '+' in a query string arrives as a space unless the client encoded it as %2B.
    if len(candidate) > 19 and candidate[-6:-5] == " ":
        candidate = f"{candidate[:-6]}+{candidate[-5:]}"
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        moment = None
    if moment is None or len(candidate) < 19 or "T" not in candidate.upper():
        raise InvalidQuery(
            name, f"expected an RFC 3339 timestamp such as 2026-01-31T12:00:00Z, got {text[:40]!r}"
        )
    if moment.tzinfo is None:
        raise InvalidQuery(name, "needs a UTC offset (Z or +hh:mm)")
    # In UTC: PostgreSQL refuses offsets beyond ±15:59 that RFC 3339 allows (+23:03).
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # Within a day of year 1 or 9999: no record is stored there, so the bound means the same.
        return (
            datetime.min.replace(tzinfo=UTC)
            if moment.year == 1
            else datetime.max.replace(tzinfo=UTC)
        )


def _time_range(values: Mapping[str, str]) -> tuple[datetime | None, datetime | None]:
    since = parse_timestamp("since", values["since"]) if "since" in values else None
    until = parse_timestamp("until", values["until"]) if "until" in values else None
    if since is not None and until is not None and since >= until:
        raise InvalidQuery("until", "must be later than since")
    return since, until


def _page(values: Mapping[str, str], codec: CursorCodec, scope: str) -> Page:
    limit = _int(values, params.LIMIT)
    before_id = None
    cursor = _text(values, params.CURSOR)
    if cursor is not None:
        try:
            before_id = codec.decode(scope, cursor)
        except CursorError as exc:
            raise InvalidQuery("cursor", f"invalid: {exc}") from None
    return Page(limit=DEFAULT_LIMIT if limit is None else limit, before_id=before_id)


def _document_filter(values: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ("key" in values) != ("value" in values):
        missing = "value" if "key" in values else "key"
        other = "key" if missing == "value" else "value"
        raise InvalidQuery(missing, f"required together with {other}")
    if "key" in values:
        out["key"] = parse_key_path("key", values["key"])
        text = _text(values, params.VALUE)
        assert text is not None
        out["value"] = to_json_text("value", value_from_param("value", text))
    if "has_key" in values:
        out["has_key"] = parse_key_path("has_key", values["has_key"])
    contains = _text(values, params.CONTAINS)
    if contains is not None:
        out["contains"] = to_json_text("contains", parse_json("contains", contains))
    out["jsonpath"] = _text(values, params.JSONPATH)
    out["kind"] = _choice(values, params.KIND)
    out["name"] = _text(values, params.NAME)
    out["source"] = _text(values, params.SOURCE)
    out["age_min"] = _int(values, params.AGE_MIN)
    out["age_max"] = _int(values, params.AGE_MAX)
    if (
        out["age_min"] is not None
        and out["age_max"] is not None
        and out["age_min"] > out["age_max"]
    ):
        raise InvalidQuery("age_max", "must not be below age_min")
    out.update(_kafka_coordinates(values))
    return out


def _kafka_coordinates(values: Mapping[str, str]) -> dict[str, int | None]:
    """``partition``, ``offset_min``, ``offset_max`` (inclusive; both for one offset)."""
    partition = _int(values, params.PARTITION)
    offset_min = _int(values, params.OFFSET_MIN)
    offset_max = _int(values, params.OFFSET_MAX)
    for name, offset in (("offset_min", offset_min), ("offset_max", offset_max)):
        # Offsets count per partition; alone they would match a record of every partition
        # (and no index serves them without the partition).
        if offset is not None and partition is None:
            raise InvalidQuery(name, "needs partition (offsets are counted per partition)")
    if offset_min is not None and offset_max is not None and offset_min > offset_max:
        raise InvalidQuery("offset_max", "must not be below offset_min")
    return {"partition": partition, "offset_min": offset_min, "offset_max": offset_max}


def parse_record_params(
    pairs: Iterable[tuple[str, str]] | Mapping[str, str],
    codec: CursorCodec,
    *,
    incremental: bool = False,
) -> tuple[RecordFilter, Page]:
    """``GET /api/v1/records`` parameters into a filter and a page; ``incremental`` also
    takes ``order`` and ``after`` (oldest first: pages that never end, for polling
    clients, so only where the caller expects them)."""
    values = _single_values(
        pairs, (*RECORD_PARAMS, *ORDER_PARAMS) if incremental else RECORD_PARAMS
    )
    since, until = _time_range(values)
    record_filter = RecordFilter(**_document_filter(values), since=since, until=until)
    return record_filter, _record_page(values, codec)


def _record_page(values: Mapping[str, str], codec: CursorCodec) -> Page:
    """Newest first by id (a cursor holds an id), or oldest first in commit order (a cursor
    holds a position; ``after`` starts after a record)."""
    if _choice(values, params.ORDER) == "desc":
        if "after" in values:
            raise InvalidQuery("after", "only with order=asc (newest first pages with cursor)")
        return _page(values, codec, RECORDS_SCOPE)
    if "after" in values and "cursor" in values:
        raise InvalidQuery("after", "give after or cursor, not both")
    limit = _int(values, params.LIMIT)
    position = None
    cursor = _text(values, params.CURSOR)
    if cursor is not None:
        try:
            position = codec.decode_position(RECORDS_ASC_SCOPE, cursor)
        except CursorError as exc:
            raise InvalidQuery("cursor", f"invalid: {exc}") from None
    return Page(
        limit=DEFAULT_LIMIT if limit is None else limit,
        ascending=True,
        position=position,
        after_id=_int(values, params.AFTER),
    )


def parse_stream_params(pairs: Iterable[tuple[str, str]] | Mapping[str, str]) -> RecordFilter:
    """``GET /api/v1/stream`` parameters: the document filters only."""
    return RecordFilter(**_document_filter(_single_values(pairs, STREAM_PARAMS)))


def parse_dead_letter_params(
    pairs: Iterable[tuple[str, str]] | Mapping[str, str], codec: CursorCodec
) -> tuple[DeadLetterFilter, Page]:
    values = _single_values(pairs, DEAD_LETTER_PARAMS)
    since, until = _time_range(values)
    dead_filter = DeadLetterFilter(
        reason=_text(values, params.REASON),
        origin=_text(values, params.ORIGIN),
        stage=_text(values, params.STAGE),
        source=_text(values, params.SOURCE),
        since=since,
        until=until,
    )
    return dead_filter, _page(values, codec, DEAD_LETTERS_SCOPE)


def parse_key_value_limit(pairs: Iterable[tuple[str, str]] | Mapping[str, str]) -> int:
    """The query string of ``POST /api/v1/query_unstructured_data``: its ``limit``."""
    limit = _int(_single_values(pairs, (params.KEY_VALUE_LIMIT.name,)), params.KEY_VALUE_LIMIT)
    return params.MAX_LIMIT if limit is None else limit


def parse_key_value_body(body: bytes) -> RecordFilter:
    """The body of ``POST /api/v1/query_unstructured_data``: ``{"key": K, "value": V}``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidQuery("body", f"not UTF-8 (byte offset {exc.start})") from None
    if not text.strip():
        raise InvalidQuery("body", 'empty; expected {"key": ..., "value": ...}')
    document = parse_json("body", text)
    if not isinstance(document, dict):
        raise InvalidQuery("body", 'expected a JSON object {"key": ..., "value": ...}')
    unknown = sorted(set(document) - {"key", "value"})
    if unknown:
        raise InvalidQuery(unknown[0], 'unknown field; the body is {"key": ..., "value": ...}')
    if "key" not in document:
        raise InvalidQuery("key", "required")
    if "value" not in document:
        raise InvalidQuery("value", "required (null matches a null value)")
    key = document["key"]
    if not isinstance(key, str):
        raise InvalidQuery("key", f"expected a string, got {_json_type(key)}")
    return RecordFilter(
        key=parse_key_path("key", key), value=to_json_text("value", document["value"])
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "an array"}.get(type(value), "a number")


def parse_select(text: str | None) -> tuple[str, ...] | None:
    """``select=id,name,payload``: the record fields to answer with, in the record's own
    order (None: all). Top-level fields only; a document's own keys are not fields."""
    if text is None:
        return None
    check_text("select", text)
    names = [name.strip() for name in text.split(",")]
    if not text.strip() or "" in names:
        raise InvalidQuery("select", "an empty field name; expected e.g. select=id,name,payload")
    for name in names:
        if name not in RECORD_FIELDS:
            raise InvalidQuery(
                "select", f"unknown field {name[:40]!r}; fields: {', '.join(RECORD_FIELDS)}"
            )
    if len(set(names)) < len(names):
        raise InvalidQuery("select", "a field named twice")
    return tuple(name for name in RECORD_FIELDS if name in names)
