"""Retries with exponential backoff, bounded by a deadline and interruptible by shutdown."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from streamsuite_common.logs import get_logger

T = TypeVar("T")
log = get_logger(__name__)


class GaveUp(Exception):
    """The deadline passed (or shutdown began) before the call succeeded."""

    def __init__(self, what: str, waited_s: float, last_error: BaseException | None):
        reason = f": {last_error}" if last_error is not None else ""
        super().__init__(f"{what}: gave up after {waited_s:.0f}s{reason}")
        self.what = what
        self.last_error = last_error


def backoff_delays(base: float = 0.25, factor: float = 2.0, cap: float = 10.0) -> Iterator[float]:
    """0.25, 0.5, 1, 2, … seconds, never more than ``cap``; endless."""
    delay = base
    while True:
        yield min(delay, cap)
        delay *= factor


def retry_call(
    fn: Callable[[], T],
    *,
    what: str,
    timeout_s: float,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    retryable: Callable[[BaseException], bool] | None = None,
    stop: threading.Event | None = None,
    cap_s: float = 10.0,
) -> T:
    """Call ``fn`` until it returns, waiting longer after each failure, for ``timeout_s`` at most.

    Errors outside ``retry_on``, or that ``retryable`` rejects, propagate at once. Raises GaveUp
    with the last error once the next wait would pass the deadline, or as soon as ``stop`` is
    set, so a service that is asked to stop does not sit out a retry loop.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    stop = stop or threading.Event()
    last: BaseException | None = None
    for attempt, delay in enumerate(backoff_delays(cap=cap_s), start=1):
        if stop.is_set():
            raise GaveUp(what, time.monotonic() - started, last)
        try:
            return fn()
        except retry_on as exc:
            if retryable is not None and not retryable(exc):
                raise
            last = exc
        # Full jitter keeps replicas that failed together from retrying together.
        wait = delay * (0.5 + random.random() / 2)  # noqa: S311 - not for security
        if time.monotonic() + wait > deadline:
            raise GaveUp(what, time.monotonic() - started, last)
        log.warning("retrying", what=what, attempt=attempt, error=str(last), wait_s=round(wait, 2))
        stop.wait(wait)
    raise AssertionError("unreachable")  # pragma: no cover - backoff_delays is endless
