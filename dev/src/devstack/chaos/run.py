"""The chaos run's I/O: files into the inbox on a thread, one fault at a time (a SIGKILL at a
random point; the stack's supervisor brings the process back), the wait for recovery, and the
final count in PostgreSQL."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import psycopg2
from psycopg2.extras import Json

from devstack import services
from devstack.chaos.counting import Tally, tally
from devstack.chaos.files import ChaosFile, chaos_file
from devstack.procs import StackError
from devstack.settings import StackSettings
from devstack.stack import http_ok, owner_pid, read_env_file
from streamsuite_common.pids import pid_alive

BACKING = ("kafka", "postgres")
ALL_FAULTS = ("ingestor", "publisher", "query-api", "web", "kafka", "postgres")


def fault_label(name: str) -> str:
    return f"kill -9 {name} + restart" if name in BACKING else f"SIGKILL {name}"


@dataclasses.dataclass(frozen=True)
class Options:
    faults: Sequence[str] = ALL_FAULTS
    rounds: int = 1
    seed: int = 14
    file_interval_s: float = 0.1  # between two files written to the inbox
    before_kill_s: tuple[float, float] = (1.0, 6.0)  # the random point, after the phase starts
    after_recovery_s: float = 5.0  # files keep flowing this long after recovery
    recovery_timeout_s: float = 300.0
    drain_timeout_s: float = 240.0


class Stack:
    """The running stack as chaos sees it: pid files, readiness URLs, the database."""

    def __init__(self, settings: StackSettings):
        self.settings = settings
        env = read_env_file(settings.env_file)
        self.admin_dsn = env["DEVSTACK_PG_ADMIN_DSN"] + f" dbname={env['DEVSTACK_PG_DBNAME']}"
        self.readyz = [
            f"http://127.0.0.1:{settings.service_port(spec.port)}/readyz"
            for spec in services.SERVICES
            if spec.installed
        ]

    def pid(self, name: str) -> int | None:
        try:
            return int((self.settings.run / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def all_ready(self) -> bool:
        return all(http_ok(url) for url in self.readyz)

    def query(self, sql: str, args: tuple = ()) -> list[tuple] | None:
        """Rows, or None while PostgreSQL does not answer (it may be the fault)."""
        try:
            conn = psycopg2.connect(self.admin_dsn, connect_timeout=3)
        except psycopg2.Error:
            return None
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall()
        except psycopg2.Error:
            return None
        finally:
            conn.close()

    def stored(self, run: str) -> dict[str, int] | None:
        rows = self.query(
            "SELECT payload->>'chaos_id', count(*) FROM streamsuite.records"
            " WHERE payload @> %s GROUP BY 1",
            (Json({"chaos_run": run}),),
        )
        return None if rows is None else dict(rows)

    def dead_letters(self, run: str) -> dict[str, int] | None:
        rows = self.query(
            "SELECT source, count(*) FROM streamsuite.dead_letters WHERE source LIKE %s GROUP BY 1",
            (f"chaos-{run}-%",),
        )
        return None if rows is None else dict(rows)

    def has_file(self, chaos: ChaosFile) -> bool:
        """Every document of ``chaos`` is stored (looked up by source: indexed)."""
        rows = self.query(
            "SELECT count(DISTINCT doc_index) FROM streamsuite.records WHERE source = %s",
            (chaos.name,),
        )
        return rows is not None and rows[0][0] >= len(chaos.ids)


class Feeder:
    """Writes chaos files into the inbox one after another (each renamed in whole, as a person's
    `mv` would), remembering the phase each one belongs to."""

    def __init__(self, inbox: Path, run: str, interval_s: float):
        self.inbox = inbox
        self.staging = inbox.parent / "chaos-staging"  # same filesystem: rename is atomic
        self.staging.mkdir(parents=True, exist_ok=True)
        self.run = run
        self.interval_s = interval_s
        self.phase = 0
        self.written: list[tuple[int, ChaosFile]] = []
        self._seq = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def write(self) -> ChaosFile:
        with self._lock:
            chaos = chaos_file(self.run, self._seq)
            self._seq += 1
            staged = self.staging / chaos.name
            staged.write_bytes(chaos.data)
            os.rename(staged, self.inbox / chaos.name)
            self.written.append((self.phase, chaos))
            return chaos

    def write_good(self) -> ChaosFile:
        while True:
            chaos = self.write()
            if not chaos.bad:
                return chaos

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.write()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _poll(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)
    return True


def _replaced(stack: Stack, name: str, old: int) -> bool:
    pid = stack.pid(name)
    return pid is not None and pid != old and pid_alive(pid)


PHASES = ("process back", "every /readyz ready", "fresh document stored")


def inject(
    stack: Stack, feeder: Feeder, name: str, timeout_s: float
) -> tuple[float | None, dict[str, float]]:
    """SIGKILL ``name`` now; seconds until its replacement runs, every service is ready and a
    document written after the kill is stored (None: not within ``timeout_s``), and when each
    of these PHASES was first reached, in seconds after the kill (where the time goes)."""
    old = stack.pid(name)
    if old is None or not pid_alive(old):
        raise StackError(f"{name} is not running (no live pid in {stack.settings.run})")
    os.kill(old, signal.SIGKILL)
    killed_at = time.monotonic()
    canary = feeder.write_good()
    checks = (lambda: _replaced(stack, name, old), stack.all_ready, lambda: stack.has_file(canary))
    phases: dict[str, float] = {}

    def reached() -> bool:
        # Each phase needs the ones before it; a later one is looked at only once they held.
        for phase, check in zip(PHASES, checks, strict=True):
            if phase not in phases:
                if not check():
                    return False
                phases[phase] = time.monotonic() - killed_at
        return all(check() for check in checks[:2])

    recovered = _poll(reached, timeout_s)
    return (time.monotonic() - killed_at if recovered else None), phases


def phase_text(phases: dict[str, float]) -> str:
    """``process back 1.2s, every /readyz ready 9.8s, …``"""
    return ", ".join(f"{phase} {at:.1f}s" for phase, at in phases.items())


def count(stack: Stack, feeder: Feeder, labels: Sequence[str], recoveries: list) -> list[Tally]:
    stored = stack.stored(feeder.run) or {}
    letters = stack.dead_letters(feeder.run) or {}
    tallies = []
    for phase, label in enumerate(labels):
        files = [chaos for p, chaos in feeder.written if p == phase]
        tallies.append(
            tally(
                label,
                [doc_id for chaos in files for doc_id in chaos.ids],
                [chaos.name for chaos in files if chaos.bad],
                stored,
                letters,
                recoveries[phase] if phase < len(recoveries) else None,
            )
        )
    return tallies


def drained(stack: Stack, feeder: Feeder) -> bool:
    stored, letters = stack.stored(feeder.run), stack.dead_letters(feeder.run)
    if stored is None or letters is None:
        return False
    return all(
        (letters.get(chaos.name) if chaos.bad else all(i in stored for i in chaos.ids))
        for _, chaos in feeder.written
    )


def run_faults(
    settings: StackSettings, options: Options, say: Callable[[str], None]
) -> list[Tally]:
    stack = Stack(settings)
    rng = random.Random(options.seed)  # noqa: S311 - a schedule, not a secret
    faults = [name for _ in range(options.rounds) for name in options.faults]
    labels = [fault_label(name) for name in faults]
    feeder = Feeder(settings.inbox, uuid.uuid4().hex[:8], options.file_interval_s)
    recoveries: list[float | None] = []
    say(f"chaos run {feeder.run}: {len(faults)} faults, seed {options.seed}")
    feeder.start()
    try:
        for phase, name in enumerate(faults):
            feeder.phase = phase
            time.sleep(rng.uniform(*options.before_kill_s))  # the random point of this fault
            recovery, phases = inject(stack, feeder, name, options.recovery_timeout_s)
            recoveries.append(recovery)
            if recovery is None:
                say(f"  {labels[phase]}: NOT recovered in {options.recovery_timeout_s:g}s "
                    f"({phase_text(phases) or 'not even the process back'})")  # fmt: skip
            else:
                say(f"  {labels[phase]}: recovered in {recovery:.1f}s ({phase_text(phases)})")
            if recovery is None:
                break
            time.sleep(options.after_recovery_s)  # documents flow on the recovered stack
    finally:
        feeder.stop()
    if None not in recoveries:  # a stack that did not recover will not drain either
        say(f"  waiting for {len(feeder.written)} files to be stored or dead-lettered ...")
        _poll(lambda: drained(stack, feeder), options.drain_timeout_s, interval_s=1.0)
    return count(stack, feeder, labels[: len(recoveries)], recoveries)


class OwnStack:
    """`devstack up` in the background when no stack runs in this var/: started and stopped
    here, its output in var/log/chaos-up.log."""

    def __init__(self, settings: StackSettings):
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> OwnStack:
        if owner_pid(self.settings) is not None:
            return self
        log_path = self.settings.logs / "chaos-up.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "devstack.cli", "up"], stdout=log, stderr=subprocess.STDOUT
            )
        started = _poll(
            lambda: (
                self.proc.poll() is not None
                or (self.settings.env_file.is_file() and Stack(self.settings).all_ready())
            ),
            timeout_s=300,
        )
        if not started or self.proc.poll() is not None:
            self.__exit__()
            raise StackError(f"the stack did not come up; see {log_path}")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(120)
