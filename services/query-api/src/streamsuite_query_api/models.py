"""The API's request and response shapes, for validation of bodies and for the OpenAPI
document (``/docs``, ``/openapi.json``). Responses are rendered by the query layer straight to
JSON, so these classes describe them; they are not on the hot path."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from streamsuite_common.query.values import KEY_PATH_PATTERN, TEXT_PATTERN

RECORD_EXAMPLE: dict[str, Any] = {
    "id": 4211,
    "kind": "relational",
    "source": "people/ada.json",
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "doc_index": 0,
    "name": "Ada Lovelace",
    "age": 36,
    "payload": {"name": "Ada Lovelace", "age": 36, "address": {"city": "London"}},
    "kafka": {"topic": "records", "partition": 1, "offset": 1187},
    "produced_at": "2026-01-31T12:00:00.123Z",
    "ingested_at": "2026-01-31T12:00:00.412345Z",
}
CURSOR_EXAMPLE = "eyJzIjoicmVjb3JkcyIsImlkIjo0MjExfQ.2Jk8b0n4m3QF9cUe3y6xWg"


class KafkaPosition(BaseModel):
    topic: str
    partition: int
    offset: int


class Record(BaseModel):
    """One stored document with its provenance."""

    model_config = ConfigDict(json_schema_extra={"examples": [RECORD_EXAMPLE]})

    id: int = Field(description="Record id; grows with ingestion order.")
    kind: Literal["relational", "unstructured"] = Field(
        description="`relational` when the document has the name/age shape, else `unstructured`."
    )
    source: str | None = Field(description="File path relative to the inbox (null: no headers).")
    sha256: str | None = Field(description="SHA-256 of the source file's bytes.")
    doc_index: int | None = Field(description="0-based document index within the file.")
    name: str | None = Field(description="Typed `name` (relational records only).")
    age: int | None = Field(description="Typed `age` (relational records only).")
    payload: Any = Field(
        description="The document itself, exactly as stored (any JSON value). In a list, a "
        "document stored in more than 64 KiB is null there, with `payload_truncated` and "
        "`payload_preview`: `/records/{id}` has it whole."
    )
    payload_truncated: bool | None = Field(
        default=None, description="Lists only, for a big document: `payload` left out."
    )
    payload_preview: str | None = Field(
        default=None, description="Lists only, for a big document: its first 1000 characters."
    )
    kafka: KafkaPosition = Field(description="Where the message was read.")
    produced_at: datetime | None = Field(description="When the publisher produced it.")
    ingested_at: datetime = Field(description="When it was stored.")


class RecordPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [RECORD_EXAMPLE], "next_cursor": CURSOR_EXAMPLE}]}
    )

    items: list[Record] = Field(
        description="Newest first (by id, descending); with `order=asc` oldest first in "
        "commit order."
    )
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page (newest "
        "first). With `order=asc` always set: where to poll from next."
    )


class DeadLetterSummary(BaseModel):
    """Something that could not be stored, with why; the raw bytes are on its detail."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 17,
                    "origin": "publisher",
                    "stage": "parse",
                    "reason": "invalid-json",
                    "detail": "not JSON: Expecting value at line 1 column 1",
                    "source": "broken.json",
                    "sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
                    "doc_index": 0,
                    "line": 1,
                    "raw_bytes": 15,
                    "raw_truncated": False,
                    "kafka": None,
                    "dlq": {"topic": "records.dlq", "partition": 0, "offset": 16},
                    "refused_at": "2026-01-31T12:00:00.100Z",
                    "created_at": "2026-01-31T12:00:00.500123Z",
                }
            ]
        }
    )

    id: int
    origin: str = Field(description="Service that refused it: publisher, ingestor, web.")
    stage: str
    reason: str = Field(description="Short stable code, e.g. `invalid-json`, `not-utf8`.")
    detail: str = Field(description="What was wrong, for people.")
    source: str | None
    sha256: str | None
    doc_index: int | None
    line: int | None
    raw_bytes: int = Field(description="Size of the refused bytes kept (at most 256 KiB).")
    raw_truncated: bool
    kafka: KafkaPosition | None = Field(description="The refused message, if it reached Kafka.")
    dlq: KafkaPosition = Field(description="Where the dead-letter event was read.")
    refused_at: datetime | None
    created_at: datetime


