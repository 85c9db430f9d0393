"""Serving an ASGI app from several uvicorn worker processes on one port, for the services that
use more than one core per pod. uvicorn's own supervisor binds the socket, starts the workers
(spawned: each builds its own app) and starts a worker again when one dies; on SIGTERM it passes
the signal to every worker, which ends its open event streams, lets in-flight requests finish
and exits; then it exits 0. Metrics are one view of the pod (``metrics_workers``).

Imports uvicorn: only the services that depend on it import this module."""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from streamsuite_common import metrics_workers
from streamsuite_common.config import HttpSettings
from streamsuite_common.http_service import GRACE_S
from streamsuite_common.logs import get_logger

log = get_logger(__name__)

# The supervisor pings each worker and kills one that has not answered within this: a spawned
# worker answers only once it has imported the app, which took over uvicorn's 5 s default on a
# busy node (every worker was killed while starting, again and again). A worker that exits is
# seen at once whatever this is; a SIGTERM waits for a pending ping, so it stays well under the
# pod's termination grace (30 s) minus the shutdown's (GRACE_S).
PING_TIMEOUT_S = 15

Build = Callable[[], tuple[Any, Callable[[], None]]]
"""Builds a worker's app in the worker: (the ASGI app, what to call first on the stop signal).
Picklable (a module-level function, or a functools.partial of one with picklable arguments):
it travels to each spawned worker."""


class WorkerApp:
    """The app factory each worker calls once, inside uvicorn's server (its signal handlers
    are installed by then): chains ``on_exit`` before uvicorn's handler of SIGTERM/SIGINT."""

    def __init__(self, build: Build):
        self.build = build

    def __call__(self) -> Any:
        app, on_exit = self.build()
        _stop_first(on_exit)
        return app


def _stop_first(on_exit: Callable[[], None]) -> None:
    server_handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handle(sig: int, frame: FrameType | None) -> None:
        on_exit()  # open event streams would hold their connections for the whole grace
        server = getattr(server_handlers[sig], "__self__", None)
        if isinstance(server, uvicorn.Server):
            # Stop as uvicorn's handler does, without its re-raise of the signal after the
            # shutdown: the default action there would end the worker by the signal, not 0.
            if server.should_exit and sig == signal.SIGINT:
                server.force_exit = True  # a second Ctrl-C
            server.should_exit = True
        elif callable(server_handlers[sig]):
            server_handlers[sig](sig, frame)

    for sig in server_handlers:
        signal.signal(sig, handle)


class Supervisor(Multiprocess):
    """uvicorn's supervisor, which also forgets the live gauges of a worker that ended and
    remembers whether it was asked to stop (else it stopped because workers could not start)."""

    def __init__(self, config: uvicorn.Config, sockets: list, metrics_dir: str):
        super().__init__(config, sockets)
        self.metrics_dir = metrics_dir
        self.stop_requested = False

    def keep_subprocess_alive(self) -> None:
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                log.warning("worker ended; started another", pid=pid)
                metrics_workers.forget_worker(pid, self.metrics_dir)

    def handle_term(self) -> None:
        self.stop_requested = True
        super().handle_term()

    def handle_int(self) -> None:
        self.stop_requested = True
        super().handle_int()


def serve_workers(build: Build, http: HttpSettings, workers: int) -> bool:
    """Serve ``workers`` processes, each with the app ``build`` makes, until SIGTERM/SIGINT;
    True for a requested stop, False when the workers could not start."""
    metrics_dir, cleanup = metrics_workers.prepare()
    config = uvicorn.Config(
        WorkerApp(build),
        factory=True,
        host=http.host,
        port=http.port,
        workers=workers,
        timeout_worker_healthcheck=PING_TIMEOUT_S,
        log_config=None,  # keep our JSON logging for uvicorn's own lines
        access_log=False,  # the metrics middleware logs each request
        timeout_graceful_shutdown=GRACE_S,
        proxy_headers=False,
    )
    try:
        supervisor = Supervisor(config, [config.bind_socket()], metrics_dir)
        log.info("workers starting", workers=workers, metrics_dir=metrics_dir)
        supervisor.run()
        for process in supervisor.processes:
            if process.pid is not None:
                metrics_workers.forget_worker(process.pid, metrics_dir)
        return supervisor.stop_requested
    finally:
        cleanup()
