"""`make chart-test` catches the mistakes people make in charts: each test breaks a copy of the
chart the way a careless edit would and shows the check that fails on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devstack.chartcheck import cli, helm
from devstack.chartcheck.manifests import parse_manifests

from .conftest import CHART


@pytest.fixture
def chart_copy(tmp_path) -> Path:
    copy = tmp_path / "streamsuite"
    shutil.copytree(CHART, copy)
    return copy


def edit(chart: Path, template: str, old: str, new: str) -> None:
    path = chart / "templates" / template
    text = path.read_text()
    assert old in text, f"{template} no longer contains {old!r}: update this test"
    path.write_text(text.replace(old, new, 1))


def findings(chart: Path, crds) -> list[str]:
    manifests = parse_manifests(helm.template(chart, kube_version="v1.34.0"))
    return [str(f) for f in cli.check_manifests(manifests, kube_versions=("1.34",), crds=crds)]


def test_the_unbroken_copy_passes(chart_copy, crds):
    assert findings(chart_copy, crds) == []


def test_unknown_field_in_the_kafka_resource_fails(chart_copy, crds):
    edit(
        chart_copy,
        "kafka/kafka.yaml",
        "  entityOperator:\n",
        "  entityOperatr: {}\n  entityOperator:\n",
    )
    found = findings(chart_copy, crds)
    assert any("Kafka/streamsuite" in f and "entityOperatr" in f for f in found), found


def test_v1beta2_strimzi_resource_fails(chart_copy, crds):
    edit(chart_copy, "kafka/nodepool.yaml", "kafka.strimzi.io/v1\n", "kafka.strimzi.io/v1beta2\n")
    found = findings(chart_copy, crds)
    assert any("KafkaNodePool" in f and "v1beta2" in f for f in found), found


def test_wrong_probe_port_fails(chart_copy, crds):
    edit(
        chart_copy,
        "app/deployments.yaml",
        "            - name: http\n",
        "            - name: web\n",
    )
    found = findings(chart_copy, crds)
    assert any("Deployment/streamsuite-web" in f and "readinessProbe" in f for f in found), found
    assert any("Service/streamsuite-web" in f and "targetPort" in f for f in found), found


def test_missing_label_fails(chart_copy, crds):
    edit(chart_copy, "_helpers.tpl", "app.kubernetes.io/part-of: streamsuite\n", "")
    found = findings(chart_copy, crds)
    assert any("app.kubernetes.io/part-of" in f for f in found), found


def test_missing_component_label_on_pods_fails(chart_copy, crds):
    # The selector keeps the label; the pod template loses it: the Deployment selects nothing.
    edit(
        chart_copy,
        "app/deployments.yaml",
        '        {{- include "streamsuite.componentLabels" $ctx | nindent 8 }}',
        '        {{- include "streamsuite.labels" $root | nindent 8 }}',
    )
    found = findings(chart_copy, crds)
    assert any("Deployment/streamsuite-web" in f and "component" in f for f in found), found


def test_wrong_type_in_a_kubernetes_object_fails(chart_copy, crds):
    edit(chart_copy, "app/services.yaml", "      protocol: TCP\n", "      protocol: 6\n")
    found = findings(chart_copy, crds)
    assert any("Service/streamsuite-web" in f and "protocol" in f for f in found), found


def test_root_user_fails(chart_copy, crds):
    values = chart_copy / "values.yaml"
    values.write_text(
        values.read_text().replace("  runAsNonRoot: true\n", "  runAsNonRoot: false\n", 1)
    )
    found = findings(chart_copy, crds)
    assert any("runAsNonRoot" in f for f in found), found
