"""parse_manifests and the helm edge: objects keep the template they came from; helm is found
where `make helm` puts it and called with the arguments the checks rely on."""

from pathlib import Path

import pytest

from devstack.chartcheck import helm
from devstack.chartcheck.manifests import Manifest, parse_manifests, split_documents

HELM_OUTPUT = """\
---
# Source: streamsuite/templates/web/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: streamsuite-web
spec:
  ports:
    - port: 80
---
# Source: streamsuite/templates/disabled.yaml
# nothing rendered: the template is switched off
---
# Source: streamsuite/templates/web/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: streamsuite-web
data:
  script: |
    echo one
    echo two
"""


def test_documents_keep_the_template_they_came_from() -> None:
    manifests = parse_manifests(HELM_OUTPUT)
    assert [(m.kind, m.name, m.source) for m in manifests] == [
        ("Service", "streamsuite-web", "streamsuite/templates/web/service.yaml"),
        ("Deployment", "streamsuite-web", "streamsuite/templates/web/deployment.yaml"),
    ]


def test_empty_and_comment_only_documents_are_dropped() -> None:
    assert len(split_documents(HELM_OUTPUT)) == 2
    assert parse_manifests("---\n---\n# Source: x/templates/a.yaml\n\n") == []


def test_parsing_does_not_add_keys_to_the_objects() -> None:
    service = parse_manifests(HELM_OUTPUT)[0]
    assert set(service.obj) == {"apiVersion", "kind", "metadata", "spec"}


def test_ref_names_kind_name_and_template_without_the_chart_name() -> None:
    manifest = Manifest("streamsuite/templates/web/deployment.yaml", {"kind": "Deployment",
                        "metadata": {"name": "streamsuite-web"}})  # fmt: skip
    assert manifest.ref == "Deployment/streamsuite-web (templates/web/deployment.yaml)"
    assert Manifest("", {"kind": "Secret"}).ref == "Secret/?"


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ValueError, match="not a mapping"):
        parse_manifests("# Source: s/templates/a.yaml\n- just\n- a list\n")


def test_helm_comes_from_the_HELM_variable_first(tmp_path: Path) -> None:
    binary = tmp_path / "my-helm"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    env = {"HELM": str(binary), "STREAMSUITE_CACHE": str(tmp_path / "cache")}
    assert helm.helm_binary(env) == binary


def test_helm_defaults_to_the_cache_that_make_helm_fills(tmp_path: Path) -> None:
    binary = tmp_path / "tools" / "helm-v3.19.0" / "helm"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert helm.helm_binary({"STREAMSUITE_CACHE": str(tmp_path)}) == binary


def test_missing_helm_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(helm.HelmError, match=r"helm not found under .*: run `make helm`"):
        helm.helm_binary({"STREAMSUITE_CACHE": str(tmp_path)})


def test_without_a_cache_variable_helm_is_looked_up_in_the_checkouts_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tmp_path / ".cache" / "tools" / "helm-v3.19.0" / "helm"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setattr(helm, "REPO_ROOT", tmp_path)
    assert helm.helm_binary({}) == binary


def test_the_checkout_root_is_found_from_the_package_location() -> None:
    assert (helm.REPO_ROOT / "dev" / "src" / "devstack" / "chartcheck" / "helm.py").is_file()


def test_template_arguments_carry_every_option_in_helm_syntax() -> None:
    args = helm.template_args(
        "helm/streamsuite",
        values_files=["ci/a-values.yaml", "ci/b-values.yaml"],
        set_values={"web.replicas": "3"},
        api_versions=["monitoring.coreos.com/v1"],
        kube_version="v1.31.0",
        skip_tests=True,
    )
    assert args == [
        "template", "streamsuite", "helm/streamsuite", "--namespace", "streamsuite",
        "-f", "ci/a-values.yaml", "-f", "ci/b-values.yaml",
        "--set", "web.replicas=3",
        "--api-versions", "monitoring.coreos.com/v1",
        "--kube-version", "v1.31.0",
        "--skip-tests",
    ]  # fmt: skip


def test_helm_failure_carries_helms_own_words(tmp_path: Path) -> None:
    fake = tmp_path / "helm"
    fake.write_text(
        "#!/bin/sh\necho '==> Linting'; echo '[INFO] Chart.yaml: icon is recommended'\n"
        "echo '[WARNING] templates/x.yaml: object name does not conform'\n"
        "echo 'Error: 1 chart(s) linted, 1 chart(s) failed' >&2; exit 1\n"
    )
    fake.chmod(0o755)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HELM", str(fake))
        with pytest.raises(helm.HelmError) as caught:
            helm.lint("chart")
    assert caught.value.message == (
        "helm lint failed: [WARNING] templates/x.yaml: object name does not conform;"
        " 1 chart(s) linted, 1 chart(s) failed"
    )
