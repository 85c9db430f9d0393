"""devstack.readiness_prober on loopback: it asks every service's /readyz again and again, as
the kubelet does, whatever the answer, and stops when told."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack.readiness_prober import ReadinessProber
from devstack.testing import wait_for


class _Service(ThreadingHTTPServer):
    """Counts the paths it is asked for; answers 503 (not ready) or 200."""

    def __init__(self, status: int):
        self.status = status
        self.asked: Counter[str] = Counter()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Service

    def do_GET(self) -> None:
        self.server.asked[self.path] += 1
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def services() -> Iterator[list[_Service]]:
    running = [_Service(200), _Service(503)]
    for service in running:
        threading.Thread(target=service.serve_forever, daemon=True).start()
    yield running
    for service in running:
        service.shutdown()
        service.server_close()


def test_probes_every_service_repeatedly_until_stopped(services):
    with ReadinessProber([s.address for s in services], period_s=0.01) as prober:
        wait_for(
            lambda: all(s.asked["/readyz"] >= 3 for s in services),
            what="three probes of each service, the one that is not ready included",
        )
    assert not prober.running  # stop() returns once its thread has ended: no probe follows
    assert all(set(s.asked) == {"/readyz"} for s in services)


def test_stopping_a_prober_never_started_is_harmless():
    ReadinessProber(["127.0.0.1:9"]).stop()
