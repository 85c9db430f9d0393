"""Prometheus metrics of the web UI (``streamsuite_web_...``): the shared request, pool and
stream metrics plus the Submit page's; the request middleware is the shared
``streamsuite_common.asgi_metrics.RequestMetrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from streamsuite_common.asgi_metrics import QUIET_ROUTES, HttpServiceMetrics
from streamsuite_web.config import SERVICE

# Static files are fetched with every page: counted, not logged.
QUIET = (*QUIET_ROUTES, "/static")


class Metrics(HttpServiceMetrics):
    def __init__(self, registry: CollectorRegistry):
        super().__init__(
            registry,
            SERVICE,
            latency_buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            latency_by_status=False,
            stream_help="Open live-feed (/events) connections",
        )
        self.submissions = Counter(
            f"{self.prefix}_submissions_total",
            "Submit page posts by outcome: published, partial, refused, invalid, failed",
            ["outcome"],
            registry=registry,
        )
        self.submitted_documents = Counter(
            f"{self.prefix}_submitted_documents_total",
            "Documents published from the Submit page",
            registry=registry,
        )
