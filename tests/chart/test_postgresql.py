"""PostgreSQL: the StatefulSet, its generated passwords, the external option, the migrations."""

from __future__ import annotations

import base64

import pytest

from devstack.chartcheck import helm

from .conftest import CHART, objects, one, render


def test_bundled_postgresql_is_the_official_image_with_a_volume_and_init_script():
    manifests = render()
    sts = one(manifests, "StatefulSet", "streamsuite-postgresql")
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "postgres:16-bookworm"
    assert (
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "8Gi"
    )
    init = one(manifests, "ConfigMap", "streamsuite-postgresql-init")["data"]
    assert init["10-streamsuite-roles.sh"] == (CHART / "files" / "postgres-init.sh").read_text()


def test_generated_secret_holds_every_password_and_is_kept_on_uninstall():
    (secret,) = objects(render(), "Secret")
    assert set(secret["data"]) == {
        "cursor-secret",
        "postgres-password",
        "writer-password",
        "reader-password",
        "jwt-secret",  # the HS256 secret of auth's default jwt mode
    }
    assert all(len(base64.b64decode(v)) == 32 for v in secret["data"].values())
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_existing_secret_replaces_the_generated_one():
    manifests = render(set_values={"existingSecret": "mine"})
    assert objects(manifests, "Secret") == []
    volumes = one(manifests, "Deployment", "streamsuite-query-api")["spec"]["template"]["spec"][
        "volumes"
    ]
    (secrets,) = [v for v in volumes if v["name"] == "secrets"]
    assert {s["secret"]["name"] for s in secrets["projected"]["sources"]} == {"mine"}


def test_writer_and_reader_roles_go_to_the_right_services():
    manifests = render()

    def config(service):
        return one(manifests, "ConfigMap", f"streamsuite-{service}")["data"]["config.yaml"]

    assert "DBUSER: streamsuite_writer" in config("ingestor")
    assert "DBUSER: streamsuite_reader" in config("query-api")
    assert "DBUSER: streamsuite_reader" in config("web")
    assert "DATABASE" not in config("publisher")


def _hooks(manifests, kind, name):
    return one(manifests, kind, name)["metadata"]["annotations"]["helm.sh/hook"]


def test_migrations_run_before_upgrades_and_before_install_on_an_external_server():
    # A bundled server does not exist before install: the ingestor migrates at its first start.
    assert _hooks(render(), "Job", "streamsuite-migrations") == "pre-upgrade"
    external = render("ci/external-postgresql-values.yaml")
    assert _hooks(external, "Job", "streamsuite-migrations") == "pre-install,pre-upgrade"
    # Its config is a hook too, created first, so the Job never waits for a missing ConfigMap.
    assert _hooks(external, "ConfigMap", "streamsuite-migrations") == "pre-install,pre-upgrade"
    job = one(external, "Job", "streamsuite-migrations")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][0] == "migrate"
    assert not objects(external, "StatefulSet")
    config = one(external, "ConfigMap", "streamsuite-migrations")["data"]["config.yaml"]
    assert "HOST: postgres.example.svc" in config
    # Kafka's secrets may not exist before install; `migrate` does not need them.
    assert "SASL" not in config


def test_missing_external_host_is_refused_with_the_key_named():
    with pytest.raises(helm.HelmError) as refused:
        helm.template(CHART, set_values={"postgresql.create": "false"})
    assert "postgresql.external.host is required" in refused.value.message
