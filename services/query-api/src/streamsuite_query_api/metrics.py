"""Prometheus metrics, and the ASGI middleware that counts, times and logs every request by
its route template (``/api/v1/records/{record_id}``, not the concrete path: bounded labels)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streamsuite_common.logs import get_logger

log = get_logger("streamsuite_query_api.access")
PREFIX = "streamsuite_query_api"


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
            "Time from request to response start, by route template, method and status",
            ["route", "method", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.pool = Gauge(
            f"{PREFIX}_db_pool_connections",
            "Database pool connections: in use now, and the pool's size",
            ["state"],
            registry=registry,
        )
        self.stream_clients = Gauge(
            f"{PREFIX}_stream_clients", "Open /api/v1/stream connections", registry=registry
        )

    def watch_pool(self, in_use: Callable[[], int], size: int) -> None:
        self.pool.labels("in_use").set_function(in_use)
        self.pool.labels("size").set(size)


class RequestMetrics:
    """Pure ASGI middleware (no body buffering, so Server-Sent Events stream through)."""

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
        status = str(state["status"])
        method = scope.get("method", "")
        latency = state["first_byte"] if state["first_byte"] is not None else duration
        self.metrics.requests.labels(template, method, status).inc()
        self.metrics.latency.labels(template, method, status).observe(latency)
        if template in ("/healthz", "/readyz", "/metrics"):
            return  # probes every few seconds would drown the request log
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
