"""When a waiting file is complete: from how it arrived (inotify) or, failing that, from its size
and mtime holding still.

- Renamed into the inbox (moved-to): complete at once, the writer finished elsewhere.
- Written in place: not before its writer closed it (close-write), then the stability window.
- Anything the events did not describe (no inotify on the volume, a file there before the
  publisher started, a lost event queue): the stability window alone, as always.
"""

from __future__ import annotations

import dataclasses

Signature = tuple[int, int]  # (size, mtime_ns)

# What the watcher tells about a path (see watcher.py).
MOVED_IN = "moved-in"  # renamed into the inbox: complete
WRITING = "writing"  # created or modified in place: wait for its close
CLOSED = "closed"  # its writer closed it: the stability window runs from now
APPEARED = "appeared"  # there, but nothing says how (a link, a FIFO): the stability window
GONE = "gone"  # moved away or deleted
RESET = "reset"  # events were lost (queue overflow): trust none of what they said

# A file held open for writing whose size and mtime stay the same this long is taken anyway:
# a close that was never seen (a file linked in complete with O_TMPFILE) must not hold it for
# ever. Far above any writer's pause, far below the inbox-stuck alert.
WRITING_IDLE_S = 300.0

_UNKNOWN = "unknown"


@dataclasses.dataclass
class _Watch:
    signature: Signature | None  # None: known from an event, not yet seen by a scan
    since: float  # when the clock of the stability window started
    state: str = _UNKNOWN


class StabilityTracker:
    """A file is ready once it is complete: at once when it was renamed in, else once its size
    and mtime have not changed for ``stable_s`` seconds (and its writer, when events say there
    is one, closed it)."""

    def __init__(self, stable_s: float, writing_idle_s: float = WRITING_IDLE_S):
        self.stable_s = stable_s
        self.writing_idle_s = max(writing_idle_s, stable_s)
        self._seen: dict[str, _Watch] = {}
        self._released: set[str] = set()

    def note(self, path: str, event: str, now: float) -> None:
        """Record what an inotify event says about ``path`` (``RESET``: about every path)."""
        if event == RESET:
            for watch in self._seen.values():
                watch.state, watch.since = _UNKNOWN, now
            return
        if event == GONE:
            self._seen.pop(path, None)
            return
        if event == MOVED_IN and path in self._released:
            self._released.discard(path)  # our own hand-back: it changed, nothing says it's done
            return
        watch = self._seen.setdefault(path, _Watch(None, now))
        if event == WRITING:
            watch.state = WRITING
        else:
            # A new file (or a new last write) under this name: the next scan's size and mtime
            # are its own, not a change.
            watch.signature, watch.since = None, now
            watch.state = {MOVED_IN: MOVED_IN, CLOSED: CLOSED}.get(event, _UNKNOWN)

    def released(self, path: str, now: float) -> None:
        """A file we claimed changed under us and was put back: from now on only the
        stability window says when it is complete (not the rename that put it back)."""
        self._seen[path] = _Watch(None, now)
        self._released.add(path)

    def update(self, observed: dict[str, Signature], now: float) -> list[str]:
        """Record a scan (path → (size, mtime_ns)); return the ready paths, oldest first."""
        for path in list(self._seen):
            if path not in observed:
                del self._seen[path]
        ready = []
        for path, signature in observed.items():
            watch = self._seen.get(path)
            if watch is None:
                self._seen[path] = _Watch(signature, now)
                continue
            if watch.signature is None:
                watch.signature = signature  # first seen after its event: the event's clock
            elif watch.signature != signature:
                # Changed with no event saying how (or before its event): a renamed-in file
                # written to again is not complete any more.
                watch.signature, watch.since = signature, now
                if watch.state == MOVED_IN:
                    watch.state = _UNKNOWN
                continue
            if self._is_ready(watch, now):
                ready.append((watch.since, path))
        return [path for _, path in sorted(ready)]

    def _is_ready(self, watch: _Watch, now: float) -> bool:
        if watch.state == MOVED_IN:
            return True
        if watch.state == WRITING:
            return now - watch.since >= self.writing_idle_s
        return now - watch.since >= self.stable_s

    def next_due(self, now: float) -> float | None:
        """Seconds until the next waiting file could be ready, or None when none waits."""
        due = [self._due(watch) for watch in self._seen.values()]
        return max(0.0, min(due) - now) if due else None

    def _due(self, watch: _Watch) -> float:
        if watch.state == MOVED_IN:
            return watch.since  # due now: the next scan takes it
        if watch.state == WRITING:
            return watch.since + self.writing_idle_s  # its close wakes us sooner
        return watch.since + self.stable_s

    def arrived(self, path: str) -> bool:
        """Whether ``path`` was renamed in (complete) and nothing since said otherwise."""
        watch = self._seen.get(path)
        return watch is not None and watch.state == MOVED_IN

    def watching(self, path: str) -> bool:
        """Whether anything (an event, a scan) was noted about ``path`` since it was forgotten."""
        return path in self._seen

    def forget(self, path: str) -> None:
        self._seen.pop(path, None)
