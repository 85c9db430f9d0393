"""The supervisor's restart policy (CrashLoopBackOff arithmetic) and its bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

from devstack.supervisor import Backoff, Supervisor, Unit, describe_exit, read_restarts


def test_backoff_doubles_from_one_second_up_to_thirty():
    backoff = Backoff()
    assert [backoff.delay_after_exit(ran_s=0.5) for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_backoff_starts_over_after_a_healthy_run():
    backoff = Backoff()
    for _ in range(4):
        backoff.delay_after_exit(ran_s=1)
    assert backoff.delay_after_exit(ran_s=59) == 16
    assert backoff.delay_after_exit(ran_s=60) == 1
    assert backoff.delay_after_exit(ran_s=3) == 2


def test_exit_descriptions_name_the_signal():
    assert describe_exit(-9) == "was killed by SIGKILL"
    assert describe_exit(2) == "exited with code 2"


class _Proc:
    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None


class _Child:
    """What the supervisor reads of a procs.Child: whether it runs, its exit code, its log."""

    def __init__(self) -> None:
        self.proc = _Proc(100)

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    def last_log_line(self) -> str:
        return "bye"

    def start(self) -> None:
        self.proc = _Proc(self.proc.pid + 1)


def test_a_dead_unit_is_restarted_after_its_delay_and_counted(tmp_path: Path):
    child, lines = _Child(), []
    path = tmp_path / "restarts.json"
    unit = Unit("ingestor", lambda: child, child.start, started_at=0.0)
    supervisor = Supervisor([unit], path, log=lines.append)
    assert read_restarts(path) == {"ingestor": 0}

    supervisor.tick(now=10.0)
    assert lines == []
    child.proc.returncode = -9
    supervisor.tick(now=10.0)
    assert lines == ["ingestor was killed by SIGKILL (last line: bye); restarting in 1s"]
    supervisor.tick(now=10.5)
    assert child.proc.pid == 100  # still waiting out the back-off
    supervisor.tick(now=11.0)
    assert child.proc.pid == 101
    assert child.running
    assert lines[-1] == "ingestor restarted (pid 101, restart 1)"
    assert json.loads(path.read_text()) == {"ingestor": 1}

    child.proc.returncode = 1  # dies again at once: the next wait is longer
    supervisor.tick(now=11.5)
    assert lines[-1].endswith("restarting in 2s")


def test_a_unit_that_cannot_start_is_tried_again_later(tmp_path: Path):
    from devstack.procs import StackError

    child, lines, attempts = _Child(), [], []

    def failing_start() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise StackError("port 5432 (PostgreSQL) is taken")
        child.start()

    unit = Unit("postgres", lambda: child, failing_start, started_at=0.0)
    supervisor = Supervisor([unit], tmp_path / "restarts.json", log=lines.append)
    child.proc.returncode = -9
    supervisor.tick(now=100.0)
    supervisor.tick(now=101.0)
    assert "could not start: port 5432 (PostgreSQL) is taken; trying again in 2s" in lines[-1]
    supervisor.tick(now=103.0)
    assert child.running
    assert read_restarts(tmp_path / "restarts.json") == {"postgres": 2}
