"""netpol.reachable: which components may connect to a port under the render's policies."""

from devstack.chartcheck.netpol import policy_types, reachable

WEB = {"app.kubernetes.io/component": "web"}
INGESTOR = {"app.kubernetes.io/component": "ingestor"}
EVERYONE = {
    "web",
    "ingestor",
    "migrate",
    "streamsuite-kafka-kafka",
    "streamsuite-kafka-entity-operator",
}


def test_without_policies_every_pod_reaches_every_port(sample) -> None:
    sample.manifests.remove(sample.get("NetworkPolicy", "streamsuite-web"))
    assert reachable(sample.manifests, WEB, 8080) == EVERYONE


def test_an_ingress_rule_on_a_named_port_allows_that_port_only(sample) -> None:
    assert reachable(sample.manifests, WEB, 8080) == EVERYONE
    assert reachable(sample.manifests, WEB, "http") == EVERYONE
    assert reachable(sample.manifests, WEB, 9090) == set()


def test_an_ingress_rule_with_peers_allows_only_those_pods(sample) -> None:
    rule = sample.obj("NetworkPolicy", "streamsuite-web")["spec"]["ingress"][0]
    rule["from"] = [{"podSelector": {"matchLabels": INGESTOR}}, {"ipBlock": {"cidr": "0.0.0.0/0"}}]
    assert reachable(sample.manifests, WEB, 8080) == {"ingestor"}


def test_a_namespace_selector_matches_only_the_release_namespace(sample) -> None:
    rule = sample.obj("NetworkPolicy", "streamsuite-web")["spec"]["ingress"][0]
    monitoring = {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    rule["from"] = [{"namespaceSelector": monitoring}]
    assert reachable(sample.manifests, WEB, 8080) == set()
    ours = {"matchLabels": {"kubernetes.io/metadata.name": "streamsuite"}}
    rule["from"] = [{"namespaceSelector": ours, "podSelector": {"matchLabels": INGESTOR}}]
    assert reachable(sample.manifests, WEB, 8080) == {"ingestor"}


def test_egress_isolation_of_the_source_counts_too(sample) -> None:
    sample.add(
        "ingestor/networkpolicy.yaml",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "streamsuite-ingestor"},
            "spec": {
                "podSelector": {"matchLabels": INGESTOR},
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"podSelector": {"matchLabels": {"strimzi.io/kind": "Kafka"}}}]}
                ],
            },
        },
    )
    assert reachable(sample.manifests, WEB, 8080) == EVERYONE - {"ingestor"}
    assert "ingestor" in reachable(sample.manifests, {"strimzi.io/kind": "Kafka"}, 9093)


def test_policy_types_default_like_the_api_server() -> None:
    assert policy_types({"podSelector": {}}) == ["Ingress"]
    assert policy_types({"egress": []}) == ["Ingress", "Egress"]
    assert policy_types({"policyTypes": ["Egress"]}) == ["Egress"]
