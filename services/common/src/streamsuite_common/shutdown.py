"""Graceful shutdown: SIGTERM and SIGINT set an event that the service's loop watches."""

from __future__ import annotations

import contextlib
import os
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
        self._signal_pipe: int | None = None

    def on_request(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` when a stop is requested: a loop that sleeps on an event of its
        own (e.g. "new files arrived") wakes at once instead of at its next timeout."""
        self._listeners.append(listener)

    def install(self) -> Shutdown:
        """Handle SIGTERM and SIGINT from now on; call from the main thread."""
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        self._signal_pipe = write_end
        threading.Thread(
            target=self._relay, args=(read_end,), name="shutdown-signals", daemon=True
        ).start()
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        return self

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Python runs this in the main thread between two of its steps, maybe while that
        # thread holds a lock the request takes (an Event's condition inside wait() or
        # clear(), a log handler's): taking it here would deadlock. So the signal only goes
        # down a pipe, and the relay thread makes the request.
        assert self._signal_pipe is not None
        with contextlib.suppress(BlockingIOError):  # full: a stop is on its way already
            os.write(self._signal_pipe, bytes([signum]))

    def _relay(self, read_end: int) -> None:
        while signums := os.read(read_end, 64):
            # Only the first is logged: a later one may come while the process is exiting,
            # and a daemon thread writing then can abort the interpreter.
            if not self.requested:
                log.info("shutdown requested", signal=signal.Signals(signums[0]).name)
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
