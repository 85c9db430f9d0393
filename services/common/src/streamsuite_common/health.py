"""The small HTTP server that publisher and ingestor run beside their loop:

- ``/healthz``: the process is alive (never depends on Kafka or PostgreSQL, so an outage does
  not get every pod restarted);
- ``/readyz``: every dependency check passes right now; 503 naming the failing ones otherwise;
- ``/metrics``: Prometheus text.
"""

from __future__ import annotations

import json
import sys
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


DEFAULT_TIMEOUT_S = 2.0
"""How long ``/readyz`` waits for its checks: well under a probe's timeout (the chart's is 5 s),
so a dependency that hangs gives a prompt 503 instead of a probe failure on the caller's side."""


class _Run:
    """One run of one check in a daemon thread, so a hung dependency cannot hold the answer."""

    def __init__(self, name: str, check: Check):
        self.done = threading.Event()
        self.error: str | None = None
        threading.Thread(
            target=self._run, args=(check,), name=f"readiness-{name}", daemon=True
        ).start()

    def _run(self, check: Check) -> None:
        try:
            check()
        except Exception as exc:
            self.error = str(exc) or exc.__class__.__name__
        finally:
            self.done.set()


class Readiness:
    """Runs the named checks, at most once per ``cache_s`` so probes cannot hammer a dependency.

    The checks run side by side and the answer comes within ``timeout_s``: a check still
    running then counts as failing ("no answer within ..."). It is not started again while it
    runs, so a hung dependency costs one thread, not one per probe.
    """

    def __init__(
        self,
        checks: Mapping[str, Check],
        *,
        service: str,
        registry: CollectorRegistry = REGISTRY,
        cache_s: float = 1.0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ):
        self._checks = dict(checks)
        self._cache_s = cache_s
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._last: tuple[float, bool, dict[str, str]] | None = None
        self._runs: dict[str, _Run] = {}
        self._up = Gauge(
            f"streamsuite_{service.replace('-', '_')}_dependency_up",
            "1 when the dependency answered the last readiness check, else 0",
            ["dependency"],
            registry=registry,
            # Under workers: the answer of the last check, whichever worker ran it.
            multiprocess_mode="livemostrecent",
        )

    def evaluate(self) -> tuple[bool, dict[str, str]]:
        """(ready, {check: "ok" or the reason}) for every check."""
        with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last[0] < self._cache_s:
                return self._last[1], self._last[2]
            for name, check in self._checks.items():
                run = self._runs.get(name)
                if run is None or run.done.is_set():
                    self._runs[name] = _Run(name, check)
            deadline = now + self._timeout_s
            results: dict[str, str] = {}
            for name in self._checks:
                run = self._runs[name]
                if not run.done.wait(max(0.0, deadline - time.monotonic())):
                    results[name] = f"no answer within {self._timeout_s:g} s"
                else:
                    results[name] = run.error or "ok"
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

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line instead of socketserver's traceback on stderr; a client that hung up
        before its answer (a probe that gave up) is routine."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log.info("health client went away", error=exc.__class__.__name__)
        else:
            log.error("health request failed", error=f"{exc.__class__.__name__}: {exc}")

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
