"""Who may talk to whom under the render's NetworkPolicies (Kubernetes semantics, one namespace).

A pod is isolated in a direction as soon as one policy of that type selects it; then only what
some such policy allows gets through, and a connection needs both the source's egress and the
target's ingress to allow it. ipBlock peers never match pods; a namespaceSelector matches when it
is empty or names the release namespace by ``kubernetes.io/metadata.name``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from devstack.chartcheck.manifests import Manifest
from devstack.chartcheck.pods import Pods, all_pods, as_dict, as_list, selector_matches

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def reachable(
    manifests: Sequence[Manifest],
    target_selector: Mapping[str, Any],
    port: int | str,
    *,
    namespace: str = "streamsuite",
) -> set[str]:
    """The components (``app.kubernetes.io/component``, else the owner's name) whose pods may
    open a connection to ``port`` (number or name) of the pods ``target_selector`` selects.

    ``target_selector`` is a LabelSelector or a plain label map (read as matchLabels).
    """
    selector = dict(target_selector)
    if not set(selector) & {"matchLabels", "matchExpressions"}:
        selector = {"matchLabels": selector}
    pods = all_pods(manifests)
    policies = [as_dict(m.obj.get("spec")) for m in manifests if m.kind == "NetworkPolicy"]
    targets = [p for p in pods if selector_matches(selector, p.labels)]
    found = set()
    for target in targets:
        number, name = _resolve(port, target)
        for source in pods:
            ingress = _allowed(policies, "Ingress", target, source, number, name, namespace)
            if ingress and _allowed(policies, "Egress", source, target, number, name, namespace):
                found.add(source.component)
    return found


def policy_types(spec: Mapping[str, Any]) -> list[str]:
    """``policyTypes`` as written, or as the API server defaults it."""
    if as_list(spec.get("policyTypes")):
        return [str(t) for t in spec["policyTypes"]]
    return ["Ingress", *(["Egress"] if "egress" in spec else [])]


def _resolve(port: int | str, target: Pods) -> tuple[int | None, str | None]:
    # A rule may name the port or number it: know both for the target's container port.
    for p in target.ports():
        if port in (p.get("containerPort"), p.get("name")):
            return p.get("containerPort"), p.get("name")
    return (port, None) if isinstance(port, int) else (None, port)


def _allowed(
    policies: Sequence[Mapping[str, Any]],
    direction: str,
    subject: Pods,
    peer: Pods,
    number: int | None,
    name: str | None,
    namespace: str,
) -> bool:
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    isolating = [
        spec
        for spec in policies
        if direction in policy_types(spec)
        and selector_matches(spec.get("podSelector"), subject.labels)
    ]
    if not isolating:
        return True
    for spec in isolating:
        for rule in as_list(spec.get(rules_key)):
            rule = as_dict(rule)
            if _ports_allow(rule.get("ports"), number, name) and _peers_allow(
                rule.get(peers_key), peer, namespace
            ):
                return True
    return False


def _ports_allow(ports: Any, number: int | None, name: str | None) -> bool:
    if not as_list(ports):
        return True  # no ports listed: every port
    for entry in as_list(ports):
        port = as_dict(entry).get("port")
        end = as_dict(entry).get("endPort")
        if port is None:
            return True
        if isinstance(port, str) and port == name:
            return True
        if isinstance(port, int) and number is not None:
            in_range = isinstance(end, int) and port <= number <= end
            if port == number or in_range:
                return True
    return False


def _peers_allow(peers: Any, pod: Pods, namespace: str) -> bool:
    if not as_list(peers):
        return True  # no peers listed: from/to everywhere
    for entry in as_list(peers):
        peer = as_dict(entry)
        if "ipBlock" in peer:
            continue
        if "namespaceSelector" in peer:
            namespaces = as_dict(peer["namespaceSelector"])
            ours = {NAMESPACE_NAME_LABEL: namespace}
            if namespaces and not selector_matches(namespaces, ours):
                continue
        if "podSelector" not in peer or selector_matches(peer["podSelector"], pod.labels):
            return True
    return False
