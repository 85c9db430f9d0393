"""Authentication in the chart (issue 17): on by default with a generated HS256 secret mounted
into the query API and the web UI, or a Secret of one's own, or an OIDC issuer, or a trusted
proxy; an Ingress without authentication refused by the values schema unless waived; and
NetworkPolicies that let only the ingress controller, Prometheus and the release's own pods
reach the API and the UI."""

from __future__ import annotations

import base64
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from devstack.chartcheck import helm
from devstack.chartcheck.manifests import parse_manifests
from devstack.chartcheck.pods import selector_matches
from streamsuite_common.auth import AuthSettings
from streamsuite_common.auth.tokens import SharedSecret, TokenVerifier
from streamsuite_query_api import config as query_api_config
from streamsuite_web import config as web_config

from .conftest import CHART, objects, one, render
from .test_config_and_notes import _with_secret_files

APPS = ("query-api", "web")


def _config(manifests, component: str) -> dict:
    return yaml.safe_load(
        one(manifests, "ConfigMap", f"streamsuite-{component}")["data"]["config.yaml"]
    )


def _mounted(manifests, component: str) -> dict[str, dict]:
    """path under /etc/streamsuite/secrets → the Secret key it comes from."""
    pod = one(manifests, "Deployment", f"streamsuite-{component}")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "secrets"]
    found = {}
    for source in volume["projected"]["sources"]:
        for item in source["secret"]["items"]:
            found[item["path"]] = {"name": source["secret"]["name"], "key": item["key"]}
    return found


def test_authentication_is_on_by_default_with_a_generated_secret(tmp_path):
    manifests = render()
    generated = one(manifests, "Secret", "streamsuite-generated")["data"]
    assert len(base64.b64decode(generated["jwt-secret"])) >= 32
    loaders = {"query-api": query_api_config.load_tree, "web": web_config.load_tree}
    for component in APPS:
        tree = _config(manifests, component)
        assert tree["AUTH"]["MODE"] == "jwt"
        assert _mounted(manifests, component)["jwt-secret"] == {
            "name": "streamsuite-generated", "key": "jwt-secret",
        }  # fmt: skip
        cfg = loaders[component](_with_secret_files(tree, tmp_path), {})
        assert cfg.auth.enabled
        assert cfg.auth.audience == "streamsuite"
    for component in ("publisher", "ingestor"):
        assert "AUTH" not in _config(manifests, component)


def test_a_secret_of_ones_own_or_an_issuer_replaces_the_generated_secret():
    own = render(set_values={"auth.jwt.existingSecret": "api-auth", "auth.jwt.secretKey": "hs"})
    assert "jwt-secret" not in one(own, "Secret", "streamsuite-generated")["data"]
    assert _mounted(own, "web")["jwt-secret"] == {"name": "api-auth", "key": "hs"}
    oidc = render(set_values={"auth.issuer": "https://id.example.com/realms/data"})
    assert "jwt-secret" not in one(oidc, "Secret", "streamsuite-generated")["data"]
    assert "jwt-secret" not in _mounted(oidc, "query-api")
    auth = _config(oidc, "query-api")["AUTH"]
    assert auth["ISSUER"] == "https://id.example.com/realms/data"
    assert "JWT_SECRET_FILE" not in auth


def test_proxy_mode_names_the_proxy_addresses_and_groups(tmp_path):
    manifests = render(set_values={"auth.mode": "proxy", "auth.proxy.cidrs[0]": "10.42.0.0/16",
                                   "auth.proxy.submitGroups[0]": "publishers"})  # fmt: skip
    tree = _with_secret_files(_config(manifests, "web"), tmp_path)
    cfg = web_config.load_tree(tree, {})
    assert (cfg.auth.mode, cfg.auth.proxy_cidrs) == ("proxy", ("10.42.0.0/16",))
    assert cfg.auth.proxy_submit_groups == ("publishers",)
    with pytest.raises(helm.HelmError) as refused:
        render(set_values={"auth.mode": "proxy"})
    assert "/auth/proxy/cidrs" in refused.value.message


