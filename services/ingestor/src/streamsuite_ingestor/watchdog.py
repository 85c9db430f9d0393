"""Is the consumer still fetching? Pure bookkeeping with an injectable clock.

Progress is a poll that returned messages, or a fresh answer from the broker that there is
nothing to fetch (every assigned partition caught up, or no partition assigned). A consumer
without progress for ``stall_after_s`` is stalled: readiness says so and the service rebuilds
it, at most once per ``stall_after_s`` so a broker outage is not a rebuild loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class FetchWatchdog:
    def __init__(
        self,
        stall_after_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ):
        self.stall_after_s = stall_after_s
        self._clock, self._wall = clock, wall
        self._progress_at = clock()
        self._rebuilt_at = clock()
        self.progress_wall_time = wall()

    def progress(self) -> None:
        self._progress_at = self._clock()
        self.progress_wall_time = self._wall()

    def silent_for(self) -> float:
        return self._clock() - self._progress_at

    def stalled(self) -> bool:
        return self.silent_for() >= self.stall_after_s

    def rebuild_due(self) -> bool:
        return self.stalled() and self._clock() - self._rebuilt_at >= self.stall_after_s

    def rebuilt(self) -> None:
        self._rebuilt_at = self._clock()
