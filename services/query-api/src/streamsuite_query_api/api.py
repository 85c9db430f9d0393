"""The /api/v1 routes. Each one parses its input with the shared query layer (which refuses
anything malformed with a message naming the parameter), runs one read on a pooled connection
on the event loop (``AsyncReadPool``: no worker thread per request), and answers JSON rendered
by the query layer."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from streamsuite_common import record_stream
from streamsuite_common.async_pool import AsyncReadPool
from streamsuite_common.query import (
    CursorCodec,
    InvalidQuery,
    Page,
    RecordFilter,
    parse_dead_letter_params,
    parse_key_value_body,
    parse_record_params,
    parse_stream_params,
    render,
)
from streamsuite_common.query import read as query_read
from streamsuite_common.query.filters import (
    DEFAULT_LIMIT,
    MAX_ID,
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_PARTITION,
    RECORD_FIELDS,
    parse_select,
)
from streamsuite_common.query.values import KEY_PATH_PATTERN, MAX_KEY_CHARS, TEXT_PATTERN
from streamsuite_common.slot_response import event_stream
from streamsuite_common.stream_slots import StreamSlots
from streamsuite_query_api import caching, export, models, stream
from streamsuite_query_api.errors import ApiError
from streamsuite_query_api.inputs import MAX_BODY_BYTES, read_json_body, reject_unknown_params
from streamsuite_query_api.metrics import Metrics

JSON = "application/json"
_PROBLEMS = {
    400: {"model": models.Problem, "description": "Bad input; `detail` names the parameter."},
    503: {
        "model": models.Problem,
        "description": "PostgreSQL unreachable or busy; retry after `Retry-After` seconds.",
    },
    504: {
        "model": models.Problem,
        "description": "The query ran past the statement timeout: add an indexed filter.",
    },
}
router = APIRouter(
    prefix="/api/v1", dependencies=[Depends(reject_unknown_params)], responses=_PROBLEMS
)


@dataclasses.dataclass
class Context:
    """What the routes share, kept on ``app.state.ctx``."""

    db: AsyncReadPool
    codec: CursorCodec
    notifier: stream.Notifier
    metrics: Metrics
    heartbeat_s: float
    streams: StreamSlots


def ctx(request: Request) -> Context:
    return request.app.state.ctx


def json_response(text: str, status: int = 200, headers: dict | None = None) -> Response:
    return Response(text, status_code=status, media_type=JSON, headers=headers)


# --- parameter declarations: for the OpenAPI document; the query layer does the parsing ---

# What the query layer refuses, stated in the document (documentation only: the query layer
# enforces it with a message naming the parameter): no empty text (leave the parameter out),
# no NUL character, and a key path of 1..32 non-empty dot-separated segments.
_TEXT = {"minLength": 1, "pattern": TEXT_PATTERN}
_KEY_PATH = {"minLength": 1, "pattern": KEY_PATH_PATTERN}

KeyParam = Annotated[
    str | None,
    Query(
        max_length=MAX_KEY_CHARS,
        description="Dotted key path (`address.city`; `items.0.price` indexes arrays; at most "
        "4 digits-only segments). Needs `value`, and `value` needs it. Served by the GIN "
        "index on `payload`.",
        examples=["age"],
        json_schema_extra=_KEY_PATH,
    ),
]
ValueParam = Annotated[
    str | None,
    Query(
        description="Value at `key`, typed: parsed as JSON when it is valid JSON (`30` the "
        'number, `"30"` the string, `true`, `null`, `{"a":1}`), else taken as a string '
        "(`London`). Equality, including for objects and arrays. Needs `key`.",
        examples=["36"],
        json_schema_extra=_TEXT,
    ),
]
HasKeyParam = Annotated[
    str | None,
    Query(
        max_length=MAX_KEY_CHARS,
        description="Dotted key path that must exist (its value may be null). Not indexed.",
        examples=["address.city"],
        json_schema_extra=_KEY_PATH,
    ),
]
ContainsParam = Annotated[
    str | None,
    Query(
        description="JSON fragment the document must contain (`@>`): "
        '`{"tags":["x"]}` matches a document whose `tags` array holds `"x"`; a top-level '
        "array matches when one of its elements contains the fragment.",
        examples=['{"address":{"city":"London"}}'],
        json_schema_extra=_TEXT,
    ),
]
JsonPathParam = Annotated[
    str | None,
    Query(
        description="SQL/JSON path, bound as a parameter. A predicate (`$.age > 30`, "
        '`$.tags[*] == "x"`, `exists($.address.zip)`) matches when true (`@@`); a filter or '
        "plain path (`$.items[*] ? (@.price < 20)`, `$.address.zip`) matches when it finds "
        "something (`@?`).",
        examples=["$.age > 30"],
        json_schema_extra=_TEXT,
    ),
]
KindParam = Annotated[Literal["relational", "unstructured"] | None, Query()]
NameParam = Annotated[
    str | None, Query(description="Typed `name`, exact match.", json_schema_extra=_TEXT)
]
AgeMinParam = Annotated[
    int | None, Query(description="Typed `age` at least this.", ge=-(2**31), le=2**31 - 1)
]
AgeMaxParam = Annotated[
    int | None,
    Query(description="Typed `age` at most this; not below `age_min`.", ge=-(2**31), le=2**31 - 1),
]
SourceParam = Annotated[
    str | None, Query(description="Source file path, exact match.", json_schema_extra=_TEXT)
]
PartitionParam = Annotated[
    int | None,
    Query(
        description="Kafka partition the record was read from (`kafka.partition`). Indexed "
        "together with the offset.",
        ge=0,
        le=MAX_PARTITION,
    ),
]
OffsetMinParam = Annotated[
    int | None,
    Query(
        description="Kafka offset at least this (`kafka.offset`, inclusive); needs "
        "`partition`. One offset: the same value as `offset_min` and `offset_max`.",
        ge=0,
        le=MAX_OFFSET,
    ),
]
OffsetMaxParam = Annotated[
    int | None,
    Query(
        description="Kafka offset at most this (inclusive); needs `partition`, not below "
        "`offset_min`.",
        ge=0,
        le=MAX_OFFSET,
    ),
]
# Declared as strings in date-time format: the query layer parses them (and repairs a '+'
# that arrived decoded as a space), so one parser decides for the API and the web UI.
_DATE_TIME = {"format": "date-time"}
SinceParam = Annotated[
    str | None,
    Query(
        description="RFC 3339; `ingested_at` at or after it.",
        examples=["2026-01-31T00:00:00Z"],
        json_schema_extra=_DATE_TIME,
    ),
]
UntilParam = Annotated[
    str | None,
    Query(
        description="RFC 3339; `ingested_at` before it (exclusive). Later than `since`.",
        json_schema_extra=_DATE_TIME,
    ),
]
LimitParam = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1..{MAX_LIMIT}.")]
CursorParam = Annotated[
    str | None,
    Query(
        max_length=200,
        description="`next_cursor` of the previous page: opaque and signed; the order (newest "
        "first, by id) stays stable while new records arrive.",
        json_schema_extra=_TEXT,
    ),
]
OrderParam = Annotated[
    Literal["desc", "asc"],
    Query(
        description="`desc`: newest first by id (the default). `asc`: oldest first in commit "
        "order, for incremental reads: only records whose transaction committed before every "
        "one still running, in (transaction, id) order, so a client polling with "
        "`next_cursor` never misses a batch that took its ids first and committed last (ids "
        "may step back where two writers' batches meet). `next_cursor` is always given; an "
        "empty page means caught up for now.",
    ),
]
SelectParam = Annotated[
    str | None,
    Query(
        description="Comma-separated record fields to answer with (`id,name,payload`), in "
        f"the record's own order: {', '.join(RECORD_FIELDS)}; each record then has only "
        "those. Top-level fields only; not with `format=csv`.",
        examples=["id,kafka,payload"],
        json_schema_extra=_TEXT,
    ),
]
FormatParam = Annotated[
    Literal["json", "ndjson", "csv"] | None,
    Query(
        description="`json` (the default: a page). `ndjson` or `csv`: an export of every "
        "matching record from `cursor` on, in the order asked, streamed (whole records, one "
        "per line; CSV: a header row, the document as JSON in the last column); not with "
        "`limit`. Without it, `Accept: application/x-ndjson` or `text/csv` asks for the same.",
    ),
]
AfterParam = Annotated[
    int | None,
    Query(
        description="With `order=asc`: start after this record (its place in commit order), "
        "e.g. the id of the last record already read; `0` or absent: from the oldest. Not "
        "with `cursor`.",
        ge=0,
        le=MAX_ID,
    ),
]


async def _read(request: Request, make_steps: Callable[..., Any], *args: Any) -> Any:
    """One sans-IO read (``query.steps``) on the pool, on the event loop."""
    return await ctx(request).db.read(make_steps, *args)


async def _call(function: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """``record_stream``'s ``run`` for an async pool: the read is awaited, not threaded."""
    return await function(*args)


