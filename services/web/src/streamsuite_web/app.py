"""The FastAPI application factory: pages, live feed, health endpoints, metrics middleware,
the read-only database pool, the LISTEN notifier and (when Submit is on) the Kafka producer,
wired from a config. ``create_app`` does no I/O: the pool connects on first use, the listener
starts with the app's lifespan and the producer on the first submission."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from streamsuite_common.asgi_metrics import RequestMetrics
from streamsuite_common.db import DatabaseProbe
from streamsuite_common.health import Readiness
from streamsuite_common.kafka import KafkaProbe
from streamsuite_common.logs import get_logger
from streamsuite_common.notify import Notifier
from streamsuite_common.pool import DatabaseUnavailable, ReadOnlyPool, records_readable
from streamsuite_common.query import CursorCodec
from streamsuite_common.stream_slots import StreamSlots
from streamsuite_web import __version__, access, views
from streamsuite_web.backlog import BacklogReader
from streamsuite_web.config import SERVICE, WebConfig
from streamsuite_web.lag import LagReader
from streamsuite_web.metrics import QUIET, Metrics
from streamsuite_web.submit import Submitter

log = get_logger(__name__)
HERE = Path(__file__).parent
APPLICATION = "streamsuite-web"  # PostgreSQL application_name
SECURITY_HEADERS = {
    # No inline script or style anywhere: even a value that escaped escaping could not run.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class SecurityHeaders:
    """Pure ASGI middleware adding ``SECURITY_HEADERS`` (streams pass through unbuffered)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)


def make_environment() -> jinja2.Environment:
    """Templates with autoescape on for every file, whatever its name."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["page_url"] = views.page_url
    return env


@dataclasses.dataclass
class Context:
    """What the routes share, kept on ``app.state.ctx``."""

    cfg: WebConfig
    db: ReadOnlyPool
    codec: CursorCodec
    notifier: Notifier
    metrics: Metrics
    readiness: Readiness
    required: tuple[str, ...]  # the checks /readyz needs to pass
    env: jinja2.Environment
    submitter: Submitter | None
    streams: StreamSlots
    lag: LagReader | None = None  # consumer lag for Status, when Kafka is configured
    backlog: BacklogReader | None = None  # the publishers' inbox backlog, likewise

    def render(self, request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        template = self.env.get_template(name)
        html = template.render(
            request_path=request.url.path,
            submit_enabled=self.submitter is not None
            and access.may(request, self.cfg.auth.submit_scope),
            version=__version__,
            **values,
        )
        return HTMLResponse(html, status_code=status)

    def row_html(self, record_json: str) -> str:
        record, payload_text = views.split_record(record_json)
        macro = self.env.get_template("macros.html").module.record_row  # type: ignore[attr-defined]
        return str(macro(views.record_row(record, payload_text))).strip()


def create_app(cfg: WebConfig, *, registry: CollectorRegistry | None = None) -> FastAPI:
    from streamsuite_web.pages import router  # the routes need Context defined first

    registry = registry or CollectorRegistry()
    settings = cfg.web
    db = ReadOnlyPool(
        cfg.database,
        pool_size=settings.pool_size,
        pool_timeout_s=settings.pool_timeout_s,
        statement_timeout_ms=settings.statement_timeout_ms,
        application_name=APPLICATION,
    )
    metrics = Metrics(registry)
    metrics.watch_pool(lambda: db.in_use, db.size)
    checks: dict[str, Callable[[], None]] = {
        "postgres": DatabaseProbe(cfg.database, application_name=APPLICATION),
        "tables": records_readable(db),
    }
    # Kafka is probed for the status page and Submit, never for readiness: the UI reads
    # PostgreSQL only, and a Kafka outage should not take every page out of the Service.
    required = ["postgres", "tables"]
    if cfg.kafka is not None:
        checks["kafka"] = KafkaProbe(cfg.kafka)
    readiness = Readiness(checks, service=SERVICE, registry=registry)
    submitter = (
        Submitter(cfg.kafka, settings.effective_transactional_id)
        if cfg.submit_enabled and cfg.kafka is not None
        else None
    )
    notifier = Notifier(db.listener_kwargs(), cfg.database.schema, thread_name="web-listen")
    context = Context(
        cfg=cfg,
        db=db,
        codec=CursorCodec(cfg.cursor_secret),
        notifier=notifier,
        metrics=metrics,
        readiness=readiness,
        required=tuple(required),
        env=make_environment(),
        submitter=submitter,
        streams=StreamSlots(settings.stream_max_clients, metrics.stream_clients.set),
        lag=LagReader(cfg.kafka) if cfg.kafka is not None else None,
        backlog=BacklogReader(cfg.kafka) if cfg.kafka is not None else None,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        notifier.start()
        try:
            yield
        finally:
            notifier.stop()
            if submitter is not None:
                await run_in_threadpool(submitter.close)
            if context.lag is not None:
                await run_in_threadpool(context.lag.close)
            if context.backlog is not None:
                await run_in_threadpool(context.backlog.close)
            db.close()

    app = FastAPI(
        title="streamsuite web",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.ctx = context
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)

    @app.get("/healthz")
    async def healthz() -> dict:
        """Alive: the process answers (never depends on PostgreSQL or Kafka)."""
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready: PostgreSQL answers and the migrated tables are readable; else 503 naming what
        fails. Kafka (Submit) is reported under ``optional`` and never makes it 503."""
        _, results = await run_in_threadpool(readiness.evaluate)
        checks = {name: results[name] for name in context.required}
        ready = all(result == "ok" for result in checks.values())
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
        if submitter is not None:
            body["optional"] = {"kafka": results["kafka"]}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(DatabaseUnavailable)
    async def database_unavailable(request: Request, exc: DatabaseUnavailable) -> Response:
        log.warning("database unavailable", path=request.url.path, error=str(exc))
        response = context.render(
            request,
            "error.html",
            503,
            title="PostgreSQL unavailable",
            message=f"The database cannot answer right now: {exc}. Try again in a few seconds.",
        )
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Too large"}
        return context.render(
            request,
            "error.html",
            exc.status_code,
            title=titles.get(exc.status_code, f"Error {exc.status_code}"),
            message=str(exc.detail),
        )

    access.install(app, context)  # sign-in routes, authentication, per-client limits
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestMetrics, metrics=metrics, quiet=QUIET, access=cfg.log.access)
    return app
