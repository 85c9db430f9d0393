"""The release `make kube-e2e` installed on the single-node cluster, as the tests here see it
(they run only under that driver, which names it in the environment): kubectl and helm for it,
the local stack's PostgreSQL to count what was stored, and a report for the timings the
driver prints at the end."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from devstack.e2e_target import Target
from devstack.kube import release
from devstack.kube.kubectl import Kubectl

CHART = Path(__file__).resolve().parents[2] / "helm" / "streamsuite"
COMPONENTS = ("publisher", "ingestor", "query-api", "web")


class Cluster:
    def __init__(self, env: dict[str, str]):
        self.namespace = env["STREAMSUITE_K8S_NAMESPACE"]
        self.release = env["STREAMSUITE_K8S_RELEASE"]
        self.kubectl = Kubectl(Path(shutil.which("kubectl") or "kubectl"),
                               Path(env["KUBECONFIG"]))  # fmt: skip
        self.helm = release.Helm(Path(env["HELM"]), self.kubectl, self.namespace, self.release)
        self.report_path = Path(env["STREAMSUITE_K8S_REPORT"])
        self.components = COMPONENTS
        self.chart = CHART

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        return self.kubectl.run("-n", self.namespace, *args, check=check, timeout=timeout).stdout

    def get(self, *args: str) -> Any:
        return self.kubectl.get("-n", self.namespace, *args)

    def pods(self, component: str | None = None) -> list[dict[str, Any]]:
        selector = [f"-l=app.kubernetes.io/component={component}"] if component else []
        return [p for p in self.get("pods", *selector)["items"]
                if not p["metadata"].get("deletionTimestamp")]  # fmt: skip

    def running_pod(self, component: str) -> str:
        names = [p["metadata"]["name"] for p in self.pods(component)
                 if p["status"].get("phase") == "Running"]  # fmt: skip
        assert names, f"no running {component} pod"
        return names[0]

    def wait_ready(self, timeout_s: float = 300) -> float:
        return release.wait_ready(self.kubectl, self.namespace, deployments=len(COMPONENTS),
                                  timeout_s=timeout_s)  # fmt: skip

    def report(self, what: str, seconds: float) -> None:
        print(f"{what}: {seconds:.1f}s")
        with self.report_path.open("a") as out:
            out.write(json.dumps({"what": what, "seconds": round(seconds, 1)}) + "\n")


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    if "STREAMSUITE_K8S_NAMESPACE" not in os.environ:
        pytest.fail("tests/k8s run under `make kube-e2e`, which installs the release they test",
                    pytrace=False)  # fmt: skip
    return Cluster(dict(os.environ))


@pytest.fixture(scope="session")
def target() -> Target:
    return Target.from_env()


@pytest.fixture
def db() -> Iterator[psycopg2.extensions.connection]:
    """The local stack's PostgreSQL (the release's external server), as its admin."""
    conn = psycopg2.connect(os.environ["DEVSTACK_PG_ADMIN_DSN"],
                            dbname=os.environ["DEVSTACK_PG_DBNAME"])  # fmt: skip
    conn.autocommit = True
    yield conn
    conn.close()
