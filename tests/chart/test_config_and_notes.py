"""The config files the chart writes load with the services' own config loaders (so a key the
chart misspells fails here, not in a pod); bad values are refused naming the key; NOTES.txt
prints commands that fit the release."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from devstack.chartcheck import helm
from streamsuite_common import config as common_config
from streamsuite_ingestor import config as ingestor_config
from streamsuite_ingestor.routes import parse_routes
from streamsuite_publisher.config import DEFAULTS as PUBLISHER_DEFAULTS
from streamsuite_publisher.config import PublisherConfig
from streamsuite_query_api import config as query_api_config
from streamsuite_web import config as web_config

from .conftest import CHART, OPTION_SETS, one, render

LOADERS = {
    "publisher": lambda tree, env: common_config.load_config(
        PublisherConfig, tree, env, defaults=PUBLISHER_DEFAULTS
    ),
    "ingestor": ingestor_config.load_tree,
    "query-api": query_api_config.load_tree,
    "web": web_config.load_tree,
    "migrations": ingestor_config.load_tree,
}


def _with_secret_files(tree, tmp_path):
    """The chart points *_FILE keys at mounted secrets: point them at files that exist here."""
    text = yaml.safe_dump(tree)
    for path in set(re.findall(r"/etc/streamsuite/(?:secrets|config)/[\w.-]+", text)):
        local = tmp_path / path.rsplit("/", 1)[1]
        if not local.exists():
            secret = "secret-value-" + "x" * 32 + "\n"  # long enough for AUTH.JWT_SECRET
            local.write_text(secret if "secrets" in path else "routes: []\n")
        text = text.replace(path, str(local))
    return yaml.safe_load(text)


@pytest.mark.parametrize("option_set", OPTION_SETS)
def test_every_config_file_loads_with_the_service_config_loader(option_set, tmp_path):
    manifests = render(option_set, set_values={"migrations.enabled": "true"})
    for service, load in LOADERS.items():
        config_map = one(manifests, "ConfigMap", f"streamsuite-{service}")
        tree = _with_secret_files(yaml.safe_load(config_map["data"]["config.yaml"]), tmp_path)
        cfg = load(tree, {})
        if service == "ingestor":
            assert cfg.ingestor.group_id == "streamsuite-ingestor"
        routes = config_map["data"].get("routes.yaml")
        if routes:
            assert parse_routes(yaml.safe_load(routes))


def test_submit_takes_browser_posts_from_the_ingress_url_and_a_port_forward(tmp_path):
    """Submit refuses browser posts from origins it was not told of: behind the chart's Ingress
    the UI is opened at the Ingress URL, so the chart names it (a port-forward still works)."""
    origins = {}
    for option_set in ("default", "ci/ingress-values.yaml"):
        config_map = one(render(option_set), "ConfigMap", "streamsuite-web")
        tree = _with_secret_files(yaml.safe_load(config_map["data"]["config.yaml"]), tmp_path)
        origins[option_set] = web_config.load_tree(tree, {}).public_origins
    assert origins["ci/ingress-values.yaml"] == (
        "https://streamsuite.example.com:443",
        "http://127.0.0.1:8080",
        "http://localhost:8080",
    )
    assert "http://127.0.0.1:8080" in origins["default"]


@pytest.mark.parametrize("option_set", OPTION_SETS)
def test_config_files_name_secret_files_never_secrets(option_set):
    manifests = render(option_set, set_values={"migrations.enabled": "true"})
    for config_map in (m.obj for m in manifests if m.obj["kind"] == "ConfigMap"):
        if "config.yaml" not in config_map["data"]:
            continue
        tree = yaml.safe_load(config_map["data"]["config.yaml"])
        keys = [key for section in tree.values() for key in section]
        assert keys
        assert not [k for k in keys if k.endswith(("PWD", "PASSWORD", "SECRET"))], keys


def _helm_error(**set_values: str) -> str:
    with pytest.raises(helm.HelmError) as refused:
        helm.template(CHART, set_values=set_values)
    return refused.value.message


def test_unknown_value_key_is_refused_naming_it():
    assert "additional properties 'replcas' not allowed" in _helm_error(**{"web.replcas": "2"})


def test_wrong_value_type_is_refused_naming_it():
    error = _helm_error(**{"kafka.storage.type": "disk"})
    assert "/kafka/storage/type" in error
    assert "persistent-claim" in error


def test_unsupported_kafka_version_is_refused():
    assert "/kafka/version" in _helm_error(**{"kafka.version": "3.9.0"})


def test_notes_print_the_port_forward_and_a_first_file(tmp_path):
    # helm template does not print NOTES.txt: render a copy as a ConfigMap to read it.
    chart = tmp_path / "streamsuite"
    shutil.copytree(CHART, chart)
    shutil.copy(CHART / "templates" / "NOTES.txt", chart / "files" / "NOTES.txt")
    (chart / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
        'data: {notes: {{ tpl (.Files.Get "files/NOTES.txt") . | quote }}}\n'
    )
    text = helm.template(chart, release="demo", namespace="data", kube_version="v1.34.0")
    notes = [d for d in yaml.safe_load_all(text) if d and d["metadata"]["name"] == "notes"]
    rendered = notes[0]["data"]["notes"]
    assert "kubectl -n data port-forward svc/demo-streamsuite-web 8080:8080" in rendered
    assert "kubectl -n data wait kafka/demo-streamsuite --for=condition=Ready" in rendered
    assert ":/var/lib/streamsuite/inbox/ada.json" in rendered
    # Without --logs: a test pod that passed is deleted (nothing left after uninstall).
    assert "helm test demo -n data" in rendered
    assert "--logs" not in rendered
    # A cold Strimzi start takes longer than helm's default 5m wait.
    assert "`--timeout 15m`" in rendered
    assert "--for=condition=Ready --timeout=900s" in rendered
    assert "PrometheusRule" not in rendered  # no monitoring API, no rules
    text = helm.template(
        chart,
        release="demo",
        namespace="data",
        kube_version="v1.34.0",
        api_versions=["monitoring.coreos.com/v1"],
    )
    notes = [d for d in yaml.safe_load_all(text) if d and d["metadata"]["name"] == "notes"]
    assert (
        "The PrometheusRule demo-streamsuite holds the alerts; their runbooks: https://"
        in (notes[0]["data"]["notes"])
    )
