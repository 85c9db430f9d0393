"""The /api/v1 routes. Each one parses its input with the shared query layer (which refuses
anything malformed with a message naming the parameter), runs one read on a pooled connection
on the event loop (``AsyncReadPool``: no worker thread per request), and answers JSON rendered
by the query layer."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import Response, StreamingResponse

from streamsuite_common import record_stream
from streamsuite_common.async_pool import AsyncReadPool
from streamsuite_common.query import (
    CursorCodec,
    InvalidQuery,
    Page,
    RecordFilter,
    params,
    parse_dead_letter_params,
    parse_key_value_body,
    parse_record_params,
    parse_stream_params,
    render,
)
from streamsuite_common.query import read as query_read
from streamsuite_common.query.filters import parse_key_value_limit, parse_select
from streamsuite_common.query.params import MAX_ID
from streamsuite_common.slot_response import event_stream
from streamsuite_common.stream_slots import StreamSlots
from streamsuite_query_api import caching, export, models, stream
from streamsuite_query_api.errors import ApiError
from streamsuite_query_api.inputs import MAX_BODY_BYTES, read_json_body, reject_unknown_params
from streamsuite_query_api.metrics import Metrics
from streamsuite_query_api.parameters import documented

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
        **documented((params.KEY_VALUE_LIMIT,)),
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
        },
    },
)
async def query_unstructured_data(request: Request) -> Response:
    """Typed match: `30` matches the number, `"30"` the string. At most `limit` records, newest
    first; the `X-Result-Truncated: true` header says more matched."""
    limit = parse_key_value_limit(request.query_params.multi_items())
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
_LISTING = (*params.DOCUMENT, params.SINCE, params.UNTIL, *params.ORDERING, *params.PAGE,
            params.SELECT, export.FORMAT)  # fmt: skip


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
    openapi_extra=documented(_LISTING),
)
async def list_records(request: Request) -> Response:
    """All filters combine with AND. Newest first: follow `next_cursor` until it is null to
    read everything. `order=asc`: follow `next_cursor` for ever to tail new records."""
    context = ctx(request)
    query = request.query_params
    kind = export.choose_format(query.get("format"), request.headers.get("accept"))
    fields = parse_select(query.get("select"))
    if fields is not None and kind == "csv":
        raise InvalidQuery("select", "not with format=csv (its columns are fixed)")
    shape = None if fields is None else functools.partial(render.project, names=fields)
    pairs = [(n, v) for n, v in query.multi_items() if n not in _NOT_FILTERS]
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
    openapi_extra=documented((params.SELECT,)),
)
async def get_record(
    request: Request,
    record_id: Annotated[int, Path(ge=1, le=MAX_ID)],
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
    fields = parse_select(request.query_params.get("select"))
    return await record_answer(request, record_id, fields, if_none_match)


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
    openapi_extra=documented(params.DEAD_LETTERS),
)
async def list_dead_letters(request: Request) -> Response:
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
    openapi_extra=documented(params.STREAM),
)
async def stream_records(
    request: Request,
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
