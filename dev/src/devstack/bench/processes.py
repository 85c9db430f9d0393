"""A contender's processes: started together, watched, their CPU read, stopped with SIGTERM."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack.bench.procstat import cpu_seconds


class Group:
    def __init__(
        self, commands: Sequence[Sequence[str]], env: Sequence[Mapping[str, str]], log: Path
    ):
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log.open("ab")
        self.started = time.time()
        self.procs = [
            subprocess.Popen(list(cmd), env=dict(e), stdout=self.log, stderr=subprocess.STDOUT)
            for cmd, e in zip(commands, env, strict=True)
        ]

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def cpu(self) -> float:
        return cpu_seconds({p.pid for p in self.procs})

    def stop(self, timeout_s: float = 30) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + timeout_s
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.log.close()
