"""The pods: security context, probes, ports, config rolls, the publisher's inbox."""

from __future__ import annotations

import pytest

from .conftest import OPTION_SETS, SERVICES, component, objects, one, pod_specs, render


@pytest.mark.parametrize("option_set", OPTION_SETS)
def test_every_pod_runs_non_root_read_only_without_capabilities(option_set):
    specs = list(pod_specs(render(option_set)))
    assert specs
    for ref, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, ref
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, ref
        assert spec["automountServiceAccountToken"] is False, ref
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, ref
            assert sc["allowPrivilegeEscalation"] is False, ref
            assert sc["capabilities"]["drop"] == ["ALL"], ref


def test_service_pods_run_as_the_image_user():
    for ref, spec in pod_specs(render()):
        if "postgresql" not in ref:
            assert spec["securityContext"]["runAsUser"] == 10001, ref


@pytest.mark.parametrize("service", SERVICES)
def test_liveness_is_the_process_readiness_the_dependencies(service):
    deployment = one(render(), "Deployment", f"streamsuite-{service}")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (port,) = container["ports"]
    assert port["name"] == "http"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service_obj = one(render(), "Service", f"streamsuite-{service}")
    assert service_obj["spec"]["ports"][0]["targetPort"] == "http"
    assert service_obj["spec"]["ports"][0]["port"] == port["containerPort"]


def test_probes_are_overridable():
    manifests = render(set_values={"web.livenessProbe.periodSeconds": "42"})
    (container,) = one(manifests, "Deployment", "streamsuite-web")["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["livenessProbe"]["periodSeconds"] == 42


def _checksum(manifests, service):
    template = one(manifests, "Deployment", f"streamsuite-{service}")["spec"]["template"]
    return template["metadata"]["annotations"]["checksum/config"]


def test_a_config_change_rolls_only_that_service():
    before = render()
    after = render(set_values={"web.config.WEB.PAGE_SIZE": "100"})
    assert _checksum(after, "web") != _checksum(before, "web")
    for service in ("publisher", "ingestor", "query-api"):
        assert _checksum(after, service) == _checksum(before, service)


def test_publisher_inbox_is_a_kept_volume_and_the_pod_is_replaced_not_surged():
    manifests = render()
    deployment = one(manifests, "Deployment", "streamsuite-publisher")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    claim = volumes["inbox"]["persistentVolumeClaim"]["claimName"]
    pvc = one(manifests, "PersistentVolumeClaim", claim)
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["inbox"] == "/var/lib/streamsuite/inbox"


def test_image_tag_defaults_to_app_version_and_registry_prefixes_it():
    assert _images(render())["web"] == "ghcr.io/streamsuite/streamsuite-web:0.1.0"
    production = _images(render("ci/production-values.yaml"))
    assert production["web"] == "registry.example.com/streamsuite/streamsuite-web:0.1.0"
    tagged = _images(render(set_values={"image.tag": "dev", "ingestor.image.tag": "rc1"}))
    assert tagged["web"] == "ghcr.io/streamsuite/streamsuite-web:dev"
    assert tagged["ingestor"] == "ghcr.io/streamsuite/streamsuite-ingestor:rc1"
    bare = _images(render(set_values={"image.registry": ""}))
    assert bare["web"] == "streamsuite-web:0.1.0"


def _images(manifests):
    return {
        component(d): d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in objects(manifests, "Deployment")
    }


def test_autoscaled_services_leave_replicas_to_the_hpa():
    manifests = render("ci/production-values.yaml")
    hpas = {
        h["spec"]["scaleTargetRef"]["name"] for h in objects(manifests, "HorizontalPodAutoscaler")
    }
    assert hpas == {"streamsuite-query-api", "streamsuite-web"}
    for name in hpas:
        assert "replicas" not in one(manifests, "Deployment", name)["spec"]
    assert one(manifests, "Deployment", "streamsuite-ingestor")["spec"]["replicas"] == 2


def test_ingress_routes_to_the_service_port():
    manifests = render("ci/ingress-values.yaml")
    web = one(manifests, "Ingress", "streamsuite-web")
    assert web["spec"]["tls"] == [
        {"hosts": ["streamsuite.example.com"], "secretName": "streamsuite-tls"}
    ]
    backend = web["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "streamsuite-web", "port": {"name": "http"}}
    assert "tls" not in one(manifests, "Ingress", "streamsuite-query-api")["spec"]
    assert objects(render(), "Ingress") == []


@pytest.mark.parametrize("option_set", OPTION_SETS)
def test_hook_objects_are_deleted_once_their_hook_succeeded(option_set):
    """Helm never removes hook objects on uninstall: one that outlives a successful hook (the
    migrations ConfigMap, a passed test pod) would be left behind by `helm uninstall`."""
    annotations = [(m, m.obj["metadata"].get("annotations") or {}) for m in render(option_set)]
    hooks = [(m, a) for m, a in annotations if "helm.sh/hook" in a]
    assert hooks
    for manifest, annotation in hooks:
        policy = annotation.get("helm.sh/hook-delete-policy", "").split(",")
        assert "hook-succeeded" in policy, f"{manifest.kind}/{manifest.name}: {policy}"