async def _list_page(
    request: Request,
    parse: Callable[..., tuple[Any, Page]],
    read_page: Callable[..., Any],
    params: list[tuple[str, str]] | None = None,
    shape: Callable[[str], str] | None = None,
) -> Response:
    """A listing: its parameters (``params``, else the query string's) through ``parse``
    (filter, page), one ``read_page`` call; ``shape`` rewrites each item (``select``)."""
    context = ctx(request)
    pairs = request.query_params.multi_items() if params is None else params
    found_filter, page = parse(pairs, context.codec)
    result = await _read(request, read_page, found_filter, page, context.codec)
    if shape is not None:
        return json_response(render.page_json([shape(i) for i in result.items], result.next_cursor))
    return json_response(result.to_json())


@router.post(
    "/query_unstructured_data",
    summary="Records whose document has `key` equal to `value` (the original endpoint)",
    response_model=list[models.Record],
    responses={
        413: {"model": models.Problem, "description": f"Body over {MAX_BODY_BYTES} bytes."},
        415: {"model": models.Problem, "description": "Content type is not application/json."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                JSON: {
                    "schema": models.KeyValueQuery.model_json_schema(),
                    "examples": {
                        "number": {"value": {"key": "age", "value": 36}},
                        "string": {"value": {"key": "age", "value": "36"}},
                        "nested": {"value": {"key": "address.city", "value": "London"}},
                    },
                }
            },
        }
    },
)
async def query_unstructured_data(
    request: Request,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Most records answered (newest first).")
    ] = MAX_LIMIT,
) -> Response:
    """Typed match: `30` matches the number, `"30"` the string. At most `limit` records, newest
    first; the `X-Result-Truncated: true` header says more matched."""
    body = await read_json_body(request)
    record_filter = parse_key_value_body(body)
    context = ctx(request)
    page = await _read(
        request, query_read.list_records.steps, record_filter, Page(limit=limit), context.codec
    )
    headers = {"X-Result-Truncated": "true"} if page.next_cursor else None
    return json_response("[" + ",".join(page.items) + "]", headers=headers)


