"""What the kubelet's readiness probe does on Kubernetes, for the local stack: GET each service's
/readyz every few seconds.

A service sets ``streamsuite_<service>_dependency_up`` only when /readyz runs its checks, so
without a prober the local Prometheus would keep the answer of the last probe (the one at
start-up) and StreamsuiteDependencyDown or StreamsuiteServiceNotReady could never trip locally.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from devstack.testing import http_status

PERIOD_S = 5.0
"""The chart's readinessProbe.periodSeconds."""


class ReadinessProber:
    """Probes ``http://<address>/readyz`` of every address from a daemon thread until ``stop``."""

    def __init__(self, addresses: Iterable[str], period_s: float = PERIOD_S):
        self._urls = [f"http://{address}/readyz" for address in addresses]
        self._period_s = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="readiness-prober", daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> ReadinessProber:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=30)

    def __enter__(self) -> ReadinessProber:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            for url in self._urls:
                http_status(url, timeout_s=5)  # the answer is the service's gauge, not ours
            self._stop.wait(self._period_s)
