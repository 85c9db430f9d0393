"""`kubectl port-forward` as a person runs it, kept up while the e2e suite runs: a forward to a
Service is bound to one pod and ends when that pod goes (a deleted pod, a rolling upgrade), so
it is started again, as a person would."""

from __future__ import annotations

import re
import shlex
import subprocess
import threading
from pathlib import Path

from devstack.procs import port_in_use

README_FORWARD = re.compile(r"^\s*(kubectl .*port-forward .*?)\s*&?\s*$")


def readme_port_forwards(readme: Path) -> list[list[str]]:
    """The `kubectl ... port-forward ...` commands of the README's Kubernetes walkthrough."""
    return [
        shlex.split(match.group(1))
        for line in readme.read_text().splitlines()
        if (match := README_FORWARD.match(line))
    ]


def local_port(argv: list[str]) -> int:
    """The local port of `port-forward TARGET LOCAL:REMOTE` (or `PORT`)."""
    spec = next(arg for arg in reversed(argv) if re.fullmatch(r"\d+(:\d+)?", arg))
    return int(spec.split(":")[0])


class PortForward:
    def __init__(self, argv: list[str], env: dict[str, str], log: Path):
        self.argv = argv
        self.env = env
        self.log = log
        self.port = local_port(argv)
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._keep_up, daemon=True)

    def start(self) -> PortForward:
        if port_in_use(self.port):
            raise OSError(f"port {self.port} is taken: {' '.join(self.argv)} cannot listen")
        self._thread.start()
        return self

    def _keep_up(self) -> None:
        with self.log.open("ab") as log:
            while not self._stopping.is_set():
                self._proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=log)
                self._proc.wait()
                self._stopping.wait(0.5)

    def stop(self) -> None:
        self._stopping.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)
        self._thread.join(15)