_EXPORT_TEXT = {"schema": {"type": "string"}}
_NOT_FILTERS = ("format", "select")  # how the answer looks, not which records


@router.get(
    "/records",
    summary="Records, newest first (or oldest first: `order=asc`), filtered and paged",
    response_model=models.RecordPage,
    responses={
        200: {
            "content": {export.NDJSON: _EXPORT_TEXT, export.CSV: _EXPORT_TEXT},
            "description": "A page (JSON), or an export (NDJSON, CSV) with `format`/`Accept`.",
        }
    },
)
async def list_records(
    request: Request,
    key: KeyParam = None,
    value: ValueParam = None,
    has_key: HasKeyParam = None,
    contains: ContainsParam = None,
    jsonpath: JsonPathParam = None,
    kind: KindParam = None,
    name: NameParam = None,
    age_min: AgeMinParam = None,
    age_max: AgeMaxParam = None,
    source: SourceParam = None,
    partition: PartitionParam = None,
    offset_min: OffsetMinParam = None,
    offset_max: OffsetMaxParam = None,
    since: SinceParam = None,
    until: UntilParam = None,
    order: OrderParam = "desc",
    after: AfterParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    select: SelectParam = None,
    format: FormatParam = None,
) -> Response:
    """All filters combine with AND. Newest first: follow `next_cursor` until it is null to
    read everything. `order=asc`: follow `next_cursor` for ever to tail new records."""
    context = ctx(request)
    kind = export.choose_format(format, request.headers.get("accept"))
    fields = parse_select(select)
    if fields is not None and kind == "csv":
        raise InvalidQuery("select", "not with format=csv (its columns are fixed)")
    shape = None if fields is None else functools.partial(render.project, names=fields)
    pairs = [(n, v) for n, v in request.query_params.multi_items() if n not in _NOT_FILTERS]
    if kind == "json" and shape is None:
        return await records_page(request, *parse_record_params(pairs, context.codec,
                                                                 incremental=True))  # fmt: skip
    if kind == "json":
        parse = functools.partial(parse_record_params, incremental=True)
        return await _list_page(request, parse, query_read.list_records.steps, pairs, shape)
    record_filter, page = parse_record_params(
        export.export_params(pairs), context.codec, incremental=True
    )
    page = export.first_page(page)
    first = await _read(request, query_read.export_page.steps, record_filter, page, context.codec)
    body = export.lines(
        kind, record_filter, first, context.codec, functools.partial(_read, request), shape=shape
    )
    return StreamingResponse(body, media_type=export.MEDIA_TYPES[kind])


