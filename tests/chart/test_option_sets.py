"""Every documented option set renders, and every object passes its strict schema and the
chart's conventions on Kubernetes 1.31 and 1.34; Helm 4 renders what Helm 3 renders."""

from __future__ import annotations

import os

import pytest
import yaml

from devstack.chartcheck import cli, helm
from devstack.chartcheck.manifests import parse_manifests

from .conftest import CHART, MONITORING_API, OPTION_SETS, objects, render


@pytest.mark.parametrize("kube_version", ["1.31", "1.34"])
@pytest.mark.parametrize("option_set", OPTION_SETS)
def test_option_set_passes_strict_schemas_and_policy(option_set, kube_version, crds):
    apis = [MONITORING_API] if "monitoring" in option_set else []
    manifests = render(option_set, api_versions=apis)
    findings = cli.check_manifests(manifests, kube_versions=(kube_version,), crds=crds)
    assert [str(f) for f in findings] == []


def test_every_documented_option_set_is_checked():
    # The list: auth on/off, external Kafka, external PostgreSQL, monitoring, ingress.
    for name in ("auth-off", "external-kafka", "external-postgresql", "monitoring", "ingress"):
        assert f"ci/{name}-values.yaml" in OPTION_SETS


def test_default_install_renders_kafka_postgresql_and_the_four_services():
    manifests = render()
    kinds = {m.obj["kind"] for m in manifests}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "StatefulSet"} <= kinds
    names = {o["metadata"]["name"] for o in objects(manifests, "Deployment")}
    assert names == {f"streamsuite-{s}" for s in ("publisher", "ingestor", "query-api", "web")}


def _canonical(text: str) -> list[str]:
    return sorted(yaml.safe_dump(m.obj, sort_keys=True) for m in parse_manifests(text))


@pytest.mark.parametrize("option_set", ["default", "ci/production-values.yaml"])
def test_helm4_renders_the_same_objects_as_helm3(option_set, monkeypatch):
    helm4 = os.environ.get("HELM4")
    assert helm4, "HELM4 names the Helm 4 binary (make chart-test sets it)"
    values = () if option_set == "default" else (CHART / option_set,)
    # Random values (the generated Secret) differ between any two renders: fix them by value.
    fixed = {"existingSecret": "streamsuite-secrets"}
    three = helm.template(CHART, values_files=values, set_values=fixed, kube_version="v1.34.0")
    monkeypatch.setenv("HELM", helm4)
    four = helm.template(CHART, values_files=values, set_values=fixed, kube_version="v1.34.0")
    assert _canonical(four) == _canonical(three)
    monkeypatch.setenv("HELM", helm4)
    helm.lint(CHART, values)
