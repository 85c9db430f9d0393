"""The chart's own conventions, checked on the rendered objects (pure: list[Manifest] in,
findings out). Each check says which object and which field, in the words of the manifest."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from devstack.chartcheck.findings import Finding
from devstack.chartcheck.manifests import Manifest
from devstack.chartcheck.pods import (
    COMPONENT_LABEL,
    WORKLOAD_KINDS,
    Pods,
    all_pods,
    as_dict,
    as_list,
    container_ports,
    describe_ports,
    dig,
    is_empty_selector,
    labels_of,
    port_matches,
    selector_matches,
    workload_pods,
)

# Every object carries the labels `helm.sh/chart`-style charts put on everything, so that
# `kubectl get all -l app.kubernetes.io/instance=streamsuite` finds the whole release.
REQUIRED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
    "app.kubernetes.io/part-of",
)
# What pod templates need so that Services, PDBs and policies can tell the services apart.
POD_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", COMPONENT_LABEL)
LONG_RUNNING_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
# Our own images (…/streamsuite/<service>[:tag][@digest]) serve the DESIGN.md health endpoints.
OUR_IMAGE = re.compile(r"(?:^|/)streamsuite/[^/:@]+$")
HEALTH_PATHS = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}


def check(manifests: Sequence[Manifest]) -> list[Finding]:
    """Every policy check below, in order."""
    checks: list[Callable[[Sequence[Manifest]], list[Finding]]] = [
        check_labels,
        check_selectors,
        check_monitors,
        check_probes,
        check_service_ports,
        check_security,
        check_resources,
        check_network_policies,
    ]
    return [finding for run in checks for finding in run(manifests)]


def _label_path(key: str) -> str:
    return f'["{key}"]'


def check_labels(manifests: Sequence[Manifest]) -> list[Finding]:
    findings = []
    for m in manifests:
        labels = labels_of(m.obj)
        wanted = [*REQUIRED_LABELS]
        if m.kind in WORKLOAD_KINDS:
            wanted.append(COMPONENT_LABEL)
        for key in wanted:
            if not labels.get(key):
                findings.append(
                    Finding(m.ref, "labels", f"metadata.labels{_label_path(key)} is missing")
                )
        pods = workload_pods(m)
        if pods is None or m.kind == "Pod":
            continue
        for key in POD_LABELS:
            if not pods.labels.get(key):
                message = f"{pods.labels_path}{_label_path(key)} is missing"
                findings.append(Finding(m.ref, "labels", message))
        own, template = labels.get(COMPONENT_LABEL), pods.labels.get(COMPONENT_LABEL)
        if own and template and own != template:
            message = (
                f"{pods.labels_path}{_label_path(COMPONENT_LABEL)} is {template!r},"
                f" the {m.kind}'s own is {own!r}"
            )
            findings.append(Finding(m.ref, "labels", message))
    return findings


def _selected(pods: Iterable[Pods], selector: Any) -> list[Pods]:
    return [p for p in pods if selector_matches(selector, p.labels)]


def _show(selector: Any) -> str:
    selector = as_dict(selector)
    if set(selector) <= {"matchLabels"}:
        selector = as_dict(selector.get("matchLabels"))
    return ", ".join(f"{k}={v}" for k, v in selector.items()) if selector else "{}"


def check_selectors(manifests: Sequence[Manifest]) -> list[Finding]:
    """Workload selectors fit their own pods; Services, PDBs, NetworkPolicies and HPAs select
    something this render creates."""
    findings = []
    pods = all_pods(manifests)
    present = {(m.kind, m.name) for m in manifests}
    for m in manifests:
        spec = as_dict(m.obj.get("spec"))
        own = workload_pods(m)
        fits = own is None or m.kind == "Pod" or "selector" not in spec
        if not fits and not selector_matches(spec["selector"], own.labels):
            message = (
                f"spec.selector ({_show(spec['selector'])}) does not match the pod template's"
                f" labels ({_show(own.labels)})"
            )
            findings.append(Finding(m.ref, "selectors", message))
        if m.kind == "Service" and spec.get("selector"):
            if not _selected(pods, {"matchLabels": spec["selector"]}):
                message = f"spec.selector ({_show(spec['selector'])}) selects no pods in the render"
                findings.append(Finding(m.ref, "selectors", message))
        elif m.kind == "PodDisruptionBudget" and not _selected(pods, spec.get("selector")):
            message = f"spec.selector ({_show(spec.get('selector'))}) selects no pods in the render"
            findings.append(Finding(m.ref, "selectors", message))
        elif m.kind == "NetworkPolicy" and not is_empty_selector(spec.get("podSelector")):
            if not _selected(pods, spec.get("podSelector")):
                message = (
                    f"spec.podSelector ({_show(spec.get('podSelector'))}) selects no pods"
                    " in the render"
                )
                findings.append(Finding(m.ref, "selectors", message))
        elif m.kind == "HorizontalPodAutoscaler":
            target = as_dict(spec.get("scaleTargetRef"))
            if (target.get("kind"), target.get("name")) not in present:
                message = (
                    f"spec.scaleTargetRef {target.get('kind')}/{target.get('name')}"
                    " is not in the render"
                )
                findings.append(Finding(m.ref, "selectors", message))
    return findings


def check_monitors(manifests: Sequence[Manifest]) -> list[Finding]:
    """A ServiceMonitor selects a Service of the render and scrapes a named port of it; a
    PodMonitor selects pods of the render and scrapes one of their ports."""
    findings = []
    services = [m for m in manifests if m.kind == "Service"]
    pods = all_pods(manifests)
    for m in manifests:
        spec = as_dict(m.obj.get("spec"))
        if m.kind == "ServiceMonitor":
            selector = spec.get("selector")
            chosen = [s for s in services if selector_matches(selector, labels_of(s.obj))]
            if not chosen:
                message = f"spec.selector ({_show(spec.get('selector'))}) selects no Service"
                findings.append(Finding(m.ref, "selectors", message + " in the render"))
                continue
            for i, endpoint in enumerate(as_list(spec.get("endpoints"))):
                port = as_dict(endpoint).get("port")
                names = {
                    p.get("name") for s in chosen for p in as_list(dig(s.obj, "spec", "ports"))
                }
                if port is not None and port not in names:
                    message = (
                        f"spec.endpoints[{i}].port {port!r} is not a named port of"
                        f" {', '.join(f'Service/{s.name}' for s in chosen)}"
                    )
                    findings.append(Finding(m.ref, "ports", message))
        elif m.kind == "PodMonitor":
            chosen = _selected(pods, spec.get("selector"))
            if not chosen:
                message = f"spec.selector ({_show(spec.get('selector'))}) selects no pods"
                findings.append(Finding(m.ref, "selectors", message + " in the render"))
                continue
            known = [p for p in chosen if p.spec is not None]
            ports = [port for p in known for port in p.ports()]
            for i, endpoint in enumerate(as_list(spec.get("podMetricsEndpoints"))):
                endpoint = as_dict(endpoint)
                port = endpoint.get("port", endpoint.get("portNumber"))
                if known and port is not None and not port_matches(port, ports):
                    field = "port" if "port" in endpoint else "portNumber"
                    message = (
                        f"spec.podMetricsEndpoints[{i}].{field} {port!r} is not a port of the"
                        f" selected pods ({describe_ports(ports)})"
                    )
                    findings.append(Finding(m.ref, "ports", message))
    return findings


def check_probes(manifests: Sequence[Manifest]) -> list[Finding]:
    """Long-running containers have all three probes; every probe aims at a declared port; our
    services' liveness and readiness probes use /healthz and /readyz."""
    findings = []
    for m in manifests:
        pods = workload_pods(m)
        if pods is None:
            continue
        for label, container in pods.containers(init=False):
            if m.kind in LONG_RUNNING_KINDS:
                for probe in PROBES:
                    if not isinstance(container.get(probe), dict):
                        findings.append(Finding(m.ref, "probes", f"{label}.{probe} is missing"))
            ports = container_ports(container)
            for probe in PROBES:
                handler = as_dict(container.get(probe))
                for kind in ("httpGet", "tcpSocket", "grpc"):
                    if kind not in handler:
                        continue
                    port = as_dict(handler[kind]).get("port")
                    if not port_matches(port, ports):
                        message = (
                            f"{label}.{probe}.{kind}.port {port} is not a port of the container"
                            f" ({describe_ports(ports)})"
                        )
                        findings.append(Finding(m.ref, "probes", message))
            if not OUR_IMAGE.search(image_repository(str(container.get("image", "")))):
                continue
            for probe, path in HEALTH_PATHS.items():
                if probe not in container:
                    continue  # reported above for long-running kinds
                got = dig(container, probe, "httpGet", "path")
                if got != path:
                    message = (
                        f"{label}.{probe}.httpGet.path is {got!r}: our services answer {path}"
                        if got is not None
                        else f"{label}.{probe} must be an httpGet on {path}"
                    )
                    findings.append(Finding(m.ref, "probes", message))
    return findings


