"""The I/O edge to the helm binary: find it, run ``helm lint`` and ``helm template``."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from devstack.chartcheck.manifests import Manifest, parse_manifests

__all__ = ["HelmError", "Manifest", "helm_binary", "lint", "parse_manifests", "template"]

# dev/src/devstack/chartcheck/helm.py -> the checkout's root is four directories up.
REPO_ROOT = Path(__file__).resolve().parents[4]


class HelmError(Exception):
    """helm is missing, or refused the chart (the message carries helm's own words)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def helm_binary(env: Mapping[str, str] | None = None) -> Path:
    """``$HELM`` (the Makefile sets it), else the Helm 3 ``make helm`` builds into
    ``$STREAMSUITE_CACHE/tools/helm-v3.*/``."""
    env = os.environ if env is None else env
    if env.get("HELM"):
        found = shutil.which(env["HELM"])
        if found:
            return Path(found)
        raise HelmError(f"helm not found at {env['HELM']} (from $HELM)")
    cache = Path(env["STREAMSUITE_CACHE"]) if env.get("STREAMSUITE_CACHE") else REPO_ROOT / ".cache"
    built = sorted((cache / "tools").glob("helm-v3.*/helm"))
    if not (built and os.access(built[-1], os.X_OK)):
        raise HelmError(f"helm not found under {cache / 'tools'}: run `make helm` or set HELM")
    return built[-1]


def template_args(
    chart: str | Path,
    *,
    values_files: Sequence[str | Path] = (),
    set_values: Mapping[str, str] | None = None,
    release: str = "streamsuite",
    namespace: str = "streamsuite",
    api_versions: Sequence[str] = (),
    kube_version: str | None = None,
    skip_tests: bool = False,
) -> list[str]:
    """The ``helm template`` arguments (after the binary), pure so it can be tested."""
    args = ["template", release, str(chart), "--namespace", namespace]
    for path in values_files:
        args += ["-f", str(path)]
    for key, value in (set_values or {}).items():
        args += ["--set", f"{key}={value}"]
    for api in api_versions:
        args += ["--api-versions", api]
    if kube_version:
        args += ["--kube-version", kube_version]
    if skip_tests:
        args.append("--skip-tests")
    return args


def template(chart: str | Path, **options: Any) -> str:
    """The rendered chart, as the multi-document YAML text helm prints (options: see
    ``template_args``)."""
    return run(template_args(chart, **options), what="helm template")


def lint(chart: str | Path, values_files: Sequence[str | Path] = ()) -> None:
    """``helm lint --strict``: warnings count as failures."""
    args = ["lint", "--strict", str(chart)]
    for path in values_files:
        args += ["-f", str(path)]
    run(args, what="helm lint")


def run(args: list[str], *, what: str, binary: str | Path | None = None) -> str:
    """``helm ARGS`` (``binary`` or the one ``helm_binary`` finds): its stdout, or a HelmError
    with what helm said."""
    binary = binary or helm_binary()
    try:
        done = subprocess.run([str(binary), *args], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise HelmError(f"cannot run {binary}: {exc}") from exc
    if done.returncode != 0:
        raise HelmError(f"{what} failed: {_failure_text(done.stdout, done.stderr)}")
    return done.stdout


def _failure_text(stdout: str, stderr: str) -> str:
    # helm lint prints its [ERROR]/[WARNING] lines on stdout and only a summary on stderr.
    lines = [line.strip() for line in stdout.splitlines() if line.lstrip().startswith("[")]
    lines = [line for line in lines if not line.startswith("[INFO]")]
    lines += [line.strip().removeprefix("Error: ") for line in stderr.splitlines() if line.strip()]
    return "; ".join(lines) or "no output"