class DeadLetter(DeadLetterSummary):
    """A dead letter with its raw bytes."""

    raw_base64: str = Field(description="The refused bytes (at most 256 KiB), base64.")


class DeadLetterPage(BaseModel):
    items: list[DeadLetterSummary] = Field(description="Newest first; without raw bytes.")
    next_cursor: str | None


class RecordCounts(BaseModel):
    total: int
    by_kind: dict[str, int] = Field(examples=[{"relational": 120, "unstructured": 45}])
    estimated: bool = Field(
        default=False,
        description="True beyond 100,000 records: the counts are PostgreSQL's statistics "
        "(as of the last ANALYZE), so /stats answers in constant time.",
    )


class DeadLetterCounts(BaseModel):
    total: int
    by_reason: dict[str, int] = Field(examples=[{"invalid-json": 3, "not-utf8": 1}])


class MinuteCount(BaseModel):
    minute: datetime
    count: int


class Stats(BaseModel):
    records: RecordCounts
    dead_letters: DeadLetterCounts
    records_per_minute: list[MinuteCount] = Field(
        description="The last 60 minutes, oldest first, the current minute last (zeros kept)."
    )
    last_ingested_at: datetime | None
    last_record_id: int | None


def json_value_schema(depth: int = 3) -> dict:
    """Any JSON value whose strings (and object keys) hold no NUL character, which no stored
    document can hold; nested ``depth`` levels here (JSON Schema without a ``$ref``, as the
    body schema is inlined), deeper values are accepted all the same."""
    text = {"type": "string", "pattern": TEXT_PATTERN}
    scalars: list[dict] = [text, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]
    if depth == 0:
        return {"anyOf": scalars}
    inner = json_value_schema(depth - 1)
    return {
        "anyOf": [
            *scalars,
            {"type": "array", "items": inner},
            {"type": "object", "propertyNames": text, "additionalProperties": inner},
        ]
    }


class KeyValueQuery(BaseModel):
    """Documents whose value at `key` equals `value`, type included."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"key": "age", "value": 36},
                {"key": "address.city", "value": "London"},
                {"key": "tags", "value": ["a", "b"]},
            ]
        },
    )

    key: str = Field(
        min_length=1,
        max_length=256,
        pattern=KEY_PATH_PATTERN,
        description="Dotted path: `address.city`; a digits-only segment also indexes arrays "
        "(`items.0.price`; at most 4 such segments).",
    )
    value: Any = Field(
        description='Any JSON value, matched with its type: `30` matches the number, `"30"` '
        "the string; objects and arrays match when equal. No string in it may hold a NUL "
        "character.",
        json_schema_extra=json_value_schema(),
    )


class Problem(BaseModel):
    """An RFC 9457 problem (``application/problem+json``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Bad Request",
                    "status": 400,
                    "detail": "limit: must be between 1 and 1000, got 0",
                    "code": "invalid-parameter",
                    "parameter": "limit",
                }
            ]
        }
    )

    type: str = Field(default="about:blank", description="Always `about:blank`: see `code`.")
    title: str | None = Field(default=None, description="The status's phrase.")
    status: int | None = Field(default=None, description="The HTTP status.")
    detail: str = Field(description="What is wrong, naming the parameter at fault.")
    code: str | None = Field(
        default=None,
        description="Stable: `invalid-parameter`, `unknown-parameter`, `refused-by-database`, "
        "`not-found`, `unsupported-media-type`, `content-too-large`, `too-many-streams`, "
        "`database-unavailable`, `database-error`, `statement-timeout`; 401 "
        "`authentication-required`, `invalid-token`, `invalid-request`; 403 "
        "`insufficient-scope`; 429 `too-many-requests`, `too-many-in-flight`.",
    )
    parameter: str | None = Field(default=None, description="The parameter at fault.")


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(examples=[{"postgres": "ok", "tables": "ok"}])
