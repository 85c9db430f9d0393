"""The chart's `helm test` pod runs its own command against a query API that answers (pass) and
one that does not (fail). Same target as test_pipeline.py: STREAMSUITE_E2E_API_URL or the local
stack's query API. STREAMSUITE_E2E_PYTHON is the interpreter to run it with (default: this
one; `make container-test` gives a `podman run ... --entrypoint python` of the query-api image,
as in the pod)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devstack.chartcheck import helm
from devstack.settings import StackSettings
from devstack.testing import free_port

CHART = Path(__file__).resolve().parents[2] / "helm" / "streamsuite"
IN_CLUSTER = "http://streamsuite-query-api:8000"


@pytest.fixture(scope="module")
def hook_command() -> list[str]:
    text = helm.template(CHART, kube_version="v1.34.0")
    (pod,) = [
        d
        for d in yaml.safe_load_all(text)
        if d and d["kind"] == "Pod" and d["metadata"]["annotations"]["helm.sh/hook"] == "test"
    ]
    (container,) = pod["spec"]["containers"]
    return container["command"]


def run_hook(command: list[str], base_url: str) -> subprocess.CompletedProcess:
    assert command[0] == "python"
    assert any(IN_CLUSTER in part for part in command), "the hook no longer asks the Service"
    python = shlex.split(os.environ.get("STREAMSUITE_E2E_PYTHON", sys.executable))
    args = [*python, *(part.replace(IN_CLUSTER, base_url) for part in command[1:])]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def api_url() -> str:
    local = f"http://127.0.0.1:{StackSettings.from_env().service_port(8000)}"
    return os.environ.get("STREAMSUITE_E2E_API_URL", local).rstrip("/")


def test_helm_test_passes_against_a_query_api_that_answers(hook_command):
    result = run_hook(hook_command, api_url())
    assert result.returncode == 0, result.stderr
    assert "/readyz: 200" in result.stdout
    # Authentication is on (the chart's default, the stack's too): the data is refused.
    assert '/api/v1/stats: 401 Bearer realm="streamsuite"' in result.stdout


def test_helm_test_fails_when_the_query_api_does_not_answer(hook_command):
    result = run_hook(hook_command, f"http://127.0.0.1:{free_port()}")
    assert result.returncode != 0
    assert "Connection refused" in result.stderr
