"""The chart installed on the node as a release: its values for the e2e run (external Kafka
and PostgreSQL on the host, images from the node's containerd), the Secrets those values name,
waiting for its pods with an early, specific failure, and what to print when something fails."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from devstack.kube.kubectl import Kubectl
from devstack.procs import StackError

KAFKA_CLIENTS = ("publisher", "ingestor", "web")
AUTH_SECRET = "e2e-auth"  # noqa: S105 - the name of the Secret holding the HS256 secret
VALUES_KEYS = {"publisher": "publisher", "ingestor": "ingestor", "queryApi": "query-api",
               "web": "web"}  # fmt: skip
# Waiting reasons no amount of waiting cures: fail at once, with the pod's own message.
FATAL_REASONS = {
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "ErrImageNeverPull",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "RunContainerError",
}


def e2e_values(
    *,
    kafka_bootstrap: str,
    pg_host: str,
    pg_port: int,
    database: str,
    writer: str,
    reader: str,
    image_tag: str,
) -> dict[str, Any]:
    """The chart's external-Kafka and external-PostgreSQL options pointed at the local stack,
    SCRAM users as the chart's KafkaUsers would be, the stack's token secret, and the images
    `make images` built (Podman names them localhost/streamsuite/...; the node never pulls)."""
    values: dict[str, Any] = {
        "image": {"registry": "localhost", "tag": image_tag, "pullPolicy": "Never"},
        "kafka": {
            "create": False,
            "external": {
                "bootstrapServers": kafka_bootstrap,
                "securityProtocol": "SASL_PLAINTEXT",
                "saslMechanism": "SCRAM-SHA-512",
                "users": {
                    c: {
                        "username": f"streamsuite-{c}",
                        "passwordSecret": {"name": f"e2e-kafka-{c}", "key": "password"},
                    }
                    for c in KAFKA_CLIENTS
                },
            },
        },
        "postgresql": {
            "create": False,
            "database": database,
            "writerUser": writer,
            "readerUser": reader,
            "sslmode": "disable",
            "external": {
                "host": pg_host,
                "port": pg_port,
                "writerPasswordSecret": {"name": "e2e-db-writer", "key": "password"},
                "readerPasswordSecret": {"name": "e2e-db-reader", "key": "password"},
            },
        },
    }
    # Tokens signed with the local stack's secret (as the suite's clients sign theirs).
    values["auth"] = {"jwt": {"existingSecret": AUTH_SECRET, "secretKey": "password"}}
    # The repositories `make images` names (whatever the chart's published defaults are).
    for key, service in VALUES_KEYS.items():
        values[key] = {"image": {"repository": f"streamsuite/{service}"}}
    return values


def secret(namespace: str, name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {"password": value},
    }


def host_volume(name: str, path: Path, size: str) -> dict[str, Any]:
    """A hostPath PersistentVolume without a class: what a claim binds to on a node that has no
    storage provisioner (the chart's claims name no class, and the node has no default one)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": str(path), "type": "Directory"},
        },
    }


class Helm:
    def __init__(self, binary: Path, kubectl: Kubectl, namespace: str, release: str):
        self.binary = binary
        self.kubectl = kubectl
        self.namespace = namespace
        self.release = release

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args, "--namespace", self.namespace], env=self.kubectl.env,
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def install(self, chart: Path, values: dict[str, Any], values_file: Path,
                extra: list[str], timeout_s: float) -> None:  # fmt: skip
        """`helm install`, watching the pods meanwhile (the migrations hook's too): a container
        in a state no waiting cures fails the install at once, with the pod's own message."""
        values_file.write_text(yaml.safe_dump(values, sort_keys=False))
        argv = [str(self.binary), "install", self.release, str(chart), "--namespace",
                self.namespace, "--create-namespace", "--values", str(values_file),
                "--timeout", f"{int(timeout_s)}s", *extra]  # fmt: skip
        with subprocess.Popen(argv, env=self.kubectl.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) as proc:  # fmt: skip
            while proc.poll() is None:
                fatal = fatal_states(pods(self.kubectl, self.namespace))
                if fatal:
                    proc.kill()
                    raise StackError("pods cannot start: " + "; ".join(fatal))
                time.sleep(1)
            if proc.returncode != 0:
                raise StackError(f"helm install: {proc.stderr.read().strip()}")


def pods(kubectl: Kubectl, namespace: str) -> list[dict[str, Any]]:
    return kubectl.get("pods", "-n", namespace)["items"]


