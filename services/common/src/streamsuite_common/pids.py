"""Whether a process id belongs to a running process (for claims and pid files)."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """True while the process runs; an exited one that its parent has not reaped yet (a
    zombie) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: the signal check above is all we have
    return stat.rpartition(")")[2].split()[0] != "Z"
