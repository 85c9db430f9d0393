"""The chart's defaults name the images the release workflow publishes, and the chart a release
packages (dev/ci/release-chart.sh) names that release's images for its owner."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from devstack.chartcheck import helm
from devstack.chartcheck.manifests import parse_manifests

from .conftest import CHART, SERVICES, component, objects, render

ROOT = CHART.parents[1]
RELEASE = ROOT / ".github" / "workflows" / "release.yml"


def _published(owner: str, service: str) -> str:
    """The image name release.yml pushes, for one owner and service."""
    meta = next(
        step
        for step in yaml.safe_load(RELEASE.read_text())["jobs"]["images"]["steps"]
        if step.get("id") == "meta"
    )
    return (
        meta["with"]["images"]
        .replace("${{ github.repository_owner }}", owner)
        .replace("${{ matrix.service }}", service)
    )


def _images(manifests) -> dict[str, str]:
    return {
        component(d): d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in objects(manifests, "Deployment")
    }


def test_default_images_are_the_ones_the_release_workflow_publishes():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    owner = yaml.safe_load((CHART / "values.yaml").read_text())["image"]["registry"]
    assert owner.startswith("ghcr.io/")
    expected = {
        s: f"{_published(owner.removeprefix('ghcr.io/'), s)}:{chart['appVersion']}"
        for s in SERVICES
    }
    assert _images(render()) == expected


def test_a_release_package_names_its_own_images_for_its_owner(tmp_path: Path):
    subprocess.run(
        ["bash", str(ROOT / "dev" / "ci" / "release-chart.sh"), "v1.2.3", "Acme", str(tmp_path)],
        env={**os.environ, "HELM": str(helm.helm_binary())},
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    package = tmp_path / "streamsuite-1.2.3.tgz"
    manifests = list(parse_manifests(helm.template(str(package), kube_version="v1.34.0")))
    assert _images(manifests) == {s: f"{_published('acme', s)}:1.2.3" for s in SERVICES}
    chart = yaml.safe_load(helm.run(["show", "chart", str(package)], what="helm show chart"))
    assert (chart["version"], chart["appVersion"]) == ("1.2.3", "1.2.3")
