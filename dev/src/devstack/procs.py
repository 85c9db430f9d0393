"""Child processes of the stack: start with logs to a file, stop in order, never leave orphans."""

from __future__ import annotations

import ctypes
import errno
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class StackError(Exception):
    """Something the stack needs is missing or failed; the message is one line saying what."""


def _die_with_parent(sig: int) -> Callable[[], None]:
    """Ask the kernel to send ``sig`` to the child when the stack process dies, even by SIGKILL."""

    def set_pdeathsig() -> None:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)

    return set_pdeathsig


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def require_free_port(port: int, what: str, variable: str) -> None:
    if port_in_use(port):
        raise StackError(
            f"port {port} ({what}) is taken by another process; stop it or set {variable}"
        )


class Child:
    """One process of the stack, its output appended to ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        pid_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
        die_with_parent: bool = True,
    ):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.pid_path = pid_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        self.stop_signal = stop_signal
        # False for a daemon that outlives the command that started it (make kube-up).
        self.die_with_parent = die_with_parent
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # A session of its own: Ctrl-C reaches the stack, which then stops children in order.
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                user=self.user,
                # Drop root's groups too: a root-group directory would otherwise deny traversal.
                group=self.user,
                extra_groups=[] if self.user else None,
                start_new_session=True,
                preexec_fn=_die_with_parent(self.stop_signal) if self.die_with_parent else None,
            )
        self.pid_path.write_text(f"{self.proc.pid}\n")
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def last_log_line(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def exited_error(self) -> StackError:
        code = self.proc.returncode if self.proc else None
        return StackError(
            f"{self.name} exited with code {code}; see {self.log_path} "
            f"(last line: {self.last_log_line() or 'empty'})"
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask it to stop, wait, and kill it if it will not; then forget its pid file."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.pid_path.unlink(missing_ok=True)


def wait_until(
    condition: Callable[[], bool],
    *,
    what: str,
    timeout_s: float,
    child: Child | None = None,
    interval_s: float = 0.2,
) -> None:
    """Poll ``condition`` until true; fail fast if ``child`` dies, and name ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        if child is not None and not child.running:
            raise child.exited_error()
        if condition():
            return
        if time.monotonic() > deadline:
            log_hint = f"; see {child.log_path}" if child is not None else ""
            raise StackError(f"{what}: not ready after {timeout_s:g}s{log_hint}")
        time.sleep(interval_s)
