"""The by-id read without FastAPI's parameter machinery: its dependency solving and
validation were about a quarter of a by-id answer's time. ``GET /api/v1/records/{id}`` with no
query string is answered here by the same code as the declared route; anything else (a query
string, an id out of range, a HEAD) goes to the declared route, which the OpenAPI document describes
and which validates and answers it. Errors raised here reach the app's exception handlers like
any route's."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import Route

from streamsuite_query_api.api import MAX_ID, record_answer, router

RECORD_PATH = "/api/v1/records/{record_id}"


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


def install(app: FastAPI) -> None:
    """Put the fast route first; the declared one (``api.router``'s, which the app includes)
    stays for the document and the rest."""
    (declared,) = [
        route
        for route in router.routes
        if isinstance(route, APIRoute) and route.path == RECORD_PATH and "GET" in route.methods
    ]
    fast = Route(
        "/api/v1/records/{record_id:int}",
        RecordById(declared),
        methods=["GET"],
        include_in_schema=False,
    )
    app.router.routes.insert(0, fast)
