"""Every query parameter of the read side, declared once: the parser (``filters``) takes each
one's bounds, length and choices from here, and the query API's OpenAPI document its
description and schema (``streamsuite_query_api.parameters``), so the two cannot disagree.

Pure data: no parsing and no I/O.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from streamsuite_common.query.values import MAX_KEY_CHARS

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_TEXT_CHARS = 1024
MAX_JSONPATH_CHARS = 1024
MAX_CONTAINS_CHARS = 16 * 1024
MAX_VALUE_CHARS = 16 * 1024
MAX_CURSOR_CHARS = 200
INT32 = (-(2**31), 2**31 - 1)
MAX_PARTITION = 2**31 - 1  # Kafka partitions are int32
MAX_OFFSET = 2**63 - 1  # and offsets int64
MAX_ID = 2**63 - 1
KINDS = ("relational", "unstructured")
ORDERS = ("desc", "asc")

# The fields of a record, in the order its JSON has them (``sql.record_json_sql``).
RECORD_FIELDS = (
    "id", "kind", "source", "sha256", "doc_index", "name", "age", "payload", "kafka",
    "produced_at", "ingested_at",
)  # fmt: skip

Kind = Literal["text", "key_path", "json", "integer", "choice", "timestamp"]


@dataclasses.dataclass(frozen=True)
class Param:
    """One query parameter. ``kind`` says how it is read: ``text`` (no NUL, not empty, at
    most ``max_chars``), ``key_path`` (dotted, ``values.parse_key_path``), ``json`` (text
    read as JSON), ``integer`` (``minimum``..``maximum``), ``choice`` (one of ``choices``) or
    ``timestamp`` (RFC 3339 with an offset)."""

    name: str
    kind: Kind
    description: str = ""
    max_chars: int | None = None
    allow_empty: bool = False  # text: an empty value means something (else: leave it out)
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    default: int | str | None = None
    example: str | None = None


KEY = Param(
    "key", "key_path",
    "Dotted key path (`address.city`; `items.0.price` indexes arrays; at most 4 digits-only "
    "segments). Needs `value`, and `value` needs it. Served by the GIN index on `payload`.",
    max_chars=MAX_KEY_CHARS, example="age",
)  # fmt: skip
VALUE = Param(
    "value", "json",
    "Value at `key`, typed: parsed as JSON when it is valid JSON (`30` the number, `\"30\"` "
    "the string, `true`, `null`, `{\"a\":1}`), else taken as a string (`London`). Equality, "
    "including for objects and arrays. Needs `key`.",
    max_chars=MAX_VALUE_CHARS, allow_empty=True, example="36",
)  # fmt: skip
HAS_KEY = Param(
    "has_key", "key_path",
    "Dotted key path that must exist (its value may be null). Served by the GIN index on "
    "`payload` unless its first segment is an array index (digits).",
    max_chars=MAX_KEY_CHARS, example="address.city",
)  # fmt: skip
CONTAINS = Param(
    "contains", "json",
    "JSON fragment the document must contain (`@>`): `{\"tags\":[\"x\"]}` matches a document "
    "whose `tags` array holds `\"x\"`; a top-level array matches when one of its elements "
    "contains the fragment.",
    max_chars=MAX_CONTAINS_CHARS, example='{"address":{"city":"London"}}',
)  # fmt: skip
JSONPATH = Param(
    "jsonpath", "text",
    "SQL/JSON path, bound as a parameter. A predicate (`$.age > 30`, `$.tags[*] == \"x\"`, "
    "`exists($.address.zip)`) matches when true (`@@`); a filter or plain path "
    "(`$.items[*] ? (@.price < 20)`, `$.address.zip`) matches when it finds something (`@?`).",
    max_chars=MAX_JSONPATH_CHARS, example="$.age > 30",
)  # fmt: skip
KIND = Param("kind", "choice",
             "`relational`: stored with typed columns too; `unstructured`: JSONB only.",
             choices=KINDS)  # fmt: skip
NAME = Param("name", "text", "Typed `name`, exact match.", max_chars=MAX_TEXT_CHARS)
AGE_MIN = Param("age_min", "integer", "Typed `age` at least this.",
                minimum=INT32[0], maximum=INT32[1])  # fmt: skip
AGE_MAX = Param("age_max", "integer", "Typed `age` at most this; not below `age_min`.",
                minimum=INT32[0], maximum=INT32[1])  # fmt: skip
SOURCE = Param("source", "text", "Source file path, exact match.", max_chars=MAX_TEXT_CHARS)
PARTITION = Param(
    "partition", "integer",
    "Kafka partition the record was read from (`kafka.partition`). Indexed together with the "
    "offset.",
    minimum=0, maximum=MAX_PARTITION,
)  # fmt: skip
OFFSET_MIN = Param(
    "offset_min", "integer",
    "Kafka offset at least this (`kafka.offset`, inclusive); needs `partition`. One offset: "
    "the same value as `offset_min` and `offset_max`.",
    minimum=0, maximum=MAX_OFFSET,
)  # fmt: skip
OFFSET_MAX = Param(
    "offset_max", "integer",
    "Kafka offset at most this (inclusive); needs `partition`, not below `offset_min`.",
    minimum=0, maximum=MAX_OFFSET,
)  # fmt: skip
SINCE = Param("since", "timestamp", "RFC 3339; `ingested_at` at or after it.",
              example="2026-01-31T00:00:00Z")  # fmt: skip
UNTIL = Param("until", "timestamp",
              "RFC 3339; `ingested_at` before it (exclusive). Later than `since`.")  # fmt: skip
LIMIT = Param("limit", "integer", f"Page size, 1..{MAX_LIMIT}.",
              minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT)  # fmt: skip
KEY_VALUE_LIMIT = Param("limit", "integer", "Most records answered (newest first).",
                        minimum=1, maximum=MAX_LIMIT, default=MAX_LIMIT)  # fmt: skip
CURSOR = Param(
    "cursor", "text",
    "`next_cursor` of the previous page: opaque and signed; the order (newest first, by id) "
    "stays stable while new records arrive.",
    max_chars=MAX_CURSOR_CHARS,
)  # fmt: skip
ORDER = Param(
    "order", "choice",
    "`desc`: newest first by id (the default). `asc`: oldest first in commit order, for "
    "incremental reads: only records whose transaction committed before every one still "
    "running, in (transaction, id) order, so a client polling with `next_cursor` never misses "
    "a batch that took its ids first and committed last (ids may step back where two writers' "
    "batches meet). `next_cursor` is always given; an empty page means caught up for now.",
    choices=ORDERS, default="desc",
)  # fmt: skip
AFTER = Param(
    "after", "integer",
    "With `order=asc`: start after this record (its place in commit order), e.g. the id of the "
    "last record already read; `0` or absent: from the oldest. Not with `cursor`.",
    minimum=0, maximum=MAX_ID,
)  # fmt: skip
SELECT = Param(
    "select", "text",
    "Comma-separated record fields to answer with (`id,name,payload`), in the record's own "
    f"order: {', '.join(RECORD_FIELDS)}; each record then has only those. Top-level fields "
    "only; not with `format=csv`.",
    max_chars=MAX_TEXT_CHARS, example="id,kafka,payload",
)  # fmt: skip

REASON = Param("reason", "text", "e.g. `invalid-json`", max_chars=MAX_TEXT_CHARS)
ORIGIN = Param("origin", "text", "`publisher`, `ingestor`, `web`", max_chars=MAX_TEXT_CHARS)
STAGE = Param("stage", "text", "Where it was refused, e.g. `parse`.", max_chars=MAX_TEXT_CHARS)
CREATED_SINCE = Param("since", "timestamp", "`created_at` at or after.")
CREATED_UNTIL = Param("until", "timestamp", "`created_at` before; later than `since`.")

# The filters of a record itself, shared by the record listing and the stream.
DOCUMENT = (KEY, VALUE, HAS_KEY, CONTAINS, JSONPATH, KIND, NAME, AGE_MIN, AGE_MAX, SOURCE,
            PARTITION, OFFSET_MIN, OFFSET_MAX)  # fmt: skip
PAGE = (LIMIT, CURSOR)
RECORDS = (*DOCUMENT, SINCE, UNTIL, *PAGE)
ORDERING = (ORDER, AFTER)  # the query API's incremental reads (``incremental=True``)
STREAM = DOCUMENT
DEAD_LETTERS = (REASON, ORIGIN, STAGE, SOURCE, CREATED_SINCE, CREATED_UNTIL, *PAGE)


def names(params: tuple[Param, ...]) -> tuple[str, ...]:
    return tuple(param.name for param in params)
