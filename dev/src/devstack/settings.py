"""Where the local stack keeps its state and which ports it uses.

Everything has a default that matches DESIGN.md (Kafka 9092, Postgres 5432, state in ``var/``,
downloads in ``.cache/``); the ``DEVSTACK_*`` variables move it, e.g. to run a second stack.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

KAFKA_VERSION = "4.3.1"  # keep in step with dev/kafka/pom.xml and Strimzi 1.2.0's default


def repo_root() -> Path:
    """The checkout this package was installed from (editable install), or the working dir."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "dev" / "kafka" / "pom.xml").is_file():
            return parent
    return Path.cwd()


class SettingsError(Exception):
    """A DEVSTACK_* variable has a value we cannot use."""


def _port(env: Mapping[str, str], name: str, default: int, low: int = 1) -> int:
    raw = env.get(name, str(default))
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) < 65536:
        raise SettingsError(f"{name}={raw!r} is not a port number ({low}-65535)")
    return int(raw)


@dataclasses.dataclass(frozen=True)
class StackSettings:
    root: Path
    var: Path
    cache: Path
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    pg_port: int = 5432
    partitions: int = 3
    service_port_offset: int = 0  # added to every service's HTTP port, to run a second stack
    # An existing PostgreSQL server to use instead of the embedded one: an admin URL
    # (a role that may create roles and databases), e.g. postgresql://postgres:pw@db:5432/postgres
    database_url: str | None = None
    topic: str = "records"
    dlq_topic: str = "records.dlq"
    status_topic: str = "records.status"  # the publishers' inbox reports (compacted)
    database: str = "streamsuite"
    writer_role: str = "streamsuite_writer"
    reader_role: str = "streamsuite_reader"
    # Ingestor processes in the consumer group, as the chart runs N pods.
    ingestor_replicas: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackSettings:
        env = os.environ if env is None else env
        root = repo_root()
        partitions = env.get("DEVSTACK_PARTITIONS", "3")
        if not (partitions.isascii() and partitions.isdigit()) or int(partitions) < 1:
            raise SettingsError(f"DEVSTACK_PARTITIONS={partitions!r} is not a positive number")
        replicas = env.get("DEVSTACK_INGESTOR_REPLICAS", "1")
        if not (replicas.isascii() and replicas.isdigit()) or not 1 <= int(replicas) <= 16:
            raise SettingsError(f"DEVSTACK_INGESTOR_REPLICAS={replicas!r} is not a number 1-16")
        return cls(
            root=root,
            var=Path(env.get("DEVSTACK_VAR", root / "var")).resolve(),
            cache=Path(env.get("STREAMSUITE_CACHE", root / ".cache")).resolve(),
            kafka_port=_port(env, "DEVSTACK_KAFKA_PORT", 9092),
            kafka_controller_port=_port(env, "DEVSTACK_KAFKA_CONTROLLER_PORT", 9093),
            pg_port=_port(env, "DEVSTACK_PG_PORT", 5432),
            partitions=int(partitions),
            service_port_offset=_port(env, "DEVSTACK_SERVICE_PORT_OFFSET", 0, low=0),
            database_url=env.get("DATABASE_URL") or None,
            ingestor_replicas=int(replicas),
        )

    def service_port(self, base: int) -> int:
        return base + self.service_port_offset

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def logs(self) -> Path:
        return self.var / "log"

    @property
    def run(self) -> Path:
        return self.var / "run"

    @property
    def secrets(self) -> Path:
        return self.var / "secrets"

    @property
    def inbox(self) -> Path:
        return self.var / "inbox"

    @property
    def env_file(self) -> Path:
        """Shell-sourceable settings of the running stack, read by tests and by people."""
        return self.var / "stack.env"
