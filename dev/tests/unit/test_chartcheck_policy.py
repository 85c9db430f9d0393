"""policy: the chart's conventions on the rendered objects, one broken thing at a time."""

from typing import Any

import pytest

from devstack.chartcheck import policy
from devstack.chartcheck.findings import Finding

WEB = "Deployment/streamsuite-web (templates/web/deployment.yaml)"
WEB_SERVICE = "Service/streamsuite-web (templates/web/service.yaml)"


def web_container(sample) -> dict[str, Any]:
    return sample.obj("Deployment", "streamsuite-web")["spec"]["template"]["spec"]["containers"][0]


def messages(findings: list[Finding]) -> list[str]:
    return [f"{f.ref}: {f.message}" for f in findings]


def test_the_sample_render_follows_every_convention(sample) -> None:
    assert policy.check(sample.manifests) == []


# -- labels ---------------------------------------------------------------------------------


def test_missing_component_label_is_reported(sample) -> None:
    del sample.obj("Deployment", "streamsuite-web")["metadata"]["labels"][
        "app.kubernetes.io/component"
    ]
    assert policy.check_labels(sample.manifests) == [
        Finding(WEB, "labels", 'metadata.labels["app.kubernetes.io/component"] is missing')
    ]


@pytest.mark.parametrize("label", policy.REQUIRED_LABELS)
def test_every_object_needs_the_release_labels(sample, label: str) -> None:
    del sample.obj("ConfigMap", "streamsuite-ingestor")["metadata"]["labels"][label]
    assert messages(policy.check_labels(sample.manifests)) == [
        f"ConfigMap/streamsuite-ingestor (templates/ingestor/configmap.yaml):"
        f' metadata.labels["{label}"] is missing'
    ]


def test_a_pod_template_without_component_is_reported(sample) -> None:
    job = sample.obj("Job", "streamsuite-migrate")
    del job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
    assert messages(policy.check_labels(sample.manifests)) == [
        "Job/streamsuite-migrate (templates/ingestor/migrate-job.yaml):"
        ' spec.template.metadata.labels["app.kubernetes.io/component"] is missing'
    ]


def test_pod_template_component_must_match_the_workloads(sample) -> None:
    template = sample.obj("Deployment", "streamsuite-web")["spec"]["template"]
    template["metadata"]["labels"]["app.kubernetes.io/component"] = "api"
    found = messages(policy.check_labels(sample.manifests))
    assert found == [
        f"{WEB}: spec.template.metadata.labels[\"app.kubernetes.io/component\"] is 'api',"
        " the Deployment's own is 'web'"
    ]


# -- selectors ------------------------------------------------------------------------------


def test_workload_selector_must_be_a_subset_of_its_pod_labels(sample) -> None:
    web = sample.obj("Deployment", "streamsuite-web")
    web["spec"]["selector"]["matchLabels"]["tier"] = "front"
    [finding] = policy.check_selectors(sample.manifests)
    assert finding.ref == WEB
    assert finding.message.startswith("spec.selector (")
    assert "tier=front) does not match the pod template's labels" in finding.message


def test_service_selecting_nothing_is_reported(sample) -> None:
    service = sample.obj("Service", "streamsuite-web")
    service["spec"]["selector"]["app.kubernetes.io/component"] = "wbe"
    found = policy.check_selectors(sample.manifests)
    assert messages(found) == [
        f"{WEB_SERVICE}: spec.selector (app.kubernetes.io/name=streamsuite,"
        " app.kubernetes.io/instance=streamsuite, app.kubernetes.io/component=wbe)"
        " selects no pods in the render"
    ]


def test_pdb_selecting_nothing_is_reported(sample) -> None:
    pdb = sample.obj("PodDisruptionBudget", "streamsuite-web")
    pdb["spec"]["selector"] = {
        "matchExpressions": [
            {"key": "app.kubernetes.io/component", "operator": "In", "values": ["query-api"]}
        ]
    }
    [finding] = policy.check_selectors(sample.manifests)
    assert finding.ref == "PodDisruptionBudget/streamsuite-web (templates/web/pdb.yaml)"
    assert finding.message.endswith("selects no pods in the render")


