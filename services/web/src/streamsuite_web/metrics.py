"""Prometheus metrics of the web UI, and the ASGI middleware that counts, times and logs each
request by its route template (``/records/{record_id:int}``, not the concrete path)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streamsuite_common.logs import get_logger

log = get_logger("streamsuite_web.access")
PREFIX = "streamsuite_web"
_QUIET = ("/healthz", "/readyz", "/metrics", "/static")


class Metrics:
    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self.requests = Counter(
            f"{PREFIX}_requests_total",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_request_seconds",
            "Time from request to response start, by route template and method",
            ["route", "method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.pool = Gauge(
            f"{PREFIX}_db_pool_connections",
            "Database pool connections: in use now, and the pool's size",
            ["state"],
            registry=registry,
        )
        self.stream_clients = Gauge(
            f"{PREFIX}_stream_clients", "Open live-feed (/events) connections", registry=registry
        )
        self.submissions = Counter(
            f"{PREFIX}_submissions_total",
            "Submit page posts by outcome: published, partial, refused, invalid, failed",
            ["outcome"],
            registry=registry,
        )
        self.submitted_documents = Counter(
            f"{PREFIX}_submitted_documents_total",
            "Documents published from the Submit page",
            registry=registry,
        )

    def watch_pool(self, in_use: Callable[[], int], size: int) -> None:
        self.pool.labels("in_use").set_function(in_use)
        self.pool.labels("size").set(size)


class RequestMetrics:
    """Pure ASGI middleware (no body buffering, so the live feed streams through)."""

    def __init__(self, app: Any, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "first_byte": None}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["first_byte"] = time.perf_counter() - started
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._record(scope, state, time.perf_counter() - started)

    def _record(self, scope: dict, state: dict[str, Any], duration: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        latency = state["first_byte"] if state["first_byte"] is not None else duration
        self.metrics.requests.labels(template, method, str(state["status"])).inc()
        self.metrics.latency.labels(template, method).observe(latency)
        if template.startswith(_QUIET):
            return
        client = scope.get("client")
        log.info(
            "request",
            method=method,
            route=template,
            path=scope.get("path"),
            status=state["status"],
            duration_ms=round(duration * 1000, 2),
            client=client[0] if client else None,
        )
