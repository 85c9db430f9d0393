"""The request metrics the HTTP services share (``streamsuite_<service>_...``), and the pure
ASGI middleware that counts, times and logs every request by its route template
(``/records/{record_id}``, not the concrete path: bounded labels). Pure ASGI, no framework
import: no body buffering, so Server-Sent Events stream through."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streamsuite_common.logs import get_logger
from streamsuite_common.metrics_workers import sample_into

# Probes every few seconds would drown the request log.
QUIET_ROUTES: tuple[str, ...] = ("/healthz", "/readyz", "/metrics")


def metric_prefix(service: str) -> str:
    """``streamsuite_query_api`` for the service ``query-api``."""
    return "streamsuite_" + service.replace("-", "_")


class HttpServiceMetrics:
    """Requests, latency, the database pool and the open event streams of one service."""

    def __init__(
        self,
        registry: CollectorRegistry,
        service: str,
        *,
        latency_buckets: Sequence[float],
        latency_by_status: bool,
        stream_help: str,
    ):
        self.registry = registry
        self.prefix = metric_prefix(service)
        self.latency_by_status = latency_by_status
        self.requests = Counter(
            f"{self.prefix}_requests_total",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        by = (
            "route template, method and status"
            if latency_by_status
            else "route template and method"
        )
        self.latency = Histogram(
            f"{self.prefix}_request_seconds",
            f"Time from request to response start, by {by}",
            ["route", "method", "status"] if latency_by_status else ["route", "method"],
            buckets=tuple(latency_buckets),
            registry=registry,
        )
        self.pool = Gauge(
            f"{self.prefix}_db_pool_connections",
            "Database pool connections: in use now, and the pool's size",
            ["state"],
            registry=registry,
            multiprocess_mode="livesum",  # under workers: the pod's connections
        )
        self.stream_clients = Gauge(f"{self.prefix}_stream_clients", stream_help,
                                    registry=registry, multiprocess_mode="livesum")  # fmt: skip

    def watch_pool(self, in_use: Callable[[], int], size: int) -> None:
        sample_into(self.pool.labels("in_use"), in_use)
        self.pool.labels("size").set(size)


# With LOG.ACCESS=errors, answers slower than this are logged too.
SLOW_S = 1.0


def should_log(access: str, status: int, duration_s: float) -> bool:
    """Whether a request gets an access log line (``LOG.ACCESS``): building and writing one
    costs about a tenth of a fast answer's time, so by default only the ones worth reading."""
    if access == "all":
        return True
    return access == "errors" and (status >= 400 or duration_s >= SLOW_S)


class RequestMetrics:
    """ASGI middleware: ``app.add_middleware(RequestMetrics, metrics=..., quiet=...,
    access=...)``.

    Every request is counted; ``access`` (``LOG.ACCESS``) says which are logged, and those
    whose route template starts with one of ``quiet`` never are."""

    def __init__(
        self,
        app: Any,
        metrics: HttpServiceMetrics,
        quiet: tuple[str, ...] = QUIET_ROUTES,
        access: str = "all",
    ):
        self.app = app
        self.metrics = metrics
        self.quiet = quiet
        self.access = access
        self.log = get_logger(f"{metrics.prefix}.access")

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
        labels = (
            (template, method, status) if self.metrics.latency_by_status else (template, method)
        )
        self.metrics.latency.labels(*labels).observe(latency)
        if template.startswith(self.quiet) or not should_log(
            self.access, state["status"], duration
        ):
            return
        client = scope.get("client")
        log = self.log.warning if state["status"] >= 500 else self.log.info
        log(
            "request",
            method=method,
            route=template,
            path=scope.get("path"),
            status=state["status"],
            duration_ms=round(duration * 1000, 2),
            client=client[0] if client else None,
        )
