"""The chart installed into a real Kubernetes 1.34 API server (kube-apiserver + etcd, no nodes):
every object of every option set accepted by the server itself (its own validation, the CRDs'
structural schemas), `helm install` and `helm upgrade` with Helm 3 and Helm 4, the generated
passwords kept across an upgrade, `monitoring.enabled: auto` following the served APIs."""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from devstack.chartcheck import helm
from devstack.chartcheck.crds import DEFAULT_CRD_DIR
from devstack.kubeapi import KubeApiServer
from devstack.testing import wait_for

from ..conftest import CHART, MONITORING_API, OPTION_SETS, render


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[KubeApiServer]:
    server = KubeApiServer(tmp_path_factory.mktemp("kube")).start()
    try:
        install_crds(server)
        yield server
    finally:
        server.stop()


def install_crds(server: KubeApiServer) -> None:
    """The Strimzi 1.2.0 and Prometheus Operator CRDs, as their operators would install them."""
    names = []
    for path in sorted(Path(DEFAULT_CRD_DIR).rglob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        status, body = server.request(
            "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd
        )
        assert status == 201, (path.name, body)
        names.append(crd["metadata"]["name"])
    for name in names:
        server_wait(server, f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")


def server_wait(server: KubeApiServer, path: str) -> None:
    def established() -> bool:
        _, crd = server.request("GET", path)
        conditions = (crd.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    wait_for(established, what=f"{path} established", timeout_s=30)


def namespace(server: KubeApiServer, name: str) -> str:
    """A namespace with its default ServiceAccount (the controller-manager's job on a cluster)."""
    for path, kind, meta in (
        ("/api/v1/namespaces", "Namespace", {"name": name}),
        (f"/api/v1/namespaces/{name}/serviceaccounts", "ServiceAccount", {"name": "default"}),
    ):
        status, body = server.request(
            "POST", path, {"apiVersion": "v1", "kind": kind, "metadata": meta}
        )
        assert status in (201, 409), body
    return name


def slug(option_set: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", option_set.removeprefix("ci/").removesuffix("-values.yaml"))


@pytest.mark.parametrize("option_set", OPTION_SETS)
def test_every_object_is_accepted_by_the_api_server(cluster, option_set):
    ns = namespace(cluster, f"dry-{slug(option_set)}")
    refused = []
    for manifest in render(
        option_set, set_values={"migrations.enabled": "true"}, api_versions=[MONITORING_API]
    ):
        obj = dict(manifest.obj, metadata=dict(manifest.obj["metadata"], namespace=ns))
        status, body = cluster.request(
            "POST", cluster.collection(obj, ns) + "?dryRun=All&fieldValidation=Strict", obj
        )
        if status != 201:
            message = body.get("message") if isinstance(body, dict) else body
            refused.append(f"{manifest.ref}: {status} {message}")
    assert refused == []


def test_the_server_refuses_what_the_offline_checks_refuse(cluster):
    # The same mistake as test_deliberate_mistakes: the real server names it too.
    ns = namespace(cluster, "dry-mistake")
    (kafka,) = [m.obj for m in render() if m.obj["kind"] == "Kafka"]
    broken = dict(kafka, metadata={"name": "broken", "namespace": ns})
    broken["spec"] = dict(kafka["spec"], entityOperatr={})
    status, body = cluster.request(
        "POST", cluster.collection(broken, ns) + "?dryRun=All&fieldValidation=Strict", broken
    )
    assert status == 400
    assert "entityOperatr" in body["message"]


def secret_data(cluster: KubeApiServer, ns: str, name: str) -> dict[str, str]:
    status, secret = cluster.request("GET", f"/api/v1/namespaces/{ns}/secrets/{name}")
    assert status == 200, secret
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def helm_release(
    cluster, verb: str, ns: str, *extra: str, binary: str | None = None, chart: Path = CHART
) -> None:
    """`helm install` or `helm upgrade` of the chart as release "streamsuite" in ``ns``. Hooks
    are skipped: their Jobs would never run here (no nodes) and helm would wait for them."""
    args = [verb, "streamsuite", str(chart), "-n", ns, "--no-hooks", *extra]
    helm.run([*args, "--kubeconfig", str(cluster.kubeconfig)], what=f"helm {verb}", binary=binary)


GENERATED = "streamsuite-generated"


def test_helm_install_then_upgrade_keeps_the_generated_passwords(cluster):
    ns = namespace(cluster, "upgrade")
    helm_release(cluster, "install", ns)
    before = secret_data(cluster, ns, GENERATED)
    assert set(before) == {
        "cursor-secret",
        "postgres-password",
        "writer-password",
        "reader-password",
        "jwt-secret",  # auth's HS256 secret: kept too, or every token would stop working
    }
    helm_release(cluster, "upgrade", ns, "--set", "web.replicas=2")
    assert secret_data(cluster, ns, GENERATED) == before
    _, web = cluster.request("GET", f"/apis/apps/v1/namespaces/{ns}/deployments/streamsuite-web")
    assert web["spec"]["replicas"] == 2  # the upgrade itself went through


def test_monitors_are_created_because_the_server_serves_their_api(cluster):
    ns = namespace(cluster, "monitoring-auto")
    helm_release(cluster, "install", ns)
    path = f"/apis/monitoring.coreos.com/v1/namespaces/{ns}/servicemonitors"
    assert len(cluster.request("GET", path)[1]["items"]) == 4


def test_helm4_installs_and_upgrades_the_chart(cluster):
    helm4 = os.environ.get("HELM4")
    assert helm4, "HELM4 names the Helm 4 binary (make chart-test sets it)"
    ns = namespace(cluster, "helm4")
    helm_release(cluster, "install", ns, binary=helm4)
    before = secret_data(cluster, ns, GENERATED)
    helm_release(cluster, "upgrade", ns, binary=helm4)
    assert secret_data(cluster, ns, GENERATED) == before


def strimzi(cluster: KubeApiServer, ns: str, plural: str, name: str) -> dict:
    status, obj = cluster.request(
        "GET", f"/apis/kafka.strimzi.io/v1/namespaces/{ns}/{plural}/{name}"
    )
    assert status == 200, obj
    return obj


def test_more_kafka_nodes_on_upgrade_keep_the_replication_the_cluster_was_installed_with(cluster):
    # Raising min.insync.replicas to 2 over topics that keep one replica would stop every
    # produce: the upgrade reads the installed settings back and keeps them.
    ns = namespace(cluster, "replication")
    helm_release(cluster, "install", ns)
    helm_release(cluster, "upgrade", ns, "--set", "kafka.replicas=3")
    config = strimzi(cluster, ns, "kafkas", "streamsuite")["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 1
    assert config["min.insync.replicas"] == 1
    assert config["offsets.topic.replication.factor"] == 1
    topic = strimzi(cluster, ns, "kafkatopics", "streamsuite-records")["spec"]
    assert (topic["replicas"], topic["config"]["min.insync.replicas"]) == (1, 1)
    assert strimzi(cluster, ns, "kafkanodepools", "kafka")["spec"]["replicas"] == 3
    with pytest.raises(helm.HelmError) as refused:
        helm_release(
            cluster, "upgrade", ns, "--set", "kafka.replicas=3",
            "--set", "kafka.topics.records.replicas=3",
        )  # fmt: skip
    assert "has 1 replicas and cannot be changed to 3" in refused.value.message
    with pytest.raises(helm.HelmError) as refused:
        helm_release(cluster, "upgrade", ns, "--set", "kafka.config.min\\.insync\\.replicas=2")
    assert "__consumer_offsets" in refused.value.message


def test_an_upgrade_keeps_the_node_pool_an_older_chart_created(cluster, tmp_path):
    # Chart 0.1.0 named its pool <fullname>-dual-role: renaming it would replace every node.
    old = tmp_path / "streamsuite"
    shutil.copytree(CHART, old)
    pool = old / "templates" / "kafka" / "nodepool.yaml"
    pool.write_text(
        pool.read_text().replace(
            '{{ include "streamsuite.kafka.nodePool" . }}',
            '{{ include "streamsuite.fullname" . }}-dual-role',
        )
    )
    ns = namespace(cluster, "old-pool")
    helm_release(cluster, "install", ns, chart=old)
    helm_release(cluster, "upgrade", ns)
    _, pools = cluster.request("GET", f"/apis/kafka.strimzi.io/v1/namespaces/{ns}/kafkanodepools")
    assert [p["metadata"]["name"] for p in pools["items"]] == ["streamsuite-dual-role"]


def test_a_node_pool_name_taken_by_another_cluster_is_refused_naming_it(cluster):
    ns = namespace(cluster, "pool-taken")
    helm_release(cluster, "install", ns)
    args = ["install", "second", str(CHART), "-n", ns, "--no-hooks"]
    with pytest.raises(helm.HelmError) as refused:
        helm.run([*args, "--kubeconfig", str(cluster.kubeconfig)], what="helm install")
    assert 'the KafkaNodePool "kafka" in namespace pool-taken belongs to the Kafka cluster' in (
        refused.value.message
    )