@pytest.mark.parametrize("ingress", ["web.ingress.enabled", "queryApi.ingress.enabled"])
def test_an_ingress_without_authentication_fails_helm_template(ingress):
    with pytest.raises(helm.HelmError) as refused:
        helm.template(CHART, set_values={ingress: "true", "auth.mode": "none"})
    assert "/auth/allowUnauthenticatedIngress" in refused.value.message
    waived = render(set_values={ingress: "true", "auth.mode": "none",
                                "auth.allowUnauthenticatedIngress": "true"})  # fmt: skip
    assert objects(waived, "Ingress")
    assert objects(render(set_values={ingress: "true"}), "Ingress")  # auth on: fine


def test_without_authentication_there_is_no_secret_and_the_mode_says_none():
    manifests = render(set_values={"auth.mode": "none"})
    assert "jwt-secret" not in one(manifests, "Secret", "streamsuite-generated")["data"]
    assert _config(manifests, "web")["AUTH"]["MODE"] == "none"


def _labels(manifests, component: str) -> dict:
    deployment = one(manifests, "Deployment", f"streamsuite-{component}")
    return deployment["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize("component", APPS)
def test_only_the_ingress_controller_prometheus_and_the_release_reach_the_api_and_ui(component):
    manifests = render("ci/production-values.yaml")
    policy = one(manifests, "NetworkPolicy", f"streamsuite-{component}")["spec"]
    assert selector_matches(policy["podSelector"], _labels(manifests, component))
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    controller, prometheus, release = rule["from"]
    assert controller == {"namespaceSelector": {
        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}  # fmt: skip
    assert prometheus == {"namespaceSelector": {}, "podSelector": {
        "matchLabels": {"app.kubernetes.io/name": "prometheus"}}}  # fmt: skip
    # The release's own pods: `helm test` asks the query API through its Service.
    (test_pod,) = [p for p in objects(manifests, "Pod") if "test" in p["metadata"]["name"]]
    assert selector_matches(release["podSelector"], test_pod["metadata"]["labels"])


def test_more_peers_can_reach_the_api(tmp_path):
    values = tmp_path / "peers.yaml"
    peer = {"namespaceSelector": {"matchLabels": {"team": "analytics"}}}
    values.write_text(yaml.safe_dump({"networkPolicy": {"queryApiFrom": [peer]}}))
    manifests = parse_manifests(helm.template(CHART, values_files=[values]))
    api = one(manifests, "NetworkPolicy", "streamsuite-query-api")["spec"]["ingress"][0]["from"]
    web = one(manifests, "NetworkPolicy", "streamsuite-web")["spec"]["ingress"][0]["from"]
    assert api[-1] == peer
    assert peer not in web


def _notes(tmp_path, **set_values: str) -> str:
    """NOTES.txt as helm prints it after an install (rendered through a ConfigMap copy)."""
    chart = tmp_path / "streamsuite"
    shutil.copytree(CHART, chart)
    shutil.copy(CHART / "templates" / "NOTES.txt", chart / "files" / "NOTES.txt")
    (chart / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
        'data: {notes: {{ tpl (.Files.Get "files/NOTES.txt") . | quote }}}\n'
    )
    text = helm.template(chart, release="demo", namespace="data", set_values=set_values)
    (notes,) = [d for d in yaml.safe_load_all(text) if d and d["metadata"]["name"] == "notes"]
    return notes["data"]["notes"]


def test_the_notes_sign_a_token_the_services_accept(tmp_path):
    notes = _notes(tmp_path)
    (line,) = [line for line in notes.splitlines() if "TOKEN=$(kubectl" in line]
    assert "exec deploy/demo-streamsuite-query-api -- python -c" in line
    assert 'curl -s -H "Authorization: Bearer $TOKEN"' in notes
    # The command itself, run here against a secret file of our own, makes a valid token.
    code = shlex.split(line.split("-- ", 1)[1].rstrip(")"))[2]
    secret = tmp_path / "jwt-secret"
    secret.write_text("s" * 40 + "\n")
    code = code.replace("/etc/streamsuite/secrets/jwt-secret", str(secret))
    token = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.strip()  # fmt: skip
    settings = AuthSettings(jwt_secret="s" * 40)
    principal = TokenVerifier(settings, SharedSecret(settings.jwt_secret)).verify(token)
    assert principal.scopes == {"read", "submit"}
    assert "Authentication is off" in _notes(tmp_path / "off", **{"auth.mode": "none"})