async def records_page(request: Request, record_filter: RecordFilter, page: Page) -> Response:
    """A JSON page of records (``list_records``, and ``fast_routes`` for a plain page)."""
    codec = ctx(request).codec
    found = await _read(request, query_read.list_records.steps, record_filter, page, codec)
    return json_response(found.to_json())


_CACHE_HEADERS = {
    "ETag": {"description": "Strong validator of this answer.", "schema": {"type": "string"}},
    "Cache-Control": {"description": caching.RECORD_CACHE_CONTROL, "schema": {"type": "string"}},
}


@router.get(
    "/records/{record_id}",
    summary="One record by id",
    response_model=models.Record,
    responses={
        200: {"headers": _CACHE_HEADERS},
        304: {
            "description": "`If-None-Match` names this record's ETag: the copy held is current.",
            "headers": _CACHE_HEADERS,
        },
        404: {"model": models.Problem, "description": "No record with this id."},
    },
)
async def get_record(
    request: Request,
    record_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    select: SelectParam = None,
    if_none_match: Annotated[
        str | None,
        Header(
            alias="If-None-Match",
            description="ETag(s) of a copy already held: 304 without a body when one matches.",
        ),
    ] = None,
) -> Response:
    """A stored record never changes: the answer has a strong `ETag` and
    `Cache-Control: private, max-age=31536000, immutable`."""
    return await record_answer(request, record_id, parse_select(select), if_none_match)


