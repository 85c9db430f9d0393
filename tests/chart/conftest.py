"""Render the chart with helm (the binary `make helm` builds, or $HELM) and look at the objects."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from devstack.chartcheck import helm
from devstack.chartcheck.crds import CrdSchemas, load_crd_schemas
from devstack.chartcheck.manifests import Manifest, parse_manifests

CHART = Path(__file__).resolve().parents[2] / "helm" / "streamsuite"
OPTION_SETS = ["default", *sorted(f"ci/{p.name}" for p in (CHART / "ci").glob("*-values.yaml"))]
MONITORING_API = "monitoring.coreos.com/v1"
SERVICES = ("publisher", "ingestor", "query-api", "web")


@functools.cache
def _render(
    chart: str, values: tuple[str, ...], sets: tuple[tuple[str, str], ...], apis: tuple[str, ...]
) -> tuple[Manifest, ...]:
    text = helm.template(
        chart, values_files=values, set_values=dict(sets), api_versions=apis, kube_version="v1.34.0"
    )
    return tuple(parse_manifests(text))


def render(
    option_set: str = "default",
    *,
    chart: Path = CHART,
    set_values: Mapping[str, str] | None = None,
    api_versions: Sequence[str] = (),
) -> tuple[Manifest, ...]:
    """The chart rendered for an option set ("default" or "ci/<name>-values.yaml")."""
    values = () if option_set == "default" else (str(chart / option_set),)
    sets = tuple(sorted((set_values or {}).items()))
    return _render(str(chart), values, sets, tuple(api_versions))


def objects(manifests: Sequence[Manifest], kind: str) -> list[dict[str, Any]]:
    return [m.obj for m in manifests if m.obj.get("kind") == kind]


def one(manifests: Sequence[Manifest], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects(manifests, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def component(obj: Mapping[str, Any]) -> str:
    return obj["metadata"]["labels"].get("app.kubernetes.io/component", "")


def pod_specs(manifests: Sequence[Manifest]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(ref, pod spec) of every workload and bare pod, hooks and tests included."""
    for m in manifests:
        kind = m.obj.get("kind")
        if kind in ("Deployment", "StatefulSet", "Job"):
            yield m.ref, m.obj["spec"]["template"]["spec"]
        elif kind == "Pod":
            yield m.ref, m.obj["spec"]


@pytest.fixture(scope="session")
def crds() -> CrdSchemas:
    return load_crd_schemas()