def image_repository(image: str) -> str:
    """``registry:5000/streamsuite/web:1.0@sha256:…`` -> ``registry:5000/streamsuite/web``."""
    image = image.split("@", 1)[0]
    slash = image.rfind("/")
    colon = image.rfind(":")
    return image[:colon] if colon > slash else image


def check_service_ports(manifests: Sequence[Manifest]) -> list[Finding]:
    """Each Service port's targetPort (number or name) is a port of every pod it selects."""
    findings = []
    pods = [p for p in all_pods(manifests) if p.spec is not None]
    for m in manifests:
        selector = dig(m.obj, "spec", "selector")
        if m.kind != "Service" or not selector:
            continue
        chosen = _selected(pods, {"matchLabels": selector})
        for i, service_port in enumerate(as_list(dig(m.obj, "spec", "ports"))):
            service_port = as_dict(service_port)
            target = service_port.get("targetPort", service_port.get("port"))
            for p in chosen:
                if not port_matches(target, p.ports()):
                    message = (
                        f"spec.ports[{i}].targetPort {target} is not a port of"
                        f" {p.owner.kind}/{p.owner.name}'s pods ({describe_ports(p.ports())})"
                    )
                    findings.append(Finding(m.ref, "ports", message))
    return findings


def check_security(manifests: Sequence[Manifest]) -> list[Finding]:
    """Pods run as non-root with the runtime's seccomp profile; containers cannot escalate,
    write their root filesystem or keep any capability."""
    findings = []
    for m in manifests:
        pods = workload_pods(m)
        if pods is None:
            continue
        context = as_dict(as_dict(pods.spec).get("securityContext"))
        where = f"{pods.spec_path}.securityContext"
        if context.get("runAsNonRoot") is not True:
            findings.append(Finding(m.ref, "security", f"{where}.runAsNonRoot must be true"))
        if dig(context, "seccompProfile", "type") != "RuntimeDefault":
            message = f"{where}.seccompProfile.type must be RuntimeDefault"
            findings.append(Finding(m.ref, "security", message))
        for label, container in pods.containers():
            sc = as_dict(container.get("securityContext"))
            wrong = []
            if sc.get("allowPrivilegeEscalation") is not False:
                wrong.append("allowPrivilegeEscalation must be false")
            if sc.get("readOnlyRootFilesystem") is not True:
                wrong.append("readOnlyRootFilesystem must be true")
            if "ALL" not in as_list(dig(sc, "capabilities", "drop")):
                wrong.append("capabilities.drop must contain ALL")
            if sc.get("privileged") is True:
                wrong.append("privileged must not be true")
            if sc.get("runAsNonRoot") is False:
                wrong.append("runAsNonRoot must not be false")
            findings += [Finding(m.ref, "security", f"{label}.securityContext.{w}") for w in wrong]
    return findings


def check_resources(manifests: Sequence[Manifest]) -> list[Finding]:
    """Every container asks for CPU and memory, so the scheduler can place it."""
    findings = []
    for m in manifests:
        pods = workload_pods(m)
        if pods is None:
            continue
        for label, container in pods.containers():
            requests = as_dict(dig(container, "resources", "requests"))
            for resource in ("cpu", "memory"):
                if requests.get(resource) in (None, ""):
                    message = f"{label}.resources.requests.{resource} is missing"
                    findings.append(Finding(m.ref, "resources", message))
    return findings


def check_network_policies(manifests: Sequence[Manifest]) -> list[Finding]:
    """Each NetworkPolicy says which directions it isolates and which pods it is about."""
    findings = []
    for m in manifests:
        if m.kind != "NetworkPolicy":
            continue
        spec = as_dict(m.obj.get("spec"))
        if not as_list(spec.get("policyTypes")):
            message = "spec.policyTypes is missing: list Ingress and/or Egress"
            findings.append(Finding(m.ref, "networkpolicy", message))
        if is_empty_selector(spec.get("podSelector")):
            message = "spec.podSelector is empty: it would select every pod in the namespace"
            findings.append(Finding(m.ref, "networkpolicy", message))
    return findings
