"""`devstack up` (what `make up` runs) as a person uses it: start, look, Ctrl-C, start again.

Runs a stack of its own (temp var/, free ports) beside the shared test stack, reusing the
downloaded Kafka jars from the cache.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from devstack.procs import port_in_use
from devstack.services import SERVICES
from devstack.testing import free_offset, free_port, http_get, wait_for
from streamsuite_common.config import KafkaSettings
from streamsuite_common.kafka import KafkaProbe
from streamsuite_common.pids import pid_alive

DEVSTACK = [sys.executable, "-m", "devstack.cli"]


class RunningUp:
    """A `devstack up` child whose output lines are collected as they come."""

    def __init__(self, env: dict[str, str]):
        self.proc = subprocess.Popen(
            [*DEVSTACK, "up"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(text in line for line in self.seen):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {text!r} within {timeout_s}s; output: {self.seen}"
            try:
                self.seen.append(self.lines.get(timeout=min(remaining, 1)))
            except queue.Empty:
                assert self.proc.poll() is None, f"devstack up exited early: {self.seen}"

    def interrupt(self, timeout_s: float = 120) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout_s)


@pytest.fixture
def stack_env(tmp_path_factory) -> Iterator[dict[str, str]]:
    var = Path(tmp_path_factory.mktemp("var"))
    env = {
        **os.environ,
        "DEVSTACK_VAR": str(var),
        "DEVSTACK_KAFKA_PORT": str(free_port()),
        "DEVSTACK_KAFKA_CONTROLLER_PORT": str(free_port()),
        "DEVSTACK_PG_PORT": str(free_port()),
        # The services' HTTP ports move together: publisher 9101 + offset, and so on.
        "DEVSTACK_SERVICE_PORT_OFFSET": str(free_offset(s.port for s in SERVICES)),
    }
    env.pop("DATABASE_URL", None)
    yield env
    subprocess.run([*DEVSTACK, "down"], env=env, check=False, timeout=120)


def _stored(pg_port: int, password: str, source: str) -> list[tuple]:
    """Rows of ``source`` in the records table, or [] while the table does not exist yet."""
    conn = psycopg2.connect(
        host="127.0.0.1", port=pg_port, dbname="streamsuite",
        user="streamsuite_writer", password=password,
    )  # fmt: skip
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT to_regclass('streamsuite.records') IS NOT NULL")
            if not cur.fetchone()[0]:
                return []
            cur.execute(
                "SELECT kind, name, age FROM streamsuite.records WHERE source = %s", (source,)
            )
            return cur.fetchall()
    finally:
        conn.close()


def _recorded_pids(var: Path) -> dict[str, int]:
    return {path.stem: int(path.read_text()) for path in (var / "run").glob("*.pid")}


def test_up_serves_kafka_and_postgres_and_ctrl_c_leaves_nothing_behind(stack_env):
    var = Path(stack_env["DEVSTACK_VAR"])
    kafka_port = int(stack_env["DEVSTACK_KAFKA_PORT"])
    pg_port = int(stack_env["DEVSTACK_PG_PORT"])

    up = RunningUp(stack_env)
    up.wait_for("Ctrl-C stops everything.")
    banner = "\n".join(up.seen)
    assert f"127.0.0.1:{kafka_port}" in banner
    assert f"inbox       {var / 'inbox'}" in banner

    KafkaProbe(KafkaSettings(bootstrap_servers=(f"127.0.0.1:{kafka_port}",)))()
    password = (var / "secrets" / "streamsuite_writer.password").read_text().strip()
    conn = psycopg2.connect(
        host="127.0.0.1", port=pg_port, dbname="streamsuite",
        user="streamsuite_writer", password=password,
    )  # fmt: skip
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
    conn.close()
    offset = int(stack_env["DEVSTACK_SERVICE_PORT_OFFSET"])
    for spec in SERVICES:
        base = f"http://127.0.0.1:{spec.port + offset}"
        assert f"{base}/healthz" in banner
        assert http_get(f"{base}/healthz")[0] == 200
        assert http_get(f"{base}/readyz")[0] == 200
        status, content_type, metrics = http_get(f"{base}/metrics")
        assert (status, content_type.split(";")[0]) == (200, "text/plain")
        assert f"streamsuite_{spec.name.replace('-', '_')}_" in metrics

    # A file dropped in the inbox is published, then stored by the ingestor as a typed row.
    (var / "inbox" / "ada.json").write_text('{"name": "Ada Lovelace", "age": 36}')
    wait_for(lambda: _stored(pg_port, password, "ada.json"), what="ada.json in PostgreSQL",
             timeout_s=120)  # fmt: skip
    assert (var / "inbox" / "processed" / "ada.json").is_file()
    assert _stored(pg_port, password, "ada.json") == [("relational", "Ada Lovelace", 36)]

    pids = _recorded_pids(var)
    assert {"devstack", "kafka", "postgres"} | {s.name for s in SERVICES} <= set(pids)

    assert up.interrupt() == 0
    assert not [name for name, pid in pids.items() if pid_alive(pid)]
    ports = [kafka_port, pg_port, *(spec.port + offset for spec in SERVICES)]
    assert not [port for port in ports if port_in_use(port)]

    # A second start reuses the downloads and the data.
    again = RunningUp(stack_env)
    again.wait_for("Ctrl-C stops everything.")
    assert not any("fetching" in line for line in again.seen)
    conn = psycopg2.connect(
        host="127.0.0.1", port=pg_port, dbname="streamsuite",
        user="streamsuite_writer", password=password,
    )  # fmt: skip
    with conn, conn.cursor() as cur:
        cur.execute("SELECT x FROM kept")
        assert cur.fetchall() == [(42,)]
    conn.close()
    assert again.interrupt() == 0


def test_up_refuses_a_taken_port_with_one_line(stack_env):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        env = {**stack_env, "DEVSTACK_KAFKA_PORT": str(squatter.getsockname()[1])}
        result = subprocess.run(
            [*DEVSTACK, "up"], env=env, capture_output=True, text=True, timeout=120, check=False
        )
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, result.stderr
    assert f"port {env['DEVSTACK_KAFKA_PORT']} (Kafka) is taken" in errors[0]


def test_down_stops_a_stack_running_elsewhere(stack_env):
    up = RunningUp(stack_env)
    up.wait_for("Ctrl-C stops everything.")
    pids = _recorded_pids(Path(stack_env["DEVSTACK_VAR"]))

    result = subprocess.run(
        [*DEVSTACK, "down"], env=stack_env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert up.proc.wait(60) == 0
    assert not [name for name, pid in pids.items() if pid_alive(pid)]


def test_up_restarts_a_killed_service_and_status_counts_it(stack_env):
    """As a kubelet would: a SIGKILLed ingestor is started again (the stack keeps running),
    the new one stores what arrives next, and `devstack status` shows the restart."""
    var = Path(stack_env["DEVSTACK_VAR"])
    pg_port = int(stack_env["DEVSTACK_PG_PORT"])
    readyz = f"http://127.0.0.1:{9102 + int(stack_env['DEVSTACK_SERVICE_PORT_OFFSET'])}/readyz"
    up = RunningUp(stack_env)
    up.wait_for("Ctrl-C stops everything.")
    before = _recorded_pids(var)

    os.kill(before["ingestor"], signal.SIGKILL)
    up.wait_for("ingestor was killed by SIGKILL")
    up.wait_for("ingestor restarted", timeout_s=60)
    wait_for(lambda: _recorded_pids(var)["ingestor"] != before["ingestor"],
             what="a new ingestor pid", timeout_s=60)  # fmt: skip
    after = _recorded_pids(var)
    assert pid_alive(after["ingestor"])
    wait_for(lambda: http_get(readyz)[0] == 200, what="the new ingestor ready", timeout_s=120)
    # Nothing else was touched.
    assert {name: pid for name, pid in after.items() if name != "ingestor"} == {
        name: pid for name, pid in before.items() if name != "ingestor"
    }

    password = (var / "secrets" / "streamsuite_writer.password").read_text().strip()
    (var / "inbox" / "grace.json").write_text('{"name": "Grace Hopper", "age": 85}')
    wait_for(lambda: _stored(pg_port, password, "grace.json"), what="grace.json in PostgreSQL",
             timeout_s=120)  # fmt: skip

    status = subprocess.run(
        [*DEVSTACK, "status"], env=stack_env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert status.returncode == 0, status.stdout + status.stderr
    lines = {line.split()[0]: line for line in status.stdout.splitlines()[1:]}
    assert f"running (pid {after['ingestor']}), ready, 1 restart" in lines["ingestor"]
    assert lines["kafka"].endswith(", 0 restarts")
    assert lines["publisher"].endswith(", 0 restarts")
    assert up.interrupt() == 0
    assert not [name for name, pid in after.items() if pid_alive(pid)]


def test_chaos_short_loses_and_duplicates_nothing(stack_env):
    """The short `make chaos`: the ingestor and the publisher SIGKILLed, PostgreSQL and the
    broker kill -9ed and restarted by the stack's supervisor, while files of every format flow;
    every document is stored exactly once and every refused file dead-lettered once."""
    faults = ["ingestor", "publisher", "postgres", "kafka"]
    result = subprocess.run(
        [sys.executable, "-m", "devstack.chaos", "--faults", ",".join(faults),
         "--after-recovery", "1", "--kill-within", "3", "--recovery-timeout", "90"],
        env=stack_env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    # "SIGKILL ingestor  …" / "kill -9 kafka + restart  …": the name, then the numbers.
    lines = [line for line in result.stdout.splitlines() if line.startswith(("SIGKILL ", "kill "))]
    rows = {line.split()[1 if line.startswith("SIGKILL") else 2]: line.split() for line in lines}
    assert sorted(rows) == sorted(faults)
    for name, row in rows.items():
        sent, stored, lost, dup = (int(cell) for cell in row[-6:-2])
        assert (lost, dup) == (0, 0), row
        assert stored == sent > 0, row
        assert row[-1].endswith("s"), f"{name} never recovered: {row}"
    assert "chaos: nothing lost, nothing duplicated" in result.stdout
