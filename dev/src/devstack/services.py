"""The streamsuite services the local stack runs, and the config file each one gets.

A service appears here when its package lands; one that is not installed is skipped, so the
stack runs whatever exists. Each gets a YAML config in var/config/ written with the original
keys, and its password as a file (STREAMSUITE_DATABASE__USER_PWD_FILE), as in production; the
query API and the web UI get the stack's JWT secret the same way
(STREAMSUITE_AUTH__JWT_SECRET_FILE).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections.abc import Mapping
from typing import Any

import yaml

from devstack.auth import jwt_secret, secret_path
from devstack.settings import StackSettings


@dataclasses.dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str  # started as `python -m <module> --cfg <file> [args]`
    port: int  # its HTTP port: health and metrics, plus the API or UI where it has one
    db_role: str | None = None  # "writer", "reader" or None when it does not use PostgreSQL
    args: tuple[str, ...] = ()  # "{inbox}" stands for the stack's inbox directory
    ui_path: str | None = None  # a page worth opening, printed at start-up
    replica: int | None = None  # INGESTOR.REPLICA_INDEX of one of several ingestor processes
    auth: bool = False  # verifies bearer tokens (AUTH.JWT_SECRET from var/secrets)

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None


# In start-up order.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("ingestor", "streamsuite_ingestor", 9102, db_role="writer"),
    ServiceSpec(
        "query-api", "streamsuite_query_api", 8000, db_role="reader", ui_path="/docs", auth=True
    ),
    ServiceSpec("web", "streamsuite_web", 8080, db_role="reader", ui_path="/", auth=True),
    ServiceSpec("publisher", "streamsuite_publisher", 9101, args=("--dir", "{inbox}")),
)


# Ingestor replicas after the first: ingestor-1 at 9111, ingestor-2 at 9112, ...
REPLICA_PORT_BASE = 9110


def stack_services(settings: StackSettings) -> tuple[ServiceSpec, ...]:
    """SERVICES as the stack runs them: the ingestor DEVSTACK_INGESTOR_REPLICAS times, each
    with its own name, metrics port and replica index (so its own static group instance id)."""
    out: list[ServiceSpec] = []
    for spec in SERVICES:
        if spec.name != "ingestor":
            out.append(spec)
            continue
        out.append(dataclasses.replace(spec, replica=0))
        out += [
            dataclasses.replace(spec, name=f"ingestor-{i}", port=REPLICA_PORT_BASE + i, replica=i)
            for i in range(1, settings.ingestor_replicas)
        ]
    return tuple(out)


def config_tree(spec: ServiceSpec, settings: StackSettings) -> dict[str, Any]:
    """The --cfg file of one service: original keys plus its HTTP port, no secrets."""
    tree: dict[str, Any] = {
        "KAFKA": {
            "BOOTSTRAP_SERVERS": settings.bootstrap,
            "TOPIC": settings.topic,
            "DLQ_TOPIC": settings.dlq_topic,
            "STATUS_TOPIC": settings.status_topic,
            "COMPRESSION": "gzip",
            "PRODUCER_CLIENT_ID": f"streamsuite-{spec.name}",
            "CONSUMER_CLIENT_ID": f"streamsuite-{spec.name}",
        },
        "HTTP": {"HOST": "127.0.0.1", "PORT": settings.service_port(spec.port)},
    }
    if spec.replica is not None:
        tree["INGESTOR"] = {"REPLICA_INDEX": spec.replica}
    if spec.db_role is not None:
        tree["DATABASE"] = {
            "HOST": "127.0.0.1",
            "PORT": settings.pg_port,
            "DBNAME": settings.database,
            "DBUSER": role_name(spec, settings),
        }
    return tree


def role_name(spec: ServiceSpec, settings: StackSettings) -> str:
    return settings.writer_role if spec.db_role == "writer" else settings.reader_role


def command(spec: ServiceSpec, config_path: str, settings: StackSettings) -> list[str]:
    args = [arg.format(inbox=settings.inbox) for arg in spec.args]
    return [sys.executable, "-m", spec.module, "--cfg", config_path, *args]


def environment(
    spec: ServiceSpec, settings: StackSettings, base: Mapping[str, str]
) -> dict[str, str]:
    env = {key: value for key, value in base.items() if not key.startswith("STREAMSUITE_")}
    env["STREAMSUITE_LOG__FORMAT"] = "json"
    if spec.db_role is not None:
        password_file = settings.secrets / f"{role_name(spec, settings)}.password"
        env["STREAMSUITE_DATABASE__USER_PWD_FILE"] = str(password_file)
    if spec.auth:
        jwt_secret(settings)  # made on first use
        env["STREAMSUITE_AUTH__JWT_SECRET_FILE"] = str(secret_path(settings))
    return env


def write_config(spec: ServiceSpec, settings: StackSettings) -> str:
    path = settings.var / "config" / f"{spec.name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# {spec.name}: written by devstack on every `make up`.\n"
        + yaml.safe_dump(config_tree(spec, settings), sort_keys=False)
    )
    return str(path)
