"""`helm uninstall` leaves exactly what the README says it leaves: the generated Secret and the
inbox volume's claim (and what the e2e run itself created: the Secrets of the external Kafka
and PostgreSQL users)."""

from __future__ import annotations

import contextlib

import pytest

from devstack.testing import wait_for

KINDS = "deployments,replicasets,pods,services,configmaps,secrets,persistentvolumeclaims,jobs," \
        "poddisruptionbudgets,networkpolicies,serviceaccounts,roles,rolebindings"  # fmt: skip
# What every namespace has, and what the e2e run created before the install.
NOT_THE_CHARTS = {"ConfigMap/kube-root-ca.crt", "ServiceAccount/default"}


def _left(cluster) -> set[str]:
    items = cluster.get(KINDS)["items"]
    names = {f"{i['kind']}/{i['metadata']['name']}" for i in items}
    return {n for n in names - NOT_THE_CHARTS if not n.startswith("Secret/e2e-")}


@pytest.mark.timeout(300)
def test_uninstall_keeps_only_the_generated_secret_and_the_inbox(cluster):
    result = cluster.helm.run("uninstall", cluster.release, "--wait", "--timeout", "3m")
    assert result.returncode == 0, result.stderr
    expected = {f"Secret/{cluster.release}-generated",
                f"PersistentVolumeClaim/{cluster.release}-publisher-inbox"}  # fmt: skip
    with contextlib.suppress(AssertionError):  # the assert below says what is left
        wait_for(lambda: _left(cluster) == expected, timeout_s=120,
                 what="only the kept objects to be left")  # fmt: skip
    assert _left(cluster) == expected
