"""A broker that authenticates and authorises as the chart's Kafka does: SCRAM-SHA-512 users
and Kafka's StandardAuthorizer loaded with the ACLs exactly as the chart renders its
KafkaUsers. Used by the ACL test and by the Kubernetes e2e run (`make kube-e2e`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourceType,
)

from devstack.chartcheck import helm
from devstack.chartcheck.manifests import parse_manifests
from devstack.kafka import KafkaBroker
from devstack.settings import StackSettings


def chart_acls(chart: Path, *helm_args: str) -> dict[str, list[dict[str, Any]]]:
    """KafkaUser name -> its ACL rules, as the chart renders them (with ``helm_args``)."""
    manifests = parse_manifests(helm.template(chart, *helm_args, kube_version="v1.34.0"))
    return {
        m.name: m.obj["spec"]["authorization"]["acls"] for m in manifests if m.kind == "KafkaUser"
    }


def kafka_acls(user: str, rule: dict[str, Any]) -> list[ACL]:
    """A Strimzi ACL rule as Kafka ACL bindings (one per operation)."""
    resource = rule["resource"]
    pattern = ResourcePattern(
        ResourceType[
            {"transactionalId": "TRANSACTIONAL_ID"}.get(resource["type"], resource["type"].upper())
        ],
        resource.get("name", "kafka-cluster"),
        ACLResourcePatternType.PREFIXED
        if resource.get("patternType") == "prefix"
        else ACLResourcePatternType.LITERAL,
    )
    operation = {"IdempotentWrite": "IDEMPOTENT_WRITE"}
    return [
        ACL(
            principal=f"User:{user}",
            host="*",
            operation=ACLOperation[operation.get(op, op.upper())],
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=pattern,
        )
        for op in rule["operations"]
    ]


class ScramBroker(KafkaBroker):
    """A KRaft broker with a SCRAM-SHA-512 listener at ``sasl_host:sasl_port`` for the services
    and the usual plaintext one on 127.0.0.1 for the stack's own admin (a super user),
    authorising with Kafka's StandardAuthorizer. The users are created when the storage is
    formatted, so give it a fresh state directory."""

    def __init__(
        self,
        settings: StackSettings,
        sasl_port: int,
        users: dict[str, str],
        sasl_host: str = "127.0.0.1",
    ):
        super().__init__(settings)
        self.sasl_port = sasl_port
        self.sasl_host = sasl_host
        self.users = users

    @property
    def sasl_bootstrap(self) -> str:
        return f"{self.sasl_host}:{self.sasl_port}"

    def server_properties(self) -> str:
        base = super().server_properties()
        port = self.settings.kafka_port
        secured = {
            "listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://{self.sasl_bootstrap},"
            f"CONTROLLER://127.0.0.1:{self.settings.kafka_controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},"
            f"SASL_PLAINTEXT://{self.sasl_bootstrap}",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
            "SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # The plaintext listener (the stack's admin, the controller link) is anonymous.
            "super.users": "User:ANONYMOUS",
        }
        lines = [line for line in base.splitlines() if line.split("=", 1)[0] not in secured]
        return "\n".join([*lines, *(f"{k}={v}" for k, v in secured.items()), ""])

    def format_args(self) -> list[str]:
        args = []
        for name, password in self.users.items():
            args += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        return args
