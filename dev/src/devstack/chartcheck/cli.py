"""``python -m devstack.chartcheck``: check the chart, or render it into plain manifests.

check  --chart DIR [--crds DIR] [--kube-version V]... [--values FILE]...
    helm lint --strict and helm template for every values set (the chart's defaults, then each
    <chart>/ci/*-values.yaml alone), each object against its strict schema for every Kubernetes
    version, the chart's conventions (devstack.chartcheck.policy). Exit 1 on any finding.
render --chart DIR --out DIR [--values FILE]... [--check]
    one file per template under DIR (k8s/), stale generated files removed; with --check nothing
    is written and the exit code is 1 when DIR differs from the chart.
Exit 2: bad arguments, helm missing, or a file that cannot be read.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from devstack.chartcheck import helm, policy, render, schemas
from devstack.chartcheck.crds import DEFAULT_CRD_DIR, CrdSchemas, load_crd_schemas
from devstack.chartcheck.findings import Finding, unique
from devstack.chartcheck.manifests import Manifest, parse_manifests

EXIT_FINDINGS = 1
EXIT_USAGE = 2
MONITORING_API = "monitoring.coreos.com/v1"


class UsageError(Exception):
    """Something the command line named is not there or not usable."""


@dataclasses.dataclass(frozen=True)
class ValuesSet:
    name: str  # "default" or the values file as given, e.g. "ci/monitoring-values.yaml"
    files: tuple[Path, ...]
    api_versions: tuple[str, ...] = ()


def values_sets(chart: Path, explicit: Sequence[str] = ()) -> list[ValuesSet]:
    """The chart's defaults and each ``ci/*-values.yaml`` alone; or just the files named.

    A set whose file name says "monitoring" renders as if the Prometheus Operator's CRDs were
    installed, because the chart only emits its ServiceMonitor when they are.
    """
    if explicit:
        paths = [(name, _values_path(chart, name)) for name in explicit]
        named = [(name, (path,)) for name, path in paths]
    else:
        found = sorted((chart / "ci").glob("*-values.yaml"))
        named = [("default", ())] + [(f"ci/{p.name}", (p,)) for p in found]
    return [
        ValuesSet(name, files, (MONITORING_API,) if "monitoring" in Path(name).name else ())
        for name, files in named
    ]


def _values_path(chart: Path, name: str) -> Path:
    # `--values ci/x-values.yaml` reads naturally relative to the chart; a path from the working
    # directory works too.
    for path in (chart / name, Path(name)):
        if path.is_file():
            return path
    raise UsageError(f"values file {name} not found (looked in {chart} and the working dir)")


def check_set(
    chart: Path, values: ValuesSet, kube_versions: Sequence[str], crds: CrdSchemas
) -> tuple[int, list[Finding]]:
    """``(objects rendered, findings)`` for one values set."""
    ref = f"chart {chart}"
    findings: list[Finding] = []
    try:
        helm.lint(chart, values.files)
    except helm.HelmError as exc:
        findings.append(Finding(ref, "helm lint", exc.message))
    count = 0
    for version in kube_versions:
        try:
            text = helm.template(
                chart,
                values_files=values.files,
                api_versions=values.api_versions,
                kube_version=f"v{version}.0",
            )
            manifests = parse_manifests(text)
        except helm.HelmError as exc:
            findings.append(Finding(ref, "helm template", exc.message))
            continue
        except (yaml.YAMLError, ValueError) as exc:
            findings.append(Finding(ref, "helm template", f"output is not YAML: {exc}"))
            continue
        count = count or len(manifests)
        findings += check_manifests(manifests, kube_versions=(version,), crds=crds)
    return count, unique(findings)


def check_manifests(
    manifests: Sequence[Manifest], *, kube_versions: Sequence[str], crds: CrdSchemas
) -> list[Finding]:
    """Schema and policy findings for one render (pure, no helm)."""
    found = schemas.validate(manifests, kube_versions=kube_versions, crd_schemas=crds)
    return unique([*found, *policy.check(manifests)])


def cmd_check(args: argparse.Namespace) -> int:
    chart = _chart(args.chart)
    helm.helm_binary()  # missing helm is a usage problem (exit 2), not a finding
    crds = load_crd_schemas(args.crds)
    versions = tuple(args.kube_version or schemas.DEFAULT_KUBE_VERSIONS)
    for version in versions:
        schemas.schema_dir(version)  # refuse a version with no schemas before any work
    failed = False
    for values in values_sets(chart, args.values or ()):
        count, findings = check_set(chart, values, versions, crds)
        if not findings:
            print(f"ok {values.name}: {count} objects", flush=True)
        for finding in findings:
            print(f"{values.name}: {finding}", flush=True)
        failed = failed or bool(findings)
    return EXIT_FINDINGS if failed else 0


def cmd_render(args: argparse.Namespace) -> int:
    chart = _chart(args.chart)
    out = Path(args.out)
    text = helm.template(
        chart,
        values_files=[_values_path(chart, v) for v in args.values or ()],
        api_versions=args.api_versions or (),
        namespace="streamsuite",
        skip_tests=True,
    )
    files = render.render_files(text, chart_label(chart))
    if args.check:
        drift = render.diff_tree(files, out)
        for line in drift:
            print(line)
        if drift:
            print(
                f"chartcheck: {out}/ is out of date with the chart: run make k8s", file=sys.stderr
            )
            return EXIT_FINDINGS
        print(f"ok {out}: {len(files)} files match the chart")
        return 0
    changed = render.write_tree(files, out)
    print(f"wrote {out}: {len(files)} files, {len(changed)} changed")
    return 0


def chart_label(chart: Path) -> str:
    """The chart as the generated header names it: relative to the checkout when inside it, so
    the files do not depend on where the checkout lives."""
    try:
        return chart.resolve().relative_to(helm.REPO_ROOT).as_posix()
    except ValueError:
        return chart.as_posix()


def _chart(name: str) -> Path:
    chart = Path(name)
    if not (chart / "Chart.yaml").is_file():
        raise UsageError(f"{chart} is not a Helm chart (no Chart.yaml)")
    return chart


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m devstack.chartcheck",
        description="Check the Helm chart offline, or render it into plain manifests.",
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = main.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="lint, render, validate and apply the policies")
    check.add_argument("--chart", required=True, help="the chart directory")
    check.add_argument("--crds", default=DEFAULT_CRD_DIR, help="directory of CRD YAML files")
    check.add_argument(
        "--kube-version", action="append", metavar="V", help="1.31 (repeat; default 1.31, 1.34)"
    )
    check.add_argument(
        "--values", action="append", metavar="FILE", help="check only this values file (repeat)"
    )
    check.set_defaults(run=cmd_check)
    rend = commands.add_parser("render", help="write the chart as plain manifests into --out")
    rend.add_argument("--chart", required=True, help="the chart directory")
    rend.add_argument("--out", required=True, help="the output directory, e.g. k8s")
    rend.add_argument("--values", action="append", metavar="FILE", help="values file (repeat)")
    rend.add_argument(
        "--api-versions", action="append", metavar="API", help="passed on to helm template"
    )
    rend.add_argument("--check", action="store_true", help="compare only; exit 1 on drift")
    rend.set_defaults(run=cmd_render)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, helm.HelmError, schemas.UnsupportedVersionError) as exc:
        print(f"chartcheck: {exc}", file=sys.stderr)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"chartcheck: {exc}".replace("\n", " "), file=sys.stderr)
    return EXIT_USAGE
