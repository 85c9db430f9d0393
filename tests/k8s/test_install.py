"""The release as `helm install` left it: every pod Ready, running as the chart says, Service
names resolving through the cluster's DNS, `helm test` passing, and the README's port-forward
commands (which the driver runs as written) answering."""

from __future__ import annotations

from devstack.testing import http_get


def test_every_service_has_one_ready_pod(cluster):
    for component in cluster.components:
        pods = cluster.pods(component)
        assert len(pods) == 1, f"{component}: {[p['metadata']['name'] for p in pods]}"
        conditions = {c["type"]: c["status"] for c in pods[0]["status"]["conditions"]}
        assert conditions["Ready"] == "True", f"{component}: {conditions}"


def test_pods_run_as_the_app_user_on_a_read_only_root(cluster):
    for component in cluster.components:
        pod = cluster.running_pod(component)
        assert cluster.run("exec", pod, "--", "id", "-u").strip() == "10001", component
        touched = cluster.kubectl.run("-n", cluster.namespace, "exec", pod, "--", "touch", "/x",
                                      check=False)  # fmt: skip
        assert "Read-only file system" in touched.stderr, f"{component}: {touched.stderr}"


def test_service_names_resolve_through_cluster_dns(cluster):
    service = cluster.get("service", f"{cluster.release}-web")
    resolved = cluster.run(
        "exec", cluster.running_pod("query-api"), "--", "python", "-c",
        f"import socket; print(socket.gethostbyname('{cluster.release}-web'))",
    )  # fmt: skip
    assert resolved.strip() == service["spec"]["clusterIP"]


def test_helm_test_passes(cluster):
    result = cluster.helm.run("test", cluster.release, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Phase:          Succeeded" in result.stdout, result.stdout
    # A passed test pod is deleted, so nothing of it outlives `helm uninstall`.
    assert not cluster.pods("test")


def test_the_readme_port_forwards_answer(target):
    assert http_get(f"{target.web}/healthz")[0] == 200
    status, content_type, _ = target.get(f"{target.web}/")
    assert (status, content_type.split(";")[0]) == (200, "text/html")
    assert http_get(f"{target.api}/docs")[0] == 200
    assert http_get(f"{target.api}/api/v1/stats")[0] == 401  # authentication is on
    assert target.get(f"{target.api}/api/v1/stats")[0] == 200
