"""The inbox's inotify events: how each file arrived (renamed in, written in place, closed),
for the stability tracker, and a wake-up for the publisher's loop.

Events are an addition, never a requirement: where there are none (a volume without inotify,
NFS written from another host, too many directories for the watch limit) the periodic rescan
finds every file and the stability window alone says when it is complete.
"""

from __future__ import annotations

import collections
import os
import select
import stat
import threading
import time
from pathlib import Path

from streamsuite_common.logs import get_logger
from streamsuite_publisher import inotify
from streamsuite_publisher.arrival import APPEARED, CLOSED, GONE, MOVED_IN, RESET, WRITING
from streamsuite_publisher.spool import RESERVED, is_candidate

log = get_logger(__name__)

_DIR_MASK = (
    inotify.IN_CREATE | inotify.IN_MODIFY | inotify.IN_CLOSE_WRITE | inotify.IN_MOVED_FROM
    | inotify.IN_MOVED_TO | inotify.IN_DELETE | inotify.IN_ONLYDIR | inotify.IN_DONT_FOLLOW
    | inotify.IN_EXCL_UNLINK
)  # fmt: skip
_POLL_S = 0.2  # how soon the thread notices a stop


def file_event(mask: int) -> str | None:
    """What an event on a file (not a directory) says about it; None: nothing we use."""
    if mask & inotify.IN_MOVED_TO:
        return MOVED_IN
    if mask & inotify.IN_CLOSE_WRITE:
        return CLOSED
    if mask & (inotify.IN_CREATE | inotify.IN_MODIFY):
        return WRITING
    if mask & (inotify.IN_MOVED_FROM | inotify.IN_DELETE):
        return GONE
    return None


def created_kind(path: str) -> str:
    """A name created in place is being written only when it is a new regular file; a link
    (symbolic, or hard: a second name of a file written elsewhere) or a FIFO arrives complete
    but gets no close-write, so only the stability window can say when to take it."""
    try:
        st = os.lstat(path)
    except OSError:
        return GONE
    return WRITING if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 else APPEARED


class InboxWatcher:
    """Watches the inbox tree (not the spool's own directories) in a thread; ``drain`` hands
    over what happened since the last call as (relative path, event, monotonic time)."""

    def __init__(self, root: Path, wake: threading.Event, stop: threading.Event):
        self._root = str(root.resolve())
        self._wake = wake
        self._stop = stop
        self._events: collections.deque[tuple[str, str, float]] = collections.deque()
        self._dirs: dict[int, str] = {}  # watch descriptor → directory prefix ("" or "a/b/")
        self._inotify: inotify.Inotify | None = None
        self._thread = threading.Thread(target=self._run, name="inbox-watcher", daemon=True)
        self.active = threading.Event()  # set once the inbox is watched

    def start(self) -> InboxWatcher:
        try:
            self._inotify = inotify.Inotify()
            self._watch_tree("")
        except OSError as exc:
            log.warning("inbox events unavailable; relying on rescans", error=str(exc))
            self._close()
            return self
        self.active.set()
        self._thread.start()
        return self

    def drain(self) -> list[tuple[str, str, float]]:
        events = []
        while self._events:
            events.append(self._events.popleft())
        return events

    def join(self, timeout: float = 5) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        assert self._inotify is not None
        try:
            while not self._stop.is_set():
                readable, _, _ = select.select([self._inotify.fd], [], [], _POLL_S)
                if readable:
                    self._handle(self._inotify.read())
        except Exception as exc:  # events are an addition: the rescan still runs
            log.warning("inbox events stopped; relying on rescans", error=repr(exc))
            self._push("", RESET)
        finally:
            self.active.clear()
            self._close()

    def _handle(self, events: list[inotify.Event]) -> None:
        wake = False
        for event in events:
            if event.mask & inotify.IN_Q_OVERFLOW:
                log.warning("inbox event queue overflowed; waiting out the stability window")
                self._push("", RESET)
                wake = True
                continue
            prefix = self._dirs.get(event.wd)
            if event.mask & inotify.IN_IGNORED:
                self._dirs.pop(event.wd, None)
            if prefix is None or not event.name:
                continue
            relpath = prefix + event.name
            if event.mask & inotify.IN_ISDIR:
                self._directory_event(event.mask, relpath)
            elif is_candidate(relpath):
                kind = file_event(event.mask)
                if kind == WRITING and event.mask & inotify.IN_CREATE:
                    kind = created_kind(os.path.join(self._root, relpath))
                if kind is not None:
                    self._push(relpath, kind)
                    # A write never makes a file ready, its close does: a file written in
                    # place in many small writes must not spin the publisher's loop.
                    wake = wake or kind not in (WRITING, GONE)
        if wake:
            self._wake.set()

    def _directory_event(self, mask: int, relpath: str) -> None:
        if mask & (inotify.IN_CREATE | inotify.IN_MOVED_TO):
            self._watch_tree(relpath + "/")
        elif mask & inotify.IN_MOVED_FROM:
            # Moved away: its watches would report under a stale name. Moved within the
            # inbox, the moved-to event watches it again under its new one.
            for wd, prefix in list(self._dirs.items()):
                if prefix.startswith(relpath + "/"):
                    assert self._inotify is not None
                    self._inotify.remove_watch(wd)
                    del self._dirs[wd]

    def _watch_tree(self, prefix: str) -> None:
        """Watch a directory and those below it; a directory that cannot be watched (gone,
        the watch limit) is left to the rescan."""
        assert self._inotify is not None
        parts = prefix.rstrip("/").split("/") if prefix else []
        if parts and (parts[0] in RESERVED or any(part.startswith(".") for part in parts)):
            return
        path = os.path.join(self._root, prefix)
        try:
            self._dirs[self._inotify.add_watch(path, _DIR_MASK)] = prefix
            entries = list(os.scandir(path))
        except OSError as exc:
            if not prefix:
                raise
            log.warning("directory not watched; relying on rescans", directory=prefix,
                        error=str(exc))  # fmt: skip
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                self._watch_tree(f"{prefix}{entry.name}/")

    def _push(self, relpath: str, kind: str) -> None:
        self._events.append((relpath, kind, time.monotonic()))

    def _close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
