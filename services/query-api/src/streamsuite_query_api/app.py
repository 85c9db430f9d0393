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
from streamsuite_common.db import DatabaseProbe
from streamsuite_common.health import Readiness
from streamsuite_common.notify import Notifier
from streamsuite_common.pool import ReadOnlyPool, records_readable
from streamsuite_common.query import CursorCodec
from streamsuite_common.stream_slots import StreamSlots
from streamsuite_query_api import __version__, errors, models
from streamsuite_query_api.api import Context, router
from streamsuite_query_api.config import SERVICE, QueryApiConfig
from streamsuite_query_api.metrics import Metrics

DESCRIPTION = """Read-only access to the documents streamsuite stored in PostgreSQL.

Every filter is a bound parameter: keys, JSON fragments and JSON paths never become SQL.
Bad input is answered `400` with `{"detail": "<parameter>: <problem>"}` (unknown parameters
too), a database outage `503` with `Retry-After`.
"""


def create_app(cfg: QueryApiConfig, *, registry: CollectorRegistry | None = None) -> FastAPI:
    registry = registry or CollectorRegistry()
    settings = cfg.query_api
    db = ReadOnlyPool(
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
    )
    app.state.ctx = context
    errors.install(app)
    app.include_router(router)

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

    app.add_middleware(RequestMetrics, metrics=metrics)
    return app
