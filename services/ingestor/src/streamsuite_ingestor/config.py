"""The ingestor's settings: the shared sections plus its own ``INGESTOR`` section."""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping
from typing import Any, ClassVar

from streamsuite_common import config
from streamsuite_common.config import (
    ConfigError,
    DatabaseSettings,
    HttpSettings,
    KafkaSettings,
    LogSettings,
    as_bool,
    as_int,
    as_seconds,
    as_str,
    setting,
)

SERVICE = "streamsuite-ingestor"
DEFAULTS: Mapping[str, Mapping[str, Any]] = {"HTTP": {"PORT": 9102}}


def _as_role(value: Any) -> str:
    # Empty means "grant nothing": a database without a separate read-only role.
    text = as_str(value)
    return config.as_identifier(text) if text else ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class IngestorSettings:
    SECTION: ClassVar[str] = "INGESTOR"

    group_id: str = setting(
        "GROUP_ID",
        "streamsuite-ingestor",
        parse=config.as_nonempty_str,
        help="Kafka consumer group; replicas with the same group share the partitions.",
    )
    batch_size: int = setting(
        "BATCH_SIZE",
        2_000,
        parse=as_int(1, 50_000),
        help="Most messages stored in one database transaction.",
    )
    batch_timeout_ms: int = setting(
        "BATCH_TIMEOUT_MS",
        500,
        parse=as_int(1, 60_000),
        help="How long one poll waits for messages when the topics are idle.",
    )
    max_document_bytes: int = setting(
        "MAX_DOCUMENT_BYTES",
        8 * 1024 * 1024,
        parse=as_int(1, 256 * 1024 * 1024),
        help="Larger messages become dead letters (`too-large`) instead of rows.",
    )
    reader_role: str = setting(
        "READER_ROLE",
        "streamsuite_reader",
        parse=_as_role,
        help="Role granted USAGE on the schema and SELECT on its tables; empty grants nothing.",
    )
    routes_file: str = setting(
        "ROUTES_FILE",
        "",
        help="YAML file of extra relational routes (see the ingestor README); "
        "the `name`/`age` route is always on.",
    )
    migrate_on_start: bool = setting(
        "MIGRATE_ON_START",
        True,
        parse=as_bool,
        help="Apply pending database migrations at start-up (under an advisory lock).",
    )
    session_timeout_s: float = setting(
        "SESSION_TIMEOUT_S",
        45.0,
        parse=as_seconds(6, 1800),
        help="How long the group waits for a silent replica before moving its partitions.",
    )
    group_instance_id: str = setting(
        "GROUP_INSTANCE_ID",
        "",
        help="Static group membership: a name stable across restarts and unique among the "
        "replicas, so a restarted replica gets its partitions back at once instead of after "
        "the session timeout. Empty: the pod name (`HOSTNAME`) on Kubernetes, else "
        "`<host>-<REPLICA_INDEX>`.",
    )
    replica_index: int = setting(
        "REPLICA_INDEX",
        0,
        parse=as_int(0, 10_000),
        help="Tells replicas on one host apart in the default GROUP_INSTANCE_ID.",
    )
    max_batch_bytes: int = setting(
        "MAX_BATCH_BYTES",
        16 * 1024 * 1024,
        parse=as_int(1024, 1024 * 1024 * 1024),
        help="Most message bytes stored in one database transaction (one larger message "
        "still goes alone).",
    )
    fetch_stall_s: float = setting(
        "FETCH_STALL_S",
        120.0,
        parse=as_seconds(1, 3600),
        help="A consumer that has neither received messages nor confirmed it is caught up "
        "for this long is rebuilt, and /readyz says so meanwhile.",
    )
    statement_timeout_s: float = setting(
        "STATEMENT_TIMEOUT_S",
        60.0,
        parse=as_seconds(1, 3600),
        help="PostgreSQL statement_timeout of the ingestor's session: a stuck batch is put "
        "back and retried.",
    )
    lock_timeout_s: float = setting(
        "LOCK_TIMEOUT_S",
        10.0,
        parse=as_seconds(0.1, 3600),
        help="PostgreSQL lock_timeout: a table locked by someone else delays, never hangs, "
        "the ingestor.",
    )
    tcp_user_timeout_s: float = setting(
        "TCP_USER_TIMEOUT_S",
        30.0,
        parse=as_seconds(1, 3600),
        help="libpq tcp_user_timeout: unacknowledged data this long means the server is gone "
        "(keepalives notice an idle one).",
    )

    def instance_id(self, env: Mapping[str, str] | None = None) -> str:
        """The static group member name: configured, the pod name, or host + replica index."""
        env = os.environ if env is None else env
        if self.group_instance_id:
            return self.group_instance_id
        if env.get("KUBERNETES_SERVICE_HOST") and env.get("HOSTNAME"):
            return env["HOSTNAME"]
        return f"{socket.gethostname()}-{self.replica_index}"

    def check(self) -> None:
        if not self.routes_file:
            return
        from streamsuite_ingestor.routes import RouteError, load_routes_file

        if not os.path.isfile(self.routes_file):
            raise ConfigError(f"INGESTOR.ROUTES_FILE: no such file {self.routes_file!r}")
        try:
            load_routes_file(self.routes_file)
        except RouteError as exc:
            raise ConfigError(f"INGESTOR.ROUTES_FILE: {exc}") from None


# For the configuration reference in the top-level README (devstack.docs).
SECTIONS: tuple[type, ...] = (IngestorSettings,)


@dataclasses.dataclass(frozen=True)
class IngestorConfig:
    kafka: KafkaSettings
    database: DatabaseSettings
    log: LogSettings
    http: HttpSettings
    ingestor: IngestorSettings


def _checked(cfg: IngestorConfig) -> IngestorConfig:
    if cfg.kafka.dlq_topic == cfg.kafka.topic:
        # The ingestor reads both: one topic would turn every document into a dead letter.
        raise ConfigError("KAFKA.DLQ_TOPIC: must differ from KAFKA.TOPIC")
    return cfg


def load(path: str | None, env: Mapping[str, str] | None = None) -> IngestorConfig:
    return _checked(config.load(IngestorConfig, path, env, defaults=DEFAULTS))


def load_tree(tree: Mapping[str, Any], env: Mapping[str, str]) -> IngestorConfig:
    """Pure variant for tests: the parsed YAML and the environment in, the config out."""
    return _checked(config.load_config(IngestorConfig, tree, env, defaults=DEFAULTS))