def fatal_states(pod_list: list[dict[str, Any]]) -> list[str]:
    """`pod/container: reason: message` for containers stuck in a state waiting cannot cure."""
    found = []
    for pod in pod_list:
        for status in pod["status"].get("containerStatuses", []):
            waiting = status.get("state", {}).get("waiting") or {}
            if waiting.get("reason") in FATAL_REASONS:
                found.append(f"{pod['metadata']['name']}/{status['name']}: {waiting['reason']}: "
                             f"{waiting.get('message', '')}".strip())  # fmt: skip
    return found


def unready(pod_list: list[dict[str, Any]]) -> list[str]:
    """Names of the Deployments' pods that are not Ready (Jobs' and test pods are left out)."""
    names = []
    for pod in pod_list:
        owners = {o["kind"] for o in pod["metadata"].get("ownerReferences", [])}
        if "ReplicaSet" not in owners or pod["metadata"].get("deletionTimestamp"):
            continue
        conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        if conditions.get("Ready") != "True":
            names.append(pod["metadata"]["name"])
    return names


def wait_ready(kubectl: Kubectl, namespace: str, deployments: int, timeout_s: float) -> float:
    """Wait until every Deployment has all its pods Ready (and each has at least one); fail at
    once on a fatal container state, naming it. Returns the seconds it took."""
    started = time.monotonic()
    while True:
        current = pods(kubectl, namespace)
        fatal = fatal_states(current)
        if fatal:
            raise StackError("pods cannot start: " + "; ".join(fatal))
        rolled = kubectl.get("deployments", "-n", namespace)["items"]
        done = [
            d
            for d in rolled
            if d["status"].get("readyReplicas", 0) == d["spec"]["replicas"]
            and d["status"].get("updatedReplicas", 0) == d["spec"]["replicas"]
        ]
        if len(done) >= deployments and not unready(current):
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            waiting = unready(current)
            why = last_warnings(kubectl, namespace, waiting)
            raise StackError(f"pods not Ready after {timeout_s:g}s: " + "; ".join(
                f"{pod}: {why.get(pod, 'no warning event')}" for pod in waiting))  # fmt: skip
        time.sleep(1)


def last_warnings(kubectl: Kubectl, namespace: str, names: list[str]) -> dict[str, str]:
    """The newest Warning event of each named pod, as `Reason: message` (the kubelet's words:
    a failing probe, a missing Secret key, ...)."""
    events = kubectl.get("events", "-n", namespace, "--field-selector", "type=Warning")["items"]
    newest: dict[str, tuple[str, str]] = {}
    for event in events:
        pod = event["involvedObject"].get("name", "")
        stamp = event.get("lastTimestamp") or event.get("eventTime") or ""
        if pod in names and stamp >= newest.get(pod, ("", ""))[0]:
            newest[pod] = (stamp, f"{event['reason']}: {event.get('message', '').strip()}")
    return {pod: text for pod, (_, text) in newest.items()}


def pod_table(kubectl: Kubectl, namespace: str) -> str:
    return kubectl.run("get", "pods", "-n", namespace, "-o", "wide", check=False).stdout


def diagnostics(kubectl: Kubectl, namespaces: list[str]) -> str:
    """Events, `describe` and current + previous logs of every pod: what a person needs to
    see why a pod did not come up."""
    out = []

    def section(title: str, *args: str) -> None:
        result = kubectl.run(*args, check=False, timeout=60)
        out.append(f"===== {title}\n{(result.stdout + result.stderr).rstrip()}")

    section("nodes", "get", "nodes", "-o", "wide")
    section("events", "get", "events", "-A", "--sort-by=.lastTimestamp")
    for namespace in namespaces:
        section(f"pods in {namespace}", "get", "pods", "-n", namespace, "-o", "wide")
        for pod in pods(kubectl, namespace):
            name = pod["metadata"]["name"]
            section(f"describe pod {namespace}/{name}", "describe", "pod", "-n", namespace, name)
            for container in pod["spec"]["containers"]:
                for previous in ("", "--previous"):
                    args = ["logs", "-n", namespace, name, "-c", container["name"], "--tail=80"]
                    label = "previous logs" if previous else "logs"
                    section(f"{label} {namespace}/{name}/{container['name']}",
                            *args, *([previous] if previous else []))  # fmt: skip
    return "\n".join(out)
