"""The hot reads without FastAPI's request machinery: its dependency solving and validation
were about a quarter of a by-id answer's time, and a fifth of a list page's.

- ``GET /api/v1/records/{id}`` with no query string is answered by the same code as the
  declared route; anything else (a query string, an id out of range, a HEAD) goes to it.
- ``GET /api/v1/records`` as a JSON page: parsed by the query layer's parser, as the declared
  route parses it. What the parser refuses goes to the declared route, so every error is that
  route's own, and so do exports (``format``, ``Accept``) and ``select``.

The declared routes stay for the OpenAPI document and the rest. Errors raised here reach the
app's exception handlers like any route's."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import Route

from streamsuite_common.query import InvalidQuery, Page, RecordFilter, parse_record_params
from streamsuite_query_api import export
from streamsuite_query_api.api import MAX_ID, ctx, record_answer, records_page, router

RECORD_PATH = "/api/v1/records/{record_id}"
RECORDS_PATH = "/api/v1/records"
_DECLARED_ONLY = ("format", "select")  # an export, or a projection: the declared route's


class RecordById:
    """The ASGI app of the fast route, in front of the declared ``get_record``."""

    def __init__(self, declared: APIRoute):
        self.declared = declared

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        record_id = scope["path_params"]["record_id"]
        # The declared route's own: metrics and logs go by its template, and the check of
        # unknown query parameters by its parameters.
        scope["route"] = self.declared
        if scope["method"] != "GET" or scope.get("query_string") or not 1 <= record_id <= MAX_ID:
            # The declared route parses the id itself, as the client wrote it.
            scope["path_params"] = {"record_id": scope["path"].rsplit("/", 1)[-1]}
            await self.declared.handle(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await record_answer(
            request, record_id, None, request.headers.get("if-none-match")
        )
        await response(scope, receive, send)


class RecordsPage:
    """The ASGI app of the fast page route, in front of the declared ``list_records``."""

    def __init__(self, declared: APIRoute):
        self.declared = declared

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        scope["route"] = self.declared
        request = Request(scope, receive)
        parsed = plain_page(request) if scope["method"] == "GET" else None
        if parsed is None:
            await self.declared.handle(scope, receive, send)
            return
        response = await records_page(request, *parsed)
        await response(scope, receive, send)


def plain_page(request: Request) -> tuple[RecordFilter, Page] | None:
    """The filter and page of a request for a JSON page the query layer's parser accepts;
    None for anything else."""
    pairs = request.query_params.multi_items()
    if any(name in _DECLARED_ONLY for name, _ in pairs):
        return None
    if export.choose_format(None, request.headers.get("accept")) != "json":
        return None
    try:
        return parse_record_params(pairs, ctx(request).codec, incremental=True)
    except InvalidQuery:
        return None


def _declared(path: str) -> APIRoute:
    (route,) = [
        route
        for route in router.routes
        if isinstance(route, APIRoute) and route.path == path and "GET" in route.methods
    ]
    return route


def install(app: FastAPI) -> None:
    """Put the fast routes first; the declared ones (``api.router``'s, which the app
    includes) stay for the document and the rest."""
    fast = [
        Route(RECORDS_PATH, RecordsPage(_declared(RECORDS_PATH)), methods=["GET"],
              include_in_schema=False),
        Route("/api/v1/records/{record_id:int}", RecordById(_declared(RECORD_PATH)),
              methods=["GET"], include_in_schema=False),
    ]  # fmt: skip
    app.router.routes[0:0] = fast
