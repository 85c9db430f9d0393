"""Keeps the stack's processes running the way a kubelet does: a process that exits is started
again after a back-off (1 s, doubling to 30 s; reset once it has run for a minute), each restart
is logged and counted, and no single exit stops the rest of the stack.

``Backoff`` is the pure policy; ``Supervisor`` applies it to units (a name, the current
``Child``, and how to start it again) on every ``tick``.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

from devstack.procs import Child, StackError


@dataclasses.dataclass
class Backoff:
    """CrashLoopBackOff's arithmetic: the delay before the next start, from how long the last
    run lasted."""

    initial_s: float = 1.0
    max_s: float = 30.0
    reset_after_s: float = 60.0  # a run this long was healthy: the next crash starts over at 1 s
    failures: int = 0

    def delay_after_exit(self, ran_s: float) -> float:
        if ran_s >= self.reset_after_s:
            self.failures = 0
        delay = min(self.max_s, self.initial_s * 2**self.failures)
        self.failures += 1
        return delay


@dataclasses.dataclass
class Unit:
    name: str
    child: Callable[[], Child | None]  # the current process (a restart may replace the Child)
    start: Callable[[], object]  # starts it again; StackError when it cannot (tried again later)
    backoff: Backoff = dataclasses.field(default_factory=Backoff)
    restarts: int = 0
    started_at: float = dataclasses.field(default_factory=time.monotonic)
    due_at: float | None = None  # set while it is down and waiting for its restart


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    def __init__(
        self,
        units: list[Unit],
        restarts_path: Path,
        log: Callable[[str], None] = lambda line: print(line, flush=True),
    ):
        self.units = units
        self.restarts_path = restarts_path
        self.log = log
        self._write_restarts()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for unit in self.units:
            child = unit.child()
            if unit.due_at is None:
                if child is None or child.running:
                    continue
                code = child.proc.returncode if child.proc else None
                delay = unit.backoff.delay_after_exit(now - unit.started_at)
                unit.due_at = now + delay
                self.log(
                    f"{unit.name} {describe_exit(code)} (last line: "
                    f"{child.last_log_line() or 'empty'}); restarting in {delay:g}s"
                )
            elif now >= unit.due_at:
                self._restart(unit, now)

    def _restart(self, unit: Unit, now: float) -> None:
        unit.restarts += 1
        unit.started_at = now
        unit.due_at = None
        self._write_restarts()
        try:
            unit.start()
        except StackError as exc:
            delay = unit.backoff.delay_after_exit(0)
            unit.due_at = now + delay
            self.log(f"{unit.name} could not start: {exc}; trying again in {delay:g}s")
            return
        child = unit.child()
        pid = child.proc.pid if child and child.proc else "?"
        self.log(f"{unit.name} restarted (pid {pid}, restart {unit.restarts})")

    def _write_restarts(self) -> None:
        # Read by `devstack status`; replaced whole so a reader never sees half of it.
        self.restarts_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.restarts_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({unit.name: unit.restarts for unit in self.units}) + "\n")
        tmp.replace(self.restarts_path)


def read_restarts(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}
