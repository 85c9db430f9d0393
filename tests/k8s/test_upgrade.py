"""`helm upgrade` with a changed config value: every pod rolls (the config checksum changed),
the migrations hook Job runs before them, the generated Secret keeps its values, and the
pipeline works on the new pods."""

from __future__ import annotations

import json

import pytest

from devstack.e2e_target import Target
from devstack.testing import unique, wait_for

CHART_VALUE = "config.logLevel=debug"


def _hook_runs(cluster) -> int:
    events = cluster.get("events", "--field-selector",
                         f"involvedObject.kind=Job,involvedObject.name={cluster.release}-migrations,"
                         "reason=SuccessfulCreate")  # fmt: skip
    return sum(event.get("count", 1) for event in events["items"])


@pytest.mark.timeout(600)
def test_upgrade_rolls_the_pods_runs_migrations_and_keeps_secrets(cluster, target):
    generated = cluster.get("secret", f"{cluster.release}-generated")["data"]
    before = {c: cluster.running_pod(c) for c in cluster.components}
    hook_runs = _hook_runs(cluster)

    result = cluster.helm.run("upgrade", cluster.release, str(cluster.chart), "--reuse-values",
                              "--set", CHART_VALUE, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    took = cluster.wait_ready()
    cluster.report("helm upgrade -> every pod Ready", took)

    after = {c: cluster.running_pod(c) for c in cluster.components}
    assert all(after[c] != before[c] for c in cluster.components), (before, after)
    assert _hook_runs(cluster) == hook_runs + 1
    assert cluster.get("secret", f"{cluster.release}-generated")["data"] == generated
    config = cluster.get("configmap", f"{cluster.release}-ingestor")["data"]["config.yaml"]
    assert "LEVEL: debug" in config

    name = f"{unique('after-upgrade')}.json"
    target.inbox.drop(name, json.dumps({"name": "Upgraded", "age": 1}).encode())
    url = f"{target.api}/api/v1/records?source={name}"
    wait_for(lambda: _items(target, url), timeout_s=120, interval_s=0.5,
             what=f"{name} stored by the upgraded pods")  # fmt: skip


def _items(target: Target, url: str) -> list:
    status, _, body = target.get(url)
    return json.loads(body)["items"] if status == 200 else []
