"""Filesystem events (inotify through watchfiles) that wake the publisher early.

Events only shorten the wait: the periodic rescan finds everything anyway, on volumes without
events (NFS, some CSI drivers) and for what arrived while the publisher was down.
"""

from __future__ import annotations

import threading
from pathlib import Path

import watchfiles

from streamsuite_common.logs import get_logger
from streamsuite_publisher.spool import is_candidate

log = get_logger(__name__)


class InboxWatcher:
    def __init__(self, root: Path, wake: threading.Event, stop: threading.Event):
        self._root = root.resolve()
        self._wake = wake
        self._stop = stop
        self._thread = threading.Thread(target=self._run, name="inbox-watcher", daemon=True)

    def start(self) -> InboxWatcher:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for changes in watchfiles.watch(
                self._root,
                watch_filter=None,
                debounce=50,
                step=50,
                stop_event=self._stop,
                raise_interrupt=False,
                ignore_permission_denied=True,
            ):
                if any(self._relevant(path) for _, path in changes):
                    self._wake.set()
        except Exception as exc:  # events are an optimisation: the rescan still runs
            log.warning("inbox events unavailable; relying on rescans", error=str(exc))

    def _relevant(self, path: str) -> bool:
        try:
            relpath = Path(path).relative_to(self._root).as_posix()
        except ValueError:
            return False
        return is_candidate(relpath)

    def join(self, timeout: float = 5) -> None:
        self._thread.join(timeout)
