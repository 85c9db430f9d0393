"""The GitHub workflows (.github/) as a reviewer reads them: every step a developer can run
(make targets that exist, scripts under dev/), every action pinned by commit, read-only by
default, bounded in time; and the kind job's script, run dry, does what the issue lists."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
SERVICES = ["publisher", "ingestor", "query-api", "web"]
SHA_PIN = re.compile(r"^\s*-?\s*uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+\s*$")


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _steps(path: Path) -> list[dict[str, Any]]:
    doc = _load(path)
    if "runs" in doc:
        return doc["runs"]["steps"]
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z0-9-]+):", text, flags=re.MULTILINE))


def test_the_workflows_exist():
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "release.yml"}


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.parent.name + "/" + p.name)
def test_every_remote_action_is_pinned_by_commit_with_its_version(path):
    for line in path.read_text().splitlines():
        if re.match(r"^\s*-?\s*uses:", line) and "uses: ./" not in line:
            assert SHA_PIN.match(line), f"{path.name}: not pinned by commit + version: {line}"


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.parent.name + "/" + p.name)
def test_every_run_step_is_a_make_target_or_a_script_under_dev(path):
    targets = _make_targets()
    for step in _steps(path):
        if "run" not in step:
            continue
        (command,) = step["run"].strip().splitlines()  # one command per step, no inline logic
        argv = shlex.split(command)
        if argv[0] == "make":
            named = [a for a in argv[1:] if "=" not in a]
            assert named, command
            assert set(named) <= targets, f"{path.name}: no make target {set(named) - targets}"
        else:
            assert argv[:1] == ["bash"], f"{path.name}: '{command}' is neither make nor a script"
            assert argv[1].startswith("dev/"), command
            assert (ROOT / argv[1]).is_file(), command


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_read_only_by_default_bounded_and_grouped(path):
    doc = _load(path)
    assert doc["permissions"] == {"contents": "read"}
    assert doc["concurrency"]["group"]
    for name, job in doc["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 90, name
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name


def test_only_release_jobs_may_write_packages():
    ci = _load(ROOT / ".github" / "workflows" / "ci.yml")
    assert all("permissions" not in job for job in ci["jobs"].values())
    release = _load(ROOT / ".github" / "workflows" / "release.yml")
    for job in release["jobs"].values():
        assert job["permissions"] == {"contents": "read", "packages": "write"}


def test_ci_runs_each_check_a_developer_runs():
    ci = _load(ROOT / ".github" / "workflows" / "ci.yml")
    commands = {
        step["run"] for job in ci["jobs"].values() for step in job["steps"] if "run" in step
    }
    for target in ("lint", "unit", "integration", "chart-test", "images container-test"):
        assert f"make {target}" in commands, target
    kind = ci["jobs"]["kind-e2e"]
    assert kind["strategy"]["matrix"]["kubernetes"] == ["1.31", "1.34"]
    (run,) = [s for s in kind["steps"] if s.get("run") == "make kind-e2e"]
    assert run["env"] == {"K8S": "${{ matrix.kubernetes }}"}
    assert ci["jobs"]["images"]["strategy"]["matrix"]["service"] == SERVICES


def test_release_pushes_multi_arch_images_with_sbom_and_provenance_then_the_chart():
    release = _load(ROOT / ".github" / "workflows" / "release.yml")
    assert release[True]["push"]["tags"]  # PyYAML reads the key `on` as True
    images = release["jobs"]["images"]
    assert images["strategy"]["matrix"]["service"] == SERVICES
    meta = next(s for s in images["steps"] if s.get("id") == "meta")
    assert meta["with"]["images"] == (
        "ghcr.io/${{ github.repository_owner }}/streamsuite-${{ matrix.service }}"
    )
    build = next(s for s in images["steps"] if "build-push-action" in s.get("uses", ""))
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert (build["with"]["push"], build["with"]["sbom"]) == (True, True)
    assert build["with"]["provenance"] == "mode=max"
    chart = release["jobs"]["chart"]
    assert chart["needs"] == "images"
    assert chart["steps"][-1]["run"].startswith("make chart-release ")


# The tools by their bare names (make exports HELM as a path) and Docker, whatever the caller has.
TOOLS = {"DRY_RUN": "1", "KIND": "kind", "HELM": "helm", "KUBECTL": "kubectl", "ENGINE": "docker"}


def _dry_run(**env: str) -> list[str]:
    result = subprocess.run(
        ["bash", str(ROOT / "dev" / "ci" / "kind-e2e.sh")],
        env={**os.environ, **TOOLS, **env},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [line[2:] for line in result.stderr.splitlines() if line.startswith("+ ")]


@pytest.mark.parametrize("k8s", ["1.31", "1.34"])
def test_kind_job_pins_its_node_image_by_digest(k8s):
    (create,) = [c for c in _dry_run(K8S=k8s) if c.startswith("kind create cluster")]
    image = shlex.split(create)[shlex.split(create).index("--image") + 1]
    assert re.fullmatch(rf"kindest/node:v{re.escape(k8s)}\.\d+@sha256:[0-9a-f]{{64}}", image)


def test_kind_job_installs_tests_upgrades_and_uninstalls_the_chart_defaults():
    commands = _dry_run(TAG="ci")
    assert commands[0].startswith("kind create cluster")
    order = [
        "helm install strimzi-cluster-operator oci://quay.io/strimzi-helm/strimzi-kafka-operator"
        " --version 1.2.0",
        "kind load docker-image --name streamsuite-e2e"
        " ghcr.io/streamsuite/streamsuite-publisher:ci",
        "helm install streamsuite helm/streamsuite --namespace streamsuite --set image.tag=ci"
        " --wait --timeout 15m",
        "helm test streamsuite",
        "kubectl -n streamsuite port-forward svc/streamsuite-query-api",
        "env STREAMSUITE_E2E_API_URL=",
        "helm upgrade streamsuite helm/streamsuite",
        "helm test streamsuite",
        "helm uninstall streamsuite --namespace streamsuite --wait",
        "kind delete cluster --name streamsuite-e2e",
    ]
    position = 0
    for expected in order:
        found = [i for i, c in enumerate(commands) if i >= position and c.startswith(expected)]
        assert found, f"{expected!r} not after {commands[position - 1]!r}"
        position = found[0] + 1
    loads = [c for c in commands if c.startswith("kind load docker-image")]
    assert len(loads) == len(SERVICES)
    (pytest_run,) = [c for c in commands if "pytest" in c]
    assert "STREAMSUITE_E2E_INBOX_POD=streamsuite/app.kubernetes.io/component=publisher" in (
        pytest_run
    )
    assert "tests/e2e/test_pipeline.py" in pytest_run


def test_kind_job_refuses_a_kubernetes_it_has_no_pinned_image_for():
    result = subprocess.run(
        ["bash", str(ROOT / "dev" / "ci" / "kind-e2e.sh")],
        env={**os.environ, **TOOLS, "K8S": "1.99"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "K8S must be one of" in result.stderr
