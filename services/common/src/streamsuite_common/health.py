"""The small HTTP server that publisher and ingestor run beside their loop:

- ``/healthz``: the process is alive (never depends on Kafka or PostgreSQL, so an outage does
  not get every pod restarted);
- ``/readyz``: every dependency check passes right now; 503 naming the failing ones otherwise;
- ``/metrics``: Prometheus text.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    generate_latest,
)

from streamsuite_common.logs import get_logger

log = get_logger(__name__)

Check = Callable[[], None]
"""A readiness check returns when the dependency is usable and raises (with why) when not."""


class Readiness:
    """Runs the named checks, at most once per ``cache_s`` so probes cannot hammer a dependency."""

    def __init__(
        self,
        checks: Mapping[str, Check],
        *,
        service: str,
        registry: CollectorRegistry = REGISTRY,
        cache_s: float = 1.0,
    ):
        self._checks = dict(checks)
        self._cache_s = cache_s
        self._lock = threading.Lock()
        self._last: tuple[float, bool, dict[str, str]] | None = None
        self._up = Gauge(
            f"streamsuite_{service.replace('-', '_')}_dependency_up",
            "1 when the dependency answered the last readiness check, else 0",
            ["dependency"],
            registry=registry,
        )

    def evaluate(self) -> tuple[bool, dict[str, str]]:
        """(ready, {check: "ok" or the reason}) for every check."""
        with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last[0] < self._cache_s:
                return self._last[1], self._last[2]
            results: dict[str, str] = {}
            for name, check in self._checks.items():
                try:
                    check()
                    results[name] = "ok"
                except Exception as exc:
                    results[name] = str(exc) or exc.__class__.__name__
                self._up.labels(name).set(1 if results[name] == "ok" else 0)
            ready = all(result == "ok" for result in results.values())
            self._last = (now, ready, results)
            return ready, results


class _Handler(BaseHTTPRequestHandler):
    server: HealthServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            alive = self.server.alive()
            self._send_json(200 if alive else 503, {"status": "alive" if alive else "stuck"})
        elif path == "/readyz":
            ready, checks = self.server.readiness.evaluate()
            body = {"status": "ready" if ready else "not ready", "checks": checks}
            self._send_json(200 if ready else 503, body)
        elif path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(self.server.registry))
        else:
            self._send_json(
                404, {"detail": f"no such path {path}; try /healthz, /readyz, /metrics"}
            )

    def _send_json(self, status: int, body: Any) -> None:
        self._send(status, "application/json", json.dumps(body).encode())

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # probes every few seconds would drown the service's own log lines


class HealthServer(ThreadingHTTPServer):
    """Serves the three endpoints from a daemon thread; ``stop`` closes the port."""

    daemon_threads = True

    def __init__(
        self,
        host: str,
        port: int,
        readiness: Readiness,
        *,
        registry: CollectorRegistry = REGISTRY,
        alive: Callable[[], bool] = lambda: True,
    ):
        super().__init__((host, port), _Handler)
        self.readiness = readiness
        self.registry = registry
        self.alive = alive
        self._thread = threading.Thread(target=self.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health server listening", host=self.server_address[0], port=self.port)
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
