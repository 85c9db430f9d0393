"""CPU seconds of a contender's processes, from /proc (user + system, its children included)."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def stat_fields(text: str) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces and parens)."""
    return text[text.rindex(")") + 2 :].split()


def cpu_ticks(text: str) -> int:
    """utime + stime (fields 14, 15) from one /proc/<pid>/stat line."""
    fields = stat_fields(text)
    return int(fields[11]) + int(fields[12])


def parent_pid(text: str) -> int:
    return int(stat_fields(text)[1])


def _read(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None


def descendants(roots: set[int]) -> set[int]:
    """``roots`` and every live process below them."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (text := _read(int(entry.name))) is not None:
            parents[int(entry.name)] = parent_pid(text)
    found = set(roots)
    grew = True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return found


def cpu_seconds(roots: set[int]) -> float:
    """CPU seconds used so far by ``roots`` and their descendants (read them before they exit)."""
    total = 0
    for pid in descendants(roots):
        if (text := _read(pid)) is not None:
            total += cpu_ticks(text)
    return total / _TICKS