def test_network_policy_selecting_nothing_is_reported(sample) -> None:
    policy_obj = sample.obj("NetworkPolicy", "streamsuite-web")
    policy_obj["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] = "other"
    [finding] = policy.check_selectors(sample.manifests)
    assert finding.message.startswith("spec.podSelector (")


def test_hpa_aiming_at_a_missing_workload_is_reported(sample) -> None:
    sample.obj("HorizontalPodAutoscaler", "streamsuite-web")["spec"]["scaleTargetRef"]["kind"] = (
        "StatefulSet"
    )
    assert [f.message for f in policy.check_selectors(sample.manifests)] == [
        "spec.scaleTargetRef StatefulSet/streamsuite-web is not in the render"
    ]


def test_service_monitor_must_select_a_service_and_name_its_port(sample) -> None:
    monitor = sample.obj("ServiceMonitor", "streamsuite-web")
    monitor["spec"]["endpoints"][0]["port"] = "metrics"
    assert [f.message for f in policy.check_monitors(sample.manifests)] == [
        "spec.endpoints[0].port 'metrics' is not a named port of Service/streamsuite-web"
    ]
    monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = "nothing"
    assert [f.message for f in policy.check_monitors(sample.manifests)] == [
        "spec.selector (app.kubernetes.io/name=streamsuite, app.kubernetes.io/instance=streamsuite,"
        " app.kubernetes.io/component=nothing) selects no Service in the render"
    ]


def test_pod_monitor_port_must_be_a_port_of_the_selected_pods(sample) -> None:
    monitor = sample.obj("PodMonitor", "streamsuite-ingestor")
    monitor["spec"]["podMetricsEndpoints"][0]["port"] = "http"
    assert [f.message for f in policy.check_monitors(sample.manifests)] == [
        "spec.podMetricsEndpoints[0].port 'http' is not a port of the selected pods (9102/metrics)"
    ]


def test_pod_monitor_on_strimzi_brokers_selects_the_operators_pods(sample) -> None:
    assert policy.check_monitors(sample.manifests) == []
    sample.manifests.remove(sample.get("KafkaNodePool", "dual"))
    sample.manifests.remove(sample.get("Kafka", "streamsuite-kafka"))
    assert [f.ref for f in policy.check_monitors(sample.manifests)] == [
        "PodMonitor/streamsuite-kafka (templates/kafka/podmonitor.yaml)"
    ]


# -- probes and ports -----------------------------------------------------------------------


def test_probe_on_undeclared_port_is_reported(sample) -> None:
    web_container(sample)["readinessProbe"]["httpGet"]["port"] = 9999
    assert messages(policy.check_probes(sample.manifests)) == [
        f"{WEB}: containers[web].readinessProbe.httpGet.port 9999 is not a port of the container"
        " (8080/http)"
    ]


def test_probe_on_a_port_number_the_container_declares_passes(sample) -> None:
    web_container(sample)["readinessProbe"]["httpGet"]["port"] = 8080
    web_container(sample)["livenessProbe"] = {"tcpSocket": {"port": "http"}}
    assert [f.message for f in policy.check_probes(sample.manifests)] == [
        "containers[web].livenessProbe must be an httpGet on /healthz"
    ]


@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe", "startupProbe"])
def test_long_running_containers_need_every_probe(sample, probe: str) -> None:
    del web_container(sample)[probe]
    assert messages(policy.check_probes(sample.manifests)) == [
        f"{WEB}: containers[web].{probe} is missing"
    ]


def test_jobs_need_no_probes(sample) -> None:
    job = sample.obj("Job", "streamsuite-migrate")
    assert "livenessProbe" not in job["spec"]["template"]["spec"]["containers"][0]
    assert policy.check_probes(sample.manifests) == []


def test_our_services_answer_healthz_and_readyz(sample) -> None:
    web_container(sample)["livenessProbe"]["httpGet"]["path"] = "/health"
    web_container(sample)["readinessProbe"]["httpGet"]["path"] = "/healthz"
    assert [f.message for f in policy.check_probes(sample.manifests)] == [
        "containers[web].livenessProbe.httpGet.path is '/health': our services answer /healthz",
        "containers[web].readinessProbe.httpGet.path is '/healthz': our services answer /readyz",
    ]


def test_other_images_may_use_other_health_paths(sample) -> None:
    web_container(sample)["image"] = "docker.io/library/nginx:1.27"
    web_container(sample)["livenessProbe"]["httpGet"]["path"] = "/"
    assert policy.check_probes(sample.manifests) == []


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("streamsuite/web", "streamsuite/web"),
        ("streamsuite/web:0.1.0", "streamsuite/web"),
        ("registry.local:5000/streamsuite/web:dev", "registry.local:5000/streamsuite/web"),
        ("ghcr.io/acme/streamsuite/web@sha256:abc", "ghcr.io/acme/streamsuite/web"),
    ],
)
def test_image_repository_drops_tag_and_digest(image: str, repository: str) -> None:
    assert policy.image_repository(image) == repository
    assert policy.OUR_IMAGE.search(policy.image_repository(image))


