"""The publisher's default Kafka transactional id: stable across restarts, unique per running
publisher of an inbox.

A restarted publisher that takes its predecessor's id fences it: the broker aborts the open
transaction at once, instead of holding back every ``read_committed`` consumer until the
transaction timeout. The id is ``streamsuite-publisher-<spool id>-<replica>``:

- the spool id is a random token kept in the inbox itself (``processing/.spool-id``), so it
  names that inbox wherever it is mounted (every pod mounts it at the same path, which would
  not tell two releases apart);
- the replica is the lowest ``n`` whose ``processing/.replica-<n>.lock`` this process can lock
  (``flock``, released by the kernel when the process dies): two publishers of one inbox get
  different ids, and a restarted one gets its predecessor's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from pathlib import Path

PREFIX = "streamsuite-publisher-"
SPOOL_ID = ".spool-id"
MAX_REPLICAS = 1000


def spool_id(directory: Path) -> str:
    """The inbox's id: read, or created once (by whichever publisher links it first)."""
    path = directory / SPOOL_ID
    with contextlib.suppress(FileNotFoundError):
        return _read_id(path)
    tmp = directory / f"{SPOOL_ID}.{secrets.token_hex(4)}.tmp"
    tmp.write_text(secrets.token_hex(8) + "\n")
    try:
        os.link(tmp, path)  # atomic, and fails when another publisher was first
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return _read_id(path)


def _read_id(path: Path) -> str:
    text = path.read_text().strip()
    if not text.isalnum():
        raise ValueError(f"{path}: not a spool id: {text[:40]!r}")
    return text


class ReplicaSlot:
    """The lowest free replica number of an inbox, held (locked) until ``release``."""

    def __init__(self, directory: Path):
        for index in range(MAX_REPLICAS):
            fd = os.open(directory / f".replica-{index}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.index, self._fd = index, fd
            return
        raise RuntimeError(f"{directory}: {MAX_REPLICAS} publishers already run on this inbox")

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing drops the lock
            self._fd = -1


def default_transactional_id(directory: Path, slot: ReplicaSlot) -> str:
    return f"{PREFIX}{spool_id(directory)}-{slot.index}"
