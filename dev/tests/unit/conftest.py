"""A synthetic render of the chart, for the chartcheck tests: every object follows the chart's
conventions and passes the strict schemas, so each test breaks one thing and sees one finding."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from devstack.chartcheck.crds import CrdSchemas, load_crd_schemas
from devstack.chartcheck.manifests import Manifest

RELEASE = "streamsuite"


def labels(component: str | None = None) -> dict[str, str]:
    found = {
        "app.kubernetes.io/name": "streamsuite",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/part-of": "streamsuite",
        "helm.sh/chart": "streamsuite-0.1.0",
    }
    if component:
        found["app.kubernetes.io/component"] = component
    return found


def selector(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "streamsuite",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": component,
    }


def container(name: str, image: str, port: int, port_name: str) -> dict[str, Any]:
    http = {"port": port_name}
    return {
        "name": name,
        "image": image,
        "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}],
        "livenessProbe": {"httpGet": {"path": "/healthz", **http}, "periodSeconds": 10},
        "readinessProbe": {"httpGet": {"path": "/readyz", **http}, "periodSeconds": 5},
        "startupProbe": {"httpGet": {"path": "/healthz", **http}, "failureThreshold": 30},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def pod_spec(*containers: dict[str, Any]) -> dict[str, Any]:
    return {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": list(containers),
    }


def deployment(component: str, image: str, port: int, port_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{RELEASE}-{component}", "labels": labels(component)},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": selector(component)},
            "template": {
                "metadata": {"labels": selector(component)},
                "spec": pod_spec(container(component, image, port, port_name)),
            },
        },
    }


def sample_objects() -> list[tuple[str, dict[str, Any]]]:
    """``(template, object)`` pairs, as ``helm template`` would print them."""
    web = deployment("web", "streamsuite/web:0.1.0", 8080, "http")
    ingestor = deployment(
        "ingestor",
        "registry.local:5000/streamsuite/ingestor:0.1.0@sha256:" + "a" * 64,
        9102,
        "metrics",
    )
    migrate_pod = pod_spec(container("migrate", "streamsuite/ingestor:0.1.0", 9102, "metrics"))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        del migrate_pod["containers"][0][probe]  # a Job needs no probes
    migrate_pod["restartPolicy"] = "Never"
    return [
        (
            "web/deployment.yaml",
            web,
        ),
        (
            "web/service.yaml",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"{RELEASE}-web", "labels": labels("web")},
                "spec": {
                    "type": "ClusterIP",
                    "selector": selector("web"),
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                },
            },
        ),
        (
            "web/pdb.yaml",
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": f"{RELEASE}-web", "labels": labels("web")},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": selector("web")}},
            },
        ),
        (
            "web/hpa.yaml",
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": f"{RELEASE}-web", "labels": labels("web")},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": f"{RELEASE}-web",
                    },
                    "minReplicas": 2,
                    "maxReplicas": 4,
                },
            },
        ),
        (
            "web/networkpolicy.yaml",
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"{RELEASE}-web", "labels": labels("web")},
                "spec": {
                    "podSelector": {"matchLabels": selector("web")},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"ports": [{"port": "http", "protocol": "TCP"}]}],
                },
            },
        ),
        (
            "web/servicemonitor.yaml",
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "ServiceMonitor",
                "metadata": {"name": f"{RELEASE}-web", "labels": labels("web")},
                "spec": {
                    "selector": {"matchLabels": selector("web")},
                    "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
                },
            },
        ),
        ("ingestor/deployment.yaml", ingestor),
        (
            "ingestor/podmonitor.yaml",
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PodMonitor",
                "metadata": {"name": f"{RELEASE}-ingestor", "labels": labels("ingestor")},
                "spec": {
                    "selector": {"matchLabels": selector("ingestor")},
                    "podMetricsEndpoints": [{"port": "metrics"}],
                },
            },
        ),
        (
            "ingestor/migrate-job.yaml",
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": f"{RELEASE}-migrate", "labels": labels("migrate")},
                "spec": {
                    "backoffLimit": 3,
                    "template": {"metadata": {"labels": selector("migrate")}, "spec": migrate_pod},
                },
            },
        ),
        (
            "ingestor/configmap.yaml",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"{RELEASE}-ingestor", "labels": labels("ingestor")},
                "data": {"config.yaml": "KAFKA:\n  TOPIC: records\n"},
            },
        ),
        (
            "kafka/kafka.yaml",
            {
                "apiVersion": "kafka.strimzi.io/v1",
                "kind": "Kafka",
                "metadata": {"name": f"{RELEASE}-kafka", "labels": labels("kafka")},
                "spec": {
                    "kafka": {
                        "version": "4.3.1",
                        "listeners": [
                            {
                                "name": "tls",
                                "port": 9093,
                                "type": "internal",
                                "tls": True,
                                "authentication": {"type": "scram-sha-512"},
                            }
                        ],
                        "config": {"offsets.topic.replication.factor": 1},
                    },
                    "entityOperator": {"topicOperator": {}, "userOperator": {}},
                },
            },
        ),
        (
            "kafka/nodepool.yaml",
            {
                "apiVersion": "kafka.strimzi.io/v1",
                "kind": "KafkaNodePool",
                "metadata": {
                    "name": "dual",
                    "labels": {**labels("kafka"), "strimzi.io/cluster": f"{RELEASE}-kafka"},
                },
                "spec": {
                    "replicas": 1,
                    "roles": ["controller", "broker"],
                    "storage": {
                        "type": "jbod",
                        "volumes": [
                            {
                                "id": 0,
                                "type": "persistent-claim",
                                "size": "1Gi",
                                "kraftMetadata": "shared",
                            }
                        ],
                    },
                    "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}},
                },
            },
        ),
        (
            "kafka/podmonitor.yaml",
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PodMonitor",
                "metadata": {"name": f"{RELEASE}-kafka", "labels": labels("kafka")},
                "spec": {
                    "selector": {"matchLabels": {"strimzi.io/kind": "Kafka"}},
                    "podMetricsEndpoints": [{"port": "tcp-prometheus"}],
                },
            },
        ),
        (
            "kafka/topic.yaml",
            {
                "apiVersion": "kafka.strimzi.io/v1",
                "kind": "KafkaTopic",
                "metadata": {
                    "name": "records",
                    "labels": {**labels("kafka"), "strimzi.io/cluster": f"{RELEASE}-kafka"},
                },
                "spec": {"partitions": 3, "replicas": 1, "config": {"retention.ms": 604800000}},
            },
        ),
    ]


class Sample:
    """The render as a list of Manifests, with a way to reach one object to break it."""

    def __init__(self) -> None:
        self.manifests = [
            Manifest(source=f"streamsuite/templates/{template}", obj=copy.deepcopy(obj))
            for template, obj in sample_objects()
        ]

    def get(self, kind: str, name: str) -> Manifest:
        for manifest in self.manifests:
            if manifest.kind == kind and manifest.name == name:
                return manifest
        raise KeyError(f"{kind}/{name}")

    def obj(self, kind: str, name: str) -> dict[str, Any]:
        return self.get(kind, name).obj

    def add(self, template: str, obj: dict[str, Any]) -> Manifest:
        manifest = Manifest(source=f"streamsuite/templates/{template}", obj=obj)
        self.manifests.append(manifest)
        return manifest


@pytest.fixture
def sample() -> Sample:
    return Sample()


@pytest.fixture(scope="session")
def crd_schemas() -> CrdSchemas:
    """The Strimzi and Prometheus Operator CRDs kept beside the checkout (../shared/k8s-crds)."""
    return load_crd_schemas()
