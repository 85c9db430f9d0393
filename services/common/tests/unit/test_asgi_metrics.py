"""The shared request metrics: names per service, labels, and the middleware's counting."""

import asyncio

from prometheus_client import CollectorRegistry

from streamsuite_common.asgi_metrics import HttpServiceMetrics, RequestMetrics, metric_prefix


def make(service: str, by_status: bool) -> HttpServiceMetrics:
    return HttpServiceMetrics(CollectorRegistry(), service, latency_buckets=(0.1, 1),
                              latency_by_status=by_status, stream_help="streams")  # fmt: skip


def test_metric_names_carry_the_service_name() -> None:
    assert metric_prefix("query-api") == "streamsuite_query_api"
    metrics = make("web", by_status=False)
    metrics.watch_pool(lambda: 3, 8)
    registry = metrics.registry
    assert (
        registry.get_sample_value("streamsuite_web_db_pool_connections", {"state": "in_use"}) == 3
    )
    assert registry.get_sample_value("streamsuite_web_db_pool_connections", {"state": "size"}) == 8
    assert registry.get_sample_value("streamsuite_web_stream_clients") == 0


def serve_one(metrics: HttpServiceMetrics, path: str, status: int) -> None:
    class Route:
        pass

    route = Route()
    route.path = path  # type: ignore[attr-defined]

    async def app(scope, receive, send) -> None:
        scope["route"] = route
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message) -> None:
        pass

    scope = {"type": "http", "method": "GET", "path": path, "client": ("127.0.0.1", 1)}
    asyncio.run(RequestMetrics(app, metrics)(scope, None, send))


def test_requests_are_counted_by_route_template_with_or_without_status_on_latency() -> None:
    for service, by_status in (("query-api", True), ("web", False)):
        metrics = make(service, by_status)
        serve_one(metrics, "/items/{id}", 404)
        prefix = metric_prefix(service)
        labels = {"route": "/items/{id}", "method": "GET", "status": "404"}
        assert metrics.registry.get_sample_value(f"{prefix}_requests_total", labels) == 1
        if not by_status:
            del labels["status"]
        assert metrics.registry.get_sample_value(f"{prefix}_request_seconds_count", labels) == 1


def test_access_lines_by_setting_status_and_duration() -> None:
    from streamsuite_common.asgi_metrics import SLOW_S, should_log

    assert should_log("all", 200, 0.001)
    assert not should_log("errors", 200, 0.001)
    assert should_log("errors", 404, 0.001)
    assert should_log("errors", 503, 0.001)
    assert should_log("errors", 200, SLOW_S)
    assert not should_log("none", 503, 5.0)


def test_a_fast_answer_is_counted_but_not_logged_by_default() -> None:
    import io
    import logging

    from streamsuite_common.config import LogSettings
    from streamsuite_common.logs import configure_logging

    stream = io.StringIO()
    configure_logging("query-api", LogSettings(format="json"), stream)
    try:
        metrics = make("query-api", by_status=True)

        async def ok(scope, receive, send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async def missing(scope, receive, send) -> None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async def drop(message) -> None:
            pass

        scope = {"type": "http", "method": "GET", "path": "/x", "client": ("127.0.0.1", 1)}
        access = LogSettings().access
        asyncio.run(RequestMetrics(ok, metrics, access=access)(dict(scope), None, drop))
        asyncio.run(RequestMetrics(missing, metrics, access=access)(dict(scope), None, drop))
        lines = [line for line in stream.getvalue().splitlines() if '"request"' in line]
        assert len(lines) == 1, stream.getvalue()
        assert '"status": 404' in lines[0]
        total = metrics.registry.get_sample_value(
            "streamsuite_query_api_requests_total",
            {"route": "unmatched", "method": "GET", "status": "200"},
        )
        assert total == 1
    finally:
        logging.getLogger().handlers = []
