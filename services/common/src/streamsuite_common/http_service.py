"""Serving an ASGI app under uvicorn from a service's ``main``, stopping cleanly on SIGTERM.

uvicorn is imported inside ``serve`` only: the services that call it depend on it, this
shared library does not."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from streamsuite_common.config import HttpSettings

GRACE_S = 10


def serve(app: Any, http: HttpSettings, *, on_exit: Callable[[], None]) -> None:
    """Serve ``app`` until SIGTERM/SIGINT; ``on_exit`` runs first on the stop signal (to end
    open event streams, which would otherwise keep their connections, and the shutdown,
    waiting for the whole grace period)."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            on_exit()
            super().handle_exit(sig, frame)

    server = Server(
        uvicorn.Config(
            app,
            host=http.host,
            port=http.port,
            log_config=None,  # keep our JSON logging for uvicorn's own lines
            access_log=False,  # the metrics middleware logs each request
            timeout_graceful_shutdown=GRACE_S,
            proxy_headers=False,
        )
    )
    # uvicorn handles SIGTERM/SIGINT while it serves, then raises the signal again for the
    # handler that was there before: this one, so a requested stop ends with exit code 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _served)
    server.run()


def _served(_signum: int, _frame: Any) -> None:
    """uvicorn has stopped serving by the time this runs, and logged why."""
