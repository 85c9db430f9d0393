"""Prometheus metrics of the query API (``streamsuite_query_api_...``); the request middleware
is the shared ``streamsuite_common.asgi_metrics.RequestMetrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from streamsuite_common.asgi_metrics import HttpServiceMetrics
from streamsuite_query_api.config import SERVICE

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics(HttpServiceMetrics):
    def __init__(self, registry: CollectorRegistry):
        super().__init__(
            registry,
            SERVICE,
            latency_buckets=(
                0.001,
                0.0025,
                0.005,
                0.01,
                0.025,
                0.05,
                0.1,
                0.25,
                0.5,
                1,
                2.5,
                5,
                10,
            ),
            latency_by_status=True,
            stream_help="Open /api/v1/stream connections",
        )