async def record_answer(
    request: Request, record_id: int, fields: tuple[str, ...] | None, if_none_match: str | None
) -> Response:
    """One record, its ETag and caching headers (``get_record``, and ``fast_routes`` for the
    plain request)."""
    found = await _read(request, query_read.get_record.steps, record_id)
    if found is None:
        raise ApiError(404, f"record {record_id}: not found", parameter="record_id")
    found = render.project(found, fields)
    etag = caching.strong_etag(found)
    headers = {"ETag": etag, "Cache-Control": caching.RECORD_CACHE_CONTROL}
    if caching.none_match(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return json_response(found, headers=headers)


@router.get(
    "/dead-letters",
    summary="Dead letters (refused input), newest first, paged",
    response_model=models.DeadLetterPage,
)
async def list_dead_letters(
    request: Request,
    reason: Annotated[
        str | None, Query(description="e.g. `invalid-json`", json_schema_extra=_TEXT)
    ] = None,
    origin: Annotated[
        str | None,
        Query(description="`publisher`, `ingestor`, `web`", json_schema_extra=_TEXT),
    ] = None,
    stage: Annotated[str | None, Query(json_schema_extra=_TEXT)] = None,
    source: SourceParam = None,
    since: Annotated[
        str | None, Query(description="`created_at` at or after.", json_schema_extra=_DATE_TIME)
    ] = None,
    until: Annotated[
        str | None,
        Query(description="`created_at` before; later than `since`.", json_schema_extra=_DATE_TIME),
    ] = None,
    limit: LimitParam = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> Response:
    return await _list_page(
        request,
        parse_dead_letter_params,
        functools.partial(query_read.list_dead_letters.steps, raw=False),
    )


@router.get(
    "/dead-letters/{letter_id}",
    summary="One dead letter by id, with its raw bytes",
    response_model=models.DeadLetter,
    responses={404: {"model": models.Problem, "description": "No dead letter with this id."}},
)
async def get_dead_letter(
    request: Request, letter_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> Response:
    found = await _read(request, query_read.get_dead_letter.steps, letter_id)
    if found is None:
        raise ApiError(404, f"dead letter {letter_id}: not found", parameter="letter_id")
    return json_response(found)


@router.get("/stats", summary="Counts and ingestion rate", response_model=models.Stats)
async def get_stats(request: Request) -> models.Stats:
    return await _read(request, query_read.stats.steps)


@router.get(
    "/stream",
    summary="Server-Sent Events of new records",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/event-stream": {"example": "id: 4212\nevent: record\ndata: {...}\n\n"}
            },
            "description": "One `record` event per new record (`id` = record id, `data` = the "
            "record JSON), `: heartbeat` comments in between.",
        }
    },
)
async def stream_records(
    request: Request,
    key: KeyParam = None,
    value: ValueParam = None,
    has_key: HasKeyParam = None,
    contains: ContainsParam = None,
    jsonpath: JsonPathParam = None,
    kind: KindParam = None,
    name: NameParam = None,
    age_min: AgeMinParam = None,
    age_max: AgeMaxParam = None,
    source: SourceParam = None,
    partition: PartitionParam = None,
    offset_min: OffsetMinParam = None,
    offset_max: OffsetMaxParam = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="Resume: records after this id are sent first (browsers send it "
            "when they reconnect).",
        ),
    ] = None,
) -> StreamingResponse:
    """Records stored after the connection opened (or after `Last-Event-ID`), oldest first,
    with the same document filters as `/records`."""
    context = ctx(request)
    record_filter = parse_stream_params(request.query_params.multi_items())
    after_id = stream.parse_last_event_id(last_event_id)
    # Taken before the first await, so clients connecting at once cannot all pass the check.
    slot = context.streams.take()
    if slot is None:
        raise ApiError(
            503,
            f"{context.streams.limit} stream clients already; retry later",
            {"Retry-After": "5"},
            code="too-many-streams",
        )
    try:
        # Before the response starts: a filter PostgreSQL refuses is a 400 here.
        start = await _read(request, record_stream.stream_start.steps, record_filter, after_id)
        events = stream.record_events(
            context.db,
            context.notifier,
            record_filter,
            after_id,
            heartbeat_s=context.heartbeat_s,
            run=_call,
            start=start,
        )
    except BaseException:
        slot.release()
        raise
    return event_stream(slot, events)
