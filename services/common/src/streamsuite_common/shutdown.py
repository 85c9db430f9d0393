"""Graceful shutdown: SIGTERM and SIGINT set an event that the service's loop watches."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

from streamsuite_common.logs import get_logger

log = get_logger(__name__)


class Shutdown:
    """A stop flag set by SIGTERM/SIGINT (or by ``request``); loops poll or wait on it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._listeners: list[Callable[[], None]] = []

    def on_request(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` when a stop is requested: a loop that sleeps on an event of its
        own (e.g. "new files arrived") wakes at once instead of at its next timeout."""
        self._listeners.append(listener)

    def install(self) -> Shutdown:
        """Handle SIGTERM and SIGINT from now on; call from the main thread."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        return self

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("shutdown requested", signal=signal.Signals(signum).name)
        self.request()

    def request(self) -> None:
        self.event.set()
        for listener in self._listeners:
            listener()

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep up to ``timeout`` seconds, waking early on shutdown; True when stopping."""
        return self.event.wait(timeout)
