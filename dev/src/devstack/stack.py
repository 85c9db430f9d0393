"""Brings the local stack up and down: Kafka and PostgreSQL first (waiting on real readiness),
then the services; stops everything in reverse order."""

from __future__ import annotations

import os
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2

from devstack import services
from devstack.kafka import KafkaBroker
from devstack.postgres import ExternalPostgres, LocalPostgres, provision
from devstack.procs import Child, StackError, require_free_port, wait_until
from devstack.settings import StackSettings
from devstack.supervisor import Supervisor, Unit
from streamsuite_common.pids import pid_alive


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key] = value
    return values


def stack_env(
    settings: StackSettings, postgres: LocalPostgres | ExternalPostgres
) -> dict[str, str]:
    """What clients need to reach the running stack (no passwords, only their files)."""
    endpoint = postgres.endpoint
    admin = " ".join(f"{key}={value}" for key, value in endpoint.admin_dsn.items() if value)
    return {
        "DEVSTACK_KAFKA_BOOTSTRAP": settings.bootstrap,
        "DEVSTACK_TOPIC": settings.topic,
        "DEVSTACK_DLQ_TOPIC": settings.dlq_topic,
        "DEVSTACK_STATUS_TOPIC": settings.status_topic,
        "DEVSTACK_PG_HOST": endpoint.host,
        "DEVSTACK_PG_PORT": str(endpoint.port),
        "DEVSTACK_PG_DBNAME": settings.database,
        "DEVSTACK_PG_ADMIN_DSN": admin,
        "DEVSTACK_WRITER_ROLE": settings.writer_role,
        "DEVSTACK_WRITER_PASSWORD_FILE": str(settings.secrets / f"{settings.writer_role}.password"),
        "DEVSTACK_READER_ROLE": settings.reader_role,
        "DEVSTACK_READER_PASSWORD_FILE": str(settings.secrets / f"{settings.reader_role}.password"),
        "DEVSTACK_VAR": str(settings.var),
    }


def owner_pid(settings: StackSettings) -> int | None:
    """The pid of the devstack process that runs the stack now, if any."""
    path = settings.run / "devstack.pid"
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def restarts_path(settings: StackSettings) -> Path:
    return settings.run / "restarts.json"


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own localhost
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Stack:
    def __init__(self, settings: StackSettings):
        self.settings = settings
        self.kafka = KafkaBroker(settings)
        self.postgres = (
            ExternalPostgres(settings) if settings.database_url else LocalPostgres(settings)
        )
        self.services: list[tuple[services.ServiceSpec, Child]] = []
        self._owned = False

    def claim(self) -> None:
        """Become the one devstack process running this var/ (refuse if another is)."""
        other = owner_pid(self.settings)
        if other is not None and other != os.getpid():
            raise StackError(
                f"the stack in {self.settings.var} is already running (pid {other}); "
                "`make down` stops it"
            )
        self.settings.run.mkdir(parents=True, exist_ok=True)
        (self.settings.run / "devstack.pid").write_text(f"{os.getpid()}\n")
        self._owned = True

    def start_backing(self) -> None:
        # Start both before waiting on either: the JVM's start-up covers initdb's.
        self.kafka.start()
        self.postgres.start()
        self.postgres.wait_ready()
        provision(self.postgres.endpoint, self.settings)
        self.kafka.wait_ready()
        lines = [f"{key}={value}" for key, value in stack_env(self.settings, self.postgres).items()]
        self.settings.env_file.write_text(
            "# The running local stack, for tests and shells; removed when it stops.\n"
            + "\n".join(lines)
            + "\n"
        )

    def start_services(self) -> list[services.ServiceSpec]:
        started = []
        self.settings.inbox.mkdir(parents=True, exist_ok=True)
        for spec in services.stack_services(self.settings):
            if not spec.installed:
                continue
            require_free_port(
                self.settings.service_port(spec.port), spec.name, "DEVSTACK_SERVICE_PORT_OFFSET"
            )
            child = Child(
                spec.name,
                services.command(spec, services.write_config(spec, self.settings), self.settings),
                log_path=self.settings.logs / f"{spec.name}.log",
                pid_path=self.settings.run / f"{spec.name}.pid",
                env=services.environment(spec, self.settings, os.environ),
                cwd=self.settings.root,
            ).start()
            self.services.append((spec, child))
            started.append(spec)
        for spec, child in self.services:
            url = f"http://127.0.0.1:{self.settings.service_port(spec.port)}/readyz"
            wait_until(lambda url=url: http_ok(url), what=spec.name, timeout_s=60, child=child)
        return started

    def supervisor(self) -> Supervisor:
        """Restarts whatever dies, Kafka and PostgreSQL included (with their data kept), as
        Kubernetes would; `make status` shows the counts."""
        units = [Unit("kafka", lambda: self.kafka.child, self.kafka.start)]
        if isinstance(self.postgres, LocalPostgres):
            units.append(Unit("postgres", lambda: self.postgres.child, self.postgres.start))
        units += [
            Unit(spec.name, lambda child=child: child, child.start) for spec, child in self.services
        ]
        return Supervisor(units, restarts_path(self.settings))

    def stop(self) -> None:
        # A second Ctrl-C must not cut the orderly stop short and leave processes behind.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        for _, child in reversed(self.services):
            child.stop(timeout_s=30)
        self.services.clear()
        self.kafka.stop()
        self.postgres.stop()
        if self._owned:
            self.settings.env_file.unlink(missing_ok=True)
            (self.settings.run / "devstack.pid").unlink(missing_ok=True)
            restarts_path(self.settings).unlink(missing_ok=True)
            self._owned = False


@contextmanager
def backing_services(
    settings: StackSettings, *, with_services: bool = False
) -> Iterator[dict[str, str]]:
    """Kafka and PostgreSQL (and the services, if asked) for the duration of the block: the
    running stack's if there is one, else started here and stopped afterwards. Yields the
    stack's DEVSTACK_* variables."""
    if owner_pid(settings) is not None and settings.env_file.is_file():
        env = read_env_file(settings.env_file)
        if KafkaBroker(settings).probe_ok() and _postgres_answers(env):
            yield env
            return
    stack = Stack(settings)
    stack.claim()
    try:
        stack.start_backing()
        if with_services:
            stack.start_services()
        yield read_env_file(settings.env_file)
    finally:
        stack.stop()


def _postgres_answers(env: dict[str, str]) -> bool:
    try:
        psycopg2.connect(env["DEVSTACK_PG_ADMIN_DSN"], connect_timeout=3).close()
    except (psycopg2.Error, KeyError):
        return False
    return True
