"""Who may reach Kafka and PostgreSQL, and when the chart creates Prometheus monitors."""

from __future__ import annotations

import json

import pytest

from devstack.chartcheck.pods import selector_matches

from .conftest import CHART, MONITORING_API, SERVICES, component, objects, one, render


def pod_labels(manifests):
    """component → pod template labels of every workload (and the migration Job)."""
    return {
        component(w): w["spec"]["template"]["metadata"]["labels"]
        for kind in ("Deployment", "StatefulSet", "Job")
        for w in objects(manifests, kind)
    }


def allowed(peers, labels):
    return {
        name
        for name, pod in labels.items()
        if any(selector_matches(peer["podSelector"], pod) for peer in peers)
    }


def test_only_ingestor_query_api_web_and_migrations_reach_postgresql():
    manifests = render("ci/production-values.yaml", set_values={"migrations.enabled": "true"})
    labels = pod_labels(manifests)
    policy = one(manifests, "NetworkPolicy", "streamsuite-postgresql")["spec"]
    assert selector_matches(policy["podSelector"], labels["postgresql"])
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": "postgresql", "protocol": "TCP"}]
    assert allowed(rule["from"], labels) == {"ingestor", "query-api", "web", "migrations"}


def test_only_publisher_ingestor_and_web_reach_the_kafka_listener():
    manifests = render()
    (listener,) = one(manifests, "Kafka", "streamsuite")["spec"]["kafka"]["listeners"]
    assert allowed(listener["networkPolicyPeers"], pod_labels(manifests)) == {
        "publisher",
        "ingestor",
        "web",
    }


def test_network_policies_can_be_turned_off():
    manifests = render(set_values={"networkPolicy.enabled": "false"})
    assert objects(manifests, "NetworkPolicy") == []
    (listener,) = one(manifests, "Kafka", "streamsuite")["spec"]["kafka"]["listeners"]
    assert "networkPolicyPeers" not in listener


@pytest.mark.parametrize(
    ("enabled", "apis", "expected"),
    [
        ("auto", [], False),
        ("auto", [MONITORING_API], True),
        ("true", [], True),
        ("false", [MONITORING_API], False),
    ],
)
def test_monitors_exist_when_asked_or_when_the_api_does(enabled, apis, expected):
    manifests = render(set_values={"monitoring.enabled": enabled}, api_versions=apis)
    monitors = objects(manifests, "ServiceMonitor")
    assert bool(monitors) is expected
    assert bool(objects(manifests, "PodMonitor")) is expected
    if expected:
        assert {component(m) for m in monitors} == set(SERVICES)


def test_service_monitors_scrape_the_metrics_port_of_each_service():
    manifests = render("ci/monitoring-values.yaml", api_versions=[MONITORING_API])
    for service in SERVICES:
        monitor = one(manifests, "ServiceMonitor", f"streamsuite-{service}")
        assert monitor["metadata"]["labels"]["release"] == "monitoring"
        target = one(manifests, "Service", f"streamsuite-{service}")
        assert selector_matches(monitor["spec"]["selector"], target["metadata"]["labels"])
        assert monitor["spec"]["endpoints"] == [
            {"port": "http", "path": "/metrics", "interval": "15s"}
        ]
    kafka = one(manifests, "PodMonitor", "streamsuite-kafka")
    assert kafka["spec"]["podMetricsEndpoints"][0]["port"] == "tcp-prometheus"
    metrics = one(manifests, "Kafka", "streamsuite")["spec"]["kafka"]["metricsConfig"]
    assert metrics["type"] == "strimziMetricsReporter"


def test_grafana_dashboards_ship_as_config_maps_for_the_sidecar():
    dashboards = sorted((CHART / "dashboards").glob("*.json"))
    assert dashboards
    maps = {m["metadata"]["name"]: m for m in objects(render(), "ConfigMap")}
    for path in dashboards:
        config_map = maps[f"streamsuite-dashboard-{path.stem}"]
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        shipped = json.loads(config_map["data"][path.name])
        assert shipped == json.loads(path.read_text())
        assert shipped["uid"]
        assert shipped["panels"]
    off = render(set_values={"monitoring.dashboards.enabled": "false"})
    assert not [m for m in objects(off, "ConfigMap") if "dashboard" in m["metadata"]["name"]]


def test_a_release_without_alert_values_still_renders():
    """`helm upgrade --reuse-values` from a chart that had no monitoring.rules keeps the old
    values: the chart renders (without the rule) instead of failing on a nil pointer."""
    manifests = render(
        set_values={"monitoring.rules": "null"}, api_versions=["monitoring.coreos.com/v1"]
    )
    assert not [m for m in manifests if m.kind == "PrometheusRule"]
    assert [m for m in manifests if m.kind == "ServiceMonitor"]
