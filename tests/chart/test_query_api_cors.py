"""The query API's CORS allow-list from `queryApi.corsOrigins`: none by default, the listed
origins in its config file otherwise, and a wildcard refused by the values schema."""

from __future__ import annotations

import pytest
import yaml

from devstack.chartcheck import helm
from streamsuite_query_api import config as query_api_config

from .conftest import CHART, one, render


def _query_api_settings(manifests):
    config_map = one(manifests, "ConfigMap", "streamsuite-query-api")
    return yaml.safe_load(config_map["data"]["config.yaml"])["QUERY_API"]


def test_no_cors_origins_by_default():
    assert "CORS_ORIGINS" not in _query_api_settings(render())


def test_listed_cors_origins_reach_the_query_api_config():
    manifests = render(set_values={
        "queryApi.corsOrigins": "{https://dash.example.com,http://127.0.0.1:3000}"})  # fmt: skip
    settings = _query_api_settings(manifests)
    assert settings["CORS_ORIGINS"] == "https://dash.example.com,http://127.0.0.1:3000"
    assert query_api_config.as_origin_list(settings["CORS_ORIGINS"]) == (
        "https://dash.example.com",
        "http://127.0.0.1:3000",
    )


@pytest.mark.parametrize("origin", ["*", "https://dash.example.com/app"])
def test_the_values_schema_refuses_what_is_not_an_origin(origin):
    with pytest.raises(helm.HelmError, match="corsOrigins"):
        helm.template(CHART, set_values={"queryApi.corsOrigins": "{" + origin + "}"})