def test_service_target_port_must_be_a_port_of_the_selected_pods(sample) -> None:
    sample.obj("Service", "streamsuite-web")["spec"]["ports"][0]["targetPort"] = "web"
    assert messages(policy.check_service_ports(sample.manifests)) == [
        f"{WEB_SERVICE}: spec.ports[0].targetPort web is not a port of"
        " Deployment/streamsuite-web's pods (8080/http)"
    ]


def test_service_port_without_target_port_uses_its_own_number(sample) -> None:
    del sample.obj("Service", "streamsuite-web")["spec"]["ports"][0]["targetPort"]
    assert [f.message for f in policy.check_service_ports(sample.manifests)] == [
        "spec.ports[0].targetPort 80 is not a port of Deployment/streamsuite-web's pods (8080/http)"
    ]
    sample.obj("Service", "streamsuite-web")["spec"]["ports"][0]["port"] = 8080
    assert policy.check_service_ports(sample.manifests) == []


# -- security and resources -----------------------------------------------------------------


def test_pod_without_run_as_non_root_or_seccomp_is_reported(sample) -> None:
    job = sample.obj("Job", "streamsuite-migrate")
    job["spec"]["template"]["spec"]["securityContext"] = {"runAsUser": 0}
    assert [f.message for f in policy.check_security(sample.manifests)] == [
        "spec.template.spec.securityContext.runAsNonRoot must be true",
        "spec.template.spec.securityContext.seccompProfile.type must be RuntimeDefault",
    ]


def test_container_hardening_is_reported_field_by_field(sample) -> None:
    web_container(sample)["securityContext"] = {
        "allowPrivilegeEscalation": True,
        "capabilities": {"drop": ["NET_RAW"]},
        "privileged": True,
    }
    assert [f.message for f in policy.check_security(sample.manifests)] == [
        "containers[web].securityContext.allowPrivilegeEscalation must be false",
        "containers[web].securityContext.readOnlyRootFilesystem must be true",
        "containers[web].securityContext.capabilities.drop must contain ALL",
        "containers[web].securityContext.privileged must not be true",
    ]


def test_init_containers_are_hardened_too(sample) -> None:
    pod = sample.obj("Deployment", "streamsuite-web")["spec"]["template"]["spec"]
    pod["initContainers"] = [{"name": "wait", "image": "busybox", "resources": {}}]
    assert [f.message for f in policy.check_security(sample.manifests)] == [
        "initContainers[wait].securityContext.allowPrivilegeEscalation must be false",
        "initContainers[wait].securityContext.readOnlyRootFilesystem must be true",
        "initContainers[wait].securityContext.capabilities.drop must contain ALL",
    ]
    assert [f.message for f in policy.check_resources(sample.manifests)] == [
        "initContainers[wait].resources.requests.cpu is missing",
        "initContainers[wait].resources.requests.memory is missing",
    ]


def test_container_without_memory_request_is_reported(sample) -> None:
    del web_container(sample)["resources"]["requests"]["memory"]
    assert messages(policy.check_resources(sample.manifests)) == [
        f"{WEB}: containers[web].resources.requests.memory is missing"
    ]


def test_bare_pods_are_checked_like_pod_templates(sample) -> None:
    template = sample.obj("Job", "streamsuite-migrate")["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "streamsuite-test", "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }
    sample.add("tests/test-connection.yaml", pod)
    assert messages(policy.check(sample.manifests)) == [
        "Pod/streamsuite-test (templates/tests/test-connection.yaml):"
        ' metadata.labels["app.kubernetes.io/managed-by"] is missing',
        "Pod/streamsuite-test (templates/tests/test-connection.yaml):"
        ' metadata.labels["helm.sh/chart"] is missing',
        "Pod/streamsuite-test (templates/tests/test-connection.yaml):"
        ' metadata.labels["app.kubernetes.io/part-of"] is missing',
    ]
    pod["spec"] = {**pod["spec"], "securityContext": {}}
    assert "spec.securityContext.runAsNonRoot must be true" in [
        f.message for f in policy.check_security(sample.manifests)
    ]


# -- network policies -----------------------------------------------------------------------


def test_network_policy_needs_policy_types_and_a_pod_selector(sample) -> None:
    spec = sample.obj("NetworkPolicy", "streamsuite-web")["spec"]
    del spec["policyTypes"]
    spec["podSelector"] = {}
    assert [f.message for f in policy.check_network_policies(sample.manifests)] == [
        "spec.policyTypes is missing: list Ingress and/or Egress",
        "spec.podSelector is empty: it would select every pod in the namespace",
    ]
