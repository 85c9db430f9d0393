"""Linux inotify through ctypes: the few calls the inbox watcher needs.

watchfiles (and watchdog) fold a rename into the inbox and a file created in place into the
same "added" event and never report close-write, which is exactly what tells a complete file
from one still being written; so the kernel's events are read here as they are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import os
import struct

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000

_HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)


@dataclasses.dataclass(frozen=True)
class Event:
    wd: int
    mask: int
    name: str  # the entry in the watched directory ("" for the directory itself)


def parse_events(buffer: bytes) -> list[Event]:
    """The events packed in one read() of an inotify descriptor."""
    events, offset = [], 0
    while offset + _HEADER.size <= len(buffer):
        wd, mask, _cookie, length = _HEADER.unpack_from(buffer, offset)
        offset += _HEADER.size
        raw = buffer[offset : offset + length].split(b"\0", 1)[0]
        offset += length
        events.append(Event(wd, mask, os.fsdecode(raw)))
    return events


def _oserror() -> OSError:
    code = ctypes.get_errno()
    return OSError(code, os.strerror(code))


class Inotify:
    """One non-blocking inotify descriptor (``fd``: select on it, then ``read``)."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if not hasattr(self._libc, "inotify_init1"):
            raise OSError("inotify is not available on this system")
        fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise _oserror()
        self.fd = fd

    def add_watch(self, path: str, mask: int) -> int:
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path), ctypes.c_uint32(mask))
        if wd < 0:
            raise _oserror()
        return wd

    def remove_watch(self, wd: int) -> None:
        self._libc.inotify_rm_watch(self.fd, wd)  # a watch already gone is no error for us

    def read(self) -> list[Event]:
        """Every event queued now (none when the queue is empty)."""
        events = []
        while True:
            try:
                buffer = os.read(self.fd, 64 * 1024)
            except BlockingIOError:
                return events
            events += parse_events(buffer)

    def close(self) -> None:
        os.close(self.fd)
