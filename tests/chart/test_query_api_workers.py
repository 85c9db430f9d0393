"""The query API's worker processes from `queryApi.workers`: one by default (no key in its
config), the count in its config otherwise, refused by the schema below one and by the chart
when a CPU limit has fewer cores than workers."""

from __future__ import annotations

import pytest
import yaml

from devstack.chartcheck import helm
from streamsuite_query_api import config as query_api_config

from .conftest import CHART, one, render


def _query_api_config(manifests) -> dict:
    config_map = one(manifests, "ConfigMap", "streamsuite-query-api")
    return yaml.safe_load(config_map["data"]["config.yaml"])


def test_one_worker_by_default():
    assert "WORKERS" not in _query_api_config(render())["QUERY_API"]


def test_workers_reach_the_query_api_config_within_the_cpu_limit():
    manifests = render(set_values={"queryApi.workers": "2",
                                   "queryApi.resources.limits.cpu": "2"})  # fmt: skip
    settings = _query_api_config(manifests)["QUERY_API"]
    assert settings["WORKERS"] == 2
    # The key the query API reads (its other settings here name mounted files).
    tree = {"DATABASE": {"HOST": "db", "DBNAME": "d", "DBUSER": "u"},
            "AUTH": {"JWT_SECRET": "x" * 32},
            "QUERY_API": {"WORKERS": settings["WORKERS"]}}  # fmt: skip
    assert query_api_config.load_tree(tree, {}).query_api.workers == 2


@pytest.mark.parametrize(("workers", "cpu"), [("3", "2"), ("3", "1500m"), ("2", "500m")])
def test_more_workers_than_the_cpu_limit_has_cores_are_refused(workers, cpu):
    with pytest.raises(helm.HelmError, match=f"queryApi.workers is {workers}"):
        helm.template(CHART, set_values={"queryApi.workers": workers,
                                         "queryApi.resources.limits.cpu": cpu})  # fmt: skip


def test_the_values_schema_refuses_no_workers():
    with pytest.raises(helm.HelmError, match="workers"):
        helm.template(CHART, set_values={"queryApi.workers": "0"})


def test_the_production_option_set_runs_two_workers_on_two_cores():
    manifests = render("ci/production-values.yaml")
    assert _query_api_config(manifests)["QUERY_API"]["WORKERS"] == 2
