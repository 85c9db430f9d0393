"""Which pods a render will run, with their labels: the facts the policy checks match against.

Workloads carry their pod template in the render. Strimzi's Kafka and KafkaNodePool resources
do not: the operator creates those pods, with labels it documents; they are modelled here (with
no pod spec, so nothing is said about their ports) so that a PodMonitor or NetworkPolicy aimed
at the brokers does not look like it selects nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from devstack.chartcheck.manifests import Manifest

# Where each workload kind keeps its pod template.
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
WORKLOAD_KINDS = frozenset({*POD_TEMPLATE_PATHS, "Pod"})
COMPONENT_LABEL = "app.kubernetes.io/component"


@dataclasses.dataclass(frozen=True)
class Pods:
    """The pods one object runs (or makes an operator run)."""

    owner: Manifest
    labels: Mapping[str, str]
    spec: Mapping[str, Any] | None  # None: the operator's pods, spec unknown
    spec_path: str  # e.g. "spec.template.spec", for messages
    labels_path: str  # e.g. "spec.template.metadata.labels"

    @property
    def component(self) -> str:
        """What reachable() reports: our component label, Strimzi's pod name, or the owner."""
        for key in (COMPONENT_LABEL, "strimzi.io/name"):
            if self.labels.get(key):
                return self.labels[key]
        return self.owner.name

    def containers(self, *, init: bool = True) -> list[tuple[str, dict[str, Any]]]:
        """``(label, container)`` pairs; the label reads like ``containers[web]``."""
        spec = self.spec or {}
        keys = ("initContainers", "containers") if init else ("containers",)
        found = []
        for key in keys:
            for index, container in enumerate(as_list(spec.get(key))):
                if isinstance(container, dict):
                    found.append((f"{key}[{container.get('name', index)}]", container))
        return found

    def ports(self) -> list[dict[str, Any]]:
        return [p for _, c in self.containers(init=False) for p in container_ports(c)]


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        obj = as_dict(obj).get(key)
    return obj


def labels_of(obj: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_dict(dig(obj, "metadata", "labels")).items()}


def container_ports(container: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [p for p in as_list(container.get("ports")) if isinstance(p, dict)]


def port_matches(port: Any, ports: Iterable[Mapping[str, Any]]) -> bool:
    """A probe's or Service's port (a number, or a port's name) is one of ``ports``."""
    for p in ports:
        if isinstance(port, int) and p.get("containerPort") == port:
            return True
        if isinstance(port, str) and port.isdigit() and p.get("containerPort") == int(port):
            return True
        if isinstance(port, str) and p.get("name") == port:
            return True
    return False


def describe_ports(ports: Iterable[Mapping[str, Any]]) -> str:
    """``8080/http, 9090`` for a message."""
    text = [
        f"{p.get('containerPort')}/{p['name']}" if p.get("name") else str(p.get("containerPort"))
        for p in ports
    ]
    return ", ".join(text) or "no ports"


def workload_pods(manifest: Manifest) -> Pods | None:
    """The pod template of a workload (or the Pod itself); None for other kinds."""
    if manifest.kind == "Pod":
        return Pods(
            manifest,
            labels_of(manifest.obj),
            as_dict(manifest.obj.get("spec")),
            "spec",
            "metadata.labels",
        )
    path = POD_TEMPLATE_PATHS.get(manifest.kind)
    if path is None:
        return None
    template = dig(manifest.obj, *path)
    prefix = ".".join(path)
    return Pods(
        manifest,
        labels_of(template),
        as_dict(as_dict(template).get("spec")),
        f"{prefix}.spec",
        f"{prefix}.metadata.labels",
    )


def operator_pods(manifest: Manifest) -> list[Pods]:
    """The pods Strimzi runs for a Kafka or KafkaNodePool resource (labels only).

    Strimzi 1.x runs brokers and controllers only from node pools; the Kafka resource itself
    brings the entity operator, Kafka Exporter and Cruise Control when they are configured.
    """
    if not str(manifest.obj.get("apiVersion", "")).startswith("kafka.strimzi.io/"):
        return []
    spec = as_dict(manifest.obj.get("spec"))
    if manifest.kind == "Kafka":
        cluster = manifest.name
        parts = [p for p in _KAFKA_PARTS if spec.get(p) is not None]
        return [
            _strimzi_pods(manifest, cluster, _KAFKA_PARTS[part], dig(spec, part, "template", "pod"))
            for part in parts
        ]
    if manifest.kind == "KafkaNodePool":
        cluster = labels_of(manifest.obj).get("strimzi.io/cluster", "")
        pod = _strimzi_pods(manifest, cluster, "kafka", dig(spec, "template", "pod"))
        labels = {
            **pod.labels,
            "strimzi.io/pool-name": manifest.name,
            "strimzi.io/controller-name": f"{cluster}-{manifest.name}",
        }
        labels.update({f"strimzi.io/{role}-role": "true" for role in as_list(spec.get("roles"))})
        return [dataclasses.replace(pod, labels=labels)]
    return []


# Kafka.spec field -> the component Strimzi names its pods after (<cluster>-<component>).
_KAFKA_PARTS = {
    "entityOperator": "entity-operator",
    "kafkaExporter": "kafka-exporter",
    "cruiseControl": "cruise-control",
}


def _strimzi_pods(manifest: Manifest, cluster: str, component: str, template: Any) -> Pods:
    labels = {
        "strimzi.io/cluster": cluster,
        "strimzi.io/kind": "Kafka",
        "strimzi.io/name": f"{cluster}-{component}",
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/instance": cluster,
        "app.kubernetes.io/part-of": f"strimzi-{cluster}",
        "app.kubernetes.io/managed-by": "strimzi-cluster-operator",
        **labels_of(template),
    }
    return Pods(manifest, labels, None, "", "")


def all_pods(manifests: Iterable[Manifest]) -> list[Pods]:
    found: list[Pods] = []
    for manifest in manifests:
        pods = workload_pods(manifest)
        found += [pods] if pods is not None else operator_pods(manifest)
    return found


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against one set of labels."""
    selector = as_dict(selector)
    for key, value in as_dict(selector.get("matchLabels")).items():
        if labels.get(str(key)) != str(value):
            return False
    for expression in as_list(selector.get("matchExpressions")):
        expression = as_dict(expression)
        key, operator = str(expression.get("key")), expression.get("operator")
        values = {str(v) for v in as_list(expression.get("values"))}
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(str(operator), False)
        if not ok:
            return False
    return True


def is_empty_selector(selector: Any) -> bool:
    selector = as_dict(selector)
    return not selector.get("matchLabels") and not selector.get("matchExpressions")
