"""The FastAPI application factory: routes, error handlers, metrics middleware, the database
pool and the stream listener, wired from a config. ``create_app`` does no I/O; the pool
connects on first use and the listener starts with the app's lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streamsuite_common.asgi_metrics import RequestMetrics
from streamsuite_common.async_pool import AsyncReadPool
from streamsuite_common.auth import Authenticator, AuthMiddleware
from streamsuite_common.db import DatabaseProbe
from streamsuite_common.health import Readiness
from streamsuite_common.http_headers import API_HEADERS, SecurityHeaders
from streamsuite_common.limits import ClientLimits, LimitMiddleware
from streamsuite_common.notify import Notifier
from streamsuite_common.pool import records_readable
from streamsuite_common.problems import PROBLEM_JSON
from streamsuite_common.query import CursorCodec
from streamsuite_common.stream_slots import StreamSlots
from streamsuite_query_api import __version__, cors, docs, errors, fast_routes, models
from streamsuite_query_api.api import Context, router
from streamsuite_query_api.config import SERVICE, QueryApiConfig
from streamsuite_query_api.metrics import Metrics

DESCRIPTION = """Read-only access to the documents streamsuite stored in PostgreSQL.

Every filter is a bound parameter: keys, JSON fragments and JSON paths never become SQL.
Every error is an RFC 9457 problem (`application/problem+json`) with a stable `code`: bad input
is answered `400` with `"detail": "<parameter>: <problem>"` (unknown parameters too), a
database outage `503` with `Retry-After`.

Every `/api` call needs `Authorization: Bearer <JWT>` with the `read` scope (unless the service
runs with `AUTH.MODE=none`): `401` with `WWW-Authenticate` without a valid token, `403`
without the scope, `429` with `Retry-After` over the per-client limits (problems too).
"""
# Open without credentials: probes, Prometheus, and the API's own description.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc",
                        "/docs/oauth2-redirect"})  # fmt: skip
STREAM_PATHS = frozenset({"/api/v1/stream"})
# Filters the GIN index cannot serve: each such request may scan, so fewer run at once.
SCAN_PARAMS = (b"jsonpath=", b"has_key=")
DOCS_PATHS = ("/docs", "/redoc")
AUTH_RESPONSES = {
    "401": "No valid bearer token (see `WWW-Authenticate`).",
    "403": "The token lacks the `read` scope.",
    "429": "Over this client's request limits; retry after `Retry-After` seconds.",
}


def is_scan(scope: dict) -> bool:
    query = scope.get("query_string", b"")
    return any(query.startswith(p) or b"&" + p in query for p in SCAN_PARAMS)


def api_headers(path: str) -> dict[str, str]:
    """The API's security headers; the Swagger and ReDoc pages load their scripts from a CDN,
    so they keep FastAPI's defaults instead of ``default-src 'none'``."""
    if path.startswith(DOCS_PATHS):
        return {k: v for k, v in API_HEADERS.items() if k != "Content-Security-Policy"}
    return dict(API_HEADERS)


def document_auth(app: FastAPI, enabled: bool) -> None:
    """The OpenAPI document states the bearer scheme and the 401/403/429 answers, problems as
    the middlewares send them (Swagger's Authorize button, schemathesis)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        if not enabled:
            return document
        components = document.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
        }
        for path, operations in document.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            for operation in operations.values():
                operation["security"] = [{"bearer": []}]
                for status, text in AUTH_RESPONSES.items():
                    operation.setdefault("responses", {}).setdefault(status, {
                        "description": text,
                        "content": {PROBLEM_JSON: {"schema": {
                            "$ref": "#/components/schemas/Problem"}}},
                    })  # fmt: skip
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(cfg: QueryApiConfig, *, registry: CollectorRegistry | None = None) -> FastAPI:
    registry = registry or CollectorRegistry()
    settings = cfg.query_api
    db = AsyncReadPool(
        cfg.database,
        pool_size=settings.pool_size,
        pool_timeout_s=settings.pool_timeout_s,
        statement_timeout_ms=settings.statement_timeout_ms,
        application_name="streamsuite-query-api",
    )
    metrics = Metrics(registry)
    metrics.watch_pool(lambda: db.in_use, db.size)
    notifier = Notifier(db.listener_kwargs(), cfg.database.schema)
    readiness = Readiness(
        {
            "postgres": DatabaseProbe(cfg.database, application_name="streamsuite-query-api"),
            "tables": records_readable(db),
        },
        service=SERVICE,
        registry=registry,
    )
    context = Context(
        db=db,
        codec=CursorCodec(cfg.cursor_secret),
        notifier=notifier,
        metrics=metrics,
        heartbeat_s=settings.stream_heartbeat_s,
        streams=StreamSlots(settings.stream_max_clients, metrics.stream_clients.set),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        db.bind()  # the readiness check reads through the pool from its own thread
        notifier.start()
        try:
            yield
        finally:
            notifier.stop()
            db.close()

    app = FastAPI(
        title="streamsuite query API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # docs.install: Swagger UI's assets served here, not from a CDN
        redoc_url=None,  # ReDoc has no packaged assets: it would load from a CDN
    )
    app.state.ctx = context
    docs.install(app)
    errors.install(app)
    errors.document(app)
    app.include_router(router)
    fast_routes.install(app)

    @app.get("/healthz", response_model=models.Health, tags=["operations"])
    async def healthz() -> dict:
        """Alive: the process answers (never depends on PostgreSQL)."""
        return {"status": "alive"}

    @app.get(
        "/readyz",
        response_model=models.Readiness,
        tags=["operations"],
        responses={503: {"model": models.Readiness, "description": "Not ready."}},
    )
    async def readyz() -> JSONResponse:
        """Ready: PostgreSQL answers and the tables are readable; else 503 saying why."""
        ready, checks = await run_in_threadpool(readiness.evaluate)
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def prometheus_metrics(_: Request) -> Response:
        """Prometheus text format."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # Outermost last: metrics see every answer, headers go on refusals too, the limits
    # see who the caller is.
    limits = ClientLimits(cfg.limits)
    app.add_middleware(LimitMiddleware, limits=limits, exempt=OPEN_PATHS.__contains__,
                       streaming=STREAM_PATHS.__contains__, scans=is_scan)  # fmt: skip
    app.add_middleware(AuthMiddleware, authenticator=Authenticator(cfg.auth),
                       open_paths=lambda path: path in OPEN_PATHS or path.startswith("/docs"),
                       required_scope=lambda method, path: cfg.auth.read_scope)  # fmt: skip
    app.add_middleware(SecurityHeaders, headers_for=api_headers)
    if settings.cors_origins:
        # Outside authentication: a preflight carries no token, and a refusal (401, 429)
        # must carry the CORS headers for the calling page to read it.
        app.add_middleware(cors.CORSMiddleware, **cors.middleware_options(settings.cors_origins))
    app.add_middleware(RequestMetrics, metrics=metrics, access=cfg.log.access)
    document_auth(app, cfg.auth.enabled)
    return app
